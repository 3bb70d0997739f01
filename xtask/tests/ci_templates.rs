//! The CI templates under ci/ as their CI systems read them: `cargo xtask ci-check` on
//! this repository (YAML parses, GitHub / GitLab / Kubernetes structure, and every assay
//! subcommand, flag, --target, xtask command, crate and path they name exists — checked
//! against the assay binary built from this tree).

use std::process::Command;

#[test]
fn every_ci_template_parses_and_names_only_what_exists() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("ci-check")
        .output()
        .expect("run xtask ci-check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo xtask ci-check failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stderr.contains("xtask ci-check: ok"), "{stderr}");
}
