//! The `atomic_counter` check: `clients` concurrent writers each send `increments`
//! UpdateItem `ADD n :1` on one item; the final value must count every acknowledged
//! increment, and at most the ones whose answer was lost on top.

use super::{clip, n, s, sdk_error, text, Check, CheckError, CheckResult, TableDef};
use crate::attempts::AttemptLog;
use crate::classify::classify_sdk_error;
use assay_core::{ErrorClass, Measurement, NativeOutcome, Outcome};
use std::time::{Duration, Instant};

/// What one writer saw.
#[derive(Debug, Default)]
struct Tally {
    acknowledged: u64,
    /// Definitely not applied (e.g. throttled after the SDK's retries).
    failed: u64,
    /// No definite answer: may or may not have been applied.
    indeterminate: u64,
    /// Not sent because the step's deadline came first.
    not_sent: u64,
    retries: u64,
    throttled: u64,
    first_error: Option<String>,
    latencies: Vec<Duration>,
}

async fn writer(check: &Check<'_>, table: &str, increments: u64) -> Tally {
    let mut tally = Tally::default();
    for sent in 0..increments {
        if check.past_deadline() {
            tally.not_sent = increments - sent;
            break;
        }
        let log = AttemptLog::default();
        let request = check
            .client()
            .update_item()
            .table_name(table)
            .key("pk", s("counter"))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1));
        let started = Instant::now();
        // Not idempotent: an attempt that may have been applied is never re-sent.
        let answer = crate::send!(log, false, request);
        let attempts = log.snapshot();
        tally.retries += u64::from(attempts.retries());
        match answer {
            Ok(_) => {
                tally.acknowledged += 1;
                tally.latencies.push(started.elapsed());
            }
            Err(err) => {
                let failure =
                    classify_sdk_error("UpdateItem", &err).after_attempts(&attempts, true);
                if failure.class == ErrorClass::Throttled {
                    tally.throttled += 1;
                }
                match failure.outcome {
                    Outcome::Indeterminate => tally.indeterminate += 1,
                    _ => tally.failed += 1,
                }
                tally
                    .first_error
                    .get_or_insert_with(|| clip(&failure.message));
            }
        }
    }
    tally
}

pub(crate) async fn atomic_counter(check: &Check<'_>) -> CheckResult {
    let clients = check.params.count("clients");
    let increments = check.params.count("increments");
    let table = check
        .create_table("counter", &TableDef::hash_only("pk"))
        .await?;
    let tallies =
        futures::future::join_all((0..clients).map(|_| writer(check, &table, increments))).await;
    let mut all = Tally::default();
    for t in tallies {
        all.acknowledged += t.acknowledged;
        all.failed += t.failed;
        all.indeterminate += t.indeterminate;
        all.not_sent += t.not_sent;
        all.retries += t.retries;
        all.throttled += t.throttled;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
        all.latencies.extend(t.latencies);
    }
    let planned = clients * increments;
    if all.not_sent > 0 {
        return Err(CheckError::Step(format!(
            "only {} of {planned} increments were sent within the step timeout of {:?}; raise `timeout` or lower `clients`/`increments`",
            planned - all.not_sent,
            check.step.timeout
        )));
    }
    if all.acknowledged == 0 {
        return Err(CheckError::Step(format!(
            "no increment was acknowledged; first error: {}",
            all.first_error.as_deref().unwrap_or("none")
        )));
    }
    let out = check
        .client()
        .get_item()
        .table_name(&table)
        .key("pk", s("counter"))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("GetItem {table}"), &e))?;
    let final_value = out
        .item()
        .and_then(|it| text(it, "n"))
        .and_then(|v| v.parse::<u64>().ok());
    let Some(final_value) = final_value else {
        return Err(CheckError::Step(format!(
            "the counter item of {table} has no numeric `n` after {} acknowledged increments",
            all.acknowledged
        )));
    };
    let low = all.acknowledged;
    let high = all.acknowledged + all.indeterminate;
    let ok = (low..=high).contains(&final_value);
    let expected = if low == high {
        format!("exactly {low}")
    } else {
        format!("between {low} and {high}")
    };
    let observed = format!(
        "{clients} clients x {increments} UpdateItem ADD: final value {final_value}, documented {expected} ({} acknowledged, {} failed, {} indeterminate)",
        all.acknowledged, all.failed, all.indeterminate
    );
    let mut outcome = NativeOutcome::expect(ok, observed)
        .with_counter("acknowledged", all.acknowledged as f64)
        .with_counter("failed", all.failed as f64)
        .with_counter("indeterminate", all.indeterminate as f64)
        .with_counter("retries", all.retries as f64)
        .with_counter("throttled", all.throttled as f64)
        .with_measurement(Measurement::from_durations(
            "increment_latency",
            &all.latencies,
        ));
    if !ok && final_value < low {
        outcome = outcome.with_evidence(format!(
            "{} acknowledged increment(s) lost",
            low - final_value
        ));
    }
    if let Some(first) = all.first_error {
        outcome = outcome.with_evidence(format!("first failed increment: {first}"));
    }
    Ok(outcome)
}
