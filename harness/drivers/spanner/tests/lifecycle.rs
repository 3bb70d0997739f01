//! Connecting, setup and teardown: wrong targets are named, teardown removes exactly what
//! setup made (also after a refused setup), and nothing is left behind.

mod common;

use assay_core::{Capability, Driver, DriverErrorKind, Endpoint, Secret};
use assay_driver_spanner::SpannerDriver;
use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_and_teardown_leave_nothing_behind() {
    let Some(emu) = emulator().await else { return };
    let d = driver(&emu, "life").await;
    let other = driver(&emu, "bystander").await;
    other.setup(&[table("kv")]).await.expect("bystander setup");

    // Teardown before any setup is a no-op.
    d.teardown().await.expect("teardown without setup");

    d.setup(&[table("kv"), table("audit"), table("kv")])
        .await
        .expect("setup");
    let tables = d.list_tables().await.expect("list");
    assert!(tables.contains(&"life_kv".to_string()), "{tables:?}");
    assert!(tables.contains(&"life_audit".to_string()), "{tables:?}");
    assert_ok(&d.execute(&write("audit", "a", "b")).await);

    d.teardown().await.expect("teardown");
    let tables = d.list_tables().await.expect("list");
    assert!(
        !tables.iter().any(|t| t.starts_with("life_")),
        "teardown left {tables:?}"
    );
    assert!(tables.contains(&"bystander_kv".to_string()), "{tables:?}");
    // A second teardown has nothing left to do.
    d.teardown().await.expect("second teardown");

    // A namespace clash is refused, and the refused setup's teardown leaves the other
    // run's table alone.
    let clash = driver(&emu, "bystander").await;
    let err = clash.setup(&[table("kv")]).await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    assert!(err.message.contains("bystander_kv"), "{err}");
    clash
        .teardown()
        .await
        .expect("teardown after refused setup");
    assert!(d
        .list_tables()
        .await
        .expect("list")
        .contains(&"bystander_kv".to_string()));

    // A failed setup: names are case-insensitive, so the second CREATE is refused. Google
    // Cloud keeps the statements before the failing one; the emulator validates the whole
    // batch first and applies none. Either way teardown drops whatever exists.
    let partial = driver(&emu, "part").await;
    let err = partial
        .setup(&[table("kv"), table("KV")])
        .await
        .expect_err("duplicate names are refused by Spanner");
    eprintln!("partial setup: {err}");
    assert!(err.message.contains("Duplicate name"), "{err}");
    let made: Vec<String> = partial
        .list_tables()
        .await
        .expect("list")
        .into_iter()
        .filter(|t| t.starts_with("part_"))
        .collect();
    assert!(made.len() <= 1, "both CREATEs applied: {made:?}");
    partial
        .teardown()
        .await
        .expect("teardown after partial setup");
    let tables = partial.list_tables().await.expect("list");
    assert!(!tables.iter().any(|t| t.starts_with("part_")), "{tables:?}");

    // A table name Spanner cannot hold is a config error naming it.
    let err = d.setup(&[table("has space")]).await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    assert!(err.message.contains("has space"), "{err}");

    other.teardown().await.expect("bystander teardown");
    assert_eq!(d.list_tables().await.expect("list"), Vec::<String>::new());
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_names_what_is_wrong() {
    // Another family's endpoint.
    let pg = Endpoint::Postgres {
        url: Secret::new("postgres://a:b@127.0.0.1:1/x"),
        replica_url: None,
    };
    let err = SpannerDriver::connect(&pg, config("c"))
        .await
        .err()
        .expect("refused");
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");

    // Nothing listens: unavailable within a few seconds, naming the address.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dead = Endpoint::Spanner {
        emulator_host: Some(format!("127.0.0.1:{port}")),
        project: "assay".into(),
        instance: "assay".into(),
        database: "assay".into(),
    };
    let started = Instant::now();
    let err = SpannerDriver::connect(&dead, config("c"))
        .await
        .err()
        .expect("refused");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.message.contains('\n'), "{err}");
    eprintln!("dead endpoint after {:?}: {err}", started.elapsed());

    let Some(emu) = emulator().await else { return };
    let Endpoint::Spanner { emulator_host, .. } = emu.endpoint().clone() else {
        panic!("the spanner emulator gave a non-spanner endpoint");
    };
    let missing_db = Endpoint::Spanner {
        emulator_host,
        project: "assay".into(),
        instance: "assay".into(),
        database: "nope".into(),
    };
    let err = SpannerDriver::connect(&missing_db, config("c"))
        .await
        .err()
        .expect("refused");
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    assert!(err.message.contains("databases/nope"), "{err}");
    eprintln!("missing database: {err}");

    let err = SpannerDriver::connect(emu.endpoint(), config("Bad-NS"))
        .await
        .err()
        .expect("refused");
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");

    let d = driver(&emu, "caps").await;
    assert_eq!(d.family(), "spanner");
    for cap in Capability::ALL {
        assert!(d.capabilities().supports(cap), "{cap}");
    }
    assert!(d
        .backend_version()
        .await
        .is_some_and(|v| v.contains("emulator")));
    emu.stop().await;
}
