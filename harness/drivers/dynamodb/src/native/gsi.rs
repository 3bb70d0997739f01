//! Global secondary index checks. `gsi_query`: a Query on an index returns the table's
//! matching items with the index's projection (ALL: every attribute; KEYS_ONLY: the table
//! and index keys only), and ConsistentRead on a GSI is refused. `gsi_propagation_lag`:
//! how long after a PutItem is acknowledged the item first shows in a GSI query (GSIs are
//! updated asynchronously), as a distribution.

use super::table::IndexDef;
use super::{
    clip, error_text, n, s, sdk_error, text, Check, CheckError, CheckResult, Item, TableDef,
};
use assay_core::{Measurement, NativeOutcome};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{ProjectionType, ScalarAttributeType};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const BY_G: &str = "by_g";
const BY_G_KEYS: &str = "by_g_keys";

fn index(name: &'static str, projection: ProjectionType) -> IndexDef {
    IndexDef {
        name,
        hash: ("g", ScalarAttributeType::S),
        range: None,
        projection,
    }
}

/// All items of an index partition (every page).
async fn query_index(
    check: &Check<'_>,
    table: &str,
    index: &str,
    g: &str,
) -> Result<Vec<Item>, CheckError> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    for _ in 0..1_000 {
        let out = check
            .client()
            .query()
            .table_name(table)
            .index_name(index)
            .key_condition_expression("g = :g")
            .expression_attribute_values(":g", s(g))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("Query {table} index {index}"), &e))?;
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(next) if !next.is_empty() => start = Some(next.clone()),
            _ => return Ok(items),
        }
    }
    Err(CheckError::Step(format!(
        "Query {table} index {index} returned more than 1,000 pages"
    )))
}

/// Polls the index until `done` holds for its items, or `max_wait` (or the step's deadline)
/// passes. Returns the last items seen and whether `done` held.
async fn poll_index(
    check: &Check<'_>,
    table: &str,
    index: &str,
    g: &str,
    max_wait: Duration,
    interval: Duration,
    done: impl Fn(&[Item]) -> bool,
) -> Result<(Vec<Item>, bool), CheckError> {
    let started = Instant::now();
    loop {
        let items = query_index(check, table, index, g).await?;
        if done(&items) {
            return Ok((items, true));
        }
        if started.elapsed() >= max_wait || check.past_deadline() {
            return Ok((items, false));
        }
        tokio::time::sleep(interval.min(check.remaining())).await;
    }
}

fn pks(items: &[Item]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|it| text(it, "pk").map(str::to_string))
        .collect()
}

fn attribute_names(item: &Item) -> BTreeSet<&str> {
    item.keys().map(String::as_str).collect()
}

pub(crate) async fn gsi_query(check: &Check<'_>) -> CheckResult {
    let count = check.params.count("items");
    let max_wait = Duration::from_millis(check.params.count("max_wait_ms"));
    let mut def = TableDef::hash_only("pk");
    def.indexes = vec![
        index(BY_G, ProjectionType::All),
        index(BY_G_KEYS, ProjectionType::KeysOnly),
    ];
    let table = check.create_table("gsi", &def).await?;
    for i in 0..count {
        let item: Item = [
            ("pk".to_string(), s(format!("k{i}"))),
            ("g".to_string(), s(if i % 2 == 1 { "odd" } else { "even" })),
            ("payload".to_string(), s(format!("payload-{i}"))),
            ("rank".to_string(), n(i)),
        ]
        .into_iter()
        .collect();
        check
            .client()
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("PutItem {table}"), &e))?;
    }
    let expected: BTreeSet<String> = (0..count)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("k{i}"))
        .collect();
    let interval = Duration::from_millis(20);
    let mut deviations: Vec<String> = Vec::new();
    let mut evidence: Vec<String> = Vec::new();

    // Projection ALL: the matching items with every attribute.
    let started = Instant::now();
    let (items, complete) = poll_index(check, &table, BY_G, "odd", max_wait, interval, |items| {
        pks(items) == expected
    })
    .await?;
    if !complete {
        deviations.push(format!(
            "after {max_wait:?} the ALL index returned {} of the {} matching items",
            pks(&items).intersection(&expected).count(),
            expected.len()
        ));
    } else {
        let full = ["g", "payload", "pk", "rank"];
        let partial = items
            .iter()
            .filter(|it| attribute_names(it) != full.into_iter().collect())
            .count();
        if partial > 0 {
            deviations.push(format!(
                "{partial} item(s) from the ALL index lack attributes (documented: all of {full:?})"
            ));
        }
        evidence.push(format!(
            "ALL index: the {} matching items, attributes {full:?}, complete after {:?}",
            expected.len(),
            started.elapsed()
        ));
    }

    // Projection KEYS_ONLY: only the table's and the index's keys.
    let (items, complete) = poll_index(
        check,
        &table,
        BY_G_KEYS,
        "odd",
        max_wait,
        interval,
        |items| pks(items) == expected,
    )
    .await?;
    if !complete {
        deviations.push(format!(
            "after {max_wait:?} the KEYS_ONLY index returned {} of the {} matching items",
            pks(&items).intersection(&expected).count(),
            expected.len()
        ));
    } else {
        let keys: BTreeSet<&str> = ["g", "pk"].into_iter().collect();
        let extra: BTreeSet<&str> = items
            .iter()
            .flat_map(|it| attribute_names(it).into_iter())
            .filter(|a| !keys.contains(a))
            .collect();
        if extra.is_empty() {
            evidence.push(format!(
                "KEYS_ONLY index: the {} matching items, attributes [\"g\", \"pk\"] only",
                expected.len()
            ));
        } else {
            deviations.push(format!(
                "the KEYS_ONLY index returned non-key attributes {extra:?} (documented: only the table and index keys)"
            ));
        }
    }

    // ConsistentRead on a GSI is refused.
    let answer = check
        .client()
        .query()
        .table_name(&table)
        .index_name(BY_G)
        .key_condition_expression("g = :g")
        .expression_attribute_values(":g", s("odd"))
        .consistent_read(true)
        .send()
        .await;
    match answer {
        Err(err) if err.code() == Some("ValidationException") => evidence.push(format!(
            "Query on the GSI with ConsistentRead=true: refused ({})",
            error_text(&err)
        )),
        Err(err) if err.code().is_some() => deviations.push(format!(
            "Query on the GSI with ConsistentRead=true failed with {} instead of ValidationException",
            error_text(&err)
        )),
        Err(err) => return Err(sdk_error(&format!("Query {table} index {BY_G}"), &err)),
        Ok(_) => deviations.push(
            "Query on the GSI with ConsistentRead=true was accepted (documented: ValidationException, GSIs support eventually consistent reads only)"
                .into(),
        ),
    }

    let observed = if deviations.is_empty() {
        "GSI queries returned exactly the matching items with their projection (ALL: every attribute, KEYS_ONLY: keys only); ConsistentRead on a GSI was refused with ValidationException".to_string()
    } else {
        clip(&deviations.join("; "))
    };
    let mut outcome = NativeOutcome::expect(deviations.is_empty(), observed);
    for line in evidence.into_iter().chain(deviations) {
        outcome = outcome.with_evidence(clip(&line));
    }
    Ok(outcome)
}

pub(crate) async fn propagation_lag(check: &Check<'_>) -> CheckResult {
    let samples = check.params.count("samples");
    let max_wait = Duration::from_millis(check.params.count("max_wait_ms"));
    let interval = Duration::from_millis(check.params.count("poll_interval_ms"));
    let mut def = TableDef::hash_only("pk");
    def.indexes = vec![index(BY_G, ProjectionType::All)];
    let table = check.create_table("gsi_lag", &def).await?;
    let mut lags: Vec<Duration> = Vec::new();
    let mut never: Vec<String> = Vec::new();
    let mut polls = 0u64;
    for i in 0..samples {
        if check.past_deadline() {
            return Err(CheckError::Step(format!(
                "only {i} of {samples} samples ran before the step timeout; raise `timeout` or lower `samples`"
            )));
        }
        let pk = format!("k{i}");
        let g = format!("lag-{i}");
        let item: Item = [("pk".to_string(), s(&pk)), ("g".to_string(), s(&g))]
            .into_iter()
            .collect();
        check
            .client()
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("PutItem {table}"), &e))?;
        let acked = Instant::now();
        loop {
            let items = query_index(check, &table, BY_G, &g).await?;
            polls += 1;
            if items.iter().any(|it| text(it, "pk") == Some(pk.as_str())) {
                lags.push(acked.elapsed());
                break;
            }
            if acked.elapsed() >= max_wait || check.past_deadline() {
                never.push(pk.clone());
                break;
            }
            tokio::time::sleep(interval.min(check.remaining())).await;
        }
    }
    let measurement = Measurement::from_durations("gsi_propagation_lag", &lags);
    let observed = if never.is_empty() {
        format!(
            "{samples} of {samples} items appeared in the GSI after PutItem's ack: lag p50 {} µs, p99 {} µs, max {} µs (polling every {interval:?})",
            measurement.p50_us, measurement.p99_us, measurement.max_us
        )
    } else {
        clip(&format!(
            "{} of {samples} items never appeared in the GSI within {max_wait:?} of PutItem's ack (documented: the index is updated eventually, usually within a second): {}",
            never.len(),
            never.join(", ")
        ))
    };
    Ok(NativeOutcome::expect(never.is_empty(), observed)
        .with_measurement(measurement)
        .with_counter("polls", polls as f64))
}
