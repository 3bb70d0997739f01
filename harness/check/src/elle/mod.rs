//! Elle-style checking of transactions over list-append keys (and rw-register keys):
//! infers write-write, write-read and read-write (anti-)dependencies between
//! transactions, then reports G0, G1a, G1b, G1c, G-single and G2 (plus their
//! `-realtime` variants when checking strict serializability), internal inconsistency,
//! duplicate and phantom elements, and reads that no single order explains.
//!
//! Lists: a key's version order is its longest read; every other read must be a prefix
//! of it. Element `e` at position `i` gives ww from the appender of `e` to the appender
//! of the element at `i+1`; a read ending at `e` gives wr from `e`'s appender; a read of
//! length `n` gives rw to the appender of element `n`. Appends must be unique per key.
//! Registers in transactions: wr from the (unique) writer of the value read; ww and rw
//! only when reads carry record versions (Assay's do, Jepsen's do not) and nothing
//! deletes the key. A single op outside a transaction is a one-op transaction; each op
//! of a batch (not atomic) is its own.

use crate::fxhash::FastSet;
use crate::graph::{kind_of, Graph, Search, RT, RW, WR, WW};
use crate::history_view::{Effect, KeyKind, Observed, View};
use crate::index::{ListIndex, RegisterIndex};
use crate::model::{
    evidence_op, names, ops_evidence, show_list, show_value, CycleEdge, Evidence, Findings,
};
use crate::thresholds::format_ns;
use assay_core::{Op, Outcome};
use std::ops::Range;

/// Edge visits allowed to the cycle search before it stops with an inconclusive note.
pub const DEFAULT_CYCLE_WORK: u64 = 200_000_000;
/// Anti-dependency edges tried per component when looking for a G-single cycle.
const MAX_RW_TRIES: usize = 64;

/// The transactions of a history: an op, or one op of a batch.
pub(crate) struct Units {
    pub op: Vec<u32>,
    pub range: Vec<Range<u32>>,
    /// Per access: its unit.
    pub of_access: Vec<u32>,
}

impl Units {
    pub(crate) fn build(view: &View<'_>) -> Units {
        let mut u = Units {
            op: Vec::with_capacity(view.ops.len()),
            range: Vec::with_capacity(view.ops.len()),
            of_access: vec![0; view.accesses.len()],
        };
        for (oi, r) in view.op_accesses.iter().enumerate() {
            let pieces: Vec<Range<u32>> = if matches!(view.ops[oi].op, Op::Batch { .. }) {
                r.clone().map(|a| a..a + 1).collect()
            } else if r.is_empty() {
                Vec::new()
            } else {
                vec![r.clone()]
            };
            for piece in pieces {
                for a in piece.clone() {
                    u.of_access[a as usize] = u.op.len() as u32;
                }
                u.op.push(oi as u32);
                u.range.push(piece);
            }
        }
        u
    }

    fn len(&self) -> usize {
        self.op.len()
    }
}

struct Ctx<'a, 'v> {
    view: &'a View<'v>,
    lists: &'a ListIndex<'v>,
    regs: &'a RegisterIndex<'v>,
    units: Units,
}

impl Ctx<'_, '_> {
    fn key(&self, k: u32) -> &str {
        self.view.keys[k as usize]
    }

    /// Keys whose dependencies are inferred: lists, and registers used in transactions.
    fn dependency_key(&self, k: u32) -> bool {
        match self.view.key_kind[k as usize] {
            KeyKind::List => true,
            KeyKind::Register => self.view.key_in_txn[k as usize],
            KeyKind::Other => false,
        }
    }

    fn unit_outcome(&self, u: u32) -> Outcome {
        let r = &self.units.range[u as usize];
        match self.view.ops[self.units.op[u as usize] as usize].op {
            Op::Batch { .. } => self.view.accesses[r.start as usize].outcome,
            _ => self.view.ops[self.units.op[u as usize] as usize].outcome,
        }
    }

    fn unit_evidence(&self, units: &[u32]) -> Evidence {
        let ops: Vec<usize> = units
            .iter()
            .map(|&u| self.units.op[u as usize] as usize)
            .collect();
        ops_evidence(self.view, &ops)
    }

    /// Appends to `key` by the unit of access `ai`, before it.
    fn own_appends_before(&self, ai: u32, key: u32) -> usize {
        let u = self.units.of_access[ai as usize];
        let start = self.units.range[u as usize].start;
        self.view.accesses[start as usize..ai as usize]
            .iter()
            .filter(|a| a.key == key && matches!(a.effect, Effect::Append(_)))
            .count()
    }

    /// A later write to the same key by the same unit as access `ai`.
    fn later_write_in_unit(&self, ai: u32, key: u32) -> bool {
        let u = self.units.of_access[ai as usize];
        let end = self.units.range[u as usize].end;
        self.view.accesses[ai as usize + 1..end as usize]
            .iter()
            .any(|a| {
                a.key == key
                    && (matches!(a.effect, Effect::Append(_)) || a.effect.is_register_write())
            })
    }

    fn unit_of(&self, ai: u32) -> u32 {
        self.units.of_access[ai as usize]
    }
}

/// Runs the transactional checks; `realtime` adds real-time order (strict
/// serializability).
pub(crate) fn check(
    view: &View<'_>,
    lists: &ListIndex<'_>,
    regs: &RegisterIndex<'_>,
    realtime: bool,
    findings: &mut Findings,
    max_work: u64,
) {
    let ctx = Ctx {
        view,
        lists,
        regs,
        units: Units::build(view),
    };
    element_checks(&ctx, findings);
    order_checks(&ctx, findings);
    let mut edges = Vec::new();
    let in_graph = unit_pass(&ctx, findings, &mut edges);
    ww_edges(&ctx, &mut edges);
    if realtime {
        realtime_edges(&ctx, &in_graph, &mut edges);
    }
    let n_txns = in_graph.iter().filter(|x| **x).count();
    if n_txns == 0 {
        return;
    }
    let list_keys = (0..view.keys.len())
        .filter(|&k| view.key_kind[k] == KeyKind::List)
        .count();
    let reg_keys = (0..view.keys.len())
        .filter(|&k| view.key_kind[k] == KeyKind::Register && view.key_in_txn[k])
        .count();
    let graph = Graph::build(ctx.units.len(), edges);
    findings.checked.push(format!(
        "transactions: {n_txns} over {list_keys} list key(s) and {reg_keys} register key(s) in transactions{}",
        if realtime { ", with real-time order" } else { "" }
    ));
    if lists.repeated_appends > 0 {
        findings.skipped.push(format!(
            "{} append(s) repeated an element already appended to the same key; no dependency is inferred through them (make elements unique per key)",
            lists.repeated_appends
        ));
    }
    let unversioned: Vec<&str> = (0..view.keys.len())
        .filter(|&k| view.key_kind[k] == KeyKind::Register && view.key_in_txn[k])
        .filter(|&k| regs.versions[k].is_empty() || regs.has_delete[k])
        .map(|k| view.keys[k])
        .collect();
    if !unversioned.is_empty() {
        findings.skipped.push(format!(
            "ww/rw dependencies of register key(s) whose reads carry no version or that are deleted: {}",
            crate::model::short_list(&unversioned)
        ));
    }
    cycles(&ctx, &graph, realtime, findings, max_work);
}

/// G1a, phantom and duplicate elements, checked once per position of each key's order
/// and once per element of reads that do not fit the order.
fn element_checks(ctx: &Ctx<'_, '_>, findings: &mut Findings) {
    let lists = ctx.lists;
    let mut reported: FastSet<(u32, i64)> = FastSet::default();
    let mut check_list = |k: u32, l: &[i64], reader: u32, findings: &mut Findings| {
        let mut seen: FastSet<i64> = FastSet::default();
        let mut dup_reported = false;
        for &e in l {
            if !seen.insert(e) && !dup_reported {
                dup_reported = true;
                findings.add(names::DUPLICATE_ELEMENTS, || {
                    (
                        format!(
                            "T1 read key {:?} = {} holding element {e} more than once",
                            ctx.key(k),
                            show_list(l)
                        ),
                        ctx.unit_evidence(&[ctx.unit_of(reader)]),
                    )
                });
            }
            if lists.writer.contains_key(&(k, e)) || !reported.insert((k, e)) {
                continue;
            }
            match lists.failed.get(&(k, e)) {
                Some(&fa) => findings.add(names::G1A, || {
                    (
                        format!("T2 read element {e} of key {:?}, which T1 appended in a transaction that failed (aborted read)", ctx.key(k)),
                        ctx.unit_evidence(&[ctx.unit_of(fa), ctx.unit_of(reader)]),
                    )
                }),
                None => findings.add(names::PHANTOM_APPEND, || {
                    (
                        format!("T1 read element {e} of key {:?}, which no op appended", ctx.key(k)),
                        ctx.unit_evidence(&[ctx.unit_of(reader)]),
                    )
                }),
            }
        }
    };
    for (k, order) in lists.order.iter().enumerate() {
        if let Some(reader) = lists.longest_reader[k] {
            check_list(k as u32, order, reader, findings);
        }
    }
    let mut odd: Vec<u32> = lists.incompatible.iter().copied().collect();
    odd.sort_unstable();
    for ai in odd {
        let a = &ctx.view.accesses[ai as usize];
        if let Effect::Read(obs) = &a.effect {
            if let Some(l) = obs.list() {
                check_list(a.key, l, ai, findings);
            }
        }
    }
}

/// Reads that no single version order explains: one anomaly per key.
fn order_checks(ctx: &Ctx<'_, '_>, findings: &mut Findings) {
    let mut odd: Vec<u32> = ctx.lists.incompatible.iter().copied().collect();
    odd.sort_unstable();
    let mut keys_done: FastSet<u32> = FastSet::default();
    for ai in odd {
        let a = &ctx.view.accesses[ai as usize];
        if !keys_done.insert(a.key) {
            continue;
        }
        let (Some(longest), Effect::Read(obs)) =
            (ctx.lists.longest_reader[a.key as usize], &a.effect)
        else {
            continue;
        };
        let l = obs.list().unwrap_or(&[]);
        findings.add(names::INCOMPATIBLE_ORDER, || {
            (
                format!(
                    "reads of key {:?} disagree: T1 read {} and T2 read {}, which is not a prefix of it",
                    ctx.key(a.key),
                    show_list(ctx.lists.order[a.key as usize]),
                    show_list(l)
                ),
                ctx.unit_evidence(&[ctx.unit_of(longest), ctx.unit_of(ai)]),
            )
        });
    }
    let mut keys_done: FastSet<u32> = FastSet::default();
    for &(k, a1, a2) in &ctx.regs.conflicts {
        if !keys_done.insert(k) {
            continue;
        }
        let show = |ai: u32| match &ctx.view.accesses[ai as usize].effect {
            Effect::Read(Observed::Register { value, version }) => {
                format!("{} at ver {}", show_value(*value), version.unwrap_or(0))
            }
            _ => "?".to_string(),
        };
        findings.add(names::INCOMPATIBLE_ORDER, || {
            (
                format!(
                    "reads of key {:?} disagree: T1 read {} and T2 read {}",
                    ctx.key(k),
                    show(a1),
                    show(a2)
                ),
                ctx.unit_evidence(&[ctx.unit_of(a1), ctx.unit_of(a2)]),
            )
        });
    }
}

/// Per unit: internal consistency, G1b, and the wr / rw edges of its reads. Returns
/// which units take part in the dependency graph.
fn unit_pass(
    ctx: &Ctx<'_, '_>,
    findings: &mut Findings,
    edges: &mut Vec<(u32, u32, u8)>,
) -> Vec<bool> {
    let view = ctx.view;
    let mut in_graph = vec![false; ctx.units.len()];
    // Per key touched by the unit: (key, last list read, own appends since, own appends in
    // total, last register value known to the unit).
    struct KeyState<'v> {
        key: u32,
        list_read: Option<&'v [i64]>,
        own_since: Vec<i64>,
        reg: Option<Option<&'v str>>,
        internal_bad: bool,
    }
    let mut state: Vec<KeyState<'_>> = Vec::new();
    for u in 0..ctx.units.len() as u32 {
        let outcome = ctx.unit_outcome(u);
        let range = ctx.units.range[u as usize].clone();
        state.clear();
        for ai in range {
            let a = &view.accesses[ai as usize];
            let k = a.key;
            if !ctx.dependency_key(k) {
                continue;
            }
            if outcome != Outcome::Fail {
                in_graph[u as usize] = true;
            }
            if outcome != Outcome::Ok {
                continue;
            }
            let si = match state.iter().position(|s| s.key == k) {
                Some(i) => i,
                None => {
                    state.push(KeyState {
                        key: k,
                        list_read: None,
                        own_since: Vec::new(),
                        reg: None,
                        internal_bad: false,
                    });
                    state.len() - 1
                }
            };
            let s = &mut state[si];
            let is_list = view.key_kind[k as usize] == KeyKind::List;
            match &a.effect {
                Effect::Append(e) => s.own_since.push(*e),
                Effect::Read(obs) if is_list => {
                    let Some(l) = obs.list() else { continue };
                    let consistent = match s.list_read {
                        Some(p) => {
                            l.len() == p.len() + s.own_since.len()
                                && l.starts_with(p)
                                && l.ends_with(&s.own_since)
                        }
                        None => l.ends_with(&s.own_since),
                    };
                    if !consistent {
                        if !s.internal_bad {
                            s.internal_bad = true;
                            let expected = match s.list_read {
                                Some(p) => {
                                    let mut x = p.to_vec();
                                    x.extend_from_slice(&s.own_since);
                                    show_list(&x)
                                }
                                None => format!("a list ending in {}", show_list(&s.own_since)),
                            };
                            findings.add(names::INTERNAL, || {
                                (
                                    format!(
                                        "T1 read key {:?} = {} but its own earlier reads and appends imply {expected}",
                                        ctx.key(k),
                                        show_list(l)
                                    ),
                                    ctx.unit_evidence(&[u]),
                                )
                            });
                        }
                    } else if !s.internal_bad && !ctx.lists.incompatible.contains(&ai) {
                        list_read_edges(ctx, findings, edges, u, ai, k, l);
                    }
                    s.list_read = Some(l);
                    s.own_since.clear();
                }
                Effect::Read(obs) => {
                    let seen = match obs {
                        Observed::Absent => Some(None),
                        Observed::Register { value, .. } => Some(*value),
                        _ => None,
                    };
                    let Some(seen) = seen else { continue };
                    match s.reg {
                        Some(expected) if expected != seen => {
                            if !s.internal_bad {
                                s.internal_bad = true;
                                findings.add(names::INTERNAL, || {
                                    (
                                        format!(
                                            "T1 read key {:?} = {} but its own earlier read or write implies {}",
                                            ctx.key(k),
                                            show_value(seen),
                                            show_value(expected)
                                        ),
                                        ctx.unit_evidence(&[u]),
                                    )
                                });
                            }
                        }
                        Some(_) => {}
                        None => register_read_edges(ctx, findings, edges, u, k, obs),
                    }
                    s.reg = Some(seen);
                }
                e => {
                    if let Some(v) = e.written_value() {
                        s.reg = Some(v);
                    }
                }
            }
        }
    }
    in_graph
}

fn list_read_edges(
    ctx: &Ctx<'_, '_>,
    findings: &mut Findings,
    edges: &mut Vec<(u32, u32, u8)>,
    u: u32,
    ai: u32,
    k: u32,
    l: &[i64],
) {
    let order = ctx.lists.order[k as usize];
    let own = ctx.own_appends_before(ai, k);
    let Some(ext) = l.len().checked_sub(own) else {
        return;
    };
    if ext > 0 {
        let e = order[ext - 1];
        if let Some(wa) = ctx.lists.writer_of(k, e) {
            let w = ctx.unit_of(wa);
            if w != u {
                edges.push((w, u, WR));
                if ctx.later_write_in_unit(wa, k) {
                    findings.add(names::G1B, || {
                        (
                            format!(
                                "T2 read key {:?} = {}, ending in {e}, which T1 appended before appending more to the key (intermediate read)",
                                ctx.key(k),
                                show_list(l)
                            ),
                            ctx.unit_evidence(&[w, u]),
                        )
                    });
                }
            }
        }
    }
    if ext < order.len() {
        if let Some(wa) = ctx.lists.writer_of(k, order[ext]) {
            let w = ctx.unit_of(wa);
            if w != u {
                edges.push((u, w, RW));
            }
        }
    }
}

fn register_read_edges(
    ctx: &Ctx<'_, '_>,
    findings: &mut Findings,
    edges: &mut Vec<(u32, u32, u8)>,
    u: u32,
    k: u32,
    obs: &Observed<'_>,
) {
    let (value, version) = match obs {
        Observed::Absent => (None, Some(0)),
        Observed::Register { value, version } => (*value, *version),
        _ => return,
    };
    if let Some(v) = value {
        if let Some(wa) = ctx.regs.writer_of(k, v) {
            let w = ctx.unit_of(wa);
            if w != u {
                edges.push((w, u, WR));
                if ctx.later_write_in_unit(wa, k) {
                    findings.add(names::G1B, || {
                        (
                            format!(
                                "T2 read {} on key {:?}, which T1 wrote and then overwrote itself (intermediate read)",
                                show_value(Some(v)),
                                ctx.key(k)
                            ),
                            ctx.unit_evidence(&[w, u]),
                        )
                    });
                }
            }
        }
    }
    if ctx.regs.has_delete[k as usize] {
        return;
    }
    if let Some(ver) = version {
        if let Some((_, Some(next))) = ctx.regs.next_version(k, ver) {
            if let Some(wa) = ctx.regs.writer_of(k, next) {
                let w = ctx.unit_of(wa);
                if w != u {
                    edges.push((u, w, RW));
                }
            }
        }
    }
}

fn ww_edges(ctx: &Ctx<'_, '_>, edges: &mut Vec<(u32, u32, u8)>) {
    for (k, order) in ctx.lists.order.iter().enumerate() {
        let k = k as u32;
        let mut prev: Option<u32> = None;
        for &e in order.iter() {
            let w = ctx.lists.writer_of(k, e).map(|a| ctx.unit_of(a));
            if let (Some(p), Some(w)) = (prev, w) {
                if p != w {
                    edges.push((p, w, WW));
                }
            }
            prev = w;
        }
    }
    for (k, vs) in ctx.regs.versions.iter().enumerate() {
        if !ctx.dependency_key(k as u32) || ctx.regs.has_delete[k] {
            continue;
        }
        let mut prev: Option<u32> = None;
        for &(_, val, _) in vs {
            let w = val
                .and_then(|v| ctx.regs.writer_of(k as u32, v))
                .map(|a| ctx.unit_of(a));
            if let (Some(p), Some(w)) = (prev, w) {
                if p != w {
                    edges.push((p, w, WW));
                }
            }
            prev = w;
        }
    }
}

/// Real-time order, transitively reduced: each unit gets an edge from every completed
/// unit not already followed by another completed unit before it began.
fn realtime_edges(ctx: &Ctx<'_, '_>, in_graph: &[bool], edges: &mut Vec<(u32, u32, u8)>) {
    let view = ctx.view;
    // (time, 0 = start / 1 = end, unit): starts first at equal times, so touching
    // intervals count as concurrent.
    let mut events: Vec<(u64, u8, u32)> = Vec::new();
    for u in 0..ctx.units.len() as u32 {
        if !in_graph[u as usize] {
            continue;
        }
        let o = &view.ops[ctx.units.op[u as usize] as usize];
        events.push((o.start_ns, 0, u));
        if ctx.unit_outcome(u) == Outcome::Ok && o.completed() {
            events.push((o.end_ns, 1, u));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<(u32, u64)> = Vec::new();
    let mut seq = 0u64;
    let mut started_at = vec![0u64; ctx.units.len()];
    for (_, kind, u) in events {
        if kind == 0 {
            for &(f, _) in &frontier {
                edges.push((f, u, RT));
            }
            started_at[u as usize] = seq;
        } else {
            let since = started_at[u as usize];
            // Units already in the frontier when `u` began precede `u`: `u` now stands
            // for them.
            frontier.retain(|&(_, s)| s >= since);
            seq += 1;
            frontier.push((u, seq));
        }
    }
}

fn classify(cycle: &[(u32, u8)]) -> &'static str {
    let count = |bit: u8| cycle.iter().filter(|(_, k)| *k == bit).count();
    let (rw, wr, rt) = (count(RW), count(WR), count(RT));
    match (rw, wr > 0, rt > 0) {
        (0, false, false) => names::G0,
        (0, true, false) => names::G1C,
        (1, _, false) => names::G_SINGLE,
        (_, _, false) => names::G2,
        (0, false, true) => names::G0_REALTIME,
        (0, true, true) => names::G1C_REALTIME,
        (1, _, true) => names::G_SINGLE_REALTIME,
        (_, _, true) => names::G2_REALTIME,
    }
}

fn explanation(name: &str, cycle: &[(u32, u8)]) -> String {
    let rw = cycle.iter().filter(|(_, k)| *k == RW).count();
    let base = match name.trim_end_matches("-realtime") {
        "G0" => "a cycle of write-write dependencies (dirty write)".to_string(),
        "G1c" => "a cycle of write-write and write-read dependencies (circular information flow)"
            .to_string(),
        "G-single" => "a dependency cycle with exactly one anti-dependency (read skew)".to_string(),
        _ => format!("a dependency cycle with {rw} anti-dependencies (write skew)"),
    };
    if name.ends_with("-realtime") {
        format!("{base}, given real-time order: a transaction that completed before another began must come before it")
    } else {
        base
    }
}

/// A cycle from an edge `a → b` of kind `closing` and a path `b … a`.
fn close(a: u32, closing: u8, path: Vec<(u32, u8)>) -> Vec<(u32, u8)> {
    let mut cycle = vec![(a, closing)];
    cycle.extend_from_slice(&path[..path.len() - 1]);
    cycle
}

fn report_cycle(ctx: &Ctx<'_, '_>, findings: &mut Findings, cycle: &[(u32, u8)]) {
    let name = classify(cycle);
    findings.add(name, || {
        (explanation(name, cycle), cycle_evidence(ctx, cycle))
    });
}

fn cycles(ctx: &Ctx<'_, '_>, g: &Graph, realtime: bool, findings: &mut Findings, max_work: u64) {
    let mut s = Search::new(g.nodes());
    s.restrict(None);
    let all: Vec<u32> = (0..g.nodes() as u32).collect();
    let base = WW | WR | RW;
    let mut unfinished = 0usize;
    let comps = s.sccs(g, &all, base);
    for comp in &comps {
        if s.work > max_work {
            unfinished += 1;
            continue;
        }
        // G0 within ww-only sub-components, G1c within ww+wr ones.
        for (allowed, need) in [(WW, WW), (WW | WR, WR)] {
            s.restrict(Some(comp));
            for sub in s.sccs(g, comp, allowed) {
                s.restrict(Some(&sub));
                let edge = sub.iter().find_map(|&a| {
                    g.edges(a)
                        .find(|&(b, m)| m & need != 0 && s.is_member(b))
                        .map(|(b, _)| (a, b))
                });
                if let Some((a, b)) = edge {
                    if let Some(p) = s.path(g, b, a, allowed) {
                        report_cycle(ctx, findings, &close(a, need, p));
                    }
                }
                s.restrict(Some(comp));
            }
        }
        s.restrict(Some(comp));
        let mut rw_edges = Vec::new();
        for &a in comp {
            for (b, m) in g.edges(a) {
                if m & RW != 0 && m & (WW | WR) == 0 && s.is_member(b) {
                    rw_edges.push((a, b));
                }
            }
        }
        let mut single = false;
        for &(a, b) in rw_edges.iter().take(MAX_RW_TRIES) {
            if let Some(p) = s.path(g, b, a, WW | WR) {
                report_cycle(ctx, findings, &close(a, RW, p));
                single = true;
                break;
            }
        }
        if !single {
            if let Some(&(a, b)) = rw_edges.first() {
                if let Some(p) = s.path(g, b, a, base) {
                    report_cycle(ctx, findings, &close(a, RW, p));
                }
            }
        }
    }
    if realtime {
        s.restrict(None);
        for comp in s.sccs(g, &all, base | RT) {
            if s.work > max_work {
                unfinished += 1;
                continue;
            }
            s.restrict(Some(&comp));
            let edge = comp.iter().find_map(|&a| {
                g.edges(a)
                    .find(|&(b, m)| m == RT && s.is_member(b))
                    .map(|(b, _)| (a, b))
            });
            if let Some((a, b)) = edge {
                if let Some(p) = s.path(g, b, a, base | RT) {
                    report_cycle(ctx, findings, &close(a, RT, p));
                }
            }
        }
    }
    if unfinished > 0 {
        findings.inconclusive.push(format!(
            "cycle search stopped after {} edge visits; {unfinished} dependency component(s) were not searched",
            s.work
        ));
    }
}

fn cycle_evidence(ctx: &Ctx<'_, '_>, cycle: &[(u32, u8)]) -> Evidence {
    let labels: Vec<String> = (0..cycle.len()).map(|i| format!("T{}", i + 1)).collect();
    let mut ev = Evidence::default();
    for (i, &(u, _)) in cycle.iter().enumerate() {
        ev.ops.push(evidence_op(
            ctx.view,
            ctx.units.op[u as usize] as usize,
            labels[i].clone(),
        ));
    }
    for (i, &(u, bit)) in cycle.iter().enumerate() {
        let j = (i + 1) % cycle.len();
        ev.cycle.push(CycleEdge {
            from: i,
            to: j,
            kind: kind_of(bit),
            why: explain_edge(ctx, u, cycle[j].0, bit, &labels[i], &labels[j]),
        });
    }
    ev
}

/// Why `a → b` of kind `bit` exists, in words, found again from the accesses.
fn explain_edge(ctx: &Ctx<'_, '_>, a: u32, b: u32, bit: u8, la: &str, lb: &str) -> String {
    let view = ctx.view;
    let accesses = |u: u32| {
        let r = ctx.units.range[u as usize].clone();
        r.map(move |ai| (ai, &view.accesses[ai as usize]))
    };
    let writer_unit_list = |k: u32, e: i64| ctx.lists.writer_of(k, e).map(|w| ctx.unit_of(w));
    let writer_unit_reg = |k: u32, v: &str| ctx.regs.writer_of(k, v).map(|w| ctx.unit_of(w));
    match bit {
        WW => {
            for (_, x) in accesses(a) {
                let k = x.key;
                match &x.effect {
                    Effect::Append(e) => {
                        let Some(&p) = ctx.lists.pos.get(&(k, *e)) else {
                            continue;
                        };
                        if let Some(&next) = ctx.lists.order[k as usize].get(p as usize + 1) {
                            if writer_unit_list(k, next) == Some(b) {
                                return format!(
                                    "{lb} appended {next} right after {la}'s {e} on key {:?}",
                                    ctx.key(k)
                                );
                            }
                        }
                    }
                    eff => {
                        let Some(Some(v)) = eff.written_value() else {
                            continue;
                        };
                        let Some(ver) = ctx.regs.version_of(k, v) else {
                            continue;
                        };
                        if let Some((nver, Some(nv))) = ctx.regs.next_version(k, ver) {
                            if writer_unit_reg(k, nv) == Some(b) {
                                return format!(
                                    "{lb}'s write of {nv:?} (ver {nver}) came right after {la}'s {v:?} (ver {ver}) on key {:?}",
                                    ctx.key(k)
                                );
                            }
                        }
                    }
                }
            }
        }
        WR | RW => {
            let (reader, writer) = if bit == WR { (b, a) } else { (a, b) };
            let (lr, lw) = if bit == WR { (lb, la) } else { (la, lb) };
            for (ai, x) in accesses(reader) {
                let k = x.key;
                let Effect::Read(obs) = &x.effect else {
                    continue;
                };
                if view.key_kind[k as usize] == KeyKind::List {
                    let Some(l) = obs.list() else { continue };
                    let order = ctx.lists.order[k as usize];
                    let Some(ext) = l.len().checked_sub(ctx.own_appends_before(ai, k)) else {
                        continue;
                    };
                    if bit == WR && ext > 0 && writer_unit_list(k, order[ext - 1]) == Some(writer) {
                        return format!(
                            "{lr} read key {:?} = {}, whose element {} {lw} appended",
                            ctx.key(k),
                            show_list(&l[..ext]),
                            order[ext - 1]
                        );
                    }
                    if bit == RW
                        && ext < order.len()
                        && writer_unit_list(k, order[ext]) == Some(writer)
                    {
                        return format!(
                            "{lr} read key {:?} = {}; {lw} appended {}, the next element",
                            ctx.key(k),
                            show_list(&l[..ext]),
                            order[ext]
                        );
                    }
                } else {
                    let (value, version) = match obs {
                        Observed::Absent => (None, Some(0)),
                        Observed::Register { value, version } => (*value, *version),
                        _ => continue,
                    };
                    if bit == WR && value.and_then(|v| writer_unit_reg(k, v)) == Some(writer) {
                        return format!(
                            "{lr} read {} on key {:?}, written by {lw}",
                            show_value(value),
                            ctx.key(k)
                        );
                    }
                    if bit == RW {
                        if let Some((nver, Some(nv))) =
                            version.and_then(|v| ctx.regs.next_version(k, v))
                        {
                            if writer_unit_reg(k, nv) == Some(writer) {
                                return format!(
                                    "{lr} read key {:?} at ver {}; {lw} wrote {nv:?}, the next version seen (ver {nver})",
                                    ctx.key(k),
                                    version.unwrap_or(0)
                                );
                            }
                        }
                    }
                }
            }
        }
        _ => {
            let oa = &view.ops[ctx.units.op[a as usize] as usize];
            let ob = &view.ops[ctx.units.op[b as usize] as usize];
            return format!(
                "{la} completed at {}, before {lb} began at {}",
                format_ns(oa.end_ns as f64),
                format_ns(ob.start_ns as f64)
            );
        }
    }
    format!("{la} {} {lb}", kind_of(bit))
}
