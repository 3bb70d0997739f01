//! Session guarantees per client (a client issues one op at a time, so its ops are a
//! session), per key:
//! - read-your-writes: a read sees the client's own earlier acknowledged writes;
//! - monotonic reads: a read never sees an older version than an earlier read did;
//! - monotonic writes: the client's writes take effect in the order it made them;
//! - writes-follow-reads: a write is ordered after the versions the client had read.
//!
//! Versions: a list's version is its length, and an element's place is its position in
//! the key's order; a register's version is the record version reads report (Assay's
//! do). Jepsen registers carry no version: there only read-your-writes is checked, as
//! "a read returned a value the client itself had overwritten". Keys that are deleted
//! (versions restart) are left out of register checks. Only ok ops create obligations:
//! an indeterminate write may never have happened.

use crate::evidence::{ops_evidence, Findings};
use crate::fxhash::FastMap;
use crate::history_view::{Effect, KeyKind, Observed, View};
use crate::index::{ListIndex, RegisterIndex};
use crate::model::names;
use crate::text::{short_list, show_value};
use assay_core::Outcome;

#[derive(Default)]
struct KeySession<'v> {
    /// Highest version (list length) read so far, and the access that read it.
    read: Option<(u64, u32)>,
    /// Version (list position + 1) of the latest own write whose place is known.
    wrote: Option<(u64, u32)>,
    /// An acknowledged own append that no read ever saw.
    unseen_append: Option<(i64, u32)>,
    /// Registers without versions: own written values → sequence number, and the latest.
    own_values: FastMap<&'v str, (u32, u32)>,
    own_seq: u32,
}

pub(crate) fn check(
    view: &View<'_>,
    lists: &ListIndex<'_>,
    regs: &RegisterIndex<'_>,
    findings: &mut Findings,
) {
    let mut sessions: FastMap<(u32, u32), KeySession<'_>> = FastMap::default();
    let mut clients: Vec<u32> = Vec::new();
    let mut unversioned: Vec<&str> = Vec::new();
    let mut deleted: Vec<&str> = Vec::new();
    for k in 0..view.keys.len() {
        if view.key_kind[k] != KeyKind::Register {
            continue;
        }
        if regs.has_delete[k] {
            deleted.push(view.keys[k]);
        } else if regs.versions[k].is_empty() {
            unversioned.push(view.keys[k]);
        }
    }
    // Ops are in invoke order, which is each client's session order.
    for (ai, a) in view.accesses.iter().enumerate() {
        let ai = ai as u32;
        let o = view.op_of(a);
        if a.outcome != Outcome::Ok {
            continue;
        }
        let k = a.key;
        let kind = view.key_kind[k as usize];
        if kind == KeyKind::Other || (kind == KeyKind::Register && regs.has_delete[k as usize]) {
            continue;
        }
        clients.push(o.client);
        let s = sessions.entry((o.client, k)).or_default();
        let key = view.keys[k as usize];
        let client = o.client;
        let pair = |earlier: u32| {
            ops_evidence(
                view,
                &[view.accesses[earlier as usize].op as usize, a.op as usize],
            )
        };
        match (&a.effect, kind) {
            (Effect::Read(obs), KeyKind::List) => {
                let Some(l) = obs.list() else { continue };
                if lists.incompatible.contains(&ai) {
                    continue;
                }
                let len = l.len() as u64;
                if let Some((prev, pa)) = s.read {
                    if prev > len {
                        findings.add(names::MONOTONIC_READS, || {
                            (format!("client {client} read {prev} element(s) of key {key:?} in T1, then only {len} in T2"), pair(pa))
                        });
                    }
                }
                if let Some((ver, wa)) = s.wrote {
                    if ver > len {
                        findings.add(names::READ_YOUR_WRITES, || {
                            (
                                format!("client {client} appended to key {key:?} at position {} in T1, then read only {len} element(s) in T2", ver - 1),
                                pair(wa),
                            )
                        });
                    }
                }
                if let Some((e, wa)) = s.unseen_append {
                    findings.add(names::READ_YOUR_WRITES, || {
                        (
                            format!("client {client} appended {e} to key {key:?} in T1 (acknowledged), then read it without {e} in T2"),
                            pair(wa),
                        )
                    });
                    s.unseen_append = None;
                }
                if s.read.is_none_or(|(prev, _)| len > prev) {
                    s.read = Some((len, ai));
                }
            }
            (Effect::Append(e), KeyKind::List) => {
                if lists.writer_of(k, *e) != Some(ai) {
                    continue;
                }
                match lists.pos.get(&(k, *e)) {
                    Some(&p) => {
                        let ver = p as u64 + 1;
                        if let Some((prev, wa)) = s.wrote {
                            if prev >= ver {
                                findings.add(names::MONOTONIC_WRITES, || {
                                    (
                                        format!("client {client}'s append in T2 landed at position {p} of key {key:?}, before its earlier append in T1 (position {})", prev - 1),
                                        pair(wa),
                                    )
                                });
                            }
                        }
                        if let Some((len, ra)) = s.read {
                            if len >= ver && !same_op(view, ra, ai) {
                                findings.add(names::WRITES_FOLLOW_READS, || {
                                    (
                                        format!("client {client} read {len} element(s) of key {key:?} in T1, then its append in T2 landed at position {p}, inside what it had read"),
                                        pair(ra),
                                    )
                                });
                            }
                        }
                        s.wrote = Some((ver, ai));
                    }
                    None => {
                        if s.unseen_append.is_none() {
                            s.unseen_append = Some((*e, ai));
                        }
                    }
                }
            }
            (Effect::Read(obs), KeyKind::Register) => {
                let (value, version) = match obs {
                    Observed::Absent => (None, Some(0)),
                    Observed::Register { value, version } => (*value, *version),
                    _ => continue,
                };
                if let Some(ver) = version {
                    if let Some((prev, pa)) = s.read {
                        if prev > ver {
                            findings.add(names::MONOTONIC_READS, || {
                                (format!("client {client} read key {key:?} at ver {prev} in T1, then at ver {ver} in T2"), pair(pa))
                            });
                        }
                    }
                    if let Some((w, wa)) = s.wrote {
                        if w > ver {
                            findings.add(names::READ_YOUR_WRITES, || {
                                (
                                    format!("client {client} wrote key {key:?} (ver {w}) in T1, then read ver {ver} ({}) in T2", show_value(value)),
                                    pair(wa),
                                )
                            });
                        }
                    }
                    if s.read.is_none_or(|(prev, _)| ver > prev) {
                        s.read = Some((ver, ai));
                    }
                } else if let Some(v) = value {
                    // No versions: a value the client itself overwrote later is stale.
                    if let Some(&(seq, wa)) = s.own_values.get(v) {
                        if seq < s.own_seq {
                            findings.add(names::READ_YOUR_WRITES, || {
                                (
                                    format!("client {client} wrote {} to key {key:?} in T1 and later overwrote it, but then read {} in T2", show_value(Some(v)), show_value(Some(v))),
                                    pair(wa),
                                )
                            });
                        }
                    }
                }
            }
            (e, KeyKind::Register) => {
                let Some(Some(v)) = e.written_value() else {
                    continue;
                };
                if regs.writer_of(k, v) != Some(ai) {
                    continue;
                }
                s.own_seq += 1;
                let seq = s.own_seq;
                s.own_values.insert(v, (seq, ai));
                let Some(ver) = regs.version_of(k, v) else {
                    continue;
                };
                if let Some((prev, wa)) = s.wrote {
                    if prev >= ver {
                        findings.add(names::MONOTONIC_WRITES, || {
                            (format!("client {client}'s write of {v:?} to key {key:?} in T2 took ver {ver}, not after its earlier write in T1 (ver {prev})"), pair(wa))
                        });
                    }
                }
                if let Some((r, ra)) = s.read {
                    if r >= ver && !same_op(view, ra, ai) {
                        findings.add(names::WRITES_FOLLOW_READS, || {
                            (format!("client {client} read key {key:?} at ver {r} in T1, then its write of {v:?} in T2 took ver {ver}, not after it"), pair(ra))
                        });
                    }
                }
                s.wrote = Some((ver, ai));
            }
            _ => {}
        }
    }
    clients.sort_unstable();
    clients.dedup();
    if !clients.is_empty() {
        findings
            .checked
            .push(format!("session guarantees: {} client(s)", clients.len()));
    }
    if !unversioned.is_empty() {
        unversioned.sort();
        findings.skipped.push(format!(
            "monotonic reads/writes and writes-follow-reads of register key(s) whose reads carry no version: {}",
            short_list(&unversioned)
        ));
    }
    if !deleted.is_empty() {
        deleted.sort();
        findings.skipped.push(format!(
            "session guarantees of deleted register key(s) (versions restart): {}",
            short_list(&deleted)
        ));
    }
}

fn same_op(view: &View<'_>, a: u32, b: u32) -> bool {
    view.accesses[a as usize].op == view.accesses[b as usize].op
}
