//! Leftovers: what runs that never reached `teardown` (Assay killed with SIGKILL, a crashed
//! machine, a lost connection) left on a backend, found by name for `assay cleanup`.
//!
//! Everything a run creates is named by its namespace `assay_<short-id>_<target>_<scenario>`
//! (`<short-id>`: 1 to 6 of `a-z0-9`; the other two: numbers), alone or followed by `_` and a
//! suffix (`DriverConfig::physical_table`). [`run_namespace`] recognises exactly that shape,
//! and nothing else is ever listed or removed: a driver lists candidates by the
//! [`LEFTOVER_PREFIX`] and keeps those [`run_namespace`] accepts, and
//! [`check_removable`] refuses any other name before a driver sends a drop.

use serde::Serialize;
use std::fmt;

/// The start of every name a run creates.
pub const LEFTOVER_PREFIX: &str = "assay_";

/// Longest short run id in a namespace (`run_setup::given_run_id` keeps the last six).
const MAX_SHORT_ID: usize = 6;

/// What kind of object a leftover is, in the backend's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverKind {
    /// A PostgreSQL schema (one per run namespace, its tables inside).
    Schema,
    /// A MySQL / MariaDB or Cosmos DB database.
    Database,
    /// A DynamoDB or Spanner table.
    Table,
}

impl LeftoverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LeftoverKind::Schema => "schema",
            LeftoverKind::Database => "database",
            LeftoverKind::Table => "table",
        }
    }
}

impl fmt::Display for LeftoverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One object a run left on a backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Leftover {
    /// The backend's name for it (schema, database or table name).
    pub name: String,
    pub kind: LeftoverKind,
    /// When it was created (Unix ms), where the backend keeps that (or Assay wrote it
    /// down at setup); `None`: unknown, see [`Age`].
    pub created_unix_ms: Option<u64>,
}

impl Leftover {
    pub fn new(name: impl Into<String>, kind: LeftoverKind, created_unix_ms: Option<u64>) -> Self {
        Leftover {
            name: name.into(),
            kind,
            created_unix_ms,
        }
    }

    /// The run namespace it belongs to (always `Some` for what a driver lists).
    pub fn namespace(&self) -> Option<&str> {
        run_namespace(&self.name)
    }

    /// How old it is at `now_unix_ms`.
    pub fn age(&self, now_unix_ms: u64) -> Age {
        match self.created_unix_ms {
            Some(created) => Age::Known(now_unix_ms.saturating_sub(created)),
            None => Age::Unknown,
        }
    }
}

/// A leftover's age in ms, or unknown when the backend keeps no creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Age {
    Known(u64),
    Unknown,
}

impl Age {
    /// Whether `--older-than` lets it go: a known age at least `older_than_ms`; an unknown
    /// age only when `older_than_ms` is 0 (the caller says any age will do), because a
    /// leftover of unknown age may belong to a run that is still going.
    pub fn at_least(self, older_than_ms: u64) -> bool {
        match self {
            Age::Known(ms) => ms >= older_than_ms,
            Age::Unknown => older_than_ms == 0,
        }
    }
}

/// `assay_<short>_<i>_<j>` at the start of `name`, when `name` is exactly that or that
/// followed by `_`: the namespace of the run that made it. `None` for every other name.
pub fn run_namespace(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(LEFTOVER_PREFIX)?;
    let short_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        .count();
    if short_len == 0 || short_len > MAX_SHORT_ID {
        return None;
    }
    let mut at = LEFTOVER_PREFIX.len() + short_len;
    for _ in 0..2 {
        let tail = &name[at..];
        let digits = tail
            .strip_prefix('_')?
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            return None;
        }
        at += 1 + digits;
    }
    match name[at..].chars().next() {
        None | Some('_') => Some(&name[..at]),
        Some(_) => None,
    }
}

/// This machine's clock in Unix ms (0 before 1970), the unit of every creation time.
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a driver writes on a backend object that keeps no creation time of its own but
/// takes a comment (a PostgreSQL schema), read back by [`parse_creation_mark`].
pub fn creation_mark(unix_ms: u64) -> String {
    format!("{CREATION_MARK}{unix_ms}")
}

/// The creation time in a [`creation_mark`]; `None` for any other text.
pub fn parse_creation_mark(text: &str) -> Option<u64> {
    text.trim().strip_prefix(CREATION_MARK)?.parse().ok()
}

const CREATION_MARK: &str = "assay created ";

/// Whether a driver's `leftovers(prefix)` lists `name`: it starts with `prefix` and has a
/// run namespace's shape.
pub fn is_leftover_name(name: &str, prefix: &str) -> bool {
    name.starts_with(prefix) && run_namespace(name).is_some()
}

/// The guard every driver's `remove_leftover` passes first (the error goes into a
/// `DriverError::config`): only names of the run shape are ever dropped, whatever the
/// caller hands over. `Ok` is the leftover's run namespace.
pub fn check_removable(leftover: &Leftover) -> Result<&str, String> {
    leftover.namespace().ok_or_else(|| {
        format!(
            "`{}` is not named like anything a run creates (assay_<run>_<target>_<scenario>…); Assay leaves it alone",
            leftover.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_shape_is_recognised_and_nothing_else() {
        for (name, ns) in [
            ("assay_1a2b3c_0_0", "assay_1a2b3c_0_0"),
            ("assay_1a2b3c_0_12_kv", "assay_1a2b3c_0_12"),
            ("assay_run_3_4_native_gsi_0", "assay_run_3_4"),
            ("assay_slt_4242_7", "assay_slt_4242_7"),
            ("assay_a_1_2_", "assay_a_1_2"),
        ] {
            assert_eq!(run_namespace(name), Some(ns), "{name}");
        }
        for name in [
            "assay_",
            "assay",
            "assay_customers_0_0",
            "assay_1a2b3c",
            "assay_1a2b3c_0",
            "assay_1a2b3c_0_",
            "assay_1a2b3c_x_0",
            "assay_1a2b3c_0_0x",
            "assay_1A2B3C_0_0",
            "Assay_1a2b3c_0_0",
            "assay_1a2b3c_0_0-kv",
            "my_assay_1a2b3c_0_0",
            "assay_cleanup",
            "orders",
        ] {
            assert_eq!(run_namespace(name), None, "{name}");
        }
    }

    #[test]
    fn an_unknown_age_goes_only_when_any_age_will_do() {
        let fresh = Leftover::new("assay_a_0_0", LeftoverKind::Schema, Some(10_000));
        assert_eq!(fresh.age(70_000), Age::Known(60_000));
        assert!(fresh.age(70_000).at_least(60_000));
        assert!(!fresh.age(70_000).at_least(60_001));
        assert!(
            fresh.age(0).at_least(0),
            "a clock behind the server's is age 0"
        );
        let unknown = Leftover::new("assay_a_0_0", LeftoverKind::Table, None);
        assert!(unknown.age(70_000).at_least(0));
        assert!(!unknown.age(70_000).at_least(1));
    }

    #[test]
    fn a_creation_mark_reads_back() {
        assert_eq!(
            creation_mark(1_733_337_600_000),
            "assay created 1733337600000"
        );
        assert_eq!(parse_creation_mark(&creation_mark(42)), Some(42));
        for other in [
            "",
            "assay created",
            "assay created soon",
            "created 42",
            "hand-made",
        ] {
            assert_eq!(parse_creation_mark(other), None, "{other}");
        }
    }

    #[test]
    fn removal_is_refused_outside_the_run_shape() {
        let theirs = Leftover::new("orders", LeftoverKind::Table, Some(0));
        assert!(check_removable(&theirs)
            .unwrap_err()
            .contains("leaves it alone"));
        assert!(!is_leftover_name("orders", LEFTOVER_PREFIX));
        assert!(is_leftover_name("assay_a_0_0_kv", "assay_a_"));
        assert!(!is_leftover_name("assay_a_0_0_kv", "assay_b_"));
        let ours = Leftover::new("assay_a_0_0_kv", LeftoverKind::Table, Some(0));
        assert_eq!(check_removable(&ours).unwrap(), "assay_a_0_0");
    }
}
