//! Linearizability of single-key registers (read, write, insert-if-absent,
//! compare-and-set by version or by value, delete), checked per key (P-compositionality:
//! a history is linearizable iff each key's sub-history is) with the Wing–Gong search
//! as improved by Lowe (memoising `(linearized set, state)`), the algorithm Porcupine
//! and Knossos' WGL checker use.
//!
//! `fail` ops did not happen and are dropped. An `indeterminate` write may or may not
//! have happened: it stays pending until the end of time, and when placed it takes
//! effect if its condition holds and is a no-op otherwise (placing it after every other
//! op is the same as "it never happened"). Indeterminate reads tell nothing and are
//! dropped. On failure the evidence is the deepest point the search reached: the last
//! ops it placed, the register's state there, the op that could not be placed before it
//! returned, and the ops concurrent with it.

use crate::fxhash::{mix64, FastMap};
use crate::history_view::{Effect, KeyKind, Observed, View};
use crate::model::{evidence_op, names, short_list, Evidence, Findings};
use assay_core::Outcome;

/// Search steps allowed per key before the key is reported inconclusive.
pub const DEFAULT_STEP_BUDGET: u64 = 20_000_000;

const NIL: u32 = u32::MAX;
/// Value id of "no row".
const ABSENT: u32 = 0;
/// Value id of "a row without a value" (created by an append or increment).
const NO_VALUE: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct State {
    value: u32,
    version: u64,
}

const INITIAL: State = State { value: ABSENT, version: 0 };

#[derive(Clone, Copy, Debug)]
enum RegOp {
    Read { value: u32, version: Option<u64> },
    Write(u32),
    CasVersion { expected: Option<u64>, value: u32 },
    CasValue { expected: u32, value: u32 },
    Insert(u32),
    Delete,
}

impl RegOp {
    /// The state after the op, or `None` if it cannot take effect in `s`.
    fn apply(self, s: State) -> Option<State> {
        let bump = |value| State { value, version: s.version + 1 };
        match self {
            RegOp::Read { value, version } => (s.value == value && version.is_none_or(|v| v == s.version)).then_some(s),
            RegOp::Write(v) => Some(bump(v)),
            RegOp::CasVersion { expected, value } => {
                let holds = match expected {
                    Some(n) => s.value != ABSENT && s.version == n,
                    None => s.value == ABSENT,
                };
                holds.then(|| bump(value))
            }
            RegOp::CasValue { expected, value } => (s.value == expected).then(|| bump(value)),
            RegOp::Insert(v) => (s.value == ABSENT).then(|| bump(v)),
            RegOp::Delete => Some(INITIAL),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct LinOp {
    /// Index of the operation in `View::ops`.
    op: usize,
    call: u64,
    /// `u64::MAX` for an indeterminate op: it may take effect at any later time.
    ret: u64,
    reg: RegOp,
    definite: bool,
}

impl LinOp {
    fn step(&self, s: State) -> Option<State> {
        match self.reg.apply(s) {
            Some(n) => Some(n),
            None if !self.definite => Some(s),
            None => None,
        }
    }
}

/// Where the deepest attempt got stuck.
struct Stuck {
    depth: usize,
    /// The op whose return was reached before it could be placed.
    op: usize,
    state: State,
    /// The last ops placed before getting stuck, in order.
    recent: Vec<usize>,
}

enum SearchResult {
    Linearizable,
    NotLinearizable(Stuck),
    Unknown { steps: u64 },
}

fn search(ops: &[LinOp], budget: u64) -> SearchResult {
    let n = ops.len();
    // Node 0 is the list head; node 2i+1 is op i's call, 2i+2 its return.
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, o) in ops.iter().enumerate() {
        order.push((o.call, false, i));
        order.push((o.ret, true, i));
    }
    // Calls before returns at equal times: touching intervals count as concurrent.
    order.sort_unstable();
    let nodes = 2 * n + 1;
    let mut next = vec![NIL; nodes];
    let mut prev = vec![NIL; nodes];
    let node_of = |i: usize, ret: bool| (2 * i + 1 + ret as usize) as u32;
    let mut last = 0u32;
    for &(_, ret, i) in &order {
        let node = node_of(i, ret);
        next[last as usize] = node;
        prev[node as usize] = last;
        last = node;
    }
    let op_of = |node: u32| (node as usize - 1) / 2;
    let is_call = |node: u32| (node as usize - 1) % 2 == 0;
    let remove = |next: &mut Vec<u32>, prev: &mut Vec<u32>, node: u32| {
        let (p, nx) = (prev[node as usize], next[node as usize]);
        next[p as usize] = nx;
        if nx != NIL {
            prev[nx as usize] = p;
        }
    };
    let restore = |next: &mut Vec<u32>, prev: &mut Vec<u32>, node: u32| {
        let (p, nx) = (prev[node as usize], next[node as usize]);
        next[p as usize] = node;
        if nx != NIL {
            prev[nx as usize] = node;
        }
    };

    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut lin_hash = 0u64;
    let zobrist: Vec<u64> = (0..n as u64).map(mix64).collect();
    let mut cache: FastMap<(u64, State), Vec<Box<[u64]>>> = FastMap::default();
    let mut stack: Vec<(u32, State)> = Vec::new();
    let mut state = INITIAL;
    let mut stuck: Option<Stuck> = None;
    let mut steps = 0u64;
    let mut entry = next[0];
    while entry != NIL {
        steps += 1;
        if steps > budget {
            return SearchResult::Unknown { steps };
        }
        let i = op_of(entry);
        if is_call(entry) {
            if let Some(new_state) = ops[i].step(state) {
                linearized[i / 64] |= 1 << (i % 64);
                let h = lin_hash ^ zobrist[i];
                let seen = cache.entry((h, new_state)).or_default();
                if !seen.iter().any(|b| **b == *linearized) {
                    seen.push(linearized.clone().into_boxed_slice());
                    stack.push((entry, state));
                    state = new_state;
                    lin_hash = h;
                    remove(&mut next, &mut prev, entry);
                    remove(&mut next, &mut prev, node_of(i, true));
                    entry = next[0];
                    continue;
                }
                linearized[i / 64] &= !(1 << (i % 64));
            }
            entry = next[entry as usize];
        } else {
            // Op i returned and was never placed: undo the latest placement.
            if stuck.as_ref().is_none_or(|s| stack.len() > s.depth) {
                stuck = Some(Stuck {
                    depth: stack.len(),
                    op: i,
                    state,
                    recent: stack[stack.len().saturating_sub(3)..].iter().map(|(c, _)| op_of(*c)).collect(),
                });
            }
            let Some((call, prev_state)) = stack.pop() else {
                return match stuck {
                    Some(s) => SearchResult::NotLinearizable(s),
                    None => SearchResult::Linearizable,
                };
            };
            let j = op_of(call);
            state = prev_state;
            linearized[j / 64] &= !(1 << (j % 64));
            lin_hash ^= zobrist[j];
            restore(&mut next, &mut prev, node_of(j, true));
            restore(&mut next, &mut prev, call);
            entry = next[call as usize];
        }
    }
    SearchResult::Linearizable
}

/// Interns one key's register values; ids 0 and 1 are reserved.
#[derive(Default)]
struct Values<'a> {
    ids: FastMap<&'a str, u32>,
    names: Vec<&'a str>,
}

impl<'a> Values<'a> {
    fn id(&mut self, v: Option<&'a str>) -> u32 {
        let Some(v) = v else { return NO_VALUE };
        *self.ids.entry(v).or_insert_with(|| {
            self.names.push(v);
            self.names.len() as u32 + 1
        })
    }
    fn show(&self, s: State) -> String {
        match s.value {
            ABSENT => "absent".to_string(),
            NO_VALUE => format!("a row without a value, ver {}", s.version),
            id => format!("{:?} ver {}", self.names[id as usize - 2], s.version),
        }
    }
}

/// Checks every register key that no transaction touches; adds `nonlinearizable`
/// anomalies (one per key) to `findings`.
pub(crate) fn check(view: &View<'_>, findings: &mut Findings, budget: u64) {
    let nkeys = view.keys.len();
    let mut per_key: Vec<Vec<LinOp>> = vec![Vec::new(); nkeys];
    let mut values: Vec<Values<'_>> = (0..nkeys).map(|_| Values::default()).collect();
    let mut txn_keys = Vec::new();
    for k in 0..nkeys {
        if view.key_kind[k] == KeyKind::Register && view.key_in_txn[k] {
            txn_keys.push(view.keys[k]);
        }
    }
    for a in &view.accesses {
        let k = a.key as usize;
        if view.key_kind[k] != KeyKind::Register || view.key_in_txn[k] || a.outcome == Outcome::Fail {
            continue;
        }
        let o = view.op_of(a);
        let definite = a.outcome == Outcome::Ok;
        let vals = &mut values[k];
        let reg = match &a.effect {
            Effect::Read(obs) => match (definite, obs) {
                (true, Observed::Absent) => RegOp::Read { value: ABSENT, version: None },
                (true, Observed::Register { value, version }) => RegOp::Read { value: vals.id(*value), version: *version },
                _ => continue,
            },
            Effect::Write(v) => RegOp::Write(vals.id(Some(v))),
            Effect::InsertIfAbsent(v) => RegOp::Insert(vals.id(Some(v))),
            Effect::CasVersion { expected, value } => RegOp::CasVersion { expected: *expected, value: vals.id(Some(value)) },
            Effect::CasValue { expected, value } => RegOp::CasValue {
                expected: match expected {
                    Some(e) => vals.id(Some(e.as_str())),
                    None => ABSENT,
                },
                value: vals.id(Some(value)),
            },
            Effect::Delete => RegOp::Delete,
            Effect::Append(_) => continue,
        };
        per_key[k].push(LinOp {
            op: a.op as usize,
            call: o.start_ns,
            ret: if definite { o.end_ns } else { u64::MAX },
            reg,
            definite,
        });
    }
    if !txn_keys.is_empty() {
        txn_keys.sort();
        findings.skipped.push(format!(
            "linearizability of register key(s) also written in transactions (checked as transactions instead): {}",
            short_list(&txn_keys)
        ));
    }
    let (mut total_ops, mut total_keys) = (0usize, 0usize);
    for (k, ops) in per_key.iter().enumerate() {
        if ops.is_empty() {
            continue;
        }
        total_ops += ops.len();
        total_keys += 1;
        match search(ops, budget) {
            SearchResult::Linearizable => {}
            SearchResult::Unknown { steps } => findings.inconclusive.push(format!(
                "linearizability of key {:?}: gave up after {steps} search steps over {} ops (too much concurrency or too many indeterminate writes)",
                view.keys[k],
                ops.len()
            )),
            SearchResult::NotLinearizable(stuck) => {
                findings.add(names::NONLINEARIZABLE, || explain(view, view.keys[k], ops, &values[k], &stuck));
            }
        }
    }
    if total_ops > 0 {
        findings
            .checked
            .push(format!("linearizability: {total_ops} register ops on {total_keys} key(s)"));
    }
}

/// The smallest fragment the search points at: the last ops placed, the op that could
/// not be placed, and the ops concurrent with it.
fn explain(view: &View<'_>, key: &str, ops: &[LinOp], values: &Values<'_>, stuck: &Stuck) -> (String, Evidence) {
    const MAX_CONCURRENT: usize = 5;
    let bad = &ops[stuck.op];
    let mut chosen: Vec<usize> = stuck.recent.clone();
    chosen.push(stuck.op);
    let mut concurrent: Vec<usize> = (0..ops.len())
        .filter(|&i| !chosen.contains(&i) && ops[i].call <= bad.ret && ops[i].ret >= bad.call)
        .collect();
    concurrent.sort_by_key(|&i| ops[i].call);
    concurrent.truncate(MAX_CONCURRENT);
    let mut evidence = Evidence::default();
    let label = |n: usize| format!("T{}", n + 1);
    for (n, &i) in chosen.iter().chain(&concurrent).enumerate() {
        evidence.ops.push(evidence_op(view, ops[i].op, label(n)));
    }
    let placed = if stuck.recent.is_empty() {
        format!("from the initial state ({})", values.show(INITIAL))
    } else {
        let labels: Vec<String> = (0..stuck.recent.len()).map(label).collect();
        format!(
            "after placing {} of {} ops, the last being {} in that order, the register was {}",
            stuck.depth,
            ops.len(),
            labels.join(", "),
            values.show(stuck.state)
        )
    };
    let others = if concurrent.is_empty() {
        "no op was concurrent with it".to_string()
    } else {
        let labels: Vec<String> = (0..concurrent.len()).map(|n| label(n + chosen.len())).collect();
        format!("ops concurrent with it: {}", labels.join(", "))
    };
    let explanation = format!(
        "key {key:?} has no linearization: {placed}, and {} could not take effect before it returned ({others})",
        label(stuck.recent.len())
    );
    (explanation, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: u64, ret: u64, reg: RegOp) -> LinOp {
        LinOp { op: 0, call, ret, reg, definite: true }
    }

    #[test]
    fn overlapping_ops_may_take_effect_in_either_order() {
        let h = [
            op(0, 10, RegOp::Write(2)),
            op(1, 11, RegOp::Write(3)),
            op(12, 13, RegOp::Read { value: 2, version: Some(2) }),
        ];
        assert!(matches!(search(&h, 1000), SearchResult::Linearizable));
        let h = [op(0, 10, RegOp::Write(2)), op(11, 12, RegOp::Write(3)), op(13, 14, RegOp::Read { value: 2, version: None })];
        match search(&h, 1000) {
            SearchResult::NotLinearizable(s) => assert_eq!(s.op, 2),
            _ => panic!("a stale read after a completed overwrite must fail"),
        }
    }

    #[test]
    fn an_indeterminate_write_may_or_may_not_have_happened() {
        let info = LinOp { op: 0, call: 0, ret: u64::MAX, reg: RegOp::Write(2), definite: false };
        let before = op(1, 2, RegOp::Read { value: ABSENT, version: None });
        let after = op(3, 4, RegOp::Read { value: 2, version: None });
        assert!(matches!(search(&[info, before, after], 1000), SearchResult::Linearizable));
        assert!(matches!(search(&[info, before], 1000), SearchResult::Linearizable));
        let cas = LinOp { reg: RegOp::CasVersion { expected: Some(7), value: 2 }, ..info };
        assert!(matches!(search(&[cas, before], 1000), SearchResult::Linearizable));
    }

    #[test]
    fn versions_and_value_cas_are_modelled() {
        let h = [
            op(0, 1, RegOp::Insert(2)),
            op(2, 3, RegOp::CasVersion { expected: Some(1), value: 3 }),
            op(4, 5, RegOp::CasValue { expected: 3, value: 4 }),
            op(6, 7, RegOp::Read { value: 4, version: Some(3) }),
            op(8, 9, RegOp::Delete),
            op(10, 11, RegOp::CasVersion { expected: None, value: 5 }),
            op(12, 13, RegOp::Read { value: 5, version: Some(1) }),
        ];
        assert!(matches!(search(&h, 1000), SearchResult::Linearizable));
        let bad = [op(0, 1, RegOp::Insert(2)), op(2, 3, RegOp::Insert(3))];
        assert!(matches!(search(&bad, 1000), SearchResult::NotLinearizable(_)));
    }

    #[test]
    fn the_budget_makes_the_search_inconclusive_not_valid() {
        let h: Vec<LinOp> = (0..20).map(|i| op(0, 100, RegOp::Write(i + 2))).collect();
        let mut h = h;
        h.push(op(101, 102, RegOp::Read { value: 99, version: None }));
        assert!(matches!(search(&h, 50), SearchResult::Unknown { .. }));
    }
}
