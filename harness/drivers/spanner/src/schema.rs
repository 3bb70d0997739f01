//! Tables of a run: physical naming, creating them in `setup` and dropping exactly those in
//! `teardown` through `UpdateDatabaseDdl`, each long-running operation awaited with a bound;
//! also dropping what native steps created (`drop_native_objects`).

use crate::classify::{describe, one_line};
use crate::connection::{SpannerDriver, ADMIN_RPC_TIMEOUT};
use crate::layout;
use crate::objects::NativeObject;
use crate::options::{commit_options, no_retry, query_options};
use assay_core::scenario::TableSpec;
use assay_core::DriverError;
use gcloud_gax::grpc::Code;
use gcloud_gax::retry::RetrySetting;
use gcloud_googleapis::spanner::admin::database::v1::UpdateDatabaseDdlRequest;
use gcloud_spanner::statement::Statement;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Upper bound on one schema change, from submission until its operation is done. The
/// emulator applies DDL in well under a second; Google Cloud can take tens of seconds.
const DDL_WAIT: Duration = Duration::from_secs(120);

/// Spanner's limit on table name length.
const MAX_TABLE_NAME: usize = 128;

/// `<namespace>_<logical>`, or why a scenario's table name cannot be a Spanner table.
pub(crate) fn physical_table(driver: &SpannerDriver, logical: &str) -> Result<String, String> {
    let valid_chars = !logical.is_empty()
        && logical
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    let physical = driver.config.physical_table(logical);
    if !valid_chars || physical.len() > MAX_TABLE_NAME {
        return Err(format!(
            "table name `{logical}` cannot be a Spanner table: use 1 to {} letters, digits or `_`",
            MAX_TABLE_NAME - driver.config.namespace.len() - 1
        ));
    }
    Ok(physical)
}

pub(crate) async fn setup(driver: &SpannerDriver, tables: &[TableSpec]) -> Result<(), DriverError> {
    let mut wanted = BTreeSet::new();
    for t in tables {
        wanted.insert(physical_table(driver, &t.name).map_err(DriverError::config)?);
    }
    if wanted.is_empty() {
        return Ok(());
    }
    // Spanner table names are case-insensitive.
    let existing: BTreeSet<String> = list_tables(driver)
        .await?
        .into_iter()
        .map(|t| t.to_ascii_lowercase())
        .collect();
    // Never adopt a table this run did not create: teardown would drop someone else's data.
    if let Some(clash) = wanted
        .iter()
        .find(|t| existing.contains(&t.to_ascii_lowercase()))
    {
        return Err(DriverError::config(format!(
            "table `{clash}` already exists in {}: another run uses namespace `{}` or an earlier \
             run was not torn down; drop the table or pick another namespace",
            driver.database, driver.config.namespace
        )));
    }
    // Recorded before the DDL is sent, so teardown after a failed or timed-out setup
    // still finds whichever of them came into existence.
    driver.created.lock().await.extend(wanted.iter().cloned());
    let statements = wanted.iter().map(|t| layout::create_table_ddl(t)).collect();
    update_ddl(driver, statements, "create the run's tables").await
}

pub(crate) async fn teardown(driver: &SpannerDriver) -> Result<(), DriverError> {
    // What a native step could not drop itself (it died half-way or its cleanup failed).
    let leftovers = driver.native_objects.lock().await.clone();
    if !leftovers.is_empty() {
        drop_native_objects(driver, &leftovers).await?;
    }
    let mut created = driver.created.lock().await;
    if created.is_empty() {
        return Ok(());
    }
    let existing: BTreeSet<String> = list_tables(driver).await?.into_iter().collect();
    let to_drop: Vec<String> = created.intersection(&existing).cloned().collect();
    if !to_drop.is_empty() {
        let statements = to_drop.iter().map(|t| layout::drop_table_ddl(t)).collect();
        update_ddl(driver, statements, "drop the run's tables").await?;
    }
    created.clear();
    Ok(())
}

pub(crate) async fn list_tables(driver: &SpannerDriver) -> Result<Vec<String>, DriverError> {
    query_names(
        driver,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_catalog = '' AND table_schema = '' ORDER BY table_name",
        "tables",
    )
    .await
}

/// Every user table and secondary index, lower-cased (Spanner names are
/// case-insensitive and tables and indexes share one name space).
pub(crate) async fn list_schema_objects(
    driver: &SpannerDriver,
) -> Result<BTreeSet<String>, DriverError> {
    let mut names: BTreeSet<String> = list_tables(driver)
        .await?
        .into_iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    let indexes = query_names(
        driver,
        "SELECT index_name FROM information_schema.indexes \
         WHERE table_catalog = '' AND table_schema = '' AND index_type = 'INDEX' \
         ORDER BY index_name",
        "indexes",
    )
    .await?;
    names.extend(indexes.into_iter().map(|n| n.to_ascii_lowercase()));
    Ok(names)
}

/// Drops those of `objects` that exist, last created first (an index before its table,
/// an interleaved child before its parent), and forgets them in the teardown registry.
pub(crate) async fn drop_native_objects(
    driver: &SpannerDriver,
    objects: &[NativeObject],
) -> Result<(), DriverError> {
    let existing = list_schema_objects(driver).await?;
    let statements: Vec<String> = objects
        .iter()
        .rev()
        .filter(|o| existing.contains(&o.name().to_ascii_lowercase()))
        .map(NativeObject::drop_ddl)
        .collect();
    if !statements.is_empty() {
        update_ddl(driver, statements, "drop a native step's schema").await?;
    }
    driver
        .native_objects
        .lock()
        .await
        .retain(|o| !objects.contains(o));
    Ok(())
}

async fn query_names(
    driver: &SpannerDriver,
    sql: &str,
    what: &str,
) -> Result<Vec<String>, DriverError> {
    query_strings(driver, Statement::new(sql), what).await
}

/// The first column of every row `statement` returns, as strings; `what` names them in
/// errors. A single-use read, bounded by [`ADMIN_RPC_TIMEOUT`].
pub(crate) async fn query_strings(
    driver: &SpannerDriver,
    statement: Statement,
    what: &str,
) -> Result<Vec<String>, DriverError> {
    let listing = async {
        let mut tx = driver.client.single().await.map_err(|e| {
            let (_, message) = crate::classify::client_error(&e, crate::classify::Phase::Read);
            message
        })?;
        let mut rows = tx
            .query_with_option(statement, query_options())
            .await
            .map_err(|s| describe(&s))?;
        let mut names = Vec::new();
        while let Some(row) = rows.next().await.map_err(|s| describe(&s))? {
            names.push(
                row.column::<String>(0)
                    .map_err(|e| one_line(&format!("cannot decode a name: {e}")))?,
            );
        }
        Ok::<_, String>(names)
    };
    match tokio::time::timeout(ADMIN_RPC_TIMEOUT, listing).await {
        Ok(Ok(names)) => Ok(names),
        Ok(Err(message)) => Err(DriverError::unavailable(format!(
            "cannot list the {what} of {} on Spanner {}: {message}",
            driver.database, driver.location
        ))),
        Err(_) => Err(DriverError::unavailable(format!(
            "listing the {what} of {} on Spanner {} took longer than {ADMIN_RPC_TIMEOUT:?}",
            driver.database, driver.location
        ))),
    }
}

/// Submits one schema change and waits, bounded by [`DDL_WAIT`], until it is done.
pub(crate) async fn update_ddl(
    driver: &SpannerDriver,
    statements: Vec<String>,
    what: &str,
) -> Result<(), DriverError> {
    let started = Instant::now();
    let request = UpdateDatabaseDdlRequest {
        database: driver.database.clone(),
        statements,
        ..Default::default()
    };
    // A replayed CREATE/DROP would fail on its own first success: never retry DDL.
    let no_retry = RetrySetting {
        take: 0,
        codes: vec![],
        ..RetrySetting::default()
    };
    let fail = |detail: String| {
        DriverError::backend(format!(
            "could not {what} in {} on Spanner {}: {detail}",
            driver.database, driver.location
        ))
    };
    let mut pause = Duration::from_millis(50);
    let mut operation = loop {
        let submitted = tokio::time::timeout(
            ADMIN_RPC_TIMEOUT,
            driver
                .admin
                .database()
                .update_database_ddl(request.clone(), Some(no_retry.clone())),
        )
        .await;
        match submitted {
            Ok(Ok(op)) => break op,
            Ok(Err(status)) if status.code() == Code::Unavailable => {
                return Err(DriverError::unavailable(format!(
                    "could not {what}: Spanner {} is unavailable: {}",
                    driver.location,
                    describe(&status)
                )))
            }
            Ok(Err(status)) if busy(&status) && started.elapsed() + pause < DDL_WAIT => {
                // The emulator refuses schema changes while a read-write transaction is
                // open, also one left open by an op cancelled at its timeout; beginning
                // another read-write transaction makes it give that one up.
                nudge(driver).await;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Ok(Err(status)) => return Err(fail(describe(&status))),
            Err(_) => return Err(fail(format!("no answer within {ADMIN_RPC_TIMEOUT:?}"))),
        }
    };
    let mut delay = Duration::from_millis(20);
    loop {
        let remaining = DDL_WAIT.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Err(fail(format!(
                "the schema operation {} was not done after {DDL_WAIT:?}",
                operation.name()
            )));
        }
        match tokio::time::timeout(remaining.min(ADMIN_RPC_TIMEOUT), operation.poll()).await {
            Ok(Ok(_)) if operation.done() => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(status)) => return Err(fail(describe(&status))),
            Err(_) => {}
        }
        tokio::time::sleep(delay.min(remaining)).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

/// The emulator's refusal of a schema change while a transaction or another schema
/// change is in progress.
fn busy(status: &gcloud_gax::grpc::Status) -> bool {
    status.code() == Code::FailedPrecondition && status.message().contains("concurrent")
}

/// An empty read-write transaction, bounded; its outcome does not matter.
async fn nudge(driver: &SpannerDriver) {
    let options = gcloud_spanner::client::ReadWriteTransactionOption {
        begin_options: no_retry(),
        commit_options: commit_options(),
        transaction_tag: None,
    };
    let empty = driver.client.read_write_transaction_with_option(
        |_tx| Box::pin(async { Ok::<(), NudgeError>(()) }),
        options,
    );
    let _ = tokio::time::timeout(ADMIN_RPC_TIMEOUT, empty).await;
}

/// The nudge's body error. It shows the client nothing through `try_as`, so an aborted
/// nudge is not retried: it is bounded, and its outcome does not matter.
struct NudgeError;

impl From<gcloud_gax::grpc::Status> for NudgeError {
    fn from(_: gcloud_gax::grpc::Status) -> Self {
        NudgeError
    }
}

impl From<gcloud_spanner::session::SessionError> for NudgeError {
    fn from(_: gcloud_spanner::session::SessionError) -> Self {
        NudgeError
    }
}

impl gcloud_gax::retry::TryAs<gcloud_gax::grpc::Status> for NudgeError {
    fn try_as(&self) -> Option<&gcloud_gax::grpc::Status> {
        None
    }
}
