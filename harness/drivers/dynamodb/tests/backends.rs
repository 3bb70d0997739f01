//! The DynamoDB driver against its real local stand-ins, moto and dynalite, started through
//! the emulators crate. Every test body runs on both; where the two differ from each other
//! the body says which backend does what.

use assay_core::scenario::TableSpec;
use assay_core::{
    Capability, Consistency, Driver, DriverConfig, DriverErrorKind, ErrorClass, LoadRow,
    LocalBackend, Op, OpResult, OpValue, Outcome, Record,
};
use assay_driver_dynamodb::DynamodbDriver;
use assay_emulators::{Emulator, StartOptions};
use std::time::{Duration, Instant};

const OP_TIMEOUT: Duration = Duration::from_secs(5);
const TABLE: &str = "kv";

/// Runs `body` on moto and on dynalite, each in its own test.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                super::$name(assay_core::LocalBackend::DynamodbMoto).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dynalite() {
                super::$name(assay_core::LocalBackend::DynamodbDynalite).await;
            }
        }
    )*};
}

on_both_backends!(
    point_ops,
    conditional_ops,
    counters_and_lists,
    prefix_query,
    batches,
    transactions,
    setup_and_teardown,
    stopped_backend,
    bulk_load,
);

/// Starts the backend, or `None` (with the reason printed) when its binaries are absent.
async fn start(backend: LocalBackend) -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(backend, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("{backend} did not start: {e}"),
    }
}

async fn connect(emu: &Emulator, namespace: &str) -> DynamodbDriver {
    DynamodbDriver::connect(
        emu.endpoint(),
        DriverConfig {
            namespace: namespace.into(),
            op_timeout: OP_TIMEOUT,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {}: {e}", emu.backend()))
}

/// A connected driver with the `kv` table set up.
async fn ready(backend: LocalBackend, namespace: &str) -> Option<(Emulator, DynamodbDriver)> {
    let emu = start(backend).await?;
    let driver = connect(&emu, namespace).await;
    driver
        .setup(&[TableSpec { name: TABLE.into() }])
        .await
        .unwrap_or_else(|e| panic!("setup on {backend}: {e}"));
    Some((emu, driver))
}

/// Tears down, checks no table of the namespace is left, stops the backend.
async fn finish(emu: Emulator, driver: DynamodbDriver, namespace: &str) {
    driver.teardown().await.expect("teardown");
    let left: Vec<String> = driver
        .table_names()
        .await
        .expect("list tables")
        .into_iter()
        .filter(|t| t.starts_with(&format!("{namespace}_")))
        .collect();
    assert!(left.is_empty(), "teardown left {left:?}");
    emu.stop().await;
}

fn write(key: &str, value: &str) -> Op {
    Op::Write {
        table: TABLE.into(),
        key: key.into(),
        value: value.into(),
    }
}

fn insert(key: &str, value: &str) -> Op {
    Op::InsertIfAbsent {
        table: TABLE.into(),
        key: key.into(),
        value: value.into(),
    }
}

fn cas(key: &str, expected: Option<u64>, value: &str) -> Op {
    Op::CompareAndSet {
        table: TABLE.into(),
        key: key.into(),
        expected_version: expected,
        value: value.into(),
    }
}

fn read(key: &str) -> Op {
    Op::Read {
        table: TABLE.into(),
        key: key.into(),
        consistency: Consistency::Strong,
    }
}

fn delete(key: &str) -> Op {
    Op::Delete {
        table: TABLE.into(),
        key: key.into(),
    }
}

fn increment(key: &str, by: i64) -> Op {
    Op::Increment {
        table: TABLE.into(),
        key: key.into(),
        by,
    }
}

fn append(key: &str, element: i64) -> Op {
    Op::Append {
        table: TABLE.into(),
        key: key.into(),
        element,
    }
}

async fn ok(driver: &DynamodbDriver, op: Op) -> OpResult {
    let result = driver.execute(&op).await;
    assert_eq!(result.outcome, Outcome::Ok, "{op:?} -> {result:?}");
    result
}

async fn fails_with(driver: &DynamodbDriver, op: Op, class: ErrorClass) -> OpResult {
    let result = driver.execute(&op).await;
    assert_eq!(result.outcome, Outcome::Fail, "{op:?} -> {result:?}");
    assert_eq!(result.error_class(), Some(class), "{op:?} -> {result:?}");
    result
}

async fn record(driver: &DynamodbDriver, key: &str) -> Option<Record> {
    match ok(driver, read(key)).await.value {
        OpValue::Record(r) => r,
        other => panic!("a read returns a record, got {other:?}"),
    }
}

fn results(result: &OpResult) -> &[OpResult] {
    match &result.value {
        OpValue::Results(r) => r,
        other => panic!("expected per-op results, got {other:?}"),
    }
}

async fn point_ops(backend: LocalBackend) {
    let ns = "point";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    let version = driver.backend_version().await.unwrap();
    eprintln!("{backend}: backend_version = {version}");
    assert!(version.starts_with("DynamoDB API 2012-08-10"), "{version}");
    let caps = driver.capabilities();
    for cap in [
        Capability::Read,
        Capability::WeakReads,
        Capability::Write,
        Capability::InsertIfAbsent,
        Capability::Delete,
        Capability::CompareAndSet,
        Capability::Increment,
        Capability::Append,
        Capability::Query,
        Capability::Batch,
    ] {
        assert!(caps.supports(cap), "{cap} on {backend}");
    }

    assert_eq!(record(&driver, "a").await, None);
    let written = ok(&driver, write("a", "1")).await;
    ok(&driver, write("a", "2")).await;
    assert_eq!(
        record(&driver, "a").await,
        Some(Record {
            key: "a".into(),
            value: Some("2".into()),
            version: Some(2),
            counter: None,
            list: None,
        })
    );
    // Both stand-ins answer eventually consistent reads from the same single copy.
    let eventual = ok(
        &driver,
        Op::Read {
            table: TABLE.into(),
            key: "a".into(),
            consistency: Consistency::Eventual,
        },
    )
    .await;
    assert!(
        matches!(&eventual.value, OpValue::Record(Some(r)) if r.value.as_deref() == Some("2")),
        "{eventual:?}"
    );

    ok(&driver, insert("b", "first")).await;
    let again = fails_with(&driver, insert("b", "second"), ErrorClass::ConditionFailed).await;
    assert!(
        again
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("ConditionalCheckFailed"),
        "{again:?}"
    );
    let b = record(&driver, "b").await.unwrap();
    assert_eq!((b.value.as_deref(), b.version), (Some("first"), Some(1)));

    ok(&driver, delete("a")).await;
    assert_eq!(record(&driver, "a").await, None);
    // Deleting an absent key is ok.
    ok(&driver, delete("a")).await;

    // A table that was never set up is a definite, invalid request.
    fails_with(
        &driver,
        Op::Read {
            table: "missing".into(),
            key: "a".into(),
            consistency: Consistency::Strong,
        },
        ErrorClass::InvalidRequest,
    )
    .await;

    // DynamoDB documents ConsumedCapacity for ReturnConsumedCapacity=TOTAL; dynalite
    // reports it, moto does for reads and writes too.
    let read_units = ok(&driver, read("b")).await.meta.request_units;
    eprintln!(
        "{backend}: write request units {:?}, read request units {read_units:?}",
        written.meta.request_units
    );
    assert!(
        written.meta.request_units.is_some_and(|u| u > 0.0),
        "{written:?}"
    );
    assert!(read_units.is_some_and(|u| u > 0.0));
    finish(emu, driver, ns).await;
}

async fn conditional_ops(backend: LocalBackend) {
    let ns = "cond";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    ok(&driver, cas("c", None, "one")).await;
    fails_with(
        &driver,
        cas("c", None, "again"),
        ErrorClass::ConditionFailed,
    )
    .await;
    ok(&driver, cas("c", Some(1), "two")).await;
    fails_with(
        &driver,
        cas("c", Some(1), "stale"),
        ErrorClass::ConditionFailed,
    )
    .await;
    let c = record(&driver, "c").await.unwrap();
    assert_eq!((c.value.as_deref(), c.version), (Some("two"), Some(2)));
    fails_with(
        &driver,
        cas("absent", Some(5), "x"),
        ErrorClass::ConditionFailed,
    )
    .await;
    assert_eq!(record(&driver, "absent").await, None);
    // A row made by increment has no version; it counts as 0.
    ok(&driver, increment("counted", 1)).await;
    ok(&driver, cas("counted", Some(0), "now")).await;
    let counted = record(&driver, "counted").await.unwrap();
    assert_eq!(
        (counted.value.as_deref(), counted.version, counted.counter),
        (Some("now"), Some(1), Some(1))
    );
    fails_with(
        &driver,
        cas("missing", Some(0), "x"),
        ErrorClass::ConditionFailed,
    )
    .await;
    finish(emu, driver, ns).await;
}

async fn counters_and_lists(backend: LocalBackend) {
    let ns = "counters";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    assert_eq!(
        ok(&driver, increment("n", 5)).await.value,
        OpValue::Counter(5)
    );
    assert_eq!(
        ok(&driver, increment("n", -2)).await.value,
        OpValue::Counter(3)
    );
    ok(&driver, append("n", 1)).await;
    ok(&driver, append("n", 2)).await;
    let n = record(&driver, "n").await.unwrap();
    assert_eq!(
        (n.counter, n.list.clone(), n.version),
        (Some(3), Some(vec![1, 2]), None)
    );
    // A write replaces the value only: counter and list stay.
    ok(&driver, write("n", "v")).await;
    let n = record(&driver, "n").await.unwrap();
    assert_eq!(
        (n.value.as_deref(), n.version, n.counter, n.list),
        (Some("v"), Some(1), Some(3), Some(vec![1, 2]))
    );
    finish(emu, driver, ns).await;
}

fn keys(result: &OpResult) -> Vec<String> {
    match &result.value {
        OpValue::Records(records) => records.iter().map(|r| r.key.clone()).collect(),
        other => panic!("a query returns records, got {other:?}"),
    }
}

async fn prefix_query(backend: LocalBackend) {
    let ns = "query";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    for key in ["p2", "p10", "q1", "p1", "pz"] {
        ok(&driver, write(key, key)).await;
    }
    let query = |prefix: &str, limit: Option<u32>| Op::Query {
        table: TABLE.into(),
        prefix: prefix.into(),
        limit,
    };
    assert_eq!(
        keys(&ok(&driver, query("p", None)).await),
        ["p1", "p10", "p2", "pz"]
    );
    assert_eq!(keys(&ok(&driver, query("p", Some(2))).await), ["p1", "p10"]);
    assert_eq!(
        keys(&ok(&driver, query("", None)).await),
        ["p1", "p10", "p2", "pz", "q1"]
    );
    assert!(keys(&ok(&driver, query("zz", None)).await).is_empty());
    let full = ok(&driver, query("p1", None)).await;
    match &full.value {
        OpValue::Records(r) => assert_eq!(r[0].value.as_deref(), Some("p1")),
        other => panic!("{other:?}"),
    }

    // More than one 1 MB scan page: 300 rows of 4 KB.
    let big = "x".repeat(4096);
    let writes: Vec<Op> = (0..300)
        .map(|i| write(&format!("big{i:03}"), &big))
        .collect();
    for chunk in writes.chunks(25) {
        let result = ok(
            &driver,
            Op::Batch {
                ops: chunk.to_vec(),
            },
        )
        .await;
        assert_eq!(results(&result).len(), chunk.len());
    }
    let started = Instant::now();
    let all_big = ok(&driver, query("big", None)).await;
    let found = keys(&all_big);
    assert_eq!(found.len(), 300, "pagination lost rows");
    assert_eq!(found.first().map(String::as_str), Some("big000"));
    assert_eq!(found.last().map(String::as_str), Some("big299"));
    eprintln!(
        "{backend}: 300-row scan took {:?}, {:?} request units",
        started.elapsed(),
        all_big.meta.request_units
    );
    finish(emu, driver, ns).await;
}

async fn batches(backend: LocalBackend) {
    let ns = "batch";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    assert_eq!(
        ok(&driver, Op::Batch { ops: vec![] }).await.value,
        OpValue::Results(vec![])
    );
    ok(&driver, write("x", "1")).await;
    ok(&driver, write("d", "doomed")).await;
    // Ops of one batch are unordered, so no op here reads a key another op writes.
    let mixed = driver
        .execute(&Op::Batch {
            ops: vec![
                read("x"),
                read("nothing"),
                read("x"),
                delete("d"),
                delete("never-existed"),
                insert("x", "clash"),
                increment("c", 2),
                Op::Read {
                    table: TABLE.into(),
                    key: "x".into(),
                    consistency: Consistency::Eventual,
                },
            ],
        })
        .await;
    // Not atomic: the batch went through, and one of its ops failed on its own.
    assert_eq!(mixed.outcome, Outcome::Ok, "{mixed:?}");
    let r = results(&mixed);
    assert_eq!(r.len(), 8);
    let x = |res: &OpResult| match &res.value {
        OpValue::Record(Some(rec)) => rec.value.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(x(&r[0]).as_deref(), Some("1"));
    assert_eq!(r[1].value, OpValue::Record(None));
    assert_eq!(x(&r[2]).as_deref(), Some("1"));
    assert_eq!(r[3].outcome, Outcome::Ok);
    assert_eq!(r[4].outcome, Outcome::Ok);
    assert_eq!(r[5].error_class(), Some(ErrorClass::ConditionFailed));
    assert_eq!(r[6].value, OpValue::Counter(2));
    assert_eq!(x(&r[7]).as_deref(), Some("1"));
    assert_eq!(record(&driver, "d").await, None);
    assert!(
        mixed.meta.request_units.is_some_and(|u| u > 0.0),
        "{mixed:?}"
    );

    // Beyond one request's limits: 120 reads (BatchGetItem takes 100 keys), 30 deletes
    // (BatchWriteItem takes 25).
    for i in 0..30 {
        ok(&driver, write(&format!("del{i}"), "v")).await;
    }
    let mut ops: Vec<Op> = (0..120).map(|i| read(&format!("del{}", i % 40))).collect();
    ops.extend((0..30).map(|i| delete(&format!("del{i}"))));
    let big = driver.execute(&Op::Batch { ops }).await;
    assert_eq!(big.outcome, Outcome::Ok, "{big:?}");
    assert_eq!(results(&big).len(), 150);
    assert_eq!(
        ok(
            &driver,
            Op::Query {
                table: TABLE.into(),
                prefix: "del".into(),
                limit: None
            }
        )
        .await
        .value,
        OpValue::Records(vec![])
    );
    // A nested batch is refused, for that op only.
    let nested = driver
        .execute(&Op::Batch {
            ops: vec![read("x"), Op::Batch { ops: vec![] }],
        })
        .await;
    assert_eq!(
        results(&nested)[1].error_class(),
        Some(ErrorClass::InvalidRequest)
    );
    assert_eq!(results(&nested)[0].outcome, Outcome::Ok);
    finish(emu, driver, ns).await;
}

async fn transactions(backend: LocalBackend) {
    let ns = "txn";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    let supported = driver.capabilities().supports(Capability::Txn);
    match backend {
        // dynalite implements no Transact* operation.
        LocalBackend::DynamodbDynalite => {
            assert!(!supported);
            let missing = driver
                .capabilities()
                .require(&[Capability::Txn])
                .unwrap_err();
            assert!(
                missing[0].1.contains("UnknownOperationException"),
                "{missing:?}"
            );
            fails_with(
                &driver,
                Op::Txn {
                    ops: vec![write("t1", "a")],
                },
                ErrorClass::Unsupported,
            )
            .await;
            finish(emu, driver, ns).await;
            return;
        }
        _ => assert!(supported, "{backend} implements transactions"),
    }

    let done = ok(
        &driver,
        Op::Txn {
            ops: vec![
                write("t1", "a"),
                insert("t2", "b"),
                increment("t3", 4),
                append("t5", 9),
            ],
        },
    )
    .await;
    assert_eq!(results(&done).len(), 4);
    assert_eq!(record(&driver, "t3").await.unwrap().counter, Some(4));
    assert_eq!(record(&driver, "t5").await.unwrap().list, Some(vec![9]));
    // AWS reports ConsumedCapacity for TransactWriteItems; moto 5.2 omits it, so the
    // request units are only printed here.
    eprintln!("{backend}: txn request units {:?}", done.meta.request_units);

    // DynamoDB refuses two operations on one item in a transaction.
    fails_with(
        &driver,
        Op::Txn {
            ops: vec![increment("t3", 1), append("t3", 1)],
        },
        ErrorClass::InvalidRequest,
    )
    .await;

    // One failed condition cancels the whole transaction: t4 is not written.
    let cancelled = fails_with(
        &driver,
        Op::Txn {
            ops: vec![write("t4", "never"), cas("t1", Some(99), "x")],
        },
        ErrorClass::ConditionFailed,
    )
    .await;
    let message = &cancelled.error.as_ref().unwrap().message;
    assert!(message.contains("#1 ConditionalCheckFailed"), "{message}");
    assert_eq!(record(&driver, "t4").await, None);
    assert_eq!(record(&driver, "t1").await.unwrap().version, Some(1));

    let reads = ok(
        &driver,
        Op::Txn {
            ops: vec![read("t2"), read("none")],
        },
    )
    .await;
    let r = results(&reads);
    assert!(
        matches!(&r[0].value, OpValue::Record(Some(rec)) if rec.value.as_deref() == Some("b")),
        "{reads:?}"
    );
    assert_eq!(r[1].value, OpValue::Record(None));

    fails_with(
        &driver,
        Op::Txn {
            ops: vec![read("t1"), write("t1", "z")],
        },
        ErrorClass::Unsupported,
    )
    .await;
    assert_eq!(
        ok(&driver, Op::Txn { ops: vec![] }).await.value,
        OpValue::Results(vec![])
    );
    finish(emu, driver, ns).await;
}

async fn setup_and_teardown(backend: LocalBackend) {
    let ns = "lifecycle";
    let Some(emu) = start(backend).await else {
        return;
    };
    let driver = connect(&emu, ns).await;
    let tables = [
        TableSpec { name: "kv".into() },
        TableSpec {
            name: "other".into(),
        },
    ];
    driver.setup(&tables).await.expect("setup");
    let names = driver.table_names().await.unwrap();
    assert!(names.contains(&"lifecycle_kv".to_string()), "{names:?}");
    assert!(names.contains(&"lifecycle_other".to_string()), "{names:?}");
    // Usable right after setup (dynalite keeps new tables CREATING for 500 ms).
    ok(&driver, write("k", "v")).await;
    // Setting up again keeps the tables and their rows.
    driver.setup(&tables).await.expect("second setup");
    assert_eq!(
        record(&driver, "k").await.unwrap().value.as_deref(),
        Some("v")
    );

    // A second run that picks the same namespace must neither reuse nor remove the
    // first run's tables.
    let intruder = connect(&emu, ns).await;
    let err = intruder.setup(&tables[..1]).await.unwrap_err();
    assert!(err.message.contains("already exists"), "{err}");
    intruder
        .teardown()
        .await
        .expect("teardown after a failed setup");
    assert_eq!(
        record(&driver, "k").await.unwrap().value.as_deref(),
        Some("v")
    );

    // Nothing created yet: teardown is a no-op.
    let idle = connect(&emu, "idle").await;
    idle.teardown().await.unwrap();

    // An invalid physical name is a config error before anything is created.
    let err = driver
        .setup(&[TableSpec {
            name: "bad name!".into(),
        }])
        .await
        .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config);

    driver.teardown().await.expect("teardown");
    let left: Vec<String> = driver
        .table_names()
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.starts_with("lifecycle_"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Teardown twice is fine.
    driver.teardown().await.unwrap();
    emu.stop().await;
}

async fn stopped_backend(backend: LocalBackend) {
    let ns = "stopped";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    ok(&driver, write("s", "1")).await;
    let endpoint = emu.endpoint().clone();
    emu.stop().await;

    for op in [
        write("s", "2"),
        read("s"),
        insert("s2", "x"),
        cas("s", Some(1), "y"),
        increment("s", 1),
        Op::Query {
            table: TABLE.into(),
            prefix: "s".into(),
            limit: None,
        },
        Op::Batch {
            ops: vec![read("s"), delete("s")],
        },
    ] {
        let started = Instant::now();
        let result = driver.execute(&op).await;
        let took = started.elapsed();
        eprintln!(
            "{backend} stopped: {} -> {} {:?} after {took:?}, {} retries",
            op.kind(),
            result.outcome,
            result.error_class(),
            result.meta.retries
        );
        assert!(
            took <= OP_TIMEOUT + Duration::from_secs(1),
            "{op:?} took {took:?}"
        );
        assert_ne!(result.outcome, Outcome::Ok, "{op:?} -> {result:?}");
        let class = result.error_class();
        assert!(
            matches!(
                (result.outcome, class),
                (Outcome::Fail, Some(ErrorClass::Unavailable))
                    | (Outcome::Indeterminate, Some(ErrorClass::ConnectionLost))
                    | (Outcome::Indeterminate, Some(ErrorClass::Timeout))
                    | (Outcome::Indeterminate, Some(ErrorClass::Unavailable))
            ),
            "{op:?} -> {result:?}"
        );
    }
    let started = Instant::now();
    let err = driver.teardown().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(err.message.contains("stopped_kv"), "{err}");
    let err = DynamodbDriver::connect(
        &endpoint,
        DriverConfig {
            namespace: ns.into(),
            op_timeout: OP_TIMEOUT,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
}

/// `bulk_load` (BatchWriteItem of 25): every row lands with its value, also when a call
/// holds more rows than one request takes, and with several calls at once.
async fn bulk_load(backend: LocalBackend) {
    let ns = "bulk";
    let Some((emu, driver)) = ready(backend, ns).await else {
        return;
    };
    let path = driver.bulk_load_path();
    assert_eq!((path.method, path.rows_per_call), ("batch_write_item", 25));
    let rows = |from: u64, to: u64| -> Vec<LoadRow> {
        (from..to)
            .map(|i| LoadRow {
                key: format!("user{i:06}"),
                value: format!("value {i}"),
            })
            .collect()
    };
    let (a, b, c) = (rows(0, 25), rows(25, 530), rows(530, 1_010));
    let (ra, rb, rc) = tokio::join!(
        driver.bulk_load(TABLE, &a),
        driver.bulk_load(TABLE, &b),
        driver.bulk_load(TABLE, &c),
    );
    assert_eq!((ra, rb, rc), (Ok(25), Ok(505), Ok(480)), "{backend}");
    let all = ok(
        &driver,
        Op::Query {
            table: TABLE.into(),
            prefix: "user".into(),
            limit: None,
        },
    )
    .await;
    let OpValue::Records(found) = all.value else {
        panic!("a query returns records");
    };
    assert_eq!(found.len(), 1_010, "{backend}");
    for i in [0u64, 24, 25, 529, 777, 1_009] {
        let key = format!("user{i:06}");
        assert_eq!(
            record(&driver, &key).await,
            Some(Record {
                key: key.clone(),
                value: Some(format!("value {i}")),
                version: Some(1),
                counter: None,
                list: None,
            }),
            "{backend}: {key}"
        );
    }
    // A loaded row takes ordinary ops like a written one.
    ok(&driver, write("user000003", "again")).await;
    assert_eq!(
        record(&driver, "user000003").await.unwrap().version,
        Some(2)
    );
    finish(emu, driver, ns).await;
}
