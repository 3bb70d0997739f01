//! The portable table layout as Spanner stores it: one table per scenario table,
//! `k STRING(MAX)` primary key, `v STRING(MAX)`, `ver INT64`, `n INT64`,
//! `l ARRAY<INT64>`; row decoding, mutations and the SQL the driver sends.

use assay_core::Record;
use gcloud_googleapis::spanner::v1::Mutation;
use gcloud_spanner::key::Key;
use gcloud_spanner::mutation;
use gcloud_spanner::row::Row;

/// Column order used by every read, query and full-row mutation.
pub(crate) const COLUMNS: [&str; 5] = ["k", "v", "ver", "n", "l"];

/// The non-key columns of one row; `None` is a SQL NULL (attribute absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RowState {
    pub v: Option<String>,
    pub ver: Option<i64>,
    pub n: Option<i64>,
    pub l: Option<Vec<i64>>,
}

impl RowState {
    /// The stored version, absent counting as 0 (the core's rule for `Write`).
    pub fn version_or_zero(&self) -> i64 {
        self.ver.unwrap_or(0)
    }

    pub fn to_record(&self, key: &str) -> Result<Record, String> {
        let version = match self.ver {
            None => None,
            Some(v) => Some(u64::try_from(v).map_err(|_| {
                format!(
                    "row `{key}` has a negative version {v}; the table was written outside Assay"
                )
            })?),
        };
        Ok(Record {
            key: key.to_string(),
            value: self.v.clone(),
            version,
            counter: self.n,
            list: self.l.clone(),
        })
    }
}

/// Decodes a row read with [`COLUMNS`] into its key and state.
pub(crate) fn decode(row: &Row) -> Result<(String, RowState), String> {
    let key: String = row
        .column(0)
        .map_err(|e| format!("cannot decode column k: {e}"))?;
    let state = RowState {
        v: row
            .column(1)
            .map_err(|e| format!("cannot decode column v of `{key}`: {e}"))?,
        ver: row
            .column(2)
            .map_err(|e| format!("cannot decode column ver of `{key}`: {e}"))?,
        n: row
            .column(3)
            .map_err(|e| format!("cannot decode column n of `{key}`: {e}"))?,
        l: row
            .column(4)
            .map_err(|e| format!("cannot decode column l of `{key}`: {e}"))?,
    };
    Ok((key, state))
}

pub(crate) fn key(k: &str) -> Key {
    Key::new(&k.to_string())
}

/// Writes every column, so the row ends up exactly as `state` whatever was there.
pub(crate) fn upsert(table: &str, k: &str, state: &RowState) -> Mutation {
    mutation::insert_or_update(
        table,
        &COLUMNS,
        &[&k.to_string(), &state.v, &state.ver, &state.n, &state.l],
    )
}

/// Fails the commit with ALREADY_EXISTS when the key exists: Spanner checks the
/// insert-if-absent condition for us.
pub(crate) fn insert(table: &str, k: &str, state: &RowState) -> Mutation {
    mutation::insert(
        table,
        &COLUMNS,
        &[&k.to_string(), &state.v, &state.ver, &state.n, &state.l],
    )
}

pub(crate) fn delete(table: &str, k: &str) -> Mutation {
    mutation::delete(table, key(k))
}

pub(crate) fn create_table_ddl(table: &str) -> String {
    format!(
        "CREATE TABLE `{table}` (k STRING(MAX) NOT NULL, v STRING(MAX), ver INT64, n INT64, \
         l ARRAY<INT64>) PRIMARY KEY (k)"
    )
}

pub(crate) fn drop_table_ddl(table: &str) -> String {
    format!("DROP TABLE `{table}`")
}

/// Prefix scan in key order; `@p` is the prefix, `@n` the limit when there is one.
pub(crate) fn prefix_query_sql(table: &str, limited: bool) -> String {
    let limit = if limited { " LIMIT @n" } else { "" };
    format!(
        "SELECT k, v, ver, n, l FROM `{table}` WHERE STARTS_WITH(k, @p) ORDER BY k{limit}",
        limit = limit
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_versions_are_reported_not_wrapped() {
        let state = RowState {
            ver: Some(-1),
            ..RowState::default()
        };
        let err = state.to_record("k1").unwrap_err();
        assert!(err.contains("negative version -1"), "{err}");
    }

    #[test]
    fn records_carry_every_attribute() {
        let state = RowState {
            v: Some("x".into()),
            ver: Some(3),
            n: Some(-2),
            l: Some(vec![1, 2]),
        };
        assert_eq!(
            state.to_record("k").unwrap(),
            Record {
                key: "k".into(),
                value: Some("x".into()),
                version: Some(3),
                counter: Some(-2),
                list: Some(vec![1, 2]),
            }
        );
    }

    #[test]
    fn query_sql_orders_by_key_and_limits_only_when_asked() {
        assert_eq!(
            prefix_query_sql("r1_kv", true),
            "SELECT k, v, ver, n, l FROM `r1_kv` WHERE STARTS_WITH(k, @p) ORDER BY k LIMIT @n"
        );
        assert!(!prefix_query_sql("r1_kv", false).contains("LIMIT"));
    }
}
