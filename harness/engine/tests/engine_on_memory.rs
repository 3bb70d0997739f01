use assay_core::{Driver, HistoryEvent, Outcome, Scenario};
use assay_engine::memory::MemoryDriver;
use assay_engine::{run_scenario, AbortSignal, EngineOptions};
use std::sync::Arc;
use std::time::Duration;

const SCENARIO: &str = r#"
format = 1
name = "engine-test"
kind = "conformance"

[[setup.tables]]
name = "kv"

[[steps]]
name = "insert"
op = "insert_if_absent"
keys = { prefix = "k", count = 100 }
value = "v{i}"
clients = 4
expect = { outcome = "ok" }

[[steps]]
name = "again"
op = "insert_if_absent"
keys = { prefix = "k", count = 10 }
value = "x"
clients = 3
expect = { outcome = "fail" }

[workload]
clients = 2
duration = "10s"
max_ops = 500
keys = { prefix = "k", count = 100 }
mix = { read = 0.9, write = 0.1 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_op_is_recorded_as_an_invoke_complete_pair() {
    let scenario = Scenario::parse(SCENARIO, "t.toml").unwrap();
    let driver = Arc::new(MemoryDriver::new());
    driver.setup(&scenario.tables).await.unwrap();
    let run = run_scenario(
        driver.clone(),
        &scenario,
        EngineOptions::default(),
        AbortSignal::default(),
    )
    .await;
    assert!(run.aborted.is_none());
    assert_eq!(run.phases.len(), 3);
    assert_eq!(run.phases[0].ops, 100);
    assert_eq!(run.phases[1].ops, 10);
    // The op budget bounds the closed loop long before its 10 s duration.
    assert_eq!(run.phases[2].ops, 500);
    assert!(run.elapsed < Duration::from_secs(5));
    assert_eq!(run.history.len(), 2 * 610);
    let fails = run
        .history
        .iter()
        .filter(|e| {
            matches!(
                e,
                HistoryEvent::Complete {
                    outcome: Outcome::Fail,
                    ..
                }
            )
        })
        .count();
    assert_eq!(fails, 10);
    assert_eq!(run.latencies.count(None, &Outcome::ALL), 610);
    // Each completion follows its invoke.
    let mut open = std::collections::HashSet::new();
    for e in &run.history {
        match e {
            HistoryEvent::Invoke { op_id, .. } => assert!(open.insert(*op_id)),
            HistoryEvent::Complete { op_id, .. } => assert!(open.remove(op_id)),
        }
    }
    assert!(open.is_empty());
}

#[tokio::test]
async fn an_abort_stops_issuing() {
    let scenario = Scenario::parse(SCENARIO, "t.toml").unwrap();
    let driver = Arc::new(MemoryDriver::new());
    driver.setup(&scenario.tables).await.unwrap();
    let abort = AbortSignal::default();
    abort.abort("interrupted (Ctrl-C)");
    let run = run_scenario(driver, &scenario, EngineOptions::default(), abort).await;
    assert_eq!(run.ops(), 0);
    assert_eq!(run.aborted.as_deref(), Some("interrupted (Ctrl-C)"));
}

/// A memory-backed driver with one native check (`memory.slow`) that sleeps, so the
/// engine's ordering, family routing and timeout can be seen.
struct WithNative(MemoryDriver);

#[async_trait::async_trait]
impl Driver for WithNative {
    fn family(&self) -> &'static str {
        "memory"
    }
    fn capabilities(&self) -> assay_core::Capabilities {
        self.0.capabilities()
    }
    async fn setup(
        &self,
        tables: &[assay_core::scenario::TableSpec],
    ) -> Result<(), assay_core::DriverError> {
        self.0.setup(tables).await
    }
    async fn execute(&self, op: &assay_core::Op) -> assay_core::OpResult {
        self.0.execute(op).await
    }
    async fn native(&self, step: &assay_core::NativeStep) -> assay_core::NativeOutcome {
        let ms = step.param_u64("sleep_ms", 0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        assay_core::NativeOutcome::pass(format!("slept {ms} ms"))
    }
    async fn teardown(&self) -> Result<(), assay_core::DriverError> {
        self.0.teardown().await
    }
}

#[tokio::test]
async fn native_steps_run_in_file_order_on_their_family_within_their_timeout() {
    let src = r#"
format = 1
name = "native"
kind = "conformance"
[[setup.tables]]
name = "kv"
[[steps]]
name = "first"
native = "memory.slow"
documented = "d"
cite = "https://example.org/a"
[[steps]]
name = "write"
op = "write"
key = "k"
value = "v"
expect = { outcome = "ok" }
[[steps]]
name = "other family"
native = "dynamodb.gsi_query"
documented = "d"
cite = "https://example.org/b"
[[steps]]
name = "too slow"
native = "memory.slow"
params = { sleep_ms = 5000 }
timeout = "100ms"
documented = "d"
cite = "https://example.org/c"
"#;
    let s = Scenario::parse(src, "n.toml").unwrap();
    let driver: Arc<dyn Driver> = Arc::new(WithNative(MemoryDriver::new()));
    driver.setup(&s.tables).await.unwrap();
    let run = run_scenario(
        driver.clone(),
        &s,
        EngineOptions::default(),
        AbortSignal::default(),
    )
    .await;
    let names: Vec<&str> = run.native.iter().map(|n| n.step.name.as_str()).collect();
    assert_eq!(names, ["first", "other family", "too slow"]);
    assert_eq!(run.native[0].step.after, 0);
    assert_eq!(
        run.native[0].outcome.verdict,
        assay_core::NativeVerdict::Pass
    );
    assert_eq!(
        run.native[1].outcome.verdict,
        assay_core::NativeVerdict::Unsupported
    );
    assert!(run.native[1]
        .outcome
        .observed
        .contains("this target's driver is memory"));
    assert_eq!(
        run.native[2].outcome.verdict,
        assay_core::NativeVerdict::Error
    );
    assert!(run.native[2].elapsed < Duration::from_secs(2));
    // The portable step ran between the first and second native steps.
    let write_start = run
        .history
        .iter()
        .find_map(|e| match e {
            HistoryEvent::Invoke { start_ns, .. } => Some(*start_ns),
            _ => None,
        })
        .unwrap();
    assert!(Duration::from_nanos(write_start) >= run.native[0].elapsed);
}

const LIST_APPEND: &str = r#"
format = 1
name = "la"
kind = "consistency"
checks = ["serializable"]

[[setup.tables]]
name = "t"

[consistency]
workload = "list-append"
table = "t"
clients = 3
keys = 4
ops = 60
duration = "10s"
"#;

/// After the workload, every key is read once more under `final-read`, last in the
/// history, and the read holds every element acknowledged for that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistency_phase_ends_with_a_final_read_of_every_key() {
    use assay_core::history::FINAL_READ_STEP;
    use assay_core::{Op, OpValue};
    let scenario = Scenario::parse(LIST_APPEND, "la.toml").unwrap();
    let driver = Arc::new(MemoryDriver::new());
    driver.setup(&scenario.tables).await.unwrap();
    let run = run_scenario(
        driver,
        &scenario,
        EngineOptions::default(),
        AbortSignal::default(),
    )
    .await;
    assert!(run.aborted.is_none());
    let steps: Vec<&str> = run
        .history
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::Invoke { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 64, "60 transactions, then one read per key");
    assert!(steps[..60].iter().all(|s| *s != FINAL_READ_STEP));
    assert!(steps[60..].iter().all(|s| *s == FINAL_READ_STEP));
    let appended: usize = run
        .history
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::Invoke {
                op: Op::Txn { ops },
                step,
                ..
            } if step != FINAL_READ_STEP => Some(
                ops.iter()
                    .filter(|o| matches!(o, Op::Append { .. }))
                    .count(),
            ),
            _ => None,
        })
        .sum();
    let finals: Vec<&OpValue> = run
        .history
        .iter()
        .rev()
        .take(8)
        .filter_map(|e| match e {
            HistoryEvent::Complete {
                value,
                outcome: Outcome::Ok,
                ..
            } => Some(value),
            _ => None,
        })
        .collect();
    assert_eq!(finals.len(), 4);
    let read_elements: usize = finals
        .iter()
        .map(|v| format!("{v:?}").matches(',').count())
        .sum();
    assert!(appended > 0);
    assert!(
        read_elements + 4 >= appended,
        "{read_elements} vs {appended}: {finals:?}"
    );
}
