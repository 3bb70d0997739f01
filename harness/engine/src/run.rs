//! Running one scenario: its steps in order (each by its own number of clients), then
//! its workload (see `workload`), all bounded in time and count.

use crate::live::LiveStats;
use crate::recorder::ClientRecorder;
use crate::workload::{self, WorkloadStats};
use assay_core::scenario::Step;
use assay_core::{Driver, ErrorClass, HistoryEvent, LatencyHistograms, Op, OpResult, Scenario};
use assay_core::{NativeOutcome, NativeStep};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Says why the backend cannot answer any more (e.g. "moto_server exited (signal 9)"),
/// or `None` while it is healthy. Called only after connection-class errors.
pub type HealthProbe = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Shared stop flag: Ctrl-C, a dead backend. The first reason given wins.
#[derive(Clone, Default)]
pub struct AbortSignal(Arc<AbortInner>);

#[derive(Default)]
struct AbortInner {
    aborted: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl AbortSignal {
    pub fn abort(&self, reason: impl Into<String>) {
        let mut slot = self.0.reason.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(reason.into());
        }
        self.0.aborted.store(true, Ordering::SeqCst);
    }

    pub fn is_aborted(&self) -> bool {
        self.0.aborted.load(Ordering::Relaxed)
    }

    pub fn reason(&self) -> Option<String> {
        self.0
            .reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[derive(Clone)]
pub struct EngineOptions {
    /// Bound on one op; past it the op is `indeterminate` (timeout).
    pub op_timeout: Duration,
    pub health: Option<HealthProbe>,
    /// Consecutive connection-class errors (unavailable, connection lost, timeout) after
    /// which the backend is declared down even without a health probe.
    pub max_consecutive_connection_errors: u32,
    pub seed: u64,
    /// After an abort (Ctrl-C), how long in-flight workload ops may still finish; past it
    /// they are abandoned (their invoke stays in the history without a completion).
    pub drain_grace: Duration,
    /// Worker tasks for a workload (0: one per CPU). Each owns its recorder.
    pub workers: usize,
    /// Live figures for a progress display.
    pub live: Option<Arc<LiveStats>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            op_timeout: Duration::from_secs(5),
            health: None,
            max_consecutive_connection_errors: 20,
            seed: 0x5eed,
            drain_grace: Duration::from_secs(5),
            workers: 0,
            live: None,
        }
    }
}

/// What one phase (a step, or the workload) did.
#[derive(Clone, Debug)]
pub struct PhaseStats {
    pub name: String,
    pub ops: u64,
    pub elapsed: Duration,
    pub latencies: LatencyHistograms,
}

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
    /// The backend-specific steps that ran, in order.
    pub native: Vec<NativeStepRun>,
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

pub(crate) struct Shared {
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) opts: EngineOptions,
    pub(crate) abort: AbortSignal,
    pub(crate) next_op_id: AtomicU64,
    consecutive_connection_errors: AtomicU32,
    pub(crate) run_start: Instant,
}

impl Shared {
    pub(crate) fn now_ns(&self) -> u64 {
        self.run_start.elapsed().as_nanos() as u64
    }

    /// Watches results for a dead backend: a health probe's verdict, or too many
    /// connection-class errors in a row.
    pub(crate) fn watch(&self, result: &OpResult) {
        let connection_class = matches!(
            result.error_class(),
            Some(ErrorClass::Unavailable | ErrorClass::ConnectionLost | ErrorClass::Timeout)
        );
        if connection_class {
            let n = self
                .consecutive_connection_errors
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            if let Some(reason) = self.opts.health.as_ref().and_then(|probe| probe()) {
                self.abort.abort(format!("backend stopped: {reason}"));
            } else if n >= self.opts.max_consecutive_connection_errors {
                self.abort.abort(format!(
                    "backend stopped answering: {n} consecutive connection errors, last: {}",
                    result
                        .error
                        .as_ref()
                        .map(|e| e.message.as_str())
                        .unwrap_or_default()
                ));
            }
        } else if self.consecutive_connection_errors.load(Ordering::Relaxed) != 0 {
            // Only a write when there is something to reset: the op path stays free of
            // stores to this shared line.
            self.consecutive_connection_errors
                .store(0, Ordering::Relaxed);
        }
    }

    /// Runs one op with the timeout, records it, and watches for a dead backend.
    async fn issue(&self, rec: &mut ClientRecorder, step: &str, op: Op) {
        let op_id = self.next_op_id.fetch_add(1, Ordering::Relaxed);
        let start = rec.now_ns();
        rec.invoke(op_id, step, &op, start, start);
        let result =
            match tokio::time::timeout(self.opts.op_timeout, self.driver.execute(&op)).await {
                Ok(r) => r,
                Err(_) => OpResult::error(
                    ErrorClass::Timeout,
                    format!("no answer within {:?}", self.opts.op_timeout),
                ),
            };
        self.watch(&result);
        rec.complete(op_id, &op, start, result);
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
    let shared = Arc::new(Shared {
        driver,
        opts,
        abort: abort.clone(),
        next_op_id: AtomicU64::new(0),
        consecutive_connection_errors: AtomicU32::new(0),
        run_start: Instant::now(),
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
    if let Some(w) = &scenario.workload {
        if w.load && !abort.is_aborted() {
            let started = Instant::now();
            let (latencies, events, ops) = workload::load(&shared, w).await;
            phases.push(PhaseStats {
                name: "load".into(),
                ops,
                elapsed: started.elapsed(),
                latencies,
            });
            history.extend(events);
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
        native,
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

/// Joins client tasks and merges what they recorded into one phase.
pub(crate) async fn gather(
    name: &str,
    started: Instant,
    handles: Vec<tokio::task::JoinHandle<ClientRecorder>>,
) -> (PhaseStats, Vec<HistoryEvent>) {
    let mut latencies = LatencyHistograms::default();
    let mut events = Vec::new();
    let mut ops = 0;
    for h in handles {
        // A client task only panics on a bug in a driver; the ops it finished are lost
        // with it, and the missing completions show up in the checks.
        if let Ok(rec) = h.await {
            latencies.merge(&rec.latencies);
            ops += rec
                .events
                .iter()
                .filter(|e| matches!(e, HistoryEvent::Complete { .. }))
                .count() as u64;
            events.extend(rec.events);
        }
    }
    (
        PhaseStats {
            name: name.to_string(),
            ops,
            elapsed: started.elapsed(),
            latencies,
        },
        events,
    )
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
