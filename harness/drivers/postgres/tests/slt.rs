//! The `.slt` files under `scenarios/conformance/sql/` against a real local PostgreSQL, and a
//! file with wrong expectations to show that a difference fails with its location.

use assay_core::{DriverErrorKind, Endpoint, LocalBackend, Secret};
use assay_driver_postgres::{find_slt_files, run_slt};
use assay_emulators::{Emulator, StartOptions};
use std::path::PathBuf;

async fn start_postgres() -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::Postgres, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(LocalBackend::Postgres, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("PostgreSQL is installed but did not start: {e}"),
    }
}

fn sql_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scenarios/conformance/sql");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_slt_files_pass_on_postgresql() {
    let files = find_slt_files(&sql_dir()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "aggregates.slt",
            "nulls.slt",
            "ordering.slt",
            "transactions.slt",
            "types.slt"
        ]
    );
    let Some(emu) = start_postgres().await else {
        return;
    };
    let report = run_slt(emu.endpoint(), &files).await.unwrap();
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
    let records: u32 = report.files.iter().map(|f| f.records).sum();
    assert!(records >= 80, "only {records} records ran:\n{report}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["files"].as_array().unwrap().len(), 5);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differences_fail_with_their_location_and_the_run_goes_on() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.slt");
    std::fs::write(
        &wrong,
        "\
statement ok
CREATE TABLE t (a int)

# Wrong on purpose: integer division truncates.
query I
SELECT 7 / 2
----
4

statement error (22012)
SELECT 1 + 1

skipif postgres
query I
SELECT 'not run'
----
1

system ok
echo this must not run

query I
SELECT count(*) FROM t
----
0
",
    )
    .unwrap();
    let broken = dir.path().join("broken.slt");
    std::fs::write(&broken, "query I\nSELECT 1\n----\n1\n\nnonsense record\n").unwrap();
    let report = run_slt(emu.endpoint(), &[wrong.clone(), broken])
        .await
        .unwrap();
    let text = report.to_string();
    eprintln!("{text}");
    assert!(!report.passed());
    let w = &report.files[0];
    assert_eq!(
        (w.records, w.skipped, w.failures.len()),
        (4, 1, 3),
        "{text}"
    );
    assert!(w.failures[0].location.ends_with("wrong.slt:5"), "{text}");
    assert!(
        w.failures[0].message.contains('4') && w.failures[0].message.contains('3'),
        "{text}"
    );
    assert!(w.failures[1].location.ends_with("wrong.slt:10"), "{text}");
    assert!(
        w.failures[2]
            .message
            .contains("must not execute shell commands"),
        "{text}"
    );
    assert!(!report.files[1].passed());
    assert!(
        report.files[1].failures[0]
            .message
            .starts_with("cannot parse"),
        "{text}"
    );
    assert!(
        text.ends_with("0 of 2 .slt file(s) passed on postgres"),
        "{text}"
    );
    emu.stop().await;
}

#[tokio::test]
async fn a_dead_endpoint_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = Endpoint::Postgres {
        url: Secret::new(format!("postgres://assay:pw@127.0.0.1:{port}/assay")),
        replica_url: None,
    };
    let err = run_slt(&dead, &[sql_dir().join("types.slt")])
        .await
        .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
}
