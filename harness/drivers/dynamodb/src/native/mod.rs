//! DynamoDB-specific conformance checks: the `native = "dynamodb.<check>"` steps of a
//! scenario, one per behaviour of DynamoDB's documented contract (table capacity modes,
//! conditional writes, strongly consistent reads, sort-key queries, scan filters, atomic
//! counters, batch limits, transactions, global secondary indexes, streams).
//!
//! This module owns the dispatch, the step's overall time bound and the scratch tables a
//! check creates: each is namespaced, registered with the driver (so `teardown` removes it
//! if the check dies half-way) and dropped when the check ends. The checks themselves are
//! in the submodules, grouped by the part of the API they exercise. The same code runs on
//! every stand-in and on the real service; a verdict never depends on which backend it is.

mod batch;
mod checks;
mod counter;
mod gsi;
mod items;
mod streams;
mod table;
mod txn;

use crate::attempts::error_chain;
use crate::classify::classify_sdk_error;
use crate::schema;
use crate::DynamodbDriver;
use assay_core::{NativeOutcome, NativeParams, NativeSpecError, NativeStep};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use checks::Which;
use std::collections::HashMap;
use std::error::Error;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use checks::NATIVE_CHECKS;
pub(crate) use table::TableDef;

/// Dropping the scratch tables after a check gets its own bound, so a check that used up
/// its whole timeout still cleans up (teardown retries whatever is left).
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Backend messages can quote the whole request (dynalite does); a verdict line stays short.
const MAX_MESSAGE: usize = 300;

/// Why a check ended without a verdict of its own.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    /// The backend does not implement the API the check needs.
    #[error("{0}")]
    Unsupported(String),
    /// The check could not be carried out (backend down, a request failed unexpectedly).
    #[error("{0}")]
    Step(String),
}

pub(crate) type CheckResult = Result<NativeOutcome, CheckError>;

/// An SDK error of a request the check needed: an operation the backend does not know is
/// `Unsupported` (quoting the backend), anything else means the check could not go on.
pub(crate) fn sdk_error<E>(what: &str, err: &SdkError<E, HttpResponse>) -> CheckError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let message = clip(&classify_sdk_error(what, err).message);
    if err.code() == Some("UnknownOperationException") {
        CheckError::Unsupported(format!("the backend does not implement it: {message}"))
    } else {
        CheckError::Step(message)
    }
}

/// `code: message` of an SDK error, for observations ("ValidationException: ...").
pub(crate) fn error_text<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    match err.code() {
        Some(code) => clip(&format!(
            "{code}: {}",
            err.message().unwrap_or("no message")
        )),
        None => clip(&error_chain(err)),
    }
}

/// One line of at most `MAX_MESSAGE` bytes.
pub(crate) fn clip(text: &str) -> String {
    let mut line = text.replace('\n', " ");
    if line.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) type Item = HashMap<String, AttributeValue>;

/// A string attribute of an item, or a number's text.
pub(crate) fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name)? {
        AttributeValue::S(v) | AttributeValue::N(v) => Some(v.as_str()),
        _ => None,
    }
}

/// One running check: the driver, the step and its parameters (read through the
/// table), its deadline and the tables it made.
pub(crate) struct Check<'a> {
    pub driver: &'a DynamodbDriver,
    pub step: &'a NativeStep,
    pub params: NativeParams<'a>,
    pub deadline: Instant,
    tables: Mutex<Vec<String>>,
}

impl<'a> Check<'a> {
    fn new(driver: &'a DynamodbDriver, step: &'a NativeStep, params: NativeParams<'a>) -> Self {
        Check {
            driver,
            step,
            params,
            deadline: Instant::now() + step.timeout,
            tables: Mutex::new(Vec::new()),
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.driver.client
    }

    /// Time left before the step's deadline (zero once past it).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// A namespaced table name for this check, unique within the driver's run.
    fn table_name(&self, role: &str) -> String {
        let seq = self.driver.native_tables.fetch_add(1, Ordering::Relaxed);
        self.driver
            .config
            .physical_table(&format!("native_{role}_{seq}"))
    }

    /// Creates a table for this check and waits until it is ACTIVE. The table is
    /// registered before the request is sent, so a check that dies half-way still leaves
    /// it to `teardown`.
    pub async fn create_table(&self, role: &str, def: &TableDef) -> Result<String, CheckError> {
        let name = self.table_name(role);
        self.driver.created_tables().push(name.clone());
        self.tables_guard().push(name.clone());
        let request = def.request(self.client().create_table().table_name(&name))?;
        request
            .send()
            .await
            .map_err(|e| sdk_error(&format!("CreateTable {name}"), &e))?;
        schema::wait_until_active(self.driver, &name)
            .await
            .map_err(|e| CheckError::Step(clip(&e.message)))?;
        Ok(name)
    }

    fn tables_guard(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops every table this check created; what cannot be dropped stays registered for
    /// `teardown`. Returns one line per table left behind.
    async fn drop_tables(&self) -> Vec<String> {
        let tables = self.tables_guard().clone();
        let mut problems = Vec::new();
        for name in tables {
            let dropped = async {
                schema::delete_table(self.driver, &name).await?;
                schema::wait_for_table(self.driver, &name, "deleted", |st| Ok(st.is_none())).await
            };
            match tokio::time::timeout(CLEANUP_TIMEOUT, dropped).await {
                Ok(Ok(())) => self.driver.created_tables().retain(|t| t != &name),
                Ok(Err(e)) => problems.push(format!(
                    "cleanup: table {name} not dropped (teardown retries it): {}",
                    clip(&e.message)
                )),
                Err(_) => problems.push(format!(
                    "cleanup: table {name} not dropped within {}s (teardown retries it)",
                    CLEANUP_TIMEOUT.as_secs()
                )),
            }
        }
        problems
    }
}

/// Runs one native step within its timeout and drops what it created.
pub(crate) async fn run(driver: &DynamodbDriver, step: &NativeStep) -> NativeOutcome {
    // Scenario validation refused unknown checks and bad params already; a step built
    // another way is refused here, by the same table.
    let params = match step.params_in(&NATIVE_CHECKS) {
        Ok(p) => p,
        Err(e @ NativeSpecError::UnknownCheck { .. }) => {
            return NativeOutcome::unsupported(format!("the dynamodb driver cannot run it: {e}"))
        }
        Err(e) => return NativeOutcome::error(format!("step `{}`: {e}", step.name)),
    };
    let Some(which) = checks::which(params.spec().name) else {
        return NativeOutcome::error(format!(
            "dynamodb.{} is in the table but has no code; this is a bug in the driver",
            step.check
        ));
    };
    let check = Check::new(driver, step, params);
    let work = async {
        match which {
            Which::TableModes => table::table_modes(&check).await,
            Which::ConditionalPut => items::conditional_put(&check).await,
            Which::ConsistentGet => items::consistent_get(&check).await,
            Which::QuerySortKey => items::query_sort_key(&check).await,
            Which::ScanFilter => items::scan_filter(&check).await,
            Which::AtomicCounter => counter::atomic_counter(&check).await,
            Which::BatchLimits => batch::batch_limits(&check).await,
            Which::TxnAllOrNothing => txn::all_or_nothing(&check).await,
            Which::GsiQuery => gsi::gsi_query(&check).await,
            Which::GsiPropagationLag => gsi::propagation_lag(&check).await,
            Which::Streams => streams::streams(&check).await,
        }
    };
    let mut outcome = match tokio::time::timeout(step.timeout, work).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(CheckError::Unsupported(reason))) => NativeOutcome::unsupported(reason),
        Ok(Err(CheckError::Step(reason))) => NativeOutcome::error(reason),
        Err(_) => NativeOutcome::error(format!(
            "{} did not finish within the step timeout of {:?}; raise the step's `timeout` or lower its params",
            step.qualified(),
            step.timeout
        )),
    };
    for problem in check.drop_tables().await {
        outcome = outcome.with_evidence(problem);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_one_short_line() {
        assert_eq!(clip("a\nb"), "a b");
        let long = "é".repeat(400);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(clipped.ends_with('…'));
    }

    #[test]
    fn text_reads_strings_and_numbers_only() {
        let item: Item = [
            ("a".to_string(), s("x")),
            ("b".to_string(), n(7)),
            ("c".to_string(), AttributeValue::Bool(true)),
        ]
        .into_iter()
        .collect();
        assert_eq!(text(&item, "a"), Some("x"));
        assert_eq!(text(&item, "b"), Some("7"));
        assert_eq!(text(&item, "c"), None);
        assert_eq!(text(&item, "d"), None);
    }
}
