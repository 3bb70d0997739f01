//! The `Driver` trait: one implementation per backend family.

pub use crate::capability::{Capabilities, Capability};
use crate::native::{NativeOutcome, NativeStep};
use crate::op::{Op, OpResult};
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
}

/// A backend family's implementation of the portable operation model.
///
/// `execute` never returns a Rust error: every failure is an `OpResult` whose outcome is
/// `fail` (definitely not applied) or `indeterminate` (may have been applied).
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
