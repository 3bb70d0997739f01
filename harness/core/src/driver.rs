//! The `Driver` trait: one implementation per backend family.

use crate::native::{NativeOutcome, NativeStep};
use crate::op::{Consistency, Op, OpKind, OpResult};
use crate::scenario::TableSpec;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Something a scenario may need from a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Read,
    Write,
    InsertIfAbsent,
    CompareAndSet,
    Delete,
    Increment,
    Append,
    Query,
    Batch,
    Txn,
    /// Reads at `Consistency::Eventual` or another non-strong level.
    WeakReads,
}

impl Capability {
    pub const ALL: [Capability; 11] = [
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
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Read => "read",
            Capability::Write => "write",
            Capability::InsertIfAbsent => "insert_if_absent",
            Capability::CompareAndSet => "compare_and_set",
            Capability::Delete => "delete",
            Capability::Increment => "increment",
            Capability::Append => "append",
            Capability::Query => "query",
            Capability::Batch => "batch",
            Capability::Txn => "txn",
            Capability::WeakReads => "weak_reads",
        }
    }

    /// The capability an op needs.
    pub fn for_op(op: &Op) -> Capability {
        match op {
            Op::Read { consistency, .. } if *consistency != Consistency::Strong => {
                Capability::WeakReads
            }
            _ => Capability::for_kind(op.kind()),
        }
    }

    pub fn for_kind(kind: OpKind) -> Capability {
        match kind {
            OpKind::Read => Capability::Read,
            OpKind::Write => Capability::Write,
            OpKind::InsertIfAbsent => Capability::InsertIfAbsent,
            OpKind::CompareAndSet => Capability::CompareAndSet,
            OpKind::Delete => Capability::Delete,
            OpKind::Increment => Capability::Increment,
            OpKind::Append => Capability::Append,
            OpKind::Query => Capability::Query,
            OpKind::Batch => Capability::Batch,
            OpKind::Txn => Capability::Txn,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a driver can express. Every capability is either supported or carries the
/// reason it is not, so a run can say *unsupported, because …* instead of guessing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    supported: BTreeMap<Capability, ()>,
    unsupported: BTreeMap<Capability, String>,
}

impl Capabilities {
    /// Every capability unsupported with `reason`, to be opened up with `support`.
    pub fn none(reason: &str) -> Self {
        Capabilities {
            supported: BTreeMap::new(),
            unsupported: Capability::ALL
                .into_iter()
                .map(|c| (c, reason.to_string()))
                .collect(),
        }
    }

    pub fn support(mut self, caps: &[Capability]) -> Self {
        for c in caps {
            self.unsupported.remove(c);
            self.supported.insert(*c, ());
        }
        self
    }

    pub fn unsupported_because(mut self, cap: Capability, reason: impl Into<String>) -> Self {
        self.supported.remove(&cap);
        self.unsupported.insert(cap, reason.into());
        self
    }

    pub fn supports(&self, cap: Capability) -> bool {
        self.supported.contains_key(&cap)
    }

    /// `Err` lists each missing capability with its reason.
    pub fn require(&self, caps: &[Capability]) -> Result<(), Vec<(Capability, String)>> {
        let missing: Vec<_> = caps
            .iter()
            .filter(|c| !self.supports(**c))
            .map(|c| {
                let reason = self
                    .unsupported
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| "not declared by the driver".to_string());
                (*c, reason)
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }
}

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
