//! The portable operation model: what a scenario asks of a backend, and what came back.
//!
//! Every backend stores rows of the *portable table layout*: a string key `k`, an optional
//! string value `v`, a version `ver` (bumped by every write), a counter `n` and a list of
//! integers `l`. Drivers map ops on that layout to their native API.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Read consistency asked of the backend; drivers map it to their native knob
/// (DynamoDB `ConsistentRead`, Spanner staleness, Cosmos consistency header, replica reads).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    #[default]
    Strong,
    BoundedStaleness,
    Session,
    ConsistentPrefix,
    Eventual,
}

/// One portable operation. Tables are the scenario's logical names; drivers prefix them
/// with the run's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum Op {
    Read {
        table: String,
        key: String,
        #[serde(default)]
        consistency: Consistency,
    },
    /// Unconditional upsert of the value: creates the row if absent, bumps `ver`
    /// (absent counts as 0), leaves `n` and `l` as they are.
    Write {
        table: String,
        key: String,
        value: String,
    },
    /// Create the row (`ver` = 1) only if no row with this key exists; an existing key is
    /// `fail` with `ErrorClass::ConditionFailed`.
    InsertIfAbsent {
        table: String,
        key: String,
        value: String,
    },
    /// Replace the value and bump `ver` only if the stored version equals
    /// `expected_version` (`None`: the row must be absent); otherwise `fail` with
    /// `ErrorClass::ConditionFailed`.
    CompareAndSet {
        table: String,
        key: String,
        expected_version: Option<u64>,
        value: String,
    },
    /// Remove the row; deleting an absent key is `ok`.
    Delete { table: String, key: String },
    /// Add `by` to `n` (absent counts as 0), creating the row if needed; returns
    /// `OpValue::Counter` with the new value when the backend can say it.
    Increment { table: String, key: String, by: i64 },
    /// Append `element` to the list `l` (absent counts as empty), creating the row if needed.
    Append {
        table: String,
        key: String,
        element: i64,
    },
    /// Rows whose key starts with `prefix`, in key order, at most `limit`.
    Query {
        table: String,
        prefix: String,
        limit: Option<u32>,
    },
    /// Several ops in one request, not atomic; `OpValue::Results` gives each op's result.
    Batch { ops: Vec<Op> },
    /// Several ops applied atomically (all or nothing); `OpValue::Results` gives reads'
    /// values. A failed condition fails the whole transaction.
    Txn { ops: Vec<Op> },
}

/// One row of a bulk load (`Driver::bulk_load`): a key of the keyspace and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRow {
    pub key: String,
    pub value: String,
}

/// The kind of an op, used as a histogram / report dimension and for capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
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
}

impl OpKind {
    pub const ALL: [OpKind; 10] = [
        OpKind::Read,
        OpKind::Write,
        OpKind::InsertIfAbsent,
        OpKind::CompareAndSet,
        OpKind::Delete,
        OpKind::Increment,
        OpKind::Append,
        OpKind::Query,
        OpKind::Batch,
        OpKind::Txn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::InsertIfAbsent => "insert_if_absent",
            OpKind::CompareAndSet => "compare_and_set",
            OpKind::Delete => "delete",
            OpKind::Increment => "increment",
            OpKind::Append => "append",
            OpKind::Query => "query",
            OpKind::Batch => "batch",
            OpKind::Txn => "txn",
        }
    }

    pub fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Op {
    /// The single key a point op touches; `None` for query, batch and txn.
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Read { key, .. }
            | Op::Write { key, .. }
            | Op::InsertIfAbsent { key, .. }
            | Op::CompareAndSet { key, .. }
            | Op::Delete { key, .. }
            | Op::Increment { key, .. }
            | Op::Append { key, .. } => Some(key),
            Op::Query { .. } | Op::Batch { .. } | Op::Txn { .. } => None,
        }
    }

    /// The table a single-table op names; `None` for batch and txn.
    pub fn table(&self) -> Option<&str> {
        match self {
            Op::Read { table, .. }
            | Op::Write { table, .. }
            | Op::InsertIfAbsent { table, .. }
            | Op::CompareAndSet { table, .. }
            | Op::Delete { table, .. }
            | Op::Increment { table, .. }
            | Op::Append { table, .. }
            | Op::Query { table, .. } => Some(table),
            Op::Batch { .. } | Op::Txn { .. } => None,
        }
    }

    pub fn kind(&self) -> OpKind {
        match self {
            Op::Read { .. } => OpKind::Read,
            Op::Write { .. } => OpKind::Write,
            Op::InsertIfAbsent { .. } => OpKind::InsertIfAbsent,
            Op::CompareAndSet { .. } => OpKind::CompareAndSet,
            Op::Delete { .. } => OpKind::Delete,
            Op::Increment { .. } => OpKind::Increment,
            Op::Append { .. } => OpKind::Append,
            Op::Query { .. } => OpKind::Query,
            Op::Batch { .. } => OpKind::Batch,
            Op::Txn { .. } => OpKind::Txn,
        }
    }
}

/// How an op ended. `Indeterminate` means it may or may not have been applied
/// (timeout, lost connection); checkers must treat such writes as possibly applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Fail,
    Indeterminate,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Fail, Outcome::Indeterminate];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Indeterminate => "indeterminate",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an op did not succeed, independent of the backend's own error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A condition (insert-if-absent, version check) did not hold: definitely not applied.
    ConditionFailed,
    /// The backend refused for load (throttling, request rate too large).
    Throttled,
    /// A transaction was aborted by the backend (conflict, serialization failure).
    Aborted,
    /// The request was malformed or the schema did not allow it.
    InvalidRequest,
    /// The backend cannot express this op (see `capabilities()`).
    Unsupported,
    /// No answer in time: may or may not have been applied.
    Timeout,
    /// The connection broke mid-request: may or may not have been applied.
    ConnectionLost,
    /// The backend could not be reached at all (refused before sending).
    Unavailable,
    /// Any other backend error.
    Other,
}

impl ErrorClass {
    /// The outcome this class implies for a single op.
    pub fn outcome(self) -> Outcome {
        match self {
            ErrorClass::Timeout | ErrorClass::ConnectionLost => Outcome::Indeterminate,
            _ => Outcome::Fail,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConditionFailed => "condition_failed",
            ErrorClass::Throttled => "throttled",
            ErrorClass::Aborted => "aborted",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::Unsupported => "unsupported",
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectionLost => "connection_lost",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::Other => "other",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpError {
    pub class: ErrorClass,
    pub message: String,
}

/// One row of the portable table layout as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<Vec<i64>>,
}

/// What an op returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum OpValue {
    #[default]
    None,
    /// A point read: `None` when the key is absent.
    Record(Option<Record>),
    Records(Vec<Record>),
    /// The counter value after an increment, when the backend returns it.
    Counter(i64),
    /// Per-op results of a batch or transaction, in op order.
    Results(Vec<OpResult>),
}

/// Backend-reported facts about one op, for cost and retry accounting.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpMeta {
    /// Request units / capacity units the backend charged (RU, RCU+WCU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_units: Option<f64>,
    /// Retries the driver or SDK made before this result.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Commit timestamp (µs since the Unix epoch) when the backend reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_ts_us: Option<i64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    pub outcome: Outcome,
    #[serde(default)]
    pub value: OpValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<OpError>,
    #[serde(default)]
    pub meta: OpMeta,
}

impl OpResult {
    pub fn ok(value: OpValue) -> Self {
        OpResult {
            outcome: Outcome::Ok,
            value,
            error: None,
            meta: OpMeta::default(),
        }
    }

    /// A result for an error; the outcome follows from the class.
    pub fn error(class: ErrorClass, message: impl Into<String>) -> Self {
        OpResult {
            outcome: class.outcome(),
            value: OpValue::None,
            error: Some(OpError {
                class,
                message: message.into(),
            }),
            meta: OpMeta::default(),
        }
    }

    pub fn with_meta(mut self, meta: OpMeta) -> Self {
        self.meta = meta;
        self
    }

    pub fn error_class(&self) -> Option<ErrorClass> {
        self.error.as_ref().map(|e| e.class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_lost_connections_are_indeterminate() {
        assert_eq!(ErrorClass::Timeout.outcome(), Outcome::Indeterminate);
        assert_eq!(ErrorClass::ConnectionLost.outcome(), Outcome::Indeterminate);
        assert_eq!(ErrorClass::ConditionFailed.outcome(), Outcome::Fail);
        assert_eq!(ErrorClass::Unavailable.outcome(), Outcome::Fail);
    }

    #[test]
    fn op_kind_names_round_trip() {
        for k in OpKind::ALL {
            assert_eq!(OpKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn op_serialises_with_a_function_tag() {
        let op = Op::InsertIfAbsent {
            table: "kv".into(),
            key: "k1".into(),
            value: "v".into(),
        };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(
            json,
            r#"{"f":"insert_if_absent","table":"kv","key":"k1","value":"v"}"#
        );
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
    }
}
