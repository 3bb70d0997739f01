//! One scenario on one target, as `assay run` runs it: connect (through a fault rig when
//! the scenario schedules faults), capabilities, setup, the engine, teardown — each phase
//! a timeline event — and the scenario's entry in the run record. Also the isolation
//! suite. Observations only; the judge decides later.

#[path = "progress.rs"]
mod progress;

use crate::fault_rig::FaultRig;
use crate::load::{LoadedIsolationTest, LoadedScenario};
use crate::targets::{connect, LiveTarget};
use assay_core::fault::FaultInjector;
use assay_core::record::{
    EventKind, LoadConfig, MissingCapability, Phase, RecordKind, RunOptions, ScenarioRecord,
    ScenarioStatus, TimelineEvent,
};
use assay_core::scenario::FaultKind;
use assay_core::{Driver, DriverConfig, HistoryEvent};
use assay_engine::{record_run, run_scenario, AbortSignal, EngineOptions, LiveStats};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Per-run settings every scenario gets.
#[derive(Clone)]
pub(crate) struct Knobs {
    pub(crate) op_timeout: Duration,
    pub(crate) seed: u64,
    pub(crate) drain_grace: Duration,
    pub(crate) workers: usize,
    pub(crate) faults: Vec<String>,
    /// How a fault schedule's restart starts a fresh stand-in.
    pub(crate) start: assay_emulators::StartOptions,
}

/// The run's timeline, appended to from concurrent bring-ups.
#[derive(Clone, Default)]
pub(crate) struct Timeline(Arc<Mutex<Vec<TimelineEvent>>>);

impl Timeline {
    pub(crate) fn push(&self, event: TimelineEvent) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }

    pub(crate) fn take(&self) -> Vec<TimelineEvent> {
        let mut events = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        events.sort_by_key(|e| e.unix_ms);
        events
    }
}

fn run_options(knobs: &Knobs) -> RunOptions {
    RunOptions {
        op_timeout_s: knobs.op_timeout.as_secs_f64(),
        seed: knobs.seed,
        faults: knobs.faults.clone(),
    }
}

/// Runs the Hermitage-style isolation tests at every level (and profile) the target offers.
/// Only the SQL families (PostgreSQL and MySQL wire) can run them; other targets record
/// them unsupported.
pub(crate) async fn run_isolation(
    live: &LiveTarget,
    tests: &[LoadedIsolationTest],
    knobs: &Knobs,
    timeline: &Timeline,
) -> ScenarioRecord {
    let files: Vec<String> = tests.iter().map(|t| t.path.display().to_string()).collect();
    let load = LoadConfig {
        clients: 2,
        ..LoadConfig::of_options(&run_options(knobs))
    };
    let mut record = ScenarioRecord::new(
        "isolation",
        &files.join(", "),
        "",
        RecordKind::Isolation,
        String::new(),
        load,
    );
    use assay_core::Family;
    if !matches!(live.spec.family, Family::Postgres | Family::Mysql) {
        record.status = ScenarioStatus::Unsupported {
            reason: format!(
                "unsupported: isolation tests are SQL sessions; {} is not a SQL target",
                live.spec.name
            ),
            missing: Vec::new(),
        };
        return record;
    }
    let phase = |kind| {
        TimelineEvent::now(kind)
            .target(&live.spec.name)
            .scenario("isolation")
            .phase(Phase::Isolation)
    };
    timeline.push(phase(EventKind::PhaseStarted));
    let started = std::time::Instant::now();
    let parsed: Vec<_> = tests.iter().map(|t| t.test.clone()).collect();
    let ran = match live.spec.family {
        Family::Mysql => assay_driver_mysql::run_isolation_suite(&live.endpoint, &parsed).await,
        _ => {
            assay_driver_postgres::run_isolation_suite(
                &live.endpoint,
                &parsed,
                &assay_driver_postgres::POSTGRES_ISOLATION_LEVELS,
            )
            .await
        }
    };
    match ran {
        Ok(matrix) => {
            record.elapsed_ns = started.elapsed().as_nanos() as u64;
            record.isolation = Some(matrix);
            record.status = ScenarioStatus::Ran {
                aborted: None,
                teardown_error: None,
            };
        }
        Err(e) => {
            record.status = ScenarioStatus::NotRun {
                reason: backend_failure(live, e.to_string()),
            }
        }
    }
    timeline.push(phase(EventKind::PhaseFinished));
    record
}

/// Teardown is bounded: a dead backend must not hang the end of the run.
const TEARDOWN_BOUND: Duration = Duration::from_secs(60);

/// Runs one scenario on one target: connect, capabilities, setup, engine, teardown.
pub(crate) async fn run_one(
    live: &LiveTarget,
    loaded: &LoadedScenario,
    namespace: String,
    knobs: &Knobs,
    abort: &AbortSignal,
    timeline: &Timeline,
) -> (ScenarioRecord, Vec<HistoryEvent>) {
    let scenario = &loaded.scenario;
    let mut record = ScenarioRecord::new(
        &scenario.name,
        &loaded.path.display().to_string(),
        &loaded.sha256,
        scenario.kind.into(),
        loaded.source.clone(),
        LoadConfig::of(scenario, &run_options(knobs)),
    );
    let phase = |kind, phase| {
        TimelineEvent::now(kind)
            .target(&live.spec.name)
            .scenario(&scenario.name)
            .phase(phase)
    };
    let family = live.endpoint.family();
    if !scenario.families.is_empty() && !scenario.families.contains(&family) {
        record.status = ScenarioStatus::Unsupported {
            reason: format!(
                "unsupported: written for {} only (`families`); this target is {family}",
                scenario
                    .families
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            missing: Vec::new(),
        };
        return (record, Vec::new());
    }
    let rig = if scenario.faults.is_empty() && scenario.replication.is_none() {
        None
    } else {
        match FaultRig::start(live, scenario, knobs.start.clone()).await {
            Ok(r) => Some(Arc::new(r)),
            Err(reason) => {
                record.status = ScenarioStatus::Unsupported {
                    reason: format!("unsupported: {reason}"),
                    missing: Vec::new(),
                };
                return (record, Vec::new());
            }
        }
    };
    timeline.push(phase(EventKind::PhaseStarted, Phase::Connect));
    let config = DriverConfig {
        namespace,
        op_timeout: knobs.op_timeout,
    };
    let endpoint = rig.as_ref().map_or(&live.endpoint, |r| r.endpoint());
    if let Some(r) = &rig {
        r.use_setup(config.clone(), scenario.isolation, &scenario.tables);
    }
    let driver = match connect(endpoint, config, scenario.isolation).await {
        Ok(d) => d,
        Err(e) => {
            record.status = ScenarioStatus::NotRun {
                reason: backend_failure(live, format!("cannot connect: {e}")),
            };
            return (record, Vec::new());
        }
    };
    record.notes = driver.notes();
    if let Some(r) = rig.as_ref().and_then(|r| r.replication.clone()) {
        record.notes.push(r);
    }
    if let Err(missing) = driver
        .capabilities()
        .require(&scenario.required_capabilities())
    {
        record.status = ScenarioStatus::Unsupported {
            reason: format!(
                "unsupported: {}",
                missing
                    .iter()
                    .map(|(c, why)| format!("{c} ({why})"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            missing: missing
                .into_iter()
                .map(|(capability, reason)| MissingCapability { capability, reason })
                .collect(),
        };
        return (record, Vec::new());
    }
    timeline.push(phase(EventKind::PhaseStarted, Phase::Setup));
    if let Err(e) = driver.setup(&scenario.tables).await {
        let _ = tokio::time::timeout(TEARDOWN_BOUND, driver.teardown()).await;
        record.status = ScenarioStatus::NotRun {
            reason: backend_failure(live, format!("setup failed: {e}")),
        };
        return (record, Vec::new());
    }
    let live_stats = Arc::new(LiveStats::new());
    let mut opts = EngineOptions {
        op_timeout: knobs.op_timeout,
        health: Some(live.health_probe()),
        seed: knobs.seed,
        drain_grace: knobs.drain_grace,
        live: Some(live_stats.clone()),
        workers: knobs.workers,
        ..EngineOptions::default()
    };
    if let Some(r) = &rig {
        // Under a fault schedule failures are the point: the run goes on through them.
        opts.health = None;
        opts.max_consecutive_connection_errors = u32::MAX;
        opts.faults = Some(r.clone() as Arc<dyn FaultInjector>);
    }
    let progress = scenario.workload.as_ref().map(|_| {
        progress::Progress::start(format!("{}: {}", live.spec.name, scenario.name), live_stats)
    });
    timeline.push(phase(EventKind::PhaseStarted, Phase::Run));
    let run = run_scenario(driver.clone(), scenario, opts, abort.clone()).await;
    if let Some(p) = progress {
        p.finish().await;
    }
    timeline.push(phase(EventKind::PhaseStarted, Phase::Teardown));
    let teardown_error = teardown(driver.as_ref()).await;
    timeline.push(phase(EventKind::PhaseFinished, Phase::Teardown));
    if let Some(r) = rig.and_then(|r| Arc::try_unwrap(r).ok()) {
        r.finish().await;
    }
    for f in &run.faults {
        let mut e = TimelineEvent::now(EventKind::Fault)
            .target(&live.spec.name)
            .scenario(&scenario.name)
            .detail(format!(
                "{} ({}): {}{}",
                f.action.as_str(),
                f.fault,
                if f.ok { "" } else { "not done: " },
                f.detail
            ));
        e.unix_ms = f.unix_ms;
        timeline.push(e);
    }
    if run
        .faults
        .iter()
        .any(|f| f.ok && matches!(f.action, FaultKind::Restart | FaultKind::Start))
    {
        record.notes.push(format!(
            "{} was started afresh mid-run and came back empty: the writes it had acknowledged are lost by the emulator, which keeps data in memory, not by the service it stands in for",
            live.spec.name
        ));
    }
    let history = record_run(&mut record, run);
    if let (
        ScenarioStatus::Ran {
            teardown_error: t, ..
        },
        Some(e),
    ) = (&mut record.status, teardown_error)
    {
        // After a fault schedule the original stand-in may be dead by design: its
        // account of that is no explanation.
        *t = Some(if record.faults.is_empty() {
            backend_failure(live, e)
        } else {
            e
        });
    }
    (record, history)
}

async fn teardown(driver: &dyn Driver) -> Option<String> {
    match tokio::time::timeout(TEARDOWN_BOUND, driver.teardown()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("teardown failed: {e}")),
        Err(_) => Some(format!("teardown did not finish within {TEARDOWN_BOUND:?}")),
    }
}

/// Prefers the backend's own account of its death over the symptom.
fn backend_failure(live: &LiveTarget, symptom: String) -> String {
    match (live.health_probe())() {
        Some(reason) => format!("backend stopped: {reason}"),
        None => symptom,
    }
}
