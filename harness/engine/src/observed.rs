//! What a scenario run observed, as its entry in the run record: the figures the judge
//! and the reports read (ops, latency, capacity units, retries, error classes, the
//! workload's window and series, native observations). Observations only: nothing here
//! decides a verdict.

use crate::run::{NativeStepRun, ScenarioRun};
use crate::workload::WorkloadStats;
use assay_core::record::{NativeObservation, ScenarioRecord, ScenarioStatus, WorkloadRecord};
use assay_core::{HistoryEvent, OpKind};
use std::collections::{HashMap, HashSet};

/// Fills `record` from `run` and hands back the run's history (written beside the
/// record). The status says the scenario ran, stopped early when the run was aborted.
pub fn record_run(record: &mut ScenarioRecord, run: ScenarioRun) -> Vec<HistoryEvent> {
    record.ops = run.ops();
    record.elapsed_ns = run.elapsed.as_nanos() as u64;
    record.status = ScenarioStatus::Ran {
        aborted: run.aborted.clone(),
        teardown_error: None,
    };
    // Workload ops are counted by the engine (the history may be off for them);
    // everything else (steps, load, consistency phase) from the history.
    let workload_ops: HashSet<u64> = match &run.workload {
        Some(_) => run
            .history
            .iter()
            .filter_map(|e| match e {
                HistoryEvent::Invoke { op_id, step, .. }
                    if step == "workload" || step == "warmup" =>
                {
                    Some(*op_id)
                }
                _ => None,
            })
            .collect(),
        None => HashSet::new(),
    };
    let kinds: HashMap<u64, OpKind> = run
        .history
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::Invoke { op_id, op, .. } => Some((*op_id, op.kind())),
            _ => None,
        })
        .collect();
    for e in &run.history {
        if let HistoryEvent::Complete {
            op_id,
            meta,
            error_class,
            ..
        } = e
        {
            if workload_ops.contains(op_id) {
                continue;
            }
            if let (Some(r), Some(kind)) = (meta.request_units, kinds.get(op_id)) {
                *record.request_units_by_op.entry(*kind).or_default() += r;
            }
            record.retries += u64::from(meta.retries);
            if let Some(c) = error_class {
                *record.error_classes.entry(c.to_string()).or_default() += 1;
            }
        }
    }
    record.native = run.native.iter().map(native_observation).collect();
    record.faults = run.faults;
    record.load_phase = run.load;
    match run.workload {
        Some(w) => {
            for (kind, r) in &w.request_units {
                *record.request_units_by_op.entry(*kind).or_default() += r;
            }
            record.retries += w.retries;
            for (class, n) in &w.error_classes {
                *record.error_classes.entry(class.to_string()).or_default() += n;
            }
            let (latency, workload) = workload_record(w);
            record.latency = latency;
            record.workload = Some(workload);
        }
        None => record.latency = run.latencies,
    }
    run.history
}

fn workload_record(w: WorkloadStats) -> (assay_core::LatencyHistograms, WorkloadRecord) {
    (
        w.latency,
        WorkloadRecord {
            mode: w.mode,
            measured_ns: w.measured.as_nanos() as u64,
            ops: w.ops,
            errors: w.errors,
            offered_rate: w.offered_rate,
            late: w.late,
            dropped: w.dropped,
            abandoned: w.abandoned,
            warmup_ops: w.warmup_ops,
            service: w.service,
            schedule_lag: w.schedule_lag,
            series: w.intervals,
        },
    )
}

fn native_observation(n: &NativeStepRun) -> NativeObservation {
    NativeObservation {
        step: n.step.name.clone(),
        native: n.step.qualified(),
        documented: n.step.documented.clone(),
        cite: n.step.cite.clone(),
        after_steps: n.step.after,
        outcome: n.outcome.clone(),
        elapsed_ns: n.elapsed.as_nanos() as u64,
    }
}
