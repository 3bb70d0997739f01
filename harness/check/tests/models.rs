//! Whole-verdict behaviour: mixed histories, what is skipped and why, empty input,
//! batches (not atomic), staleness figures, and input sections.

mod common;

use assay_check::{check_history, parse_history_text, staleness, Model};
use assay_core::{Op, OpResult, OpValue, Outcome};
use common::*;

#[test]
fn linearizable_on_a_mixed_history_checks_what_applies_and_says_what_it_skipped() {
    let mut h = History::new();
    h.ok(0, write("r", "a"), none())
        .ok(1, read("r"), reg("r", "a", 1))
        .ok(
            0,
            txn(vec![append("l", 1), write("t", "x")]),
            results(vec![none(), none()]),
        )
        .ok(
            1,
            txn(vec![read("l"), read("t")]),
            results(vec![list("l", &[1]), reg("t", "x", 1)]),
        )
        .ok(
            2,
            Op::Increment {
                table: "kv".into(),
                key: "n".into(),
                by: 1,
            },
            OpValue::Counter(1),
        );
    let v = check_history(&h.events, Model::Linearizable);
    assert!(v.valid, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("checked: linearizability: 2 register ops on 1 key(s)"),
        "{text}"
    );
    assert!(
        text.contains("checked: transactions: 2 over 1 list key(s) and 1 register key(s)"),
        "{text}"
    );
    assert!(
        text.contains("also written in transactions") && text.contains(": t"),
        "{text}"
    );
    assert!(text.contains("1 increment op(s) are not checked"), "{text}");
    let v = check_history(&h.events, Model::Serializable);
    assert!(v.valid, "{v}");
    // Serializable orders single-key register ops too (in any order, not real time).
    assert!(
        v.checked
            .iter()
            .any(|s| s.contains("serializability of single-key register ops: 2")),
        "{v}"
    );
}

#[test]
fn an_empty_history_is_not_a_pass() {
    let v = check_history(&[], Model::Serializable);
    assert!(!v.valid);
    assert!(
        v.inconclusive[0].contains("nothing in this history could be checked"),
        "{v}"
    );
    let mut h = History::new();
    h.invoke(0, read("x"));
    let v = check_history(&h.events, Model::Linearizable);
    assert!(!v.valid, "{v}");
    assert!(
        v.skipped.iter().any(|s| s.contains("never completed")),
        "{v}"
    );
}

#[test]
fn batches_are_not_atomic() {
    // A batch appends to x and y; a reader sees x's append but not y's. As one
    // transaction that would be a G-single cycle; as two independent ops it is fine.
    let mut h = History::new();
    let batch = Op::Batch {
        ops: vec![append("x", 1), append("y", 1)],
    };
    h.ok(0, batch, results(vec![none(), none()]))
        .ok(
            1,
            txn(vec![read("x"), read("y")]),
            results(vec![list("x", &[1]), list("y", &[])]),
        )
        .ok(
            2,
            txn(vec![read("x"), read("y")]),
            results(vec![list("x", &[1]), list("y", &[1])]),
        );
    let v = check_history(&h.events, Model::Serializable);
    assert!(v.valid, "{v}");
    // The same as a transaction is read skew.
    let mut h = History::new();
    h.ok(
        0,
        txn(vec![append("x", 1), append("y", 1)]),
        results(vec![none(), none()]),
    )
    .ok(
        1,
        txn(vec![read("x"), read("y")]),
        results(vec![list("x", &[1]), list("y", &[])]),
    )
    .ok(
        2,
        txn(vec![read("x"), read("y")]),
        results(vec![list("x", &[1]), list("y", &[1])]),
    );
    let v = check_history(&h.events, Model::Serializable);
    assert_eq!(v.forbidden_names(), vec!["G-single"], "{v}");
}

#[test]
fn a_failed_op_inside_a_batch_counts_as_not_applied() {
    let mut h = History::new();
    let batch = Op::Batch {
        ops: vec![append("x", 1), append("x", 2)],
    };
    let id = h.invoke(0, batch);
    let failed = OpResult::error(assay_core::ErrorClass::ConditionFailed, "no");
    h.complete(
        id,
        0,
        Outcome::Ok,
        OpValue::Results(vec![OpResult::ok(none()), failed]),
    );
    h.ok(1, read("x"), list("x", &[1, 2]));
    let v = check_history(&h.events, Model::ReadCommitted);
    assert_eq!(v.forbidden_names(), vec!["G1a"], "{v}");
}

#[test]
fn staleness_counts_missed_acknowledged_writes_and_their_age() {
    let mut h = History::new();
    // Events are 1µs apart: w1 [1,2], w2 [3,4], stale read [5,6], fresh read [7,8].
    h.ok(0, write("x", "a"), none())
        .ok(0, write("x", "b"), none())
        .ok(1, read("x"), reg("x", "a", 1))
        .ok(1, read("x"), reg("x", "b", 2));
    let s = staleness(&h.events);
    assert_eq!(s.summary.reads, 2);
    assert_eq!(s.summary.stale_reads, 1);
    assert_eq!((s.reads[0].versions_behind, s.reads[0].lag_ns), (1, 1_000));
    assert_eq!((s.reads[1].versions_behind, s.reads[1].lag_ns), (0, 0));
    assert_eq!(s.exceeding(Some(0), None).len(), 1);
    assert!(s.exceeding(Some(1), Some(1_000)).is_empty());
    assert_eq!(s.summary.versions_behind.get(&1), Some(&1));

    let mut h = History::new();
    h.ok(0, append("l", 1), none())
        .ok(0, append("l", 2), none())
        .ok(0, append("l", 3), none())
        .ok(1, read("l"), list("l", &[1]))
        .ok(1, read("l"), list("l", &[1, 2, 3]));
    let s = staleness(&h.events);
    assert_eq!((s.reads[0].versions_behind, s.reads[0].lag_ns), (2, 3_000));
    assert_eq!(s.summary.max_versions_behind, 2);
}

#[test]
fn jsonl_sections_are_checked_apart() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/g2.jsonl"
    ))
    .unwrap();
    let sections = parse_history_text(&text).unwrap();
    assert_eq!(sections.len(), 1);
    assert_eq!(
        (sections[0].target.as_str(), sections[0].scenario.as_str()),
        ("postgres", "list-append")
    );
    let v = check_history(&sections[0].events, Model::Serializable);
    assert_eq!(v.counts.get("G2-item"), Some(&1));
}
