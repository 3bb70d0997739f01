//! `assay run scenarios/security` end to end: every step passes on `postgres-tls` (exit 0),
//! and the same file fails on the plain `postgres` stand-in that lets plaintext in
//! (exit 1). (A driver without `connection_security` makes it unsupported with the
//! driver's reason: `Capabilities::require`, tested in `assay-core`.)

mod common;

use common::{assay, root};
use serde_json::Value;

fn report(dir: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

fn steps(scenario: &Value) -> Vec<(String, String)> {
    scenario["native_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_security_scenarios_pass_on_the_tls_stand_in() {
    let opts = assay_emulators::StartOptions::for_tests();
    let backend = assay_core::LocalBackend::PostgresTls;
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return;
    }
    let (code, stdout, _) = assay(&["targets"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("postgres-tls "), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = assay(&[
        "run",
        "scenarios/security",
        "--target",
        "postgres-tls",
        "--out",
        out,
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report = report(dir.path());
    let scenario = &report["targets"][0]["scenarios"][0];
    assert_eq!(scenario["name"], "security-connections");
    assert_eq!(scenario["verdict"], "pass", "{scenario:#}");
    let steps = steps(scenario);
    assert_eq!(steps.len(), 5, "{steps:?}");
    assert!(steps.iter().all(|(_, v)| v == "pass"), "{steps:?}");
    // The password never reaches the report; the CA path may.
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    assert!(
        text.contains("sslrootcert="),
        "the endpoint shows its TLS settings"
    );
    assert!(text.contains("assay:***@"), "the password is redacted");
    assert!(root().join("scenarios/security/untrusted-ca.pem").is_file());
}

#[test]
fn the_same_file_fails_where_plaintext_is_let_in() {
    let opts = assay_emulators::StartOptions::for_tests();
    let backend = assay_core::LocalBackend::Postgres;
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (code, stdout, stderr) = assay(&[
        "run",
        "scenarios/security",
        "--target",
        "postgres",
        "--out",
        out,
    ]);
    assert_eq!(code, 1, "a deviation fails the run\n{stdout}\n{stderr}");
    let report = report(dir.path());
    let scenario = &report["targets"][0]["scenarios"][0];
    assert_eq!(scenario["verdict"], "fail", "{scenario:#}");
    let steps = steps(scenario);
    assert_eq!(
        steps[0],
        (
            "a plaintext login is refused when TLS is required".to_string(),
            "deviates".to_string()
        )
    );
    assert!(
        scenario["native_steps"][0]["observed"]
            .as_str()
            .unwrap()
            .ends_with("accepted (no TLS)"),
        "{scenario:#}"
    );
    assert!(steps.iter().all(|(_, v)| v != "pass"), "{steps:?}");
}
