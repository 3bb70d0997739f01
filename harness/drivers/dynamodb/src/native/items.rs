//! Item-level checks: a conditional PutItem on an existing key is refused and changes
//! nothing (`conditional_put`), a strongly consistent GetItem sees the write it follows
//! (`consistent_get`), a key-condition Query returns a sort-key range in order
//! (`query_sort_key`), and a filtered Scan returns exactly the matching items, with `Limit`
//! counting items before the filter (`scan_filter`).

use super::{
    clip, error_text, n, s, sdk_error, text, Check, CheckError, CheckResult, Item, TableDef,
};
use assay_core::NativeOutcome;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, ScalarAttributeType};
use std::collections::BTreeSet;

/// At most this many problem lines go into a verdict's evidence.
const MAX_EVIDENCE: usize = 10;

async fn put(check: &Check<'_>, table: &str, item: Item) -> Result<(), CheckError> {
    check
        .client()
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map(drop)
        .map_err(|e| sdk_error(&format!("PutItem {table}"), &e))
}

async fn get_consistent(
    check: &Check<'_>,
    table: &str,
    key: Item,
) -> Result<Option<Item>, CheckError> {
    check
        .client()
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map(|out| out.item)
        .map_err(|e| sdk_error(&format!("GetItem {table}"), &e))
}

fn item(pairs: &[(&str, aws_sdk_dynamodb::types::AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn with_problems(mut outcome: NativeOutcome, problems: Vec<String>) -> NativeOutcome {
    let total = problems.len();
    for line in problems.into_iter().take(MAX_EVIDENCE) {
        outcome = outcome.with_evidence(line);
    }
    if total > MAX_EVIDENCE {
        outcome = outcome.with_evidence(format!("… and {} more", total - MAX_EVIDENCE));
    }
    outcome
}

/// PutItem with `attribute_not_exists(pk)` on keys that exist must fail with
/// ConditionalCheckFailedException and leave the items as they were. With
/// `return_values_on_failure = true` the exception must also carry the item (ALL_OLD).
pub(crate) async fn conditional_put(check: &Check<'_>) -> CheckResult {
    let keys = check.params.count("keys");
    let return_old = check.params.flag("return_values_on_failure");
    let table = check
        .create_table("conditional", &TableDef::hash_only("pk"))
        .await?;
    let mut problems: Vec<String> = Vec::new();
    let mut missing_old_item = 0u64;
    for i in 0..keys {
        let key = format!("k{i}");
        let original = format!("original-{i}");
        put(check, &table, item(&[("pk", s(&key)), ("v", s(&original))])).await?;
        let mut request = check
            .client()
            .put_item()
            .table_name(&table)
            .set_item(Some(item(&[
                ("pk", s(&key)),
                ("v", s(format!("overwritten-{i}"))),
            ])))
            .condition_expression("attribute_not_exists(pk)");
        if return_old {
            request = request.return_values_on_condition_check_failure(
                ReturnValuesOnConditionCheckFailure::AllOld,
            );
        }
        match request.send().await {
            Ok(_) => problems.push(format!("{key}: the conditional PutItem succeeded")),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) if return_old => {
                    match e.item() {
                        None => missing_old_item += 1,
                        Some(old) if text(old, "v") == Some(original.as_str()) => {}
                        Some(old) => problems.push(format!(
                            "{key}: the exception carried v = {:?}, not {original:?}",
                            text(old, "v")
                        )),
                    }
                }
                Some(PutItemError::ConditionalCheckFailedException(_)) => {}
                Some(_) => problems.push(format!(
                    "{key}: the conditional PutItem failed with {} instead of ConditionalCheckFailedException",
                    error_text(&err)
                )),
                None => return Err(sdk_error(&format!("PutItem {table}"), &err)),
            },
        }
        let now = get_consistent(check, &table, item(&[("pk", s(&key))])).await?;
        let value = now
            .as_ref()
            .and_then(|it| text(it, "v").map(str::to_string));
        if value.as_deref() != Some(original.as_str()) {
            problems.push(format!(
                "{key}: after the refused PutItem the item's v is {value:?}, not {original:?}"
            ));
        }
    }
    if missing_old_item > 0 {
        problems.push(format!(
            "{missing_old_item} of {keys} ConditionalCheckFailedExceptions carried no Item although ReturnValuesOnConditionCheckFailure=ALL_OLD was sent"
        ));
    }
    let what = if return_old {
        "ConditionalCheckFailedException carrying the old item"
    } else {
        "ConditionalCheckFailedException"
    };
    let observed = match problems.as_slice() {
        [] => format!(
            "{keys} of {keys} PutItems with attribute_not_exists on existing keys were refused with {what}; every item unchanged"
        ),
        [only] => clip(&format!(
            "{only} (documented: a PutItem whose condition fails is refused with {what}, the item unchanged)"
        )),
        [first, ..] => clip(&format!(
            "{} problems in {keys} conditional PutItems on existing keys, first: {first} (documented: a PutItem whose condition fails is refused with {what}, the item unchanged)",
            problems.len()
        )),
    };
    Ok(with_problems(
        NativeOutcome::expect(problems.is_empty(), observed),
        problems,
    ))
}

/// `writes` PutItems over `keys` keys (inserts, then overwrites), each followed at once by a
/// GetItem with ConsistentRead=true, which must return the value just written.
pub(crate) async fn consistent_get(check: &Check<'_>) -> CheckResult {
    let writes = check.params.count("writes");
    let keys = check.params.count("keys").min(writes);
    let table = check
        .create_table("consistent", &TableDef::hash_only("pk"))
        .await?;
    let mut stale: Vec<String> = Vec::new();
    let mut done = 0u64;
    for i in 0..writes {
        if check.past_deadline() {
            break;
        }
        let key = format!("k{}", i % keys);
        let value = format!("v{i}");
        put(check, &table, item(&[("pk", s(&key)), ("v", s(&value))])).await?;
        let seen = get_consistent(check, &table, item(&[("pk", s(&key))])).await?;
        let seen = seen
            .as_ref()
            .and_then(|it| text(it, "v").map(str::to_string));
        if seen.as_deref() != Some(value.as_str()) {
            stale.push(format!(
                "write #{i} of {key} = {value}: the read returned {seen:?}"
            ));
        }
        done += 1;
    }
    if done < writes {
        return Err(CheckError::Step(format!(
            "only {done} of {writes} write+read rounds ran before the step timeout; raise `timeout` or lower `writes`"
        )));
    }
    let observed = if stale.is_empty() {
        format!("{writes} of {writes} strongly consistent GetItems right after PutItem returned the value just written")
    } else {
        format!(
            "{} of {writes} strongly consistent GetItems right after PutItem did not return the value just written (documented: always the latest acknowledged write)",
            stale.len()
        )
    };
    Ok(with_problems(
        NativeOutcome::expect(stale.is_empty(), observed)
            .with_counter("stale_reads", stale.len() as f64),
        stale,
    ))
}

/// A sort-key value of the `query_sort_key` table, in the attribute's own text form.
#[derive(Clone, Debug, PartialEq)]
enum SortValue {
    Number { text: String, value: f64 },
    Text(String),
}

impl SortValue {
    fn text(&self) -> &str {
        match self {
            SortValue::Number { text, .. } | SortValue::Text(text) => text,
        }
    }

    /// DynamoDB orders numbers by value and strings by their UTF-8 bytes.
    fn cmp(&self, other: &SortValue) -> std::cmp::Ordering {
        match (self, other) {
            (SortValue::Number { value: a, .. }, SortValue::Number { value: b, .. }) => {
                a.total_cmp(b)
            }
            (a, b) => a.text().as_bytes().cmp(b.text().as_bytes()),
        }
    }
}

/// The `i`th of `count` sort keys: numbers from negative to positive in steps of 1.5 (so
/// sign and fraction matter), or decimal strings without padding (so "10" sorts before "2").
fn sort_value(numeric: bool, i: u64, count: u64) -> SortValue {
    if numeric {
        let tenths = (i as i64 - (count / 2) as i64) * 15;
        let magnitude = tenths.unsigned_abs();
        let sign = if tenths < 0 { "-" } else { "" };
        let text = if magnitude % 10 == 0 {
            format!("{sign}{}", magnitude / 10)
        } else {
            format!("{sign}{}.{}", magnitude / 10, magnitude % 10)
        };
        SortValue::Number {
            text,
            value: tenths as f64 / 10.0,
        }
    } else {
        SortValue::Text(i.to_string())
    }
}

fn parse_bound(numeric: bool, raw: &str) -> Result<SortValue, CheckError> {
    if numeric {
        raw.parse::<f64>()
            .map(|value| SortValue::Number {
                text: raw.to_string(),
                value,
            })
            .map_err(|_| {
                CheckError::Step(format!(
                    "params.between: `{raw}` is not a number; give numbers as strings, e.g. [\"-3\", \"7.5\"]"
                ))
            })
    } else {
        Ok(SortValue::Text(raw.to_string()))
    }
}

/// One partition `p` (and a decoy partition `q`) with `items` sort keys; `Query` with
/// `pk = :p AND sk BETWEEN :a AND :b`, paginated by `page_size`, forward and backward.
pub(crate) async fn query_sort_key(check: &Check<'_>) -> CheckResult {
    let numeric = match check.params.text("sort_key").unwrap_or_default() {
        "N" => true,
        "S" => false,
        other => {
            return Err(CheckError::Step(format!(
                "params.sort_key = \"{other}\": use \"N\" (number) or \"S\" (string)"
            )))
        }
    };
    let count = check.params.count("items");
    let page_size = check.params.count("page_size") as i32;
    let between = check.params.list("between");
    let [low, high] = between.as_slice() else {
        return Err(CheckError::Step(
            "params.between must be two strings, the low and high sort key, e.g. [\"-3\", \"7.5\"]"
                .into(),
        ));
    };
    let (low, high) = (parse_bound(numeric, low)?, parse_bound(numeric, high)?);
    let kind = if numeric {
        ScalarAttributeType::N
    } else {
        ScalarAttributeType::S
    };
    let mut def = TableDef::hash_only("pk");
    def.range = Some(("sk", kind));
    let table = check.create_table("sort_key", &def).await?;
    let sk = |v: &SortValue| if numeric { n(v.text()) } else { s(v.text()) };
    let values: Vec<SortValue> = (0..count).map(|i| sort_value(numeric, i, count)).collect();
    for partition in ["p", "q"] {
        for v in &values {
            put(check, &table, item(&[("pk", s(partition)), ("sk", sk(v))])).await?;
        }
    }
    let mut expected: Vec<&SortValue> = values
        .iter()
        .filter(|v| v.cmp(&low).is_ge() && v.cmp(&high).is_le())
        .collect();
    expected.sort_by(|a, b| a.cmp(b));
    let expected: Vec<&str> = expected.iter().map(|v| v.text()).collect();

    let mut problems = Vec::new();
    let mut pages_total = 0usize;
    for forward in [true, false] {
        let mut got: Vec<String> = Vec::new();
        let mut start: Option<Item> = None;
        let mut pages = 0usize;
        loop {
            if pages > count as usize + 2 || check.past_deadline() {
                return Err(CheckError::Step(format!(
                    "Query {table} did not finish paging ({pages} pages) before the step timeout or the page bound"
                )));
            }
            let out = check
                .client()
                .query()
                .table_name(&table)
                .key_condition_expression("pk = :p AND sk BETWEEN :a AND :b")
                .expression_attribute_values(":p", s("p"))
                .expression_attribute_values(":a", sk(&low))
                .expression_attribute_values(":b", sk(&high))
                .scan_index_forward(forward)
                .consistent_read(true)
                .limit(page_size)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("Query {table}"), &e))?;
            pages += 1;
            for it in out.items() {
                if text(it, "pk") != Some("p") {
                    problems.push(format!(
                        "an item of partition {:?} came back",
                        text(it, "pk")
                    ));
                }
                got.push(text(it, "sk").unwrap_or("<no sk>").to_string());
            }
            match out.last_evaluated_key() {
                Some(next) if !next.is_empty() => start = Some(next.clone()),
                _ => break,
            }
        }
        pages_total += pages;
        let mut want: Vec<&str> = expected.clone();
        if !forward {
            want.reverse();
        }
        if got != want {
            problems.push(clip(&format!(
                "ScanIndexForward={forward}: got [{}], documented [{}]",
                got.join(", "),
                want.join(", ")
            )));
        }
    }
    let range = format!(
        "sk ({}) BETWEEN {} AND {}",
        if numeric { "N" } else { "S" },
        low.text(),
        high.text()
    );
    let observed = if problems.is_empty() {
        clip(&format!(
            "Query {range} returned exactly [{}] in sort order, and reversed with ScanIndexForward=false ({pages_total} pages of ≤{page_size})",
            expected.join(", ")
        ))
    } else {
        clip(&format!(
            "Query {range} did not return exactly the range in sort order: {}",
            problems[0]
        ))
    };
    Ok(with_problems(
        NativeOutcome::expect(problems.is_empty(), observed),
        problems,
    ))
}

/// `items` items with a number `n`; a consistent Scan with `Limit = limit` and a filter on
/// `n`, paged to the end, must return exactly the matching items, each page having
/// evaluated `Limit` items before the filter (the last page may evaluate fewer).
pub(crate) async fn scan_filter(check: &Check<'_>) -> CheckResult {
    let count = check.params.count("items");
    let limit = check.params.count("limit") as i32;
    let (low, high) = (count / 4, count * 3 / 4);
    let table = check
        .create_table("scan", &TableDef::hash_only("pk"))
        .await?;
    for i in 0..count {
        put(
            check,
            &table,
            item(&[("pk", s(format!("k{i}"))), ("n", n(i))]),
        )
        .await?;
    }
    let expected: BTreeSet<String> = (low..high).map(|i| format!("k{i}")).collect();
    let mut found: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut start: Option<Item> = None;
    let mut scanned_total = 0i64;
    let mut pages = 0usize;
    let mut limit_before_filter_seen = false;
    loop {
        if pages > count as usize + 2 || check.past_deadline() {
            return Err(CheckError::Step(format!(
                "Scan {table} did not finish paging ({pages} pages) before the step timeout or the page bound"
            )));
        }
        let out = check
            .client()
            .scan()
            .table_name(&table)
            .filter_expression("#n >= :lo AND #n < :hi")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":lo", n(low))
            .expression_attribute_values(":hi", n(high))
            .consistent_read(true)
            .limit(limit)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| sdk_error(&format!("Scan {table}"), &e))?;
        pages += 1;
        let returned = out.items().len() as i64;
        let scanned = i64::from(out.scanned_count());
        scanned_total += scanned;
        if i64::from(out.count()) != returned {
            problems.push(format!(
                "page {pages}: Count {} but {returned} items",
                out.count()
            ));
        }
        if scanned > i64::from(limit) {
            problems.push(format!(
                "page {pages}: ScannedCount {scanned} exceeds Limit {limit} (documented: Limit caps the items evaluated before the filter)"
            ));
        }
        if scanned == i64::from(limit) && returned < scanned {
            limit_before_filter_seen = true;
        }
        found.extend(
            out.items()
                .iter()
                .filter_map(|it| text(it, "pk").map(str::to_string)),
        );
        match out.last_evaluated_key() {
            Some(next) if !next.is_empty() => {
                if scanned < i64::from(limit) {
                    problems.push(format!(
                        "page {pages}: ScannedCount {scanned} below Limit {limit} on a page that is not the last"
                    ));
                }
                start = Some(next.clone());
            }
            _ => break,
        }
    }
    let found_set: BTreeSet<String> = found.iter().cloned().collect();
    if found_set.len() != found.len() {
        problems.push(format!(
            "{} item(s) came back twice",
            found.len() - found_set.len()
        ));
    }
    let missing: Vec<&String> = expected.difference(&found_set).collect();
    let extra: Vec<&String> = found_set.difference(&expected).collect();
    if !missing.is_empty() {
        problems.push(clip(&format!("matching items not returned: {missing:?}")));
    }
    if !extra.is_empty() {
        problems.push(clip(&format!("non-matching items returned: {extra:?}")));
    }
    if scanned_total != count as i64 {
        problems.push(format!(
            "the pages evaluated {scanned_total} items in all, not the table's {count}"
        ));
    }
    let filter = format!("n >= {low} AND n < {high}");
    let observed = if problems.is_empty() {
        format!(
            "Scan with FilterExpression {filter} and Limit {limit} returned exactly the {} matching items of {count} over {pages} pages; each page evaluated Limit items before the filter",
            expected.len()
        )
    } else {
        clip(&format!(
            "Scan with FilterExpression {filter} and Limit {limit}: {} (documented: exactly the matching items; Limit counts items evaluated before the filter)",
            problems[0]
        ))
    };
    let outcome = NativeOutcome::expect(problems.is_empty(), observed)
        .with_counter("pages", pages as f64)
        .with_counter("scanned", scanned_total as f64)
        .with_evidence(format!(
            "a page with ScannedCount = Limit and fewer items returned was seen: {limit_before_filter_seen}"
        ));
    Ok(with_problems(outcome, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_sort_keys_cross_zero_in_steps_of_one_and_a_half() {
        let texts: Vec<String> = (0..5)
            .map(|i| sort_value(true, i, 4).text().to_string())
            .collect();
        assert_eq!(texts, ["-3", "-1.5", "0", "1.5", "3"]);
    }

    #[test]
    fn strings_sort_by_bytes_and_numbers_by_value() {
        let ten = sort_value(false, 10, 20);
        let two = sort_value(false, 2, 20);
        assert!(ten.cmp(&two).is_lt());
        let a = parse_bound(true, "-13.5").unwrap();
        let b = parse_bound(true, "-3").unwrap();
        assert!(a.cmp(&b).is_lt());
        assert!(parse_bound(true, "x").is_err());
    }
}
