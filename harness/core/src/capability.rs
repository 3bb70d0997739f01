//! What a backend can express (`Capability`) and what one driver supports, each gap with
//! its reason (`Capabilities`). A leaf: scenarios name the capabilities they need, drivers
//! declare theirs, and neither has to know the other.

use crate::op::{Consistency, Op, OpKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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
    /// Fresh connections outside the driver's pools with the target's transport and
    /// credentials altered (TLS off, another CA, no or a wrong password): what the
    /// `security.*` steps need (`native/security.rs`).
    ConnectionSecurity,
}

impl Capability {
    /// The portable op model's capabilities: what `support(&Capability::ALL)` claims.
    /// Capabilities beyond the op model (`ConnectionSecurity`) are not in it, so a driver
    /// claims them by name.
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

    /// Every capability: the op model's and those beyond it.
    pub const EVERY: [Capability; 12] = [
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
        Capability::ConnectionSecurity,
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
            Capability::ConnectionSecurity => "connection_security",
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
            unsupported: Capability::EVERY
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claiming_every_op_does_not_claim_connection_security() {
        let caps = Capabilities::none("not part of this driver").support(&Capability::ALL);
        assert!(caps.supports(Capability::Txn));
        assert_eq!(
            caps.require(&[Capability::ConnectionSecurity]),
            Err(vec![(
                Capability::ConnectionSecurity,
                "not part of this driver".to_string()
            )])
        );
        let caps = caps.support(&[Capability::ConnectionSecurity]);
        assert!(caps.require(&Capability::EVERY).is_ok());
        assert_eq!(
            serde_json::to_string(&Capability::ConnectionSecurity).unwrap(),
            format!("\"{}\"", Capability::ConnectionSecurity.as_str())
        );
    }
}
