//! Elle-style checking of transactions over list-append keys (and rw-register keys):
//! infers write-write, write-read and read-write (anti-)dependencies between
//! transactions, then reports every cycle class Elle names (G0, G1c, G-single,
//! G-nonadjacent, G2-item, with `-process` and `-realtime` variants when the model
//! orders transactions by client or real time; see `cycles`), and the non-cycle
//! anomalies: G1a, G1b, internal, dirty-update, duplicate and phantom elements,
//! incompatible-order, lost-update, future-read.
//!
//! Lists (Elle's version-order inference): a key's version order is its longest read;
//! every other read must be a prefix of it. Element `e` at position `i` gives ww from the
//! appender of `e` to the appender of the element at `i+1`; a read ending at `e` gives
//! wr from `e`'s appender; a read of length `n` gives rw to the appender of element `n`.
//! Committed appends no read observed come after the longest version: ww from its last
//! appender to each, and rw from every read of the whole longest version (the empty one
//! included) to each; their order among themselves stays unknown. An indeterminate
//! append is committed when a read observed it and otherwise treated as never applied
//! (placing it last is always possible). Appends must be unique per key.
//! Registers in transactions: wr from the (unique) writer of the value read; ww and rw
//! only when reads carry record versions (Assay's do, Jepsen's do not) and nothing
//! deletes the key. A single op outside a transaction is a one-op transaction; each op
//! of a batch (not atomic) is its own.

mod ctx;
mod cycles;

use ctx::{Ctx, Units};

use crate::evidence::Findings;
use crate::fxhash::{FastMap, FastSet};
use crate::graph::{Graph, PR, RT, RW, WR, WW};
use crate::history_view::{Effect, KeyKind, Observed, View};
use crate::index::{ListIndex, RegisterIndex};
use crate::model::{names, Model};
use crate::text::{show_list, show_value};
use assay_core::Outcome;

/// Edge visits allowed to the cycle search before it stops with an inconclusive note.
pub const DEFAULT_CYCLE_WORK: u64 = 200_000_000;

/// Runs the transactional checks; the model says whether process order (strong
/// session models) and real-time order (strict serializability and stronger) count.
pub(crate) fn check(
    view: &View<'_>,
    lists: &ListIndex<'_>,
    regs: &RegisterIndex<'_>,
    model: Model,
    findings: &mut Findings,
    max_work: u64,
) {
    let (realtime, process) = (model.realtime(), model.process());
    let units = Units::build(view);
    // Committed: ok, or indeterminate with a write some read observed.
    let mut committed = vec![false; units.len()];
    for (ai, a) in view.accesses.iter().enumerate() {
        let u = units.of_access[ai] as usize;
        match (&a.effect, a.outcome) {
            (_, Outcome::Ok) => committed[u] = true,
            (Effect::Append(e), Outcome::Indeterminate) => {
                committed[u] |= lists.pos.contains_key(&(a.key, *e));
            }
            (eff, Outcome::Indeterminate) => {
                if let Some(Some(v)) = eff.written_value() {
                    committed[u] |= regs.is_read(a.key, v);
                }
            }
            _ => {}
        }
    }
    let mut unobserved = vec![Vec::new(); view.keys.len()];
    for (ai, a) in view.accesses.iter().enumerate() {
        if let Effect::Append(e) = &a.effect {
            if committed[units.of_access[ai] as usize]
                && a.outcome != Outcome::Fail
                && view.key_kind[a.key as usize] == KeyKind::List
                && !lists.pos.contains_key(&(a.key, *e))
                && lists.writer_of(a.key, *e).is_some()
            {
                unobserved[a.key as usize].push(ai as u32);
            }
        }
    }
    let ctx = Ctx {
        view,
        lists,
        regs,
        units,
        unobserved,
    };
    element_checks(&ctx, findings);
    order_checks(&ctx, findings);
    let mut edges = Vec::new();
    let in_graph = unit_pass(&ctx, findings, &mut edges);
    ww_edges(&ctx, &mut edges);
    if process {
        process_edges(&ctx, &in_graph, &mut edges);
    }
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
        if realtime {
            ", with process and real-time order"
        } else if process {
            ", with process order"
        } else {
            ""
        }
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
            crate::text::short_list(&unversioned)
        ));
    }
    let mut levels = vec![cycles::Level {
        extra: 0,
        exists: names::PL3_CYCLE_EXISTS,
        what: "",
    }];
    if process {
        levels.push(cycles::Level {
            extra: PR,
            exists: names::SESSION_CYCLE_EXISTS,
            what: " with process order",
        });
    }
    if realtime {
        levels.push(cycles::Level {
            extra: PR | RT,
            exists: names::PLSS_CYCLE_EXISTS,
            what: " with real-time order",
        });
    }
    cycles::cycles(&ctx, &graph, &levels, findings, max_work);
}

/// Each client's order: an edge from the ok units of its previous op to every unit of
/// its next (a batch's units are concurrent with each other).
fn process_edges(ctx: &Ctx<'_, '_>, in_graph: &[bool], edges: &mut Vec<(u32, u32, u8)>) {
    // Per client: (op of the units in `current`, its ok units, the ok units before it).
    let mut state: FastMap<u32, (u32, Vec<u32>, Vec<u32>)> = FastMap::default();
    for u in 0..ctx.units.len() as u32 {
        if !in_graph[u as usize] {
            continue;
        }
        let op = ctx.units.op[u as usize];
        let client = ctx.view.ops[op as usize].client;
        let st = state
            .entry(client)
            .or_insert_with(|| (op, Vec::new(), Vec::new()));
        if st.0 != op {
            if !st.1.is_empty() {
                st.2 = std::mem::take(&mut st.1);
            }
            st.0 = op;
        }
        for &p in &st.2 {
            edges.push((p, u, PR));
        }
        if ctx.unit_outcome(u) == Outcome::Ok && ctx.view.ops[op as usize].completed() {
            st.1.push(u);
        }
    }
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
        // A committed append after a failed one: built on a version that never was.
        let k32 = k as u32;
        if let Some(fi) = order.iter().position(|e| {
            !lists.writer.contains_key(&(k32, *e)) && lists.failed.contains_key(&(k32, *e))
        }) {
            let later = order[fi + 1..]
                .iter()
                .find_map(|e| lists.writer_of(k32, *e).map(|w| (*e, w)));
            if let Some((e, wa)) = later {
                let fa = lists.failed[&(k32, order[fi])];
                findings.add(names::DIRTY_UPDATE, || {
                    (
                        format!(
                            "T2 appended {e} to key {:?} after element {}, which T1 appended in a transaction that failed",
                            ctx.key(k32),
                            order[fi]
                        ),
                        ctx.unit_evidence(&[ctx.unit_of(fa), ctx.unit_of(wa)]),
                    )
                });
            }
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
fn unit_pass<'v>(
    ctx: &Ctx<'_, 'v>,
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
        /// The version the unit's first read of the key saw, before any write of its own.
        first_read: Option<ReadVersion<'v>>,
        wrote: bool,
        wrote_after_read: bool,
    }
    // (key, version read) → the first committed unit that read it and then wrote the key.
    let mut read_then_wrote: FastMap<(u32, ReadVersion<'v>), (u32, bool)> = FastMap::default();
    let mut state: Vec<KeyState<'v>> = Vec::new();
    let mut flush = |u: u32, state: &[KeyState<'v>], findings: &mut Findings| {
        for s in state {
            let (Some(v), true) = (s.first_read, s.wrote_after_read) else {
                continue;
            };
            match read_then_wrote.get_mut(&(s.key, v)) {
                None => {
                    read_then_wrote.insert((s.key, v), (u, false));
                }
                Some((first, reported)) if !*reported => {
                    *reported = true;
                    let first = *first;
                    findings.add(names::LOST_UPDATE, || {
                        (
                            format!(
                                "T1 and T2 both read key {:?} at the same version ({}) and then both wrote it: one update is lost",
                                ctx.key(s.key),
                                v.show()
                            ),
                            ctx.unit_evidence(&[first, u]),
                        )
                    });
                }
                Some(_) => {}
            }
        }
    };
    for u in 0..ctx.units.len() as u32 {
        if u > 0 {
            flush(u - 1, &state, findings);
        }
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
                        first_read: None,
                        wrote: false,
                        wrote_after_read: false,
                    });
                    state.len() - 1
                }
            };
            let s = &mut state[si];
            let is_list = view.key_kind[k as usize] == KeyKind::List;
            match &a.effect {
                Effect::Append(e) => {
                    s.own_since.push(*e);
                    s.wrote = true;
                    s.wrote_after_read |= s.first_read.is_some();
                }
                Effect::Read(obs) if is_list => {
                    let Some(l) = obs.list() else { continue };
                    if !s.wrote && s.first_read.is_none() {
                        s.first_read = Some(ReadVersion::List(l.len()));
                    }
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
                    if !s.wrote && s.first_read.is_none() {
                        s.first_read = Some(ReadVersion::Register(seen));
                    }
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
                        None => register_read_edges(ctx, findings, edges, u, ai, k, obs),
                    }
                    s.reg = Some(seen);
                }
                e => {
                    if let Some(v) = e.written_value() {
                        s.reg = Some(v);
                        s.wrote = true;
                        s.wrote_after_read |= s.first_read.is_some();
                    }
                }
            }
        }
    }
    if !ctx.units.op.is_empty() {
        flush(ctx.units.len() as u32 - 1, &state, findings);
    }
    in_graph
}

/// The version a read saw: a list's length (its prefix of the key's order) or a
/// register's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ReadVersion<'v> {
    List(usize),
    Register(Option<&'v str>),
}

impl ReadVersion<'_> {
    fn show(&self) -> String {
        match self {
            ReadVersion::List(n) => format!("the first {n} element(s)"),
            ReadVersion::Register(v) => show_value(*v),
        }
    }
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
    } else {
        for &wa in &ctx.unobserved[k as usize] {
            let w = ctx.unit_of(wa);
            if w != u {
                edges.push((u, w, RW));
            }
        }
    }
    if ctx.later_write_in_unit(ai, k) {
        let future = l.iter().find(|&&e| {
            ctx.lists
                .writer_of(k, e)
                .is_some_and(|wa| wa > ai && ctx.unit_of(wa) == u)
        });
        if let Some(&e) = future {
            findings.add(names::FUTURE_READ, || {
                (
                    format!(
                        "T1 read key {:?} = {}, holding {e}, which T1 itself appends later",
                        ctx.key(k),
                        show_list(l)
                    ),
                    ctx.unit_evidence(&[u]),
                )
            });
        }
    }
}

fn register_read_edges(
    ctx: &Ctx<'_, '_>,
    findings: &mut Findings,
    edges: &mut Vec<(u32, u32, u8)>,
    u: u32,
    ai: u32,
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
            if w == u && wa > ai {
                findings.add(names::FUTURE_READ, || {
                    (
                        format!(
                            "T1 read {} on key {:?}, which T1 itself writes later",
                            show_value(Some(v)),
                            ctx.key(k)
                        ),
                        ctx.unit_evidence(&[u]),
                    )
                });
            }
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
        if let Some(p) = prev {
            for &wa in &ctx.unobserved[k as usize] {
                let w = ctx.unit_of(wa);
                if w != p {
                    edges.push((p, w, WW));
                }
            }
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
