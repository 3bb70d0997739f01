//! The run's tables: creating them under the namespace (hash key `k`, on-demand capacity),
//! waiting until they are ACTIVE, and deleting exactly the ones this driver created.

use crate::classify::classify_sdk_error;
use crate::item::KEY;
use crate::DynamodbDriver;
use assay_core::scenario::TableSpec;
use assay_core::{DriverError, ErrorClass, Outcome};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use std::time::{Duration, Instant};

/// AWS usually needs seconds to create or delete an on-demand table, dynalite 500 ms by
/// default, moto none; two minutes leaves room for a busy account without hanging a run.
const TABLE_STATE_WAIT: Duration = Duration::from_secs(120);
const FIRST_POLL: Duration = Duration::from_millis(50);
const MAX_POLL: Duration = Duration::from_secs(1);
/// ListTables pages are at most 100 names.
const MAX_LIST_PAGES: usize = 1_000;

/// A control-plane failure as a `DriverError`: unreachable backends are `unavailable`,
/// requests the backend refused as invalid are `config`, the rest `backend`.
pub(crate) fn driver_error<E>(
    driver: &DynamodbDriver,
    what: &str,
    err: &SdkError<E, HttpResponse>,
) -> DriverError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = classify_sdk_error(what, err);
    let message = format!("{} (endpoint {})", failure.message, driver.address);
    match failure.class {
        ErrorClass::Unavailable | ErrorClass::Timeout | ErrorClass::ConnectionLost => {
            DriverError::unavailable(message)
        }
        ErrorClass::InvalidRequest => DriverError::config(message),
        _ if failure.outcome == Outcome::Indeterminate => DriverError::unavailable(message),
        _ => DriverError::backend(message),
    }
}

/// DynamoDB's table-name rule; checked here so a bad scenario table name is reported with
/// the fix instead of as a ValidationException.
fn check_table_name(name: &str) -> Result<(), DriverError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid_chars && (3..=255).contains(&name.len()) {
        Ok(())
    } else {
        Err(DriverError::config(format!(
            "table name `{name}` is not a valid DynamoDB table name (3-255 characters of a-z A-Z 0-9 _ - .); rename the scenario's table"
        )))
    }
}

pub(crate) async fn setup(
    driver: &DynamodbDriver,
    tables: &[TableSpec],
) -> Result<(), DriverError> {
    let mut names: Vec<String> = Vec::new();
    for table in tables {
        let name = driver.config.physical_table(&table.name);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in &names {
        check_table_name(name)?;
    }
    for name in &names {
        // Setting up again (e.g. a retried setup) keeps what this driver already made.
        if driver.created_tables().contains(name) {
            continue;
        }
        create_table(driver, name).await?;
    }
    for name in &names {
        wait_until_active(driver, name).await?;
    }
    Ok(())
}

async fn create_table(driver: &DynamodbDriver, name: &str) -> Result<(), DriverError> {
    let built = (
        AttributeDefinition::builder()
            .attribute_name(KEY)
            .attribute_type(ScalarAttributeType::S)
            .build(),
        KeySchemaElement::builder()
            .attribute_name(KEY)
            .key_type(KeyType::Hash)
            .build(),
    );
    let (attribute, key) = match built {
        (Ok(a), Ok(k)) => (a, k),
        (Err(e), _) | (_, Err(e)) => {
            return Err(DriverError::backend(format!(
                "CreateTable {name}: request not built: {e}"
            )))
        }
    };
    let answer = driver
        .client
        .create_table()
        .table_name(name)
        .attribute_definitions(attribute)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match answer {
        Ok(_) => {
            driver.created_tables().push(name.to_string());
            Ok(())
        }
        Err(err) if err.code() == Some("ResourceInUseException") => {
            Err(DriverError::backend(format!(
                "table {name} already exists at {}: namespace `{}` is in use by another run or a previous run was not torn down; delete the table or use a new namespace",
                driver.address, driver.config.namespace
            )))
        }
        Err(err) => {
            let error = driver_error(driver, &format!("CreateTable {name}"), &err);
            // The table may exist although the answer was lost: remember it so teardown
            // tries to remove it (a table that is not there is fine for teardown).
            if classify_sdk_error("CreateTable", &err).outcome == Outcome::Indeterminate {
                driver.created_tables().push(name.to_string());
            }
            Err(error)
        }
    }
}

/// Polls `DescribeTable` with a growing interval until `done` says the status is final.
/// `None` from `status` means the table does not exist.
pub(crate) async fn wait_for_table(
    driver: &DynamodbDriver,
    name: &str,
    wanted: &str,
    done: impl Fn(Option<&TableStatus>) -> Result<bool, String>,
) -> Result<(), DriverError> {
    let started = Instant::now();
    let mut interval = FIRST_POLL;
    let mut last_seen = "no answer yet".to_string();
    while started.elapsed() < TABLE_STATE_WAIT {
        let answer = driver.client.describe_table().table_name(name).send().await;
        let status = match &answer {
            Ok(out) => Some(
                out.table()
                    .and_then(|t| t.table_status())
                    .cloned()
                    .unwrap_or(TableStatus::Creating),
            ),
            Err(err) if err.code() == Some("ResourceNotFoundException") => None,
            Err(err) => return Err(driver_error(driver, &format!("DescribeTable {name}"), err)),
        };
        last_seen = status
            .as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "not found".to_string());
        match done(status.as_ref()) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(why) => {
                return Err(DriverError::backend(format!(
                    "table {name} at {}: {why}",
                    driver.address
                )))
            }
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(MAX_POLL);
    }
    Err(DriverError::backend(format!(
        "table {name} at {} is not {wanted} after {}s (last status: {last_seen}); check the backend's table state",
        driver.address,
        TABLE_STATE_WAIT.as_secs()
    )))
}

pub(crate) async fn wait_until_active(
    driver: &DynamodbDriver,
    name: &str,
) -> Result<(), DriverError> {
    wait_for_table(driver, name, "ACTIVE", |status| match status {
        Some(TableStatus::Active) => Ok(true),
        // Right after CreateTable, AWS may not list the table yet.
        None | Some(TableStatus::Creating) | Some(TableStatus::Updating) => Ok(false),
        Some(other) => Err(format!(
            "became {} while waiting for ACTIVE",
            other.as_str()
        )),
    })
    .await
}

pub(crate) async fn teardown(driver: &DynamodbDriver) -> Result<(), DriverError> {
    let tables = driver.created_tables().clone();
    let mut problems: Vec<DriverError> = Vec::new();
    let mut deleted: Vec<String> = Vec::new();
    for name in &tables {
        match delete_table(driver, name).await {
            Ok(()) => deleted.push(name.clone()),
            Err(e) => problems.push(e),
        }
    }
    for name in &deleted {
        match wait_for_table(driver, name, "deleted", |status| Ok(status.is_none())).await {
            Ok(()) => driver.created_tables().retain(|t| t != name),
            Err(e) => problems.push(e),
        }
    }
    let Some(first) = problems.first() else {
        return Ok(());
    };
    // The first problem's kind: an unreachable backend stays `unavailable`.
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    Err(DriverError {
        kind: first.kind,
        message: format!(
            "teardown left {} table(s) behind (run teardown again once fixed): {}",
            problems.len(),
            messages.join("; ")
        ),
    })
}

/// `DeleteTable`, waiting out a table that is still being created or updated (DynamoDB
/// refuses to delete it then). A table that is already gone counts as deleted.
pub(crate) async fn delete_table(driver: &DynamodbDriver, name: &str) -> Result<(), DriverError> {
    let started = Instant::now();
    let mut interval = FIRST_POLL;
    loop {
        let answer = driver.client.delete_table().table_name(name).send().await;
        match answer {
            Ok(_) => return Ok(()),
            Err(err) if err.code() == Some("ResourceNotFoundException") => return Ok(()),
            Err(err)
                if err.code() == Some("ResourceInUseException")
                    && started.elapsed() < TABLE_STATE_WAIT =>
            {
                tokio::time::sleep(interval).await;
                interval = (interval * 2).min(MAX_POLL);
            }
            Err(err) => return Err(driver_error(driver, &format!("DeleteTable {name}"), &err)),
        }
    }
}

pub(crate) async fn list_tables(driver: &DynamodbDriver) -> Result<Vec<String>, DriverError> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let out = driver
            .client
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
            .map_err(|err| driver_error(driver, "ListTables", &err))?;
        names.extend(out.table_names().iter().cloned());
        match out.last_evaluated_table_name() {
            Some(next) => start = Some(next.to_string()),
            None => return Ok(names),
        }
    }
    Err(DriverError::backend(format!(
        "ListTables at {} returned more than {MAX_LIST_PAGES} pages",
        driver.address
    )))
}
