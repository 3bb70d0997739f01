//! Hand-written histories, one per anomaly (tests/fixtures/*.edn, and g2.jsonl in
//! Assay's own format): each must be flagged under the right name by the models that
//! forbid it, and pass (or show the anomaly as allowed) under the models that do not.

use assay_check::{check_history, parse_history_text, ConsistencyVerdict, Model};
use std::path::Path;

fn verdict(file: &str, model: Model) -> ConsistencyVerdict {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let sections = parse_history_text(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(sections.len(), 1, "{file}");
    check_history(&sections[0].events, model)
}

/// `file` under `model` is invalid and names exactly `expected` among forbidden anomalies.
fn flagged(file: &str, model: Model, expected: &[&str]) -> ConsistencyVerdict {
    let v = verdict(file, model);
    assert!(!v.valid, "{file} under {model} must be invalid:\n{v}");
    let mut want: Vec<&str> = expected.to_vec();
    want.sort();
    assert_eq!(v.forbidden_names(), want, "{file} under {model}:\n{v}");
    for a in &v.anomalies {
        assert!(
            !a.evidence.ops.is_empty(),
            "{file}: {} has no evidence",
            a.name
        );
    }
    v
}

fn passes(file: &str, model: Model) -> ConsistencyVerdict {
    let v = verdict(file, model);
    assert!(v.valid, "{file} under {model} must be valid:\n{v}");
    v
}

#[test]
fn g0_is_a_ww_cycle_forbidden_everywhere_but_session() {
    let v = flagged("g0.edn", Model::ReadCommitted, &["G0"]);
    let g0 = &v.anomalies[0];
    assert_eq!(g0.evidence.cycle.len(), 2);
    assert!(
        g0.evidence
            .cycle
            .iter()
            .all(|e| e.kind == assay_check::EdgeKind::Ww),
        "{v}"
    );
    let text = v.to_string();
    assert!(text.contains("T1 < ww < T2 < ww < T1"), "{text}");
    assert!(text.contains("appended 2 right after"), "{text}");
    flagged("g0.edn", Model::Serializable, &["G0"]);
    let s = passes("g0.edn", Model::Session);
    assert_eq!(s.allowed, vec!["G0"]);
}

#[test]
fn g1a_g1b_g1c() {
    let v = flagged("g1a.edn", Model::ReadCommitted, &["G1a"]);
    assert_eq!(
        v.anomalies[0].evidence.ops[0].outcome,
        assay_core::Outcome::Fail
    );
    flagged("g1a.edn", Model::Session, &["G1a"]);
    flagged("g1b.edn", Model::ReadCommitted, &["G1b"]);
    let v = flagged("g1c.edn", Model::ReadCommitted, &["G1c"]);
    assert!(v.to_string().contains("T1 < wr < T2 < wr < T1"), "{v}");
    flagged("rw-register-g1c.edn", Model::Serializable, &["G1c"]);
}

#[test]
fn g_single_is_forbidden_by_snapshot_isolation_but_not_read_committed() {
    let v = flagged("g-single.edn", Model::SnapshotIsolation, &["G-single"]);
    let kinds: Vec<_> = v.anomalies[0]
        .evidence
        .cycle
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == assay_check::EdgeKind::Rw)
            .count(),
        1,
        "{v}"
    );
    let rc = passes("g-single.edn", Model::ReadCommitted);
    assert_eq!(rc.allowed, vec!["G-single"]);
}

#[test]
fn g2_is_allowed_by_snapshot_isolation_and_forbidden_by_serializability() {
    let v = flagged("g2.edn", Model::Serializable, &["G2-item"]);
    let text = v.to_string();
    assert!(text.contains("T1 < rw < T2 < rw < T1"), "{text}");
    assert!(text.contains("the next element"), "{text}");
    let si = passes("g2.edn", Model::SnapshotIsolation);
    assert_eq!(si.allowed, vec!["G2-item"]);
    // The same history in Assay's JSONL, as `assay run` writes it.
    let v = flagged("g2.jsonl", Model::Serializable, &["G2-item"]);
    assert_eq!(v.anomalies[0].evidence.ops.len(), 2);
    assert!(
        v.anomalies[0]
            .evidence
            .ops
            .iter()
            .all(|o| o.ops.contains("[r x nil]")),
        "{v}"
    );
    flagged("g2.jsonl", Model::Linearizable, &["G2-item"]);
}

#[test]
fn a_stale_read_is_serializable_but_not_strict_serializable() {
    passes("g-single-realtime.edn", Model::Serializable);
    let v = flagged(
        "g-single-realtime.edn",
        Model::Linearizable,
        &["G-single-realtime"],
    );
    assert!(v.to_string().contains(" < rt < "), "{v}");
}

#[test]
fn integrity_anomalies() {
    // READ COMMITTED takes a fresh snapshot per statement, so a transaction may see other
    // commits between its own reads; snapshot isolation and stronger forbid that.
    flagged("internal.edn", Model::SnapshotIsolation, &["internal"]);
    let v = verdict("internal.edn", Model::ReadCommitted);
    assert!(v.valid, "read-committed allows internal:\n{v}");
    assert_eq!(v.allowed, vec!["internal"], "{v}");
    flagged(
        "duplicate-elements.edn",
        Model::Session,
        &["duplicate-elements"],
    );
    let v = flagged(
        "incompatible-order.edn",
        Model::ReadCommitted,
        &["incompatible-order"],
    );
    assert!(
        v.to_string().contains("[1 2]") && v.to_string().contains("[2 1]"),
        "{v}"
    );
    let v = flagged("lost-append.edn", Model::Serializable, &["lost-append"]);
    assert!(v.anomalies[0].explanation.contains("appended 2"), "{v}");
    flagged(
        "phantom-append.edn",
        Model::Serializable,
        &["phantom-append"],
    );
}

#[test]
fn registers_linearizability_with_indeterminate_and_failed_ops() {
    // The failed cas is dropped: 6 of the 7 ops are searched.
    let v = passes("register-valid.edn", Model::Linearizable);
    assert!(
        v.checked
            .iter()
            .any(|c| c.contains("linearizability: 6 register ops on 1 key")),
        "{v}"
    );
    passes("register-valid.edn", Model::Serializable);
    let v = flagged(
        "nonlinearizable.edn",
        Model::Linearizable,
        &["nonlinearizable"],
    );
    assert_eq!(
        v.counts["nonlinearizable"], 1,
        "key 6 is linearizable:\n{v}"
    );
    let a = &v.anomalies[0];
    assert!(a.explanation.contains("key \"5\""), "{v}");
    assert!(
        a.evidence.ops.iter().any(|o| o.ops == "[r 5 \"1\"]"),
        "the stale read is in the fragment:\n{v}"
    );
    assert!(a.evidence.ops.len() <= 4, "a minimal fragment:\n{v}");
    // Not a lost write: the last read sees the last write.
    passes("nonlinearizable.edn", Model::Serializable);
}

#[test]
fn lost_and_phantom_register_writes() {
    flagged("lost-write.edn", Model::Serializable, &["lost-write"]);
    flagged(
        "lost-write.edn",
        Model::Linearizable,
        &["lost-write", "nonlinearizable"],
    );
    flagged(
        "phantom-write.edn",
        Model::Serializable,
        &["nonserializable", "phantom-write"],
    );
    flagged(
        "phantom-write.edn",
        Model::ReadCommitted,
        &["phantom-write"],
    );
    flagged("register-g1a.edn", Model::Session, &["G1a"]);
}

#[test]
fn verdicts_serialise_for_the_report() {
    let v = verdict("g2.edn", Model::Serializable);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["model"], "serializable");
    assert_eq!(json["valid"], false);
    assert_eq!(json["counts"]["G2-item"], 1);
    assert_eq!(json["anomalies"][0]["evidence"]["cycle"][0]["kind"], "rw");
}

#[test]
fn elle_readme_history_is_g1c() {
    let v = flagged("elle-readme-g1c.edn", Model::Serializable, &["G1c"]);
    assert!(!v.anomalies[0].evidence.cycle.is_empty(), "{v}");
    flagged("elle-readme-g1c.edn", Model::ReadCommitted, &["G1c"]);
    passes("elle-readme-g1c.edn", Model::ReadUncommitted);
}
