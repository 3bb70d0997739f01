//! Native steps of SQL targets (`sql.*`, shared with other SQL drivers, and `postgres.*`):
//! `.slt` files through the sqllogictest runner, and replica lag as clients see it.

use crate::{slt, PostgresDriver};
use assay_core::{Measurement, NativeOutcome, NativeStep};
use std::time::Duration;

/// Longest wait for one lag marker unless the step says otherwise.
const DEFAULT_MAX_WAIT_MS: u64 = 5_000;

impl PostgresDriver {
    pub(crate) async fn run_native(&self, step: &NativeStep) -> NativeOutcome {
        match step.check.as_str() {
            "slt" => self.native_slt(step).await,
            "replica_lag" => self.native_replica_lag(step).await,
            other => NativeOutcome::unsupported(format!(
                "the postgres driver has no native check `{other}` (it has: slt, replica_lag)"
            )),
        }
    }

    /// `params.file`: the `.slt` file, beside the scenario. Pass when every record of the
    /// file passed; deviates with each failing record's location and message otherwise.
    async fn native_slt(&self, step: &NativeStep) -> NativeOutcome {
        let Some(file) = step.param_path("file") else {
            return NativeOutcome::error(
                "params.file is missing: name the .slt file, e.g. params = { file = \"nulls.slt\" }",
            );
        };
        let report = match slt::run_slt(&self.endpoint, std::slice::from_ref(&file)).await {
            Ok(r) => r,
            Err(e) => return NativeOutcome::error(format!("{}: {e}", file.display())),
        };
        let Some(result) = report.files.first() else {
            return NativeOutcome::error(format!("{}: no result", file.display()));
        };
        let observed = format!(
            "{}: {} records, {} skipped, {} failed",
            result.file,
            result.records,
            result.skipped,
            result.failures.len()
        );
        let mut outcome = NativeOutcome::expect(result.passed(), observed)
            .with_counter("records", f64::from(result.records))
            .with_counter("failed", result.failures.len() as f64);
        for f in &result.failures {
            outcome = outcome.with_evidence(format!(
                "{}: {}",
                f.location,
                f.message.lines().collect::<Vec<_>>().join(" / ")
            ));
        }
        outcome
    }

    /// `params.samples` markers written on the primary, each polled on the replica for at
    /// most `params.max_wait_ms`. Pass when every marker showed within the bound.
    async fn native_replica_lag(&self, step: &NativeStep) -> NativeOutcome {
        if self.replica.is_none() {
            return NativeOutcome::unsupported(
                "this target has no replica (use the postgres-replica target or give the target a reader URL)",
            );
        }
        let samples = step.param_u64("samples", 200).min(u64::from(u32::MAX)) as u32;
        let max_wait = Duration::from_millis(step.param_u64("max_wait_ms", DEFAULT_MAX_WAIT_MS));
        let lag = match self.measure_replica_lag(samples, max_wait).await {
            Ok(l) => l,
            Err(e) => return NativeOutcome::error(e.to_string()),
        };
        let s = lag.summary();
        let measurement = Measurement {
            name: "replica_lag".into(),
            count: u64::from(s.samples),
            p50_us: s.p50_us,
            p99_us: s.p99_us,
            max_us: s.max_us,
        };
        NativeOutcome::expect(s.not_visible == 0, lag.to_string())
            .with_measurement(measurement)
            .with_counter("not_visible", f64::from(s.not_visible))
            .with_counter("read_errors", f64::from(s.read_errors))
    }
}
