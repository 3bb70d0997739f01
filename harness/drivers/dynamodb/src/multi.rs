//! Multi-op requests: batches (BatchGetItem / BatchWriteItem, with bounded re-sends of
//! unprocessed keys) and transactions (TransactGetItems / TransactWriteItems, with the
//! per-item cancellation reasons in the error).

use crate::attempts::AttemptLog;
use crate::classify::{cancelled_transaction, classify_sdk_error, Failure};
use crate::item::{key_item, record_from_item, Item, Mutation, MutationKind, KEY};
use crate::ops::{bad_item, execute_single, meta, units_sum, MetaSum};
use crate::{send, DynamodbDriver};
use assay_core::{Consistency, ErrorClass, Op, OpMeta, OpResult, OpValue, Outcome};
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Get, KeysAndAttributes, Put, ReturnConsumedCapacity,
    TransactGetItem, TransactWriteItem, Update, WriteRequest,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// DynamoDB's per-request limits.
const BATCH_GET_MAX_KEYS: usize = 100;
pub(crate) const BATCH_WRITE_MAX_ITEMS: usize = 25;
/// Re-sends of a batch's unprocessed keys/items before giving up on them as throttled.
const UNPROCESSED_ROUNDS: u32 = 5;
const UNPROCESSED_BACKOFF: Duration = Duration::from_millis(25);

/// A batch: reads go out as `BatchGetItem`, deletes as `BatchWriteItem`, all other ops as
/// their own requests, concurrently. `BatchWriteItem` only knows whole-item puts, which
/// would reset `ver`, `n` and `l`, so writes cannot use it without breaking their
/// semantics. Like DynamoDB's batches, the ops are not ordered relative to each other.
/// `OpValue::Results` says what happened to each op; see `summarise` for the batch's own
/// outcome.
pub(crate) async fn batch(driver: &DynamodbDriver, ops: &[Op]) -> OpResult {
    let mut reads: Vec<(usize, String, String, bool)> = Vec::new();
    let mut deletes: Vec<(usize, String, String)> = Vec::new();
    let mut singles: Vec<usize> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Read {
                table,
                key,
                consistency,
            } => reads.push((
                i,
                driver.config.physical_table(table),
                key.clone(),
                *consistency == Consistency::Strong,
            )),
            Op::Delete { table, key } => {
                deletes.push((i, driver.config.physical_table(table), key.clone()))
            }
            _ => singles.push(i),
        }
    }
    let (read_results, delete_results, single_results) = tokio::join!(
        batch_get(driver, reads),
        batch_delete(driver, deletes),
        futures::future::join_all(
            singles
                .iter()
                .map(|&i| async move { (i, execute_single(driver, &ops[i]).await) })
        ),
    );
    let mut sum = MetaSum::default();
    let mut results: Vec<Option<OpResult>> = vec![None; ops.len()];
    for (i, result) in read_results
        .0
        .into_iter()
        .chain(delete_results.0)
        .chain(single_results)
    {
        sum.add(&result.meta);
        results[i] = Some(result);
    }
    sum.add(&read_results.1.meta());
    sum.add(&delete_results.1.meta());
    let results: Vec<OpResult> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Failure::new(ErrorClass::Other, "the batch lost track of this op").into_result()
            })
        })
        .collect();
    summarise("batch", results).with_meta(sum.meta())
}

/// The batch's own outcome: `indeterminate` when any op's is (the error is that op's),
/// `fail` when every op failed (nothing was applied), else `ok`; per-op failures of an
/// `ok` batch are in its results.
fn summarise(what: &str, results: Vec<OpResult>) -> OpResult {
    let first_with = |outcome: Outcome| {
        results
            .iter()
            .enumerate()
            .find(|(_, r)| r.outcome == outcome)
            .and_then(|(i, r)| r.error.clone().map(|e| (i, e)))
    };
    let all_failed = !results.is_empty() && results.iter().all(|r| r.outcome == Outcome::Fail);
    let (outcome, culprit) = match first_with(Outcome::Indeterminate) {
        Some(found) => (Outcome::Indeterminate, Some(found)),
        None if all_failed => (Outcome::Fail, first_with(Outcome::Fail)),
        None => (Outcome::Ok, None),
    };
    let error = culprit.map(|(i, e)| assay_core::OpError {
        class: e.class,
        message: format!(
            "{what} of {}: op #{i} ({}): {}",
            results.len(),
            e.class,
            e.message
        ),
    });
    OpResult {
        outcome,
        value: OpValue::Results(results),
        error,
        meta: OpMeta::default(),
    }
}

/// Strong and eventual reads of one table cannot share a `BatchGetItem` entry, and
/// DynamoDB rejects a key twice in one request: reads are grouped per (table, mode) and
/// keys deduplicated.
async fn batch_get(
    driver: &DynamodbDriver,
    reads: Vec<(usize, String, String, bool)>,
) -> (Vec<(usize, OpResult)>, MetaSum) {
    let mut groups: BTreeMap<(String, bool), BTreeMap<String, Vec<usize>>> = BTreeMap::new();
    for (i, table, key, consistent) in reads {
        groups
            .entry((table, consistent))
            .or_default()
            .entry(key)
            .or_default()
            .push(i);
    }
    let mut results = Vec::new();
    let mut sum = MetaSum::default();
    for ((table, consistent), keys) in groups {
        let keys: Vec<(String, Vec<usize>)> = keys.into_iter().collect();
        for chunk in keys.chunks(BATCH_GET_MAX_KEYS) {
            let answers = batch_get_chunk(driver, &table, consistent, chunk, &mut sum).await;
            for (key, indices) in chunk {
                let result = answers.get(key).cloned().unwrap_or_else(|| {
                    Failure::new(
                        ErrorClass::Other,
                        "BatchGetItem gave no answer for this key",
                    )
                    .into_result()
                });
                for &i in indices {
                    results.push((i, result.clone()));
                }
            }
        }
    }
    (results, sum)
}

async fn batch_get_chunk(
    driver: &DynamodbDriver,
    table: &str,
    consistent: bool,
    chunk: &[(String, Vec<usize>)],
    sum: &mut MetaSum,
) -> HashMap<String, OpResult> {
    let mut answers: HashMap<String, OpResult> = HashMap::new();
    let mut pending: Vec<String> = chunk.iter().map(|(k, _)| k.clone()).collect();
    for round in 0..UNPROCESSED_ROUNDS {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            sum.retries += 1;
            tokio::time::sleep(UNPROCESSED_BACKOFF * 2u32.pow(round - 1)).await;
        }
        let keys = match KeysAndAttributes::builder()
            .set_keys(Some(pending.iter().map(|k| key_item(k)).collect()))
            .consistent_read(consistent)
            .build()
        {
            Ok(keys) => keys,
            Err(e) => {
                let f = Failure::new(ErrorClass::InvalidRequest, format!("BatchGetItem: {e}"));
                for key in pending.drain(..) {
                    answers.insert(key, f.clone().into_result());
                }
                break;
            }
        };
        let log = AttemptLog::default();
        let request = driver
            .client
            .batch_get_item()
            .request_items(table, keys)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let answer = send!(log, true, request);
        sum.retries += log.snapshot().retries();
        let out = match answer {
            Ok(out) => out,
            Err(err) => {
                let f = classify_sdk_error(&format!("BatchGetItem {table}"), &err);
                for key in pending.drain(..) {
                    answers.insert(key, f.clone().into_result());
                }
                break;
            }
        };
        sum.add_units(units_sum(out.consumed_capacity()));
        let unprocessed: Vec<String> = out
            .unprocessed_keys()
            .and_then(|u| u.get(table))
            .map(|k| k.keys().iter().filter_map(key_of).collect())
            .unwrap_or_default();
        let items = out
            .responses()
            .and_then(|r| r.get(table))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut found: HashMap<String, OpResult> = HashMap::new();
        for item in items {
            let result = match record_from_item(item) {
                Ok(record) => (
                    record.key.clone(),
                    OpResult::ok(OpValue::Record(Some(record))),
                ),
                Err(e) => match key_of(item) {
                    Some(k) => (k, bad_item(format!("BatchGetItem {table}: {e}"))),
                    None => continue,
                },
            };
            found.insert(result.0, result.1);
        }
        pending.retain(|key| {
            if unprocessed.contains(key) {
                return true;
            }
            let result = found
                .remove(key)
                .unwrap_or_else(|| OpResult::ok(OpValue::Record(None)));
            answers.insert(key.clone(), result);
            false
        });
    }
    for key in pending {
        answers.insert(
            key,
            Failure::new(
                ErrorClass::Throttled,
                format!(
                    "BatchGetItem {table}: key still unprocessed after {UNPROCESSED_ROUNDS} rounds"
                ),
            )
            .into_result(),
        );
    }
    answers
}

fn key_of(item: &Item) -> Option<String> {
    match item.get(KEY) {
        Some(AttributeValue::S(k)) => Some(k.clone()),
        _ => None,
    }
}

/// Deletes as `BatchWriteItem` delete requests (idempotent, so re-sending unprocessed ones
/// is safe), deduplicated per (table, key) because DynamoDB rejects duplicates.
async fn batch_delete(
    driver: &DynamodbDriver,
    deletes: Vec<(usize, String, String)>,
) -> (Vec<(usize, OpResult)>, MetaSum) {
    let mut unique: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, table, key) in deletes {
        unique.entry((table, key)).or_default().push(i);
    }
    let unique: Vec<((String, String), Vec<usize>)> = unique.into_iter().collect();
    let mut results = Vec::new();
    let mut sum = MetaSum::default();
    for chunk in unique.chunks(BATCH_WRITE_MAX_ITEMS) {
        let answers = batch_delete_chunk(driver, chunk, &mut sum).await;
        for (target, indices) in chunk {
            let result = answers.get(target).cloned().unwrap_or_else(|| {
                Failure::new(
                    ErrorClass::Other,
                    "BatchWriteItem gave no answer for this key",
                )
                .into_result()
            });
            for &i in indices {
                results.push((i, result.clone()));
            }
        }
    }
    (results, sum)
}

async fn batch_delete_chunk(
    driver: &DynamodbDriver,
    chunk: &[((String, String), Vec<usize>)],
    sum: &mut MetaSum,
) -> HashMap<(String, String), OpResult> {
    let mut answers = HashMap::new();
    let mut pending: Vec<(String, String)> = chunk.iter().map(|(t, _)| t.clone()).collect();
    for round in 0..UNPROCESSED_ROUNDS {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            sum.retries += 1;
            tokio::time::sleep(UNPROCESSED_BACKOFF * 2u32.pow(round - 1)).await;
        }
        let mut request_items: HashMap<String, Vec<WriteRequest>> = HashMap::new();
        for (table, key) in &pending {
            let delete = match DeleteRequest::builder()
                .set_key(Some(key_item(key)))
                .build()
            {
                Ok(d) => d,
                Err(e) => {
                    let f =
                        Failure::new(ErrorClass::InvalidRequest, format!("BatchWriteItem: {e}"));
                    for target in pending.drain(..) {
                        answers.insert(target, f.clone().into_result());
                    }
                    return answers;
                }
            };
            request_items
                .entry(table.clone())
                .or_default()
                .push(WriteRequest::builder().delete_request(delete).build());
        }
        let log = AttemptLog::default();
        let request = driver
            .client
            .batch_write_item()
            .set_request_items(Some(request_items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let answer = send!(log, true, request);
        let attempts = log.snapshot();
        sum.retries += attempts.retries();
        let out = match answer {
            Ok(out) => out,
            Err(err) => {
                // Keys still pending were definitely unprocessed in earlier rounds, so only
                // this round's attempts can make the failure ambiguous.
                let f = classify_sdk_error("BatchWriteItem", &err).after_attempts(&attempts, true);
                for target in pending.drain(..) {
                    answers.insert(target, f.clone().into_result());
                }
                return answers;
            }
        };
        sum.add_units(units_sum(out.consumed_capacity()));
        let unprocessed: Vec<(String, String)> = out
            .unprocessed_items()
            .map(|by_table| {
                by_table
                    .iter()
                    .flat_map(|(table, requests)| {
                        requests.iter().filter_map(move |r| {
                            let key = key_of(r.delete_request()?.key())?;
                            Some((table.clone(), key))
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        pending.retain(|target| {
            if unprocessed.contains(target) {
                return true;
            }
            answers.insert(target.clone(), OpResult::ok(OpValue::None));
            false
        });
    }
    for target in pending {
        answers.insert(
            target.clone(),
            Failure::new(
                ErrorClass::Throttled,
                format!(
                    "BatchWriteItem {}/{}: delete still unprocessed after {UNPROCESSED_ROUNDS} rounds",
                    target.0, target.1
                ),
            )
            .into_result(),
        );
    }
    answers
}

/// A transaction: all reads → `TransactGetItems`, all writes → `TransactWriteItems`.
/// DynamoDB has no transaction that both reads and writes, so a mixed txn is unsupported.
pub(crate) async fn txn(driver: &DynamodbDriver, ops: &[Op]) -> OpResult {
    if let Some(reason) = &driver.txn_unsupported {
        return Failure::new(ErrorClass::Unsupported, reason.clone()).into_result();
    }
    if ops.is_empty() {
        return OpResult::ok(OpValue::Results(Vec::new()));
    }
    if ops
        .iter()
        .any(|op| matches!(op, Op::Batch { .. } | Op::Txn { .. }))
    {
        return Failure::new(
            ErrorClass::InvalidRequest,
            "a batch or txn cannot be nested inside a txn",
        )
        .into_result();
    }
    if ops.iter().any(|op| matches!(op, Op::Query { .. })) {
        return Failure::new(
            ErrorClass::Unsupported,
            "a query cannot be part of a DynamoDB transaction (TransactGetItems reads single items)",
        )
        .into_result();
    }
    let reads = ops
        .iter()
        .filter(|op| matches!(op, Op::Read { .. }))
        .count();
    if reads == ops.len() {
        transact_get(driver, ops).await
    } else if reads == 0 {
        transact_write(driver, ops).await
    } else {
        Failure::new(
            ErrorClass::Unsupported,
            "DynamoDB transactions either read (TransactGetItems) or write (TransactWriteItems); this txn does both",
        )
        .into_result()
    }
}

async fn transact_get(driver: &DynamodbDriver, ops: &[Op]) -> OpResult {
    let mut items = Vec::with_capacity(ops.len());
    for op in ops {
        let Op::Read { table, key, .. } = op else {
            continue;
        };
        match Get::builder()
            .table_name(driver.config.physical_table(table))
            .set_key(Some(key_item(key)))
            .build()
        {
            Ok(get) => items.push(TransactGetItem::builder().get(get).build()),
            Err(e) => {
                return Failure::new(ErrorClass::InvalidRequest, format!("TransactGetItems: {e}"))
                    .into_result()
            }
        }
    }
    let log = AttemptLog::default();
    let request = driver
        .client
        .transact_get_items()
        .set_transact_items(Some(items))
        .return_consumed_capacity(ReturnConsumedCapacity::Total);
    let answer = send!(log, true, request);
    let attempts = log.snapshot();
    match answer {
        Ok(out) => {
            let mut results = Vec::with_capacity(ops.len());
            for i in 0..ops.len() {
                let item = out.responses().get(i).and_then(|r| r.item());
                results.push(match item {
                    // An absent item comes back as an empty response.
                    None => OpResult::ok(OpValue::Record(None)),
                    Some(item) if item.is_empty() => OpResult::ok(OpValue::Record(None)),
                    Some(item) => match record_from_item(item) {
                        Ok(record) => OpResult::ok(OpValue::Record(Some(record))),
                        Err(e) => bad_item(format!("TransactGetItems: {e}")),
                    },
                });
            }
            OpResult::ok(OpValue::Results(results))
                .with_meta(meta(units_sum(out.consumed_capacity()), attempts.retries()))
        }
        Err(err) => {
            let failure = match err.as_service_error() {
                Some(TransactGetItemsError::TransactionCanceledException(e)) => {
                    cancelled_transaction("TransactGetItems", e.cancellation_reasons())
                }
                _ => classify_sdk_error("TransactGetItems", &err),
            };
            failure
                .into_result()
                .with_meta(meta(None, attempts.retries()))
        }
    }
}

fn transact_write_item(driver: &DynamodbDriver, m: &Mutation) -> Result<TransactWriteItem, String> {
    let table = driver.config.physical_table(&m.logical_table);
    let builder = TransactWriteItem::builder();
    let item = match &m.kind {
        MutationKind::Update { expression } => builder.update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key_item(&m.key)))
                .update_expression(*expression)
                .set_condition_expression(m.condition.map(str::to_string))
                .set_expression_attribute_names(m.names_or_none())
                .set_expression_attribute_values(m.values_or_none())
                .build()
                .map_err(|e| e.to_string())?,
        ),
        MutationKind::Put { item } => builder.put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item.clone()))
                .set_condition_expression(m.condition.map(str::to_string))
                .set_expression_attribute_names(m.names_or_none())
                .set_expression_attribute_values(m.values_or_none())
                .build()
                .map_err(|e| e.to_string())?,
        ),
        MutationKind::Delete => builder.delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key_item(&m.key)))
                .build()
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok(item.build())
}

async fn transact_write(driver: &DynamodbDriver, ops: &[Op]) -> OpResult {
    let mut items = Vec::with_capacity(ops.len());
    for op in ops {
        let built = Mutation::for_op(op)
            .ok_or_else(|| format!("{} is not a write", op.kind()))
            .and_then(|m| transact_write_item(driver, &m));
        match built {
            Ok(item) => items.push(item),
            Err(e) => {
                return Failure::new(
                    ErrorClass::InvalidRequest,
                    format!("TransactWriteItems: {e}"),
                )
                .into_result()
            }
        }
    }
    let log = AttemptLog::default();
    // The SDK fills in ClientRequestToken, which makes a re-sent transaction idempotent on
    // DynamoDB for ten minutes, so retries after an ambiguous attempt are allowed here.
    let request = driver
        .client
        .transact_write_items()
        .set_transact_items(Some(items))
        .return_consumed_capacity(ReturnConsumedCapacity::Total);
    let answer = send!(log, true, request);
    let attempts = log.snapshot();
    match answer {
        // TransactWriteItems returns no item values, so an increment inside a txn cannot
        // report its new counter.
        Ok(out) => OpResult::ok(OpValue::Results(vec![
            OpResult::ok(OpValue::None);
            ops.len()
        ]))
        .with_meta(meta(units_sum(out.consumed_capacity()), attempts.retries())),
        Err(err) => {
            let failure = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    cancelled_transaction("TransactWriteItems", e.cancellation_reasons())
                }
                _ => classify_sdk_error("TransactWriteItems", &err),
            };
            failure
                .after_attempts(&attempts, true)
                .into_result()
                .with_meta(meta(None, attempts.retries()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(class: ErrorClass) -> OpResult {
        Failure::new(class, "why").into_result()
    }

    #[test]
    fn batch_outcome_is_indeterminate_if_any_op_is_and_fail_only_if_all_failed() {
        let ok = || OpResult::ok(OpValue::None);
        let mixed = summarise("batch", vec![ok(), failed(ErrorClass::ConditionFailed)]);
        assert_eq!(mixed.outcome, Outcome::Ok);
        assert_eq!(mixed.error, None);

        let lost = summarise(
            "batch",
            vec![
                failed(ErrorClass::ConditionFailed),
                ok(),
                failed(ErrorClass::ConnectionLost),
            ],
        );
        assert_eq!(lost.outcome, Outcome::Indeterminate);
        assert_eq!(lost.error_class(), Some(ErrorClass::ConnectionLost));
        assert!(lost.error.unwrap().message.contains("op #2"));

        let down = summarise(
            "batch",
            vec![
                failed(ErrorClass::Unavailable),
                failed(ErrorClass::Unavailable),
            ],
        );
        assert_eq!(down.outcome, Outcome::Fail);
        assert_eq!(down.error_class(), Some(ErrorClass::Unavailable));
        assert!(matches!(down.value, OpValue::Results(ref r) if r.len() == 2));

        assert_eq!(summarise("batch", vec![]).outcome, Outcome::Ok);
    }
}
