//! Native steps of SQL targets (`sql.*`, shared with other SQL drivers, and `postgres.*`):
//! `.slt` files through the sqllogictest runner, and replica lag as clients see it; the
//! cross-family `security.*` steps go to `security.rs`.

use crate::{slt, PostgresDriver};
use assay_core::native::security::SECURITY_FAMILY;
use assay_core::native::{FamilyChecks, NativeParams, NativeSpecError};
use assay_core::{Measurement, NativeOutcome, NativeStep};
use assay_sql_common::checks::{REPLICA_LAG, SLT};
use assay_sql_common::{sql_check, SqlCheck};
use std::time::Duration;

/// The `postgres.*` checks: the shared `sql.*` ones, which this driver also runs under
/// the `sql` family.
pub const NATIVE_CHECKS: FamilyChecks = FamilyChecks {
    family: "postgres",
    checks: &[SLT, REPLICA_LAG],
};

impl PostgresDriver {
    pub(crate) async fn run_native(&self, step: &NativeStep) -> NativeOutcome {
        if step.family == SECURITY_FAMILY {
            return self.native_security(step).await;
        }
        let params = match step.params_in(&NATIVE_CHECKS) {
            Ok(p) => p,
            Err(e @ NativeSpecError::UnknownCheck { .. }) => {
                return NativeOutcome::unsupported(format!(
                    "the postgres driver cannot run it: {e}"
                ))
            }
            Err(e) => return NativeOutcome::error(format!("step `{}`: {e}", step.name)),
        };
        match sql_check(params.spec().name) {
            Some(SqlCheck::Slt) => self.native_slt(&params).await,
            Some(SqlCheck::ReplicaLag) => self.native_replica_lag(&params).await,
            None => NativeOutcome::error(format!(
                "{} is in the table but has no code; this is a bug in the driver",
                step.qualified()
            )),
        }
    }

    /// `params.file`: the `.slt` file, beside the scenario. Pass when every record of the
    /// file passed; deviates with each failing record's location and message otherwise.
    async fn native_slt(&self, params: &NativeParams<'_>) -> NativeOutcome {
        let Some(file) = params.path("file") else {
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
    async fn native_replica_lag(&self, params: &NativeParams<'_>) -> NativeOutcome {
        if self.replica.is_none() {
            return NativeOutcome::unsupported(
                "this target has no replica (use the postgres-replica target or give the target a reader URL)",
            );
        }
        let samples = params.count("samples").min(u64::from(u32::MAX)) as u32;
        let max_wait = Duration::from_millis(params.count("max_wait_ms"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_check_dispatches() {
        for spec in NATIVE_CHECKS.checks {
            assert!(
                sql_check(spec.name).is_some(),
                "`{}` has no code",
                spec.name
            );
        }
    }
}
