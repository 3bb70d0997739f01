//! Replica lag against a real local primary + streaming replica (`postgres-replica`),
//! including a replica whose replay is paused, so the measurement is shown able to fail.

use assay_core::{Driver, DriverConfig, DriverErrorKind, Endpoint, LocalBackend, OpKind, Outcome};
use assay_driver_postgres::{PostgresDriver, LAG_TABLE};
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, Executor, PgConnection, Row};
use std::time::Duration;

async fn start(backend: LocalBackend) -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(backend, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("{backend} is installed but did not start: {e}"),
    }
}

fn config(tag: &str) -> DriverConfig {
    DriverConfig {
        namespace: format!("lag_{}_{tag}", std::process::id()),
        op_timeout: Duration::from_secs(2),
    }
}

fn replica_url(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Postgres {
            replica_url: Some(url),
            ..
        } => url.expose().to_string(),
        other => panic!("no replica url in {}", other.display_safe()),
    }
}

async fn table_exists(conn: &mut PgConnection, schema: &str) -> bool {
    sqlx::query(
        "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = $2",
    )
    .bind(schema)
    .bind(LAG_TABLE)
    .fetch_one(&mut *conn)
    .await
    .unwrap()
    .get::<i64, _>(0)
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_lag_is_measured_from_the_primarys_ack_to_the_replicas_read() {
    let Some(emu) = start(LocalBackend::PostgresReplica).await else {
        return;
    };
    let endpoint = emu.endpoint().clone();
    let driver = PostgresDriver::connect(&endpoint, config("ok"))
        .await
        .unwrap();
    let err = driver
        .measure_replica_lag(0, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config);
    assert!(err.message.contains("samples = 0"), "{err}");
    let lag = driver
        .measure_replica_lag(200, Duration::from_secs(5))
        .await
        .unwrap();
    let s = lag.summary();
    eprintln!("{lag}");
    assert_eq!((s.samples, s.not_visible), (200, 0), "{s:?}");
    assert_eq!(
        lag.histograms.count(Some(OpKind::Read), &[Outcome::Ok]),
        200
    );
    // Streaming on loopback: visible within a second, and never "instantly" (a read of
    // the replica is itself a round trip after the ack).
    assert!(s.p50_us > 0 && s.p99_us < 1_000_000, "{s:?}");
    assert!(s.p50_us <= s.p99_us && s.p99_us <= s.max_us, "{s:?}");

    let mut replica = PgConnection::connect(&replica_url(&endpoint))
        .await
        .unwrap();
    assert!(table_exists(&mut replica, driver.schema_name()).await);
    driver.teardown().await.unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if !table_exists(&mut replica, driver.schema_name()).await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        gone,
        "teardown removes the marker table (seen on the replica)"
    );
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_stopped_replaying_shows_every_sample_as_not_visible() {
    let Some(emu) = start(LocalBackend::PostgresReplica).await else {
        return;
    };
    let endpoint = emu.endpoint().clone();
    let driver = PostgresDriver::connect(&endpoint, config("paused"))
        .await
        .unwrap();
    // A first measurement creates the table while replay still runs.
    driver
        .measure_replica_lag(1, Duration::from_secs(5))
        .await
        .unwrap();
    let mut replica = PgConnection::connect(&replica_url(&endpoint))
        .await
        .unwrap();
    replica
        .execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();

    let max_wait = Duration::from_millis(150);
    let lag = driver.measure_replica_lag(3, max_wait).await.unwrap();
    let s = lag.summary();
    assert_eq!((s.samples, s.not_visible), (3, 3), "{s:?}");
    assert_eq!(
        lag.histograms.count(Some(OpKind::Read), &[Outcome::Fail]),
        3
    );
    // Not-visible samples count as at least `max_wait`, never as fast.
    assert!(
        lag.quantile(0.5) >= max_wait - Duration::from_millis(1),
        "{s:?}"
    );
    assert!(
        lag.to_string().contains("3 not visible within 150 ms"),
        "{lag}"
    );

    replica
        .execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    let again = driver
        .measure_replica_lag(5, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(again.summary().not_visible, 0, "{again}");
    driver.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_lag_without_a_replica_is_a_config_error() {
    let Some(emu) = start(LocalBackend::Postgres).await else {
        return;
    };
    let driver = PostgresDriver::connect(emu.endpoint(), config("none"))
        .await
        .unwrap();
    let err = driver
        .measure_replica_lag(10, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config);
    assert!(err.message.contains("postgres-replica"), "{err}");
    emu.stop().await;
}
