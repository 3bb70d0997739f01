//! `SpannerDriver`'s `Driver` implementation: every op bounded by the run's op timeout,
//! setup / teardown through `schema`, ops through `txn`, bulk loads through `bulk`, native
//! steps through `native`, leftovers of killed runs through `cleanup`.
//! Connecting is `connection`'s.

use crate::txn::Progress;
use assay_core::scenario::TableSpec;
use assay_core::{
    BulkLoadError, BulkLoadPath, Capabilities, Capability, Driver, DriverError, ErrorClass,
    Leftover, LoadRow, NativeOutcome, NativeStep, Op, OpMeta, OpResult,
};
use async_trait::async_trait;
use std::sync::Arc;

pub use crate::connection::{SpannerDriver, CONNECT_TIMEOUT, STALE_READ_BOUND};

impl SpannerDriver {
    /// Every user table in the target database, sorted; tests use it to check that
    /// teardown left nothing behind.
    pub async fn list_tables(&self) -> Result<Vec<String>, DriverError> {
        crate::schema::list_tables(self).await
    }

    /// An op that did not finish within the op timeout. Whether it may have applied
    /// depends on whether the commit had been sent.
    fn timed_out(&self, op: &Op, progress: &Progress) -> OpResult {
        let budget = self.config.op_timeout;
        let read_only = matches!(op, Op::Read { .. } | Op::Query { .. });
        let (class, message) = if read_only {
            (
                ErrorClass::Timeout,
                format!(
                    "no answer from Spanner {} within the op timeout {budget:?}",
                    self.location
                ),
            )
        } else if progress.commit_sent() {
            (
                ErrorClass::Timeout,
                format!(
                    "commit sent to Spanner {} but no answer within the op timeout {budget:?}; \
                     it may have been applied",
                    self.location
                ),
            )
        } else {
            (
                ErrorClass::Unavailable,
                format!(
                    "no answer from Spanner {} within the op timeout {budget:?} before the commit \
                     was sent; nothing was applied",
                    self.location
                ),
            )
        };
        OpResult::error(class, message).with_meta(OpMeta {
            retries: progress.retries(),
            ..OpMeta::default()
        })
    }
}

#[async_trait]
impl Driver for SpannerDriver {
    fn family(&self) -> &'static str {
        "spanner"
    }

    fn notes(&self) -> Vec<String> {
        if self.emulator {
            vec!["Cloud Spanner emulator: it runs one read-write transaction at a time and aborts the others (ABORTED, retried and counted as retries); a real instance would not abort them for that reason, so retries and their latency here are an emulator limitation".into()]
        } else {
            Vec::new()
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none("not expressible on Spanner").support(&Capability::ALL)
    }

    /// Neither Spanner nor its emulator reports a version over the API; the emulators
    /// crate knows the emulator's version from its install.
    async fn backend_version(&self) -> Option<String> {
        Some(if self.emulator {
            "cloud-spanner-emulator (version not reported over gRPC)".to_string()
        } else {
            "cloud-spanner (managed service, unversioned)".to_string()
        })
    }

    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        crate::schema::setup(self, tables).await
    }

    async fn execute(&self, op: &Op) -> OpResult {
        let progress = Arc::new(Progress::default());
        let running = crate::txn::run(self, op, Arc::clone(&progress));
        match tokio::time::timeout(self.config.op_timeout, running).await {
            Ok(result) => result,
            Err(_) => self.timed_out(op, &progress),
        }
    }

    fn bulk_load_path(&self) -> BulkLoadPath {
        crate::bulk::path(self.emulator)
    }

    async fn bulk_load(&self, table: &str, rows: &[LoadRow]) -> Result<u64, BulkLoadError> {
        crate::bulk::load(self, table, rows).await
    }

    /// Spanner's backend-specific checks (see `native`): strong and stale reads,
    /// concurrent read-modify-write, commit timestamps, interleaving, indexes.
    async fn native(&self, step: &NativeStep) -> NativeOutcome {
        crate::native::run(self, step).await
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        crate::schema::teardown(self).await
    }

    async fn leftovers(&self, prefix: &str) -> Result<Vec<Leftover>, DriverError> {
        crate::cleanup::leftovers(self, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<(), DriverError> {
        crate::cleanup::remove(self, leftover).await
    }
}
