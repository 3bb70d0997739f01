//! The `streams` check: on a table with a NEW_AND_OLD_IMAGES stream, every acknowledged
//! write of a small concurrent workload (puts, updates, deletes) shows up in the stream
//! exactly once, in the key's write order, with the documented old and new images. The
//! stream is read through the DynamoDB Streams API (DescribeStream, GetShardIterator at
//! TRIM_HORIZON, GetRecords).

use super::{clip, error_text, s, sdk_error, Check, CheckError, CheckResult, Item, TableDef};
use crate::attempts::AttemptLog;
use crate::classify::classify_sdk_error;
use assay_core::NativeOutcome;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::StreamViewType;
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as StreamValue, OperationType, Record, ShardIteratorType,
};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A write of the workload and the record it must produce: (event, old v, new v).
type Change = (&'static str, Option<String>, Option<String>);

/// Pause between GetRecords rounds that brought nothing new. Reading ends once every
/// expected record was seen, or after `params.max_wait_ms` without a new one.
const EMPTY_ROUND_PAUSE: Duration = Duration::from_millis(200);
const MAX_SHARD_PAGES: usize = 100;

fn fmt_change((event, old, new): &Change) -> String {
    format!(
        "{event} {}→{}",
        old.as_deref().unwrap_or("-"),
        new.as_deref().unwrap_or("-")
    )
}

/// One write of the workload, sent once: a write whose attempt may have been applied is
/// not re-sent, since a second apply would add a record of its own.
async fn apply(
    check: &Check<'_>,
    table: &str,
    key: &str,
    step: usize,
) -> Result<Change, CheckError> {
    let v = (step + 1).to_string();
    let prev = step.to_string();
    let item =
        |v: &str| -> Item { HashMap::from([("pk".to_string(), s(key)), ("v".to_string(), s(v))]) };
    let log = AttemptLog::default();
    let client = check.client();
    let (answer, change) = match step {
        // put (new), update, put (overwrite), delete, put (new again), update
        0 | 4 => (
            crate::send!(
                log,
                false,
                client.put_item().table_name(table).set_item(Some(item(&v)))
            )
            .map(drop)
            .map_err(|e| classify_sdk_error("PutItem", &e)),
            ("INSERT", None, Some(v)),
        ),
        1 | 5 => (
            crate::send!(
                log,
                false,
                client
                    .update_item()
                    .table_name(table)
                    .key("pk", s(key))
                    .update_expression("SET v = :v")
                    .expression_attribute_values(":v", s(&v))
            )
            .map(drop)
            .map_err(|e| classify_sdk_error("UpdateItem", &e)),
            ("MODIFY", Some(prev), Some(v)),
        ),
        2 => (
            crate::send!(
                log,
                false,
                client.put_item().table_name(table).set_item(Some(item(&v)))
            )
            .map(drop)
            .map_err(|e| classify_sdk_error("PutItem", &e)),
            ("MODIFY", Some(prev), Some(v)),
        ),
        _ => (
            crate::send!(
                log,
                false,
                client.delete_item().table_name(table).key("pk", s(key))
            )
            .map(drop)
            .map_err(|e| classify_sdk_error("DeleteItem", &e)),
            ("REMOVE", Some(prev), None),
        ),
    };
    match answer {
        Ok(()) => Ok(change),
        Err(failure) => Err(CheckError::Step(clip(&format!(
            "workload write {step} on {key} failed, so the stream's content is unknown: {}",
            failure.after_attempts(&log.snapshot(), true).message
        )))),
    }
}

/// Per client: its keys, each written `STEPS` times, the keys interleaved.
const STEPS: usize = 6;

async fn client_workload(
    check: &Check<'_>,
    table: &str,
    keys: Vec<String>,
) -> Result<Vec<(String, Change)>, CheckError> {
    let mut done = Vec::new();
    for step in 0..STEPS {
        for key in &keys {
            done.push((key.clone(), apply(check, table, key, step).await?));
        }
    }
    Ok(done)
}

fn image_value(image: Option<&HashMap<String, StreamValue>>) -> Option<String> {
    match image?.get("v")? {
        StreamValue::S(v) => Some(v.clone()),
        other => Some(format!("{other:?}")),
    }
}

fn record_key(record: &Record) -> Option<String> {
    match record.dynamodb()?.keys()?.get("pk")? {
        StreamValue::S(v) => Some(v.clone()),
        _ => None,
    }
}

fn record_change(record: &Record) -> Change {
    let event = match record.event_name() {
        Some(OperationType::Insert) => "INSERT",
        Some(OperationType::Modify) => "MODIFY",
        Some(OperationType::Remove) => "REMOVE",
        _ => "UNKNOWN",
    };
    let data = record.dynamodb();
    (
        event,
        image_value(data.and_then(|d| d.old_image())),
        image_value(data.and_then(|d| d.new_image())),
    )
}

/// Sequence numbers are decimal strings of varying length; numeric order is (length, text).
fn sequence_order(record: &Record) -> (usize, String) {
    let seq = record
        .dynamodb()
        .and_then(|d| d.sequence_number())
        .unwrap_or("")
        .to_string();
    (seq.len(), seq)
}

pub(crate) async fn streams(check: &Check<'_>) -> CheckResult {
    let Some(streams) = check.driver.streams.as_ref() else {
        return Err(CheckError::Step(
            "this driver was built without a DynamoDB Streams client; connect it with DynamodbDriver::connect".into(),
        ));
    };
    let clients = check.params.count("clients") as usize;
    let keys_per_client = check.params.count("keys_per_client") as usize;
    let max_wait = Duration::from_millis(check.params.count("max_wait_ms"));
    let max_empty_rounds = (max_wait.as_millis() / EMPTY_ROUND_PAUSE.as_millis()).max(1) as u32;
    let mut def = TableDef::hash_only("pk");
    def.stream = Some(StreamViewType::NewAndOldImages);
    let table = check.create_table("streams", &def).await?;
    let described = super::table::describe(check, &table).await?;
    let Some(arn) = described.latest_stream_arn().map(str::to_string) else {
        // The table exists without a stream: find out whether the Streams API exists.
        let why = match streams.list_streams().table_name(&table).send().await {
            Err(err) if err.code() == Some("UnknownOperationException") => {
                return Err(CheckError::Unsupported(clip(&format!(
                    "CreateTable accepted StreamSpecification NEW_AND_OLD_IMAGES but DescribeTable shows no LatestStreamArn, and ListStreams answers {}: the backend has no DynamoDB Streams",
                    error_text(&err)
                ))))
            }
            Err(err) => format!("ListStreams failed: {}", error_text(&err)),
            Ok(out) => format!("ListStreams lists {} stream(s) for it", out.streams().len()),
        };
        return Ok(NativeOutcome::deviates(clip(&format!(
            "CreateTable accepted StreamSpecification NEW_AND_OLD_IMAGES but DescribeTable shows no LatestStreamArn ({why}); documented: the table gets a stream"
        ))));
    };

    let workloads = (0..clients).map(|c| {
        let keys = (0..keys_per_client).map(|k| format!("c{c}k{k}")).collect();
        client_workload(check, &table, keys)
    });
    let mut expected: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    for done in futures::future::join_all(workloads).await {
        for (key, change) in done? {
            expected.entry(key).or_default().push(change);
        }
    }
    let expected_total: usize = expected.values().map(Vec::len).sum();

    // Shards, parents before children as DescribeStream lists them.
    let mut shards: Vec<String> = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..MAX_SHARD_PAGES {
        let out = streams
            .describe_stream()
            .stream_arn(&arn)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeStream", &e))?;
        let Some(desc) = out.stream_description() else {
            return Err(CheckError::Step(format!(
                "DescribeStream {arn} answered without a description"
            )));
        };
        shards.extend(
            desc.shards()
                .iter()
                .filter_map(|sh| sh.shard_id().map(str::to_string)),
        );
        match desc.last_evaluated_shard_id() {
            Some(next) => start = Some(next.to_string()),
            None => break,
        }
    }
    let mut iterators: Vec<Option<String>> = Vec::new();
    for shard in &shards {
        let out = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| sdk_error("GetShardIterator", &e))?;
        iterators.push(out.shard_iterator().map(str::to_string));
    }

    let mut records: Vec<Record> = Vec::new();
    let mut calls = 0u64;
    let mut empty_rounds = 0u32;
    // One round past the expected count, so records beyond it (duplicates) are seen too.
    let mut rounds_after_complete = 0u32;
    while iterators.iter().any(Option::is_some)
        && empty_rounds < max_empty_rounds
        && rounds_after_complete < 2
        && !check.past_deadline()
    {
        let mut new_records = 0usize;
        for it in iterators.iter_mut() {
            let Some(current) = it.take() else { continue };
            let out = streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .map_err(|e| sdk_error("GetRecords", &e))?;
            calls += 1;
            new_records += out.records().len();
            records.extend(out.records().iter().cloned());
            *it = out.next_shard_iterator().map(str::to_string);
        }
        if records.len() >= expected_total {
            rounds_after_complete += 1;
        }
        if new_records == 0 {
            empty_rounds += 1;
            tokio::time::sleep(EMPTY_ROUND_PAUSE.min(check.remaining())).await;
        } else {
            empty_rounds = 0;
        }
    }

    let mut seen: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
    let mut wrong_view = 0usize;
    for r in &records {
        if r.dynamodb().and_then(|d| d.stream_view_type())
            != Some(&aws_sdk_dynamodbstreams::types::StreamViewType::NewAndOldImages)
        {
            wrong_view += 1;
        }
        seen.entry(record_key(r).unwrap_or_else(|| "<no key>".into()))
            .or_default()
            .push(r);
    }
    let mut deviations: Vec<String> = Vec::new();
    let mut evidence: Vec<String> = Vec::new();
    for (key, want) in &expected {
        let mut got = seen.remove(key).unwrap_or_default();
        got.sort_by_key(|r| sequence_order(r));
        let got: Vec<Change> = got.iter().map(|r| record_change(r)).collect();
        let line = |changes: &[Change]| {
            changes
                .iter()
                .map(fmt_change)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if &got != want {
            deviations.push(clip(&format!(
                "key {key}: stream has [{}], documented [{}]",
                line(&got),
                line(want)
            )));
        } else if evidence.is_empty() {
            evidence.push(format!("key {key}: [{}]", line(&got)));
        }
    }
    for (key, extra) in &seen {
        deviations.push(format!(
            "{} record(s) for key {key} that no write made",
            extra.len()
        ));
    }
    if wrong_view > 0 {
        deviations.push(format!(
            "{wrong_view} record(s) without StreamViewType NEW_AND_OLD_IMAGES"
        ));
    }
    let observed = if deviations.is_empty() {
        format!(
            "all {expected_total} acknowledged writes ({clients} clients, {} keys) appear once each in the stream, in per-key order, with NEW_AND_OLD_IMAGES as documented ({} shard(s))",
            expected.len(),
            shards.len()
        )
    } else {
        clip(&format!(
            "{} of {} keys' stream records differ from their writes ({} records read for {expected_total} writes); first: {}",
            deviations.len(),
            expected.len(),
            records.len(),
            deviations[0]
        ))
    };
    let mut outcome = NativeOutcome::expect(deviations.is_empty(), observed)
        .with_counter("writes", expected_total as f64)
        .with_counter("records", records.len() as f64)
        .with_counter("get_records_calls", calls as f64);
    for line in evidence.into_iter().chain(deviations.into_iter().take(10)) {
        outcome = outcome.with_evidence(line);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::StreamRecord;

    fn record(seq: &str, event: OperationType, old: Option<&str>, new: Option<&str>) -> Record {
        let image = |v: &str| HashMap::from([("v".to_string(), StreamValue::S(v.to_string()))]);
        let data = StreamRecord::builder()
            .sequence_number(seq)
            .keys("pk", StreamValue::S("k".into()))
            .set_old_image(old.map(image))
            .set_new_image(new.map(image))
            .build();
        Record::builder().event_name(event).dynamodb(data).build()
    }

    #[test]
    fn records_sort_by_numeric_sequence_number() {
        let mut records = [
            record("100", OperationType::Modify, Some("1"), Some("2")),
            record("99", OperationType::Insert, None, Some("1")),
        ];
        records.sort_by_key(sequence_order);
        let changes: Vec<String> = records
            .iter()
            .map(|r| fmt_change(&record_change(r)))
            .collect();
        assert_eq!(changes, ["INSERT -→1", "MODIFY 1→2"]);
        assert_eq!(record_key(&records[0]).as_deref(), Some("k"));
    }
}
