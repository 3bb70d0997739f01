//! The portable ops on Cosmos: point reads, etag-guarded read-modify-write loops for the
//! ops that must preserve other attributes or bump `ver`, the prefix query, non-atomic
//! batches and single-key transactions; and the bulk load's creates (`load_rows`).
//!
//! Every read-modify-write loop is bounded by `MAX_CONFLICT_ATTEMPTS` (and the whole op by
//! the op timeout in `Driver::execute`); each failed attempt is a definite 412/409, so
//! giving up is a clean `fail` with `ErrorClass::Aborted`.

use crate::connection::{Container, CosmosDriver};
use crate::errors::{classify, is_local_server_missing_item, status_of, Effect, Failure, Tally};
use crate::layout::{self, Item, Stored};
use assay_core::{
    BulkLoadError, Consistency, ErrorClass, LoadRow, Op, OpResult, OpValue, Outcome, Record,
};
use azure_core::http::Etag;
use azure_data_cosmos::options::{
    ItemWriteOptions, MaxItemCountHint, OperationOptions, Precondition, QueryOptions,
};
use azure_data_cosmos::{FeedScope, PartitionKey, Query};
use futures::{StreamExt, TryStreamExt};
use std::num::NonZeroU32;

/// Creates one bulk load call keeps in flight (one request per row, each row its own
/// partition key).
pub(crate) const BULK_ROWS_IN_FLIGHT: usize = 16;
/// Optimistic-concurrency attempts of one op before it gives up as contended.
const MAX_CONFLICT_ATTEMPTS: u32 = 16;
/// The partition key field (`/k` without the slash), as the local server names it in
/// its missing-item error.
const PARTITION_FIELD: &str = "k";

/// Did a conditional write land, or did its condition (etag / absence) not hold?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conditional {
    Applied,
    Conflict,
}

type OpOutcome = Result<OpValue, Failure>;

impl CosmosDriver {
    pub(crate) async fn run(&self, op: &Op, tally: &mut Tally) -> OpResult {
        let result = match op {
            Op::Batch { ops } => return self.batch(ops, tally).await,
            Op::Txn { ops } => self.txn(ops, tally).await,
            single => self.single(single, tally).await,
        };
        finish(result, tally)
    }

    async fn single(&self, op: &Op, tally: &mut Tally) -> OpOutcome {
        match op {
            Op::Read {
                table,
                key,
                consistency,
            } => {
                let c = self.container(table).await?;
                let stored = self.get(&c, key, *consistency, tally).await?;
                Ok(OpValue::Record(stored.map(|s| s.item.into_record())))
            }
            Op::Write { table, key, value } => {
                let c = self.container(table).await?;
                self.read_modify_write(&c, key, tally, |current| {
                    Ok(layout::apply_write(current, key, value))
                })
                .await
                .map(|_| OpValue::None)
            }
            Op::InsertIfAbsent { table, key, value } => {
                let c = self.container(table).await?;
                match self
                    .create(&c, &layout::fresh_row(key, value), tally)
                    .await?
                {
                    Conditional::Applied => Ok(OpValue::None),
                    Conditional::Conflict => Err(Failure::new(
                        ErrorClass::ConditionFailed,
                        format!("insert_if_absent: key `{key}` already exists"),
                    )),
                }
            }
            Op::CompareAndSet {
                table,
                key,
                expected_version,
                value,
            } => {
                let c = self.container(table).await?;
                self.read_modify_write(&c, key, tally, |current| {
                    layout::apply_compare_and_set(current, key, *expected_version, value)
                        .ok_or_else(|| cas_mismatch(key, *expected_version, current))
                })
                .await
                .map(|_| OpValue::None)
            }
            Op::Delete { table, key } => {
                let c = self.container(table).await?;
                match c
                    .client
                    .delete_item(
                        PartitionKey::from(key.clone()),
                        key,
                        Some(self.write_item_options(None)),
                    )
                    .await
                {
                    Ok(response) => {
                        tally.add(&response.diagnostics());
                        self.note_write(&c.table, &response);
                        Ok(OpValue::None)
                    }
                    Err(e) => {
                        tally.add_error(&e);
                        if status_of(&e) == 404 {
                            Ok(OpValue::None)
                        } else {
                            Err(classify(&e, Effect::Write))
                        }
                    }
                }
            }
            Op::Increment { table, key, by } => {
                let c = self.container(table).await?;
                let next = self
                    .read_modify_write(&c, key, tally, |current| {
                        layout::apply_increment(current, key, *by).ok_or_else(|| {
                            Failure::new(
                                ErrorClass::InvalidRequest,
                                format!("increment of `{key}` by {by} overflows a 64-bit counter"),
                            )
                        })
                    })
                    .await?;
                Ok(OpValue::Counter(next.n.unwrap_or(0)))
            }
            Op::Append {
                table,
                key,
                element,
            } => {
                let c = self.container(table).await?;
                self.read_modify_write(&c, key, tally, |current| {
                    Ok(layout::apply_append(current, key, *element))
                })
                .await
                .map(|_| OpValue::None)
            }
            Op::Query {
                table,
                prefix,
                limit,
            } => {
                let c = self.container(table).await?;
                self.query(&c, prefix, *limit, tally).await
            }
            Op::Batch { .. } | Op::Txn { .. } => Err(Failure::new(
                ErrorClass::Unsupported,
                "a batch or txn cannot be nested inside another batch or txn",
            )),
        }
    }

    /// The bulk load (`Driver::bulk_load`): one `create` per row, [`BULK_ROWS_IN_FLIGHT`] at
    /// a time. The layout partitions by `k`, so every row is its own partition key and a
    /// transactional batch (one partition) cannot hold two rows; bounded concurrency across
    /// partitions is Cosmos' bulk path. A create is one request where a write is a read and
    /// a create; a key that exists (409) takes the write's own read-modify-write.
    pub(crate) async fn load_rows(
        &self,
        table: &str,
        rows: &[LoadRow],
    ) -> Result<u64, BulkLoadError> {
        let c = self
            .container(table)
            .await
            .map_err(|f| BulkLoadError::new(0, f.class, f.message))?;
        let c = &c;
        // The futures are built first: a closure over `&LoadRow` inside the stream is
        // not general enough for the `async_trait` future that holds it.
        let creates: Vec<_> = rows
            .iter()
            .map(|row| async move {
                let mut tally = Tally::default();
                let fresh = layout::fresh_row(&row.key, &row.value);
                match self.create(c, &fresh, &mut tally).await? {
                    Conditional::Applied => Ok(()),
                    Conditional::Conflict => self
                        .read_modify_write(c, &row.key, &mut tally, |current| {
                            Ok(layout::apply_write(current, &row.key, &row.value))
                        })
                        .await
                        .map(|_| ()),
                }
            })
            .collect();
        let results: Vec<Result<(), Failure>> = futures::stream::iter(creates)
            .buffer_unordered(BULK_ROWS_IN_FLIGHT)
            .collect()
            .await;
        let written = results.iter().filter(|r| r.is_ok()).count() as u64;
        match results.into_iter().find_map(Result::err) {
            None => Ok(written),
            Some(f) => Err(BulkLoadError::new(
                written,
                f.class,
                format!("create in {table}: {}", f.message),
            )),
        }
    }

    /// Point read; `None` when the key is absent.
    async fn get(
        &self,
        c: &Container,
        key: &str,
        consistency: Consistency,
        tally: &mut Tally,
    ) -> Result<Option<Stored>, Failure> {
        let options = self.read_options(&c.table, consistency);
        match c
            .client
            .read_item(PartitionKey::from(key.to_string()), key, Some(options))
            .await
        {
            Ok(response) => {
                tally.add(&response.diagnostics());
                let etag = response.headers().etag().map(|e| e.to_string());
                let item: Item = response.into_model().map_err(|e| {
                    Failure::new(
                        ErrorClass::Other,
                        format!("cosmos item `{key}` is not in the portable layout: {e}"),
                    )
                })?;
                let etag = etag.ok_or_else(|| {
                    Failure::new(
                        ErrorClass::Other,
                        format!("cosmos read of `{key}` returned no etag, so it cannot be updated safely"),
                    )
                })?;
                Ok(Some(Stored { item, etag }))
            }
            Err(e) => {
                tally.add_error(&e);
                if status_of(&e) == 404 || is_local_server_missing_item(&e, PARTITION_FIELD) {
                    Ok(None)
                } else {
                    Err(classify(&e, Effect::Read))
                }
            }
        }
    }

    /// Creates the item; `Conflict` when an item with this key exists.
    async fn create(
        &self,
        c: &Container,
        item: &Item,
        tally: &mut Tally,
    ) -> Result<Conditional, Failure> {
        let result = c
            .client
            .create_item(
                PartitionKey::from(item.k.clone()),
                &item.id,
                item,
                Some(self.write_item_options(None)),
            )
            .await;
        self.conditional(&c.table, result, tally, 409)
    }

    /// Replaces the item if its etag is still `etag`; `Conflict` when it changed or vanished.
    async fn replace_if(
        &self,
        c: &Container,
        item: &Item,
        etag: &str,
        tally: &mut Tally,
    ) -> Result<Conditional, Failure> {
        let result = c
            .client
            .replace_item(
                PartitionKey::from(item.k.clone()),
                &item.id,
                item,
                Some(self.write_item_options(Some(etag))),
            )
            .await;
        self.conditional(&c.table, result, tally, 412)
    }

    /// Deletes the item if its etag is still `etag`; `Conflict` when it changed or vanished.
    async fn delete_if(
        &self,
        c: &Container,
        key: &str,
        etag: &str,
        tally: &mut Tally,
    ) -> Result<Conditional, Failure> {
        let result = c
            .client
            .delete_item(
                PartitionKey::from(key.to_string()),
                key,
                Some(self.write_item_options(Some(etag))),
            )
            .await;
        self.conditional(&c.table, result, tally, 412)
    }

    /// Keeps the session token a successful write returned (or counts its absence).
    fn note_write(&self, table: &str, response: &azure_data_cosmos::models::ItemResponse) {
        self.sessions.observe_write(
            table,
            response.headers().session_token().map(|t| t.as_str()),
        );
    }

    fn conditional(
        &self,
        table: &str,
        result: azure_data_cosmos::Result<azure_data_cosmos::models::ItemResponse>,
        tally: &mut Tally,
        conflict_status: u16,
    ) -> Result<Conditional, Failure> {
        match result {
            Ok(response) => {
                tally.add(&response.diagnostics());
                self.note_write(table, &response);
                Ok(Conditional::Applied)
            }
            Err(e) => {
                tally.add_error(&e);
                let status = status_of(&e);
                // 404 on a conditional replace/delete: the item vanished since the read,
                // which is the same lost race as a changed etag.
                if status == conflict_status || (conflict_status == 412 && status == 404) {
                    Ok(Conditional::Conflict)
                } else {
                    Err(classify(&e, Effect::Write))
                }
            }
        }
    }

    fn write_item_options(&self, if_match: Option<&str>) -> ItemWriteOptions {
        let options = ItemWriteOptions::default().with_operation_options(self.write_options());
        match if_match {
            Some(etag) => options.with_precondition(Precondition::IfMatch(Etag::from(etag))),
            None => options,
        }
    }

    /// Reads the row, computes its next state with `next`, and writes it back guarded by
    /// the etag (or by absence, via create); repeats on a lost race. `next` returning an
    /// error ends the op with that error (e.g. a CAS mismatch).
    async fn read_modify_write(
        &self,
        c: &Container,
        key: &str,
        tally: &mut Tally,
        next: impl Fn(Option<&Item>) -> Result<Item, Failure>,
    ) -> Result<Item, Failure> {
        for attempt in 0..MAX_CONFLICT_ATTEMPTS {
            if attempt > 0 {
                tally.add_driver_retry();
            }
            let current = self.get(c, key, Consistency::Strong, tally).await?;
            let item = next(current.as_ref().map(|s| &s.item))?;
            let landed = match &current {
                Some(stored) => self.replace_if(c, &item, &stored.etag, tally).await?,
                None => self.create(c, &item, tally).await?,
            };
            if landed == Conditional::Applied {
                return Ok(item);
            }
        }
        Err(contended(key))
    }

    async fn query(
        &self,
        c: &Container,
        prefix: &str,
        limit: Option<u32>,
        tally: &mut Tally,
    ) -> OpOutcome {
        let query = Query::from(layout::prefix_query(limit))
            .with_parameter("@prefix", prefix)
            .map_err(|e| {
                Failure::new(
                    ErrorClass::InvalidRequest,
                    format!("cosmos query parameter: {e}"),
                )
            })?;
        let mut options =
            QueryOptions::default().with_operation_options(OperationOptions::default());
        match limit.map(NonZeroU32::new) {
            Some(Some(n)) => options = options.with_max_item_count(MaxItemCountHint::Limit(n)),
            Some(None) => return Ok(OpValue::Records(Vec::new())),
            None => {}
        }
        let mut pages = c
            .client
            .query_items::<Item>(query, FeedScope::full_container(), Some(options))
            .await
            .map_err(|e| {
                tally.add_error(&e);
                classify(&e, Effect::Read)
            })?
            .into_pages();
        let cap = limit.map(|n| n as usize).unwrap_or(usize::MAX);
        let mut records: Vec<Record> = Vec::new();
        // Bounded by the page count the cap allows and by the op timeout around the op.
        while records.len() < cap {
            match pages.try_next().await {
                Ok(Some(page)) => {
                    tally.add(&page.diagnostics());
                    let room = cap - records.len();
                    records.extend(
                        page.into_items()
                            .into_iter()
                            .take(room)
                            .map(Item::into_record),
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    tally.add_error(&e);
                    return Err(classify(&e, Effect::Read));
                }
            }
        }
        Ok(OpValue::Records(records))
    }

    /// Each op on its own, in order; not atomic. The batch is `ok` with every op's own
    /// result, except that an indeterminate op makes the batch indeterminate.
    async fn batch(&self, ops: &[Op], tally: &mut Tally) -> OpResult {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let mut own = Tally::default();
            let result = match op {
                Op::Batch { .. } | Op::Txn { .. } => finish(
                    Err(Failure::new(
                        ErrorClass::Unsupported,
                        "a batch or txn cannot be nested inside a batch",
                    )),
                    &own,
                ),
                single => finish(self.single(single, &mut own).await, &own),
            };
            tally.merge(&own);
            results.push(result);
        }
        let mut result = OpResult::ok(OpValue::Results(Vec::new())).with_meta(tally.meta());
        if let Some(lost) = results.iter().find(|r| r.outcome == Outcome::Indeterminate) {
            result.outcome = Outcome::Indeterminate;
            result.error = lost.error.clone();
        }
        result.value = OpValue::Results(results);
        result
    }

    /// A transaction on one key: the ops run against a snapshot of the row and the final
    /// state is written back with one etag-guarded replace/create/delete, which is atomic
    /// on Cosmos. With partition key `/k` every key is its own partition, and a Cosmos
    /// transaction (transactional batch) cannot span partitions, so a txn over several keys
    /// is refused rather than faked. A transactional batch would add nothing for one item
    /// (and the local stand-in does not roll its batches back).
    async fn txn(&self, ops: &[Op], tally: &mut Tally) -> OpOutcome {
        let Some((table, key)) = ops.first().and_then(target) else {
            return match ops.first() {
                None => Ok(OpValue::Results(Vec::new())),
                Some(op) => Err(unsupported_in_txn(op)),
            };
        };
        for op in ops {
            match target(op) {
                Some((t, k)) if t == table && k == key => {}
                Some(_) => {
                    return Err(Failure::new(
                        ErrorClass::Unsupported,
                        "cosmos transactions are scoped to one partition key, and this layout partitions by `k`: a txn may touch only one key of one table",
                    ))
                }
                None => return Err(unsupported_in_txn(op)),
            }
        }
        let c = self.container(table).await?;
        for attempt in 0..MAX_CONFLICT_ATTEMPTS {
            if attempt > 0 {
                tally.add_driver_retry();
            }
            let snapshot = self.get(&c, key, Consistency::Strong, tally).await?;
            let before = snapshot.as_ref().map(|s| &s.item);
            let (after, results) = apply_txn(ops, before.cloned(), key)?;
            let landed = match (&snapshot, &after) {
                (Some(s), Some(item)) if *item == s.item => Conditional::Applied,
                (Some(s), Some(item)) => self.replace_if(&c, item, &s.etag, tally).await?,
                (Some(s), None) => self.delete_if(&c, key, &s.etag, tally).await?,
                (None, Some(item)) => self.create(&c, item, tally).await?,
                (None, None) => Conditional::Applied,
            };
            if landed == Conditional::Applied {
                return Ok(OpValue::Results(results));
            }
        }
        Err(contended(key))
    }
}

/// The table and key an op touches, for the ops a txn may contain.
fn target(op: &Op) -> Option<(&str, &str)> {
    match op {
        Op::Read { table, key, .. }
        | Op::Write { table, key, .. }
        | Op::InsertIfAbsent { table, key, .. }
        | Op::CompareAndSet { table, key, .. }
        | Op::Delete { table, key }
        | Op::Increment { table, key, .. }
        | Op::Append { table, key, .. } => Some((table, key)),
        Op::Query { .. } | Op::Batch { .. } | Op::Txn { .. } => None,
    }
}

fn unsupported_in_txn(op: &Op) -> Failure {
    Failure::new(
        ErrorClass::Unsupported,
        format!("a cosmos txn cannot contain a {} op", op.kind()),
    )
}

/// Applies a txn's ops in order to the row's state; any failed condition fails the whole
/// txn. Returns the final state and each op's result.
fn apply_txn(
    ops: &[Op],
    mut row: Option<Item>,
    key: &str,
) -> Result<(Option<Item>, Vec<OpResult>), Failure> {
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let value = match op {
            Op::Read { .. } => OpValue::Record(row.clone().map(Item::into_record)),
            Op::Write { value, .. } => {
                row = Some(layout::apply_write(row.as_ref(), key, value));
                OpValue::None
            }
            Op::InsertIfAbsent { value, .. } => {
                if row.is_some() {
                    return Err(Failure::new(
                        ErrorClass::ConditionFailed,
                        format!("txn op #{i} insert_if_absent: key `{key}` already exists"),
                    ));
                }
                row = Some(layout::fresh_row(key, value));
                OpValue::None
            }
            Op::CompareAndSet {
                expected_version,
                value,
                ..
            } => {
                let next =
                    layout::apply_compare_and_set(row.as_ref(), key, *expected_version, value)
                        .ok_or_else(|| {
                            let mut f = cas_mismatch(key, *expected_version, row.as_ref());
                            f.message = format!("txn op #{i} {}", f.message);
                            f
                        })?;
                row = Some(next);
                OpValue::None
            }
            Op::Delete { .. } => {
                row = None;
                OpValue::None
            }
            Op::Increment { by, .. } => {
                let next = layout::apply_increment(row.as_ref(), key, *by).ok_or_else(|| {
                    Failure::new(
                        ErrorClass::InvalidRequest,
                        format!(
                            "txn op #{i} increment of `{key}` by {by} overflows a 64-bit counter"
                        ),
                    )
                })?;
                let n = next.n.unwrap_or(0);
                row = Some(next);
                OpValue::Counter(n)
            }
            Op::Append { element, .. } => {
                row = Some(layout::apply_append(row.as_ref(), key, *element));
                OpValue::None
            }
            Op::Query { .. } | Op::Batch { .. } | Op::Txn { .. } => {
                return Err(unsupported_in_txn(op))
            }
        };
        results.push(OpResult::ok(value));
    }
    Ok((row, results))
}

fn cas_mismatch(key: &str, expected: Option<u64>, current: Option<&Item>) -> Failure {
    let found = match current {
        None => "the row is absent".to_string(),
        Some(item) => format!("the stored version is {}", item.version()),
    };
    let wanted = match expected {
        None => "the row to be absent".to_string(),
        Some(v) => format!("version {v}"),
    };
    Failure::new(
        ErrorClass::ConditionFailed,
        format!("compare_and_set on `{key}` expected {wanted}, but {found}"),
    )
}

fn contended(key: &str) -> Failure {
    Failure::new(
        ErrorClass::Aborted,
        format!(
            "gave up on `{key}` after {MAX_CONFLICT_ATTEMPTS} optimistic-concurrency conflicts (etag changed every time); nothing was applied"
        ),
    )
}

fn finish(result: OpOutcome, tally: &Tally) -> OpResult {
    match result {
        Ok(value) => OpResult::ok(value).with_meta(tally.meta()),
        Err(failure) => failure.into_result(tally.meta()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::OpKind;

    fn op_on(key: &str, f: impl FnOnce(String, String) -> Op) -> Op {
        f("t".to_string(), key.to_string())
    }

    #[test]
    fn txn_ops_see_each_others_effects() {
        let ops = vec![
            op_on("a", |table, key| Op::InsertIfAbsent {
                table,
                key,
                value: "x".into(),
            }),
            op_on("a", |table, key| Op::Increment { table, key, by: 2 }),
            op_on("a", |table, key| Op::Read {
                table,
                key,
                consistency: Consistency::Strong,
            }),
        ];
        let (row, results) = apply_txn(&ops, None, "a").unwrap();
        let row = row.unwrap();
        assert_eq!((row.ver, row.n), (Some(1), Some(2)));
        assert_eq!(results[1].value, OpValue::Counter(2));
        match &results[2].value {
            OpValue::Record(Some(r)) => assert_eq!(r.counter, Some(2)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_failed_condition_fails_the_whole_txn() {
        let ops = vec![
            op_on("a", |table, key| Op::Write {
                table,
                key,
                value: "x".into(),
            }),
            op_on("a", |table, key| Op::CompareAndSet {
                table,
                key,
                expected_version: Some(7),
                value: "y".into(),
            }),
        ];
        let failure = apply_txn(&ops, None, "a").unwrap_err();
        assert_eq!(failure.class, ErrorClass::ConditionFailed);
        assert!(failure.message.contains("op #1"), "{}", failure.message);
    }

    #[test]
    fn op_kind_names_appear_in_unsupported_messages() {
        let op = Op::Query {
            table: "t".into(),
            prefix: String::new(),
            limit: None,
        };
        assert!(unsupported_in_txn(&op)
            .message
            .contains(OpKind::Query.as_str()));
    }
}
