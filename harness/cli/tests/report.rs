//! A run is a record: `assay report` on a stored run judges it again and re-renders
//! every file byte for byte, and the report states the load that produced its numbers.

mod common;
use common::assay;

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

const RENDERED: [&str; 6] = [
    "report.json",
    "summary.md",
    "junit.xml",
    "fidelity.md",
    "index.html",
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

/// YCSB workload A (50 % reads, 50 % updates of 100-byte values, zipfian over the
/// `usertable` records), cut short and bounded by an op count so shard sums are exact.
const YCSB_A_SHORT: &str = r#"format = 1
name = "ycsb-a-short"
kind = "throughput"

[[setup.tables]]
name = "usertable"

[workload]
clients = 5
duration = "2s"
max_ops = 1501
keys = { prefix = "user", count = 100, digits = 8, distribution = "zipfian" }
mix = { read = 0.5, write = 0.5 }
value_size = 100
load = true
"#;

fn ops_of(report: &serde_json::Value) -> (u64, u64, u64) {
    let s = &report["targets"][0]["scenarios"][0];
    let latency_ops: u64 = s["latency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    (
        s["ops"].as_u64().unwrap(),
        latency_ops,
        s["load"]["clients"].as_u64().unwrap(),
    )
}

#[test]
fn two_ycsb_shards_merge_into_the_configured_load_and_the_sum_of_their_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("ycsb-a-short.toml");
    std::fs::write(&scenario, YCSB_A_SHORT).unwrap();
    let mut parts = Vec::new();
    for (shard, clients, max_ops) in [("0/2", 3, 751), ("1/2", 2, 750)] {
        let out = dir.path().join(shard.replace('/', "-of-"));
        let (code, _, stderr) = assay(&[
            "run",
            scenario.to_str().unwrap(),
            "--target",
            "postgres",
            "--shard",
            shard,
            "--run-id",
            "nightly-7",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{stderr}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let load = &report["targets"][0]["scenarios"][0]["load"];
        assert_eq!(load["shard"], shard, "{load}");
        assert_eq!(
            load["clients"], clients,
            "shard {shard} takes its share: {load}"
        );
        assert_eq!(load["max_ops"], max_ops, "{load}");
        assert_eq!(report["run_id"], "nightly-7");
        parts.push((out, ops_of(&report)));
    }
    let merged = dir.path().join("merged");
    let (code, _, stderr) = assay(&[
        "merge",
        parts[0].0.to_str().unwrap(),
        parts[1].0.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(merged.join("report.json")).unwrap()).unwrap();
    let (ops, latency_ops, clients) = ops_of(&report);
    let (a, b) = (parts[0].1, parts[1].1);
    assert_eq!(ops, a.0 + b.0);
    assert_eq!(
        latency_ops,
        a.1 + b.1,
        "every histogram count is the shards' sum"
    );
    assert_eq!(
        clients,
        a.2 + b.2,
        "the merged load is both shards' clients"
    );
    let load = &report["targets"][0]["scenarios"][0]["load"];
    assert_eq!(
        (load["clients"].as_u64(), load["max_ops"].as_u64()),
        (Some(5), Some(1501)),
        "the merged load is the unsharded scenario's: {load}"
    );
    assert!(load.get("shard").is_none(), "{load}");
    assert_eq!(
        report["run_id"], "nightly-7",
        "shards of one run keep its id"
    );
    // The merged run is a run like any other: `assay report` reproduces it.
    let before = std::fs::read(merged.join("report.json")).unwrap();
    let (code, _, _) = assay(&["report", merged.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(std::fs::read(merged.join("report.json")).unwrap(), before);
}
