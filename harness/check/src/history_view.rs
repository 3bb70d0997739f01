//! The checkers' view of a history: invokes paired with their completions into
//! operations, and every operation flattened into single-key *accesses* (each op of a
//! transaction or batch becomes an access that shares the parent's interval). Keys are
//! interned and classified (register, list, other) once, here, for every checker.

use crate::edn;
use crate::fxhash::FastMap;
use assay_core::{HistoryEvent, Op, OpValue, Outcome, Record};
use std::ops::Range;

static NO_VALUE: OpValue = OpValue::None;

/// One invoke paired with its completion.
#[derive(Clone, Debug)]
pub struct Operation<'a> {
    pub op_id: u64,
    pub client: u32,
    pub step: &'a str,
    pub op: &'a Op,
    /// `Indeterminate` when the history ends before the op completed.
    pub outcome: Outcome,
    pub value: &'a OpValue,
    pub start_ns: u64,
    /// `u64::MAX` when the history ends before the op completed.
    pub end_ns: u64,
}

impl Operation<'_> {
    pub fn is_txn(&self) -> bool {
        matches!(self.op, Op::Txn { .. })
    }
    pub fn completed(&self) -> bool {
        self.end_ns != u64::MAX
    }
}

/// What a read returned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Observed<'a> {
    /// No row: an absent register or an empty list.
    Absent,
    Register {
        value: Option<&'a str>,
        version: Option<u64>,
    },
    List(&'a [i64]),
    /// The op did not succeed, or its result was not recorded.
    Unknown,
}

impl<'a> Observed<'a> {
    /// The list a list read saw (`Absent` is the empty list).
    pub(crate) fn list(&self) -> Option<&'a [i64]> {
        match self {
            Observed::Absent => Some(&[]),
            Observed::List(l) => Some(l),
            _ => None,
        }
    }
}

/// What one access did to its key.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Effect<'a> {
    Read(Observed<'a>),
    Write(&'a str),
    /// Assay's compare-and-set: by version (`None`: the row must be absent).
    CasVersion {
        expected: Option<u64>,
        value: &'a str,
    },
    /// Jepsen's compare-and-set: by value (`None`: the row must be absent). Imported
    /// from EDN; see `edn::CAS_VALUE_STEP_PREFIX`.
    CasValue {
        /// Boxed, not a `String`: every access carries an `Effect`, so its size counts.
        expected: Option<Box<str>>,
        value: &'a str,
    },
    InsertIfAbsent(&'a str),
    Delete,
    Append(i64),
    /// Porcupine's key-value append (string concatenation); see `edn::KV_APPEND_STEP`.
    AppendStr(&'a str),
}

impl<'a> Effect<'a> {
    /// The value a register write leaves (`None` for a delete); `None` for non-writes.
    pub(crate) fn written_value(&self) -> Option<Option<&'a str>> {
        match self {
            Effect::Write(v) | Effect::InsertIfAbsent(v) => Some(Some(v)),
            Effect::CasVersion { value, .. } | Effect::CasValue { value, .. } => Some(Some(value)),
            Effect::Delete => Some(None),
            Effect::Read(_) | Effect::Append(_) | Effect::AppendStr(_) => None,
        }
    }
    pub(crate) fn is_register_write(&self) -> bool {
        self.written_value().is_some()
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Access<'a> {
    /// Index of the parent operation in `View::ops`.
    pub op: u32,
    pub key: u32,
    /// The access's own outcome: a transaction's for its ops, the per-op result for a
    /// batch (which is not atomic).
    pub outcome: Outcome,
    pub effect: Effect<'a>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Register,
    List,
    /// A key of Porcupine's key-value model (imported `:get` / `:put` / `:append`):
    /// checked for linearizability only.
    Kv,
    /// Counters, or a key used both as a list and as a register: no checker applies.
    Other,
}

pub(crate) struct View<'a> {
    pub ops: Vec<Operation<'a>>,
    pub accesses: Vec<Access<'a>>,
    /// The accesses of each op, contiguous in `accesses`.
    pub op_accesses: Vec<Range<u32>>,
    pub keys: Vec<&'a str>,
    pub key_kind: Vec<KeyKind>,
    /// The key is touched by some transaction.
    pub key_in_txn: Vec<bool>,
    /// Keys some increment touched.
    counter_keys: Vec<u32>,
    pub notes: Vec<String>,
}

/// Op id → index in `View::ops`. Ids are usually small and dense (Assay numbers ops
/// from 0, EDN imports by position), so those index a table; the rest go to a map.
struct OpIds {
    dense: Vec<u32>,
    /// Ids below this index `dense` (twice the events, so the table stays small).
    limit: usize,
    sparse: FastMap<u64, usize>,
}

impl OpIds {
    const NONE: u32 = u32::MAX;

    fn new(events: usize) -> OpIds {
        OpIds {
            dense: Vec::new(),
            limit: events.saturating_mul(2).min(u32::MAX as usize) + 1024,
            sparse: FastMap::default(),
        }
    }

    fn get(&self, id: u64) -> Option<usize> {
        match self.dense.get(id as usize) {
            Some(&i) if i != Self::NONE => Some(i as usize),
            _ => self.sparse.get(&id).copied(),
        }
    }

    fn insert(&mut self, id: u64, index: usize) {
        if (id as usize) < self.limit && index < Self::NONE as usize {
            if self.dense.len() <= id as usize {
                self.dense.resize(id as usize + 1, Self::NONE);
            }
            self.dense[id as usize] = index as u32;
        } else {
            self.sparse.insert(id, index);
        }
    }
}

fn observed(value: &OpValue) -> Observed<'_> {
    match value {
        OpValue::Record(None) => Observed::Absent,
        // Some backends store every column of the portable layout and return an empty
        // list with a register's value: a row with a value is a register read.
        OpValue::Record(Some(Record {
            list: Some(l),
            value: None,
            ..
        })) => Observed::List(l),
        OpValue::Record(Some(r)) => Observed::Register {
            value: r.value.as_deref(),
            version: r.version,
        },
        _ => Observed::Unknown,
    }
}

impl<'a> View<'a> {
    pub(crate) fn new(events: &'a [HistoryEvent]) -> View<'a> {
        let mut ops: Vec<Operation<'a>> = Vec::with_capacity(events.len() / 2 + 1);
        let mut by_id = OpIds::new(events.len());
        let mut notes = Vec::new();
        let (mut orphans, mut duplicates) = (0u64, 0u64);
        for e in events {
            match e {
                HistoryEvent::Invoke {
                    op_id,
                    client,
                    step,
                    op,
                    start_ns,
                    ..
                } => {
                    if by_id.get(*op_id).is_some() {
                        duplicates += 1;
                        continue;
                    }
                    by_id.insert(*op_id, ops.len());
                    ops.push(Operation {
                        op_id: *op_id,
                        client: *client,
                        step,
                        op,
                        outcome: Outcome::Indeterminate,
                        value: &NO_VALUE,
                        start_ns: *start_ns,
                        end_ns: u64::MAX,
                    });
                }
                HistoryEvent::Complete {
                    op_id,
                    outcome,
                    value,
                    end_ns,
                    ..
                } => match by_id.get(*op_id) {
                    Some(i) if !ops[i].completed() => {
                        let o = &mut ops[i];
                        o.outcome = *outcome;
                        o.value = value;
                        // A completion stamped before its invoke would make the op
                        // precede itself; clamp so intervals stay well-formed.
                        o.end_ns = (*end_ns).max(o.start_ns).min(u64::MAX - 1);
                    }
                    Some(_) => duplicates += 1,
                    None => orphans += 1,
                },
            }
        }
        if orphans > 0 {
            notes.push(format!(
                "{orphans} completion(s) without an invoke were ignored"
            ));
        }
        if duplicates > 0 {
            notes.push(format!(
                "{duplicates} repeated invoke/completion event(s) for an op id were ignored"
            ));
        }
        let pending = ops.iter().filter(|o| !o.completed()).count();
        if pending > 0 {
            notes.push(format!(
                "{pending} op(s) never completed; treated as indeterminate"
            ));
        }

        let mut view = View {
            ops,
            accesses: Vec::new(),
            op_accesses: Vec::new(),
            keys: Vec::new(),
            key_kind: Vec::new(),
            key_in_txn: Vec::new(),
            counter_keys: Vec::new(),
            notes,
        };
        view.flatten();
        view.classify_keys();
        view
    }

    fn intern(&mut self, ids: &mut FastMap<&'a str, u32>, key: &'a str) -> u32 {
        if let Some(&k) = ids.get(key) {
            return k;
        }
        *ids.entry(key).or_insert_with(|| {
            self.keys.push(key);
            (self.keys.len() - 1) as u32
        })
    }

    fn flatten(&mut self) {
        let mut ids: FastMap<&'a str, u32> = FastMap::default();
        let mut unchecked: FastMap<&'static str, u64> = FastMap::default();
        let mut misaligned = 0u64;
        let mut counter_keys = Vec::new();
        let ops = std::mem::take(&mut self.ops);
        let children: usize = ops
            .iter()
            .map(|o| match o.op {
                Op::Txn { ops } | Op::Batch { ops } => ops.len(),
                _ => 1,
            })
            .sum();
        self.accesses.reserve_exact(children);
        self.op_accesses.reserve_exact(ops.len());
        for (i, o) in ops.iter().enumerate() {
            let first = self.accesses.len() as u32;
            let (children, atomic): (&'a [Op], bool) = match o.op {
                Op::Txn { ops } => (ops, true),
                Op::Batch { ops } => (ops, false),
                single => (std::slice::from_ref(single), true),
            };
            let nested = matches!(o.op, Op::Txn { .. } | Op::Batch { .. });
            let results = match (nested, o.value) {
                (true, OpValue::Results(r)) => Some(r.as_slice()),
                _ => None,
            };
            // Results are per op in op order; some drivers return reads' results only.
            let reads = children
                .iter()
                .filter(|c| matches!(c, Op::Read { .. }))
                .count();
            let aligned = results.is_some_and(|r| r.len() == children.len());
            let reads_only = !aligned && results.is_some_and(|r| r.len() == reads);
            if nested && o.outcome == Outcome::Ok && results.is_some() && !aligned && !reads_only {
                misaligned += 1;
            }
            let mut read_no = 0usize;
            for (pos, child) in children.iter().enumerate() {
                let result = match results {
                    Some(r) if aligned => r.get(pos),
                    Some(r) if reads_only && matches!(child, Op::Read { .. }) => r.get(read_no),
                    _ => None,
                };
                if matches!(child, Op::Read { .. }) {
                    read_no += 1;
                }
                let outcome = match (atomic, result) {
                    (false, Some(r)) => r.outcome,
                    _ => o.outcome,
                };
                let value = if nested {
                    result.map(|r| &r.value)
                } else {
                    Some(o.value)
                };
                let effect = match child {
                    Op::Read { .. } => Effect::Read(match (outcome, value) {
                        (Outcome::Ok, Some(v)) => observed(v),
                        _ => Observed::Unknown,
                    }),
                    Op::Write { value, .. } if o.step == edn::KV_APPEND_STEP => {
                        Effect::AppendStr(value)
                    }
                    Op::Write { value, .. } => Effect::Write(value),
                    Op::InsertIfAbsent { value, .. } => Effect::InsertIfAbsent(value),
                    Op::CompareAndSet {
                        expected_version,
                        value,
                        ..
                    } => match edn::cas_value_expected(o.step) {
                        Some(expected) => Effect::CasValue {
                            expected: expected.map(String::into_boxed_str),
                            value,
                        },
                        None => Effect::CasVersion {
                            expected: *expected_version,
                            value,
                        },
                    },
                    Op::Delete { .. } => Effect::Delete,
                    Op::Append { element, .. } => Effect::Append(*element),
                    other => {
                        *unchecked.entry(other.kind().as_str()).or_default() += 1;
                        if let Op::Increment { key, .. } = other {
                            let k = self.intern(&mut ids, key);
                            counter_keys.push(k);
                        }
                        continue;
                    }
                };
                let Some(key) = child.key() else { continue };
                let key = self.intern(&mut ids, key);
                self.accesses.push(Access {
                    op: i as u32,
                    key,
                    outcome,
                    effect,
                });
            }
            self.op_accesses.push(first..self.accesses.len() as u32);
        }
        self.ops = ops;
        self.counter_keys = counter_keys;
        let mut unchecked: Vec<_> = unchecked.into_iter().collect();
        unchecked.sort();
        for (kind, n) in unchecked {
            self.notes
                .push(format!("{n} {kind} op(s) are not checked for consistency"));
        }
        if misaligned > 0 {
            self.notes.push(format!(
                "{misaligned} batch/transaction result(s) did not line up with their ops; their reads were not used"
            ));
        }
    }

    fn classify_keys(&mut self) {
        let n = self.keys.len();
        let (mut list, mut register, mut counter) =
            (vec![false; n], vec![false; n], vec![false; n]);
        let mut in_txn = vec![false; n];
        let mut kv = vec![false; n];
        for a in &self.accesses {
            let k = a.key as usize;
            if edn::is_kv_step(self.ops[a.op as usize].step) {
                kv[k] = true;
            }
            match &a.effect {
                Effect::Append(_) | Effect::Read(Observed::List(_)) => list[k] = true,
                Effect::Read(Observed::Register { .. }) => register[k] = true,
                e if e.is_register_write() => register[k] = true,
                _ => {}
            }
            if self.ops[a.op as usize].is_txn() {
                in_txn[k] = true;
            }
        }
        for &k in &self.counter_keys {
            counter[k as usize] = true;
        }
        let mut mixed = Vec::new();
        self.key_kind = (0..n)
            .map(|k| {
                if counter[k] || (list[k] && register[k]) {
                    if list[k] && register[k] {
                        mixed.push(self.keys[k]);
                    }
                    KeyKind::Other
                } else if list[k] {
                    KeyKind::List
                } else if kv[k] {
                    KeyKind::Kv
                } else {
                    KeyKind::Register
                }
            })
            .collect();
        self.key_in_txn = in_txn;
        if !mixed.is_empty() {
            mixed.sort();
            self.notes.push(format!(
                "key(s) used both as list and as register were not checked: {}",
                crate::text::short_list(&mixed)
            ));
        }
    }

    pub(crate) fn op_of(&self, a: &Access<'_>) -> &Operation<'a> {
        &self.ops[a.op as usize]
    }
}
