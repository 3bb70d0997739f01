//! Native steps from the shipped scenario files, run by the mysql driver against MariaDB
//! (the only MySQL-wire stand-in): `mysql.slt` files pass, the PostgreSQL-flavoured `sql.slt`
//! files deviate with MariaDB's answers as evidence, and whatever a check creates is gone
//! afterwards, also when the check is abandoned half-way.

use assay_core::scenario::TableSpec;
use assay_core::{Driver, DriverConfig, LocalBackend, NativeStep, NativeVerdict, Scenario};
use assay_driver_mysql::MysqlDriver;
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, MySqlConnection, Row};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

async fn start_mysql() -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::Mysql, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(LocalBackend::Mysql, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("a MySQL-compatible server is installed but did not start: {e}"),
    }
}

fn scenario_steps(relative: &str) -> Vec<NativeStep> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .join(relative);
    let src = std::fs::read_to_string(&path).expect("read scenario");
    let scenario = Scenario::parse(&src, &path.to_string_lossy()).expect("parse scenario");
    assert!(
        !scenario.native.is_empty(),
        "{relative} has no native steps"
    );
    scenario.native
}

async fn driver(emu: &Emulator) -> MysqlDriver {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let config = DriverConfig {
        namespace: format!(
            "n{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
        op_timeout: Duration::from_secs(2),
    };
    let d = MysqlDriver::connect(emu.endpoint(), config)
        .await
        .expect("connect");
    d.setup(&[TableSpec { name: "kv".into() }])
        .await
        .expect("setup");
    d
}

async fn databases_like(emu: &Emulator, prefix: &str) -> Vec<String> {
    let assay_core::Endpoint::Mysql { url } = emu.endpoint() else {
        panic!("not a mysql endpoint");
    };
    let mut conn = MySqlConnection::connect(url.expose()).await.unwrap();
    sqlx::query(
        "SELECT CAST(schema_name AS CHAR) FROM information_schema.schemata WHERE schema_name LIKE ?",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mysql_slt_files_pass_on_mariadb() {
    let steps = scenario_steps("scenarios/conformance/mysql/semantics.toml");
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = driver(&emu).await;
    for step in &steps {
        assert!(d.runs_native(&step.family), "{}", step.qualified());
        let outcome = d.native(step).await;
        assert_eq!(
            outcome.verdict,
            NativeVerdict::Pass,
            "{}: {outcome:?}",
            step.name
        );
        assert!(outcome.counters["records"] >= 2.0, "{outcome:?}");
    }
    let ns = d.database_name().to_string();
    assert!(databases_like(&emu, &format!("{ns}_")).await.is_empty());
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgres_flavoured_sql_slt_files_deviate_on_mariadb_with_its_answers() {
    let steps = scenario_steps("scenarios/conformance/sql/slt.toml");
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = driver(&emu).await;
    for step in &steps {
        assert!(d.runs_native(&step.family), "{}", step.qualified());
        let outcome = d.native(step).await;
        // Every shared file uses PostgreSQL syntax (`::` casts, IS DISTINCT FROM, NULLS
        // FIRST) or semantics (aborted transactions after an error) that MariaDB does not
        // share, so each deviates, and each failing record is evidence.
        assert_eq!(
            outcome.verdict,
            NativeVerdict::Deviates,
            "{}: {outcome:?}",
            step.name
        );
        assert_eq!(
            outcome.evidence.len() as f64,
            outcome.counters["failed"],
            "{outcome:?}"
        );
        assert!(outcome.evidence.iter().all(|e| !e.contains('\n')));
    }
    let types = steps
        .iter()
        .find(|s| s.params["file"] == "types.slt")
        .expect("types.slt step");
    let outcome = d.native(types).await;
    // LENGTH counts bytes in MySQL, characters in PostgreSQL.
    assert!(
        outcome
            .evidence
            .iter()
            .any(|e| e.contains("length('héllo')") && e.contains("+   abcd 6 6")),
        "{outcome:?}"
    );
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_checks_and_missing_files_are_reported_not_run() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = driver(&emu).await;
    let mut step = scenario_steps("scenarios/conformance/mysql/semantics.toml").remove(0);
    step.check = "gsi_query".into();
    let outcome = d.native(&step).await;
    assert_eq!(outcome.verdict, NativeVerdict::Unsupported, "{outcome:?}");
    assert!(outcome.observed.contains("mysql.gsi_query"), "{outcome:?}");

    step.check = "slt".into();
    step.params = serde_json::json!({ "file": "no-such-file.slt" });
    let outcome = d.native(&step).await;
    assert_eq!(outcome.verdict, NativeVerdict::Error, "{outcome:?}");
    assert!(
        outcome.observed.contains("no such .slt file"),
        "{outcome:?}"
    );
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_drops_what_an_abandoned_check_created() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.slt"),
        "statement ok\nCREATE TABLE t (a INT)\n\nstatement ok\nDO SLEEP(5)\n",
    )
    .unwrap();
    let mut step = scenario_steps("scenarios/conformance/mysql/semantics.toml").remove(0);
    step.params = serde_json::json!({ "file": "slow.slt" });
    step.scenario_file = dir.path().join("x.toml").to_string_lossy().into_owned();

    let d = driver(&emu).await;
    let slt_db = format!("{}_slt", d.database_name());
    // Abandon the check as soon as its database exists (the engine's step timeout does this).
    let native = d.native(&step);
    let appeared = async {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if databases_like(&emu, &slt_db).await.contains(&slt_db) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    };
    tokio::select! {
        outcome = native => panic!("the check finished before it was abandoned: {outcome:?}"),
        seen = appeared => assert!(seen, "{slt_db} never appeared"),
    }
    assert_eq!(databases_like(&emu, &slt_db).await, vec![slt_db.clone()]);
    d.teardown().await.unwrap();
    assert!(databases_like(&emu, &slt_db).await.is_empty());
    assert!(databases_like(&emu, d.database_name()).await.is_empty());
    emu.stop().await;
}
