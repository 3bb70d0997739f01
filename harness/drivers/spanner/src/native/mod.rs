//! Spanner's backend-specific conformance steps (`native = "spanner.<check>"`): dispatch,
//! the overall time bound, and what every check shares — its schema from the step's
//! `params.ddl` (namespaced, registered for teardown, dropped at the end), read-write
//! transactions with counted ABORTED retries, and reads at a timestamp bound.
//!
//! The checks themselves live in `reads` (strong and stale reads), `txns` (concurrent
//! read-modify-write, commit timestamps) and `schema` (interleaving, secondary indexes).

mod checks;
mod reads;
mod schema;
mod txns;

use crate::classify::{chain, describe, one_line};
use crate::connection::SpannerDriver;
use crate::options::{backoff, commit_options, no_retry, query_options};
use assay_core::{NativeOutcome, NativeParams, NativeSpecError, NativeStep};
use checks::Which;
use gcloud_gax::grpc::{Code, Status};
use gcloud_spanner::client::ReadWriteTransactionOption;
use gcloud_spanner::row::Row;
use gcloud_spanner::statement::Statement;
use gcloud_spanner::transaction_rw::ReadWriteTransaction;
use gcloud_spanner::value::TimestampBound;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) use crate::objects::{NativeObject, TxError};
pub use checks::NATIVE_CHECKS;

/// Placeholder for the run namespace in `params.ddl` and in table/index name params.
const NS_PLACEHOLDER: &str = "{ns}";

/// Bound on dropping a step's schema after the step, whatever happened to the step.
const CLEANUP_BUDGET: Duration = Duration::from_secs(60);

/// Bound on the ABORTED retries of one transaction; the step's deadline usually ends
/// a retry storm first.
const MAX_ATTEMPTS: u64 = 1_000;

/// Runs `step`, bounded by its timeout, then drops whatever schema it created.
pub(crate) async fn run(driver: &SpannerDriver, step: &NativeStep) -> NativeOutcome {
    let (ctx, which) = match Ctx::new(driver, step) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let body = async {
        match which {
            Which::StrongReadAfterCommit => reads::strong_read_after_commit(&ctx).await,
            Which::StaleReads => reads::stale_reads(&ctx).await,
            Which::RmwCounter => txns::rmw_counter(&ctx).await,
            Which::CommitTimestamps => txns::commit_timestamps(&ctx).await,
            Which::InterleaveCascade => schema::interleave_cascade(&ctx).await,
            Which::IndexVsScan => schema::index_vs_scan(&ctx).await,
        }
    };
    let outcome = match tokio::time::timeout(step.timeout, body).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(Failed::Error(reason))) => NativeOutcome::error(one_line(&reason)),
        Ok(Err(Failed::Unsupported(reason))) => NativeOutcome::unsupported(one_line(&reason)),
        Err(_) => NativeOutcome::error(format!(
            "step `{}` did not finish within its timeout {:?} on Spanner {}; raise `timeout` or \
             lower the step's sizes",
            step.name, step.timeout, driver.location
        )),
    };
    let aborts = ctx.aborts.load(Ordering::Relaxed);
    let outcome = if aborts > 0 && !outcome.counters.contains_key("aborts") {
        outcome.with_counter("aborts", aborts as f64)
    } else {
        outcome
    };
    match tokio::time::timeout(CLEANUP_BUDGET, ctx.drop_schema()).await {
        Ok(Ok(())) => outcome,
        Ok(Err(e)) => outcome.with_evidence(format!(
            "dropping the step's schema failed ({e}); teardown retries it"
        )),
        Err(_) => outcome.with_evidence(format!(
            "dropping the step's schema took longer than {CLEANUP_BUDGET:?}; teardown retries it"
        )),
    }
}

/// Why a check ended without a verdict on the documented behaviour.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The step could not be carried out (bad params, backend down, timeout).
    Error(String),
    /// The backend refused the request or lacks the API; quotes its error.
    Unsupported(String),
}

impl From<String> for Failed {
    fn from(s: String) -> Self {
        Failed::Error(s)
    }
}

pub(crate) type CheckResult = Result<NativeOutcome, Failed>;

/// One running step: the driver, its params with `{ns}` resolved, its deadline, the
/// schema it created and the ABORTED retries it saw.
pub(crate) struct Ctx<'a> {
    pub driver: &'a SpannerDriver,
    pub step: &'a NativeStep,
    /// The step's params, read through the table (defaults and ranges live there).
    pub params: NativeParams<'a>,
    pub deadline: Instant,
    pub aborts: AtomicU64,
    created: tokio::sync::Mutex<Vec<NativeObject>>,
}

impl<'a> Ctx<'a> {
    /// The context of `step` and which check it is, or the outcome of a step the table
    /// refuses (scenario validation refused it already, unless it was built another way).
    fn new(
        driver: &'a SpannerDriver,
        step: &'a NativeStep,
    ) -> Result<(Self, Which), NativeOutcome> {
        let params = match step.params_in(&NATIVE_CHECKS) {
            Ok(p) => p,
            Err(e @ NativeSpecError::UnknownCheck { .. }) => {
                return Err(NativeOutcome::unsupported(format!(
                    "the spanner driver cannot run it: {e}"
                )))
            }
            Err(e) => return Err(NativeOutcome::error(format!("step `{}`: {e}", step.name))),
        };
        let Some(which) = checks::which(params.spec().name) else {
            return Err(NativeOutcome::error(format!(
                "spanner.{} is in the table but has no code; this is a bug in the driver",
                step.check
            )));
        };
        let ctx = Ctx {
            driver,
            step,
            params,
            deadline: Instant::now() + step.timeout,
            aborts: AtomicU64::new(0),
            created: tokio::sync::Mutex::new(Vec::new()),
        };
        Ok((ctx, which))
    }

    pub fn location(&self) -> &str {
        &self.driver.location
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn resolve(&self, text: &str) -> String {
        text.replace(NS_PLACEHOLDER, &self.driver.config.namespace)
    }

    /// A name param (`"{ns}_counter"`), resolved; it must be a namespaced identifier.
    pub fn name_param(&self, key: &str) -> Result<String, Failed> {
        let raw = self.params.text(key).ok_or_else(|| {
            Failed::Error(format!(
                "step `{}`: params.{key} is missing; give the name, e.g. {key} = \"{{ns}}_{key}\"",
                self.step.name
            ))
        })?;
        let name = self.resolve(raw);
        check_namespaced(&name, &self.driver.config.namespace)
            .map_err(|e| Failed::Error(format!("step `{}`: params.{key}: {e}", self.step.name)))?;
        Ok(name)
    }

    /// Creates the schema in `params.ddl`. Every object is registered before the DDL is
    /// sent, so a half-applied batch is still dropped.
    pub async fn create_schema(&self) -> Result<(), Failed> {
        let statements = self.params.list("ddl");
        let statements = match statements.as_slice() {
            list if !list.is_empty() => list,
            _ => {
                return Err(Failed::Error(format!(
                    "step `{}`: params.ddl is missing; give the CREATE TABLE/INDEX statements, \
                     with {NS_PLACEHOLDER} in every name",
                    self.step.name
                )))
            }
        };
        let mut ddl = Vec::with_capacity(statements.len());
        let mut objects = Vec::with_capacity(statements.len());
        for (i, text) in statements.iter().enumerate() {
            let text = self.resolve(text);
            let object = created_object(&text)
                .and_then(|o| check_namespaced(o.name(), &self.driver.config.namespace).map(|_| o))
                .map_err(|e| {
                    Failed::Error(format!("step `{}`: params.ddl[{i}]: {e}", self.step.name))
                })?;
            objects.push(object);
            ddl.push(text);
        }
        let existing = crate::schema::list_schema_objects(self.driver)
            .await
            .map_err(|e| Failed::Error(e.to_string()))?;
        if let Some(clash) = objects
            .iter()
            .find(|o| existing.contains(&o.name().to_ascii_lowercase()))
        {
            return Err(Failed::Error(format!(
                "`{}` already exists in {}: an earlier run with namespace `{}` was not torn down; \
                 drop it or use another namespace",
                clash.name(),
                self.driver.database,
                self.driver.config.namespace
            )));
        }
        self.created.lock().await.extend(objects.iter().cloned());
        self.driver
            .native_objects
            .lock()
            .await
            .extend(objects.iter().cloned());
        crate::schema::update_ddl(self.driver, ddl, "create the step's schema")
            .await
            .map_err(|e| {
                let text = e.to_string();
                // The emulator answers DDL it does not implement with UNIMPLEMENTED.
                if text.contains("UNIMPLEMENTED") || text.contains("Unimplemented") {
                    Failed::Unsupported(text)
                } else {
                    Failed::Error(text)
                }
            })
    }

    async fn drop_schema(&self) -> Result<(), String> {
        let mine: Vec<NativeObject> = self.created.lock().await.drain(..).collect();
        if mine.is_empty() {
            return Ok(());
        }
        crate::schema::drop_native_objects(self.driver, &mine)
            .await
            .map_err(|e| e.to_string())
    }

    /// One read-write transaction, retried on ABORTED until it commits, the step's
    /// deadline passes or [`MAX_ATTEMPTS`] is reached; each ABORTED is counted in
    /// `aborts`. Returns the commit timestamp in µs and the body's value.
    pub async fn read_write<T, F>(&self, body: F) -> Result<(i64, T), Failed>
    where
        T: Send,
        F: for<'tx> Fn(
                &'tx mut ReadWriteTransaction,
            )
                -> Pin<Box<dyn Future<Output = Result<T, TxError>> + Send + 'tx>>
            + Send
            + Sync,
    {
        let mut attempts = 0u64;
        loop {
            attempts += 1;
            let remaining = self.remaining();
            if remaining.is_zero() {
                return Err(Failed::Error(format!(
                    "a read-write transaction on Spanner {} did not commit before the step's \
                     deadline ({attempts} attempts)",
                    self.location()
                )));
            }
            let options = ReadWriteTransactionOption {
                begin_options: no_retry(),
                commit_options: commit_options(),
                transaction_tag: None,
            };
            let attempt = self
                .driver
                .client
                .read_write_transaction_with_option(&body, options);
            match tokio::time::timeout(remaining, attempt).await {
                Err(_) => {
                    return Err(Failed::Error(format!(
                        "a read-write transaction on Spanner {} was still running at the step's \
                         deadline",
                        self.location()
                    )))
                }
                Ok(Ok((commit, value))) => {
                    let ts = commit.timestamp.as_ref().map(|t| ts_us(t.seconds, t.nanos));
                    return match ts {
                        Some(ts) => Ok((ts, value)),
                        None => Err(Failed::Error(format!(
                            "Spanner {} committed without returning a commit timestamp",
                            self.location()
                        ))),
                    };
                }
                Ok(Err(TxError::Grpc(s))) if s.code() == Code::Aborted => {
                    self.aborts.fetch_add(1, Ordering::Relaxed);
                    if attempts >= MAX_ATTEMPTS {
                        return Err(Failed::Error(format!(
                            "a read-write transaction on Spanner {} aborted {attempts} times in a \
                             row: {}",
                            self.location(),
                            describe(&s)
                        )));
                    }
                    let pause = backoff(attempts.min(u64::from(u32::MAX)) as u32);
                    tokio::time::sleep(pause.min(self.remaining())).await;
                }
                Ok(Err(e)) => return Err(Failed::Error(e.describe(self.location()))),
            }
        }
    }

    /// A single-use read-only query at `bound`: its rows and the read timestamp (µs)
    /// the server reports, when it reports one.
    pub async fn query_at(
        &self,
        bound: TimestampBound,
        stmt: Statement,
    ) -> Result<(Vec<Row>, Option<i64>), Failed> {
        let reading = async {
            let mut tx = self
                .driver
                .client
                .single_with_timestamp_bound(bound)
                .await
                .map_err(|e| {
                    Failed::Error(format!("spanner read-only transaction: {}", chain(&e)))
                })?;
            let mut rows = tx
                .query_with_option(stmt, query_options())
                .await
                .map_err(|s| status_failure("query", &s))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().await.map_err(|s| status_failure("query", &s))? {
                out.push(row);
            }
            let read_ts = rows.read_timestamp().map(|t| ts_us(t.seconds, t.nanos));
            Ok((out, read_ts))
        };
        match tokio::time::timeout(self.remaining(), reading).await {
            Ok(result) => result,
            Err(_) => Err(Failed::Error(format!(
                "a query on Spanner {} was still running at the step's deadline",
                self.location()
            ))),
        }
    }

    /// A strong single-use query: its rows.
    pub async fn query(&self, stmt: Statement) -> Result<Vec<Row>, Failed> {
        Ok(self.query_at(TimestampBound::strong_read(), stmt).await?.0)
    }
}

/// A refused query is unsupported (with the backend's words); anything else is an error.
fn status_failure(what: &str, status: &Status) -> Failed {
    let message = format!("spanner {what} failed: {}", describe(status));
    match status.code() {
        Code::Unimplemented => Failed::Unsupported(message),
        _ => Failed::Error(message),
    }
}

pub(crate) fn ts_us(seconds: i64, nanos: i32) -> i64 {
    seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(nanos / 1_000))
}

pub(crate) fn timestamp_of_us(us: i64) -> gcloud_spanner::value::Timestamp {
    gcloud_spanner::value::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Decodes column `i` of `row`, naming it in the error.
pub(crate) fn column<T: gcloud_spanner::row::TryFromValue>(
    row: &Row,
    i: usize,
    name: &str,
) -> Result<T, String> {
    row.column::<T>(i)
        .map_err(|e| format!("cannot decode column {name}: {e}"))
}

/// The table or index a `CREATE` statement makes; other DDL is refused so that
/// everything a step creates can be dropped.
fn created_object(ddl: &str) -> Result<NativeObject, String> {
    let mut words = ddl.split_whitespace().map(|w| w.to_ascii_uppercase());
    let refuse = || {
        format!(
            "`{}` is not CREATE TABLE or CREATE [UNIQUE] [NULL_FILTERED] INDEX; only those are \
             allowed so the step can drop what it made",
            ddl.chars().take(60).collect::<String>()
        )
    };
    if words.next().as_deref() != Some("CREATE") {
        return Err(refuse());
    }
    let raw: Vec<&str> = ddl.split_whitespace().collect();
    let mut i = 1;
    while matches!(
        raw.get(i).map(|w| w.to_ascii_uppercase()).as_deref(),
        Some("UNIQUE") | Some("NULL_FILTERED")
    ) {
        i += 1;
    }
    let kind = raw.get(i).map(|w| w.to_ascii_uppercase());
    let name = raw
        .get(i + 1)
        .map(|n| {
            n.split('(')
                .next()
                .unwrap_or_default()
                .trim_matches('`')
                .to_string()
        })
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("IF"))
        .ok_or_else(refuse)?;
    match kind.as_deref() {
        Some("TABLE") => Ok(NativeObject::Table(name)),
        Some("INDEX") => Ok(NativeObject::Index(name)),
        _ => Err(refuse()),
    }
}

fn check_namespaced(name: &str, namespace: &str) -> Result<(), String> {
    let prefix = format!("{namespace}_");
    let valid = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid && name.len() > prefix.len() && name.starts_with(&prefix) && name.len() <= 128 {
        Ok(())
    } else {
        Err(format!(
            "name `{name}` must start with `{NS_PLACEHOLDER}_` and use letters, digits or `_` \
             (it resolves with namespace `{namespace}`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_names_what_it_creates() {
        assert_eq!(
            created_object("CREATE TABLE r1_p (id STRING(64)) PRIMARY KEY (id)"),
            Ok(NativeObject::Table("r1_p".into()))
        );
        assert_eq!(
            created_object("create unique null_filtered index `r1_i` ON r1_c (tag)"),
            Ok(NativeObject::Index("r1_i".into()))
        );
        assert_eq!(
            created_object("CREATE TABLE r1_p(id INT64) PRIMARY KEY (id)"),
            Ok(NativeObject::Table("r1_p".into()))
        );
        for refused in [
            "DROP TABLE r1_p",
            "ALTER TABLE r1_p ADD COLUMN x INT64",
            "CREATE TABLE IF NOT EXISTS r1_p (id INT64) PRIMARY KEY (id)",
            "CREATE VIEW r1_v SQL SECURITY INVOKER AS SELECT 1",
            "CREATE",
        ] {
            assert!(created_object(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn names_must_carry_the_namespace() {
        assert!(check_namespaced("r1_counter", "r1").is_ok());
        assert!(check_namespaced("counter", "r1").is_err());
        assert!(check_namespaced("r1_", "r1").is_err());
        assert!(check_namespaced("r1_a-b", "r1").is_err());
        assert!(check_namespaced("r10_x", "r1").is_err());
    }

    #[test]
    fn timestamps_round_trip_through_microseconds() {
        let us = 1_795_627_012_025_415;
        let t = timestamp_of_us(us);
        assert_eq!((t.seconds, t.nanos), (1_795_627_012, 25_415_000));
        assert_eq!(ts_us(t.seconds, t.nanos), us);
    }

    #[test]
    fn drop_statements_name_the_object() {
        assert_eq!(
            NativeObject::Index("r1_i".into()).drop_ddl(),
            "DROP INDEX `r1_i`"
        );
        assert_eq!(
            NativeObject::Table("r1_t".into()).drop_ddl(),
            "DROP TABLE `r1_t`"
        );
    }
}
