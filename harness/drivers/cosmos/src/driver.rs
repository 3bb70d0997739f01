//! The `Driver` trait glue for `CosmosDriver` (defined in `connection`): capabilities,
//! setup and teardown of the run's database and containers, and dispatch to `ops`,
//! `native` and `cleanup` (what killed runs left). The op semantics live in `ops.rs`.

use crate::connection::{bounded, Created, SETUP_DEADLINE};
use crate::errors::{status_of, Failure, Tally};
use assay_core::scenario::TableSpec;
use assay_core::{
    BulkLoadError, BulkLoadPath, Capabilities, Capability, Driver, DriverError, Leftover, LoadRow,
    NativeOutcome, NativeStep, Op, OpResult,
};
use async_trait::async_trait;
use azure_data_cosmos::options::{DeleteContainerOptions, DeleteDatabaseOptions};
use futures::TryStreamExt;
use std::time::{Duration, Instant};

pub use crate::connection::CosmosDriver;

/// Bulk load calls in flight (each keeps `ops::BULK_ROWS_IN_FLIGHT` creates in flight) and
/// rows per call.
const BULK_WRITERS: u32 = 4;
const BULK_ROWS_PER_CALL: u32 = 256;
/// Upper bound on removing the run's database and containers.
const TEARDOWN_DEADLINE: Duration = Duration::from_secs(60);

#[async_trait]
impl Driver for CosmosDriver {
    fn family(&self) -> &'static str {
        "cosmos"
    }

    fn notes(&self) -> Vec<String> {
        if self.emulator {
            vec!["local Cosmos DB server: one replica, so consistency levels are accepted but not exercised; it returns no session tokens and charges a constant 1 RU per request, so request units here are not what Cosmos DB would charge".into()]
        } else {
            Vec::new()
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none("not implemented in the cosmos driver").support(&[
            Capability::Read,
            Capability::Write,
            Capability::InsertIfAbsent,
            Capability::CompareAndSet,
            Capability::Delete,
            Capability::Increment,
            Capability::Append,
            Capability::Query,
            Capability::Batch,
            Capability::Txn,
            Capability::WeakReads,
        ])
    }

    async fn backend_version(&self) -> Option<String> {
        // The gateway reports its build in `x-ms-gatewayversion` on every response; the
        // local stand-in sends none, and then there is nothing honest to report.
        let query = azure_data_cosmos::Query::from("SELECT * FROM root r WHERE r.id = @id")
            .with_parameter("@id", &self.config.namespace)
            .ok()?;
        let first_page = async {
            let mut pages = self
                .client
                .query_databases(query, None)
                .await
                .ok()?
                .into_pages();
            pages.try_next().await.ok().flatten()
        };
        let page = tokio::time::timeout(self.config.op_timeout, first_page)
            .await
            .ok()
            .flatten()?;
        page.headers()
            .gateway_version()
            .map(|v| format!("cosmos gateway {v}"))
    }

    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        let deadline = Instant::now() + SETUP_DEADLINE;
        self.create_database(deadline).await?;
        for table in tables {
            self.create_container(&table.name, deadline).await?;
        }
        for table in tables {
            self.wait_usable(&table.name, deadline).await?;
        }
        Ok(())
    }

    async fn execute(&self, op: &Op) -> OpResult {
        let mut tally = Tally::default();
        let limit = self.config.op_timeout;
        match tokio::time::timeout(limit, self.run(op, &mut tally)).await {
            Ok(result) => result,
            Err(_) => Failure::timeout(limit).into_result(tally.meta()),
        }
    }

    fn bulk_load_path(&self) -> BulkLoadPath {
        BulkLoadPath {
            method: "create per row, bounded concurrency across partition keys",
            writers: BULK_WRITERS,
            rows_per_call: BULK_ROWS_PER_CALL,
        }
    }

    async fn bulk_load(&self, table: &str, rows: &[LoadRow]) -> Result<u64, BulkLoadError> {
        self.load_rows(table, rows).await
    }

    async fn native(&self, step: &NativeStep) -> NativeOutcome {
        crate::native::run(self, step).await
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        let deadline = Instant::now() + TEARDOWN_DEADLINE;
        let (database, containers, native_databases) = match self.created.lock() {
            Ok(created) => (
                created.database,
                created.containers.clone(),
                created.native_databases.clone(),
            ),
            Err(_) => (false, Vec::new(), Vec::new()),
        };
        for name in &native_databases {
            self.drop_database(name, deadline).await?;
            self.forget_native_database(name);
        }
        if let Ok(mut m) = self.containers.lock() {
            m.clear();
        }
        if database {
            // Deleting the database removes its containers with it.
            let result = bounded(
                deadline,
                self.database()
                    .delete(Some(DeleteDatabaseOptions::default())),
            )
            .await?;
            match result {
                Ok(_) => {}
                Err(e) if status_of(&e) == 404 => {}
                Err(e) => {
                    return Err(self
                        .setup_error(&format!("delete database `{}`", self.config.namespace), &e))
                }
            }
        } else {
            for table in &containers {
                let container = match bounded(
                    deadline,
                    self.database().container_client(table.clone(), None),
                )
                .await?
                {
                    Ok(c) => c,
                    Err(e) if status_of(&e) == 404 => continue,
                    Err(e) => {
                        return Err(self.setup_error(&format!("find container `{table}`"), &e))
                    }
                };
                match bounded(
                    deadline,
                    container.delete(Some(DeleteContainerOptions::default())),
                )
                .await?
                {
                    Ok(_) => {}
                    Err(e) if status_of(&e) == 404 => {}
                    Err(e) => {
                        return Err(self.setup_error(&format!("delete container `{table}`"), &e))
                    }
                }
            }
        }
        if let Ok(mut created) = self.created.lock() {
            *created = Created::default();
        }
        Ok(())
    }

    async fn leftovers(&self, prefix: &str) -> Result<Vec<Leftover>, DriverError> {
        crate::cleanup::leftovers(self, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<(), DriverError> {
        crate::cleanup::remove(self, leftover).await
    }
}
