//! The cleanup check every driver whose run leaves one object per namespace runs against
//! its stand-in: the run's object is listed (with its creation time where the backend
//! keeps one), objects of any other name — `assay_` followed by something that is not a
//! run namespace, or not `assay_` at all — are neither listed nor removable, and they
//! still work after the cleanup.

use crate::{Emulator, StartOptions};
use assay_core::cleanup::LEFTOVER_PREFIX;
use assay_core::scenario::TableSpec;
use assay_core::{
    Driver, DriverConfig, DriverError, DriverErrorKind, Endpoint, Leftover, LeftoverKind,
    LocalBackend, Op, Outcome,
};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the backend says of when the run's object was made.
#[derive(Clone, Copy, Debug)]
pub enum CreationTime {
    /// Nothing: the object is of unknown age.
    Unknown,
    /// A time within this many milliseconds of the test's clock (whole seconds, say).
    Within(u64),
}

/// How the backend names and dates a namespace's leftover.
pub struct LeftoverShape {
    pub backend: LocalBackend,
    pub kind: LeftoverKind,
    /// The name a cleanup sees for a namespace whose one table is `kv`.
    pub physical: fn(&str) -> String,
    pub created: CreationTime,
}

fn config(namespace: &str) -> DriverConfig {
    DriverConfig {
        namespace: namespace.into(),
        op_timeout: Duration::from_secs(5),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts the stand-in, sets up a run namespace and three decoys through drivers made by
/// `connect`, and checks what `leftovers` lists and `remove_leftover` removes.
pub async fn only_run_shaped_leftovers_are_listed_and_removed<D, F, Fut>(
    shape: LeftoverShape,
    connect: F,
) where
    D: Driver,
    F: Fn(Endpoint, DriverConfig) -> Fut,
    Fut: Future<Output = Result<D, DriverError>>,
{
    let opts = StartOptions::for_tests();
    if !super::backend_available(shape.backend, &opts.workspace_root) {
        return;
    }
    let emu = Emulator::start(shape.backend, &opts)
        .await
        .expect("the stand-in starts");
    let endpoint = emu.endpoint().clone();
    let before = now_ms();
    let run = "assay_cln001_0_0";
    let others = ["assay_customers", "assay_cln001_0_0x", "orders"];
    let mut drivers = Vec::new();
    for namespace in std::iter::once(run).chain(others) {
        let driver = connect(endpoint.clone(), config(namespace)).await.unwrap();
        driver
            .setup(&[TableSpec { name: "kv".into() }])
            .await
            .unwrap();
        drivers.push(driver);
    }

    let cleaner = connect(endpoint.clone(), config("assay_cleanup"))
        .await
        .unwrap();
    let found = cleaner.leftovers(LEFTOVER_PREFIX).await.unwrap();
    let names: Vec<&str> = found.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, [(shape.physical)(run)], "{found:?}");
    assert_eq!(found[0].kind, shape.kind);
    match shape.created {
        CreationTime::Unknown => assert_eq!(found[0].created_unix_ms, None, "{found:?}"),
        CreationTime::Within(slack) => {
            let created = found[0].created_unix_ms.expect("a creation time");
            assert!(
                created + slack >= before && created <= now_ms() + slack,
                "created {created}, the test began at {before}"
            );
        }
    }
    assert!(cleaner.leftovers("assay_nothing").await.unwrap().is_empty());

    for other in others {
        let err = cleaner
            .remove_leftover(&Leftover::new((shape.physical)(other), shape.kind, Some(0)))
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
    let write = Op::Write {
        table: "kv".into(),
        key: "k".into(),
        value: "v".into(),
    };
    for (namespace, driver) in std::iter::once(run).chain(others).zip(&drivers) {
        let result = driver.execute(&write).await;
        let ok = result.outcome == Outcome::Ok;
        assert_eq!(ok, namespace != run, "{namespace}: {result:?}");
    }
    for driver in &drivers {
        driver.teardown().await.unwrap();
    }
    emu.stop().await;
}
