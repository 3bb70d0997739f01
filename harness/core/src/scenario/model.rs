//! The parts of a scenario every other part refers to: its kind, tables, key ranges,
//! portable steps with their expectations, and the checks run over the history.

use crate::capability::Capability;
use crate::op::{Consistency, Op, OpKind, Outcome};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    Conformance,
    Consistency,
    Failover,
    Throughput,
}

/// A table the scenario needs, created under the run's namespace by `Driver::setup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub name: String,
}

/// Keys `{prefix}{start}` … `{prefix}{start+count-1}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRange {
    pub prefix: String,
    #[serde(default)]
    pub start: u64,
    pub count: u64,
    /// Set for a step's single `key = "..."`: the prefix is the whole key.
    #[serde(skip)]
    pub literal: bool,
}

impl KeyRange {
    pub fn key(&self, i: u64) -> String {
        if self.literal {
            self.prefix.clone()
        } else {
            format!("{}{}", self.prefix, self.start + i)
        }
    }
}

/// What a step's every op must return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Outcome,
    /// For reads: the value, with `{i}` for the key's index and `{key}` for the key.
    pub value: Option<String>,
    /// For reads: whether the row exists.
    pub found: Option<bool>,
}

/// One step of a conformance sequence: the same op over a key range, run by `clients`
/// concurrent clients, each result compared with `expect`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    pub op: OpKind,
    pub table: String,
    pub keys: KeyRange,
    pub value: Option<String>,
    pub by: Option<i64>,
    pub element: Option<i64>,
    pub consistency: Consistency,
    pub clients: u32,
    pub expect: Expect,
    /// The behaviour the backend's documentation promises, for the fidelity matrix.
    pub documented: Option<String>,
    /// Where that is documented (a URL).
    pub cite: Option<String>,
}

impl Step {
    pub fn capability(&self) -> Capability {
        if self.op == OpKind::Read && self.consistency != Consistency::Strong {
            Capability::WeakReads
        } else {
            Capability::for_kind(self.op)
        }
    }

    /// The op for the step's `i`-th key.
    pub fn op_at(&self, i: u64) -> Op {
        let key = self.keys.key(i);
        let value = || fill_template(self.value.as_deref().unwrap_or(""), i, &key);
        let table = self.table.clone();
        match self.op {
            OpKind::Read => Op::Read {
                table,
                key,
                consistency: self.consistency,
            },
            OpKind::Write => Op::Write {
                table,
                value: value(),
                key,
            },
            OpKind::InsertIfAbsent => Op::InsertIfAbsent {
                table,
                value: value(),
                key,
            },
            OpKind::CompareAndSet => Op::CompareAndSet {
                table,
                value: value(),
                key,
                expected_version: None,
            },
            OpKind::Delete => Op::Delete { table, key },
            OpKind::Increment => Op::Increment {
                table,
                key,
                by: self.by.unwrap_or(1),
            },
            OpKind::Append => Op::Append {
                table,
                key,
                element: self.element.unwrap_or(i as i64),
            },
            OpKind::Query => Op::Query {
                table,
                prefix: key,
                limit: None,
            },
            // Rejected by validation: steps cannot express multi-op requests in format v1.
            OpKind::Batch | OpKind::Txn => Op::Batch { ops: Vec::new() },
        }
    }

    /// The value `expect.value` asks for at index `i`.
    pub fn expected_value(&self, i: u64) -> Option<String> {
        let key = self.keys.key(i);
        self.expect
            .value
            .as_deref()
            .map(|t| fill_template(t, i, &key))
    }
}

pub fn fill_template(template: &str, i: u64, key: &str) -> String {
    template
        .replace("{i}", &i.to_string())
        .replace("{key}", key)
}

/// Checks run over the recorded history. The consistency models take the names
/// `assay check --model` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// Every step op's outcome and value match the step's `expect`.
    #[serde(rename = "expectations")]
    Expectations,
    #[serde(rename = "linearizable")]
    Linearizable,
    #[serde(rename = "strict-serializable")]
    StrictSerializable,
    #[serde(rename = "serializable")]
    Serializable,
    #[serde(rename = "snapshot-isolation")]
    SnapshotIsolation,
    /// Adya PL-2.99: what a level named REPEATABLE READ claims where it is not snapshot
    /// isolation (InnoDB).
    #[serde(rename = "repeatable-read")]
    RepeatableRead,
    #[serde(rename = "read-committed")]
    ReadCommitted,
    /// Adya PL-1: what READ UNCOMMITTED claims.
    #[serde(rename = "read-uncommitted")]
    ReadUncommitted,
    #[serde(rename = "session")]
    Session,
}

impl CheckKind {
    /// The consistency model's name (`assay check --model`), `None` for expectations.
    pub fn model_name(self) -> Option<&'static str> {
        match self {
            CheckKind::Expectations => None,
            CheckKind::Linearizable => Some("linearizable"),
            CheckKind::StrictSerializable => Some("strict-serializable"),
            CheckKind::Serializable => Some("serializable"),
            CheckKind::SnapshotIsolation => Some("snapshot-isolation"),
            CheckKind::RepeatableRead => Some("repeatable-read"),
            CheckKind::ReadCommitted => Some("read-committed"),
            CheckKind::ReadUncommitted => Some("read-uncommitted"),
            CheckKind::Session => Some("session"),
        }
    }
}
