//! Each anomaly Elle names, shown by a small EDN history, under the models that forbid
//! it and those that allow it; plus the history shapes Jepsen and Elle write.

use assay_check::{check_history, edn, ConsistencyVerdict, Model};

fn check(text: &str, model: Model) -> ConsistencyVerdict {
    let events = edn::parse_history(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    check_history(&events, model)
}

/// Invalid under `model`, with `name` among the forbidden anomalies found.
fn shows(text: &str, model: Model, name: &str) {
    let v = check(text, model);
    assert!(!v.valid, "must be invalid under {model}:\n{v}");
    assert!(
        v.forbidden_names().contains(&name),
        "{name} expected under {model}:\n{v}"
    );
}

fn valid(text: &str, model: Model) {
    let v = check(text, model);
    assert!(v.valid, "must be valid under {model}:\n{v}");
}

const STALE: &str = include_str!("fixtures/stale-read.edn");

#[test]
fn a_stale_read_is_legal_unless_the_model_is_realtime() {
    for m in [
        Model::ReadCommitted,
        Model::SnapshotIsolation,
        Model::RepeatableRead,
        Model::Serializable,
    ] {
        valid(STALE, m);
    }
    shows(STALE, Model::StrictSerializable, "G-single-realtime");
    let v = check(STALE, Model::StrictSerializable);
    assert!(
        v.to_string().starts_with("strict-serializable: INVALID"),
        "{v}"
    );
}

#[test]
fn elle_readme_form_without_process_or_f() {
    // Elle's README: T1 appends to x and reads y; T2 appends to y and reads x; each
    // misses the other's append: G2-item (write skew), fine under snapshot isolation.
    let h = "[{:type :ok, :value [[:append :x 1] [:r :y []]]}\n {:type :ok, :value [[:append :y 1] [:r :x []]]}]";
    shows(h, Model::Serializable, "G2-item");
    shows(h, Model::RepeatableRead, "G2-item");
    valid(h, Model::SnapshotIsolation);
    valid(h, Model::ReadCommitted);
    // Completed-only: no real-time order, so strict serializability finds no more.
    let v = check(h, Model::StrictSerializable);
    assert_eq!(v.forbidden_names(), vec!["G2-item"], "{v}");
}

#[test]
fn unobserved_appends_give_anti_dependencies_from_empty_reads() {
    // T1 reads x empty and appends y; T2 reads y empty and appends x; no read ever
    // observes either append: each read anti-depends on the other's append.
    let h = "{:type :ok, :value [[:r :x []] [:append :y 1]]}\n{:type :ok, :value [[:r :y []] [:append :x 2]]}";
    shows(h, Model::Serializable, "G2-item");
    // Read skew through an unobserved append: T2 sees T1's y but not its x, x unread.
    let h = "{:type :ok, :value [[:append :x 1] [:append :y 1]]}\n{:type :ok, :value [[:r :x []] [:r :y [1]]]}";
    shows(h, Model::SnapshotIsolation, "G-single");
    valid(h, Model::ReadCommitted);
}

#[test]
fn lost_update_future_read_and_dirty_update() {
    let h = "{:type :ok, :value [[:r :x []] [:append :x 1]]}\n{:type :ok, :value [[:r :x []] [:append :x 2]]}";
    shows(h, Model::CursorStability, "lost-update");
    shows(h, Model::SnapshotIsolation, "lost-update");
    valid(h, Model::ReadCommitted);
    let h = "{:type :ok, :value [[:r :x [1]] [:append :x 1]]}";
    shows(h, Model::Serializable, "future-read");
    valid(h, Model::ReadUncommitted);
    let h = "{:type :invoke, :process 0, :f :txn, :value [[:append :x 1]]}\n{:type :fail, :process 0, :f :txn, :value [[:append :x 1]]}\n{:type :ok, :process 1, :f :txn, :value [[:append :x 2]]}\n{:type :ok, :process 2, :f :txn, :value [[:r :x [1 2]]]}";
    shows(h, Model::ReadCommitted, "dirty-update");
    shows(h, Model::ReadCommitted, "G1a");
    // Read uncommitted allows reading an aborted write (Elle's PL-1: G0 only).
    valid(h, Model::ReadUncommitted);
}

#[test]
fn g_nonadjacent_is_forbidden_by_snapshot_isolation() {
    // T1 -rw-> T2 -wr-> T3 -rw-> T4 -wr-> T1: two rw edges, never adjacent.
    let h = "{:type :ok, :value [[:r :a []] [:r :d [1]]]}\n{:type :ok, :value [[:append :a 1] [:append :b 1]]}\n{:type :ok, :value [[:r :b [1]] [:r :c []]]}\n{:type :ok, :value [[:append :c 1] [:append :d 1]]}";
    shows(h, Model::SnapshotIsolation, "G-nonadjacent");
    shows(h, Model::Serializable, "G-nonadjacent");
    valid(h, Model::ReadCommitted);
}

#[test]
fn process_order_variants() {
    // One client appends 1 then reads x empty: fine serially (read first), not in its
    // own order.
    let h = "{:type :invoke, :process 0, :f :txn, :value [[:append :x 1]]}\n{:type :ok, :process 0, :f :txn, :value [[:append :x 1]]}\n{:type :invoke, :process 0, :f :txn, :value [[:r :x nil]]}\n{:type :ok, :process 0, :f :txn, :value [[:r :x []]]}";
    valid(h, Model::Serializable);
    shows(h, Model::StrongSessionSerializable, "G-single-process");
    shows(h, Model::StrongSessionSnapshotIsolation, "G-single-process");
    shows(h, Model::StrictSerializable, "G-single-process");
}

#[test]
fn keyword_and_string_elements_and_index_order() {
    let h = "{:index 1, :type :ok, :value [[:r :x [:a \"b\"]]]}\n{:index 0, :type :ok, :value [[:append :x :a] [:append :x \"b\"]]}";
    valid(h, Model::Serializable);
    let h =
        "{:type :ok, :value [[:r :x [:a]]]}\n{:type :ok, :value [[:append :x :a] [:append :x :b]]}";
    shows(h, Model::ReadCommitted, "G1b");
}

#[test]
fn nemesis_ops_are_skipped() {
    let h = "{:type :info, :process :nemesis, :f :start, :value nil}\n{:type :invoke, :process 0, :f :txn, :value [[:append :x 1]]}\n{:type :ok, :process 0, :f :txn, :value [[:append :x 1]]}\n{:type :info, :process :nemesis, :f :stop, :value nil}";
    valid(h, Model::Serializable);
}

#[test]
fn the_model_table_lists_every_model() {
    let t = assay_check::model_table();
    for m in Model::ALL {
        assert!(t.contains(m.as_str()), "{m}\n{t}");
    }
    assert!(t.contains("repeatable-read (PL-2.99, rr)"), "{t}");
}
