//! The load phase through `Driver::bulk_load`: the keyspace cut into the driver's chunks,
//! every row landing once with the seed's values, failed calls accounted for (and their rows
//! indeterminate in the history), an abort stopping it, and the per-row default.

use assay_core::scenario::TableSpec;
use assay_core::{
    BulkLoadError, BulkLoadPath, Capabilities, Consistency, Driver, DriverError, ErrorClass,
    HistoryEvent, LoadRow, Op, OpResult, OpValue, Outcome, Scenario,
};
use assay_engine::memory::MemoryDriver;
use assay_engine::{run_scenario, AbortSignal, EngineOptions};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The reference driver with a bulk path: chunks of 100 rows, 3 calls in flight. The call
/// whose first key is `fail_at` writes 10 rows and then fails; after `abort_after` calls
/// the run is aborted.
struct Chunked {
    inner: MemoryDriver,
    calls: Mutex<Vec<(String, usize)>>,
    fail_at: Option<String>,
    abort_after: Option<(u64, AbortSignal)>,
    made: AtomicU64,
}

impl Chunked {
    fn new() -> Self {
        Chunked {
            inner: MemoryDriver::new(),
            calls: Mutex::new(Vec::new()),
            fail_at: None,
            abort_after: None,
            made: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Driver for Chunked {
    fn family(&self) -> &'static str {
        "chunked"
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn setup(&self, t: &[TableSpec]) -> Result<(), DriverError> {
        self.inner.setup(t).await
    }
    async fn execute(&self, op: &Op) -> OpResult {
        self.inner.execute(op).await
    }
    fn bulk_load_path(&self) -> BulkLoadPath {
        BulkLoadPath {
            method: "test chunks",
            writers: 3,
            rows_per_call: 100,
        }
    }
    async fn bulk_load(&self, table: &str, rows: &[LoadRow]) -> Result<u64, BulkLoadError> {
        self.calls
            .lock()
            .unwrap()
            .push((rows[0].key.clone(), rows.len()));
        let n = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((after, abort)) = &self.abort_after {
            if n >= *after {
                abort.abort("test abort");
            }
        }
        let fail = self.fail_at.as_deref() == Some(rows[0].key.as_str());
        let take = if fail { &rows[..10] } else { rows };
        for row in take {
            let r = self
                .inner
                .execute(&Op::Write {
                    table: table.into(),
                    key: row.key.clone(),
                    value: row.value.clone(),
                })
                .await;
            assert_eq!(r.outcome, Outcome::Ok);
        }
        if fail {
            return Err(BulkLoadError::new(
                10,
                ErrorClass::ConnectionLost,
                "lost mid-call",
            ));
        }
        Ok(rows.len() as u64)
    }
    async fn teardown(&self) -> Result<(), DriverError> {
        self.inner.teardown().await
    }
}

fn scenario(count: u64, history: bool) -> Scenario {
    let src = format!(
        "format = 1\nname = \"l\"\nkind = \"throughput\"\n[[setup.tables]]\nname = \"kv\"\n[workload]\nclients = 1\nduration = \"50ms\"\nmax_ops = 1\nload = true\nhistory = {history}\nkeys = {{ prefix = \"user\", count = {count}, digits = 6 }}\nmix = {{ read = 1 }}\nvalue_size = 20"
    );
    Scenario::parse(&src, "l.toml").unwrap_or_else(|e| panic!("{e}"))
}

async fn value_of(d: &dyn Driver, key: &str) -> Option<(String, Option<u64>)> {
    let r = d
        .execute(&Op::Read {
            table: "kv".into(),
            key: key.into(),
            consistency: Consistency::Strong,
        })
        .await;
    match r.value {
        OpValue::Record(Some(rec)) => Some((rec.value.unwrap_or_default(), rec.version)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyspace_goes_in_chunks_and_every_row_lands_once() {
    let d = Arc::new(Chunked::new());
    let s = scenario(1_050, false);
    d.setup(&s.tables).await.unwrap();
    let run = run_scenario(
        d.clone(),
        &s,
        EngineOptions::default(),
        AbortSignal::default(),
    )
    .await;
    let load = run.load.expect("the load ran");
    assert_eq!(
        (
            load.rows_planned,
            load.rows_written,
            load.rows_failed,
            load.calls_failed
        ),
        (1_050, 1_050, 0, 0)
    );
    assert_eq!(
        (load.method.as_str(), load.writers, load.rows_per_call),
        ("test chunks", 3, 100)
    );
    assert!(!load.interrupted && load.rows_per_s > 0.0 && load.elapsed_ns > 0);
    let mut calls = d.calls.lock().unwrap().clone();
    calls.sort();
    assert_eq!(calls.len(), 11);
    assert_eq!(calls[0], ("user000000".to_string(), 100));
    assert_eq!(calls[10], ("user001000".to_string(), 50));
    let (first, ver) = value_of(&*d, "user000000").await.expect("loaded");
    assert_eq!((first.len(), ver), (20, Some(1)));
    assert!(value_of(&*d, "user001049").await.is_some());
    assert!(value_of(&*d, "user001050").await.is_none());
    assert_eq!(
        run.phases.iter().find(|p| p.name == "load").unwrap().ops,
        1_050
    );

    // The same seed loads the same values, whichever writer took which chunk.
    let again = Arc::new(Chunked::new());
    again.setup(&s.tables).await.unwrap();
    run_scenario(
        again.clone(),
        &s,
        EngineOptions::default(),
        AbortSignal::default(),
    )
    .await;
    for key in ["user000000", "user000517", "user001049"] {
        assert_eq!(
            value_of(&*d, key).await,
            value_of(&*again, key).await,
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_is_counted_and_its_rows_are_indeterminate_in_the_history() {
    let d = Arc::new(Chunked {
        fail_at: Some("user000200".into()),
        ..Chunked::new()
    });
    let s = scenario(500, true);
    d.setup(&s.tables).await.unwrap();
    let run = run_scenario(
        d.clone(),
        &s,
        EngineOptions::default(),
        AbortSignal::default(),
    )
    .await;
    let load = run.load.unwrap();
    assert_eq!(
        (load.rows_written, load.rows_failed, load.calls_failed),
        (410, 90, 1)
    );
    assert!(load
        .first_error
        .as_deref()
        .unwrap()
        .contains("lost mid-call"));
    let outcomes: Vec<Outcome> = run
        .history
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::Complete { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    let indeterminate = outcomes
        .iter()
        .filter(|o| **o == Outcome::Indeterminate)
        .count();
    // 100 rows of the failed call (which of them landed is unknown), plus the workload's read.
    assert_eq!(indeterminate, 100);
    let load_invokes = run
        .history
        .iter()
        .filter(|e| matches!(e, HistoryEvent::Invoke { step, .. } if step == "load"))
        .count();
    assert_eq!(load_invokes, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_stops_the_load_after_the_calls_in_flight() {
    let abort = AbortSignal::default();
    let d = Arc::new(Chunked {
        abort_after: Some((2, abort.clone())),
        ..Chunked::new()
    });
    let s = scenario(100_000, false);
    d.setup(&s.tables).await.unwrap();
    let run = run_scenario(d.clone(), &s, EngineOptions::default(), abort).await;
    let load = run.load.unwrap();
    assert!(load.interrupted);
    // Writers check the abort before each call: at most one more call each.
    assert!(load.rows_written <= 5 * 100, "{}", load.rows_written);
    assert_eq!(run.aborted.as_deref(), Some("test abort"));
    assert!(run.workload.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_without_a_bulk_path_loads_row_by_row() {
    let d = Arc::new(MemoryDriver::new());
    let s = scenario(300, false);
    d.setup(&s.tables).await.unwrap();
    let run = run_scenario(
        d.clone(),
        &s,
        EngineOptions::default(),
        AbortSignal::default(),
    )
    .await;
    let load = run.load.unwrap();
    assert_eq!(
        (
            load.method.as_str(),
            load.writers,
            load.rows_per_call,
            load.rows_written
        ),
        ("write per row", 16, 1, 300)
    );
    assert_eq!(value_of(&*d, "user000299").await.unwrap().1, Some(1));
}
