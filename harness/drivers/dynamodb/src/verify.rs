//! `assay verify`'s DynamoDB side: [`DynamoTableSource`], one table read for a compare.
//!
//! DynamoDB cannot hash on the server, so every pass is a parallel segmented `Scan`
//! (`Segment` / `TotalSegments`, only the compared attributes projected) whose items are
//! reduced on the client to the canonical rows of `assay_core::verify`, hashed, and put
//! into the same key-hash buckets the SQL side computes — by the hash of the key, not its
//! order, since a scan returns items in no key order. Rechecks read by key
//! (`BatchGetItem`, strongly consistent). Every request asks for its consumed capacity
//! (`ReturnConsumedCapacity = TOTAL`).

use crate::attempts::error_chain;
use crate::classify::classify_sdk_error;
use crate::config::ClientPlan;
use assay_core::verify::digest::{Bucket, BucketSet, Digests};
use assay_core::verify::value::{canonical_number, epoch_to_nanos, parse_rfc3339};
use assay_core::verify::{
    CanonicalRow, EpochUnit, Kind, PlanColumn, ShapeColumn, SidePlan, SourceStats, StoredAs,
    TableShape, TableSource, Value, VerifyError,
};
use assay_core::Endpoint;
use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, KeyType, KeysAndAttributes, ReturnConsumedCapacity,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bound on one request (a scan page is at most 1 MB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// A long scan meets throttling; the SDK backs off and retries up to this many times.
const MAX_ATTEMPTS: u32 = 10;
/// Keys per BatchGetItem (the API's limit).
const BATCH_GET_KEYS: usize = 100;
/// Rounds of re-sending a batch's unprocessed keys before giving up.
const UNPROCESSED_ROUNDS: u32 = 10;

type Item = HashMap<String, AttributeValue>;

pub struct DynamoTableSource {
    client: Client,
    address: String,
    segments: i32,
    stats: Mutex<SourceStats>,
}

/// What one scan segment gathered.
#[derive(Default)]
struct SegmentOut {
    digests: Digests,
    rows: Vec<CanonicalRow>,
    scanned: u64,
    requests: u64,
    capacity: Option<f64>,
}

/// What a scan keeps of each item.
#[derive(Clone, Copy)]
enum Gather<'a> {
    /// Digests one level below `within`, of the items in it.
    Digests(&'a BucketSet),
    /// The canonical rows of the items in these buckets.
    Rows(&'a BucketSet),
}

fn add_capacity(total: &mut Option<f64>, c: Option<&ConsumedCapacity>) {
    if let Some(units) = c.and_then(|c| c.capacity_units()) {
        *total = Some(total.unwrap_or(0.0) + units);
    }
}

impl DynamoTableSource {
    /// A client for the endpoint; `segments` scan segments run at once.
    pub async fn connect(endpoint: &Endpoint, segments: usize) -> Result<Self, VerifyError> {
        let plan = ClientPlan::for_endpoint(endpoint, REQUEST_TIMEOUT)
            .map_err(|e| VerifyError::input(e.message))?;
        let conf = plan
            .sdk_config()
            .await
            .to_builder()
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .build();
        Ok(DynamoTableSource {
            client: Client::from_conf(conf),
            address: plan.address(),
            segments: i32::try_from(segments.clamp(1, 1_000_000)).unwrap_or(1),
            stats: Mutex::new(SourceStats::default()),
        })
    }

    fn error<E>(&self, what: &str, err: &SdkError<E, HttpResponse>) -> VerifyError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let message = match err.code() {
            Some(_) => classify_sdk_error(what, err).message,
            None => error_chain(err),
        };
        VerifyError::backend(format!("dynamodb {}: {what}: {message}", self.address))
    }

    fn account(&self, started: Instant, out: &SegmentOut, fetched: u64) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        s.busy += started.elapsed();
        s.requests += out.requests;
        s.rows_scanned += out.scanned;
        s.rows_fetched += fetched;
        if let Some(c) = out.capacity {
            s.consumed_capacity = Some(s.consumed_capacity.unwrap_or(0.0) + c);
        }
    }

    /// Scans every segment at once, each item through `gather`; the segments' results
    /// merged.
    async fn scan(&self, plan: &SidePlan, gather: Gather<'_>) -> Result<SegmentOut, VerifyError> {
        let projection = Projection::of(plan);
        let parts = futures::future::try_join_all(
            (0..self.segments).map(|segment| self.scan_segment(plan, &projection, segment, gather)),
        )
        .await?;
        let mut all = SegmentOut::default();
        for p in parts {
            for (bucket, d) in p.digests {
                all.digests.entry(bucket).or_default().merge(d);
            }
            all.rows.extend(p.rows);
            all.scanned += p.scanned;
            all.requests += p.requests;
            if let Some(c) = p.capacity {
                all.capacity = Some(all.capacity.unwrap_or(0.0) + c);
            }
        }
        Ok(all)
    }

    async fn scan_segment(
        &self,
        plan: &SidePlan,
        projection: &Projection,
        segment: i32,
        gather: Gather<'_>,
    ) -> Result<SegmentOut, VerifyError> {
        let mut out = SegmentOut::default();
        let mut start: Option<Item> = None;
        // Ends when the segment has no more pages: DynamoDB's own bound on the loop.
        loop {
            let answer = self
                .client
                .scan()
                .table_name(&plan.table)
                .segment(segment)
                .total_segments(self.segments)
                .projection_expression(&projection.expression)
                .set_expression_attribute_names(Some(projection.names.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.error("Scan", &e))?;
            out.requests += 1;
            out.scanned += u64::try_from(answer.scanned_count()).unwrap_or(0);
            add_capacity(&mut out.capacity, answer.consumed_capacity());
            for item in answer.items() {
                let row = canonical_row(item, plan);
                let h = row.key_hash();
                match gather {
                    Gather::Digests(within) if within.contains(h) => out
                        .digests
                        .entry(Bucket::of(h, within.level() + 1))
                        .or_default()
                        .add_row(row.row_hash()),
                    Gather::Rows(buckets) if buckets.contains(h) => out.rows.push(row),
                    _ => {}
                }
            }
            match answer.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

/// `ProjectionExpression` of a plan's attribute paths, every name a placeholder.
struct Projection {
    expression: String,
    names: HashMap<String, String>,
}

impl Projection {
    fn of(plan: &SidePlan) -> Projection {
        let mut names: HashMap<String, String> = HashMap::new();
        let placeholder = |segment: &str, names: &mut HashMap<String, String>| {
            if let Some((p, _)) = names.iter().find(|(_, v)| v.as_str() == segment) {
                return p.clone();
            }
            let p = format!("#a{}", names.len());
            names.insert(p.clone(), segment.to_string());
            p
        };
        let paths: Vec<String> = plan
            .key
            .iter()
            .chain(&plan.columns)
            .map(|c| {
                c.path
                    .iter()
                    .map(|s| placeholder(s, &mut names))
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        Projection {
            expression: paths.join(", "),
            names,
        }
    }
}

/// The attribute at `path` (through nested maps).
fn lookup<'a>(item: &'a Item, path: &[String]) -> Option<&'a AttributeValue> {
    let (first, rest) = path.split_first()?;
    let mut at = item.get(first)?;
    for segment in rest {
        at = match at {
            AttributeValue::M(m) => m.get(segment)?,
            _ => return None,
        };
    }
    Some(at)
}

/// An item as the canonical row of `plan`.
pub(crate) fn canonical_row(item: &Item, plan: &SidePlan) -> CanonicalRow {
    let value = |c: &PlanColumn| value_of(lookup(item, &c.path), c);
    let key: Vec<Value> = plan.key.iter().map(value).collect();
    let columns: Vec<Value> = plan.columns.iter().map(value).collect();
    CanonicalRow::from_values(&key, &columns)
}

/// `N`, `S`, … as DynamoDB names an attribute's type.
fn type_name(av: &AttributeValue) -> &'static str {
    match av {
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Bs(_) => "BS",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        AttributeValue::N(_) => "N",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::S(_) => "S",
        AttributeValue::Ss(_) => "SS",
        _ => "?",
    }
}

/// Documents, lists and sets as JSON text: maps by key, sets sorted, numbers canonical.
fn json_of(av: &AttributeValue) -> serde_json::Value {
    use serde_json::Value as J;
    let number = |n: &str| J::String(canonical_number(n).unwrap_or_else(|| n.to_string()));
    let hex = |b: &Blob| J::String(b.as_ref().iter().map(|x| format!("{x:02x}")).collect());
    let sorted = |mut v: Vec<J>| {
        v.sort_by_key(|x| x.to_string());
        J::Array(v)
    };
    match av {
        AttributeValue::S(s) => J::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::B(b) => hex(b),
        AttributeValue::Bool(b) => J::Bool(*b),
        AttributeValue::Null(_) => J::Null,
        AttributeValue::L(l) => J::Array(l.iter().map(json_of).collect()),
        AttributeValue::M(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), json_of(v))).collect()),
        AttributeValue::Ss(s) => sorted(s.iter().cloned().map(J::String).collect()),
        AttributeValue::Ns(s) => sorted(s.iter().map(|n| number(n)).collect()),
        AttributeValue::Bs(s) => sorted(s.iter().map(hex).collect()),
        _ => J::Null,
    }
}

/// An attribute value as the canonical value of its column: converted to the column's
/// kind where the mapping or the other side says what it is. A value that does not
/// convert becomes a text naming what it is, so it shows as a difference (never as equal).
pub(crate) fn value_of(av: Option<&AttributeValue>, col: &PlanColumn) -> Value {
    let Some(av) = av else {
        return Value::Null;
    };
    if matches!(av, AttributeValue::Null(_)) {
        return Value::Null;
    }
    let unconvertible = || {
        Value::Text(format!(
            "<{} {} is no {}>",
            type_name(av),
            json_of(av),
            col.kind.map_or("value", Kind::as_str)
        ))
    };
    let number = |n: &str| Value::number(n).unwrap_or_else(unconvertible);
    match (col.kind, av) {
        (None, AttributeValue::S(s)) | (Some(Kind::Text), AttributeValue::S(s)) => {
            Value::Text(s.clone())
        }
        (None, AttributeValue::N(n)) | (Some(Kind::Number), AttributeValue::N(n)) => number(n),
        (None, AttributeValue::B(b)) | (Some(Kind::Bytes), AttributeValue::B(b)) => {
            Value::Bytes(b.as_ref().to_vec())
        }
        (None, AttributeValue::Bool(b)) | (Some(Kind::Bool), AttributeValue::Bool(b)) => {
            Value::Bool(*b)
        }
        (Some(Kind::Number), AttributeValue::S(s)) => number(s),
        (Some(Kind::Text), AttributeValue::N(n)) => Value::Text(n.clone()),
        (Some(Kind::Text), AttributeValue::Bool(b)) => Value::Text(b.to_string()),
        (Some(Kind::Bool), AttributeValue::S(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" => Value::Bool(true),
            "false" | "f" | "0" => Value::Bool(false),
            _ => unconvertible(),
        },
        (Some(Kind::Bool), AttributeValue::N(n)) => match canonical_number(n).as_deref() {
            Some("0") => Value::Bool(false),
            Some("1") => Value::Bool(true),
            _ => unconvertible(),
        },
        (Some(Kind::Timestamp), AttributeValue::S(s)) => {
            parse_rfc3339(s).map_or_else(unconvertible, Value::Timestamp)
        }
        (Some(Kind::Timestamp), AttributeValue::N(n)) => {
            let unit = match col.stored_as {
                StoredAs::Epoch(unit) => unit,
                _ => EpochUnit::Seconds,
            };
            epoch_to_nanos(n, unit).map_or_else(unconvertible, Value::Timestamp)
        }
        (None | Some(Kind::Text), other) if !matches!(other, AttributeValue::B(_)) => {
            Value::Text(json_of(other).to_string())
        }
        _ => unconvertible(),
    }
}

/// A key value as the attribute its key column's type (`S`, `N`, `B`) wants.
fn key_attribute(v: &Value, col: &PlanColumn) -> AttributeValue {
    let text = match v {
        Value::Number(n) => n.clone(),
        Value::Text(t) => t.clone(),
        Value::Bytes(b) => return AttributeValue::B(Blob::new(b.clone())),
        other => other.display(),
    };
    match col.native_type.as_deref() {
        Some("N") => AttributeValue::N(text),
        Some("B") => AttributeValue::B(Blob::new(text.into_bytes())),
        _ => AttributeValue::S(text),
    }
}

#[async_trait]
impl TableSource for DynamoTableSource {
    fn family(&self) -> &'static str {
        "dynamodb"
    }

    async fn describe(&self, table: &str) -> Result<TableShape, VerifyError> {
        let started = Instant::now();
        let answer = self.client.describe_table().table_name(table).send().await;
        let desc = match answer {
            Ok(a) => a,
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return Err(VerifyError::input(format!(
                    "--table {table}: no such table at dynamodb {}; check the name (and the target's region)",
                    self.address
                )))
            }
            Err(e) => return Err(self.error("DescribeTable", &e)),
        };
        let t = desc.table().ok_or_else(|| {
            VerifyError::backend(format!(
                "dynamodb {}: DescribeTable answered without a table",
                self.address
            ))
        })?;
        let mut key: Vec<(KeyType, String)> = t
            .key_schema()
            .iter()
            .map(|k| (k.key_type().clone(), k.attribute_name().to_string()))
            .collect();
        // Partition key first, then the sort key.
        key.sort_by_key(|(kind, _)| *kind != KeyType::Hash);
        let columns = key
            .iter()
            .map(|(_, name)| {
                let ty = t
                    .attribute_definitions()
                    .iter()
                    .find(|d| d.attribute_name() == name)
                    .map(|d| d.attribute_type().as_str().to_string())
                    .unwrap_or_else(|| "S".into());
                ShapeColumn {
                    name: name.clone(),
                    kind: match ty.as_str() {
                        "N" => Kind::Number,
                        "B" => Kind::Bytes,
                        _ => Kind::Text,
                    },
                    native_type: ty,
                }
            })
            .collect();
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        s.busy += started.elapsed();
        s.requests += 1;
        Ok(TableShape {
            table: table.to_string(),
            columns,
            key: key.into_iter().map(|(_, n)| n).collect(),
            schemaless: true,
        })
    }

    async fn prepare(&self, plan: &SidePlan) -> Result<(), VerifyError> {
        if plan.key.is_empty() {
            return Err(VerifyError::input(
                "--key: the DynamoDB side needs its key attribute(s)",
            ));
        }
        Ok(())
    }

    async fn digests(&self, plan: &SidePlan, within: &BucketSet) -> Result<Digests, VerifyError> {
        let started = Instant::now();
        let mut out = self.scan(plan, Gather::Digests(within)).await?;
        self.account(started, &out, 0);
        Ok(std::mem::take(&mut out.digests))
    }

    async fn rows(
        &self,
        plan: &SidePlan,
        buckets: &BucketSet,
    ) -> Result<Vec<CanonicalRow>, VerifyError> {
        let started = Instant::now();
        let mut out = self.scan(plan, Gather::Rows(buckets)).await?;
        self.account(started, &out, out.rows.len() as u64);
        Ok(std::mem::take(&mut out.rows))
    }

    async fn rows_by_key(
        &self,
        plan: &SidePlan,
        keys: &[Vec<Value>],
    ) -> Result<Vec<CanonicalRow>, VerifyError> {
        let started = Instant::now();
        let projection = Projection::of(plan);
        let mut out = SegmentOut::default();
        for batch in keys.chunks(BATCH_GET_KEYS) {
            let mut pending: Vec<Item> = batch
                .iter()
                .map(|k| {
                    plan.key
                        .iter()
                        .zip(k)
                        .map(|(c, v)| (c.path[0].clone(), key_attribute(v, c)))
                        .collect()
                })
                .collect();
            let mut round = 0;
            while !pending.is_empty() {
                round += 1;
                if round > UNPROCESSED_ROUNDS {
                    return Err(VerifyError::backend(format!(
                        "dynamodb {}: BatchGetItem left {} key(s) unprocessed after {UNPROCESSED_ROUNDS} rounds (throttled); retry later or with less --parallel",
                        self.address,
                        pending.len()
                    )));
                }
                if round > 1 {
                    tokio::time::sleep(Duration::from_millis(50 << round.min(6))).await;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .projection_expression(&projection.expression)
                    .set_expression_attribute_names(Some(projection.names.clone()))
                    .build()
                    .map_err(|e| {
                        VerifyError::backend(format!("dynamodb: BatchGetItem request: {e}"))
                    })?;
                let answer = self
                    .client
                    .batch_get_item()
                    .request_items(plan.table.clone(), request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| self.error("BatchGetItem", &e))?;
                out.requests += 1;
                for c in answer.consumed_capacity() {
                    add_capacity(&mut out.capacity, Some(c));
                }
                if let Some(items) = answer.responses().and_then(|r| r.get(&plan.table)) {
                    out.rows
                        .extend(items.iter().map(|i| canonical_row(i, plan)));
                }
                if let Some(left) = answer.unprocessed_keys().and_then(|u| u.get(&plan.table)) {
                    pending = left.keys().to_vec();
                }
            }
        }
        out.scanned = keys.len() as u64;
        self.account(started, &out, out.rows.len() as u64);
        Ok(out.rows)
    }

    fn stats(&self) -> SourceStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(kind: Option<Kind>, stored_as: StoredAs) -> PlanColumn {
        PlanColumn {
            name: "c".into(),
            path: vec!["c".into()],
            kind,
            stored_as,
            native_type: None,
        }
    }

    #[test]
    fn attributes_convert_to_the_columns_kind() {
        let n = |s: &str| AttributeValue::N(s.into());
        let s = |s: &str| AttributeValue::S(s.into());
        let num = col(Some(Kind::Number), StoredAs::Native);
        assert_eq!(
            value_of(Some(&n("1.50")), &num),
            Value::Number("1.5".into())
        );
        assert_eq!(value_of(Some(&s("7")), &num), Value::Number("7".into()));
        assert_eq!(value_of(None, &num), Value::Null);
        assert_eq!(
            value_of(Some(&AttributeValue::Null(true)), &num),
            Value::Null
        );
        let ts = col(Some(Kind::Timestamp), StoredAs::Native);
        assert_eq!(
            value_of(Some(&s("1970-01-01T00:00:01Z")), &ts),
            Value::Timestamp(1_000_000_000)
        );
        assert_eq!(
            value_of(Some(&n("2")), &ts),
            Value::Timestamp(2_000_000_000)
        );
        let ms = col(Some(Kind::Timestamp), StoredAs::Epoch(EpochUnit::Millis));
        assert_eq!(
            value_of(Some(&n("1500")), &ms),
            Value::Timestamp(1_500_000_000)
        );
        // What does not convert is a difference, never an accidental match.
        let Value::Text(t) = value_of(Some(&s("soon")), &ts) else {
            panic!("an unconvertible value must become a text")
        };
        assert!(t.contains("\"soon\"") && t.contains("timestamp"), "{t}");
        let doc = AttributeValue::M(HashMap::from([
            ("b".to_string(), n("2.0")),
            (
                "a".to_string(),
                AttributeValue::Ss(vec!["y".into(), "x".into()]),
            ),
        ]));
        assert_eq!(
            value_of(Some(&doc), &col(None, StoredAs::Native)),
            Value::Text(r#"{"a":["x","y"],"b":"2"}"#.into())
        );
    }

    #[test]
    fn nested_paths_and_projections() {
        let plan = SidePlan {
            table: "t".into(),
            key: vec![PlanColumn {
                path: vec!["pk".into()],
                ..col(Some(Kind::Number), StoredAs::Native)
            }],
            columns: vec![PlanColumn {
                path: vec!["meta".into(), "pk".into()],
                ..col(Some(Kind::Text), StoredAs::Native)
            }],
        };
        let p = Projection::of(&plan);
        assert_eq!(p.expression, "#a0, #a1.#a0");
        let item: Item = HashMap::from([
            ("pk".to_string(), AttributeValue::N("3".into())),
            (
                "meta".to_string(),
                AttributeValue::M(HashMap::from([(
                    "pk".to_string(),
                    AttributeValue::S("x".into()),
                )])),
            ),
        ]);
        let row = canonical_row(&item, &plan);
        assert_eq!(row.key, "n3;");
        assert_eq!(row.columns, ["s1:x;"]);
    }
}
