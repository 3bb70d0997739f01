//! Executing portable ops: point reads and prefix queries as single-use read-only
//! transactions, everything else in one read-write transaction.
//!
//! A read-write transaction runs its ops against an overlay of the rows it has read or
//! written, because Spanner buffers mutations until commit and would not show an op the
//! writes of the ops before it. The overlay becomes the mutations sent with the commit.
//! ABORTED is retried a bounded number of times, counted in `OpMeta::retries`.

mod overlay;

use crate::classify::{self, class_of, describe, Phase};
use crate::connection::{SpannerDriver, STALE_READ_BOUND};
use crate::layout::{self, COLUMNS};
use crate::options::{backoff, commit_options, no_retry, read_options};
use crate::schema::physical_table;
use assay_core::{Consistency, ErrorClass, Op, OpMeta, OpResult, OpValue, Outcome};
use gcloud_gax::grpc::{Code, Status};
use gcloud_gax::retry::TryAs;
use gcloud_spanner::client::ReadWriteTransactionOption;
use gcloud_spanner::session::SessionError;
use gcloud_spanner::value::TimestampBound;
use overlay::{apply_steps, prefix_rows, to_records, Overlay, ReadFailure};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// ABORTED retries per op. The emulator runs one read-write transaction at a time and
/// aborts the others, so concurrent clients on the emulator need several.
pub(crate) const MAX_ABORT_RETRIES: u32 = 10;

/// Progress of one op, kept outside its future so a timeout can still tell whether
/// the commit was sent and how many retries were made.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    retries: AtomicU32,
    commit_sent: AtomicBool,
}

impl Progress {
    pub fn retries(&self) -> u32 {
        self.retries.load(Ordering::Relaxed)
    }
    pub fn commit_sent(&self) -> bool {
        self.commit_sent.load(Ordering::Relaxed)
    }
}

/// Runs one op to its result. Never panics; the caller bounds it by the op timeout.
pub(crate) async fn run(driver: &SpannerDriver, op: &Op, progress: Arc<Progress>) -> OpResult {
    let ctx = Ctx { driver, progress };
    match op {
        Op::Read {
            table,
            key,
            consistency,
        } => ctx.point_read(table, key, *consistency).await,
        Op::Query {
            table,
            prefix,
            limit,
        } => ctx.query(table, prefix, *limit).await,
        Op::Batch { ops } => ctx.read_write(ops, Mode::Batch).await,
        Op::Txn { ops } => ctx.read_write(ops, Mode::Txn).await,
        single => {
            ctx.read_write(std::slice::from_ref(single), Mode::Single)
                .await
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// One op; its own result is returned.
    Single,
    /// All or nothing: any failed op fails the whole transaction.
    Txn,
    /// Not atomic: a failed condition fails only its op. All ops still commit together,
    /// which is a legal (stronger) way to run a non-atomic batch in one request.
    Batch,
}

impl Mode {
    fn atomic(self) -> bool {
        self != Mode::Batch
    }
}

struct Ctx<'a> {
    driver: &'a SpannerDriver,
    progress: Arc<Progress>,
}

/// An op ready to run in a read-write transaction, or its result when it cannot run.
/// Owned: the client's transaction closure returns futures that cannot borrow the op.
enum Step {
    Run {
        op: Op,
        table: String,
        /// Insert-if-absent as a blind `insert` mutation: the commit fails with
        /// ALREADY_EXISTS when the key exists, saving the read.
        blind_insert: bool,
    },
    Rejected(OpResult),
}

/// Why a read-write attempt ended without a commit.
enum Attempt {
    /// Retry with a fresh transaction.
    Aborted(Status),
    Failed(OpResult),
}

/// Why a read-write transaction failed.
#[derive(Debug)]
enum BodyError {
    Grpc(Status),
    Session(SessionError),
    /// The op at `index` cannot complete (failed condition, overflow, bad row).
    Op {
        index: usize,
        class: ErrorClass,
        message: String,
    },
}

impl From<Status> for BodyError {
    fn from(s: Status) -> Self {
        BodyError::Grpc(s)
    }
}

impl From<SessionError> for BodyError {
    fn from(e: SessionError) -> Self {
        BodyError::Session(e)
    }
}

/// The client retries a transaction whose error `try_as` shows as ABORTED, silently and
/// with its own bound. Showing it nothing keeps every retry in the driver, where it is
/// bounded and counted in `OpMeta::retries`.
impl TryAs<Status> for BodyError {
    fn try_as(&self) -> Option<&Status> {
        None
    }
}

fn commit_ts_us(ts: &gcloud_spanner::value::Timestamp) -> i64 {
    ts.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(ts.nanos / 1_000))
}

impl Ctx<'_> {
    fn location(&self) -> &str {
        &self.driver.location
    }

    fn meta(&self, commit_ts_us: Option<i64>) -> OpMeta {
        OpMeta {
            retries: self.progress.retries(),
            commit_ts_us,
            ..OpMeta::default()
        }
    }

    fn error(&self, class: ErrorClass, message: String) -> OpResult {
        OpResult::error(class, message).with_meta(self.meta(None))
    }

    fn status_error(&self, what: &str, status: &Status, phase: Phase) -> OpResult {
        let class = class_of(status, phase);
        let consequence = match (phase, class.outcome()) {
            (Phase::BeforeCommit, _) => "; nothing was applied",
            (Phase::Commit, Outcome::Indeterminate) => "; the commit may have been applied",
            _ => "",
        };
        self.error(
            class,
            format!(
                "spanner {what} on {} failed: {}{consequence}",
                self.location(),
                describe(status)
            ),
        )
    }

    async fn point_read(&self, table: &str, key: &str, consistency: Consistency) -> OpResult {
        let table = match physical_table(self.driver, table) {
            Ok(t) => t,
            Err(message) => return self.error(ErrorClass::InvalidRequest, message),
        };
        let bound = match consistency {
            // Session guarantees (read your writes) need a strong read: Spanner has no
            // session token a stale read could honour.
            Consistency::Strong | Consistency::Session => TimestampBound::strong_read(),
            Consistency::BoundedStaleness
            | Consistency::ConsistentPrefix
            | Consistency::Eventual => TimestampBound::max_staleness(STALE_READ_BOUND),
        };
        let mut tx = match self.driver.client.single_with_timestamp_bound(bound).await {
            Ok(tx) => tx,
            Err(e) => {
                let (class, message) = classify::client_error(&e, Phase::Read);
                return self.error(
                    class,
                    format!("spanner read on {}: {message}", self.location()),
                );
            }
        };
        let read = tx
            .read_row_with_option(&table, &COLUMNS, layout::key(key), read_options())
            .await;
        match read {
            Ok(None) => OpResult::ok(OpValue::Record(None)).with_meta(self.meta(None)),
            Ok(Some(row)) => match layout::decode(&row).and_then(|(k, s)| s.to_record(&k)) {
                Ok(record) => {
                    OpResult::ok(OpValue::Record(Some(record))).with_meta(self.meta(None))
                }
                Err(message) => self.error(ErrorClass::Other, message),
            },
            Err(status) => self.status_error(&format!("read of `{table}`"), &status, Phase::Read),
        }
    }

    async fn query(&self, table: &str, prefix: &str, limit: Option<u32>) -> OpResult {
        let table = match physical_table(self.driver, table) {
            Ok(t) => t,
            Err(message) => return self.error(ErrorClass::InvalidRequest, message),
        };
        let mut tx = match self.driver.client.single().await {
            Ok(tx) => tx,
            Err(e) => {
                let (class, message) = classify::client_error(&e, Phase::Read);
                return self.error(
                    class,
                    format!("spanner query on {}: {message}", self.location()),
                );
            }
        };
        match prefix_rows(&mut tx, &table, prefix, limit.map(i64::from)).await {
            Ok(rows) => match to_records(rows) {
                Ok(records) => OpResult::ok(OpValue::Records(records)).with_meta(self.meta(None)),
                Err(message) => self.error(ErrorClass::Other, message),
            },
            Err(ReadFailure::Grpc(status)) => {
                self.status_error(&format!("query of `{table}`"), &status, Phase::Read)
            }
            Err(ReadFailure::Decode(message)) => self.error(ErrorClass::Other, message),
        }
    }

    /// Validates the ops before anything is sent: table names, versions, nesting.
    fn prepare(&self, ops: &[Op], mode: Mode) -> Vec<Step> {
        let mut uses: HashMap<(&str, &str), usize> = HashMap::new();
        for op in ops {
            if let Some(key) = op.key() {
                *uses
                    .entry((op.table().unwrap_or_default(), key))
                    .or_default() += 1;
            }
        }
        ops.iter()
            .map(|op| {
                let reject = |message: String| {
                    Step::Rejected(OpResult::error(ErrorClass::InvalidRequest, message))
                };
                if matches!(op, Op::Batch { .. } | Op::Txn { .. }) {
                    return Step::Rejected(OpResult::error(
                        ErrorClass::Unsupported,
                        format!(
                            "a {} nested in a {} is not supported on spanner; flatten it",
                            op.kind(),
                            if mode == Mode::Batch { "batch" } else { "txn" }
                        ),
                    ));
                }
                if let Op::CompareAndSet {
                    expected_version: Some(v),
                    ..
                } = op
                {
                    if i64::try_from(*v).is_err() {
                        return reject(format!(
                            "expected version {v} exceeds Spanner's INT64 range"
                        ));
                    }
                }
                let table = match physical_table(self.driver, op.table().unwrap_or_default()) {
                    Ok(t) => t,
                    Err(message) => return reject(message),
                };
                // A blind insert is only sound when nothing else in the transaction
                // touches the key and a failed insert may fail everything.
                let blind_insert = mode.atomic()
                    && matches!(op, Op::InsertIfAbsent { .. })
                    && op.key().is_some_and(|k| {
                        uses.get(&(op.table().unwrap_or_default(), k)) == Some(&1)
                    });
                Step::Run {
                    op: op.clone(),
                    table,
                    blind_insert,
                }
            })
            .collect()
    }

    async fn read_write(&self, ops: &[Op], mode: Mode) -> OpResult {
        let steps = Arc::new(self.prepare(ops, mode));
        if mode.atomic() {
            if let Some((index, rejected)) = steps.iter().enumerate().find_map(|(i, s)| match s {
                Step::Rejected(r) => Some((i, r)),
                Step::Run { .. } => None,
            }) {
                let mut result = rejected.clone();
                if mode == Mode::Txn {
                    if let Some(e) = result.error.as_mut() {
                        e.message = format!("txn op {index}: {}", e.message);
                    }
                }
                return result.with_meta(self.meta(None));
            }
        }
        let mut attempt = 0;
        loop {
            match self.attempt(&steps, mode).await {
                Ok((results, ts)) => {
                    let meta = self.meta(ts);
                    return match mode {
                        Mode::Single => match results.into_iter().next() {
                            Some(r) => OpResult { meta, ..r },
                            None => OpResult::ok(OpValue::None).with_meta(meta),
                        },
                        Mode::Txn | Mode::Batch => {
                            OpResult::ok(OpValue::Results(results)).with_meta(meta)
                        }
                    };
                }
                Err(Attempt::Aborted(_)) if attempt < MAX_ABORT_RETRIES => {
                    attempt += 1;
                    self.progress.retries.store(attempt, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(Attempt::Aborted(status)) => {
                    let why = if self.driver.emulator {
                        " (the Cloud Spanner emulator runs one read-write transaction at a time \
                         and aborts concurrent ones: an emulator limitation, lower the \
                         concurrency)"
                    } else {
                        " (contention on the same rows)"
                    };
                    return self.error(
                        ErrorClass::Aborted,
                        format!(
                            "spanner transaction on {} aborted {} times{why}: {}",
                            self.location(),
                            attempt + 1,
                            describe(&status)
                        ),
                    );
                }
                Err(Attempt::Failed(result)) => return result,
            }
        }
    }

    /// One read-write transaction: begin, run the ops on the overlay, commit.
    async fn attempt(
        &self,
        steps: &Arc<Vec<Step>>,
        mode: Mode,
    ) -> Result<(Vec<OpResult>, Option<i64>), Attempt> {
        let options = ReadWriteTransactionOption {
            // `begin_read_write_transaction` would retry UNAVAILABLE for many seconds.
            begin_options: no_retry(),
            commit_options: commit_options(),
            transaction_tag: None,
        };
        let progress = Arc::clone(&self.progress);
        let steps = Arc::clone(steps);
        self.progress.commit_sent.store(false, Ordering::Relaxed);
        let outcome = self
            .driver
            .client
            .read_write_transaction_with_option(
                move |tx| {
                    let steps = Arc::clone(&steps);
                    let progress = Arc::clone(&progress);
                    Box::pin(async move {
                        let mut overlay = Overlay::default();
                        let results = apply_steps(tx, &mut overlay, &steps, mode).await?;
                        tx.buffer_write(overlay.into_mutations());
                        // The client commits right after this returns.
                        progress.commit_sent.store(true, Ordering::Relaxed);
                        Ok::<_, BodyError>(results)
                    })
                },
                options,
            )
            .await;
        let phase = if self.progress.commit_sent() {
            Phase::Commit
        } else {
            Phase::BeforeCommit
        };
        match outcome {
            Ok((commit, results)) => Ok((results, commit.timestamp.as_ref().map(commit_ts_us))),
            Err(BodyError::Grpc(s)) if s.code() == Code::Aborted => Err(Attempt::Aborted(s)),
            Err(BodyError::Grpc(s)) => {
                let what = match (phase, mode) {
                    (Phase::Commit, Mode::Single) => "commit",
                    (Phase::Commit, Mode::Txn) => "txn commit",
                    (Phase::Commit, Mode::Batch) => "batch commit",
                    _ => "read-write transaction",
                };
                Err(Attempt::Failed(self.status_error(what, &s, phase)))
            }
            Err(BodyError::Session(e)) => {
                let (class, message) = classify::session_error(&e, phase);
                Err(Attempt::Failed(self.error(
                    class,
                    format!("spanner transaction on {}: {message}", self.location()),
                )))
            }
            Err(BodyError::Op {
                index,
                class,
                message,
            }) => {
                let message = match mode {
                    Mode::Single => message,
                    Mode::Txn | Mode::Batch => format!("txn op {index}: {message}"),
                };
                Err(Attempt::Failed(self.error(class, message)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_timestamps_are_microseconds() {
        let ts = gcloud_spanner::value::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(commit_ts_us(&ts), 1_700_000_000_123_456);
    }
}
