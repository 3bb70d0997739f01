//! The `txn_all_or_nothing` check: a TransactWriteItems whose ConditionCheck fails is
//! cancelled as a whole (TransactionCanceledException with one CancellationReason per item,
//! in request order) and none of its writes is applied.

use super::{clip, error_text, s, sdk_error, text, Check, CheckError, CheckResult, Item, TableDef};
use assay_core::NativeOutcome;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use std::collections::HashMap;

fn key(pk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk))])
}

fn with_value(pk: &str, v: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("v".to_string(), s(v))])
}

fn not_built(e: impl std::fmt::Display) -> CheckError {
    CheckError::Step(format!("TransactWriteItems request not built: {e}"))
}

/// The transaction: (what it does, the item, the reason code documented for it).
fn transaction(table: &str) -> Result<Vec<(String, TransactWriteItem, &'static str)>, CheckError> {
    let put = |pk: &str| -> Result<TransactWriteItem, CheckError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(with_value(pk, "written by the cancelled txn")))
            .build()
            .map_err(not_built)?;
        Ok(TransactWriteItem::builder().put(put).build())
    };
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key("existing")))
        .update_expression("SET v = :after")
        .expression_attribute_values(":after", s("after"))
        .build()
        .map_err(not_built)?;
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key("to_delete")))
        .build()
        .map_err(not_built)?;
    let condition = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key("guard")))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(not_built)?;
    Ok(vec![
        ("Put new_a".into(), put("new_a")?, "None"),
        (
            "Update existing SET v = after".into(),
            TransactWriteItem::builder().update(update).build(),
            "None",
        ),
        (
            "Delete to_delete".into(),
            TransactWriteItem::builder().delete(delete).build(),
            "None",
        ),
        (
            "ConditionCheck guard attribute_not_exists(pk)".into(),
            TransactWriteItem::builder()
                .condition_check(condition)
                .build(),
            "ConditionalCheckFailed",
        ),
        ("Put new_b".into(), put("new_b")?, "None"),
    ])
}

async fn current_value(
    check: &Check<'_>,
    table: &str,
    pk: &str,
) -> Result<Option<String>, CheckError> {
    let out = check
        .client()
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("GetItem {table}"), &e))?;
    Ok(out.item().map(|it| text(it, "v").unwrap_or("").to_string()))
}

pub(crate) async fn all_or_nothing(check: &Check<'_>) -> CheckResult {
    let table = check
        .create_table("txn", &TableDef::hash_only("pk"))
        .await?;
    let before = [
        ("guard", "present"),
        ("existing", "before"),
        ("to_delete", "keep"),
    ];
    for (pk, v) in before {
        check
            .client()
            .put_item()
            .table_name(&table)
            .set_item(Some(with_value(pk, v)))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("PutItem {table}"), &e))?;
    }
    let txn = transaction(&table)?;
    let answer = check
        .client()
        .transact_write_items()
        .set_transact_items(Some(txn.iter().map(|(_, item, _)| item.clone()).collect()))
        .send()
        .await;

    let mut deviations: Vec<String> = Vec::new();
    let mut evidence: Vec<String> = Vec::new();
    match &answer {
        Ok(_) => deviations.push(
            "TransactWriteItems with a failing ConditionCheck succeeded instead of being cancelled"
                .into(),
        ),
        Err(err) => match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                let reasons = e.cancellation_reasons();
                if reasons.len() != txn.len() {
                    deviations.push(format!(
                        "TransactionCanceledException carried {} CancellationReasons for {} items",
                        reasons.len(),
                        txn.len()
                    ));
                }
                for (i, (what, _, documented)) in txn.iter().enumerate() {
                    let reason = reasons.get(i);
                    let code = reason.and_then(|r| r.code()).unwrap_or("<none>");
                    let message = reason.and_then(|r| r.message()).unwrap_or("");
                    evidence.push(clip(format!("#{i} {what}: {code} {message}").trim_end()));
                    if code != *documented {
                        deviations.push(format!(
                            "item #{i} ({what}) has reason {code}, documented {documented}"
                        ));
                    }
                }
            }
            // The backend has no transactions at all: a missing API, not a deviation.
            _ if err.code() == Some("UnknownOperationException") => {
                return Err(sdk_error("TransactWriteItems", err));
            }
            Some(_) => deviations.push(format!(
                "TransactWriteItems failed with {} instead of TransactionCanceledException",
                error_text(err)
            )),
            None => return Err(sdk_error("TransactWriteItems", err)),
        },
    }

    // Whatever the answer, none of the transaction's writes may be visible.
    let expected_after = [
        ("new_a", None),
        ("existing", Some("before")),
        ("to_delete", Some("keep")),
        ("new_b", None),
        ("guard", Some("present")),
    ];
    for (pk, want) in expected_after {
        let got = current_value(check, &table, pk).await?;
        if got.as_deref() != want {
            deviations.push(format!(
                "after the cancelled transaction {pk} is {got:?}, documented {want:?} (a write of the transaction was applied)"
            ));
        }
    }
    let observed = if deviations.is_empty() {
        format!(
            "TransactWriteItems of {} items with a failing ConditionCheck: TransactionCanceledException, reasons in item order, no item applied",
            txn.len()
        )
    } else {
        clip(&format!(
            "{} (documented: TransactionCanceledException, one reason per item, nothing applied)",
            deviations.join("; ")
        ))
    };
    let mut outcome = NativeOutcome::expect(deviations.is_empty(), observed);
    for line in evidence {
        outcome = outcome.with_evidence(line);
    }
    Ok(outcome)
}
