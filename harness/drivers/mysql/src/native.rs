//! Native steps of the mysql driver: `sql.slt` (shared with the other SQL drivers) runs a
//! sqllogictest file in a database of its own, `<namespace>_slt`, dropped afterwards and by
//! teardown if the step died half-way.

use crate::slt::{self, STATEMENT_TIMEOUT};
use crate::MysqlDriver;
use assay_core::native::{NativeOutcome, NativeStep};
use std::time::Instant;

pub(crate) async fn run(driver: &MysqlDriver, step: &NativeStep) -> NativeOutcome {
    match (step.family.as_str(), step.check.as_str()) {
        ("sql" | "mysql", "slt") => native_slt(driver, step).await,
        _ => NativeOutcome::unsupported(format!(
            "the mysql driver has no native check `{}` (it has: sql.slt)",
            step.qualified()
        )),
    }
}

/// `params.file`: the `.slt` file, beside the scenario. Pass when every record of the file
/// passed; deviates with each failing record's location and MySQL's answer otherwise.
async fn native_slt(driver: &MysqlDriver, step: &NativeStep) -> NativeOutcome {
    let Some(file) = step.param_path("file") else {
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
