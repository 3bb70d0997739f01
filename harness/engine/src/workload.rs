//! The workload phase of a scenario (after its optional load, `load.rs`): the workload's
//! timeline run by a few worker tasks, closed loop or open loop.
//!
//! Workers, not clients, own the recorders: each worker multiplexes its share of clients
//! (closed loop) or in-flight slots (open loop) over one `FuturesUnordered`, and records
//! every completion itself — no lock and no shared counter on the op path, and memory for
//! histograms grows with the number of workers (≈ cores), not with clients.
//!
//! Open loop: op `k` is due at the schedule's intended time; a worker with a free slot
//! issues it then (spinning the last stretch for microsecond accuracy). When every slot is
//! busy, due ops wait and start *late*; their latency still counts from the intended start
//! (coordinated omission). Ops due before issuing stopped that never started are *dropped*.

mod recording;
mod worker;

use crate::generate::{OpGenerator, ValueSource};
use crate::schedule::{wait_until, ArrivalSchedule, ClientRamp};
use crate::shared::Shared;
use assay_core::metrics::IntervalSeries;
use assay_core::scenario::{LoadMode, Workload};
use assay_core::{ErrorClass, HistoryEvent, LatencyHistograms, OpKind};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{closed_worker, open_worker};

/// An open-loop op that starts this much after its intended time counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(1);
/// Ops due just before the timeline's end still start when a worker reaches them this
/// late; past it, issuing stops and what is still due counts as dropped.
const STOP_SLACK: Duration = Duration::from_millis(100);
/// Longest coarse sleep while waiting, so an abort is noticed within this.
const ABORT_POLL: Duration = Duration::from_millis(50);

/// What the workload phase measured (the window after the warmup).
#[derive(Clone, Debug)]
pub struct WorkloadStats {
    pub mode: LoadMode,
    /// From the end of the warmup until the last op ended.
    pub measured: Duration,
    /// Completed ops in the measured window (a read-modify-write counts two).
    pub ops: u64,
    /// Completed ops whose outcome was not `ok`.
    pub errors: u64,
    /// Latency from the intended start, per op × outcome.
    pub latency: LatencyHistograms,
    /// Service time (from the actual start), per op × outcome.
    pub service: LatencyHistograms,
    /// Latency per 1 s interval of the measured window.
    pub intervals: IntervalSeries,
    /// Open loop: actual − intended start of every measured op (ns).
    pub schedule_lag: Histogram<u64>,
    /// Open loop: ops that started ≥ `LATE_AFTER` after their intended time.
    pub late: u64,
    /// Open loop: ops due before issuing stopped that never started.
    pub dropped: u64,
    /// Ops still in flight when an abort's drain grace ran out (no completion recorded).
    pub abandoned: u64,
    /// Ops run during the warmup (not measured).
    pub warmup_ops: u64,
    /// Open loop: the schedule's mean rate over the measured window (ops/s).
    pub offered_rate: Option<f64>,
    /// Measured ops by error class.
    pub error_classes: BTreeMap<ErrorClass, u64>,
    /// Request / capacity units the backend reported, per op kind (empty when it
    /// reports none).
    pub request_units: BTreeMap<OpKind, f64>,
    /// Retries drivers reported.
    pub retries: u64,
}

fn new_lag_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("static bounds are valid")
}

/// Everything the workers share; read-only on the op path except the budget.
struct Ctx {
    shared: Arc<Shared>,
    w: Workload,
    gen: OpGenerator,
    values: Arc<ValueSource>,
    /// Timeline start, warmup end, timeline end: ns since the run started.
    origin_ns: u64,
    measure_from_ns: u64,
    end_ns: u64,
    schedule: ArrivalSchedule,
    ramp: ClientRamp,
    budget: AtomicU64,
    stopped: AtomicBool,
    budget_spent: AtomicBool,
    /// When issuing stopped (ns since the run started), for the dropped count.
    stop_ns: AtomicU64,
    next_arrival: AtomicU64,
}

impl Ctx {
    fn now_ns(&self) -> u64 {
        self.shared.now_ns()
    }

    fn origin(&self) -> Instant {
        self.shared.run_start
    }

    /// True once issuing must stop: end of the timeline, abort, or the op budget spent.
    fn should_stop(&self, now_ns: u64) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return true;
        }
        if now_ns >= self.end_ns + STOP_SLACK.as_nanos() as u64 || self.shared.abort.is_aborted() {
            self.stop(now_ns.min(self.end_ns));
            return true;
        }
        false
    }

    fn stop(&self, at_ns: u64) {
        if !self.stopped.swap(true, Ordering::Relaxed) {
            self.stop_ns.store(at_ns, Ordering::Relaxed);
        }
    }

    /// Claims one measured op from the budget; false (and stops) once it is spent.
    fn take_budget(&self) -> bool {
        if self.w.max_ops.is_none() {
            // No bound by count: keep the shared counter off the op path.
            return true;
        }
        let ok = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_ok();
        if !ok {
            // Stopping by count drops nothing: the run ended as asked. Ops that claimed
            // budget before still run, so the budget is spent exactly.
            self.budget_spent.store(true, Ordering::Relaxed);
        }
        ok
    }

    /// Like `wait_until`, but returns early when the run is aborted.
    async fn wait_until_or_abort(&self, t_ns: u64) {
        loop {
            let now = self.now_ns();
            if now >= t_ns || self.shared.abort.is_aborted() {
                return;
            }
            let chunk = (t_ns - now).min(ABORT_POLL.as_nanos() as u64);
            wait_until(self.origin(), now + chunk).await;
        }
    }

    fn step_name(&self, intended_ns: u64) -> &'static str {
        if intended_ns < self.measure_from_ns {
            "warmup"
        } else {
            "workload"
        }
    }
}

/// What all workers of the phase recorded, merged.
pub(crate) struct PhaseOutput {
    pub stats: WorkloadStats,
    pub events: Vec<HistoryEvent>,
}

fn worker_count(shared: &Shared, want: u32) -> u32 {
    let cores = if shared.opts.workers > 0 {
        shared.opts.workers
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    (cores as u32).clamp(1, want.max(1))
}

fn client_seed(seed: u64, client: u64) -> u64 {
    seed ^ (client + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn new_ctx(shared: &Arc<Shared>, w: &Workload) -> Ctx {
    let origin_ns = shared.now_ns();
    let mut rng = SmallRng::seed_from_u64(shared.opts.seed ^ crate::load::VALUE_SEED);
    Ctx {
        shared: shared.clone(),
        gen: OpGenerator::new(w),
        values: Arc::new(ValueSource::new(w.value_size, &mut rng)),
        origin_ns,
        measure_from_ns: origin_ns + w.warmup.as_nanos() as u64,
        end_ns: origin_ns + w.timeline().as_nanos() as u64,
        schedule: ArrivalSchedule::new(w),
        ramp: ClientRamp::new(w),
        budget: AtomicU64::new(w.max_ops.unwrap_or(u64::MAX)),
        stopped: AtomicBool::new(false),
        budget_spent: AtomicBool::new(false),
        stop_ns: AtomicU64::new(u64::MAX),
        next_arrival: AtomicU64::new(0),
        w: w.clone(),
    }
}

/// Runs the workload's timeline and returns what it measured.
pub(crate) async fn run(shared: &Arc<Shared>, w: &Workload) -> PhaseOutput {
    if let Some(live) = &shared.opts.live {
        live.set_phase(if w.warmup.is_zero() {
            "workload"
        } else {
            "warmup + workload"
        });
    }
    let ctx = Arc::new(new_ctx(shared, w));
    let workers = match w.mode {
        LoadMode::Closed => worker_count(shared, w.max_clients()),
        LoadMode::Open => worker_count(shared, w.max_in_flight),
    };
    let mut handles = Vec::new();
    for wi in 0..workers {
        let ctx = ctx.clone();
        handles.push(tokio::spawn(async move {
            match ctx.w.mode {
                LoadMode::Closed => closed_worker(&ctx, wi, workers).await,
                LoadMode::Open => open_worker(&ctx, wi, workers).await,
            }
        }));
    }
    let mut stats = WorkloadStats {
        mode: w.mode,
        measured: Duration::ZERO,
        ops: 0,
        errors: 0,
        latency: LatencyHistograms::default(),
        service: LatencyHistograms::default(),
        intervals: IntervalSeries::default(),
        schedule_lag: new_lag_histogram(),
        late: 0,
        dropped: 0,
        abandoned: 0,
        warmup_ops: 0,
        offered_rate: None,
        error_classes: BTreeMap::new(),
        request_units: BTreeMap::new(),
        retries: 0,
    };
    let mut events = Vec::new();
    let mut last_end = ctx.measure_from_ns;
    let mut issued = 0;
    for h in handles {
        // A worker only panics on a bug in a driver; its ops are lost with it.
        if let Ok((rec, abandoned)) = h.await {
            stats.latency.merge(&rec.latency);
            stats.service.merge(&rec.service);
            stats.intervals.merge(&rec.intervals);
            let _ = stats.schedule_lag.add(&rec.lag);
            stats.ops += rec.ops;
            stats.errors += rec.errors;
            stats.late += rec.late;
            issued += rec.issued;
            stats.warmup_ops += rec.warmup_ops;
            stats.abandoned += abandoned;
            for (class, n) in rec.error_classes {
                *stats.error_classes.entry(class).or_default() += n;
            }
            for (kind, ru) in rec.request_units {
                *stats.request_units.entry(kind).or_default() += ru;
            }
            stats.retries += rec.retries;
            last_end = last_end.max(rec.last_end_ns);
            events.extend(rec.events);
        }
    }
    let finished = ctx.now_ns();
    // The window ends when the last op ended, or when the timeline did if ops ended early.
    let window_end = last_end.max(ctx.end_ns.min(finished));
    stats.measured = Duration::from_nanos(window_end.saturating_sub(ctx.measure_from_ns));
    if w.mode == LoadMode::Open {
        let stop_ns = ctx.stop_ns.load(Ordering::Relaxed);
        if !ctx.budget_spent.load(Ordering::Relaxed) {
            let stop_rel = stop_ns.min(ctx.end_ns).saturating_sub(ctx.origin_ns);
            let warm = ctx.measure_from_ns - ctx.origin_ns;
            let due = ctx
                .schedule
                .due_before(stop_rel)
                .saturating_sub(ctx.schedule.due_before(warm));
            stats.dropped = due.saturating_sub(issued);
        }
        stats.offered_rate = Some(ctx.schedule.mean_rate(
            ctx.measure_from_ns - ctx.origin_ns,
            ctx.end_ns - ctx.origin_ns,
        ));
    }
    PhaseOutput { stats, events }
}
