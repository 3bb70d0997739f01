//! What the linearizability search has explored: the set of ops placed so far (a
//! bitset with an incremental hash and a compact key) and the cache of configurations
//! (placed set, state) already tried, compared exactly.

use super::values::State;
use super::NIL;
use crate::fxhash::{mix64, FastMap};

/// The set of ops placed so far, with an incremental hash and a compact form for the
/// cache: ops are numbered definite-first by call time, so a placed set is mostly "the
/// first `prefix` definite ops" plus a few more.
pub(super) struct Placed {
    bits: Vec<u64>,
    /// Ops `0..definite` are definite; the rest are indeterminate.
    definite: usize,
    /// Definite ops `0..prefix` are all placed.
    prefix: usize,
    placed_definite: usize,
    hash: u64,
    zobrist: Vec<u64>,
}

impl Placed {
    pub(super) fn new(n: usize, definite: usize) -> Placed {
        Placed {
            bits: vec![0; n.div_ceil(64)],
            definite,
            prefix: 0,
            placed_definite: 0,
            hash: 0,
            zobrist: (0..n as u64).map(mix64).collect(),
        }
    }

    pub(super) fn has(&self, i: usize) -> bool {
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    pub(super) fn set(&mut self, i: usize) {
        self.bits[i / 64] |= 1 << (i % 64);
        self.hash ^= self.zobrist[i];
        if i < self.definite {
            self.placed_definite += 1;
            while self.prefix < self.definite && self.has(self.prefix) {
                self.prefix += 1;
            }
        }
    }

    pub(super) fn clear(&mut self, i: usize) {
        self.bits[i / 64] &= !(1 << (i % 64));
        self.hash ^= self.zobrist[i];
        if i < self.definite {
            self.placed_definite -= 1;
            self.prefix = self.prefix.min(i);
        }
    }

    /// `[prefix, definite ops placed past it…, MAX, indeterminate ops placed…]`.
    fn key_into(&self, k: &mut Vec<u32>) {
        k.clear();
        k.push(self.prefix as u32);
        let mut extra = self.placed_definite - self.prefix;
        let mut w = self.prefix / 64;
        while extra > 0 && w < self.bits.len() {
            let mut word = self.bits[w];
            if w == self.prefix / 64 {
                word &= !0u64 << (self.prefix % 64);
            }
            while word != 0 && extra > 0 {
                let i = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                if i < self.definite {
                    k.push(i as u32);
                    extra -= 1;
                }
            }
            w += 1;
        }
        k.push(u32::MAX);
        let n = self.zobrist.len();
        let mut w = self.definite / 64;
        while w < self.bits.len() {
            let mut word = self.bits[w];
            if w == self.definite / 64 {
                word &= !0u64 << (self.definite % 64);
            }
            while word != 0 {
                let i = w * 64 + word.trailing_zeros() as usize;
                word &= word - 1;
                if i < n {
                    k.push(i as u32);
                }
            }
            w += 1;
        }
    }
}

/// Configurations already explored, compared exactly (a hash match alone never prunes):
/// each entry's placed-set key lives in one shared arena, chained per hash of (placed
/// set, state), so recording a configuration allocates nothing of its own.
#[derive(Default)]
pub(super) struct Cache {
    /// Hash of (placed set, state) → the newest entry with that hash.
    heads: FastMap<u64, u32>,
    entries: Vec<CacheEntry>,
    /// Every entry's placed-set key, back to back.
    arena: Vec<u32>,
    /// Scratch for the placed set's key, so a cache hit allocates nothing.
    key: Vec<u32>,
}

struct CacheEntry {
    state: State,
    start: usize,
    len: u32,
    /// The previous entry with the same hash, or `NIL`.
    next: u32,
}

impl Cache {
    /// Records the configuration; false if it was already explored.
    pub(super) fn insert(&mut self, placed: &Placed, state: State) -> bool {
        placed.key_into(&mut self.key);
        let h = mix64(
            placed.hash
                ^ mix64(state.value as u64 ^ ((state.unseen_used as u64) << 32))
                ^ state.version.rotate_left(17),
        );
        let head = self.heads.get(&h).copied().unwrap_or(NIL);
        let mut e = head;
        while e != NIL {
            let entry = &self.entries[e as usize];
            if entry.state == state
                && entry.len as usize == self.key.len()
                && self.arena[entry.start..entry.start + self.key.len()] == *self.key
            {
                return false;
            }
            e = entry.next;
        }
        let id = self.entries.len() as u32;
        self.entries.push(CacheEntry {
            state,
            start: self.arena.len(),
            len: self.key.len() as u32,
            next: head,
        });
        self.arena.extend_from_slice(&self.key);
        self.heads.insert(h, id);
        true
    }
}
