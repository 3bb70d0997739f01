//! Linearizability of single-key registers (read, write, insert-if-absent,
//! compare-and-set by version or by value, delete) and of Porcupine's key-value model
//! (get / put / append by string concatenation), checked per key (P-compositionality:
//! a history is linearizable iff each key's sub-history is) with the Wing–Gong search
//! as improved by Lowe (memoising `(linearized set, state)` as a bitset with an
//! incremental hash plus the state), the algorithm Porcupine and Knossos' WGL checker
//! use. Every search has a step budget; running out leaves the key *inconclusive*.
//!
//! `fail` ops did not happen and are dropped. An `indeterminate` write may or may not
//! have happened: it stays pending until the end of time and is placed only where its
//! condition holds (leaving it pending is the same as "it never happened").
//! Indeterminate reads tell nothing and are dropped. Two prunings keep the search small,
//! both exact: a definite read that can be placed is placed at once (it changes
//! nothing, so no alternative order is needed), and a configuration where some
//! definite read can never again see its value (no unplaced op writes it, nor an
//! append can grow into it) is abandoned. On failure the evidence is the longest
//! linearizable prefix the search found (its length, its last ops, the state it
//! leaves), the op that cannot be placed after it, and the ops concurrent with that op.

use crate::evidence::Findings;
use crate::fxhash::FastMap;
use crate::history_view::{Effect, KeyKind, Observed, View};
use crate::model::names;
use crate::text::short_list;
use assay_core::Outcome;
use cache::{Cache, Placed};
use values::{State, Values, ABSENT, INITIAL, NO_VALUE, UNSEEN};

mod cache;
mod explain;
mod values;

/// Search steps allowed per key before the key is reported inconclusive.
pub const DEFAULT_STEP_BUDGET: u64 = 20_000_000;

pub(crate) const NIL: u32 = u32::MAX;
#[derive(Clone, Copy, Debug)]
enum RegOp {
    Read {
        value: u32,
        version: Option<u64>,
    },
    Write(u32),
    CasVersion {
        expected: Option<u64>,
        value: u32,
    },
    CasValue {
        expected: u32,
        value: u32,
    },
    Insert(u32),
    Delete,
    /// Porcupine's key-value append: the value becomes the old one followed by this.
    AppendStr(u32),
}

impl RegOp {
    /// The value a (non-append) write leaves; a delete leaves "absent".
    fn written(self) -> Option<u32> {
        match self {
            RegOp::Write(v) | RegOp::Insert(v) => Some(v),
            RegOp::CasVersion { value, .. } | RegOp::CasValue { value, .. } => Some(value),
            RegOp::Delete => Some(ABSENT),
            RegOp::Read { .. } | RegOp::AppendStr(_) => None,
        }
    }

    /// The value the register must hold for the op to take effect, if one.
    fn needed(self) -> Option<u32> {
        match self {
            RegOp::Read { value, .. } => Some(value),
            RegOp::CasValue { expected, .. } => Some(expected),
            RegOp::Insert(_) | RegOp::CasVersion { expected: None, .. } => Some(ABSENT),
            _ => None,
        }
    }

    fn read_value(self) -> Option<u32> {
        match self {
            RegOp::Read { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The state after the op, or `None` if it cannot take effect in `s`.
    fn apply(self, s: State, vals: &mut Values<'_>) -> Option<State> {
        let bump = |value| State {
            value,
            version: s.version + 1,
            ..s
        };
        match self {
            RegOp::Read { value, version } => {
                (s.value == value && version.is_none_or(|v| v == s.version)).then_some(s)
            }
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
            RegOp::Delete => Some(State {
                value: ABSENT,
                version: 0,
                ..s
            }),
            RegOp::AppendStr(suffix) => Some(bump(vals.concat(s.value, suffix))),
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

/// Where the deepest attempt got stuck.
struct Stuck {
    depth: usize,
    /// The op whose return was reached before it could be placed.
    op: usize,
    state: State,
    /// Every op placed before getting stuck, in order: the longest linearizable prefix
    /// the search found.
    prefix: Vec<usize>,
}

impl Stuck {
    /// The last `n` ops of the prefix.
    fn recent(&self, n: usize) -> &[usize] {
        &self.prefix[self.prefix.len().saturating_sub(n)..]
    }
}

enum SearchResult {
    Linearizable,
    NotLinearizable(Stuck),
    Unknown { steps: u64 },
}

/// What a search level tried last, to resume from on backtracking.
#[derive(Clone, Copy)]
enum Cursor {
    /// Walking the definite ops' call entries from this list node.
    Entry(u32),
    /// Trying indeterminate ops from index `next` of `floating`, those called no
    /// later than `limit` (the time of the level's first pending return, node `ret`).
    Float { next: usize, limit: u64, ret: u32 },
    /// Trying one more unseen write, then nothing is left at this level.
    Unseen { limit: u64, ret: u32 },
    /// Everything at this level was tried; `op` (`NIL` after a committed read, whose
    /// failure deeper down was recorded there) is the op that could not be placed.
    Done { op: u32 },
}

/// Marks a stack frame that placed an unseen write rather than an op.
const UNSEEN_OP: usize = usize::MAX;

/// The Wing–Gong–Lowe search over one key's ops. Indeterminate ops never return, so they
/// are kept out of the event list and tried only after every definite candidate at a
/// level: a write that may not have happened is placed only where some later read
/// needs it, instead of first everywhere (which makes the search explode on histories
/// with timeouts). `unseen` are the call times of interchangeable unseen writes.
fn search(ops: &[LinOp], unseen: &[u64], budget: u64, vals: &mut Values<'_>) -> SearchResult {
    let mut perm: Vec<usize> = (0..ops.len()).collect();
    perm.sort_by_key(|&i| (!ops[i].definite, ops[i].call, i));
    let ordered: Vec<LinOp> = perm.iter().map(|&i| ops[i]).collect();
    match search_ordered(&ordered, unseen, budget, vals) {
        SearchResult::NotLinearizable(mut s) => {
            s.op = perm[s.op];
            s.prefix = s.prefix.iter().map(|&j| perm[j]).collect();
            SearchResult::NotLinearizable(s)
        }
        other => other,
    }
}

/// `search` over ops numbered definite-first by call time.
fn search_ordered(
    ops: &[LinOp],
    unseen: &[u64],
    budget: u64,
    vals: &mut Values<'_>,
) -> SearchResult {
    let n = ops.len();
    let n_definite = ops.iter().take_while(|o| o.definite).count();
    let floating: Vec<usize> = (n_definite..n).collect();
    // Node 0 is the list head; node 2i+1 is op i's call, 2i+2 its return.
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n_definite);
    for (i, o) in ops.iter().enumerate().take(n_definite) {
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

    // Per value id: the unplaced ops that write it (a delete writes "absent"). A read
    // whose value has no writer left, and cannot grow into it by appends, can never
    // be placed again from here.
    let max_id = ops
        .iter()
        .flat_map(|o| [o.reg.written(), o.reg.read_value(), o.reg.needed()])
        .flatten()
        .max()
        .unwrap_or(0);
    let mut writers_left = vec![0u32; max_id as usize + 1];
    for o in ops {
        if let Some(w) = o.reg.written() {
            writers_left[w as usize] += 1;
        }
    }
    let appends = ops.iter().any(|o| matches!(o.reg, RegOp::AppendStr(_)));
    if appends {
        vals.prepare_appends(ops.iter().filter_map(|o| match o.reg {
            RegOp::Read { value, .. } => Some(value),
            RegOp::CasValue { expected, .. } => Some(expected),
            _ => None,
        }));
    }
    // With appends: per read, the writes whose value its value starts with.
    let prefix_writers: Vec<Vec<u32>> = if appends {
        ops.iter()
            .map(|o| match o.reg.read_value() {
                Some(v) => (0..n as u32)
                    .filter(|&j| {
                        ops[j as usize]
                            .reg
                            .written()
                            .is_some_and(|w| vals.text(v).starts_with(vals.text(w)))
                    })
                    .collect(),
                None => Vec::new(),
            })
            .collect()
    } else {
        Vec::new()
    };
    // Per value id: the unplaced definite ops that need the register to hold it (reads,
    // value compare-and-sets; inserts and absent-version ones need "absent"). Once the
    // state leaves a value with no writer of it left, such an op can never be placed:
    // the configuration is dead. Appends can make values in other ways, so not with them.
    let mut needs_left = vec![0u32; max_id as usize + 1];
    if !appends {
        for o in ops.iter().filter(|o| o.definite) {
            if let Some(v) = o.reg.needed() {
                needs_left[v as usize] += 1;
            }
        }
        // Some op needs a value nothing writes (and the register does not start with):
        // no order places it, whatever comes first.
        if let Some(i) = (0..n).find(|&i| {
            ops[i].definite
                && ops[i]
                    .reg
                    .needed()
                    .is_some_and(|v| v != INITIAL.value && writers_left[v as usize] == 0)
        }) {
            return SearchResult::NotLinearizable(Stuck {
                depth: 0,
                op: i,
                state: INITIAL,
                prefix: Vec::new(),
            });
        }
    }
    // Whether a step from value `from` to `to` leaves a needed value for good; `own` is
    // 1 when the op taking the step is itself one that needed `from`.
    let leaves_needed = |needs_left: &[u32], writers_left: &[u32], from: u32, to: u32, own: u32| {
        from != to
            && (from as usize) < needs_left.len()
            && needs_left[from as usize] > own
            && writers_left[from as usize] == 0
    };
    // Per value id: the definite ops that need it, to name one in the evidence.
    let mut needers: Vec<Vec<u32>> = vec![Vec::new(); needs_left.len()];
    if !appends {
        for (i, o) in ops.iter().enumerate().filter(|(_, o)| o.definite) {
            if let Some(v) = o.reg.needed() {
                needers[v as usize].push(i as u32);
            }
        }
    }
    let mut placed = Placed::new(n, n_definite);
    let mut cache = Cache::default();
    // Each frame: the cursor to resume its level from, the op placed (or UNSEEN_OP),
    // and the state before it.
    let mut stack: Vec<(Cursor, usize, State)> = Vec::new();
    let mut state = INITIAL;
    let mut stuck: Option<Stuck> = None;
    // The deepest stuck configuration's frames (`Stuck::prefix`, unseen writes
    // included), and how many bottom frames of the stack have stayed as saved there.
    let mut stuck_frames: Vec<usize> = Vec::new();
    let mut unchanged = 0usize;
    let mut steps = 0u64;
    let mut cur = Cursor::Entry(next[0]);
    loop {
        steps += 1;
        if steps > budget {
            return SearchResult::Unknown { steps };
        }
        // The op to try at this step, with the cursor to continue from if it fails.
        let (i, resume) = match cur {
            Cursor::Entry(NIL) => return SearchResult::Linearizable,
            Cursor::Entry(e) if is_call(e) => (op_of(e), Cursor::Entry(next[e as usize])),
            Cursor::Entry(ret) => {
                cur = Cursor::Float {
                    next: 0,
                    limit: ops[op_of(ret)].ret,
                    ret,
                };
                continue;
            }
            Cursor::Float {
                next: from,
                limit,
                ret,
            } => {
                let candidate = (from..floating.len())
                    .find(|&j| !placed.has(floating[j]))
                    .filter(|&j| ops[floating[j]].call <= limit);
                match candidate {
                    Some(j) => (
                        floating[j],
                        Cursor::Float {
                            next: j + 1,
                            limit,
                            ret,
                        },
                    ),
                    None => {
                        cur = Cursor::Unseen { limit, ret };
                        continue;
                    }
                }
            }
            Cursor::Unseen { limit, ret } => {
                cur = Cursor::Done {
                    op: op_of(ret) as u32,
                };
                let k = state.unseen_used as usize;
                if k < unseen.len() && unseen[k] <= limit {
                    let new_state = State {
                        value: UNSEEN,
                        version: state.version + 1,
                        unseen_used: state.unseen_used + 1,
                    };
                    if !leaves_needed(&needs_left, &writers_left, state.value, UNSEEN, 0)
                        && cache.insert(&placed, new_state)
                    {
                        stack.push((cur, UNSEEN_OP, state));
                        state = new_state;
                        cur = Cursor::Entry(next[0]);
                    }
                }
                continue;
            }
            Cursor::Done { op } => {
                // Nothing more to try at this level: `op` cannot be placed.
                if op != NIL && stuck.as_ref().is_none_or(|s| stack.len() > s.depth) {
                    // Frames below `unchanged` are still the ones saved last time, so
                    // only the rest is copied (a full copy per new depth is quadratic).
                    stuck_frames.truncate(unchanged);
                    stuck_frames.extend(stack[unchanged..].iter().map(|f| f.1));
                    unchanged = stack.len();
                    stuck = Some(Stuck {
                        depth: stack.len(),
                        op: op as usize,
                        state,
                        prefix: Vec::new(),
                    });
                }
                let Some((resume, j, prev_state)) = stack.pop() else {
                    return match stuck {
                        Some(mut s) => {
                            s.prefix = stuck_frames
                                .into_iter()
                                .filter(|&j| j != UNSEEN_OP)
                                .collect();
                            SearchResult::NotLinearizable(s)
                        }
                        None => SearchResult::Linearizable,
                    };
                };
                unchanged = unchanged.min(stack.len());
                state = prev_state;
                if j != UNSEEN_OP {
                    placed.clear(j);
                    if let Some(w) = ops[j].reg.written() {
                        writers_left[w as usize] += 1;
                    }
                    if let Some(v) = ops[j].reg.needed().filter(|_| ops[j].definite && !appends) {
                        needs_left[v as usize] += 1;
                    }
                    if j < n_definite {
                        restore(&mut next, &mut prev, node_of(j, true));
                        restore(&mut next, &mut prev, node_of(j, false));
                    }
                }
                cur = resume;
                continue;
            }
        };
        cur = resume;
        // An indeterminate op whose condition fails here is not placed as a no-op:
        // leaving it pending allows everything placing it would, and more.
        let Some(new_state) = ops[i].reg.apply(state, vals) else {
            if let (true, RegOp::Read { value, .. }) = (ops[i].definite, ops[i].reg) {
                // No op left can make the read's value current again: this
                // configuration is dead, whatever is placed next.
                let reachable = writers_left[value as usize] > 0
                    || (appends
                        && (vals.may_grow_into(state.value, value)
                            || prefix_writers[i].iter().any(|&j| !placed.has(j as usize))));
                if !reachable {
                    cur = Cursor::Done { op: i as u32 };
                }
            }
            continue;
        };
        let own = (ops[i].definite && ops[i].reg.needed() == Some(state.value)) as u32;
        let dead = leaves_needed(
            &needs_left,
            &writers_left,
            state.value,
            new_state.value,
            own,
        );
        placed.set(i);
        if !cache.insert(&placed, new_state) {
            placed.clear(i);
            continue;
        }
        // A definite read that can be placed now is placed now, with no alternatives at
        // this level: it leaves the state as it is, and as it is a candidate no
        // unplaced op returned before it was called, so any linearization placing it
        // later stays one with it moved here.
        let commit = ops[i].definite && matches!(ops[i].reg, RegOp::Read { .. });
        let resume = if commit {
            Cursor::Done { op: NIL }
        } else {
            resume
        };
        if let Some(w) = ops[i].reg.written() {
            writers_left[w as usize] -= 1;
        }
        if let Some(v) = ops[i].reg.needed().filter(|_| ops[i].definite && !appends) {
            needs_left[v as usize] -= 1;
        }
        stack.push((resume, i, state));
        state = new_state;
        if i < n_definite {
            remove(&mut next, &mut prev, node_of(i, false));
            remove(&mut next, &mut prev, node_of(i, true));
        }
        cur = if dead {
            // Placed only to show it: some op needing the value just left cannot follow
            // (`Done` names it when this is the deepest configuration so far).
            let deeper = stuck.as_ref().is_none_or(|s| stack.len() > s.depth);
            let from = stack[stack.len() - 1].2.value as usize;
            let op = needers[from]
                .iter()
                .copied()
                .find(|&j| deeper && !placed.has(j as usize))
                .unwrap_or(NIL);
            Cursor::Done { op }
        } else {
            Cursor::Entry(next[0])
        };
    }
}

/// Narrows indeterminate writes before the search, using what reads observed:
/// - one whose value (written by no other op) some op observed did happen, before the
///   earliest such observer returned: it becomes definite with that return time;
/// - one whose value nobody observed, on a key with no versions in play, may as well
///   not have happened (placing it after everything else is the same): it is dropped;
/// - with versions in play, an unseen unconditional write can only have bumped the
///   version (and left a value nobody reads): these are returned as the call times of
///   interchangeable "unseen writes", of which the search places the earliest first.
///
/// Indeterminate ops otherwise stay pending to the end of time, which multiplies the
/// search; this keeps that to writes that only versions could reveal.
fn settle_indeterminate(ops: &mut Vec<LinOp>) -> Vec<u64> {
    let mut unseen = Vec::new();
    // With string appends a read's value is a concatenation, so "observed" and
    // "written by no other op" say nothing about a single write: keep every one.
    if ops.iter().all(|o| o.definite) || ops.iter().any(|o| matches!(o.reg, RegOp::AppendStr(_))) {
        return unseen;
    }
    let written = |o: &LinOp| match o.reg {
        RegOp::Write(v) | RegOp::Insert(v) => Some(v),
        RegOp::CasVersion { value, .. } | RegOp::CasValue { value, .. } => Some(value),
        RegOp::Read { .. } | RegOp::Delete | RegOp::AppendStr(_) => None,
    };
    let mut writers: FastMap<u32, u32> = FastMap::default();
    for o in ops.iter() {
        if let Some(v) = written(o) {
            *writers.entry(v).or_default() += 1;
        }
    }
    // Versions are in play when a read reports one or any op (even one that may not
    // have happened) compares them: then every write counts, seen or not.
    let versions = ops.iter().any(|o| {
        matches!(
            o.reg,
            RegOp::CasVersion { .. }
                | RegOp::Read {
                    version: Some(_),
                    ..
                }
        )
    });
    let mut observed: FastMap<u32, u64> = FastMap::default();
    for o in ops.iter().filter(|o| o.definite) {
        let seen = match o.reg {
            RegOp::Read { value, .. } => Some(value),
            RegOp::CasValue { expected, .. } => Some(expected),
            _ => None,
        };
        if let Some(v) = seen.filter(|v| *v != ABSENT && *v != NO_VALUE) {
            let r = observed.entry(v).or_insert(u64::MAX);
            *r = (*r).min(o.ret);
        }
    }
    // Values an indeterminate value-CAS compares against: a write of one must stay, as
    // that CAS may need it (and another definite op may need the CAS).
    let expected_by_maybe: Vec<u32> = ops
        .iter()
        .filter(|o| !o.definite)
        .filter_map(|o| match o.reg {
            RegOp::CasValue { expected, .. } => Some(expected),
            _ => None,
        })
        .collect();
    ops.retain_mut(|o| {
        if o.definite {
            return true;
        }
        let Some(v) = written(o) else { return true };
        // Porcupine's put of "" leaves the key absent, which a get of "" observes (and
        // `observed` leaves out): such a write stays pending.
        if v == ABSENT {
            return true;
        }
        match observed.get(&v) {
            None if expected_by_maybe.contains(&v) => true,
            Some(&ret) if writers.get(&v) == Some(&1) => {
                o.definite = true;
                o.ret = ret;
                true
            }
            Some(_) => true,
            // Unseen: with versions in play it may still have bumped the version, and
            // any unseen unconditional write can stand for any other, so only how many
            // were placed matters, not which.
            None if versions && matches!(o.reg, RegOp::Write(_)) => {
                unseen.push(o.call);
                false
            }
            None => versions,
        }
    });
    unseen.sort_unstable();
    unseen
}

/// Checks every register key that no transaction touches; adds `nonlinearizable`
/// anomalies (one per key) to `findings`. With `realtime` false the question is
/// serializability (any order, real time ignored): keys that are linearizable are
/// serializable too; the others are searched again with every op concurrent and
/// reported as `nonserializable` when that fails as well.
pub(crate) fn check(view: &View<'_>, findings: &mut Findings, budget: u64, realtime: bool) {
    let nkeys = view.keys.len();
    let mut per_key: Vec<Vec<LinOp>> = vec![Vec::new(); nkeys];
    let mut values: Vec<Values<'_>> = (0..nkeys)
        .map(|k| Values::new(view.key_kind[k] == KeyKind::Kv))
        .collect();
    let linearizable_kind = |k: usize| matches!(view.key_kind[k], KeyKind::Register | KeyKind::Kv);
    let mut txn_keys = Vec::new();
    for k in 0..nkeys {
        if linearizable_kind(k) && view.key_in_txn[k] {
            txn_keys.push(view.keys[k]);
        }
    }
    for a in &view.accesses {
        let k = a.key as usize;
        if !linearizable_kind(k) || view.key_in_txn[k] || a.outcome == Outcome::Fail {
            continue;
        }
        let o = view.op_of(a);
        let definite = a.outcome == Outcome::Ok;
        let vals = &mut values[k];
        let reg = match &a.effect {
            Effect::Read(obs) => match (definite, obs) {
                (true, Observed::Absent) => RegOp::Read {
                    value: ABSENT,
                    version: None,
                },
                (true, Observed::Register { value, version }) => RegOp::Read {
                    value: vals.id(*value),
                    version: *version,
                },
                _ => continue,
            },
            Effect::Write(v) => RegOp::Write(vals.id(Some(v))),
            Effect::InsertIfAbsent(v) => RegOp::Insert(vals.id(Some(v))),
            Effect::CasVersion { expected, value } => RegOp::CasVersion {
                expected: *expected,
                value: vals.id(Some(value)),
            },
            Effect::CasValue { expected, value } => RegOp::CasValue {
                expected: match expected {
                    Some(e) => vals.id(Some(&**e)),
                    None => ABSENT,
                },
                value: vals.id(Some(value)),
            },
            Effect::Delete => RegOp::Delete,
            Effect::AppendStr(s) => RegOp::AppendStr(vals.id(Some(s))),
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
    for (k, ops) in per_key.iter_mut().enumerate() {
        let unseen = settle_indeterminate(ops);
        if ops.is_empty() {
            continue;
        }
        total_ops += ops.len();
        total_keys += 1;
        let mut result = search(ops, &unseen, budget, &mut values[k]);
        let mut name = names::NONLINEARIZABLE;
        if !realtime && !matches!(result, SearchResult::Linearizable) {
            let mut timeless = ops.clone();
            for o in &mut timeless {
                o.call = 0;
                o.ret = u64::MAX;
            }
            result = search(&timeless, &vec![0; unseen.len()], budget, &mut values[k]);
            name = names::NONSERIALIZABLE;
        }
        match result {
            SearchResult::Linearizable => {}
            SearchResult::Unknown { steps } => findings.inconclusive.push(format!(
                "linearizability of key {:?}: gave up after {steps} search steps over {} ops (too much concurrency or too many indeterminate writes)",
                view.keys[k],
                ops.len()
            )),
            SearchResult::NotLinearizable(stuck) => {
                findings.add(name, || explain::explain(view, view.keys[k], ops, &values[k], &stuck));
            }
        }
    }
    if total_ops > 0 {
        findings.checked.push(format!(
            "{}: {total_ops} register ops on {total_keys} key(s)",
            if realtime {
                "linearizability"
            } else {
                "serializability of single-key register ops"
            }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: u64, ret: u64, reg: RegOp) -> LinOp {
        LinOp {
            op: 0,
            call,
            ret,
            reg,
            definite: true,
        }
    }

    #[test]
    fn overlapping_ops_may_take_effect_in_either_order() {
        let h = [
            op(0, 10, RegOp::Write(2)),
            op(1, 11, RegOp::Write(3)),
            op(
                12,
                13,
                RegOp::Read {
                    value: 2,
                    version: Some(2),
                },
            ),
        ];
        assert!(matches!(
            search(&h, &[], 1000, &mut Values::default()),
            SearchResult::Linearizable
        ));
        let h = [
            op(0, 10, RegOp::Write(2)),
            op(11, 12, RegOp::Write(3)),
            op(
                13,
                14,
                RegOp::Read {
                    value: 2,
                    version: None,
                },
            ),
        ];
        match search(&h, &[], 1000, &mut Values::default()) {
            SearchResult::NotLinearizable(s) => assert_eq!(s.op, 2),
            _ => panic!("a stale read after a completed overwrite must fail"),
        }
    }

    #[test]
    fn an_indeterminate_write_may_or_may_not_have_happened() {
        let info = LinOp {
            op: 0,
            call: 0,
            ret: u64::MAX,
            reg: RegOp::Write(2),
            definite: false,
        };
        let before = op(
            1,
            2,
            RegOp::Read {
                value: ABSENT,
                version: None,
            },
        );
        let after = op(
            3,
            4,
            RegOp::Read {
                value: 2,
                version: None,
            },
        );
        assert!(matches!(
            search(&[info, before, after], &[], 1000, &mut Values::default()),
            SearchResult::Linearizable
        ));
        assert!(matches!(
            search(&[info, before], &[], 1000, &mut Values::default()),
            SearchResult::Linearizable
        ));
        let cas = LinOp {
            reg: RegOp::CasVersion {
                expected: Some(7),
                value: 2,
            },
            ..info
        };
        assert!(matches!(
            search(&[cas, before], &[], 1000, &mut Values::default()),
            SearchResult::Linearizable
        ));
    }

    #[test]
    fn versions_and_value_cas_are_modelled() {
        let h = [
            op(0, 1, RegOp::Insert(2)),
            op(
                2,
                3,
                RegOp::CasVersion {
                    expected: Some(1),
                    value: 3,
                },
            ),
            op(
                4,
                5,
                RegOp::CasValue {
                    expected: 3,
                    value: 4,
                },
            ),
            op(
                6,
                7,
                RegOp::Read {
                    value: 4,
                    version: Some(3),
                },
            ),
            op(8, 9, RegOp::Delete),
            op(
                10,
                11,
                RegOp::CasVersion {
                    expected: None,
                    value: 5,
                },
            ),
            op(
                12,
                13,
                RegOp::Read {
                    value: 5,
                    version: Some(1),
                },
            ),
        ];
        assert!(matches!(
            search(&h, &[], 1000, &mut Values::default()),
            SearchResult::Linearizable
        ));
        let bad = [op(0, 1, RegOp::Insert(2)), op(2, 3, RegOp::Insert(3))];
        assert!(matches!(
            search(&bad, &[], 1000, &mut Values::default()),
            SearchResult::NotLinearizable(_)
        ));
    }

    #[test]
    fn an_unseen_indeterminate_write_still_counts_for_a_version_compare() {
        let info = |call, reg| LinOp {
            op: 0,
            call,
            ret: u64::MAX,
            reg,
            definite: false,
        };
        let mut h = vec![
            op(0, 1, RegOp::Write(2)),
            info(2, RegOp::Write(3)),
            info(
                4,
                RegOp::CasVersion {
                    expected: Some(2),
                    value: 4,
                },
            ),
            op(
                6,
                7,
                RegOp::Read {
                    value: 4,
                    version: None,
                },
            ),
        ];
        let unseen = settle_indeterminate(&mut h);
        assert_eq!(
            unseen,
            vec![2],
            "the unseen write is kept as a possible version bump"
        );
        assert!(
            h[1].definite && h[1].ret == 7,
            "the observed cas happened before the read returned"
        );
        assert!(matches!(
            search(&h, &unseen, 1000, &mut Values::default()),
            SearchResult::Linearizable
        ));
    }

    #[test]
    fn the_budget_makes_the_search_inconclusive_not_valid() {
        let h: Vec<LinOp> = (0..20).map(|i| op(0, 100, RegOp::Write(i + 2))).collect();
        let mut h = h;
        // A version no order of the writes reaches: only exhausting them all shows it.
        h.push(op(
            101,
            102,
            RegOp::Read {
                value: 2,
                version: Some(99),
            },
        ));
        assert!(matches!(
            search(&h, &[], 50, &mut Values::default()),
            SearchResult::Unknown { .. }
        ));
    }
}
