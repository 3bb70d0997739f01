//! Native steps of the mysql driver: `sql.slt` (shared with the other SQL drivers) runs a
//! sqllogictest file in a database of its own, `<namespace>_slt`, dropped afterwards and by
//! teardown if the step died half-way.

use crate::slt::{self, STATEMENT_TIMEOUT};
use crate::MysqlDriver;
use assay_core::native::{FamilyChecks, NativeOutcome, NativeParams, NativeSpecError, NativeStep};
use assay_sql_common::checks::SLT;
use assay_sql_common::{sql_check, SqlCheck};
use std::time::Instant;

/// The `mysql.*` checks: of the shared `sql.*` ones, the `.slt` runner (which this driver
/// also runs under the `sql` family).
pub const NATIVE_CHECKS: FamilyChecks = FamilyChecks {
    family: "mysql",
    checks: &[SLT],
};

pub(crate) async fn run(driver: &MysqlDriver, step: &NativeStep) -> NativeOutcome {
    let params = match step.params_in(&NATIVE_CHECKS) {
        Ok(p) => p,
        Err(e @ NativeSpecError::UnknownCheck { .. }) => {
            return NativeOutcome::unsupported(format!(
                "the mysql driver cannot run {}: {e}",
                step.qualified()
            ))
        }
        Err(e) => return NativeOutcome::error(format!("step `{}`: {e}", step.name)),
    };
    match sql_check(params.spec().name) {
        Some(SqlCheck::Slt) => native_slt(driver, step, &params).await,
        Some(SqlCheck::ReplicaLag) | None => NativeOutcome::error(format!(
            "{} is in the table but has no code; this is a bug in the driver",
            step.qualified()
        )),
    }
}

/// `params.file`: the `.slt` file, beside the scenario. Pass when every record of the file
/// passed; deviates with each failing record's location and MySQL's answer otherwise.
async fn native_slt(
    driver: &MysqlDriver,
    step: &NativeStep,
    params: &NativeParams<'_>,
) -> NativeOutcome {
    let Some(file) = params.path("file") else {
        return NativeOutcome::error(
            "params.file is missing: name the .slt file, e.g. params = { file = \"nulls.slt\" }",
        );
    };
    if !file.is_file() {
        return NativeOutcome::error(format!(
            "{}: no such .slt file; params.file is relative to the scenario file",
            file.display()
        ));
    }
    let deadline = Instant::now() + step.timeout;
    let db = match driver.namespace().sibling("slt") {
        Ok(db) => db,
        Err(e) => return NativeOutcome::error(e),
    };
    if let Err(e) = driver.create_native_database(&db).await {
        return NativeOutcome::error(format!("{}: {e}", file.display()));
    }
    let (options, session_sql) = driver.session_in(&db, STATEMENT_TIMEOUT);
    let result = slt::run_file(options, session_sql, &file, deadline).await;
    // A failed drop stays registered, so teardown tries again.
    let dropped = driver.drop_database(&db).await;
    if dropped.is_ok() {
        driver.forget_native_database(&db);
    }

    let label = file.display().to_string();
    let observed = format!(
        "{label}: {} records, {} skipped, {} failed{}",
        result.records,
        result.skipped,
        result.failures.len(),
        if result.cut_short {
            format!(" (stopped early: step timeout {:?})", step.timeout)
        } else {
            String::new()
        }
    );
    let mut outcome = if result.records == 0 && result.failures.is_empty() {
        NativeOutcome::error(format!("{observed}: no record ran"))
    } else {
        NativeOutcome::expect(result.passed(), observed)
    };
    outcome = outcome
        .with_counter("records", f64::from(result.records))
        .with_counter("failed", result.failures.len() as f64);
    for f in &result.failures {
        outcome = outcome.with_evidence(format!(
            "{}: {}",
            f.location,
            f.message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" / ")
        ));
    }
    if let Err(e) = dropped {
        outcome = outcome.with_evidence(format!(
            "dropping database `{}` failed: {e}; teardown retries",
            db.as_str()
        ));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_check_dispatches() {
        for spec in NATIVE_CHECKS.checks {
            assert_eq!(sql_check(spec.name), Some(SqlCheck::Slt), "{}", spec.name);
        }
    }
}
