//! The Hermitage-style isolation suite (`scenarios/conformance/isolation/`) against a real
//! local PostgreSQL: the matrix matches PostgreSQL's documented behaviour, with evidence;
//! and a wrong expectation, a broken test or a session left blocked fail instead of passing.

use assay_core::isolation::{
    AnomalyVerdict, CellResult, IsolationLevel, IsolationTest, ObservedResult,
};
use assay_core::{DriverErrorKind, Endpoint, LocalBackend, Secret};
use assay_driver_postgres::{load_isolation_tests, run_isolation_suite, POSTGRES_ISOLATION_LEVELS};
use assay_emulators::{Emulator, StartOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use AnomalyVerdict::{Occurs, Prevented};
use IsolationLevel::{ReadCommitted, RepeatableRead, Serializable};

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

fn suite_dir() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scenarios/conformance/isolation");
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn shipped_test(file: &str) -> String {
    std::fs::read_to_string(suite_dir().join(file)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_suite_matches_postgresqls_documented_matrix() {
    let tests = load_isolation_tests(&suite_dir()).unwrap_or_else(|e| panic!("{e:#?}"));
    let names: Vec<&str> = tests.iter().map(|t| t.anomaly.as_str()).collect();
    assert_eq!(
        names,
        [
            "G0",
            "G1a",
            "G1b",
            "G1c",
            "OTV",
            "PMP",
            "PMP-write",
            "P4",
            "G-single",
            "GS-pred",
            "GS-write",
            "G2-item",
            "G2",
            "G2-fekete"
        ]
    );
    let Some(emu) = start_postgres().await else {
        return;
    };
    let started = Instant::now();
    let matrix = run_isolation_suite(emu.endpoint(), &tests, &POSTGRES_ISOLATION_LEVELS)
        .await
        .unwrap();
    eprintln!("{matrix}\n({} ms)", started.elapsed().as_millis());
    assert!(matrix.passed(), "{matrix}");

    // The documented PostgreSQL behaviour, spelled out independently of the files.
    let documented = [
        ("G0", [Prevented, Prevented, Prevented]),
        ("G1a", [Prevented, Prevented, Prevented]),
        ("G1b", [Prevented, Prevented, Prevented]),
        ("G1c", [Prevented, Prevented, Prevented]),
        ("OTV", [Prevented, Prevented, Prevented]),
        ("PMP", [Occurs, Prevented, Prevented]),
        ("PMP-write", [Occurs, Prevented, Prevented]),
        ("P4", [Occurs, Prevented, Prevented]),
        ("G-single", [Occurs, Prevented, Prevented]),
        ("GS-pred", [Occurs, Prevented, Prevented]),
        ("GS-write", [Occurs, Prevented, Prevented]),
        ("G2-item", [Occurs, Occurs, Prevented]),
        ("G2", [Occurs, Occurs, Prevented]),
        ("G2-fekete", [Occurs, Occurs, Prevented]),
    ];
    for (anomaly, verdicts) in documented {
        for (level, want) in [ReadCommitted, RepeatableRead, Serializable]
            .into_iter()
            .zip(verdicts)
        {
            let cell = matrix
                .cell(anomaly, level)
                .expect("a cell per test and level");
            assert_eq!(
                cell.result,
                CellResult::Verdict { verdict: want },
                "{anomaly} at {level}"
            );
        }
    }

    // Evidence: under REPEATABLE READ, P4's second writer waited for the first and then
    // failed to serialize; under READ COMMITTED it waited and then overwrote.
    let p4_rr = matrix.cell("P4", RepeatableRead).unwrap();
    let t2_update = &p4_rr.evidence.steps[3];
    assert_eq!(
        (t2_update.session, t2_update.blocked),
        (2, true),
        "{t2_update}"
    );
    assert_eq!(t2_update.finished_during_step, Some(5), "{t2_update}");
    assert!(
        matches!(&t2_update.result, ObservedResult::Error { sqlstate, .. } if sqlstate == "40001"),
        "{t2_update}"
    );
    let p4_rc = matrix.cell("P4", ReadCommitted).unwrap();
    assert!(p4_rc.evidence.steps[3].blocked);
    assert_eq!(
        p4_rc.evidence.steps.last().unwrap().result,
        ObservedResult::Rows {
            rows: vec![vec!["12".to_string()]]
        }
    );
    // G0's second write of T2 waited in line behind its blocked first write.
    assert!(matrix.cell("G0", ReadCommitted).unwrap().evidence.steps[2].queued);
    // Write skew under SERIALIZABLE: the second commit is the one refused.
    let commit = &matrix.cell("G2-item", Serializable).unwrap().evidence.steps[5];
    assert!(
        matches!(&commit.result, ObservedResult::Error { sqlstate, .. } if sqlstate == "40001"),
        "{commit}"
    );
    let json = serde_json::to_value(&matrix).unwrap();
    assert_eq!(json["profile"], "postgres");
    assert_eq!(json["rows"].as_array().unwrap().len(), 14);
    // Hermitage's write-predicate tests: under REPEATABLE READ the delete waits for the
    // concurrent update, then fails to serialize; under READ COMMITTED it deletes nothing.
    let delete = &matrix
        .cell("PMP-write", RepeatableRead)
        .unwrap()
        .evidence
        .steps[2];
    assert!(delete.blocked, "{delete}");
    assert!(
        matches!(&delete.result, ObservedResult::Error { sqlstate, .. } if sqlstate == "40001"),
        "{delete}"
    );
    let delete = &matrix
        .cell("GS-write", RepeatableRead)
        .unwrap()
        .evidence
        .steps[5];
    assert!(
        matches!(&delete.result, ObservedResult::Error { sqlstate, .. } if sqlstate == "40001"),
        "{delete}"
    );

    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_a_broken_test_and_a_stuck_session_all_fail_the_matrix() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    // PostgreSQL's READ COMMITTED loses updates; claim it does not.
    let wrong = IsolationTest::parse(
        &shipped_test("07-p4.toml").replace(
            "read_committed = \"occurs\"",
            "read_committed = \"prevented\"",
        ),
        "p4-wrong.toml",
    )
    .unwrap();
    // A typo must not read as "prevented".
    let broken = IsolationTest::parse(
        &shipped_test("08-g-single.toml")
            .replace("anomaly = \"G-single\"", "anomaly = \"typo\"")
            .replace(
                "update test set value = 18 where id = 2",
                "update tset set value = 18 where id = 2",
            ),
        "typo.toml",
    )
    .unwrap();
    // T1 never ends its transaction, so T2 stays blocked to the end.
    let stuck = IsolationTest::parse(
        r#"
isolation_test = 1
anomaly = "stuck"
sessions = 2
setup = ["create table test (id int primary key, value int)", "insert into test values (1, 10)"]
steps = [
  { session = 1, sql = "update test set value = 11 where id = 1" },
  { session = 2, sql = "update test set value = 12 where id = 1", id = "t2" },
]
occurs_if_all = [{ step = "t2", outcome = "ok" }]
expected.postgres = { read_committed = "prevented" }
"#,
        "stuck.toml",
    )
    .unwrap();

    let started = Instant::now();
    let matrix = run_isolation_suite(emu.endpoint(), &[wrong, broken, stuck], &[ReadCommitted])
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let text = matrix.to_string();
    eprintln!("{text}");
    assert!(!matrix.passed());
    assert_eq!(matrix.mismatches().len(), 3, "{text}");
    assert!(
        text.contains("P4 (p4-wrong.toml) at read_committed: occurs, documented prevented"),
        "{text}"
    );
    let typo = matrix.cell("typo", ReadCommitted).unwrap();
    let CellResult::Error { message } = &typo.result else {
        panic!("a failing statement must make the cell an error: {text}");
    };
    assert!(message.contains("failed with 42P01"), "{message}");
    let stuck = matrix.cell("stuck", ReadCommitted).unwrap();
    let CellResult::Error { message } = &stuck.result else {
        panic!("a session blocked to the end must make the cell an error: {text}");
    };
    assert!(message.contains("did not finish"), "{message}");
    assert!(stuck.evidence.steps[1].blocked);
    // Bounded: the stuck session costs the finish timeout (3 s), not the statement timeout.
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");

    emu.stop().await;
}

#[tokio::test]
async fn a_dead_or_wrong_endpoint_is_an_error_within_seconds() {
    let tests = load_isolation_tests(&suite_dir()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = Endpoint::Postgres {
        url: Secret::new(format!("postgres://assay:pw@127.0.0.1:{port}/assay")),
        replica_url: None,
    };
    let started = Instant::now();
    let err = run_isolation_suite(&dead, &tests, &[ReadCommitted])
        .await
        .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(err.message.contains(&port.to_string()), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let cosmos = Endpoint::Cosmos {
        url: "http://127.0.0.1:1".into(),
        key: Secret::new("k"),
        emulator: true,
    };
    let err = run_isolation_suite(&cosmos, &tests, &[ReadCommitted])
        .await
        .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config);
    let twice = [tests[0].clone(), tests[0].clone()];
    let err = run_isolation_suite(&dead, &twice, &[ReadCommitted])
        .await
        .unwrap_err();
    assert!(err.message.contains("named by both"), "{err}");
}

#[test]
fn loading_reports_every_bad_file_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), shipped_test("01-g0.toml")).unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        shipped_test("02-g1a.toml").replace("sessions = 2", "sessions = 9"),
    )
    .unwrap();
    std::fs::write(dir.path().join("c.toml"), "format = 1\nname = \"smoke\"\n").unwrap();
    let errors = load_isolation_tests(dir.path()).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].ends_with("b.toml:9:12: sessions = 9: an isolation test needs 2 to 4 sessions"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("c.toml:1:1: not an isolation test"),
        "{}",
        errors[1]
    );
}
