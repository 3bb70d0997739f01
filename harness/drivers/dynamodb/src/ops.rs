//! Executing portable ops as DynamoDB requests: point reads, single-row mutations and
//! prefix queries (batches and transactions are in `multi`; the driver dispatches). Every failure
//! comes back as an `OpResult`, never a Rust error.

use crate::attempts::AttemptLog;
use crate::classify::{classify_sdk_error, Failure};
use crate::item::{
    counter_from_attributes, key_item, record_from_item, Item, Mutation, MutationKind, KEY,
};
use crate::{send, DynamodbDriver};
use assay_core::{Consistency, ErrorClass, Op, OpMeta, OpResult, OpValue, Record};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, ReturnConsumedCapacity, ReturnValue,
};

/// A scan page is at most 1 MB, so this is far beyond any table a run makes; it only
/// keeps a backend that keeps returning a continuation key from looping forever.
const MAX_SCAN_PAGES: usize = 10_000;

/// Any op but batch and txn.
pub(crate) async fn execute_single(driver: &DynamodbDriver, op: &Op) -> OpResult {
    match op {
        Op::Read {
            table,
            key,
            consistency,
        } => read(driver, table, key, *consistency).await,
        Op::Query {
            table,
            prefix,
            limit,
        } => within_op_timeout(driver, "query", query(driver, table, prefix, *limit)).await,
        Op::Batch { .. } | Op::Txn { .. } => Failure::new(
            ErrorClass::InvalidRequest,
            "a batch or txn cannot be nested inside a batch",
        )
        .into_result(),
        mutation => match Mutation::for_op(mutation) {
            Some(m) => mutate(driver, &m).await,
            None => Failure::new(ErrorClass::Unsupported, format!("no mapping for {op:?}"))
                .into_result(),
        },
    }
}

/// Ops made of several requests get one overall bound, like a single request has.
pub(crate) async fn within_op_timeout(
    driver: &DynamodbDriver,
    what: &str,
    work: impl std::future::Future<Output = OpResult>,
) -> OpResult {
    match tokio::time::timeout(driver.config.op_timeout, work).await {
        Ok(result) => result,
        Err(_) => Failure::new(
            ErrorClass::Timeout,
            format!(
                "{what} did not finish within the op timeout of {:?}",
                driver.config.op_timeout
            ),
        )
        .into_result(),
    }
}

pub(crate) fn units(capacity: Option<&ConsumedCapacity>) -> Option<f64> {
    capacity.and_then(|c| c.capacity_units())
}

pub(crate) fn units_sum(capacity: &[ConsumedCapacity]) -> Option<f64> {
    capacity
        .iter()
        .filter_map(|c| c.capacity_units())
        .reduce(|a, b| a + b)
}

/// Request units and retries summed over the requests of one op.
#[derive(Clone, Debug, Default)]
pub(crate) struct MetaSum {
    pub(crate) request_units: Option<f64>,
    pub(crate) retries: u32,
}

impl MetaSum {
    pub(crate) fn add_units(&mut self, units: Option<f64>) {
        if let Some(u) = units {
            self.request_units = Some(self.request_units.unwrap_or(0.0) + u);
        }
    }

    pub(crate) fn add(&mut self, meta: &OpMeta) {
        self.add_units(meta.request_units);
        self.retries += meta.retries;
    }

    pub(crate) fn meta(&self) -> OpMeta {
        OpMeta {
            request_units: self.request_units,
            retries: self.retries,
            commit_ts_us: None,
        }
    }
}

pub(crate) fn meta(request_units: Option<f64>, retries: u32) -> OpMeta {
    OpMeta {
        request_units,
        retries,
        commit_ts_us: None,
    }
}

pub(crate) fn bad_item(message: String) -> OpResult {
    Failure::new(ErrorClass::Other, message).into_result()
}

async fn read(
    driver: &DynamodbDriver,
    table: &str,
    key: &str,
    consistency: Consistency,
) -> OpResult {
    let physical = driver.config.physical_table(table);
    let log = AttemptLog::default();
    // DynamoDB has two read modes; every level weaker than strong maps to the eventually
    // consistent one, which promises the least.
    let request = driver
        .client
        .get_item()
        .table_name(&physical)
        .set_key(Some(key_item(key)))
        .consistent_read(consistency == Consistency::Strong)
        .return_consumed_capacity(ReturnConsumedCapacity::Total);
    let answer = send!(log, true, request);
    let attempts = log.snapshot();
    match answer {
        Ok(out) => {
            let result = match out.item() {
                None => OpResult::ok(OpValue::Record(None)),
                Some(item) => match record_from_item(item) {
                    Ok(record) => OpResult::ok(OpValue::Record(Some(record))),
                    Err(e) => bad_item(format!("GetItem {physical}: {e}")),
                },
            };
            result.with_meta(meta(units(out.consumed_capacity()), attempts.retries()))
        }
        Err(err) => classify_sdk_error(&format!("GetItem {physical}/{key}"), &err)
            .after_attempts(&attempts, false)
            .into_result()
            .with_meta(meta(None, attempts.retries())),
    }
}

async fn mutate(driver: &DynamodbDriver, m: &Mutation) -> OpResult {
    let physical = driver.config.physical_table(&m.logical_table);
    let what = format!("{} {physical}/{}", m.operation(), m.key);
    let log = AttemptLog::default();
    let answer: Result<(Option<f64>, Option<i64>), Failure> = match &m.kind {
        MutationKind::Update { expression } => {
            let request = driver
                .client
                .update_item()
                .table_name(&physical)
                .set_key(Some(key_item(&m.key)))
                .update_expression(*expression)
                .set_condition_expression(m.condition.map(str::to_string))
                .set_expression_attribute_names(m.names_or_none())
                .set_expression_attribute_values(m.values_or_none())
                .return_values(if m.returns_counter {
                    ReturnValue::UpdatedNew
                } else {
                    ReturnValue::None
                })
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            send!(log, m.idempotent, request)
                .map(|out| {
                    (
                        units(out.consumed_capacity()),
                        counter_from_attributes(out.attributes()),
                    )
                })
                .map_err(|e| classify_sdk_error(&what, &e))
        }
        MutationKind::Put { item } => {
            let request = driver
                .client
                .put_item()
                .table_name(&physical)
                .set_item(Some(item.clone()))
                .set_condition_expression(m.condition.map(str::to_string))
                .set_expression_attribute_names(m.names_or_none())
                .set_expression_attribute_values(m.values_or_none())
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            send!(log, m.idempotent, request)
                .map(|out| (units(out.consumed_capacity()), None))
                .map_err(|e| classify_sdk_error(&what, &e))
        }
        MutationKind::Delete => {
            let request = driver
                .client
                .delete_item()
                .table_name(&physical)
                .set_key(Some(key_item(&m.key)))
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            send!(log, m.idempotent, request)
                .map(|out| (units(out.consumed_capacity()), None))
                .map_err(|e| classify_sdk_error(&what, &e))
        }
    };
    let attempts = log.snapshot();
    match answer {
        Ok((request_units, counter)) => {
            let value = match (m.returns_counter, counter) {
                (true, Some(n)) => OpValue::Counter(n),
                _ => OpValue::None,
            };
            OpResult::ok(value).with_meta(meta(request_units, attempts.retries()))
        }
        Err(failure) => failure
            .after_attempts(&attempts, true)
            .into_result()
            .with_meta(meta(None, attempts.retries())),
    }
}

/// Rows whose key starts with `prefix`, in key order.
///
/// The portable layout has only a hash key, so this is a consistent `Scan` with a
/// `begins_with` filter, sorted here; `limit` is applied after sorting because a scan's
/// `Limit` counts items before the filter and in hash order. A real key-condition `Query`
/// on a partition + sort key comes with the DynamoDB-specific conformance work.
async fn query(driver: &DynamodbDriver, table: &str, prefix: &str, limit: Option<u32>) -> OpResult {
    let physical = driver.config.physical_table(table);
    let mut records: Vec<Record> = Vec::new();
    let mut sum = MetaSum::default();
    let mut start_key: Option<Item> = None;
    for _page in 0..MAX_SCAN_PAGES {
        let log = AttemptLog::default();
        let mut request = driver
            .client
            .scan()
            .table_name(&physical)
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start_key.take());
        // An empty prefix matches every key; DynamoDB stand-ins differ on whether an empty
        // string is a valid expression value, so no filter is sent then.
        if !prefix.is_empty() {
            request = request
                .filter_expression("begins_with(#k, :p)")
                .expression_attribute_names("#k", KEY)
                .expression_attribute_values(":p", AttributeValue::S(prefix.to_string()));
        }
        let answer = send!(log, true, request);
        let attempts = log.snapshot();
        sum.retries += attempts.retries();
        let out = match answer {
            Ok(out) => out,
            Err(err) => {
                return classify_sdk_error(&format!("Scan {physical}"), &err)
                    .into_result()
                    .with_meta(sum.meta())
            }
        };
        sum.add_units(units(out.consumed_capacity()));
        for item in out.items() {
            match record_from_item(item) {
                Ok(record) => records.push(record),
                Err(e) => return bad_item(format!("Scan {physical}: {e}")).with_meta(sum.meta()),
            }
        }
        match out.last_evaluated_key() {
            Some(next) if !next.is_empty() => start_key = Some(next.clone()),
            _ => {
                records.sort_by(|a, b| a.key.cmp(&b.key));
                if let Some(limit) = limit {
                    records.truncate(limit as usize);
                }
                return OpResult::ok(OpValue::Records(records)).with_meta(sum.meta());
            }
        }
    }
    bad_item(format!(
        "Scan {physical} returned more than {MAX_SCAN_PAGES} pages; the table is too large for a prefix query"
    ))
    .with_meta(sum.meta())
}
