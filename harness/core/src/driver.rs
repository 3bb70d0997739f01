//! The `Driver` trait: one implementation per backend family.

pub use crate::capability::{Capabilities, Capability};
use crate::cleanup::Leftover;
use crate::native::{NativeOutcome, NativeStep};
use crate::op::{ErrorClass, LoadRow, Op, OpResult, Outcome};
use crate::scenario::TableSpec;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What every driver is built with.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// Prefix for every table the driver creates (the run id), so runs never collide
    /// and teardown removes exactly what setup made.
    pub namespace: String,
    /// Upper bound on one request; the engine also enforces it from outside.
    pub op_timeout: Duration,
}

impl DriverConfig {
    /// The physical name of a scenario table in this run.
    pub fn physical_table(&self, logical: &str) -> String {
        format!("{}_{}", self.namespace, logical)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriverErrorKind {
    /// The backend could not be reached or stopped answering.
    Unavailable,
    /// The target definition is wrong or incomplete (endpoint, credentials).
    Config,
    /// The backend answered with an error.
    Backend,
    /// This driver cannot do what was asked (e.g. list leftovers); nothing was sent.
    Unsupported,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DriverError {
    pub kind: DriverErrorKind,
    pub message: String,
}

impl DriverError {
    pub fn unavailable(message: impl Into<String>) -> Self {
        DriverError {
            kind: DriverErrorKind::Unavailable,
            message: message.into(),
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        DriverError {
            kind: DriverErrorKind::Config,
            message: message.into(),
        }
    }
    pub fn backend(message: impl Into<String>) -> Self {
        DriverError {
            kind: DriverErrorKind::Backend,
            message: message.into(),
        }
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        DriverError {
            kind: DriverErrorKind::Unsupported,
            message: message.into(),
        }
    }
}

/// How a driver loads many rows at once ([`Driver::bulk_load`]): what each call does on the
/// backend, and the shape the engine cuts a load phase into (how many calls at once, how
/// many rows each). Not a [`Capability`]: every driver can load (the default is one write
/// per row); this says how fast, not whether.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkLoadPath {
    /// What one call does, for the record: e.g. `copy from stdin`, `batch_write_item`.
    pub method: &'static str,
    /// Calls the engine keeps in flight at once.
    pub writers: u32,
    /// Rows per call (one chunk of the keyspace).
    pub rows_per_call: u32,
}

impl BulkLoadPath {
    /// The default: one `Op::Write` per row, 16 at a time (the load phase before bulk
    /// paths existed).
    pub const PER_ROW: BulkLoadPath = BulkLoadPath {
        method: "write per row",
        writers: 16,
        rows_per_call: 1,
    };
}

/// A bulk load call that did not write every row. The rows not counted in `written` may or
/// may not have been applied (the engine records them as indeterminate).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message} ({written} rows written before it)")]
pub struct BulkLoadError {
    /// Rows known to be written.
    pub written: u64,
    pub class: ErrorClass,
    pub message: String,
}

impl BulkLoadError {
    pub fn new(written: u64, class: ErrorClass, message: impl Into<String>) -> Self {
        BulkLoadError {
            written,
            class,
            message: message.into(),
        }
    }
}

/// A backend family's implementation of the portable operation model.
///
/// `execute` never returns a Rust error: every failure is an `OpResult` whose outcome is
/// `fail` (definitely not applied) or `indeterminate` (may have been applied).
/// The per-row bulk load: one `Op::Write` per row, in order, stopping at the first that
/// does not succeed. `Driver::bulk_load`'s default, and a fast path's fallback.
pub async fn write_each<D: Driver + ?Sized>(
    driver: &D,
    table: &str,
    rows: &[LoadRow],
) -> Result<u64, BulkLoadError> {
    let mut written = 0;
    for row in rows {
        let result = driver
            .execute(&Op::Write {
                table: table.to_string(),
                key: row.key.clone(),
                value: row.value.clone(),
            })
            .await;
        if result.outcome != Outcome::Ok {
            let (class, message) = match result.error {
                Some(e) => (e.class, e.message),
                None => (ErrorClass::Other, "the write did not succeed".to_string()),
            };
            return Err(BulkLoadError::new(written, class, message));
        }
        written += 1;
    }
    Ok(written)
}

#[async_trait]
pub trait Driver: Send + Sync {
    /// Short family name, e.g. `dynamodb`.
    fn family(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// The backend's own version string, for the report.
    async fn backend_version(&self) -> Option<String> {
        None
    }

    /// Known limitations of this backend that explain figures in a report, e.g. an
    /// emulator that aborts concurrent transactions. Empty for a faithful backend.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Create the scenario's tables under the run's namespace and wait until usable.
    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError>;

    async fn execute(&self, op: &Op) -> OpResult;

    /// How [`Driver::bulk_load`] works on this backend; the engine sizes the load phase by it.
    fn bulk_load_path(&self) -> BulkLoadPath {
        BulkLoadPath::PER_ROW
    }

    /// Called once before a load phase's first `bulk_load` into `table`, e.g. to defer
    /// index maintenance into one build as `pg_restore` and `pgbench -i` do. Whatever it
    /// changes, `bulk_load_finish` restores.
    async fn bulk_load_prepare(&self, _table: &str) -> Result<(), BulkLoadError> {
        Ok(())
    }

    /// Called once after a load phase's last `bulk_load` into `table` returned (also after
    /// failed calls and an abort).
    async fn bulk_load_finish(&self, _table: &str) -> Result<(), BulkLoadError> {
        Ok(())
    }

    /// Writes `rows` into `table` (a logical name, like ops') as a load phase does: each
    /// row ends as `Op::Write` of its key would leave it (`v` = the value, `ver` bumped from
    /// absent to 1, `n` = 0, `l` empty; an existing key is overwritten like a write). The
    /// keys of one call are distinct. Returns the rows written. Not atomic: on an error,
    /// rows beyond `written` may or may not have been applied.
    ///
    /// The default issues one `Op::Write` per row, in order; drivers override it with the
    /// backend's fastest path (COPY, multi-row INSERT, BatchWriteItem, mutations).
    async fn bulk_load(&self, table: &str, rows: &[LoadRow]) -> Result<u64, BulkLoadError> {
        write_each(self, table, rows).await
    }

    /// Whether this driver runs native steps of `family` (`native = "family.check"`): its
    /// own family, and for SQL drivers also the shared `sql` family (e.g. `sql.slt`).
    fn runs_native(&self, family: &str) -> bool {
        family == self.family()
    }

    /// Run a backend-specific conformance step of this driver's family. Whatever it
    /// creates is namespaced like `setup`'s tables and removed by `teardown`.
    async fn native(&self, step: &NativeStep) -> NativeOutcome {
        NativeOutcome::unsupported(format!(
            "the {} driver has no native check `{}`",
            self.family(),
            step.check
        ))
    }

    /// Remove everything `setup` (and `native`) created. Safe to call after a partial setup.
    async fn teardown(&self) -> Result<(), DriverError>;

    /// What runs that never reached `teardown` left on the backend: every schema,
    /// database or table whose name starts with `prefix` (which starts with
    /// [`crate::cleanup::LEFTOVER_PREFIX`]) and has a run namespace's shape
    /// ([`crate::cleanup::run_namespace`]), with its creation time where the backend
    /// keeps one. Lists only; `assay cleanup` decides what goes. Not a [`Capability`]: no
    /// scenario needs it; a driver without it answers `DriverErrorKind::Unsupported`.
    async fn leftovers(&self, prefix: &str) -> Result<Vec<Leftover>, DriverError> {
        let _ = prefix;
        Err(DriverError::unsupported(format!(
            "the {} driver cannot list what earlier runs left behind",
            self.family()
        )))
    }

    /// Drops one leftover [`Driver::leftovers`] listed, with everything inside it; gone
    /// already is fine. Refuses a name without a run namespace's shape
    /// ([`crate::cleanup::check_removable`]) before sending anything.
    async fn remove_leftover(&self, leftover: &Leftover) -> Result<(), DriverError> {
        Err(DriverError::unsupported(format!(
            "the {} driver cannot remove `{}`",
            self.family(),
            leftover.name
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Consistency;

    #[test]
    fn require_names_each_missing_capability_with_its_reason() {
        let caps = Capabilities::none("not implemented in this driver yet")
            .support(&[Capability::Read, Capability::Write])
            .unsupported_because(Capability::Txn, "the emulator has no transactions");
        assert!(caps.require(&[Capability::Read]).is_ok());
        let missing = caps
            .require(&[Capability::Read, Capability::Txn, Capability::Append])
            .unwrap_err();
        assert_eq!(
            missing,
            vec![
                (
                    Capability::Txn,
                    "the emulator has no transactions".to_string()
                ),
                (
                    Capability::Append,
                    "not implemented in this driver yet".to_string()
                ),
            ]
        );
    }

    #[test]
    fn weak_reads_need_their_own_capability() {
        let op = Op::Read {
            table: "t".into(),
            key: "k".into(),
            consistency: Consistency::Eventual,
        };
        assert_eq!(Capability::for_op(&op), Capability::WeakReads);
    }
}
