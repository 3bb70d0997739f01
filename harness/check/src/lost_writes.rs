//! Lost and phantom writes, judged from each key's *final read*: the last ok read of the
//! key, among the reads the history marks final, that began after every acknowledged
//! write to it had completed. A read is marked final by its step ([`FINAL_READ_STEP`]:
//! Assay's final-read phase after the workload quiesced, or `:final? true` in EDN), or
//! every read counts when the caller says so for an imported history
//! ([`FinalReads::LastRead`]). An ordinary read that misses an acknowledged write is
//! only stale, which most models allow; under real-time models the cycle search
//! reports it (G-single-realtime and kin).
//!
//! - Lists: an acknowledged append missing from the final read is a `lost-append`.
//! - Registers: the final read must return the value of a write that no acknowledged
//!   write followed in real time (or of an indeterminate write, which may land at any
//!   time); a value from an overwritten write means the later acknowledged write was
//!   lost (`lost-write`). Absent after acknowledged writes and no delete is lost too.
//! - Any read of a register value that no op wrote is a `phantom-write`; one that only a
//!   failed write wrote is an aborted read (`G1a`). List elements are checked the same
//!   way by `elle`.
//!
//! Failed writes definitely did not happen; indeterminate ones may have.

use crate::evidence::{ops_evidence, Findings};
use crate::fxhash::{FastMap, FastSet};
use crate::history_view::{Effect, KeyKind, Observed, View};
use crate::index::{ListIndex, RegisterIndex};
use crate::model::names;
use crate::text::{short_list, show_list, show_value};
use assay_core::Outcome;

pub use crate::edn::FINAL_READ_STEP;

/// Which reads may serve as a key's final read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinalReads {
    /// Only reads whose step is [`FINAL_READ_STEP`] (or ends in `/final-read`).
    #[default]
    Marked,
    /// The last read that began after every acknowledged write: for imported
    /// histories known to end with a quiesced read of every key.
    LastRead,
}

pub fn is_final_read_step(step: &str) -> bool {
    step == FINAL_READ_STEP || step.ends_with("/final-read")
}

pub(crate) fn check(
    view: &View<'_>,
    lists: &ListIndex<'_>,
    regs: &RegisterIndex<'_>,
    final_reads: FinalReads,
    findings: &mut Findings,
) {
    let n = view.keys.len();
    // Per key: the latest end of an acknowledged write, and the latest start of one.
    let mut last_ack_end = vec![None::<u64>; n];
    let mut last_ack_start = vec![None::<u64>; n];
    for a in &view.accesses {
        let writes = matches!(a.effect, Effect::Append(_)) || a.effect.is_register_write();
        if writes && a.outcome == Outcome::Ok {
            let o = view.op_of(a);
            let k = a.key as usize;
            last_ack_end[k] = Some(last_ack_end[k].unwrap_or(0).max(o.end_ns));
            last_ack_start[k] = Some(last_ack_start[k].unwrap_or(0).max(o.start_ns));
        }
    }
    // Per key: the final read (latest-starting ok read after the last acknowledged write).
    let mut final_read = vec![None::<(u64, u32)>; n];
    for (ai, a) in view.accesses.iter().enumerate() {
        let (Effect::Read(obs), Outcome::Ok) = (&a.effect, a.outcome) else {
            continue;
        };
        if matches!(obs, Observed::Unknown) {
            continue;
        }
        let k = a.key as usize;
        if final_reads == FinalReads::Marked && !is_final_read_step(view.op_of(a).step) {
            continue;
        }
        let start = view.op_of(a).start_ns;
        let Some(end) = last_ack_end[k] else { continue };
        if start > end && final_read[k].is_none_or(|(s, _)| start > s) {
            final_read[k] = Some((start, ai as u32));
        }
    }
    let mut without_final = Vec::new();
    for k in 0..n {
        if last_ack_end[k].is_some()
            && final_read[k].is_none()
            && view.key_kind[k] != KeyKind::Other
        {
            without_final.push(view.keys[k]);
        }
    }
    let list_keys = (0..n)
        .filter(|&k| view.key_kind[k] == KeyKind::List && final_read[k].is_some())
        .count();
    let reg_keys = (0..n)
        .filter(|&k| view.key_kind[k] == KeyKind::Register && final_read[k].is_some())
        .count();
    if list_keys + reg_keys > 0 {
        findings.checked.push(format!(
            "lost writes: final reads of {list_keys} list key(s) and {reg_keys} register key(s)"
        ));
    }
    if !without_final.is_empty() {
        without_final.sort();
        findings.skipped.push(format!(
            "lost writes of {} key(s) with no read marked final after their last acknowledged write: {}",
            without_final.len(),
            short_list(&without_final)
        ));
    }
    lost_appends(view, lists, &final_read, findings);
    lost_register_writes(view, &final_read, &last_ack_start, findings);
    phantom_register_reads(view, regs, findings);
}

fn lost_appends(
    view: &View<'_>,
    lists: &ListIndex<'_>,
    final_read: &[Option<(u64, u32)>],
    findings: &mut Findings,
) {
    // Elements of final reads that do not fit the key's order, looked up directly.
    let mut odd_final: FastMap<u32, FastSet<i64>> = FastMap::default();
    for (k, fr) in final_read.iter().enumerate() {
        if let Some((_, ai)) = fr {
            if lists.incompatible.contains(ai) {
                if let Effect::Read(obs) = &view.accesses[*ai as usize].effect {
                    odd_final.insert(
                        k as u32,
                        obs.list().unwrap_or(&[]).iter().copied().collect(),
                    );
                }
            }
        }
    }
    for a in &view.accesses {
        let (Effect::Append(e), Outcome::Ok) = (&a.effect, a.outcome) else {
            continue;
        };
        let k = a.key;
        if view.key_kind[k as usize] != KeyKind::List {
            continue;
        }
        let Some((_, fr)) = final_read[k as usize] else {
            continue;
        };
        let Effect::Read(obs) = &view.accesses[fr as usize].effect else {
            continue;
        };
        let Some(seen) = obs.list() else { continue };
        let present = match odd_final.get(&k) {
            Some(set) => set.contains(e),
            None => lists
                .pos
                .get(&(k, *e))
                .is_some_and(|&p| (p as usize) < seen.len()),
        };
        if present {
            continue;
        }
        findings.add(names::LOST_APPEND, || {
            (
                format!(
                    "T1 appended {e} to key {:?} and was acknowledged, but the final read T2, begun after every acknowledged append, saw {} without it",
                    view.keys[k as usize],
                    show_list(seen)
                ),
                ops_evidence(view, &[a.op as usize, view.accesses[fr as usize].op as usize]),
            )
        });
    }
}

/// A register write that may have happened.
struct WriteSpan<'v> {
    access: u32,
    value: Option<&'v str>,
    start: u64,
    /// `u64::MAX` for an indeterminate write: it may land at any time.
    end: u64,
}

fn lost_register_writes(
    view: &View<'_>,
    final_read: &[Option<(u64, u32)>],
    last_ack_start: &[Option<u64>],
    findings: &mut Findings,
) {
    let mut writes: FastMap<u32, Vec<WriteSpan<'_>>> = FastMap::default();
    for (ai, a) in view.accesses.iter().enumerate() {
        let k = a.key;
        if view.key_kind[k as usize] != KeyKind::Register
            || final_read[k as usize].is_none()
            || a.outcome == Outcome::Fail
        {
            continue;
        }
        let Some(v) = a.effect.written_value() else {
            continue;
        };
        let o = view.op_of(a);
        let end = if a.outcome == Outcome::Ok {
            o.end_ns
        } else {
            u64::MAX
        };
        writes.entry(k).or_default().push(WriteSpan {
            access: ai as u32,
            value: v,
            start: o.start_ns,
            end,
        });
    }
    let mut keys: Vec<u32> = writes.keys().copied().collect();
    keys.sort_unstable();
    for k in keys {
        let ws = &writes[&k];
        let (Some((_, fr)), Some(latest_start)) =
            (final_read[k as usize], last_ack_start[k as usize])
        else {
            continue;
        };
        let Effect::Read(obs) = &view.accesses[fr as usize].effect else {
            continue;
        };
        let seen: Option<&str> = match obs {
            Observed::Absent => None,
            Observed::Register { value: Some(v), .. } => Some(v),
            _ => continue,
        };
        // A write is overwritten for sure when an acknowledged write began after it ended.
        if ws.iter().any(|w| w.end >= latest_start && w.value == seen) {
            continue;
        }
        let stale = ws.iter().filter(|w| w.value == seen).max_by_key(|w| w.end);
        let newest = ws
            .iter()
            .filter(|w| w.end != u64::MAX)
            .max_by_key(|w| w.start);
        let (Some(newest), true) = (newest, stale.is_some() || seen.is_none()) else {
            continue;
        };
        let key = view.keys[k as usize];
        findings.add(names::LOST_WRITE, || match stale {
            Some(stale) => (
                format!(
                    "the final read T3 of key {key:?} saw {}, written by T1, but T2's acknowledged write began after T1 completed and is missing",
                    show_value(seen)
                ),
                ops_evidence(
                    view,
                    &[
                        view.accesses[stale.access as usize].op as usize,
                        view.accesses[newest.access as usize].op as usize,
                        view.accesses[fr as usize].op as usize,
                    ],
                ),
            ),
            None => (
                format!("the final read T2 of key {key:?} found no row, but T1's acknowledged write was never deleted"),
                ops_evidence(view, &[view.accesses[newest.access as usize].op as usize, view.accesses[fr as usize].op as usize]),
            ),
        });
    }
}

fn phantom_register_reads(view: &View<'_>, regs: &RegisterIndex<'_>, findings: &mut Findings) {
    let mut reported: FastSet<(u32, &str)> = FastSet::default();
    for a in &view.accesses {
        let k = a.key;
        if view.key_kind[k as usize] != KeyKind::Register || a.outcome != Outcome::Ok {
            continue;
        }
        let Effect::Read(Observed::Register { value: Some(v), .. }) = &a.effect else {
            continue;
        };
        if regs.writer.contains_key(&(k, *v)) || !reported.insert((k, v)) {
            continue;
        }
        let key = view.keys[k as usize];
        match regs.failed.get(&(k, *v)) {
            Some(&fa) => findings.add(names::G1A, || {
                (
                    format!("T2 read {} on key {key:?}, which only T1 wrote, and T1 failed (aborted read)", show_value(Some(v))),
                    ops_evidence(view, &[view.accesses[fa as usize].op as usize, a.op as usize]),
                )
            }),
            None => findings.add(names::PHANTOM_WRITE, || {
                (
                    format!("T1 read {} on key {key:?}, which no op wrote", show_value(Some(v))),
                    ops_evidence(view, &[a.op as usize]),
                )
            }),
        }
    }
}
