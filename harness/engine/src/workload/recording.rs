//! One worker's recording of the workload phase: latency from the intended start and
//! service time per op × outcome, the 1 s interval series, schedule lag, counts, the
//! history (when asked), and batched live figures for the progress display.

use super::{new_lag_histogram, Ctx, LATE_AFTER};
use crate::live::{LiveStats, PUBLISH_EVERY};
use crate::recorder::{complete_event, invoke_event};
use assay_core::metrics::IntervalSeries;
use assay_core::{ErrorClass, HistoryEvent, LatencyHistograms, Op, OpKind, OpResult, Outcome};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One finished op as the worker records it.
pub(super) struct Completed {
    pub(super) op_id: u64,
    pub(super) kind: OpKind,
    pub(super) intended_ns: u64,
    pub(super) start_ns: u64,
    pub(super) end_ns: u64,
    pub(super) result: OpResult,
    /// Set when the invoke event is still to be written (the write of a read-modify-write).
    pub(super) invoke: Option<Op>,
}

/// One worker's recording: histograms, interval series, counts, history.
pub(super) struct WorkerRecorder {
    pub(super) measure_from_ns: u64,
    pub(super) latency: LatencyHistograms,
    pub(super) service: LatencyHistograms,
    pub(super) intervals: IntervalSeries,
    /// The newest interval recorded into; older ones get packed.
    pub(super) open_interval: usize,
    pub(super) lag: Histogram<u64>,
    pub(super) events: Vec<HistoryEvent>,
    pub(super) history: bool,
    pub(super) ops: u64,
    pub(super) errors: u64,
    pub(super) late: u64,
    /// Open loop: measured ops this worker started.
    pub(super) issued: u64,
    pub(super) warmup_ops: u64,
    pub(super) last_end_ns: u64,
    pub(super) error_classes: BTreeMap<ErrorClass, u64>,
    pub(super) request_units: BTreeMap<OpKind, f64>,
    pub(super) retries: u64,
    pub(super) live: Option<Arc<LiveStats>>,
    pub(super) live_interval: u64,
    pub(super) live_measuring: bool,
    pub(super) live_hist: Option<Histogram<u64>>,
    pub(super) unpublished_ops: u64,
    pub(super) unpublished_errors: u64,
}

impl WorkerRecorder {
    pub(super) fn new(ctx: &Ctx, history: bool) -> Self {
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

    pub(super) fn invoke(
        &mut self,
        ctx: &Ctx,
        op_id: u64,
        client: u32,
        op: &Op,
        intended_ns: u64,
        start_ns: u64,
    ) {
        if self.history {
            self.events.push(invoke_event(
                op_id,
                client,
                ctx.step_name(intended_ns),
                op.clone(),
                intended_ns,
                start_ns,
            ));
        }
    }

    /// Records the start of an open-loop op: its lag behind the schedule, and lateness.
    pub(super) fn started(&mut self, intended_ns: u64, start_ns: u64) {
        if intended_ns >= self.measure_from_ns {
            let lag = start_ns.saturating_sub(intended_ns);
            let _ = self.lag.record(lag.clamp(1, 3_600_000_000_000));
            if lag >= LATE_AFTER.as_nanos() as u64 {
                self.late += 1;
            }
        }
    }

    pub(super) fn complete(&mut self, ctx: &Ctx, client: u32, c: Completed) {
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
                self.events.push(invoke_event(
                    c.op_id,
                    client,
                    ctx.step_name(c.intended_ns),
                    op,
                    c.intended_ns,
                    c.start_ns,
                ));
            }
            self.events
                .push(complete_event(c.op_id, client, c.end_ns, c.result));
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

    pub(super) fn flush_live(&mut self) {
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
