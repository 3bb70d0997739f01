//! Per-client recording: each client owns its log and histograms, so the op loop never
//! takes a lock; logs merge when the clients finish. The history events themselves are
//! built here for every recorder (`invoke_event`, `complete_event`); the workload's
//! workers add their measurements on top (`workload::recording`).

use assay_core::{HistoryEvent, LatencyHistograms, Op, OpResult};
use std::time::Instant;

pub struct ClientRecorder {
    pub client: u32,
    run_start: Instant,
    pub events: Vec<HistoryEvent>,
    pub latencies: LatencyHistograms,
}

impl ClientRecorder {
    pub fn new(client: u32, run_start: Instant) -> Self {
        ClientRecorder {
            client,
            run_start,
            events: Vec::new(),
            latencies: LatencyHistograms::default(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.run_start.elapsed().as_nanos() as u64
    }

    pub fn invoke(
        &mut self,
        op_id: u64,
        step: &str,
        op: &Op,
        intended_start_ns: u64,
        start_ns: u64,
    ) {
        self.events.push(invoke_event(
            op_id,
            self.client,
            step,
            op.clone(),
            intended_start_ns,
            start_ns,
        ));
    }

    /// Records the completion; latency is measured from the intended start.
    pub fn complete(&mut self, op_id: u64, op: &Op, intended_start_ns: u64, result: OpResult) {
        let end_ns = self.now_ns();
        self.latencies.record(
            op.kind(),
            result.outcome,
            end_ns.saturating_sub(intended_start_ns),
        );
        self.events
            .push(complete_event(op_id, self.client, end_ns, result));
    }
}

/// The invoke event of one op. Every recorder (the steps' and consistency clients' above,
/// the workload workers' in `workload::recording`) writes its events through these two, so
/// the history has one shape whoever recorded it.
pub(crate) fn invoke_event(
    op_id: u64,
    client: u32,
    step: &str,
    op: Op,
    intended_start_ns: u64,
    start_ns: u64,
) -> HistoryEvent {
    HistoryEvent::Invoke {
        op_id,
        client,
        step: step.to_string(),
        op,
        intended_start_ns,
        start_ns,
    }
}

/// The complete event of one op, ended at `end_ns`.
pub(crate) fn complete_event(
    op_id: u64,
    client: u32,
    end_ns: u64,
    result: OpResult,
) -> HistoryEvent {
    let (error_class, error) = match result.error {
        Some(e) => (Some(e.class), Some(e.message)),
        None => (None, None),
    };
    HistoryEvent::Complete {
        op_id,
        client,
        outcome: result.outcome,
        value: result.value,
        error_class,
        error,
        meta: result.meta,
        end_ns,
    }
}
