//! The portable table layout as Cosmos items: one container per table, partition key
//! `/k`, one item per row `{ "id": k, "k": k, "v": …, "ver": …, "n": …, "l": [...] }`.
//!
//! Also owns the pure state transitions of the portable ops on one item, so the single-op
//! paths and the single-key transaction path apply exactly the same semantics.

use assay_core::Record;
use serde::{Deserialize, Serialize};

/// The partition key path of every container the driver creates.
pub(crate) const PARTITION_KEY_PATH: &str = "/k";

/// One row. Absent attributes are omitted from the item (not stored as `null`), so a
/// read gives back `None` for them, as the portable layout asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Item {
    pub id: String,
    pub k: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l: Option<Vec<i64>>,
}

impl Item {
    /// A row with only its key.
    pub fn empty(key: &str) -> Item {
        Item {
            id: key.to_string(),
            k: key.to_string(),
            v: None,
            ver: None,
            n: None,
            l: None,
        }
    }

    pub fn into_record(self) -> Record {
        Record {
            key: self.k,
            value: self.v,
            version: self.ver,
            counter: self.n,
            list: self.l,
        }
    }

    /// The stored version, absent counting as 0 (as `Write` and `CompareAndSet` define it).
    pub fn version(&self) -> u64 {
        self.ver.unwrap_or(0)
    }
}

/// An item as read back, with the etag that guards a later conditional write.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub item: Item,
    pub etag: String,
}

/// `Write`: set the value and bump the version; `n` and `l` stay as they are.
pub(crate) fn apply_write(current: Option<&Item>, key: &str, value: &str) -> Item {
    let mut next = current.cloned().unwrap_or_else(|| Item::empty(key));
    next.ver = Some(next.version().saturating_add(1));
    next.v = Some(value.to_string());
    next
}

/// `InsertIfAbsent` / `CompareAndSet { expected_version: None }` on an absent row.
pub(crate) fn fresh_row(key: &str, value: &str) -> Item {
    Item {
        v: Some(value.to_string()),
        ver: Some(1),
        ..Item::empty(key)
    }
}

/// `CompareAndSet`: `None` when the condition does not hold.
pub(crate) fn apply_compare_and_set(
    current: Option<&Item>,
    key: &str,
    expected_version: Option<u64>,
    value: &str,
) -> Option<Item> {
    match (current, expected_version) {
        (None, None) => Some(fresh_row(key, value)),
        (Some(item), Some(expected)) if item.version() == expected => {
            Some(apply_write(Some(item), key, value))
        }
        _ => None,
    }
}

/// `Increment`: absent `n` counts as 0. `None` when the counter would overflow `i64`.
pub(crate) fn apply_increment(current: Option<&Item>, key: &str, by: i64) -> Option<Item> {
    let mut next = current.cloned().unwrap_or_else(|| Item::empty(key));
    next.n = Some(next.n.unwrap_or(0).checked_add(by)?);
    Some(next)
}

/// `Append`: absent `l` counts as empty.
pub(crate) fn apply_append(current: Option<&Item>, key: &str, element: i64) -> Item {
    let mut next = current.cloned().unwrap_or_else(|| Item::empty(key));
    next.l.get_or_insert_with(Vec::new).push(element);
    next
}

/// The query behind `Op::Query`. `STARTSWITH` is the Cosmos SQL name of the function
/// (there is no `STARTS_WITH`); `ORDER BY c.k` gives key order across partitions.
pub(crate) fn prefix_query(limit: Option<u32>) -> String {
    match limit {
        Some(n) => format!("SELECT TOP {n} * FROM c WHERE STARTSWITH(c.k, @prefix) ORDER BY c.k"),
        None => "SELECT * FROM c WHERE STARTSWITH(c.k, @prefix) ORDER BY c.k".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_attributes_are_not_stored() {
        let json = serde_json::to_value(fresh_row("a", "x")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "a", "k": "a", "v": "x", "ver": 1})
        );
    }

    #[test]
    fn server_fields_are_ignored_on_read() {
        let item: Item = serde_json::from_value(serde_json::json!({
            "id": "a", "k": "a", "n": 3, "_etag": "e", "_rid": "r", "_ts": 1
        }))
        .unwrap();
        assert_eq!(
            item.into_record(),
            Record {
                key: "a".into(),
                value: None,
                version: None,
                counter: Some(3),
                list: None
            }
        );
    }

    #[test]
    fn write_bumps_version_and_keeps_counter_and_list() {
        let mut item = Item::empty("a");
        item.n = Some(5);
        item.l = Some(vec![1]);
        let next = apply_write(Some(&item), "a", "v1");
        assert_eq!(next.ver, Some(1));
        assert_eq!(next.n, Some(5));
        assert_eq!(next.l, Some(vec![1]));
        assert_eq!(apply_write(Some(&next), "a", "v2").ver, Some(2));
        assert_eq!(apply_write(None, "b", "v").ver, Some(1));
    }

    #[test]
    fn compare_and_set_checks_the_version_or_absence() {
        let row = fresh_row("a", "x");
        assert!(apply_compare_and_set(Some(&row), "a", Some(2), "y").is_none());
        assert!(apply_compare_and_set(Some(&row), "a", None, "y").is_none());
        assert!(apply_compare_and_set(None, "a", Some(1), "y").is_none());
        assert_eq!(
            apply_compare_and_set(Some(&row), "a", Some(1), "y")
                .unwrap()
                .ver,
            Some(2)
        );
        assert_eq!(
            apply_compare_and_set(None, "a", None, "y").unwrap().ver,
            Some(1)
        );
    }

    #[test]
    fn increment_and_append_start_from_empty() {
        assert_eq!(apply_increment(None, "a", 4).unwrap().n, Some(4));
        assert!(apply_increment(
            Some(&Item {
                n: Some(i64::MAX),
                ..Item::empty("a")
            }),
            "a",
            1
        )
        .is_none());
        let once = apply_append(None, "a", 7);
        assert_eq!(apply_append(Some(&once), "a", 8).l, Some(vec![7, 8]));
        assert_eq!(once.ver, None);
    }

    #[test]
    fn query_limits_with_top() {
        assert!(prefix_query(Some(3)).starts_with("SELECT TOP 3 * FROM c"));
        assert!(prefix_query(None).ends_with("ORDER BY c.k"));
    }
}
