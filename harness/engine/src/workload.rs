//! The load phase of a scenario: an optional load of the keyspace, then the workload's
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

use crate::generate::{OpGenerator, ValueSource, Work};
use crate::live::{LiveStats, PUBLISH_EVERY};
use crate::run::Shared;
use crate::schedule::{wait_until, ArrivalSchedule, ClientRamp};
use assay_core::metrics::IntervalSeries;
use assay_core::scenario::{LoadMode, Workload};
use assay_core::{ErrorClass, HistoryEvent, LatencyHistograms, Op, OpKind, OpResult, Outcome};
use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An open-loop op that starts this much after its intended time counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(1);
/// Concurrent writes of the load phase.
const LOAD_CONCURRENCY: u32 = 16;
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

/// One finished op as the worker records it.
struct Completed {
    op_id: u64,
    kind: OpKind,
    intended_ns: u64,
    start_ns: u64,
    end_ns: u64,
    result: OpResult,
    /// Set when the invoke event is still to be written (the write of a read-modify-write).
    invoke: Option<Op>,
}

struct Done {
    client: u32,
    first: Option<Completed>,
    second: Option<Completed>,
    /// An insert that succeeded: `latest` may now pick its key.
    inserted: bool,
}

async fn execute(shared: &Shared, op: &Op) -> OpResult {
    match tokio::time::timeout(shared.opts.op_timeout, shared.driver.execute(op)).await {
        Ok(r) => r,
        Err(_) => OpResult::error(
            ErrorClass::Timeout,
            format!("no answer within {:?}", shared.opts.op_timeout),
        ),
    }
}

/// Runs one unit of work. Closed loop: waits `not_before` (ramp activation, think time)
/// first and measures from the actual start; open loop: `intended_ns` is the schedule's.
#[allow(clippy::too_many_arguments)]
async fn run_work(
    ctx: &Ctx,
    client: u32,
    work: Work,
    op_id: u64,
    intended_ns: Option<u64>,
    start_ns: u64,
    not_before_ns: Option<u64>,
    history: bool,
) -> Done {
    let shared = &*ctx.shared;
    let mut start_ns = start_ns;
    if let Some(t) = not_before_ns {
        ctx.wait_until_or_abort(t).await;
        start_ns = shared.now_ns();
        if ctx.should_stop(start_ns) {
            return Done {
                client,
                first: None,
                second: None,
                inserted: false,
            };
        }
    }
    let intended_ns = intended_ns.unwrap_or(start_ns);
    // An insert also extends the keyspace the `latest` distribution draws from.
    let is_insert = matches!(work, Work::Insert(_));
    match work {
        Work::One(op) | Work::Insert(op) => {
            let result = execute(shared, &op).await;
            let end_ns = shared.now_ns();
            let inserted = is_insert && result.outcome == Outcome::Ok;
            Done {
                client,
                first: Some(Completed {
                    op_id,
                    kind: op.kind(),
                    intended_ns,
                    start_ns,
                    end_ns,
                    result,
                    invoke: (not_before_ns.is_some() && history).then_some(op),
                }),
                second: None,
                inserted,
            }
        }
        Work::ReadModifyWrite { read, write } => {
            let result = execute(shared, &read).await;
            let read_end = shared.now_ns();
            let read_ok = result.outcome == Outcome::Ok;
            let first = Completed {
                op_id,
                kind: read.kind(),
                intended_ns,
                start_ns,
                end_ns: read_end,
                result,
                invoke: (not_before_ns.is_some() && history).then_some(read),
            };
            // The write follows at once, so its latency is its service time.
            let second = if read_ok {
                let write_id = if history {
                    shared.next_op_id.fetch_add(1, Ordering::Relaxed)
                } else {
                    0
                };
                let start = shared.now_ns();
                let result = execute(shared, &write).await;
                Some(Completed {
                    op_id: write_id,
                    kind: write.kind(),
                    intended_ns: start,
                    start_ns: start,
                    end_ns: shared.now_ns(),
                    result,
                    invoke: history.then_some(write),
                })
            } else {
                None
            };
            Done {
                client,
                first: Some(first),
                second,
                inserted: false,
            }
        }
    }
}

/// One worker's recording: histograms, interval series, counts, history.
struct WorkerRecorder {
    measure_from_ns: u64,
    latency: LatencyHistograms,
    service: LatencyHistograms,
    intervals: IntervalSeries,
    /// The newest interval recorded into; older ones get packed.
    open_interval: usize,
    lag: Histogram<u64>,
    events: Vec<HistoryEvent>,
    history: bool,
    ops: u64,
    errors: u64,
    late: u64,
    /// Open loop: measured ops this worker started.
    issued: u64,
    warmup_ops: u64,
    last_end_ns: u64,
    error_classes: BTreeMap<ErrorClass, u64>,
    request_units: BTreeMap<OpKind, f64>,
    retries: u64,
    live: Option<Arc<LiveStats>>,
    live_interval: u64,
    live_measuring: bool,
    live_hist: Option<Histogram<u64>>,
    unpublished_ops: u64,
    unpublished_errors: u64,
}

impl WorkerRecorder {
    fn new(ctx: &Ctx, history: bool) -> Self {
        WorkerRecorder {
            measure_from_ns: ctx.measure_from_ns,
            latency: LatencyHistograms::default(),
            service: LatencyHistograms::default(),
            intervals: IntervalSeries::default(),
            open_interval: 0,
            lag: new_lag_histogram(),
            events: Vec::new(),
            history,
            ops: 0,
            errors: 0,
            late: 0,
            issued: 0,
            warmup_ops: 0,
            last_end_ns: 0,
            error_classes: BTreeMap::new(),
            request_units: BTreeMap::new(),
            retries: 0,
            live: ctx.shared.opts.live.clone(),
            live_interval: 0,
            live_measuring: false,
            live_hist: ctx.shared.opts.live.as_ref().map(|_| {
                Histogram::new_with_bounds(1, 3_600_000_000_000, 2).expect("static bounds")
            }),
            unpublished_ops: 0,
            unpublished_errors: 0,
        }
    }

    fn invoke(
        &mut self,
        ctx: &Ctx,
        op_id: u64,
        client: u32,
        op: &Op,
        intended_ns: u64,
        start_ns: u64,
    ) {
        if self.history {
            self.events.push(HistoryEvent::Invoke {
                op_id,
                client,
                step: ctx.step_name(intended_ns).to_string(),
                op: op.clone(),
                intended_start_ns: intended_ns,
                start_ns,
            });
        }
    }

    /// Records the start of an open-loop op: its lag behind the schedule, and lateness.
    fn started(&mut self, intended_ns: u64, start_ns: u64) {
        if intended_ns >= self.measure_from_ns {
            let lag = start_ns.saturating_sub(intended_ns);
            let _ = self.lag.record(lag.clamp(1, 3_600_000_000_000));
            if lag >= LATE_AFTER.as_nanos() as u64 {
                self.late += 1;
            }
        }
    }

    fn complete(&mut self, ctx: &Ctx, client: u32, c: Completed) {
        ctx.shared.watch(&c.result);
        let outcome = c.result.outcome;
        if c.intended_ns >= self.measure_from_ns {
            let latency = c.end_ns.saturating_sub(c.intended_ns);
            self.latency.record(c.kind, outcome, latency);
            self.service
                .record(c.kind, outcome, c.end_ns.saturating_sub(c.start_ns));
            let at = c.end_ns.saturating_sub(self.measure_from_ns);
            let index = self.intervals.index_of(at);
            if index > self.open_interval {
                // Ops still in flight may end in the previous interval; older ones are done.
                self.intervals.pack_before(index.saturating_sub(1));
                self.open_interval = index;
            }
            self.intervals.record(c.kind, outcome, at, latency);
            self.ops += 1;
            let error = u64::from(outcome != Outcome::Ok);
            self.errors += error;
            self.last_end_ns = self.last_end_ns.max(c.end_ns);
            if let Some(class) = c.result.error_class() {
                *self.error_classes.entry(class).or_default() += 1;
            }
            if let Some(ru) = c.result.meta.request_units {
                *self.request_units.entry(c.kind).or_default() += ru;
            }
            self.retries += u64::from(c.result.meta.retries);
            self.publish(ctx, c.end_ns, latency, error);
        } else {
            self.warmup_ops += 1;
            self.publish(ctx, c.end_ns, 0, u64::from(outcome != Outcome::Ok));
        }
        if self.history {
            if let Some(op) = c.invoke {
                self.events.push(HistoryEvent::Invoke {
                    op_id: c.op_id,
                    client,
                    step: ctx.step_name(c.intended_ns).to_string(),
                    op,
                    intended_start_ns: c.intended_ns,
                    start_ns: c.start_ns,
                });
            }
            let (error_class, error) = match c.result.error {
                Some(e) => (Some(e.class), Some(e.message)),
                None => (None, None),
            };
            self.events.push(HistoryEvent::Complete {
                op_id: c.op_id,
                client,
                outcome,
                value: c.result.value,
                error_class,
                error,
                meta: c.result.meta,
                end_ns: c.end_ns,
            });
        }
    }

    /// Adds to the live figures in batches; `latency` 0 means "not measured" (warmup).
    fn publish(&mut self, ctx: &Ctx, end_ns: u64, latency: u64, error: u64) {
        let Some(live) = &self.live else { return };
        if latency > 0 && !self.live_measuring {
            self.live_measuring = true;
            live.relabel("workload");
        }
        self.unpublished_ops += 1;
        self.unpublished_errors += error;
        let interval = live.interval_of(ctx.origin() + Duration::from_nanos(end_ns));
        if interval != self.live_interval {
            if let Some(h) = &mut self.live_hist {
                if !h.is_empty() {
                    live.add_interval(self.live_interval, h);
                    h.reset();
                }
            }
            self.live_interval = interval;
        }
        if latency > 0 {
            if let Some(h) = &mut self.live_hist {
                let _ = h.record(latency.clamp(1, 3_600_000_000_000));
            }
        }
        if self.unpublished_ops >= PUBLISH_EVERY || interval != self.live_interval {
            self.flush_live();
        }
    }

    fn flush_live(&mut self) {
        if let Some(live) = &self.live {
            live.add(self.unpublished_ops, self.unpublished_errors);
            if let Some(h) = &mut self.live_hist {
                if !h.is_empty() {
                    live.add_interval(self.live_interval, h);
                    h.reset();
                }
            }
        }
        self.unpublished_ops = 0;
        self.unpublished_errors = 0;
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

/// Writes every key of the keyspace (YCSB's load phase), `LOAD_CONCURRENCY` at a time.
pub(crate) async fn load(
    shared: &Arc<Shared>,
    w: &Workload,
) -> (LatencyHistograms, Vec<HistoryEvent>, u64) {
    if let Some(live) = &shared.opts.live {
        live.set_phase("load");
    }
    let ctx = Arc::new(new_ctx(shared, w));
    let next = Arc::new(AtomicU64::new(0));
    let workers = worker_count(shared, LOAD_CONCURRENCY);
    let per_worker = LOAD_CONCURRENCY.div_ceil(workers);
    let mut handles = Vec::new();
    for wi in 0..workers {
        let ctx = ctx.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let ctx = &*ctx;
            let mut rec = WorkerRecorder::new(ctx, ctx.w.history);
            // Load ops are recorded as measured: the phase has no warmup (and keeps its
            // "load" label on the progress line).
            rec.measure_from_ns = 0;
            rec.live_measuring = true;
            let mut rng = SmallRng::seed_from_u64(client_seed(
                ctx.shared.opts.seed,
                u64::from(wi) + 1_000_000,
            ));
            let mut in_flight = FuturesUnordered::new();
            let count = ctx.w.keys.count;
            let mut slots: Vec<u32> = (0..per_worker).map(|s| wi * per_worker + s).collect();
            loop {
                while let Some(slot) = slots.pop() {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || ctx.shared.abort.is_aborted() {
                        break;
                    }
                    let op = ctx.gen.load_op(i, &ctx.values, &mut rng);
                    let op_id = ctx.shared.next_op_id.fetch_add(1, Ordering::Relaxed);
                    let start = ctx.now_ns();
                    if rec.history {
                        rec.events.push(HistoryEvent::Invoke {
                            op_id,
                            client: slot,
                            step: "load".into(),
                            op: op.clone(),
                            intended_start_ns: start,
                            start_ns: start,
                        });
                    }
                    in_flight.push(run_work(
                        ctx,
                        slot,
                        Work::One(op),
                        op_id,
                        None,
                        start,
                        None,
                        rec.history,
                    ));
                }
                match in_flight.next().await {
                    Some(done) => {
                        if let Some(c) = done.first {
                            rec.complete(ctx, done.client, c);
                        }
                        slots.push(done.client);
                    }
                    None => break,
                }
            }
            rec.flush_live();
            rec
        }));
    }
    let mut latency = LatencyHistograms::default();
    let mut events = Vec::new();
    let mut ops = 0;
    for h in handles {
        if let Ok(rec) = h.await {
            latency.merge(&rec.latency);
            ops += rec.ops;
            events.extend(rec.events);
        }
    }
    (latency, events, ops)
}

fn new_ctx(shared: &Arc<Shared>, w: &Workload) -> Ctx {
    let origin_ns = shared.now_ns();
    let mut rng = SmallRng::seed_from_u64(shared.opts.seed ^ 0x076a_10e5);
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

/// Waits for in-flight ops after an abort, at most the drain grace; returns how many
/// were abandoned.
async fn drain<F>(ctx: &Ctx, rec: &mut WorkerRecorder, in_flight: &mut FuturesUnordered<F>) -> u64
where
    F: std::future::Future<Output = Done>,
{
    let grace = tokio::time::sleep(ctx.shared.opts.drain_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            done = in_flight.next() => match done {
                Some(done) => record_done(ctx, rec, done),
                None => return 0,
            },
            _ = &mut grace => return in_flight.len() as u64,
        }
    }
}

fn record_done(ctx: &Ctx, rec: &mut WorkerRecorder, done: Done) {
    if done.inserted {
        ctx.gen.keys().insert_done();
    }
    if let Some(c) = done.first {
        rec.complete(ctx, done.client, c);
    }
    if let Some(c) = done.second {
        rec.complete(ctx, done.client, c);
    }
}

/// Closed loop: clients `wi, wi + workers, …`, each issuing its next op when the previous
/// one ended (after the think time), while the ramp keeps it active.
async fn closed_worker(ctx: &Ctx, wi: u32, workers: u32) -> (WorkerRecorder, u64) {
    let history = ctx.w.history;
    let mut rec = WorkerRecorder::new(ctx, history);
    let clients: Vec<u32> = (wi..ctx.w.max_clients())
        .step_by(workers as usize)
        .collect();
    let mut rngs: Vec<SmallRng> = clients
        .iter()
        .map(|c| SmallRng::seed_from_u64(client_seed(ctx.shared.opts.seed, u64::from(*c))))
        .collect();
    let think = ctx.w.think_time;
    let mut in_flight = FuturesUnordered::new();

    // The next op of client `c` (local index `li`), or None when it is done for the run.
    let next = |c: u32, rng: &mut SmallRng, after_op: bool| {
        let now = ctx.now_ns();
        if ctx.should_stop(now) {
            return None;
        }
        let mut not_before = if after_op && !think.is_zero() {
            now + think.as_nanos() as u64
        } else {
            now
        };
        let rel = not_before.saturating_sub(ctx.origin_ns);
        if !ctx.w.stages.is_empty() && !ctx.ramp.active(c, rel) {
            not_before = ctx.origin_ns + ctx.ramp.next_active(c, rel)?;
        }
        if not_before >= ctx.measure_from_ns && !ctx.take_budget() {
            return None;
        }
        let work = ctx.gen.next(&ctx.values, rng);
        let op_id = if history {
            ctx.shared.next_op_id.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        Some(run_work(
            ctx,
            c,
            work,
            op_id,
            None,
            now,
            Some(not_before),
            history,
        ))
    };

    for (li, c) in clients.iter().enumerate() {
        if let Some(f) = next(*c, &mut rngs[li], false) {
            in_flight.push(f);
        }
    }
    // One timer for the whole loop: an abort must be seen even when every client is
    // stuck in a hung op, and re-arming one timer is cheaper than a new one per op.
    let poll = tokio::time::sleep(ABORT_POLL);
    tokio::pin!(poll);
    while !in_flight.is_empty() {
        tokio::select! {
            biased;
            Some(done) = in_flight.next() => {
                let c = done.client;
                let li = ((c - wi) / workers) as usize;
                record_done(ctx, &mut rec, done);
                if !ctx.shared.abort.is_aborted() {
                    if let Some(f) = next(c, &mut rngs[li], true) {
                        in_flight.push(f);
                    }
                }
            }
            _ = &mut poll => {
                poll.as_mut().reset(tokio::time::Instant::now() + ABORT_POLL);
            }
        }
        if ctx.shared.abort.is_aborted() {
            let abandoned = drain(ctx, &mut rec, &mut in_flight).await;
            rec.flush_live();
            return (rec, abandoned);
        }
    }
    rec.flush_live();
    (rec, 0)
}

/// Open loop: claims due ops from the shared schedule while it has free slots.
async fn open_worker(ctx: &Ctx, wi: u32, workers: u32) -> (WorkerRecorder, u64) {
    let history = ctx.w.history;
    let mut rec = WorkerRecorder::new(ctx, history);
    let cap = ctx.w.max_in_flight.div_ceil(workers);
    // Slot ids double as client ids: each has at most one op in flight.
    let mut free: Vec<u32> = (0..cap).rev().map(|s| wi * cap + s).collect();
    let mut in_flight = FuturesUnordered::new();
    let mut pending: Option<(u64, u64)> = None;
    let mut issuing = true;
    let poll = tokio::time::sleep(ABORT_POLL);
    tokio::pin!(poll);
    loop {
        let now = ctx.now_ns();
        if issuing && ctx.should_stop(now) {
            issuing = false;
        }
        while issuing && !free.is_empty() {
            let (k, t) = match pending.take() {
                Some(p) => p,
                None => {
                    let k = ctx.next_arrival.fetch_add(1, Ordering::Relaxed);
                    match ctx.schedule.intended_ns(k) {
                        Some(t) => (k, ctx.origin_ns + t),
                        None => {
                            // The schedule is done for this worker; others may still hold
                            // earlier ops waiting for their time.
                            issuing = false;
                            break;
                        }
                    }
                }
            };
            if t > ctx.now_ns() {
                pending = Some((k, t));
                break;
            }
            let measured = t >= ctx.measure_from_ns;
            if measured {
                if !ctx.take_budget() {
                    issuing = false;
                    break;
                }
                rec.issued += 1;
            }
            let slot = free.pop().unwrap_or(wi * cap);
            // Op k's content depends only on the seed and k, whichever worker runs it.
            let mut rng = SmallRng::seed_from_u64(client_seed(ctx.shared.opts.seed, k));
            let work = ctx.gen.next(&ctx.values, &mut rng);
            let op_id = if history {
                ctx.shared.next_op_id.fetch_add(1, Ordering::Relaxed)
            } else {
                0
            };
            let start = ctx.now_ns();
            rec.started(t, start);
            if history {
                let op = match &work {
                    Work::One(op) | Work::Insert(op) => op,
                    Work::ReadModifyWrite { read, .. } => read,
                };
                rec.invoke(ctx, op_id, slot, op, t, start);
            }
            in_flight.push(run_work(
                ctx,
                slot,
                work,
                op_id,
                Some(t),
                start,
                None,
                history,
            ));
        }
        if !issuing {
            let abandoned = if ctx.shared.abort.is_aborted() {
                drain(ctx, &mut rec, &mut in_flight).await
            } else {
                while let Some(done) = in_flight.next().await {
                    record_done(ctx, &mut rec, done);
                }
                0
            };
            rec.flush_live();
            return (rec, abandoned);
        }
        // The next due op, if a slot is free for it and it is due within one poll period.
        let poll_end = ctx.now_ns() + ABORT_POLL.as_nanos() as u64;
        let due = pending
            .filter(|(_, t)| !free.is_empty() && *t <= poll_end)
            .map(|(_, t)| t);
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let slot = done.client;
                record_done(ctx, &mut rec, done);
                free.push(slot);
            }
            _ = wait_until(ctx.origin(), due.unwrap_or(0)), if due.is_some() => {}
            _ = &mut poll, if due.is_none() => {
                poll.as_mut().reset(tokio::time::Instant::now() + ABORT_POLL);
            }
        }
    }
}
