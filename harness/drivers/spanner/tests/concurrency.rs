//! Concurrent read-write transactions on the emulator: it runs one at a time and aborts
//! the others, so the driver's bounded ABORTED retries must show up in `OpMeta::retries`
//! and no acknowledged increment may be lost.

mod common;

use assay_core::{Driver, ErrorClass, OpValue, Outcome};
use common::*;
use std::sync::Arc;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_are_retried_counted_and_never_lost() {
    let Some(emu) = emulator().await else { return };
    let d = Arc::new(driver(&emu, "conc").await);
    d.setup(&[table("kv")]).await.expect("setup");

    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 10;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let d = Arc::clone(&d);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..PER_CLIENT {
                out.push(d.execute(&increment("kv", "hot", 1)).await);
            }
            out
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.extend(t.await.expect("client task"));
    }
    let ok = results.iter().filter(|r| r.outcome == Outcome::Ok).count();
    let retries: u32 = results.iter().map(|r| r.meta.retries).sum();
    let max_retries = results.iter().map(|r| r.meta.retries).max().unwrap_or(0);
    eprintln!(
        "{} increments from {CLIENTS} clients in {:?}: {ok} ok, {retries} ABORTED retries \
         (max {max_retries} for one op)",
        results.len(),
        started.elapsed()
    );
    for r in results.iter().filter(|r| r.outcome != Outcome::Ok) {
        // Only exhausted ABORTED retries may fail, and they say why.
        assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
        assert_eq!(r.error_class(), Some(ErrorClass::Aborted), "{r:?}");
        let message = &r.error.as_ref().expect("error").message;
        assert!(message.contains("emulator"), "{message}");
    }
    assert!(
        retries > 0,
        "{CLIENTS} concurrent clients on the emulator never aborted"
    );

    // Every acknowledged increment is in the counter, and each returned a distinct value.
    let mut seen: Vec<i64> = results
        .iter()
        .filter_map(|r| match r.value {
            OpValue::Counter(n) => Some(n),
            _ => None,
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=ok as i64).collect::<Vec<_>>());
    let stored = record(d.execute(&read("kv", "hot")).await).and_then(|r| r.counter);
    assert_eq!(stored, Some(ok as i64));

    d.teardown().await.expect("teardown");
    emu.stop().await;
}
