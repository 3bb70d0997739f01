//! What runs left behind (`Driver::leftovers` / `remove_leftover`): tables named
//! `<namespace>_<table>` (also native checks' `<namespace>_native_…`), each with the
//! `CreationDateTime` DescribeTable reports.

use crate::schema::{delete_table, list_tables, wait_for_table};
use crate::DynamodbDriver;
use assay_core::cleanup::{check_removable, is_leftover_name};
use assay_core::{DriverError, Leftover, LeftoverKind};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

pub(crate) async fn leftovers(
    driver: &DynamodbDriver,
    prefix: &str,
) -> Result<Vec<Leftover>, DriverError> {
    let mut found = Vec::new();
    for name in list_tables(driver).await? {
        if !is_leftover_name(&name, prefix) {
            continue;
        }
        let answer = driver
            .client
            .describe_table()
            .table_name(&name)
            .send()
            .await;
        let created = match answer {
            Ok(out) => out
                .table()
                .and_then(|t| t.creation_date_time())
                .and_then(|t| t.to_millis().ok())
                .and_then(|ms| u64::try_from(ms).ok()),
            // Deleted between the listing and now: nothing left to clean.
            Err(err) if err.code() == Some("ResourceNotFoundException") => continue,
            Err(err) => {
                return Err(crate::schema::driver_error(
                    driver,
                    &format!("DescribeTable {name}"),
                    &err,
                ))
            }
        };
        found.push(Leftover::new(name, LeftoverKind::Table, created));
    }
    Ok(found)
}

/// `DeleteTable`, then waits (bounded) until the table is gone.
pub(crate) async fn remove(
    driver: &DynamodbDriver,
    leftover: &Leftover,
) -> Result<(), DriverError> {
    check_removable(leftover).map_err(DriverError::config)?;
    if leftover.kind != LeftoverKind::Table {
        return Err(DriverError::config(format!(
            "`{}` is a {}; the dynamodb driver leaves only tables behind",
            leftover.name, leftover.kind
        )));
    }
    delete_table(driver, &leftover.name).await?;
    wait_for_table(driver, &leftover.name, "deleted", |status| {
        Ok(status.is_none())
    })
    .await
}
