//! Property tests: histories generated from a sequential model (every op atomic at one
//! instant within its interval) must pass every model; the same histories with one
//! targeted mutation must fail with the mutation's anomaly.

use assay_check::edn;
use assay_check::generate::{
    list_append_history, register_history, ListAppendWorkload, RegisterWorkload,
};
use assay_check::{check_history, Model};
use assay_core::{HistoryEvent, Op, OpValue, Outcome, Record};
use proptest::prelude::*;
use std::collections::HashMap;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn registers() -> impl Strategy<Value = RegisterWorkload> {
    (any::<u64>(), 1u32..7, 1usize..250, 1usize..4, 0.0f64..0.15).prop_map(
        |(seed, clients, ops, keys, indeterminate)| RegisterWorkload {
            clients,
            ops,
            keys,
            indeterminate,
            final_reads: true,
            seed,
        },
    )
}

fn lists() -> impl Strategy<Value = ListAppendWorkload> {
    (
        any::<u64>(),
        1u32..8,
        1usize..250,
        1usize..5,
        1usize..12,
        0.0f64..0.15,
        0.0f64..0.15,
    )
        .prop_map(
            |(seed, clients, txns, active_keys, appends_per_key, failed, indeterminate)| {
                ListAppendWorkload {
                    clients,
                    txns,
                    active_keys,
                    appends_per_key,
                    max_ops_per_txn: 4,
                    failed,
                    indeterminate,
                    final_reads: true,
                    seed,
                }
            },
        )
}

/// Invoke ops and completion outcomes by op id.
fn ops_by_id(h: &[HistoryEvent]) -> HashMap<u64, (&Op, Outcome)> {
    let mut invokes = HashMap::new();
    let mut out = HashMap::new();
    for e in h {
        match e {
            HistoryEvent::Invoke { op_id, op, .. } => {
                invokes.insert(*op_id, op);
            }
            HistoryEvent::Complete { op_id, outcome, .. } => {
                if let Some(op) = invokes.get(op_id) {
                    out.insert(*op_id, (*op, *outcome));
                }
            }
        }
    }
    out
}

/// Index of the last completion of a lone read (the generator's final reads come last).
fn final_read_of(h: &[HistoryEvent], key: &str) -> Option<usize> {
    let ops = ops_by_id(h);
    h.iter().rposition(|e| match e {
        HistoryEvent::Complete {
            op_id,
            outcome: Outcome::Ok,
            ..
        } => {
            matches!(ops.get(op_id), Some((Op::Read { key: k, .. }, _)) if k == key)
        }
        _ => false,
    })
}

fn record_mut(e: &mut HistoryEvent) -> Option<&mut Option<Record>> {
    match e {
        HistoryEvent::Complete {
            value: OpValue::Record(r),
            ..
        } => Some(r),
        _ => None,
    }
}

/// These histories end with a read of every key after the workload: judged with
/// `FinalReads::LastRead`, as an imported history with such reads would be.
fn assert_flags(h: &[HistoryEvent], model: Model, name: &str) -> Result<(), TestCaseError> {
    let mut opts = assay_check::CheckOptions::new(model);
    opts.final_reads = assay_check::FinalReads::LastRead;
    let v = assay_check::check_history_with(h, &opts);
    prop_assert!(!v.valid, "{model} must fail:\n{v}");
    prop_assert!(
        v.forbidden_names().contains(&name),
        "{model} must report {name}:\n{v}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_read_of_a_value_nobody_wrote_fails(w in registers(), pick in any::<prop::sample::Index>()) {
        let mut h = register_history(&w);
        let reads: Vec<usize> = (0..h.len()).filter(|&i| matches!(&h[i], HistoryEvent::Complete { value: OpValue::Record(Some(_)), .. })).collect();
        prop_assume!(!reads.is_empty());
        let i = reads[pick.index(reads.len())];
        if let Some(Some(r)) = record_mut(&mut h[i]) {
            r.value = Some("never-written".into());
        }
        assert_flags(&h, Model::Linearizable, "nonlinearizable")?;
        assert_flags(&h, Model::Linearizable, "phantom-write")?;
        assert_flags(&h, Model::Serializable, "phantom-write")?;
    }

    #[test]
    fn a_final_read_of_an_overwritten_value_fails(w in registers()) {
        let mut h = register_history(&w);
        let ops = ops_by_id(&h);
        // Acknowledged writes of r0 as (value, start, end).
        let mut writes: Vec<(String, u64, u64)> = Vec::new();
        let mut starts = HashMap::new();
        for e in &h {
            match e {
                HistoryEvent::Invoke { op_id, start_ns, .. } => { starts.insert(*op_id, *start_ns); }
                HistoryEvent::Complete { op_id, outcome: Outcome::Ok, end_ns, .. } => {
                    if let Some((Op::Write { key, value, .. } | Op::CompareAndSet { key, value, .. }, _)) = ops.get(op_id) {
                        if key == "r0" { writes.push((value.clone(), starts[op_id], *end_ns)); }
                    }
                }
                _ => {}
            }
        }
        // A write that some acknowledged write began after, and whose value no other
        // write (acknowledged or not) wrote.
        let latest_start = writes.iter().map(|w| w.1).max();
        let stale = writes.iter().find(|w| latest_start.is_some_and(|s| w.2 < s));
        prop_assume!(stale.is_some());
        let stale = stale.map(|w| w.0.clone()).unwrap_or_default();
        let fr = final_read_of(&h, "r0");
        prop_assume!(fr.is_some());
        if let Some(rec) = fr.and_then(|i| record_mut(&mut h[i])) {
            *rec = Some(Record { key: "r0".into(), value: Some(stale), ..Record::default() });
        }
        assert_flags(&h, Model::Serializable, "lost-write")?;
        assert_flags(&h, Model::Linearizable, "nonlinearizable")?;
    }

}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generated_register_histories_pass(w in registers()) {
        let h = register_history(&w);
        for model in [Model::Linearizable, Model::Session] {
            let v = check_history(&h, model);
            prop_assert!(v.valid, "{model}:\n{v}");
        }
        // Serializable checks only lost and phantom writes of lone register ops, which
        // a history without writes does not have: no anomaly, maybe nothing checked.
        let v = check_history(&h, Model::Serializable);
        prop_assert!(v.counts.is_empty(), "serializable:\n{v}");
        // Through EDN (which has no versions) the verdict stays valid.
        let back = edn::parse_history(&edn::write_history(&h)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let v = check_history(&back, Model::Linearizable);
        prop_assert!(v.valid, "after EDN:\n{v}");
    }

    #[test]
    fn generated_list_append_histories_pass(w in lists()) {
        let h = list_append_history(&w);
        for model in Model::ALL {
            let v = check_history(&h, model);
            prop_assert!(v.valid, "{model}:\n{v}");
            prop_assert!(v.counts.is_empty(), "{model}: nothing found, allowed or not:\n{v}");
        }
        let back = edn::parse_history(&edn::write_history(&h)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let v = check_history(&back, Model::Linearizable);
        prop_assert!(v.valid, "after EDN:\n{v}");
    }

    #[test]
    fn a_duplicated_list_element_fails(w in lists(), pick in any::<prop::sample::Index>()) {
        let mut h = list_append_history(&w);
        let reads: Vec<usize> = (0..h.len())
            .filter(|&i| matches!(&h[i], HistoryEvent::Complete { value: OpValue::Record(Some(r)), .. } if r.list.as_ref().is_some_and(|l| !l.is_empty())))
            .collect();
        prop_assume!(!reads.is_empty());
        let i = reads[pick.index(reads.len())];
        if let Some(Some(Record { list: Some(l), .. })) = record_mut(&mut h[i]) {
            l.push(l[0]);
        }
        assert_flags(&h, Model::ReadCommitted, "duplicate-elements")?;
    }

    #[test]
    fn dropping_an_acknowledged_append_from_a_final_read_fails(w in lists(), pick in any::<prop::sample::Index>()) {
        let mut h = list_append_history(&w);
        let ops = ops_by_id(&h);
        let mut acked: HashMap<(String, i64), bool> = HashMap::new();
        for (op, outcome) in ops.values() {
            let children = match op { Op::Txn { ops } => ops.as_slice(), one => std::slice::from_ref(*one) };
            for c in children {
                if let Op::Append { key, element, .. } = c {
                    acked.insert((key.clone(), *element), *outcome == Outcome::Ok);
                }
            }
        }
        // Final reads whose last element was acknowledged.
        let keys: Vec<String> = { let mut k: Vec<String> = acked.keys().map(|(k, _)| k.clone()).collect(); k.sort(); k.dedup(); k };
        let candidates: Vec<usize> = keys.iter().filter_map(|k| final_read_of(&h, k)).filter(|&i| match &h[i] {
            HistoryEvent::Complete { value: OpValue::Record(Some(r)), .. } => r.list.as_ref().and_then(|l| l.last()).is_some_and(|e| acked.get(&(r.key.clone(), *e)) == Some(&true)),
            _ => false,
        }).collect();
        prop_assume!(!candidates.is_empty());
        let i = candidates[pick.index(candidates.len())];
        if let Some(Some(Record { list: Some(l), .. })) = record_mut(&mut h[i]) {
            l.pop();
        }
        assert_flags(&h, Model::Serializable, "lost-append")?;
    }

    #[test]
    fn reading_a_failed_append_fails(w in lists(), pick in any::<prop::sample::Index>()) {
        let w = ListAppendWorkload { failed: 0.2, ..w };
        let mut h = list_append_history(&w);
        let ops = ops_by_id(&h);
        let mut failed: Vec<(String, i64)> = ops.values().filter(|(_, o)| *o == Outcome::Fail).flat_map(|(op, _)| {
            let children = match op { Op::Txn { ops } => ops.as_slice(), one => std::slice::from_ref(*one) };
            children.iter().filter_map(|c| match c { Op::Append { key, element, .. } => Some((key.clone(), *element)), _ => None }).collect::<Vec<_>>()
        }).collect();
        failed.sort();
        prop_assume!(!failed.is_empty());
        let (key, e) = failed[pick.index(failed.len())].clone();
        let fr = final_read_of(&h, &key);
        prop_assume!(fr.is_some());
        if let Some(rec) = fr.and_then(|i| record_mut(&mut h[i])) {
            let mut l = rec.as_ref().and_then(|r| r.list.clone()).unwrap_or_default();
            l.push(e);
            *rec = Some(Record { key: key.clone(), list: Some(l), ..Record::default() });
        }
        assert_flags(&h, Model::ReadCommitted, "G1a")?;
    }
}

const EDN_WORDS: &[&str] = &[
    "{", "}", "[", "]", "(", ")", "#{", "#_", ";c\n", "\\a", "\"s\"", "nil", "0", "1", "2", "-3",
    ":x", ":type", ":invoke", ":ok", ":fail", ":info", ":f", ":read", ":write", ":cas", ":txn",
    ":append", ":r", ":w", ":value", ":process", ":time", ":nemesis",
];

proptest! {
    #![proptest_config(config())]

    /// Garbage in: an error or a history, never a panic, and the checkers cope with
    /// whatever parses.
    #[test]
    fn the_edn_reader_and_checkers_never_panic(words in prop::collection::vec(0..EDN_WORDS.len(), 0..80), text in any::<String>()) {
        let joined: Vec<&str> = words.iter().map(|&i| EDN_WORDS[i]).collect();
        for input in [joined.join(" "), text] {
            if let Ok(h) = edn::parse_history(&input) {
                for model in Model::ALL {
                    let _ = check_history(&h, model).to_string();
                }
            }
        }
    }

    /// Random but well-formed EDN ops: always parse, and every model gives a verdict.
    #[test]
    fn random_register_and_txn_edn_histories_get_verdicts(ops in prop::collection::vec((0u8..4, 0u8..3, 0i64..4, 0i64..4, 0u8..4), 0..40)) {
        let mut text = String::new();
        for (kind, process, k, v, end) in ops {
            let (f, inv, done) = match kind {
                0 => (":read", format!("[{k} nil]"), format!("[{k} {v}]")),
                1 => (":write", format!("[{k} {v}]"), format!("[{k} {v}]")),
                2 => (":cas", format!("[{k} [{v} {}]]", v + 1), format!("[{k} [{v} {}]]", v + 1)),
                _ => (":txn", format!("[[:append {k} {v}] [:r {k} nil]]"), format!("[[:append {k} {v}] [:r {k} [{v}]]]")),
            };
            let end_type = [":ok", ":fail", ":info", ":ok"][end as usize];
            text.push_str(&format!("{{:type :invoke, :process {process}, :f {f}, :value {inv}}}\n"));
            text.push_str(&format!("{{:type {end_type}, :process {process}, :f {f}, :value {done}}}\n"));
        }
        let h = edn::parse_history(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        for model in Model::ALL {
            let _ = serde_json::to_string(&check_history(&h, model)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }
}
