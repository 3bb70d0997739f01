//! A brute-force oracle for small histories: searches every serial order of the
//! transactions that may have committed (ok ones must, indeterminate ones may, failed
//! ones did not), executing each from the empty state and requiring every ok read to
//! return what it recorded. `strict` adds real-time order: a transaction that completed
//! before another was invoked comes first. No inference, no graph: the definition.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    Nil,
    Int(i64),
}

#[derive(Clone, Debug)]
pub enum Mop {
    /// Append `e` to list `k`.
    Append(u8, i64),
    /// Read list `k`; `None` when the result is unknown.
    ReadList(u8, Option<Vec<i64>>),
    /// Register ops.
    Write(u8, i64),
    ReadReg(u8, Option<Val>),
    /// Compare-and-set `k` from `old` to `new`.
    Cas(u8, i64, i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ok,
    Info,
    Fail,
}

#[derive(Clone, Debug)]
pub struct Txn {
    pub mops: Vec<Mop>,
    pub kind: Kind,
    pub start: u64,
    /// `None` for an indeterminate txn: it never returned.
    pub end: Option<u64>,
}

#[derive(Clone, Default, PartialEq, Eq, Hash)]
struct State {
    lists: BTreeMap<u8, Vec<i64>>,
    regs: BTreeMap<u8, i64>,
}

/// Applies `t` to `s`; `None` if an ok read (or an ok cas) cannot return what it did.
fn apply(t: &Txn, s: &State) -> Option<State> {
    let mut s = s.clone();
    let definite = t.kind == Kind::Ok;
    for m in &t.mops {
        match m {
            Mop::Append(k, e) => s.lists.entry(*k).or_default().push(*e),
            Mop::ReadList(k, seen) => {
                if let (true, Some(seen)) = (definite, seen) {
                    let cur = s.lists.get(k).map(|l| l.as_slice()).unwrap_or(&[]);
                    if cur != seen.as_slice() {
                        return None;
                    }
                }
            }
            Mop::Write(k, v) => {
                s.regs.insert(*k, *v);
            }
            Mop::ReadReg(k, seen) => {
                if let (true, Some(seen)) = (definite, seen) {
                    let cur = match s.regs.get(k) {
                        Some(v) => Val::Int(*v),
                        None => Val::Nil,
                    };
                    if cur != *seen {
                        return None;
                    }
                }
            }
            Mop::Cas(k, old, new) => {
                if s.regs.get(k) == Some(old) {
                    s.regs.insert(*k, *new);
                } else if definite {
                    return None;
                }
                // An indeterminate cas whose condition fails is a no-op.
            }
        }
    }
    Some(s)
}

/// Whether some serial order explains the history (`strict`: in real-time order too).
pub fn serializable(txns: &[Txn], strict: bool) -> bool {
    let live: Vec<usize> = (0..txns.len())
        .filter(|&i| txns[i].kind != Kind::Fail)
        .collect();
    let must: u32 = live
        .iter()
        .filter(|&&i| txns[i].kind == Kind::Ok)
        .fold(0, |m, &i| m | 1 << i);
    // preds[i]: ok txns that completed before txn i was invoked (`to_edn` stamps a
    // completion at 2·end and an invoke at 2·start+1, so end == start is before).
    let preds: Vec<u32> = (0..txns.len())
        .map(|i| {
            if !strict {
                return 0;
            }
            (0..txns.len())
                .filter(|&j| {
                    txns[j].kind == Kind::Ok && txns[j].end.is_some_and(|e| e <= txns[i].start)
                })
                .fold(0, |m, j| m | 1 << j)
        })
        .collect();
    let mut seen: HashSet<(u32, State)> = HashSet::new();
    dfs(txns, &live, &preds, must, 0, &State::default(), &mut seen)
}

fn dfs(
    txns: &[Txn],
    live: &[usize],
    preds: &[u32],
    must: u32,
    placed: u32,
    s: &State,
    seen: &mut HashSet<(u32, State)>,
) -> bool {
    if placed & must == must {
        return true;
    }
    if !seen.insert((placed, s.clone())) {
        return false;
    }
    for &i in live {
        if placed & (1 << i) != 0 || preds[i] & !placed != 0 {
            continue;
        }
        if let Some(next) = apply(&txns[i], s) {
            if dfs(txns, live, preds, must, placed | 1 << i, &next, seen) {
                return true;
            }
        }
    }
    false
}
