//! Fault figures from a history: how long each client was unavailable, what failed or
//! was left indeterminate meanwhile, and — for list-append histories with a final read —
//! a Jepsen set-style account of every appended element: acknowledged and present (ok),
//! acknowledged and missing (lost), indeterminate or failed and present (recovered /
//! unexpected), present twice (duplicated), seen by a read and then gone (stale).
//! Indeterminate appends count as maybe-applied: present is fine, missing is fine.

use assay_core::history::FINAL_READ_STEP;
use assay_core::{ErrorClass, HistoryEvent, Op, OpResult, OpValue, Outcome};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A stretch of time one client could not get an op through.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Window {
    pub client: u32,
    /// From the start of the first op that did not succeed…
    pub start_ns: u64,
    /// …to the end of the next one that did (or the client's last event: `recovered`
    /// false).
    pub end_ns: u64,
    pub recovered: bool,
    pub failed: u64,
    pub indeterminate: u64,
}

impl Window {
    pub fn duration_ms(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 / 1e6
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Availability {
    pub windows: Vec<Window>,
    /// The longest window of any client, in ms (0 when none).
    pub longest_ms: f64,
    /// Ops that failed or were left indeterminate inside windows.
    pub failed: u64,
    pub indeterminate: u64,
}

/// Whether an op's end says the service could not be reached: no answer in time, a
/// broken connection, or a refused one. Any answer — a success, an aborted transaction,
/// a failed condition — means it could.
fn unreachable(outcome: Outcome, class: Option<ErrorClass>) -> bool {
    outcome == Outcome::Indeterminate
        || matches!(
            class,
            Some(ErrorClass::Unavailable | ErrorClass::ConnectionLost | ErrorClass::Timeout)
        )
}

/// Per client, each first op that could not reach the service → the end of the first
/// one after it that did.
pub fn availability(history: &[HistoryEvent]) -> Availability {
    let mut starts: HashMap<u64, (u32, u64, bool)> = HashMap::new();
    let mut by_client: BTreeMap<u32, Vec<(u64, u64, Outcome, bool)>> = BTreeMap::new();
    for e in history {
        match e {
            HistoryEvent::Invoke {
                op_id,
                client,
                step,
                start_ns,
                ..
            } => {
                starts.insert(*op_id, (*client, *start_ns, step == FINAL_READ_STEP));
            }
            HistoryEvent::Complete {
                op_id,
                outcome,
                end_ns,
                error_class,
                ..
            } => {
                if let Some((client, start, false)) = starts.get(op_id).copied() {
                    let reached = !unreachable(*outcome, *error_class);
                    by_client
                        .entry(client)
                        .or_default()
                        .push((start, *end_ns, *outcome, reached));
                }
            }
        }
    }
    let mut out = Availability::default();
    for (client, mut ops) in by_client {
        ops.sort_by_key(|(start, _, _, _)| *start);
        let last_end = ops.iter().map(|o| o.1).max().unwrap_or(0);
        let mut open: Option<Window> = None;
        for (start, end, outcome, reached) in ops {
            match (reached, open.as_mut()) {
                (true, Some(w)) => {
                    w.end_ns = end;
                    w.recovered = true;
                    out.windows.extend(open.take());
                }
                (true, None) => {}
                (false, w) => {
                    let w = w.map(|w| &mut *w);
                    let w = match w {
                        Some(w) => w,
                        None => open.insert(Window {
                            client,
                            start_ns: start,
                            end_ns: end,
                            recovered: false,
                            failed: 0,
                            indeterminate: 0,
                        }),
                    };
                    if outcome == Outcome::Indeterminate {
                        w.indeterminate += 1;
                    } else {
                        w.failed += 1;
                    }
                }
            }
        }
        if let Some(mut w) = open {
            w.end_ns = w.end_ns.max(last_end);
            out.windows.push(w);
        }
    }
    out.windows.sort_by_key(|w| (w.start_ns, w.client));
    out.longest_ms = out
        .windows
        .iter()
        .map(Window::duration_ms)
        .fold(0.0, f64::max);
    out.failed = out.windows.iter().map(|w| w.failed).sum();
    out.indeterminate = out.windows.iter().map(|w| w.indeterminate).sum();
    out
}

/// How long the service took to come back after one fault.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recovery {
    /// The fault's action and description, e.g. `kill`.
    pub action: String,
    pub fault: String,
    /// When it fired, since the run started.
    pub at_ms: f64,
    /// From the fault to the end of the last unavailability window that began after it
    /// (and before the next fault); 0 when no client noticed it; `None` when a window
    /// never closed.
    pub recovered_after_ms: Option<f64>,
}

/// One `Recovery` per fault that was carried out and is not an undo (heal, resume,
/// start), from the availability windows.
pub fn recoveries(faults: &[assay_core::record::FaultEvent], a: &Availability) -> Vec<Recovery> {
    use assay_core::scenario::FaultKind;
    let starts: Vec<&assay_core::record::FaultEvent> = faults
        .iter()
        .filter(|f| {
            f.ok && !matches!(
                f.action,
                FaultKind::Heal | FaultKind::Resume | FaultKind::Start
            )
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let until = starts.get(i + 1).map_or(u64::MAX, |n| n.at_ns);
            let hit: Vec<&Window> = a
                .windows
                .iter()
                .filter(|w| w.end_ns >= f.at_ns && w.start_ns < until)
                .collect();
            let recovered_after_ms = if hit.iter().any(|w| !w.recovered) {
                None
            } else {
                Some(
                    hit.iter()
                        .map(|w| w.end_ns.saturating_sub(f.at_ns) as f64 / 1e6)
                        .fold(0.0, f64::max),
                )
            };
            Recovery {
                action: f.action.as_str().to_string(),
                fault: f.fault.clone(),
                at_ms: f.at_ns as f64 / 1e6,
                recovered_after_ms,
            }
        })
        .collect()
}

/// Every appended element's fate, against the final read of its key.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SetAccount {
    /// Keys with a successful final read (elements of other keys are not judged).
    pub keys_read: u64,
    pub keys_unread: u64,
    /// Acknowledged and present.
    pub ok: u64,
    /// Acknowledged and missing: the figure a service promising durability must keep 0.
    pub lost: Vec<(String, i64)>,
    /// Indeterminate (maybe applied) and present.
    pub recovered: u64,
    /// Indeterminate and missing: allowed either way.
    pub maybe_missing: u64,
    /// Present although its append failed, or present but never appended.
    pub unexpected: Vec<(String, i64)>,
    /// Present more than once.
    pub duplicated: Vec<(String, i64)>,
    /// Seen by an earlier read, missing from the final one (lost or maybe-applied).
    pub stale: Vec<(String, i64)>,
}

impl SetAccount {
    pub fn lost_count(&self) -> u64 {
        self.lost.len() as u64
    }

    /// `12 ok, 0 lost, 1 recovered (maybe applied, present), …`: the tally every report
    /// prints.
    pub fn tally(&self) -> String {
        format!(
            "{} ok, {} lost, {} recovered (maybe applied, present), {} maybe applied and absent, {} unexpected, {} duplicated, {} stale",
            self.ok,
            self.lost.len(),
            self.recovered,
            self.maybe_missing,
            self.unexpected.len(),
            self.duplicated.len(),
            self.stale.len()
        )
    }
}

fn list_reads(op: &Op, result: &OpResult) -> Vec<(String, Vec<i64>)> {
    let reads: Vec<(&Op, &OpResult)> = match (op, &result.value) {
        (Op::Txn { ops }, OpValue::Results(rs)) => ops.iter().zip(rs).collect(),
        _ => vec![(op, result)],
    };
    reads
        .into_iter()
        .filter_map(|(op, r)| match (op, &r.value) {
            (Op::Read { key, .. }, OpValue::Record(rec)) if r.outcome == Outcome::Ok => Some((
                key.clone(),
                rec.as_ref()
                    .and_then(|r| r.list.clone())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

fn appends(op: &Op) -> Vec<(String, i64)> {
    let ops: Vec<&Op> = match op {
        Op::Txn { ops } | Op::Batch { ops } => ops.iter().collect(),
        other => vec![other],
    };
    ops.into_iter()
        .filter_map(|o| match o {
            Op::Append { key, element, .. } => Some((key.clone(), *element)),
            _ => None,
        })
        .collect()
}

/// The set account of a list-append history, or `None` when it has no final read.
pub fn set_account(history: &[HistoryEvent]) -> Option<SetAccount> {
    let mut invoked: HashMap<u64, (&Op, bool)> = HashMap::new();
    // Element → outcome of its append (a later outcome of a retried element wins only
    // if it is better: ok over indeterminate over fail).
    let mut attempted: HashMap<(String, i64), Outcome> = HashMap::new();
    let mut seen: BTreeSet<(String, i64)> = BTreeSet::new();
    let mut finals: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut final_keys: BTreeSet<String> = BTreeSet::new();
    for e in history {
        match e {
            HistoryEvent::Invoke {
                op_id, op, step, ..
            } => {
                invoked.insert(*op_id, (op, step == FINAL_READ_STEP));
                if step == FINAL_READ_STEP {
                    let reads: Vec<&Op> = match op {
                        Op::Txn { ops } => ops.iter().collect(),
                        other => vec![other],
                    };
                    for o in reads {
                        if let Op::Read { key, .. } = o {
                            final_keys.insert(key.clone());
                        }
                    }
                }
            }
            HistoryEvent::Complete {
                op_id,
                outcome,
                value,
                ..
            } => {
                let Some((op, is_final)) = invoked.get(op_id).copied() else {
                    continue;
                };
                let result = OpResult {
                    outcome: *outcome,
                    value: value.clone(),
                    error: None,
                    meta: Default::default(),
                };
                for (key, list) in list_reads(op, &result) {
                    if is_final {
                        finals.insert(key, list);
                    } else {
                        seen.extend(list.into_iter().map(|x| (key.clone(), x)));
                    }
                }
                if !is_final {
                    let rank = |o: Outcome| match o {
                        Outcome::Ok => 2,
                        Outcome::Indeterminate => 1,
                        Outcome::Fail => 0,
                    };
                    for a in appends(op) {
                        let slot = attempted.entry(a).or_insert(*outcome);
                        if rank(*outcome) > rank(*slot) {
                            *slot = *outcome;
                        }
                    }
                }
            }
        }
    }
    if final_keys.is_empty() {
        return None;
    }
    let mut acc = SetAccount {
        keys_read: finals.len() as u64,
        keys_unread: final_keys.len().saturating_sub(finals.len()) as u64,
        ..SetAccount::default()
    };
    let mut present: HashMap<(String, i64), u32> = HashMap::new();
    for (key, list) in &finals {
        for x in list {
            *present.entry((key.clone(), *x)).or_default() += 1;
        }
    }
    let mut sorted: Vec<_> = present.iter().collect();
    sorted.sort();
    for (element, n) in sorted {
        if *n > 1 {
            acc.duplicated.push(element.clone());
        }
        match attempted.get(element) {
            Some(Outcome::Ok) => acc.ok += 1,
            Some(Outcome::Indeterminate) => acc.recovered += 1,
            Some(Outcome::Fail) | None => acc.unexpected.push(element.clone()),
        }
    }
    let mut missing: Vec<(&(String, i64), &Outcome)> = attempted
        .iter()
        .filter(|(el, _)| finals.contains_key(&el.0) && !present.contains_key(*el))
        .collect();
    missing.sort();
    for (element, outcome) in missing {
        match outcome {
            Outcome::Ok => acc.lost.push(element.clone()),
            Outcome::Indeterminate => acc.maybe_missing += 1,
            Outcome::Fail => {}
        }
        if seen.contains(element) {
            acc.stale.push(element.clone());
        }
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::{Consistency, Record};

    struct H {
        events: Vec<HistoryEvent>,
        next: u64,
    }

    impl H {
        fn new() -> Self {
            H {
                events: Vec::new(),
                next: 0,
            }
        }

        fn op(
            &mut self,
            client: u32,
            step: &str,
            op: Op,
            outcome: Outcome,
            value: OpValue,
            t: u64,
        ) {
            let error_class = (outcome == Outcome::Fail).then_some(ErrorClass::Unavailable);
            let op_id = self.next;
            self.next += 1;
            self.events.push(HistoryEvent::Invoke {
                op_id,
                client,
                step: step.into(),
                op,
                intended_start_ns: t,
                start_ns: t,
            });
            self.events.push(HistoryEvent::Complete {
                op_id,
                client,
                outcome,
                value,
                error_class,
                error: None,
                meta: Default::default(),
                end_ns: t + 1_000_000,
            });
        }
    }

    fn append(key: &str, element: i64) -> Op {
        Op::Txn {
            ops: vec![Op::Append {
                table: "t".into(),
                key: key.into(),
                element,
            }],
        }
    }

    fn read(key: &str) -> Op {
        Op::Txn {
            ops: vec![Op::Read {
                table: "t".into(),
                key: key.into(),
                consistency: Consistency::Strong,
            }],
        }
    }

    fn list(key: &str, xs: &[i64]) -> OpValue {
        OpValue::Results(vec![OpResult::ok(OpValue::Record(Some(Record {
            key: key.into(),
            value: None,
            version: None,
            counter: None,
            list: Some(xs.to_vec()),
        })))])
    }

    #[test]
    fn windows_run_from_the_first_failure_to_the_next_success_per_client() {
        let mut h = H::new();
        let ms = 1_000_000;
        h.op(0, "c", append("x", 1), Outcome::Ok, OpValue::None, 0);
        h.op(
            0,
            "c",
            append("x", 2),
            Outcome::Indeterminate,
            OpValue::None,
            10 * ms,
        );
        h.op(
            0,
            "c",
            append("x", 3),
            Outcome::Fail,
            OpValue::None,
            20 * ms,
        );
        h.op(0, "c", append("x", 4), Outcome::Ok, OpValue::None, 100 * ms);
        h.op(
            1,
            "c",
            append("x", 5),
            Outcome::Fail,
            OpValue::None,
            50 * ms,
        );
        // An aborted transaction is an answer: the service was reachable.
        h.events.push(HistoryEvent::Invoke {
            op_id: 99,
            client: 2,
            step: "c".into(),
            op: append("x", 6),
            intended_start_ns: 0,
            start_ns: 0,
        });
        h.events.push(HistoryEvent::Complete {
            op_id: 99,
            client: 2,
            outcome: Outcome::Fail,
            value: OpValue::None,
            error_class: Some(ErrorClass::Aborted),
            error: None,
            meta: Default::default(),
            end_ns: 1,
        });
        let a = availability(&h.events);
        assert_eq!(a.windows.len(), 2);
        assert_eq!(a.windows[0].client, 0);
        assert_eq!(
            (a.windows[0].start_ns, a.windows[0].end_ns),
            (10 * ms, 101 * ms)
        );
        assert!(a.windows[0].recovered);
        assert_eq!((a.windows[0].failed, a.windows[0].indeterminate), (1, 1));
        assert!(!a.windows[1].recovered, "client 1 never got through");
        assert_eq!(a.longest_ms, 91.0);
        assert_eq!((a.failed, a.indeterminate), (2, 1));
        assert_eq!(availability(&[]), Availability::default());
    }

    #[test]
    fn recovery_runs_from_each_fault_to_the_end_of_the_windows_it_caused() {
        use assay_core::record::FaultEvent;
        use assay_core::scenario::FaultKind;
        let ms: u64 = 1_000_000;
        let w = |client, start: u64, end: u64, recovered| Window {
            client,
            start_ns: start * ms,
            end_ns: end * ms,
            recovered,
            failed: 1,
            indeterminate: 0,
        };
        let a = Availability {
            windows: vec![
                w(0, 101, 400, true),
                w(1, 102, 650, true),
                w(0, 900, 2000, false),
            ],
            ..Availability::default()
        };
        let ev = |action, at: u64| FaultEvent {
            unix_ms: 0,
            at_ns: at * ms,
            action,
            fault: "f".into(),
            ok: true,
            detail: String::new(),
        };
        let r = recoveries(
            &[
                ev(FaultKind::Kill, 100),
                ev(FaultKind::Promote, 500),
                ev(FaultKind::Heal, 600),
                ev(FaultKind::Partition, 850),
            ],
            &a,
        );
        let got: Vec<(&str, Option<f64>)> = r
            .iter()
            .map(|r| (r.action.as_str(), r.recovered_after_ms))
            .collect();
        assert_eq!(
            got,
            vec![
                ("kill", Some(550.0)),
                ("promote", Some(150.0)),
                ("partition", None)
            ]
        );
    }

    #[test]
    fn the_set_account_names_every_fate_and_treats_indeterminate_as_maybe() {
        let mut h = H::new();
        h.op(0, "c", append("x", 1), Outcome::Ok, OpValue::None, 0);
        h.op(0, "c", append("x", 2), Outcome::Ok, OpValue::None, 1);
        h.op(
            0,
            "c",
            append("x", 3),
            Outcome::Indeterminate,
            OpValue::None,
            2,
        );
        h.op(
            0,
            "c",
            append("x", 4),
            Outcome::Indeterminate,
            OpValue::None,
            3,
        );
        h.op(0, "c", append("x", 5), Outcome::Fail, OpValue::None, 4);
        h.op(1, "c", read("x"), Outcome::Ok, list("x", &[1, 2]), 5);
        h.op(
            2,
            FINAL_READ_STEP,
            read("x"),
            Outcome::Ok,
            list("x", &[1, 3, 5, 9, 9]),
            10,
        );
        let acc = set_account(&h.events).unwrap();
        assert_eq!(acc.ok, 1);
        assert_eq!(acc.lost, vec![("x".to_string(), 2)]);
        assert_eq!(acc.stale, vec![("x".to_string(), 2)]);
        assert_eq!((acc.recovered, acc.maybe_missing), (1, 1));
        assert_eq!(
            acc.unexpected,
            vec![("x".to_string(), 5), ("x".to_string(), 9)]
        );
        assert_eq!(acc.duplicated, vec![("x".to_string(), 9)]);
        assert_eq!((acc.keys_read, acc.keys_unread), (1, 0));
    }

    #[test]
    fn a_valid_history_loses_nothing_and_without_a_final_read_there_is_no_account() {
        let mut h = H::new();
        h.op(0, "c", append("x", 1), Outcome::Ok, OpValue::None, 0);
        h.op(
            0,
            "c",
            append("y", 2),
            Outcome::Indeterminate,
            OpValue::None,
            1,
        );
        assert_eq!(set_account(&h.events), None);
        h.op(
            1,
            FINAL_READ_STEP,
            read("x"),
            Outcome::Ok,
            list("x", &[1]),
            5,
        );
        h.op(
            1,
            FINAL_READ_STEP,
            read("y"),
            Outcome::Indeterminate,
            OpValue::None,
            6,
        );
        let acc = set_account(&h.events).unwrap();
        assert_eq!(acc.ok, 1);
        assert!(acc.lost.is_empty() && acc.unexpected.is_empty() && acc.duplicated.is_empty());
        assert_eq!((acc.keys_read, acc.keys_unread), (1, 1), "y was never read");
        assert_eq!(acc.maybe_missing, 0, "y is not judged");
    }
}
