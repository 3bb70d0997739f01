//! The seam between the compare (`assay-verify`) and a backend: [`TableSource`], which a
//! driver implements for one table on one endpoint. Every method reads; none writes.

use super::digest::{row_hash, BucketSet, Digests};
use super::plan::{SidePlan, TableShape};
use super::value::{encode_all, Value};
use async_trait::async_trait;
use serde::Serialize;
use std::time::Duration;

/// One row in canonical form: its key's encoding and each compared column's encoding, in
/// the plan's order ([`super::value`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalRow {
    pub key: String,
    pub columns: Vec<String>,
}

impl CanonicalRow {
    pub fn from_values(key: &[Value], columns: &[Value]) -> CanonicalRow {
        CanonicalRow {
            key: encode_all(key),
            columns: columns.iter().map(Value::encode).collect(),
        }
    }

    pub fn key_hash(&self) -> u64 {
        super::digest::key_hash(&self.key)
    }

    pub fn row_hash(&self) -> i64 {
        row_hash(&self.key, &self.columns)
    }
}

/// What reading one side has cost so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SourceStats {
    /// Rows (items) the backend read, over every pass: a full pass counts the table.
    pub rows_scanned: u64,
    /// Rows sent back to Assay (digest rows are not counted).
    pub rows_fetched: u64,
    /// Requests or queries sent.
    pub requests: u64,
    /// Wall time spent inside this side's calls.
    #[serde(serialize_with = "seconds")]
    pub busy: Duration,
    /// Capacity units the backend reported consuming (DynamoDB `ConsumedCapacity`);
    /// `None` when it reports none.
    pub consumed_capacity: Option<f64>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Whether a failure is the user's to fix (exit 2, "bad input") or the backend's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyErrorKind {
    /// A table, column, key or type that does not fit: the message names it and the fix.
    Input,
    /// The backend failed or could not be reached.
    Backend,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct VerifyError {
    pub kind: VerifyErrorKind,
    pub message: String,
}

impl VerifyError {
    pub fn input(message: impl Into<String>) -> Self {
        VerifyError {
            kind: VerifyErrorKind::Input,
            message: message.into(),
        }
    }

    pub fn backend(message: impl Into<String>) -> Self {
        VerifyError {
            kind: VerifyErrorKind::Backend,
            message: message.into(),
        }
    }
}

/// One table on one backend, read for a compare. Implementations read in parallel
/// (several connections, scan segments) and keep memory bounded by what they return.
#[async_trait]
pub trait TableSource: Send + Sync {
    /// The backend family, for reports (`postgres`, `dynamodb`).
    fn family(&self) -> &'static str;

    /// The table's columns and key. A table that does not exist is an `Input` error
    /// naming it.
    async fn describe(&self, table: &str) -> Result<TableShape, VerifyError>;

    /// Checks that every column of the plan can be read as its kind; an `Input` error
    /// names the column and the fix. Called once before the first pass.
    async fn prepare(&self, plan: &SidePlan) -> Result<(), VerifyError>;

    /// The digests at `within.level() + 1` of the rows whose key hash lies in `within`
    /// (`BucketSet::all()`: every row, digests at level 1).
    async fn digests(&self, plan: &SidePlan, within: &BucketSet) -> Result<Digests, VerifyError>;

    /// The rows whose key hash lies in `buckets`, in no particular order.
    async fn rows(
        &self,
        plan: &SidePlan,
        buckets: &BucketSet,
    ) -> Result<Vec<CanonicalRow>, VerifyError>;

    /// The rows with these keys (each the key columns' values in key order); keys
    /// without a row are left out. Reads as fresh as the backend offers (DynamoDB:
    /// strongly consistent).
    async fn rows_by_key(
        &self,
        plan: &SidePlan,
        keys: &[Vec<Value>],
    ) -> Result<Vec<CanonicalRow>, VerifyError>;

    /// What reading has cost so far.
    fn stats(&self) -> SourceStats;
}
