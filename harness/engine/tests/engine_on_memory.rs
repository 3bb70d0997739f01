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
