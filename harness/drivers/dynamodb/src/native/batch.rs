//! The `batch_limits` check, for one API at a time (`params.api`): BatchWriteItem takes at
//! most 25 requests and BatchGetItem at most 100 keys. A request over the limit is refused
//! with ValidationException (nothing applied); one at the limit succeeds once its
//! UnprocessedItems / UnprocessedKeys are re-sent (bounded, counted).

use super::{clip, error_text, s, sdk_error, text, Check, CheckError, CheckResult, Item, TableDef};
use assay_core::NativeOutcome;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Re-sending unprocessed items or keys: at most this many rounds, backing off from 50 ms
/// to 1 s as the documentation advises.
const MAX_ROUNDS: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

fn key(pk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk))])
}

fn puts(keys: &[String]) -> Result<Vec<WriteRequest>, CheckError> {
    keys.iter()
        .map(|k| {
            let mut item = key(k);
            item.insert("v".into(), s(format!("value of {k}")));
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|p| WriteRequest::builder().put_request(p).build())
                .map_err(|e| CheckError::Step(format!("BatchWriteItem request not built: {e}")))
        })
        .collect()
}

fn keys_and_attributes(keys: Vec<Item>) -> Result<KeysAndAttributes, CheckError> {
    KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .consistent_read(true)
        .build()
        .map_err(|e| CheckError::Step(format!("BatchGetItem request not built: {e}")))
}

/// Writes `keys` with BatchWriteItem, re-sending UnprocessedItems; returns the re-sends.
async fn write_all(check: &Check<'_>, table: &str, keys: &[String]) -> Result<u32, CheckError> {
    let mut pending = puts(keys)?;
    let mut backoff = FIRST_BACKOFF;
    for round in 0..MAX_ROUNDS {
        let out = check
            .client()
            .batch_write_item()
            .request_items(table, pending)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("BatchWriteItem {table}"), &e))?;
        pending = out
            .unprocessed_items()
            .and_then(|u| u.get(table))
            .cloned()
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok(round);
        }
        tokio::time::sleep(backoff.min(check.remaining())).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Err(CheckError::Step(format!(
        "BatchWriteItem {table}: {} item(s) still unprocessed after {MAX_ROUNDS} rounds",
        pending.len()
    )))
}

/// Reads `keys` (at most 100) with BatchGetItem, re-sending UnprocessedKeys; returns the
/// keys found and the re-sends.
async fn read_all(
    check: &Check<'_>,
    table: &str,
    keys: &[String],
) -> Result<(BTreeSet<String>, u32), CheckError> {
    let mut pending: Vec<Item> = keys.iter().map(|k| key(k)).collect();
    let mut found = BTreeSet::new();
    let mut backoff = FIRST_BACKOFF;
    for round in 0..MAX_ROUNDS {
        let out = check
            .client()
            .batch_get_item()
            .request_items(table, keys_and_attributes(pending)?)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("BatchGetItem {table}"), &e))?;
        if let Some(items) = out.responses().and_then(|r| r.get(table)) {
            found.extend(
                items
                    .iter()
                    .filter_map(|it| text(it, "pk").map(str::to_string)),
            );
        }
        pending = out
            .unprocessed_keys()
            .and_then(|u| u.get(table))
            .map(|k| k.keys().to_vec())
            .unwrap_or_default();
        if pending.is_empty() {
            return Ok((found, round));
        }
        tokio::time::sleep(backoff.min(check.remaining())).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Err(CheckError::Step(format!(
        "BatchGetItem {table}: {} key(s) still unprocessed after {MAX_ROUNDS} rounds",
        pending.len()
    )))
}

/// Which batch API a `batch_limits` step checks, with its documented limit.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    Write,
    Get,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Api::Write => "BatchWriteItem",
            Api::Get => "BatchGetItem",
        }
    }

    fn limit(self) -> usize {
        match self {
            Api::Write => 25,
            Api::Get => 100,
        }
    }
}

/// Sends one request of `limit + 1` entries; `Ok(Some(line))` is a deviation.
async fn over_limit(
    check: &Check<'_>,
    table: &str,
    api: Api,
    evidence: &mut Vec<String>,
) -> Result<Option<String>, CheckError> {
    let count = api.limit() + 1;
    let keys: Vec<String> = (0..count).map(|i| format!("over-{i}")).collect();
    let answer = match api {
        Api::Write => check
            .client()
            .batch_write_item()
            .request_items(table, puts(&keys)?)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                (
                    e.code().map(str::to_string),
                    error_text(&e),
                    sdk_error(&format!("{} {table}", api.name()), &e),
                )
            }),
        Api::Get => check
            .client()
            .batch_get_item()
            .request_items(
                table,
                keys_and_attributes(keys.iter().map(|k| key(k)).collect())?,
            )
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                (
                    e.code().map(str::to_string),
                    error_text(&e),
                    sdk_error(&format!("{} {table}", api.name()), &e),
                )
            }),
    };
    let what = format!(
        "{} with {count} {}",
        api.name(),
        if api == Api::Write { "items" } else { "keys" }
    );
    match answer {
        Err((Some(code), text, _)) if code == "ValidationException" => {
            if api == Api::Write {
                // BatchGetItem takes at most 100 keys, so this read stays within its limit.
                let (written, _) = read_all(check, table, &keys).await?;
                if !written.is_empty() {
                    return Ok(Some(format!(
                        "{what} was refused but {} of them were written",
                        written.len()
                    )));
                }
                evidence.push(clip(&format!("{what}: refused, nothing written ({text})")));
            } else {
                evidence.push(clip(&format!("{what}: refused ({text})")));
            }
            Ok(None)
        }
        Err((Some(_), text, _)) => Ok(Some(format!(
            "{what} failed with {text} instead of ValidationException"
        ))),
        Err((None, _, error)) => Err(error),
        Ok(()) if api == Api::Write => {
            let (written, _) = read_all(check, table, &keys).await?;
            Ok(Some(format!(
                "{what} was accepted ({} of them written) instead of refused with ValidationException",
                written.len()
            )))
        }
        Ok(()) => Ok(Some(format!(
            "{what} was accepted instead of refused with ValidationException"
        ))),
    }
}

pub(crate) async fn batch_limits(check: &Check<'_>) -> CheckResult {
    let api = match check.params.text("api").unwrap_or_default() {
        "BatchWriteItem" => Api::Write,
        "BatchGetItem" => Api::Get,
        other => {
            return Err(CheckError::Step(format!(
                "params.api = \"{other}\": use \"BatchWriteItem\" or \"BatchGetItem\""
            )))
        }
    };
    let table = check
        .create_table("batch", &TableDef::hash_only("pk"))
        .await?;
    let mut evidence: Vec<String> = Vec::new();
    let mut deviations: Vec<String> = Vec::new();
    deviations.extend(over_limit(check, &table, api, &mut evidence).await?);

    // At the limit: must go through, after re-sending what came back unprocessed.
    let full: Vec<String> = (0..api.limit()).map(|i| format!("ok-{i}")).collect();
    let mut write_rounds = 0;
    for chunk in full.chunks(Api::Write.limit()) {
        write_rounds += write_all(check, &table, chunk).await?;
    }
    let (read_back, read_rounds) = read_all(check, &table, &full).await?;
    let (rounds, unprocessed) = match api {
        Api::Write => (write_rounds, "UnprocessedItems"),
        Api::Get => (read_rounds, "UnprocessedKeys"),
    };
    if read_back.len() == full.len() {
        evidence.push(format!(
            "{} with {} entries: all {} items processed ({rounds} {unprocessed} re-send round(s))",
            api.name(),
            api.limit(),
            full.len()
        ));
    } else {
        deviations.push(format!(
            "{} with {} entries: only {} of {} items came through",
            api.name(),
            api.limit(),
            read_back.len(),
            full.len()
        ));
    }

    let observed = if deviations.is_empty() {
        format!(
            "{} with {} entries was refused with ValidationException; {} entries went through",
            api.name(),
            api.limit() + 1,
            api.limit()
        )
    } else {
        clip(&format!(
            "{} (documented: at most {} entries per {}, more is a ValidationException)",
            deviations.join("; "),
            api.limit(),
            api.name()
        ))
    };
    let mut outcome = NativeOutcome::expect(deviations.is_empty(), observed)
        .with_counter("unprocessed_rounds", f64::from(rounds));
    for line in evidence.into_iter().chain(deviations) {
        outcome = outcome.with_evidence(clip(&line));
    }
    Ok(outcome)
}
