//! What a side of a compare is: the table as its backend describes it ([`TableShape`]),
//! and what to read from it ([`SidePlan`]) — the key and the compared columns, in the
//! canonical order both sides share, each with where it lives on this side and how it is
//! stored there.

use super::value::{EpochUnit, Kind};
use serde::Serialize;

/// How one side stores a column when not in its kind's own form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "as", content = "unit")]
pub enum StoredAs {
    /// The kind's own form: a SQL type of that kind; DynamoDB `N`, `S`, `B`, `BOOL`
    /// (a timestamp in an `S` as RFC 3339, in an `N` as epoch seconds).
    Native,
    /// As text: a number or bool in a text column / `S`, a time as RFC 3339 text.
    Text,
    /// A time as a number of `unit` since 1970-01-01T00:00:00Z.
    Epoch(EpochUnit),
}

impl StoredAs {
    /// The mapping file's spelling: `native`, `text`, `rfc3339`, `epoch_s`, `epoch_ms`,
    /// `epoch_us`, `epoch_ns`.
    pub fn parse(s: &str) -> Option<StoredAs> {
        Some(match s {
            "native" => StoredAs::Native,
            "text" | "rfc3339" => StoredAs::Text,
            "epoch_s" => StoredAs::Epoch(EpochUnit::Seconds),
            "epoch_ms" => StoredAs::Epoch(EpochUnit::Millis),
            "epoch_us" => StoredAs::Epoch(EpochUnit::Micros),
            "epoch_ns" => StoredAs::Epoch(EpochUnit::Nanos),
            _ => return None,
        })
    }

    pub const SPELLINGS: &'static str =
        "native, text, rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns";
}

/// One column (or attribute) as the backend describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShapeColumn {
    pub name: String,
    /// The backend's type name (`int8`, `numeric`, `timestamptz`; DynamoDB `S` / `N` / `B`).
    pub native_type: String,
    /// The kind its values have by nature (a SQL type outside the table's kinds: text).
    pub kind: Kind,
}

/// A table as its backend describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableShape {
    /// As the backend names it (`public.items`, `items`).
    pub table: String,
    /// Every column in the backend's order; for a schemaless table only the key attributes.
    pub columns: Vec<ShapeColumn>,
    /// The primary key's columns in key order (DynamoDB: partition key, then sort key);
    /// empty when the table has none.
    pub key: Vec<String>,
    /// Items may carry any attributes (DynamoDB): `columns` lists only the key's.
    pub schemaless: bool,
}

impl TableShape {
    pub fn column(&self, name: &str) -> Option<&ShapeColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// One compared column on one side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanColumn {
    /// The canonical name both sides share (what reports say).
    pub name: String,
    /// Where it lives on this side: a column name, or an attribute path (`a.b` → `[a, b]`).
    pub path: Vec<String>,
    /// What it is compared as; `None`: as each value comes (DynamoDB ↔ DynamoDB only).
    pub kind: Option<Kind>,
    pub stored_as: StoredAs,
    /// The backend's type name when it has a schema (`None` on DynamoDB for non-key
    /// attributes).
    pub native_type: Option<String>,
}

impl PlanColumn {
    pub fn path_text(&self) -> String {
        self.path.join(".")
    }
}

/// What one side reads: the key columns (in key order) and the other compared columns
/// (in canonical order, by name), the same on both sides but for where and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SidePlan {
    pub table: String,
    pub key: Vec<PlanColumn>,
    pub columns: Vec<PlanColumn>,
}
