//! Executing portable ops: point reads and prefix queries as single-use read-only
//! transactions, everything else in one read-write transaction.
//!
//! A read-write transaction runs its ops against an overlay of the rows it has read or
//! written, because Spanner buffers mutations until commit and would not show an op the
//! writes of the ops before it. The overlay becomes the mutations sent with the commit.
//! ABORTED is retried a bounded number of times, counted in `OpMeta::retries`.

use crate::classify::{self, class_of, describe, Phase};
use crate::driver::SpannerDriver;
use crate::layout::{self, RowState, COLUMNS};
use crate::schema::physical_table;
use crate::STALE_READ_BOUND;
use assay_core::{Consistency, ErrorClass, Op, OpMeta, OpResult, OpValue, Outcome, Record};
use gcloud_gax::grpc::{Code, Status};
use gcloud_gax::retry::{RetrySetting, TryAs};
use gcloud_googleapis::spanner::v1::Mutation;
use gcloud_spanner::client::ReadWriteTransactionOption;
use gcloud_spanner::session::SessionError;
use gcloud_spanner::statement::Statement;
use gcloud_spanner::transaction::{CallOptions, QueryOptions, ReadOptions, Transaction};
use gcloud_spanner::transaction_rw::{CommitOptions, ReadWriteTransaction};
use gcloud_spanner::value::TimestampBound;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// No SDK-level retries: the driver counts and bounds its own, and a replayed commit
/// could report ALREADY_EXISTS for its own insert.
pub(crate) fn no_retry() -> CallOptions {
    CallOptions {
        priority: None,
        retry: Some(RetrySetting {
            take: 0,
            codes: vec![],
            ..RetrySetting::default()
        }),
    }
}

pub(crate) fn read_options() -> ReadOptions {
    ReadOptions {
        call_options: no_retry(),
        ..ReadOptions::default()
    }
}

pub(crate) fn query_options() -> QueryOptions {
    QueryOptions {
        call_options: no_retry(),
        ..QueryOptions::default()
    }
}

pub(crate) fn commit_options() -> CommitOptions {
    CommitOptions {
        call_options: no_retry(),
        ..CommitOptions::default()
    }
}

/// 10 ms doubling up to 320 ms, plus up to as much again as jitter so aborted clients
/// do not retry in lockstep (the emulator aborts all but one concurrent transaction).
pub(crate) fn backoff(retry: u32) -> Duration {
    let base = 10u64 << retry.saturating_sub(1).min(5);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(base + u64::from(nanos) % (base + 1))
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

/// What the transaction has read or written so far, per `(table, key)`.
#[derive(Default)]
struct Overlay {
    slots: BTreeMap<(String, String), Slot>,
}

struct Slot {
    /// The row as the ops so far leave it; `None` is absent.
    current: Option<RowState>,
    dirty: bool,
    blind_insert: bool,
}

impl Overlay {
    async fn get(
        &mut self,
        tx: &mut ReadWriteTransaction,
        table: &str,
        key: &str,
    ) -> Result<Option<RowState>, ReadFailure> {
        let id = (table.to_string(), key.to_string());
        if let Some(slot) = self.slots.get(&id) {
            return Ok(slot.current.clone());
        }
        let row = tx
            .read_row_with_option(table, &COLUMNS, layout::key(key), read_options())
            .await
            .map_err(ReadFailure::Grpc)?;
        let current = match row {
            None => None,
            Some(row) => Some(layout::decode(&row).map_err(ReadFailure::Decode)?.1),
        };
        self.slots.insert(
            id,
            Slot {
                current: current.clone(),
                dirty: false,
                blind_insert: false,
            },
        );
        Ok(current)
    }

    fn put(&mut self, table: &str, key: &str, state: Option<RowState>) {
        let slot = self
            .slots
            .entry((table.to_string(), key.to_string()))
            .or_insert(Slot {
                current: None,
                dirty: false,
                blind_insert: false,
            });
        slot.current = state;
        slot.dirty = true;
    }

    fn put_blind_insert(&mut self, table: &str, key: &str, state: RowState) {
        self.slots.insert(
            (table.to_string(), key.to_string()),
            Slot {
                current: Some(state),
                dirty: true,
                blind_insert: true,
            },
        );
    }

    /// Rows the transaction deleted whose key starts with `prefix`.
    fn deleted_with_prefix(&self, table: &str, prefix: &str) -> usize {
        self.with_prefix(table, prefix)
            .filter(|(_, slot)| slot.current.is_none())
            .count()
    }

    fn with_prefix<'s>(
        &'s self,
        table: &'s str,
        prefix: &'s str,
    ) -> impl Iterator<Item = (&'s str, &'s Slot)> + 's {
        self.slots
            .iter()
            .filter(move |((t, k), _)| t == table && k.starts_with(prefix))
            .map(|((_, k), slot)| (k.as_str(), slot))
    }

    fn into_mutations(self) -> Vec<Mutation> {
        self.slots
            .into_iter()
            .filter(|(_, slot)| slot.dirty)
            .map(
                |((table, key), slot)| match (&slot.current, slot.blind_insert) {
                    (None, _) => layout::delete(&table, &key),
                    (Some(state), true) => layout::insert(&table, &key, state),
                    (Some(state), false) => layout::upsert(&table, &key, state),
                },
            )
            .collect()
    }
}

enum ReadFailure {
    Grpc(Status),
    Decode(String),
}

impl From<Status> for ReadFailure {
    fn from(s: Status) -> Self {
        ReadFailure::Grpc(s)
    }
}

/// Runs the steps on the overlay, in order.
async fn apply_steps(
    tx: &mut ReadWriteTransaction,
    overlay: &mut Overlay,
    steps: &[Step],
    mode: Mode,
) -> Result<Vec<OpResult>, BodyError> {
    let mut results = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let result = match step {
            Step::Rejected(r) => r.clone(),
            Step::Run {
                op,
                table,
                blind_insert,
            } => match apply_one(tx, overlay, op, table, *blind_insert).await {
                Ok(value) => OpResult::ok(value),
                Err(OpFailure::Grpc(s)) => return Err(BodyError::Grpc(s)),
                Err(OpFailure::Op(class, message)) => {
                    if mode.atomic() {
                        return Err(BodyError::Op {
                            index,
                            class,
                            message,
                        });
                    }
                    OpResult::error(class, message)
                }
            },
        };
        results.push(result);
    }
    Ok(results)
}

enum OpFailure {
    Grpc(Status),
    Op(ErrorClass, String),
}

impl From<ReadFailure> for OpFailure {
    fn from(f: ReadFailure) -> Self {
        match f {
            ReadFailure::Grpc(s) => OpFailure::Grpc(s),
            ReadFailure::Decode(m) => OpFailure::Op(ErrorClass::Other, m),
        }
    }
}

fn bumped(version: i64, table: &str, key: &str) -> Result<i64, OpFailure> {
    version.checked_add(1).ok_or_else(|| {
        OpFailure::Op(
            ErrorClass::InvalidRequest,
            format!("version of `{key}` in `{table}` is at INT64 max and cannot be bumped"),
        )
    })
}

async fn apply_one(
    tx: &mut ReadWriteTransaction,
    overlay: &mut Overlay,
    op: &Op,
    table: &str,
    blind_insert: bool,
) -> Result<OpValue, OpFailure> {
    match op {
        Op::Read { key, .. } => {
            // Reads in a read-write transaction are strong whatever the consistency.
            let row = overlay.get(tx, table, key).await?;
            let record = row
                .map(|s| s.to_record(key))
                .transpose()
                .map_err(|m| OpFailure::Op(ErrorClass::Other, m))?;
            Ok(OpValue::Record(record))
        }
        Op::Write { key, value, .. } => {
            let cur = overlay.get(tx, table, key).await?.unwrap_or_default();
            let ver = bumped(cur.version_or_zero(), table, key)?;
            overlay.put(
                table,
                key,
                Some(RowState {
                    v: Some(value.clone()),
                    ver: Some(ver),
                    ..cur
                }),
            );
            Ok(OpValue::None)
        }
        Op::InsertIfAbsent { key, value, .. } => {
            let fresh = RowState {
                v: Some(value.clone()),
                ver: Some(1),
                ..RowState::default()
            };
            if blind_insert {
                overlay.put_blind_insert(table, key, fresh);
                return Ok(OpValue::None);
            }
            if overlay.get(tx, table, key).await?.is_some() {
                return Err(OpFailure::Op(
                    ErrorClass::ConditionFailed,
                    format!("insert_if_absent: key `{key}` already exists in `{table}`"),
                ));
            }
            overlay.put(table, key, Some(fresh));
            Ok(OpValue::None)
        }
        Op::CompareAndSet {
            key,
            expected_version,
            value,
            ..
        } => {
            let cur = overlay.get(tx, table, key).await?;
            let holds = match (expected_version, &cur) {
                (None, None) => true,
                (Some(expected), Some(row)) => {
                    i64::try_from(*expected).is_ok_and(|e| e == row.version_or_zero())
                }
                _ => false,
            };
            if !holds {
                let found = match &cur {
                    None => "the row is absent".to_string(),
                    Some(row) => format!("the stored version is {}", row.version_or_zero()),
                };
                let wanted = match expected_version {
                    None => "absent".to_string(),
                    Some(v) => format!("version {v}"),
                };
                return Err(OpFailure::Op(
                    ErrorClass::ConditionFailed,
                    format!(
                        "compare_and_set on `{key}` in `{table}` expected {wanted} but {found}"
                    ),
                ));
            }
            let cur = cur.unwrap_or_default();
            let ver = bumped(cur.version_or_zero(), table, key)?;
            overlay.put(
                table,
                key,
                Some(RowState {
                    v: Some(value.clone()),
                    ver: Some(ver),
                    ..cur
                }),
            );
            Ok(OpValue::None)
        }
        Op::Delete { key, .. } => {
            // Deleting an absent key is fine, so no read is needed.
            overlay.put(table, key, None);
            Ok(OpValue::None)
        }
        Op::Increment { key, by, .. } => {
            let cur = overlay.get(tx, table, key).await?.unwrap_or_default();
            let n = cur.n.unwrap_or(0).checked_add(*by).ok_or_else(|| {
                OpFailure::Op(
                    ErrorClass::InvalidRequest,
                    format!("increment of `{key}` in `{table}` by {by} overflows INT64"),
                )
            })?;
            overlay.put(table, key, Some(RowState { n: Some(n), ..cur }));
            Ok(OpValue::Counter(n))
        }
        Op::Append { key, element, .. } => {
            let mut cur = overlay.get(tx, table, key).await?.unwrap_or_default();
            cur.l.get_or_insert_with(Vec::new).push(*element);
            overlay.put(table, key, Some(cur));
            Ok(OpValue::None)
        }
        Op::Query { prefix, limit, .. } => {
            let limit = limit.map(i64::from);
            // The SQL does not see this transaction's own writes: fetch enough rows to
            // make up for the ones it deleted, then apply the overlay.
            let extra = overlay.deleted_with_prefix(table, prefix) as i64;
            let fetched = prefix_rows(tx, table, prefix, limit.map(|l| l + extra)).await?;
            let mut merged: BTreeMap<String, RowState> = fetched.into_iter().collect();
            for (key, slot) in overlay.with_prefix(table, prefix) {
                match &slot.current {
                    Some(state) => merged.insert(key.to_string(), state.clone()),
                    None => merged.remove(key),
                };
            }
            let take = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
            let records = to_records(merged.into_iter().take(take).collect())
                .map_err(|m| OpFailure::Op(ErrorClass::Other, m))?;
            Ok(OpValue::Records(records))
        }
        Op::Batch { .. } | Op::Txn { .. } => Err(OpFailure::Op(
            ErrorClass::Unsupported,
            "nested batch/txn is not supported on spanner; flatten it".to_string(),
        )),
    }
}

/// The prefix scan, in key order, in whatever transaction `tx` is.
async fn prefix_rows(
    tx: &mut Transaction,
    table: &str,
    prefix: &str,
    limit: Option<i64>,
) -> Result<Vec<(String, RowState)>, ReadFailure> {
    let mut stmt = Statement::new(layout::prefix_query_sql(table, limit.is_some()));
    stmt.add_param("p", &prefix.to_string());
    if let Some(n) = limit {
        stmt.add_param("n", &n);
    }
    let mut rows = tx.query_with_option(stmt, query_options()).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(layout::decode(&row).map_err(ReadFailure::Decode)?);
    }
    Ok(out)
}

fn to_records(rows: Vec<(String, RowState)>) -> Result<Vec<Record>, String> {
    rows.iter().map(|(k, s)| s.to_record(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) >= Duration::from_millis(10));
        assert!(backoff(1) <= Duration::from_millis(21));
        for r in 1..=MAX_ABORT_RETRIES {
            assert!(backoff(r) <= Duration::from_millis(641), "{r}");
        }
    }

    #[test]
    fn commit_timestamps_are_microseconds() {
        let ts = gcloud_spanner::value::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(commit_ts_us(&ts), 1_700_000_000_123_456);
    }

    #[test]
    fn overlay_turns_into_the_right_mutations() {
        let mut o = Overlay::default();
        o.put("t", "gone", None);
        o.put_blind_insert("t", "new", RowState::default());
        o.put("t", "set", Some(RowState::default()));
        o.slots.insert(
            ("t".into(), "read_only".into()),
            Slot {
                current: Some(RowState::default()),
                dirty: false,
                blind_insert: false,
            },
        );
        use gcloud_googleapis::spanner::v1::mutation::Operation;
        let kinds: Vec<&str> = o
            .into_mutations()
            .iter()
            .map(|m| match &m.operation {
                Some(Operation::Delete(_)) => "delete",
                Some(Operation::Insert(_)) => "insert",
                Some(Operation::InsertOrUpdate(_)) => "insert_or_update",
                _ => "other",
            })
            .collect();
        // In key order; the slot that was only read sends nothing.
        assert_eq!(kinds, vec!["delete", "insert", "insert_or_update"]);
    }

    #[test]
    fn a_deleted_key_is_counted_for_the_query_limit() {
        let mut o = Overlay::default();
        o.put("t", "a1", None);
        o.put("t", "a2", Some(RowState::default()));
        o.put("t", "b1", None);
        o.put("u", "a3", None);
        assert_eq!(o.deleted_with_prefix("t", "a"), 1);
    }
}
