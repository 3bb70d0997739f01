//! The driver's session tokens: the newest `x-ms-session-token` each table's writes got
//! back, merged per partition key range, handed to `Session` reads so a client reads its
//! own writes; and the count of writes that came back without one (a backend finding).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many write responses carried a session token and how many did not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionTokenCounts {
    pub returned: u64,
    pub missing: u64,
}

#[derive(Debug, Default)]
pub(crate) struct SessionTokens {
    by_table: Mutex<HashMap<String, String>>,
    returned: AtomicU64,
    missing: AtomicU64,
}

impl SessionTokens {
    /// Keeps the token a write to `table` returned (or counts its absence).
    pub fn observe_write(&self, table: &str, token: Option<&str>) {
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            self.missing.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.returned.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut tokens) = self.by_table.lock() {
            let merged = match tokens.get(table) {
                Some(old) => merge(old, token),
                None => token.to_string(),
            };
            tokens.insert(table.to_string(), merged);
        }
    }

    pub fn get(&self, table: &str) -> Option<String> {
        self.by_table.lock().ok()?.get(table).cloned()
    }

    pub fn counts(&self) -> SessionTokenCounts {
        SessionTokenCounts {
            returned: self.returned.load(Ordering::Relaxed),
            missing: self.missing.load(Ordering::Relaxed),
        }
    }
}

/// Merges two session tokens (`range:value,range:value`), keeping per range the value with
/// the higher LSN. Concurrent writes can return their tokens out of order, so the newest
/// response is not necessarily the newest token.
pub(crate) fn merge(old: &str, new: &str) -> String {
    let mut ranges: BTreeMap<String, String> = BTreeMap::new();
    for token in [old, new] {
        for segment in token.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (range, value) = segment.split_once(':').unwrap_or(("", segment));
            let keep_old = ranges
                .get(range)
                .is_some_and(|kept| match (lsn(kept), lsn(value)) {
                    (Some(a), Some(b)) => a > b,
                    _ => false,
                });
            if !keep_old {
                ranges.insert(range.to_string(), value.to_string());
            }
        }
    }
    ranges
        .into_iter()
        .map(|(range, value)| {
            if range.is_empty() {
                value
            } else {
                format!("{range}:{value}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The global LSN of a session token value: `version#lsn#region=lsn…` (vector tokens) or
/// a bare `lsn` (simple tokens).
fn lsn(value: &str) -> Option<i64> {
    let mut parts = value.split('#');
    let first = parts.next()?;
    match parts.next() {
        Some(global) => global.parse().ok(),
        None => first.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_newest_value_per_range() {
        assert_eq!(merge("0:1#100#3=50", "0:1#90#3=40"), "0:1#100#3=50");
        assert_eq!(merge("0:1#100", "0:1#120"), "0:1#120");
        assert_eq!(merge("0:1#100", "1:1#5"), "0:1#100,1:1#5");
        assert_eq!(merge("0:7", "0:9"), "0:9");
        // Unparseable: the later one wins rather than being dropped.
        assert_eq!(merge("0:x", "0:y"), "0:y");
    }

    #[test]
    fn absent_tokens_are_counted_not_stored() {
        let tokens = SessionTokens::default();
        tokens.observe_write("kv", None);
        tokens.observe_write("kv", Some(""));
        assert_eq!(tokens.get("kv"), None);
        tokens.observe_write("kv", Some("0:1#10"));
        tokens.observe_write("kv", Some("0:1#8"));
        assert_eq!(tokens.get("kv").as_deref(), Some("0:1#10"));
        assert_eq!(
            tokens.counts(),
            SessionTokenCounts {
                returned: 2,
                missing: 2
            }
        );
    }
}
