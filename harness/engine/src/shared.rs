//! What every phase of a run shares: the engine's options, the abort signal, the op-id
//! counter and the dead-backend watch (`Shared`), and what one phase did (`PhaseStats`).
//! A leaf module: the run, the workload and the consistency workload all build on it.

use crate::live::LiveStats;
use crate::recorder::ClientRecorder;
use assay_core::{Driver, ErrorClass, HistoryEvent, LatencyHistograms, Op, OpResult};
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
    /// Carries out the scenario's fault schedule; without one, scheduled faults are
    /// recorded as not done.
    pub faults: Option<Arc<dyn assay_core::fault::FaultInjector>>,
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
            faults: None,
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

pub(crate) struct Shared {
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) opts: EngineOptions,
    pub(crate) abort: AbortSignal,
    pub(crate) next_op_id: AtomicU64,
    consecutive_connection_errors: AtomicU32,
    pub(crate) run_start: Instant,
}

impl Shared {
    pub(crate) fn new(driver: Arc<dyn Driver>, opts: EngineOptions, abort: AbortSignal) -> Self {
        Shared {
            driver,
            opts,
            abort,
            next_op_id: AtomicU64::new(0),
            consecutive_connection_errors: AtomicU32::new(0),
            run_start: Instant::now(),
        }
    }

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

    /// Runs one op on the driver, bounded by the op timeout (past it: `indeterminate`).
    pub(crate) async fn execute(&self, op: &Op) -> OpResult {
        match tokio::time::timeout(self.opts.op_timeout, self.driver.execute(op)).await {
            Ok(r) => r,
            Err(_) => OpResult::error(
                ErrorClass::Timeout,
                format!("no answer within {:?}", self.opts.op_timeout),
            ),
        }
    }

    /// Runs one op with the timeout, records it, and watches for a dead backend.
    pub(crate) async fn issue(&self, rec: &mut ClientRecorder, step: &str, op: Op) {
        let op_id = self.next_op_id.fetch_add(1, Ordering::Relaxed);
        let start = rec.now_ns();
        rec.invoke(op_id, step, &op, start, start);
        let result = self.execute(&op).await;
        self.watch(&result);
        rec.complete(op_id, &op, start, result);
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
