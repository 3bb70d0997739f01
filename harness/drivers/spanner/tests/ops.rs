//! Every portable op against the Cloud Spanner emulator: success and failure paths.

mod common;

use assay_core::{Consistency, Driver, ErrorClass, Op, OpValue, Outcome, Record};
use common::*;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_ops_follow_the_portable_semantics() {
    let Some(emu) = emulator().await else { return };
    let started = Instant::now();
    let d = driver(&emu, "pt").await;
    eprintln!(
        "connect (first requests after emulator start): {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    d.setup(&[table("kv")]).await.expect("setup");
    eprintln!("setup of one table: {:?}", started.elapsed());

    // Absent key.
    assert_eq!(record(d.execute(&read("kv", "k1")).await), None);

    // Write creates with ver 1, the next bumps it; n and l stay absent.
    let started = Instant::now();
    let w = d.execute(&write("kv", "k1", "a")).await;
    eprintln!("first write: {:?}", started.elapsed());
    assert_ok(&w);
    assert!(
        w.meta
            .commit_ts_us
            .is_some_and(|ts| ts > 1_600_000_000_000_000),
        "{w:?}"
    );
    let w2 = d.execute(&write("kv", "k1", "b")).await;
    assert_ok(&w2);
    assert!(
        w2.meta.commit_ts_us > w.meta.commit_ts_us,
        "{w:?} then {w2:?}"
    );
    assert_eq!(
        record(d.execute(&read("kv", "k1")).await),
        Some(Record {
            key: "k1".into(),
            value: Some("b".into()),
            version: Some(2),
            counter: None,
            list: None,
        })
    );

    // Insert-if-absent: the first creates with ver 1, the second is a failed condition.
    assert_ok(&d.execute(&insert("kv", "k2", "x")).await);
    let again = d.execute(&insert("kv", "k2", "y")).await;
    assert_eq!(again.outcome, Outcome::Fail, "{again:?}");
    assert_eq!(
        again.error_class(),
        Some(ErrorClass::ConditionFailed),
        "{again:?}"
    );
    let k2 = record(d.execute(&read("kv", "k2")).await).expect("k2 exists");
    assert_eq!((k2.value.as_deref(), k2.version), (Some("x"), Some(1)));

    // Delete, and deleting an absent key is ok.
    assert_ok(&d.execute(&delete("kv", "k2")).await);
    assert_eq!(record(d.execute(&read("kv", "k2")).await), None);
    assert_ok(&d.execute(&delete("kv", "never-there")).await);

    // Weak reads are stale single-use reads; a key written long enough ago, or the
    // freshest data the emulator has, is what they see.
    for consistency in [
        Consistency::Session,
        Consistency::BoundedStaleness,
        Consistency::ConsistentPrefix,
        Consistency::Eventual,
    ] {
        let r = d
            .execute(&Op::Read {
                table: "kv".into(),
                key: "k1".into(),
                consistency,
            })
            .await;
        assert_ok(&r);
        if consistency == Consistency::Session {
            // Read-your-writes: served strong.
            assert_eq!(record(r).and_then(|r| r.version), Some(2));
        }
    }

    // Ops on a table setup did not create fail as invalid requests, without a hang.
    let missing = d.execute(&read("nope", "k")).await;
    assert_eq!(missing.outcome, Outcome::Fail, "{missing:?}");
    assert_eq!(
        missing.error_class(),
        Some(ErrorClass::InvalidRequest),
        "{missing:?}"
    );
    let bad_name = d.execute(&write("no-dashes", "k", "v")).await;
    assert_eq!(
        bad_name.error_class(),
        Some(ErrorClass::InvalidRequest),
        "{bad_name:?}"
    );

    d.teardown().await.expect("teardown");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_counter_and_list_ops() {
    let Some(emu) = emulator().await else { return };
    let d = driver(&emu, "cond").await;
    d.setup(&[table("kv")]).await.expect("setup");

    // CAS: `None` means absent; then the stored version must match.
    assert_ok(&d.execute(&cas("kv", "c", None, "v1")).await);
    let wrong = d.execute(&cas("kv", "c", None, "v1-again")).await;
    assert_eq!(
        wrong.error_class(),
        Some(ErrorClass::ConditionFailed),
        "{wrong:?}"
    );
    assert_eq!(wrong.outcome, Outcome::Fail);
    let stale = d.execute(&cas("kv", "c", Some(7), "v2")).await;
    assert_eq!(
        stale.error_class(),
        Some(ErrorClass::ConditionFailed),
        "{stale:?}"
    );
    assert!(stale
        .error
        .as_ref()
        .is_some_and(|e| e.message.contains("stored version is 1")));
    assert_ok(&d.execute(&cas("kv", "c", Some(1), "v2")).await);
    let missing = d.execute(&cas("kv", "absent", Some(1), "v")).await;
    assert_eq!(
        missing.error_class(),
        Some(ErrorClass::ConditionFailed),
        "{missing:?}"
    );
    let c = record(d.execute(&read("kv", "c")).await).expect("c exists");
    assert_eq!((c.value.as_deref(), c.version), (Some("v2"), Some(2)));

    // Increment creates the row, returns the new counter and leaves v/ver alone.
    let inc = d.execute(&increment("kv", "n", 5)).await;
    assert_ok(&inc);
    assert_eq!(inc.value, OpValue::Counter(5));
    let inc = d.execute(&increment("kv", "n", -7)).await;
    assert_eq!(inc.value, OpValue::Counter(-2));
    let n = record(d.execute(&read("kv", "n")).await).expect("n exists");
    assert_eq!((n.counter, n.version, n.value), (Some(-2), None, None));
    // Incrementing a written row keeps its value and version.
    assert_ok(&d.execute(&increment("kv", "c", 1)).await);
    let c = record(d.execute(&read("kv", "c")).await).expect("c exists");
    assert_eq!(
        (c.value.as_deref(), c.version, c.counter),
        (Some("v2"), Some(2), Some(1))
    );
    let overflow = d.execute(&increment("kv", "c", i64::MAX)).await;
    assert_eq!(
        overflow.error_class(),
        Some(ErrorClass::InvalidRequest),
        "{overflow:?}"
    );

    // Append keeps order and creates the list.
    for e in [3, 1, 2] {
        assert_ok(&d.execute(&append("kv", "l", e)).await);
    }
    let l = record(d.execute(&read("kv", "l")).await).expect("l exists");
    assert_eq!(l.list, Some(vec![3, 1, 2]));

    // A write after increment/append bumps from absent-as-0 and keeps n and l.
    assert_ok(&d.execute(&write("kv", "l", "now-with-value")).await);
    let l = record(d.execute(&read("kv", "l")).await).expect("l exists");
    assert_eq!((l.version, l.list), (Some(1), Some(vec![3, 1, 2])));

    d.teardown().await.expect("teardown");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_batch_and_txn() {
    let Some(emu) = emulator().await else { return };
    let d = driver(&emu, "multi").await;
    d.setup(&[table("kv"), table("other")])
        .await
        .expect("setup");

    for k in ["p3", "p1", "q1", "p2", "p10"] {
        assert_ok(&d.execute(&write("kv", k, k)).await);
    }
    assert_ok(&d.execute(&write("other", "p0", "elsewhere")).await);
    let keys = |recs: Vec<Record>| recs.into_iter().map(|r| r.key).collect::<Vec<_>>();
    assert_eq!(
        keys(records(d.execute(&query("kv", "p", None)).await)),
        vec!["p1", "p10", "p2", "p3"]
    );
    assert_eq!(
        keys(records(d.execute(&query("kv", "p", Some(2))).await)),
        vec!["p1", "p10"]
    );
    assert!(records(d.execute(&query("kv", "zz", None)).await).is_empty());
    let full = records(d.execute(&query("kv", "q", Some(10))).await);
    assert_eq!(full[0].version, Some(1));
    assert_eq!(full[0].value.as_deref(), Some("q1"));

    // Batch: not atomic, every op gets its own result; a failed condition fails only
    // its op.
    let batch = d
        .execute(&Op::Batch {
            ops: vec![
                write("kv", "b1", "x"),
                insert("kv", "p1", "exists already"),
                increment("kv", "b2", 2),
                read("kv", "b1"),
            ],
        })
        .await;
    assert!(batch.meta.commit_ts_us.is_some(), "{batch:?}");
    let rs = results(batch);
    assert_eq!(rs.len(), 4);
    assert_ok(&rs[0]);
    assert_eq!(
        rs[1].error_class(),
        Some(ErrorClass::ConditionFailed),
        "{:?}",
        rs[1]
    );
    assert_eq!(rs[2].value, OpValue::Counter(2));
    assert_eq!(
        record(rs[3].clone()).and_then(|r| r.value),
        Some("x".into())
    );
    assert_eq!(
        record(d.execute(&read("kv", "b1")).await).and_then(|r| r.version),
        Some(1)
    );

    // Txn: ops see the writes of earlier ops, reads come back in op order.
    let txn = d
        .execute(&Op::Txn {
            ops: vec![
                insert("kv", "t1", "one"),
                cas("kv", "t1", Some(1), "two"),
                read("kv", "t1"),
                delete("kv", "p2"),
                append("kv", "t1", 9),
                query("kv", "p", Some(3)),
                query("kv", "t", None),
            ],
        })
        .await;
    let rs = results(txn);
    let t1 = record(rs[2].clone()).expect("t1 visible inside the txn");
    assert_eq!((t1.value.as_deref(), t1.version), (Some("two"), Some(2)));
    assert_eq!(keys(records(rs[5].clone())), vec!["p1", "p10", "p3"]);
    let t_rows = records(rs[6].clone());
    assert_eq!(t_rows.len(), 1);
    assert_eq!(t_rows[0].list, Some(vec![9]));
    assert_eq!(record(d.execute(&read("kv", "p2")).await), None);

    // A failed condition fails the whole txn and applies nothing.
    let failed = d
        .execute(&Op::Txn {
            ops: vec![
                write("kv", "t2", "must not appear"),
                delete("kv", "p1"),
                cas("kv", "t1", Some(1), "stale"),
            ],
        })
        .await;
    assert_eq!(failed.outcome, Outcome::Fail, "{failed:?}");
    assert_eq!(failed.error_class(), Some(ErrorClass::ConditionFailed));
    assert!(
        failed
            .error
            .as_ref()
            .is_some_and(|e| e.message.contains("txn op 2")),
        "{failed:?}"
    );
    assert_eq!(record(d.execute(&read("kv", "t2")).await), None);
    assert!(record(d.execute(&read("kv", "p1")).await).is_some());

    // Insert-if-absent of an existing key inside a txn fails it too (blind insert path).
    let dup = d
        .execute(&Op::Txn {
            ops: vec![write("kv", "t3", "no"), insert("kv", "p1", "dup")],
        })
        .await;
    assert_eq!(
        dup.error_class(),
        Some(ErrorClass::ConditionFailed),
        "{dup:?}"
    );
    assert_eq!(record(d.execute(&read("kv", "t3")).await), None);

    // Nesting is rejected before anything is sent.
    let nested = d
        .execute(&Op::Txn {
            ops: vec![Op::Batch { ops: vec![] }],
        })
        .await;
    assert_eq!(
        nested.error_class(),
        Some(ErrorClass::Unsupported),
        "{nested:?}"
    );

    d.teardown().await.expect("teardown");
    emu.stop().await;
}
