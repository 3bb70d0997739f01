//! What runs left behind (`Driver::leftovers` / `remove_leftover`): a run's containers all
//! live in its database (a native check's in `<namespace>_native_<check>`), so a leftover
//! is a database. Its age comes from the database's `_ts`, which Cosmos DB sets when the
//! database is created and changes only when the database resource itself is replaced
//! (adding containers does not).

use crate::connection::{bounded, CosmosDriver};
use assay_core::cleanup::{check_removable, is_leftover_name};
use assay_core::{DriverError, Leftover, LeftoverKind};
use futures::TryStreamExt;
use std::time::{Duration, Instant};

/// Upper bound on listing the databases, and on removing one.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(60);

pub(crate) async fn leftovers(
    driver: &CosmosDriver,
    prefix: &str,
) -> Result<Vec<Leftover>, DriverError> {
    let query = azure_data_cosmos::Query::from("SELECT * FROM root r WHERE STARTSWITH(r.id, @p)")
        .with_parameter("@p", prefix)
        .map_err(|e| DriverError::backend(format!("cosmos query could not be built: {e}")))?;
    let deadline = Instant::now() + CLEANUP_DEADLINE;
    let listing = async {
        driver
            .client
            .query_databases(query, None)
            .await?
            .try_collect::<Vec<azure_data_cosmos::models::DatabaseProperties>>()
            .await
    };
    let databases = bounded(deadline, listing)
        .await?
        .map_err(|e| driver.setup_error("list databases", &e))?;
    let mut found: Vec<Leftover> = databases
        .into_iter()
        .filter_map(|d| {
            let name = d.id?;
            is_leftover_name(&name, prefix).then(|| {
                let created = d
                    .system_properties
                    .last_modified
                    .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
                    .map(|s| s * 1000);
                Leftover::new(name, LeftoverKind::Database, created)
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Deletes the database with its containers; gone already is fine.
pub(crate) async fn remove(driver: &CosmosDriver, leftover: &Leftover) -> Result<(), DriverError> {
    check_removable(leftover).map_err(DriverError::config)?;
    if leftover.kind != LeftoverKind::Database {
        return Err(DriverError::config(format!(
            "`{}` is a {}; the cosmos driver leaves only databases behind",
            leftover.name, leftover.kind
        )));
    }
    driver
        .drop_database(&leftover.name, Instant::now() + CLEANUP_DEADLINE)
        .await
}
