//! `report.json`'s model as a function of the run record and the judge's verdicts:
//! figures come from the record, verdicts from the judge; nothing is decided here.

use crate::model::*;
use assay_check::judge::{ScenarioVerdict, TargetVerdict, Verdicts};
use assay_core::record::{
    NativeObservation, RunRecord, ScenarioRecord, ScenarioStatus, TargetRecord, WorkloadRecord,
};

impl RunReport {
    pub fn of(record: &RunRecord, verdicts: &Verdicts) -> RunReport {
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            run_id: record.run_id.clone(),
            assay_version: record.assay_version.clone(),
            started_at: record.started_at.clone(),
            finished_at: record.finished_at.clone(),
            seed: record.seed,
            machine: record.machine.clone(),
            verdict: verdicts.run,
            aborted: record.interrupted.clone(),
            targets: record
                .targets
                .iter()
                .zip(&verdicts.targets)
                .map(|(t, v)| target_report(t, v))
                .collect(),
            fidelity: verdicts.fidelity.clone(),
        }
    }
}

fn target_report(t: &TargetRecord, v: &TargetVerdict) -> TargetReport {
    TargetReport {
        name: t.name.clone(),
        family: t.family.to_string(),
        endpoint: t.endpoint.clone(),
        backend_version: t.backend_version.clone(),
        verdict: v.verdict,
        error: t.start_error.clone(),
        scenarios: t
            .scenarios
            .iter()
            .zip(&v.scenarios)
            .map(|(s, v)| scenario_report(s, v))
            .collect(),
    }
}

fn scenario_report(s: &ScenarioRecord, v: &ScenarioVerdict) -> ScenarioReport {
    let (latency, overall_latency) = LatencyRow::table(&s.latency);
    let secs = v.measured.as_secs_f64();
    ScenarioReport {
        name: s.name.clone(),
        file: s.file.clone(),
        sha256: s.sha256.clone(),
        kind: s.kind.as_str().to_string(),
        verdict: v.verdict,
        reason: v.reason.clone(),
        load: s.load.clone(),
        unsupported: match &s.status {
            ScenarioStatus::Unsupported { missing, .. } => missing
                .iter()
                .map(|m| Unsupported {
                    capability: m.capability,
                    reason: m.reason.clone(),
                })
                .collect(),
            _ => Vec::new(),
        },
        ops: s.ops,
        errors: v.errors,
        elapsed_s: s.elapsed_ns as f64 / 1e9,
        throughput_ops_per_s: if secs > 0.0 {
            v.measured_ops as f64 / secs
        } else {
            0.0
        },
        latency,
        overall_latency,
        steps: v.steps.clone(),
        thresholds: v.thresholds.clone(),
        request_units: (!s.request_units_by_op.is_empty())
            .then(|| s.request_units_by_op.values().sum()),
        request_units_by_op: s.request_units_by_op.clone(),
        notes: s.notes.clone(),
        native_steps: s
            .native
            .iter()
            .zip(&v.native)
            .map(|(n, verdict)| native_step_report(n, *verdict))
            .collect(),
        retries: s.retries,
        error_classes: s.error_classes.clone(),
        workload: s.workload.as_ref().map(workload_report),
        load_phase: s.load_phase.clone(),
        availability: (s.kind == assay_core::record::RecordKind::Failover
            || !v.availability.windows.is_empty())
        .then(|| v.availability.clone()),
        set_account: v.set_account.clone(),
        recoveries: v.recoveries.clone(),
        faults: s.faults.clone(),
        consistency: v.consistency.clone(),
        isolation_matrix: s.isolation.clone(),
    }
}

fn native_step_report(n: &NativeObservation, verdict: Verdict) -> NativeStepReport {
    NativeStepReport {
        step: n.step.clone(),
        native: n.native.clone(),
        verdict,
        observed: n.outcome.observed.clone(),
        documented: n.documented.clone(),
        cite: n.cite.clone(),
        after_steps: n.after_steps,
        evidence: n.outcome.evidence.clone(),
        measurements: n.outcome.measurements.clone(),
        counters: n.outcome.counters.clone(),
        elapsed_s: n.elapsed_ns as f64 / 1e9,
    }
}

fn workload_report(w: &WorkloadRecord) -> WorkloadReport {
    let secs = w.measured_ns as f64 / 1e9;
    let (service_time, _) = LatencyRow::table(&w.service);
    WorkloadReport {
        mode: format!("{:?}", w.mode).to_lowercase(),
        measured_s: secs,
        ops: w.ops,
        errors: w.errors,
        throughput_ops_per_s: if secs > 0.0 { w.ops as f64 / secs } else { 0.0 },
        offered_rate_ops_per_s: w.offered_rate,
        late: w.late,
        dropped: w.dropped,
        abandoned: w.abandoned,
        warmup_ops: w.warmup_ops,
        service_time,
        schedule_lag: (!w.schedule_lag.is_empty())
            .then(|| LatencyRow::from_histogram("schedule_lag", "all", &w.schedule_lag)),
        intervals: IntervalRow::series(&w.series),
    }
}
