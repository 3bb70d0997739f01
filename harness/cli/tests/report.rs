//! A run is a record: `assay report` on a stored run judges it again and re-renders
//! every file byte for byte, and the report states the load that produced its numbers.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn assay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_assay"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("assay runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A conformance scenario whose step passes and whose threshold cannot: the run fails,
/// so the re-rendered JUnit file carries a failure too.
const STRICT: &str = r#"format = 1
name = "strict"
kind = "conformance"
thresholds = ["p99 < 1ns"]

[[setup.tables]]
name = "kv"

[[steps]]
name = "write"
op = "write"
keys = { prefix = "k", count = 20 }
value = "v{i}"
expect = { outcome = "ok" }
documented = "a write of a new key succeeds"
cite = "https://www.postgresql.org/docs/15/sql-insert.html"
"#;

const RENDERED: [&str; 5] = [
    "report.json",
    "summary.md",
    "junit.xml",
    "fidelity.md",
    "postgres.ycsb-a.hlog",
];

#[test]
fn assay_report_reproduces_every_file_of_a_stored_run() {
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, STRICT).unwrap();
    let out = dir.path().join("run");
    let (code, stdout, stderr) = assay(&[
        "run",
        "scenarios/throughput/ycsb-a.toml",
        strict.to_str().unwrap(),
        "--target",
        "postgres",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "the threshold fails the run\n{stdout}\n{stderr}");

    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("record.json")).unwrap()).unwrap();
    assert_eq!(record["schema_version"], 1);
    let kinds: Vec<&str> = record["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"backend_starting"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"backend_stopped"), "{kinds:?}");
    assert!(kinds.contains(&"phase_started"), "{kinds:?}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let ycsb = &report["targets"][0]["scenarios"][0];
    assert_eq!(ycsb["name"], "ycsb-a");
    assert_eq!(ycsb["load"]["clients"], 8);
    assert_eq!(ycsb["load"]["duration_s"], 10.0);
    assert_eq!(ycsb["load"]["warmup_s"], 2.0);
    assert_eq!(ycsb["load"]["mode"], "closed");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("Load: closed loop, 8 clients, warmup 2 s, duration 10 s"),
        "{summary}"
    );

    let before: Vec<Vec<u8>> = RENDERED
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    for f in RENDERED {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    let (code, report_stdout, stderr) = assay(&["report", out.to_str().unwrap()]);
    assert_eq!(code, 1, "the same verdict, the same exit code\n{stderr}");
    assert_eq!(report_stdout, stdout, "the terminal view is the run's");
    for (f, bytes) in RENDERED.iter().zip(&before) {
        let again = std::fs::read(out.join(f)).unwrap();
        assert!(&again == bytes, "{f} differs after `assay report`");
    }
}

#[test]
fn assay_report_on_something_that_is_not_a_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = assay(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("record.json"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    std::fs::write(dir.path().join("record.json"), "{\"schema_version\": 1,").unwrap();
    let (code, _, stderr) = assay(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("record.json:1:"), "{stderr}");
}
