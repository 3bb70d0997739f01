//! Session guarantees, each violated by a hand-written history (and a history keeping
//! all four passes).

mod common;

use assay_check::{check_history, ConsistencyVerdict, Model};
use common::*;

fn session(h: &History) -> ConsistencyVerdict {
    check_history(&h.events, Model::Session)
}

fn assert_flags(v: &ConsistencyVerdict, names: &[&str]) {
    assert!(!v.valid, "{v}");
    let mut want = names.to_vec();
    want.sort();
    assert_eq!(v.forbidden_names(), want, "{v}");
}

#[test]
fn read_your_writes_on_a_register() {
    let mut h = History::new();
    h.ok(0, write("x", "a"), none())
        .ok(1, read("x"), reg("x", "a", 1))
        .ok(0, read("x"), absent())
        .ok(2, read("x"), reg("x", "a", 1));
    let v = session(&h);
    assert_flags(&v, &["read-your-writes"]);
    assert!(
        v.anomalies[0]
            .explanation
            .contains("client 0 wrote key \"x\" (ver 1)"),
        "{v}"
    );
}

#[test]
fn monotonic_reads_on_a_register() {
    let mut h = History::new();
    h.ok(0, write("x", "a"), none())
        .ok(1, read("x"), reg("x", "a", 1))
        .ok(0, write("x", "b"), none())
        .ok(1, read("x"), reg("x", "b", 2))
        .ok(1, read("x"), reg("x", "a", 1))
        .ok(2, read("x"), reg("x", "b", 2));
    assert_flags(&session(&h), &["monotonic-reads"]);
}

#[test]
fn monotonic_writes_on_a_register() {
    let mut h = History::new();
    h.ok(0, write("x", "a"), none())
        .ok(0, write("x", "b"), none())
        .ok(1, read("x"), reg("x", "b", 1))
        .ok(1, read("x"), reg("x", "a", 2))
        .ok(2, write("x", "d"), none())
        .ok(2, read("x"), reg("x", "d", 3));
    assert_flags(&session(&h), &["monotonic-writes"]);
}

#[test]
fn writes_follow_reads_on_a_register() {
    let mut h = History::new();
    h.ok(0, write("x", "a"), none())
        .ok(0, write("x", "b"), none())
        .ok(1, read("x"), reg("x", "b", 2))
        .ok(1, write("x", "c"), none())
        .ok(2, read("x"), reg("x", "c", 1));
    assert_flags(&session(&h), &["writes-follow-reads"]);
}

#[test]
fn list_sessions() {
    let mut h = History::new();
    h.ok(0, append("x", 1), none())
        .ok(0, read("x"), list("x", &[]))
        .ok(1, read("x"), list("x", &[1]));
    assert_flags(&session(&h), &["read-your-writes"]);

    let mut h = History::new();
    h.ok(0, append("x", 1), none())
        .ok(1, read("x"), list("x", &[1]))
        .ok(1, read("x"), list("x", &[]))
        .ok(2, read("x"), list("x", &[1]));
    assert_flags(&session(&h), &["monotonic-reads"]);

    let mut h = History::new();
    h.ok(0, append("x", 1), none())
        .ok(0, append("x", 2), none())
        .ok(1, read("x"), list("x", &[2, 1]));
    assert_flags(&session(&h), &["monotonic-writes"]);
}

#[test]
fn a_history_keeping_every_guarantee_passes_even_when_stale_for_others() {
    // Client 1 lags behind client 0's writes (allowed), but never goes backwards.
    let mut h = History::new();
    h.ok(0, write("x", "a"), none())
        .ok(0, read("x"), reg("x", "a", 1))
        .ok(1, read("x"), absent())
        .ok(0, write("x", "b"), none())
        .ok(1, read("x"), reg("x", "a", 1))
        .ok(1, write("y", "c"), none())
        .ok(
            0,
            txn(vec![append("l", 1), read("l")]),
            results(vec![none(), list("l", &[1])]),
        )
        .ok(1, read("l"), list("l", &[]))
        .ok(2, read("x"), reg("x", "b", 2))
        .ok(2, read("y"), reg("y", "c", 1))
        .ok(2, read("l"), list("l", &[1]));
    let v = session(&h);
    assert!(v.valid, "{v}");
    assert!(v.staleness.stale_reads >= 2, "client 1's reads lag: {v}");
    // The same history is not linearizable: client 1 read stale data.
    let lin = check_history(&h.events, Model::Linearizable);
    assert!(!lin.valid, "{lin}");
}
