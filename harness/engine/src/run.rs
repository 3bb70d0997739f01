//! Running one scenario: its steps in order (each by its own number of clients), then
//! its workload (see `workload`), all bounded in time and count.

use crate::faults::Schedule;
use crate::recorder::ClientRecorder;
use crate::shared::{gather, AbortSignal, EngineOptions, PhaseStats, Shared};
use crate::workload::{self, WorkloadStats};
use assay_core::fault::FaultInjector;
use assay_core::record::{FaultEvent, LoadPhaseRecord};
use assay_core::scenario::Step;
use assay_core::scenario::{FaultKind, FaultSpec};
use assay_core::{Driver, HistoryEvent, LatencyHistograms, Scenario};
use assay_core::{NativeOutcome, NativeStep};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a scenario run recorded, for the checkers and the reports.
#[derive(Debug)]
pub struct ScenarioRun {
    /// Invoke and complete events in time order.
    pub history: Vec<HistoryEvent>,
    pub phases: Vec<PhaseStats>,
    pub latencies: LatencyHistograms,
    pub elapsed: Duration,
    /// Set when the run stopped early, with the reason.
    pub aborted: Option<String>,
    /// What the workload measured, when the scenario has one and it ran.
    pub workload: Option<WorkloadStats>,
    /// What the workload's load phase did, when it ran.
    pub load: Option<LoadPhaseRecord>,
    /// The backend-specific steps that ran, in order.
    pub native: Vec<NativeStepRun>,
    /// What the fault schedule did, in order.
    pub faults: Vec<FaultEvent>,
}

/// One backend-specific step and what the driver observed.
#[derive(Clone, Debug)]
pub struct NativeStepRun {
    pub step: NativeStep,
    pub outcome: NativeOutcome,
    pub elapsed: Duration,
}

impl ScenarioRun {
    pub fn ops(&self) -> u64 {
        self.phases.iter().map(|p| p.ops).sum()
    }
}

/// Runs the scenario's steps, then its workload. Never panics on backend behaviour;
/// stops early (and says why in `aborted`) when `abort` fires or the backend dies.
pub async fn run_scenario(
    driver: Arc<dyn Driver>,
    scenario: &Scenario,
    opts: EngineOptions,
    abort: AbortSignal,
) -> ScenarioRun {
    let injector = opts.faults.clone();
    let shared = Arc::new(Shared::new(driver, opts, abort.clone()));
    let schedule = (!scenario.faults.is_empty()).then(|| {
        let injector = injector.unwrap_or_else(|| Arc::new(NoInjector));
        Schedule::start(scenario.faults.clone(), injector, shared.run_start)
    });
    let mut phases = Vec::new();
    let mut history = Vec::new();
    let mut native = Vec::new();
    let mut pending_native = scenario.native.iter().peekable();
    for i in 0..=scenario.steps.len() {
        while let Some(n) = pending_native.next_if(|n| n.after <= i) {
            if abort.is_aborted() {
                break;
            }
            native.push(run_native(&shared, n).await);
        }
        let Some(step) = scenario.steps.get(i) else {
            break;
        };
        if abort.is_aborted() {
            break;
        }
        let (phase, events) = run_step(&shared, step).await;
        phases.push(phase);
        history.extend(events);
    }
    let mut workload_stats = None;
    let mut load_stats = None;
    if let Some(w) = &scenario.workload {
        if w.load && !abort.is_aborted() {
            let started = Instant::now();
            let (load, events) = crate::load::run(&shared, w).await;
            // Bulk calls are not ops: the phase has no latency histograms, only its rate.
            phases.push(PhaseStats {
                name: "load".into(),
                ops: load.rows_written + load.rows_failed,
                elapsed: started.elapsed(),
                latencies: LatencyHistograms::default(),
            });
            history.extend(events);
            load_stats = Some(load);
        }
        if !abort.is_aborted() {
            let out = workload::run(&shared, w).await;
            phases.push(PhaseStats {
                name: "workload".into(),
                ops: out.stats.ops,
                elapsed: out.stats.measured,
                latencies: out.stats.latency.clone(),
            });
            history.extend(out.events);
            workload_stats = Some(out.stats);
        }
    }
    if let Some(c) = &scenario.consistency {
        if !abort.is_aborted() {
            let (phase, events) = crate::consistency::run(&shared, c).await;
            phases.push(phase);
            history.extend(events);
        }
    }
    let faults = match schedule {
        Some(s) => s.finish().await,
        None => Vec::new(),
    };
    // Within a phase clients interleave; order the whole history by time.
    history.sort_by_key(event_time);
    let mut latencies = LatencyHistograms::default();
    for p in &phases {
        latencies.merge(&p.latencies);
    }
    ScenarioRun {
        history,
        phases,
        latencies,
        elapsed: shared.run_start.elapsed(),
        aborted: abort.reason(),
        workload: workload_stats,
        load: load_stats,
        native,
        faults,
    }
}

/// Stands in when a run has a fault schedule but nothing to carry it out.
struct NoInjector;

#[async_trait::async_trait]
impl FaultInjector for NoInjector {
    async fn apply(&self, _: FaultKind, _: &FaultSpec) -> Result<String, String> {
        Err("this run has no fault injector; nothing was done".into())
    }
}

/// Runs one backend-specific step on the driver of its family, bounded by its timeout.
async fn run_native(shared: &Arc<Shared>, step: &NativeStep) -> NativeStepRun {
    let started = Instant::now();
    let family = shared.driver.family();
    let outcome = if !shared.driver.runs_native(&step.family) {
        NativeOutcome::unsupported(format!(
            "a {} step; this target's driver is {family}",
            step.family
        ))
    } else {
        match tokio::time::timeout(step.timeout, shared.driver.native(step)).await {
            Ok(outcome) => outcome,
            Err(_) => NativeOutcome::error(format!(
                "did not finish within {:?} (the step's timeout)",
                step.timeout
            )),
        }
    };
    NativeStepRun {
        step: step.clone(),
        outcome,
        elapsed: started.elapsed(),
    }
}

fn event_time(e: &HistoryEvent) -> (u64, u64, u8) {
    match e {
        HistoryEvent::Invoke {
            start_ns, op_id, ..
        } => (*start_ns, *op_id, 0),
        HistoryEvent::Complete { end_ns, op_id, .. } => (*end_ns, *op_id, 1),
    }
}

async fn run_step(shared: &Arc<Shared>, step: &Step) -> (PhaseStats, Vec<HistoryEvent>) {
    let started = Instant::now();
    let clients = u64::from(step.clients).min(step.keys.count).max(1);
    let mut handles = Vec::new();
    for c in 0..clients {
        let shared = shared.clone();
        let step = step.clone();
        handles.push(tokio::spawn(async move {
            let mut rec = ClientRecorder::new(c as u32, shared.run_start);
            let mut i = c;
            while i < step.keys.count && !shared.abort.is_aborted() {
                shared.issue(&mut rec, &step.name, step.op_at(i)).await;
                i += clients;
            }
            rec
        }));
    }
    gather(&step.name, started, handles).await
}
