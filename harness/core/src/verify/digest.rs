//! Where a row goes and what it adds: the key's hash picks its bucket, the row's hash is
//! added to that bucket's digest. Both are MD5 — not for security, but because every SQL
//! backend has it built in (`md5(text)`), so a server can compute exactly what the client
//! does (DESIGN decision in docs/decisions.md, "verify").
//!
//! - **Key hash**: the first 64 bits of `md5(key encoding)`, big-endian. A bucket at level
//!   `L` is the top `12·L` bits of it, i.e. the first `3·L` hex digits of the MD5 — in SQL
//!   `left(md5(ke), 3*L)`. Level 0 is the whole table; each level splits a bucket into
//!   4096. Buckets come from the key alone, so a changed row stays in its bucket.
//! - **Row hash**: the first 64 bits of `md5(key encoding ‖ column encodings)` as a signed
//!   big-endian integer — in SQL `('x' || left(md5(ke || ce), 16))::bit(64)::int8`.
//! - **Digest** of a bucket: its row count and the exact (128-bit) sum of its row hashes.
//!   Sums add, so digests of parts (key ranges on several connections, scan segments)
//!   merge into the digest of the whole, in any order.

use md5::{Digest as _, Md5};
use std::collections::HashMap;

/// Bits of the key hash each level adds.
pub const BITS_PER_LEVEL: u32 = 12;
/// The deepest level (60 of the key hash's 64 bits).
pub const MAX_LEVEL: u8 = 5;

/// The key hash of a key's canonical encoding.
pub fn key_hash(key: &str) -> u64 {
    let d = Md5::digest(key.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("md5 has 16 bytes"))
}

/// The row hash of a row's key encoding followed by its column encodings.
pub fn row_hash(key: &str, columns: &[String]) -> i64 {
    let mut h = Md5::new();
    h.update(key.as_bytes());
    for c in columns {
        h.update(c.as_bytes());
    }
    let d = h.finalize();
    i64::from_be_bytes(d[..8].try_into().expect("md5 has 16 bytes"))
}

/// A range of the key-hash space: the hashes whose top `12·level` bits are `prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket {
    pub level: u8,
    pub prefix: u64,
}

impl Bucket {
    /// Level 0: every key.
    pub const ALL: Bucket = Bucket {
        level: 0,
        prefix: 0,
    };

    /// The bucket at `level` that holds `key_hash`.
    pub fn of(key_hash: u64, level: u8) -> Bucket {
        let bits = u32::from(level) * BITS_PER_LEVEL;
        Bucket {
            level,
            prefix: if bits == 0 {
                0
            } else {
                key_hash >> (64 - bits)
            },
        }
    }

    /// The first `3·level` hex digits of the MD5 of the keys it holds (`""` at level 0).
    pub fn hex(&self) -> String {
        let width = usize::from(self.level) * 3;
        if width == 0 {
            String::new()
        } else {
            format!("{:0width$x}", self.prefix)
        }
    }

    /// Parses [`Bucket::hex`] back (its length gives the level).
    pub fn from_hex(hex: &str) -> Option<Bucket> {
        if hex.len() % 3 != 0 || hex.len() > usize::from(MAX_LEVEL) * 3 {
            return None;
        }
        let level = u8::try_from(hex.len() / 3).ok()?;
        let prefix = if hex.is_empty() {
            0
        } else {
            u64::from_str_radix(hex, 16).ok()?
        };
        Some(Bucket { level, prefix })
    }

    pub fn contains(&self, key_hash: u64) -> bool {
        Bucket::of(key_hash, self.level) == *self
    }
}

/// Buckets of one level, e.g. the ones a pass looks into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketSet {
    level: u8,
    /// Sorted, no duplicates.
    prefixes: Vec<u64>,
}

impl BucketSet {
    /// The whole table (level 0).
    pub fn all() -> BucketSet {
        BucketSet {
            level: 0,
            prefixes: vec![0],
        }
    }

    /// `buckets` must all be of `level`.
    pub fn new(level: u8, buckets: impl IntoIterator<Item = Bucket>) -> BucketSet {
        let mut prefixes: Vec<u64> = buckets
            .into_iter()
            .inspect(|b| debug_assert_eq!(b.level, level))
            .map(|b| b.prefix)
            .collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        BucketSet { level, prefixes }
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    pub fn is_all(&self) -> bool {
        self.level == 0
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    pub fn contains(&self, key_hash: u64) -> bool {
        self.prefixes
            .binary_search(&Bucket::of(key_hash, self.level).prefix)
            .is_ok()
    }

    /// Each bucket's [`Bucket::hex`], for a SQL `= ANY($1)`.
    pub fn hexes(&self) -> Vec<String> {
        self.buckets().map(|b| b.hex()).collect()
    }

    pub fn buckets(&self) -> impl Iterator<Item = Bucket> + '_ {
        self.prefixes.iter().map(|&prefix| Bucket {
            level: self.level,
            prefix,
        })
    }
}

/// What a set of rows adds up to: how many, and the exact sum of their row hashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    pub rows: u64,
    pub sum: i128,
}

impl Digest {
    pub fn add_row(&mut self, row_hash: i64) {
        self.rows += 1;
        self.sum += i128::from(row_hash);
    }

    pub fn merge(&mut self, other: Digest) {
        self.rows += other.rows;
        self.sum += other.sum;
    }
}

/// Digests by bucket (buckets without rows are absent).
pub type Digests = HashMap<Bucket, Digest>;

/// Adds `part` into `into` (digests of one level).
pub fn merge_digests(into: &mut Digests, part: Digests) {
    for (bucket, d) in part {
        into.entry(bucket).or_default().merge(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_md5_hex_prefixes() {
        // PostgreSQL's `left(md5('n1;'), 3)` is the same (the postgres driver's tests).
        let h = key_hash("n1;");
        let hex = format!("{:x}", Md5::digest(b"n1;"));
        assert_eq!(Bucket::of(h, 1).hex(), hex[..3]);
        assert_eq!(Bucket::of(h, 2).hex(), hex[..6]);
        assert_eq!(Bucket::from_hex(&hex[..6]), Some(Bucket::of(h, 2)));
        assert!(Bucket::of(h, 1).contains(h));
        assert_eq!(Bucket::of(h, 0), Bucket::ALL);
        assert_eq!(Bucket::from_hex(""), Some(Bucket::ALL));
        assert_eq!(Bucket::from_hex("abcd"), None);
    }

    #[test]
    fn row_hash_is_the_signed_top_of_the_md5_of_the_whole_row() {
        let cols = vec!["s1:a;".to_string(), "N;".to_string()];
        let d = Md5::digest(b"n1;s1:a;N;");
        assert_eq!(
            row_hash("n1;", &cols),
            i64::from_be_bytes(d[..8].try_into().unwrap())
        );
    }

    #[test]
    fn sets_find_their_keys() {
        let hashes: Vec<u64> = (0..100).map(|i| key_hash(&format!("n{i};"))).collect();
        let set = BucketSet::new(1, hashes[..10].iter().map(|h| Bucket::of(*h, 1)));
        assert!(hashes[..10].iter().all(|h| set.contains(*h)));
        assert!(BucketSet::all().contains(hashes[50]));
        assert_eq!(set.level(), 1);
    }
}
