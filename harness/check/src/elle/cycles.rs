//! The cycle search over the dependency graph: per strongly connected component, the
//! shortest cycle of each class Elle names (breadth-first, so evidence is minimal),
//! classified by its edges, with process and real-time order when the model needs them.
//! A search that runs out of budget reports the `*-cycle-exists` anomaly of its level
//! and leaves the verdict inconclusive: never valid.

use crate::elle::ctx::Ctx;
use crate::evidence::{evidence_op, Findings};
use crate::graph::{kind_of, Graph, PathRules, Search, StatePaths, PR, RT, RW, WR, WW};
use crate::history_view::{Effect, KeyKind, Observed};
use crate::model::{names, CycleEdge, Evidence};
use crate::text::{show_list, show_value};
use crate::thresholds::format_ns;

/// Anti-dependency edges tried per component for each rw-cycle class.
const MAX_RW_TRIES: usize = 64;

/// The class of a cycle, from its edges: how many rw edges, whether two are adjacent,
/// and whether it needs process or real-time order.
pub(super) fn classify(cycle: &[(u32, u8)]) -> &'static str {
    let rw = cycle.iter().filter(|(_, k)| *k == RW).count();
    let wr = cycle.iter().any(|(_, k)| *k == WR);
    let rt = cycle.iter().any(|(_, k)| *k == RT);
    let pr = cycle.iter().any(|(_, k)| *k == PR);
    let n = cycle.len();
    let adjacent = (0..n).any(|i| cycle[i].1 == RW && cycle[(i + 1) % n].1 == RW);
    use names::*;
    let table: [&'static str; 3] = match (rw, wr, adjacent) {
        (0, false, _) => [G0, G0_PROCESS, G0_REALTIME],
        (0, true, _) => [G1C, G1C_PROCESS, G1C_REALTIME],
        (1, _, _) => [G_SINGLE, G_SINGLE_PROCESS, G_SINGLE_REALTIME],
        (_, _, false) => [G_NONADJACENT, G_NONADJACENT_PROCESS, G_NONADJACENT_REALTIME],
        (_, _, true) => [G2_ITEM, G2_ITEM_PROCESS, G2_ITEM_REALTIME],
    };
    table[if rt {
        2
    } else if pr {
        1
    } else {
        0
    }]
}

fn explanation(name: &str, cycle: &[(u32, u8)]) -> String {
    let rw = cycle.iter().filter(|(_, k)| *k == RW).count();
    let base = name
        .trim_end_matches("-realtime")
        .trim_end_matches("-process");
    let what = match base {
        "G0" => "a cycle of write-write dependencies (dirty write)".to_string(),
        "G1c" => "a cycle of write-write and write-read dependencies (circular information flow)"
            .to_string(),
        "G-single" => "a dependency cycle with exactly one anti-dependency (read skew)".to_string(),
        "G-nonadjacent" => format!(
            "a dependency cycle with {rw} anti-dependencies, no two adjacent (forbidden by snapshot isolation)"
        ),
        _ => format!("a dependency cycle with {rw} anti-dependencies (write skew)"),
    };
    if name.ends_with("-realtime") {
        format!("{what}, given real-time order: a transaction that completed before another began must come before it")
    } else if name.ends_with("-process") {
        format!("{what}, given each client's order of its own transactions")
    } else {
        what
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

/// One level of the search: plain dependencies, then with process order, then with
/// real-time order; each later level only looks at cycles that need its extra edges.
pub(super) struct Level {
    pub extra: u8,
    pub exists: &'static str,
    pub what: &'static str,
}

pub(super) fn cycles(
    ctx: &Ctx<'_, '_>,
    g: &Graph,
    levels: &[Level],
    findings: &mut Findings,
    max_work: u64,
) {
    let mut s = Search::new(g.nodes());
    let mut paths = StatePaths::new(g.nodes());
    let all: Vec<u32> = (0..g.nodes() as u32).collect();
    let base = WW | WR | RW;
    for level in levels {
        let e = level.extra;
        let allowed = base | e;
        s.restrict(None);
        let comps = s.sccs(g, &all, allowed);
        let mut unfinished = 0usize;
        for comp in &comps {
            s.restrict(Some(comp));
            let inner = |s: &Search, bits: u8, not: u8| -> Vec<(u32, u32)> {
                let mut out = Vec::new();
                for &a in comp.iter() {
                    for (b, m) in g.edges(a) {
                        if m & bits != 0 && m & not == 0 && s.is_member(b) {
                            out.push((a, b));
                        }
                    }
                }
                out
            };
            if e != 0 && inner(&s, e, 0).is_empty() {
                continue;
            }
            if s.work > max_work {
                unfinished += 1;
                findings.add(level.exists, || {
                    (
                        format!("a dependency cycle{} exists among {} transactions, but the search for it ran out of budget", level.what, comp.len()),
                        ctx.unit_evidence(&comp[..comp.len().min(4)]),
                    )
                });
                continue;
            }
            match search_component(ctx, g, &mut s, &mut paths, comp, e, findings, max_work) {
                Ok(()) => {}
                Err(()) => {
                    unfinished += 1;
                    findings.add(level.exists, || {
                        (
                            format!("a dependency cycle{} exists among {} transactions, but the search for its shortest form ran out of budget", level.what, comp.len()),
                            ctx.unit_evidence(&comp[..comp.len().min(4)]),
                        )
                    });
                }
            }
        }
        if unfinished > 0 {
            findings.inconclusive.push(format!(
                "cycle search{} stopped after {} edge visits; {unfinished} dependency component(s) were not fully searched",
                level.what, s.work
            ));
        }
    }
}

/// Finds and reports the cycles of one component (all members of `s`'s restriction).
#[allow(clippy::too_many_arguments)]
fn search_component(
    ctx: &Ctx<'_, '_>,
    g: &Graph,
    s: &mut Search,
    paths: &mut StatePaths,
    comp: &[u32],
    e: u8,
    findings: &mut Findings,
    max_work: u64,
) -> Result<(), ()> {
    let base = WW | WR | RW;
    let mut found_any = false;
    // Cycles without anti-dependencies: G0 over ww (+e), G1c over ww and wr (+e).
    let no_rw: &[(u8, u8)] = if e == 0 {
        &[(WW, WW), (WW | WR, WR)]
    } else {
        &[(WW | WR | e, e)]
    };
    for &(allowed, need) in no_rw {
        s.restrict(Some(comp));
        for sub in s.sccs(g, comp, allowed) {
            s.restrict(Some(&sub));
            let edge = sub.iter().find_map(|&a| {
                g.edges(a)
                    .find(|&(b, m)| m & need != 0 && s.is_member(b))
                    .map(|(b, m)| (a, b, m))
            });
            if let Some((a, b, m)) = edge {
                let bit = crate::graph::weakest(m & need);
                if let Some(p) = s.path(g, b, a, allowed) {
                    report_cycle(ctx, findings, &close(a, bit, p));
                    found_any = true;
                }
            }
            s.restrict(Some(comp));
        }
        if s.work > max_work {
            return Err(());
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
    // G-single: one rw edge closed by a path without rw; then G-nonadjacent.
    let mut found_rw = false;
    for nonadjacent in [false, true] {
        let rules = PathRules {
            allowed: if nonadjacent { base | e } else { WW | WR | e },
            nonadjacent,
            closing_rw: true,
            need: e,
            closing_has_need: false,
        };
        let mut best: Option<Vec<(u32, u8)>> = None;
        for &(a, b) in rw_edges.iter().take(MAX_RW_TRIES) {
            let (p, exhausted) = paths.path(g, s, b, a, rules, max_work);
            if exhausted {
                return Err(());
            }
            if let Some(p) = p {
                let c = close(a, RW, p);
                if best.as_ref().is_none_or(|x| c.len() < x.len()) {
                    best = Some(c);
                }
            }
        }
        if let Some(c) = best {
            report_cycle(ctx, findings, &c);
            found_rw = true;
            break;
        }
    }
    if found_rw || found_any {
        return Ok(());
    }
    // Anything else: through an rw edge (G2-item), or through an extra edge, whatever
    // else the path uses. A component always has one.
    let closing: Vec<(u32, u32, u8)> = if e != 0 {
        let mut v = Vec::new();
        for &a in comp {
            for (b, m) in g.edges(a) {
                if m & e != 0 && s.is_member(b) {
                    v.push((a, b, crate::graph::weakest(m & e)));
                }
            }
        }
        v
    } else {
        rw_edges.iter().map(|&(a, b)| (a, b, RW)).collect()
    };
    for &(a, b, bit) in closing.iter().take(MAX_RW_TRIES) {
        let rules = PathRules {
            allowed: base | e,
            nonadjacent: false,
            closing_rw: bit == RW,
            need: 0,
            closing_has_need: true,
        };
        let (p, exhausted) = paths.path(g, s, b, a, rules, max_work);
        if exhausted {
            return Err(());
        }
        if let Some(p) = p {
            report_cycle(ctx, findings, &close(a, bit, p));
            return Ok(());
        }
    }
    if !found_any {
        // Not reachable for a strongly connected component; never pass silently.
        return Err(());
    }
    Ok(())
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
        PR => {
            let oa = &view.ops[ctx.units.op[a as usize] as usize];
            return format!(
                "{la} and {lb} are ops of client {}, {lb} issued after {la} completed",
                oa.client
            );
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
