//! `Driver::leftovers` / `remove_leftover` on PostgreSQL: a run's schema is listed with the
//! creation time setup wrote on it, a schema of the run shape without that mark is of
//! unknown age, and schemas of any other name — `assay_` followed by something that is
//! not a run id, or not `assay_` at all — are neither listed nor removable.

use assay_core::cleanup::LEFTOVER_PREFIX;
use assay_core::scenario::TableSpec;
use assay_core::{Driver, DriverConfig, DriverErrorKind, Endpoint, Leftover, LeftoverKind};
use assay_driver_postgres::PostgresDriver;
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, Executor, PgConnection, Row};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn config(namespace: &str) -> DriverConfig {
    DriverConfig {
        namespace: namespace.into(),
        op_timeout: Duration::from_secs(5),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn schemas(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query("SELECT nspname::text FROM pg_namespace ORDER BY 1")
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_run_shaped_schemas_are_listed_and_removed() {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(
        assay_core::LocalBackend::Postgres,
        &opts.workspace_root,
    ) {
        return;
    }
    let emu = Emulator::start(assay_core::LocalBackend::Postgres, &opts)
        .await
        .expect("PostgreSQL starts");
    let endpoint = emu.endpoint().clone();
    let Endpoint::Postgres { url, .. } = &endpoint else {
        unreachable!()
    };
    let mut admin = PgConnection::connect(url.expose()).await.unwrap();

    let before = now_ms();
    let run = PostgresDriver::connect(&endpoint, config("assay_cln001_0_0"))
        .await
        .unwrap();
    run.setup(&[TableSpec { name: "kv".into() }]).await.unwrap();
    // Made by hand: one of the run shape without the creation mark, and three others.
    for ddl in [
        r#"CREATE SCHEMA "assay_old001_0_1""#,
        r#"CREATE SCHEMA "assay_customers_0_0""#,
        r#"CREATE SCHEMA "assay_cln001""#,
        r#"CREATE SCHEMA "orders""#,
    ] {
        admin.execute(ddl).await.unwrap();
    }

    let cleaner = PostgresDriver::connect(&endpoint, config("assay_cleanup"))
        .await
        .unwrap();
    let found = cleaner.leftovers(LEFTOVER_PREFIX).await.unwrap();
    let names: Vec<&str> = found.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["assay_cln001_0_0", "assay_old001_0_1"], "{found:?}");
    assert!(found.iter().all(|l| l.kind == LeftoverKind::Schema));
    let created = found[0]
        .created_unix_ms
        .expect("setup wrote the creation time");
    assert!(
        created >= before - 1000 && created <= now_ms() + 1000,
        "{created} vs {before}"
    );
    assert_eq!(found[1].created_unix_ms, None, "no mark: unknown age");
    // A narrower prefix narrows the listing.
    let one = cleaner.leftovers("assay_old").await.unwrap();
    assert_eq!(one.len(), 1, "{one:?}");

    for name in ["assay_customers_0_0", "assay_cln001", "orders"] {
        let err = cleaner
            .remove_leftover(&Leftover::new(name, LeftoverKind::Schema, Some(0)))
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
        assert!(err.message.contains("leaves it alone"), "{err}");
    }
    for leftover in &found {
        cleaner.remove_leftover(leftover).await.unwrap();
    }
    // Gone already is fine.
    cleaner.remove_leftover(&found[0]).await.unwrap();
    let left = schemas(&mut admin).await;
    for gone in ["assay_cln001_0_0", "assay_old001_0_1"] {
        assert!(!left.iter().any(|s| s == gone), "{left:?}");
    }
    for kept in ["assay_customers_0_0", "assay_cln001", "orders"] {
        assert!(
            left.iter().any(|s| s == kept),
            "{kept} was touched: {left:?}"
        );
    }
    assert!(cleaner.leftovers(LEFTOVER_PREFIX).await.unwrap().is_empty());
    // The run's own teardown after a cleanup has nothing left to do, and says so quietly.
    run.teardown().await.unwrap();
    let _ = admin.close().await;
    emu.stop().await;
}
