//! The bulk load (`Driver::bulk_load`, COPY FROM STDIN) against a real local PostgreSQL:
//! the rows land (count and values), on both op clients; a key that exists falls back to
//! upserts; a row PostgreSQL cannot store fails the call and nothing of it lands.

use assay_core::scenario::TableSpec;
use assay_core::{
    Consistency, Driver, DriverConfig, Endpoint, ErrorClass, LoadRow, LocalBackend, Op, OpValue,
    Outcome, Record, Secret,
};
use assay_driver_postgres::PostgresDriver;
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, PgConnection, Row};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

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

fn url_of(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Postgres { url, .. } => url.expose().to_string(),
        other => panic!("the emulator gave a non-postgres endpoint: {other:?}"),
    }
}

fn rows(from: u64, to: u64) -> Vec<LoadRow> {
    (from..to)
        .map(|i| LoadRow {
            key: format!("user{i:08}"),
            value: format!("value-{i}-\t\\end"),
        })
        .collect()
}

async fn read(driver: &PostgresDriver, key: &str) -> Option<Record> {
    let r = driver
        .execute(&Op::Read {
            table: "kv".into(),
            key: key.into(),
            consistency: Consistency::Strong,
        })
        .await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
    match r.value {
        OpValue::Record(r) => r,
        other => panic!("a read returned {other:?}"),
    }
}

async fn count(url: &str, schema: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("raw connection");
    sqlx::query(&format!("SELECT count(*) FROM \"{schema}\".kv"))
        .fetch_one(&mut conn)
        .await
        .expect("count")
        .get(0)
}

async fn primary_keys(conn: &mut PgConnection, schema: &str) -> i64 {
    sqlx::query(&format!(
        "SELECT count(*) FROM pg_catalog.pg_constraint WHERE conrelid = '\"{schema}\".big'::regclass AND contype = 'p'"
    ))
    .fetch_one(conn)
    .await
    .expect("constraints")
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_loads_every_row_with_its_value() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let url = url_of(emu.endpoint());
    let sep = if url.contains('?') { '&' } else { '?' };
    let clients = [
        (emu.endpoint().clone(), "wire"),
        (
            Endpoint::Postgres {
                url: Secret::new(format!("{url}{sep}application_name=assay")),
                replica_url: None,
            },
            "sqlx",
        ),
    ];
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for (endpoint, client) in clients {
        let namespace = format!(
            "bulk{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let driver = PostgresDriver::connect(
            &endpoint,
            DriverConfig {
                namespace: namespace.clone(),
                op_timeout: Duration::from_secs(5),
            },
        )
        .await
        .expect("connect");
        assert_eq!(driver.op_client(), client);
        driver
            .setup(&[
                TableSpec { name: "kv".into() },
                TableSpec { name: "big".into() },
            ])
            .await
            .expect("setup");
        let path = driver.bulk_load_path();
        assert_eq!(path.method, "copy from stdin");

        // Three calls at once, as the engine's writers make them.
        let (first, second, third) = (rows(0, 20_000), rows(20_000, 40_000), rows(40_000, 45_000));
        let (a, b, c) = tokio::join!(
            driver.bulk_load("kv", &first),
            driver.bulk_load("kv", &second),
            driver.bulk_load("kv", &third),
        );
        assert_eq!((a, b, c), (Ok(20_000), Ok(20_000), Ok(5_000)), "{client}");
        assert_eq!(count(&url, &namespace).await, 45_000, "{client}");
        for i in [0u64, 1, 19_999, 20_000, 31_337, 44_999] {
            let key = format!("user{i:08}");
            let got = read(&driver, &key)
                .await
                .unwrap_or_else(|| panic!("{client}: {key} missing"));
            assert_eq!(
                got,
                Record {
                    key: key.clone(),
                    value: Some(format!("value-{i}-\t\\end")),
                    version: Some(1),
                    counter: Some(0),
                    list: Some(vec![]),
                },
                "{client}"
            );
        }

        // A key that exists: the COPY fails whole, the call falls back to upserts.
        let again = rows(44_990, 45_010);
        assert_eq!(driver.bulk_load("kv", &again).await, Ok(20), "{client}");
        assert_eq!(count(&url, &namespace).await, 45_010, "{client}");
        assert_eq!(
            read(&driver, "user00044995").await.unwrap().version,
            Some(2)
        );
        assert_eq!(
            read(&driver, "user00045005").await.unwrap().version,
            Some(1)
        );

        // A row PostgreSQL cannot store: CopyFail, nothing of the call lands.
        let mut bad = rows(50_000, 50_100);
        bad[50].value = "nul\0here".into();
        let err = driver.bulk_load("kv", &bad).await.unwrap_err();
        assert_eq!(
            (err.written, err.class),
            (0, ErrorClass::InvalidRequest),
            "{err}"
        );
        assert!(err.message.contains("user00050050"), "{err}");
        assert_eq!(count(&url, &namespace).await, 45_010, "{client}");
        // The connection that carried the failed COPY is still usable.
        assert_eq!(driver.bulk_load("kv", &rows(50_000, 50_010)).await, Ok(10));

        // A load phase into an empty table defers its primary key and builds it after.
        driver.bulk_load_prepare("big").await.expect("prepare");
        let mut conn = PgConnection::connect(&url).await.expect("raw connection");
        assert_eq!(
            primary_keys(&mut conn, &namespace).await,
            0,
            "{client}: the key is deferred"
        );
        let big = rows(0, 30_000);
        assert_eq!(driver.bulk_load("big", &big).await, Ok(30_000));
        driver.bulk_load_finish("big").await.expect("finish");
        assert_eq!(
            primary_keys(&mut conn, &namespace).await,
            1,
            "{client}: the key is back"
        );
        // With the key back, an existing key takes the upsert path again.
        assert_eq!(driver.bulk_load("big", &rows(29_990, 30_010)).await, Ok(20));
        let n: i64 = sqlx::query(&format!("SELECT count(*) FROM \"{namespace}\".big"))
            .fetch_one(&mut conn)
            .await
            .expect("count")
            .get(0);
        assert_eq!(n, 30_010, "{client}");
        // A table with rows keeps its key.
        driver.bulk_load_prepare("kv").await.expect("prepare");
        driver.bulk_load_finish("kv").await.expect("finish");

        driver.teardown().await.expect("teardown");
    }
    emu.stop().await;
}
