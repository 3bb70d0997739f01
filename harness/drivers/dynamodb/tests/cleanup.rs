//! `Driver::leftovers` / `remove_leftover` on DynamoDB (moto): the run's table is listed
//! with its `CreationDateTime`, and tables of any other name — `assay_` followed by
//! something that is not a run namespace, or not `assay_` at all — are neither listed nor
//! removable, and still work after the cleanup.

use assay_core::cleanup::LEFTOVER_PREFIX;
use assay_core::scenario::TableSpec;
use assay_core::{
    Driver, DriverConfig, DriverErrorKind, Leftover, LeftoverKind, LocalBackend, Op, Outcome,
};
use assay_driver_dynamodb::DynamodbDriver;
use assay_emulators::{Emulator, StartOptions};
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

/// What the namespace's `kv` table leaves on the backend, by the name a cleanup sees.
fn physical(namespace: &str) -> String {
    format!("{namespace}_kv")
}

fn write() -> Op {
    Op::Write {
        table: "kv".into(),
        key: "k".into(),
        value: "v".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_run_shaped_tables_are_listed_and_removed() {
    let opts = StartOptions::for_tests();
    let backend = LocalBackend::DynamodbMoto;
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return;
    }
    let emu = Emulator::start(backend, &opts)
        .await
        .expect("the stand-in starts");
    let endpoint = emu.endpoint().clone();
    let before = now_ms();
    let run = "assay_cln001_0_0";
    let others = ["assay_customers", "assay_cln001_0_0x", "orders"];
    let mut drivers = Vec::new();
    for namespace in std::iter::once(run).chain(others) {
        let driver = DynamodbDriver::connect(&endpoint, config(namespace))
            .await
            .unwrap();
        driver
            .setup(&[TableSpec { name: "kv".into() }])
            .await
            .unwrap();
        drivers.push(driver);
    }

    let cleaner = DynamodbDriver::connect(&endpoint, config("assay_cleanup"))
        .await
        .unwrap();
    let found = cleaner.leftovers(LEFTOVER_PREFIX).await.unwrap();
    let names: Vec<&str> = found.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, [physical(run)], "{found:?}");
    assert_eq!(found[0].kind, LeftoverKind::Table);
    let created = found[0]
        .created_unix_ms
        .expect("DescribeTable gives CreationDateTime");
    // The stand-in's clock is this machine's.
    assert!(
        created + 2_000 >= before && created <= now_ms() + 2_000,
        "created {created}, the test began at {before}"
    );
    assert!(cleaner.leftovers("assay_nothing").await.unwrap().is_empty());

    for other in others {
        let err = cleaner
            .remove_leftover(&Leftover::new(
                physical(other),
                LeftoverKind::Table,
                Some(0),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
        assert!(err.message.contains("leaves it alone"), "{err}");
    }
    cleaner.remove_leftover(&found[0]).await.unwrap();
    // Gone already is fine.
    cleaner.remove_leftover(&found[0]).await.unwrap();
    assert!(cleaner.leftovers(LEFTOVER_PREFIX).await.unwrap().is_empty());
    // The others still work; the run's table is gone.
    for (namespace, driver) in std::iter::once(run).chain(others).zip(&drivers) {
        let result = driver.execute(&write()).await;
        let ok = result.outcome == Outcome::Ok;
        assert_eq!(ok, namespace != run, "{namespace}: {result:?}");
    }
    for driver in &drivers {
        driver.teardown().await.unwrap();
    }
    emu.stop().await;
}
