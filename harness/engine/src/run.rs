//! Running one scenario: its steps in order (each by its own number of clients), then
//! its closed-loop workload, all bounded in time and count.

use crate::recorder::ClientRecorder;
use assay_core::scenario::{Step, Workload};
use assay_core::{Driver, ErrorClass, HistoryEvent, LatencyHistograms, Op, OpKind, OpResult, Scenario};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
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
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            op_timeout: Duration::from_secs(5),
            health: None,
            max_consecutive_connection_errors: 20,
            seed: 0x5eed,
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
}

impl ScenarioRun {
    pub fn ops(&self) -> u64 {
        self.phases.iter().map(|p| p.ops).sum()
    }
}

struct Shared {
    driver: Arc<dyn Driver>,
    opts: EngineOptions,
    abort: AbortSignal,
    next_op_id: AtomicU64,
    consecutive_connection_errors: AtomicU32,
    run_start: Instant,
}

impl Shared {
    /// Runs one op with the timeout, records it, and watches for a dead backend.
    async fn issue(&self, rec: &mut ClientRecorder, step: &str, op: Op) {
        let op_id = self.next_op_id.fetch_add(1, Ordering::Relaxed);
        let start = rec.now_ns();
        rec.invoke(op_id, step, &op, start, start);
        let result = match tokio::time::timeout(self.opts.op_timeout, self.driver.execute(&op)).await {
            Ok(r) => r,
            Err(_) => OpResult::error(
                ErrorClass::Timeout,
                format!("no answer within {:?}", self.opts.op_timeout),
            ),
        };
        let connection_class = matches!(
            result.error_class(),
            Some(ErrorClass::Unavailable | ErrorClass::ConnectionLost | ErrorClass::Timeout)
        );
        let last_error = result.error.as_ref().map(|e| e.message.clone());
        rec.complete(op_id, &op, start, result);
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
                    last_error.unwrap_or_default()
                ));
            }
        } else {
            self.consecutive_connection_errors.store(0, Ordering::Relaxed);
        }
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
    for step in &scenario.steps {
        if abort.is_aborted() {
            break;
        }
        let (phase, events) = run_step(&shared, step).await;
        phases.push(phase);
        history.extend(events);
    }
    if let Some(workload) = &scenario.workload {
        if !abort.is_aborted() {
            let (phase, events) = run_workload(&shared, workload).await;
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
    }
}

fn event_time(e: &HistoryEvent) -> (u64, u64, u8) {
    match e {
        HistoryEvent::Invoke { start_ns, op_id, .. } => (*start_ns, *op_id, 0),
        HistoryEvent::Complete { end_ns, op_id, .. } => (*end_ns, *op_id, 1),
    }
}

/// Joins client tasks and merges what they recorded into one phase.
async fn gather(
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

async fn run_workload(shared: &Arc<Shared>, w: &Workload) -> (PhaseStats, Vec<HistoryEvent>) {
    let started = Instant::now();
    let deadline = started + w.duration;
    let budget = Arc::new(AtomicU64::new(w.max_ops.unwrap_or(u64::MAX)));
    let mix: Vec<(OpKind, f64)> = w.mix.iter().map(|(k, v)| (*k, *v)).collect();
    let total_weight: f64 = mix.iter().map(|(_, v)| v).sum();
    let mut handles = Vec::new();
    for c in 0..w.clients {
        let shared = shared.clone();
        let w = w.clone();
        let mix = mix.clone();
        let budget = budget.clone();
        handles.push(tokio::spawn(async move {
            let mut rec = ClientRecorder::new(c, shared.run_start);
            let mut rng = SmallRng::seed_from_u64(shared.opts.seed ^ (u64::from(c) << 32));
            while Instant::now() < deadline && !shared.abort.is_aborted() {
                // Claim one op from the shared budget; stop when it is spent.
                if budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_err()
                {
                    break;
                }
                let op = workload_op(&w, &mix, total_weight, &mut rng);
                shared.issue(&mut rec, "workload", op).await;
            }
            rec
        }));
    }
    gather("workload", started, handles).await
}

fn workload_op(w: &Workload, mix: &[(OpKind, f64)], total: f64, rng: &mut SmallRng) -> Op {
    let mut pick = rng.random::<f64>() * total;
    let mut kind = mix[mix.len() - 1].0;
    for (k, weight) in mix {
        if pick < *weight {
            kind = *k;
            break;
        }
        pick -= weight;
    }
    let key = w.keys.key(rng.random_range(0..w.keys.count));
    let table = w.table.clone();
    let mut value = || {
        let mut s = String::with_capacity(w.value_size);
        while s.len() < w.value_size {
            s.push(char::from(b'a' + rng.random_range(0..26u8)));
        }
        s
    };
    match kind {
        OpKind::Write => Op::Write {
            table,
            key,
            value: value(),
        },
        OpKind::InsertIfAbsent => Op::InsertIfAbsent {
            table,
            key,
            value: value(),
        },
        OpKind::Delete => Op::Delete { table, key },
        OpKind::Increment => Op::Increment { table, key, by: 1 },
        // Validation admits only the kinds above and reads.
        _ => Op::Read {
            table,
            key,
            consistency: Default::default(),
        },
    }
}
