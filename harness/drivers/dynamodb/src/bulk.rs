//! The bulk load (`Driver::bulk_load`) as `BatchWriteItem` of 25 `PutRequest`s (the API's
//! limit), one per call; the engine keeps [`BATCH_WRITERS`] calls in flight. Items the
//! backend hands back as `UnprocessedItems` (throttling) are sent again after a backoff
//! that doubles up to [`MAX_BACKOFF`], at most [`UNPROCESSED_ROUNDS`] rounds; what is still
//! unprocessed then fails the call as throttled.
//!
//! A put replaces a whole item: an existing key ends with the row's value and `ver` 1 (its
//! counter and list are dropped). The load phase writes keys nothing wrote before, where
//! that is exactly what `Op::Write` leaves.

use crate::attempts::AttemptLog;
use crate::classify::classify_sdk_error;
use crate::item::{Item, KEY, VALUE, VERSION};
use crate::multi::BATCH_WRITE_MAX_ITEMS;
use crate::{send, DynamodbDriver};
use assay_core::{BulkLoadError, BulkLoadPath, ErrorClass, LoadRow};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use std::collections::HashMap;
use std::time::Duration;

/// BatchWriteItem calls in flight at once.
pub(crate) const BATCH_WRITERS: u32 = 16;
/// Rounds of re-sending unprocessed items before the call fails as throttled.
const UNPROCESSED_ROUNDS: u32 = 8;
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) const PATH: BulkLoadPath = BulkLoadPath {
    method: "batch_write_item",
    writers: BATCH_WRITERS,
    rows_per_call: BATCH_WRITE_MAX_ITEMS as u32,
};

fn put(row: &LoadRow) -> Result<WriteRequest, String> {
    let item: Item = HashMap::from([
        (KEY.to_string(), AttributeValue::S(row.key.clone())),
        (VALUE.to_string(), AttributeValue::S(row.value.clone())),
        (VERSION.to_string(), AttributeValue::N("1".into())),
    ]);
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(WriteRequest::builder().put_request(put).build())
}

fn backoff(round: u32) -> Duration {
    (FIRST_BACKOFF * 2u32.saturating_pow(round.saturating_sub(1))).min(MAX_BACKOFF)
}

/// Writes `rows` (at most 25 per request; more are split) into the logical `table`.
pub(crate) async fn load(
    driver: &DynamodbDriver,
    table: &str,
    rows: &[LoadRow],
) -> Result<u64, BulkLoadError> {
    let physical = driver.config.physical_table(table);
    let mut written = 0;
    for chunk in rows.chunks(BATCH_WRITE_MAX_ITEMS) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(put)
            .collect::<Result<_, _>>()
            .map_err(|e| {
                BulkLoadError::new(
                    written,
                    ErrorClass::InvalidRequest,
                    format!("BatchWriteItem {physical}: {e}"),
                )
            })?;
        let mut round = 0;
        while !pending.is_empty() {
            if round > 0 {
                if round > UNPROCESSED_ROUNDS {
                    return Err(BulkLoadError::new(
                        written,
                        ErrorClass::Throttled,
                        format!(
                            "BatchWriteItem {physical}: {} items still unprocessed after {UNPROCESSED_ROUNDS} retries",
                            pending.len()
                        ),
                    ));
                }
                tokio::time::sleep(backoff(round)).await;
            }
            round += 1;
            let sent = pending.len() as u64;
            let log = AttemptLog::default();
            let request = driver
                .client
                .batch_write_item()
                .set_request_items(Some(HashMap::from([(physical.clone(), pending)])));
            // Puts of fixed items are idempotent: the SDK may resend the whole request.
            let out = send!(log, true, request).map_err(|e| {
                let f = classify_sdk_error(&format!("BatchWriteItem {physical}"), &e);
                BulkLoadError::new(written, f.class, f.message)
            })?;
            pending = out
                .unprocessed_items()
                .and_then(|by_table| by_table.get(&physical))
                .cloned()
                .unwrap_or_default();
            written += sent - pending.len() as u64;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_millis(25));
        assert_eq!(backoff(2), Duration::from_millis(50));
        assert_eq!(backoff(5), Duration::from_millis(400));
        assert_eq!(backoff(8), MAX_BACKOFF);
    }

    #[test]
    fn a_row_is_a_put_of_the_portable_layout() {
        let w = put(&LoadRow {
            key: "user1".into(),
            value: "abc".into(),
        })
        .unwrap();
        let item = w.put_request().unwrap().item();
        assert_eq!(item.get(KEY), Some(&AttributeValue::S("user1".into())));
        assert_eq!(item.get(VALUE), Some(&AttributeValue::S("abc".into())));
        assert_eq!(item.get(VERSION), Some(&AttributeValue::N("1".into())));
        assert_eq!(item.len(), 3);
    }
}
