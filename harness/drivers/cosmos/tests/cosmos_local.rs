//! Integration tests of the Cosmos driver against cosmos-local (`@vercel/cosmosdb-server`
//! behind Assay's compatibility adapter), started through the emulators crate.

use assay_core::scenario::TableSpec;
use assay_core::{
    Consistency, Driver, DriverConfig, DriverErrorKind, Endpoint, ErrorClass, LocalBackend, Op,
    OpResult, OpValue, Outcome, Record, Secret,
};
use assay_driver_cosmos::CosmosDriver;
use assay_emulators::{Emulator, StartOptions};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const OP_TIMEOUT: Duration = Duration::from_secs(5);
const TABLE: &str = "kv";

fn config() -> DriverConfig {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    DriverConfig {
        namespace: format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
        op_timeout: OP_TIMEOUT,
    }
}

/// Starts cosmos-local and a driver with one table set up; `None` (test skipped, reason
/// printed) only when Node.js is not installed on this machine.
async fn start() -> Option<(Emulator, CosmosDriver)> {
    start_with(OP_TIMEOUT).await
}

async fn start_with(op_timeout: Duration) -> Option<(Emulator, CosmosDriver)> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::CosmosLocal, &opts.workspace_root)
    {
        return None;
    }
    let emulator = Emulator::start(LocalBackend::CosmosLocal, &opts)
        .await
        .expect("cosmos-local starts");
    let driver = CosmosDriver::connect(
        emulator.endpoint(),
        DriverConfig {
            op_timeout,
            ..config()
        },
    )
    .await
    .expect("driver connects");
    driver
        .setup(&[TableSpec {
            name: TABLE.to_string(),
        }])
        .await
        .expect("setup");
    Some((emulator, driver))
}

fn read(key: &str) -> Op {
    read_at(key, Consistency::Strong)
}

fn read_at(key: &str, consistency: Consistency) -> Op {
    Op::Read {
        table: TABLE.into(),
        key: key.into(),
        consistency,
    }
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

fn cas(key: &str, expected_version: Option<u64>, value: &str) -> Op {
    Op::CompareAndSet {
        table: TABLE.into(),
        key: key.into(),
        expected_version,
        value: value.into(),
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

fn assert_ok(result: &OpResult) {
    assert_eq!(result.outcome, Outcome::Ok, "{result:?}");
}

fn assert_fail(result: &OpResult, class: ErrorClass) {
    assert_eq!(
        (result.outcome, result.error_class()),
        (Outcome::Fail, Some(class)),
        "{result:?}"
    );
}

async fn record(driver: &CosmosDriver, key: &str) -> Option<Record> {
    let result = driver.execute(&read(key)).await;
    assert_ok(&result);
    match result.value {
        OpValue::Record(r) => r,
        other => panic!("read returned {other:?}"),
    }
}

#[tokio::test]
async fn connect_refuses_another_family() {
    let endpoint = Endpoint::Postgres {
        url: Secret::new("postgres://a:b@127.0.0.1:1/db"),
        replica_url: None,
    };
    let err = CosmosDriver::connect(&endpoint, config())
        .await
        .err()
        .expect("config error");
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
}

#[tokio::test]
async fn connect_to_nothing_is_unavailable_within_seconds() {
    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let endpoint = Endpoint::Cosmos {
        url: url.clone(),
        key: Secret::new("C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="),
        emulator: true,
    };
    let started = Instant::now();
    let err = CosmosDriver::connect(&endpoint, config())
        .await
        .err()
        .expect("no backend");
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(err.message.contains(&url), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn write_read_insert_delete() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    assert_eq!(record(&driver, "a").await, None, "absent key reads as None");

    assert_ok(&driver.execute(&write("a", "v1")).await);
    assert_ok(&driver.execute(&write("a", "v2")).await);
    let r = record(&driver, "a").await.expect("row exists");
    assert_eq!(
        (r.value.as_deref(), r.version, r.counter, r.list),
        (Some("v2"), Some(2), None, None)
    );

    // Write keeps the counter and the list.
    assert_ok(&driver.execute(&increment("a", 5)).await);
    assert_ok(&driver.execute(&append("a", 9)).await);
    assert_ok(&driver.execute(&write("a", "v3")).await);
    let r = record(&driver, "a").await.expect("row exists");
    assert_eq!(
        (r.value.as_deref(), r.version, r.counter, r.list),
        (Some("v3"), Some(3), Some(5), Some(vec![9]))
    );

    assert_ok(&driver.execute(&insert("b", "x")).await);
    assert_fail(
        &driver.execute(&insert("b", "y")).await,
        ErrorClass::ConditionFailed,
    );
    let r = record(&driver, "b").await.expect("row exists");
    assert_eq!((r.value.as_deref(), r.version), (Some("x"), Some(1)));

    assert_ok(&driver.execute(&delete("b")).await);
    assert_eq!(record(&driver, "b").await, None);
    assert_ok(&driver.execute(&delete("b")).await);
    assert_ok(&driver.execute(&delete("never-written")).await);

    let weak = driver.execute(&read_at("a", Consistency::Eventual)).await;
    assert_ok(&weak);
    assert!(
        matches!(weak.value, OpValue::Record(Some(ref r)) if r.value.as_deref() == Some("v3")),
        "{weak:?}"
    );

    let written = driver.execute(&write("c", "v")).await;
    let ru = written.meta.request_units.expect("request charge reported");
    assert!(ru > 0.0, "{written:?}");

    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn compare_and_set() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    assert_fail(
        &driver.execute(&cas("a", Some(1), "x")).await,
        ErrorClass::ConditionFailed,
    );
    assert_eq!(
        record(&driver, "a").await,
        None,
        "a failed CAS applies nothing"
    );

    assert_ok(&driver.execute(&cas("a", None, "x")).await);
    assert_fail(
        &driver.execute(&cas("a", None, "y")).await,
        ErrorClass::ConditionFailed,
    );
    assert_fail(
        &driver.execute(&cas("a", Some(7), "y")).await,
        ErrorClass::ConditionFailed,
    );
    assert_ok(&driver.execute(&cas("a", Some(1), "y")).await);
    let r = record(&driver, "a").await.expect("row exists");
    assert_eq!((r.value.as_deref(), r.version), (Some("y"), Some(2)));

    // A concurrent increment changes the etag but not the version: CAS still succeeds.
    assert_ok(&driver.execute(&increment("a", 1)).await);
    assert_ok(&driver.execute(&cas("a", Some(2), "z")).await);
    assert_eq!(record(&driver, "a").await.and_then(|r| r.version), Some(3));

    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn increments_and_appends_are_not_lost_under_contention() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    let first = driver.execute(&increment("n", 3)).await;
    assert_ok(&first);
    assert_eq!(first.value, OpValue::Counter(3));

    let driver = std::sync::Arc::new(driver);
    let mut tasks = Vec::new();
    for worker in 0..4i64 {
        let driver = driver.clone();
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for i in 0..5i64 {
                results.push(driver.execute(&increment("n", 1)).await);
                results.push(driver.execute(&append("l", worker * 100 + i)).await);
            }
            results
        }));
    }
    for task in tasks {
        for result in task.await.expect("task") {
            assert_ok(&result);
        }
    }
    let n = record(&driver, "n").await.expect("row exists");
    assert_eq!(
        (n.counter, n.version),
        (Some(23), None),
        "increments never touch ver"
    );
    let mut list = record(&driver, "l")
        .await
        .and_then(|r| r.list)
        .expect("list");
    assert_eq!(list.len(), 20);
    list.sort();
    let mut expected: Vec<i64> = (0..4)
        .flat_map(|w| (0..5).map(move |i| w * 100 + i))
        .collect();
    expected.sort();
    assert_eq!(list, expected);

    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn prefix_query_in_key_order_with_limit() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    for key in ["p3", "p1", "q1", "p2", "p10"] {
        assert_ok(&driver.execute(&write(key, &format!("v-{key}"))).await);
    }
    let query = |prefix: &str, limit| Op::Query {
        table: TABLE.into(),
        prefix: prefix.into(),
        limit,
    };
    let keys = |result: OpResult| -> Vec<String> {
        assert_ok(&result);
        match result.value {
            OpValue::Records(rows) => rows.into_iter().map(|r| r.key).collect(),
            other => panic!("query returned {other:?}"),
        }
    };
    assert_eq!(
        keys(driver.execute(&query("p", None)).await),
        ["p1", "p10", "p2", "p3"]
    );
    assert_eq!(
        keys(driver.execute(&query("p", Some(2))).await),
        ["p1", "p10"]
    );
    assert_eq!(
        keys(driver.execute(&query("p", Some(0))).await),
        Vec::<String>::new()
    );
    assert_eq!(
        keys(driver.execute(&query("zz", None)).await),
        Vec::<String>::new()
    );
    let all = driver.execute(&query("", None)).await;
    assert!(all.meta.request_units.is_some(), "{all:?}");
    assert_eq!(keys(all).len(), 5);

    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn batch_reports_each_op() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    assert_ok(&driver.execute(&insert("b", "old")).await);
    let batch = Op::Batch {
        ops: vec![write("a", "x"), insert("b", "new"), read("a")],
    };
    let result = driver.execute(&batch).await;
    assert_ok(&result);
    let OpValue::Results(results) = result.value else {
        panic!("batch returned {:?}", result.value);
    };
    assert_eq!(results.len(), 3);
    assert_ok(&results[0]);
    assert_fail(&results[1], ErrorClass::ConditionFailed);
    assert!(
        matches!(&results[2].value, OpValue::Record(Some(r)) if r.value.as_deref() == Some("x"))
    );

    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn single_key_txn_is_atomic_and_multi_key_txn_is_refused() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    let txn = Op::Txn {
        ops: vec![
            insert("t", "x"),
            increment("t", 2),
            append("t", 4),
            read("t"),
        ],
    };
    let result = driver.execute(&txn).await;
    assert_ok(&result);
    let OpValue::Results(results) = result.value else {
        panic!("txn returned {:?}", result.value);
    };
    assert_eq!(results[1].value, OpValue::Counter(2));
    assert!(matches!(&results[3].value, OpValue::Record(Some(r)) if r.list == Some(vec![4])));

    // The CAS fails, so the write before it must not land either.
    let failing = Op::Txn {
        ops: vec![write("t", "changed"), cas("t", Some(99), "never")],
    };
    assert_fail(&driver.execute(&failing).await, ErrorClass::ConditionFailed);
    let r = record(&driver, "t").await.expect("row exists");
    assert_eq!(
        (r.value.as_deref(), r.version, r.counter),
        (Some("x"), Some(1), Some(2))
    );

    let delete_in_txn = Op::Txn {
        ops: vec![read("t"), delete("t")],
    };
    assert_ok(&driver.execute(&delete_in_txn).await);
    assert_eq!(record(&driver, "t").await, None);

    let multi = Op::Txn {
        ops: vec![write("a", "1"), write("b", "2")],
    };
    assert_fail(&driver.execute(&multi).await, ErrorClass::Unsupported);
    assert_eq!(record(&driver, "a").await, None);

    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn teardown_removes_everything_setup_made() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    driver
        .setup(&[
            TableSpec { name: TABLE.into() },
            TableSpec {
                name: "other".into(),
            },
        ])
        .await
        .expect("setup is repeatable and adds tables");
    let mut tables = driver
        .list_tables()
        .await
        .expect("list")
        .expect("database exists");
    tables.sort();
    assert_eq!(tables, ["kv", "other"]);
    assert_ok(&driver.execute(&write("a", "x")).await);

    driver.teardown().await.expect("teardown");
    assert_eq!(
        driver.list_tables().await.expect("list"),
        None,
        "database is gone"
    );
    driver.teardown().await.expect("teardown twice is fine");

    // Teardown without setup (nothing made) touches nothing.
    let fresh = CosmosDriver::connect(emulator.endpoint(), config())
        .await
        .expect("connect");
    fresh.teardown().await.expect("teardown without setup");

    let version = driver.backend_version().await;
    assert!(
        version
            .as_deref()
            .is_none_or(|v| v.starts_with("cosmos gateway")),
        "{version:?}"
    );
    emulator.stop().await;
}

#[tokio::test]
async fn stopped_backend_fails_fast_without_hanging() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    assert_ok(&driver.execute(&write("a", "x")).await);
    emulator.stop().await;

    for op in [read("a"), write("a", "y"), insert("z", "v"), delete("a")] {
        let started = Instant::now();
        let result = driver.execute(&op).await;
        let took = started.elapsed();
        assert!(
            took <= OP_TIMEOUT + Duration::from_secs(1),
            "{op:?} took {took:?}"
        );
        match (result.outcome, result.error_class()) {
            (Outcome::Fail, Some(ErrorClass::Unavailable)) | (Outcome::Indeterminate, Some(_)) => {}
            other => panic!("{op:?} on a stopped backend gave {other:?}: {result:?}"),
        }
    }
}

/// Sends a signal to each process of the emulator (`kill` is in every Unix base system).
fn signal(emulator: &Emulator, sig: &str) {
    for pid in emulator.pids() {
        let status = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {sig} {pid}");
    }
}

#[tokio::test]
async fn hung_backend_times_out_as_indeterminate() {
    let short = Duration::from_secs(2);
    let Some((emulator, driver)) = start_with(short).await else {
        return;
    };
    assert_ok(&driver.execute(&write("a", "x")).await);

    signal(&emulator, "-STOP");
    for op in [read("a"), write("a", "y")] {
        let started = Instant::now();
        let result = driver.execute(&op).await;
        let took = started.elapsed();
        assert!(
            took <= short + Duration::from_secs(1),
            "{op:?} took {took:?}"
        );
        assert_eq!(
            (result.outcome, result.error_class()),
            (Outcome::Indeterminate, Some(ErrorClass::Timeout)),
            "{result:?}"
        );
    }
    signal(&emulator, "-CONT");
    // The backend recovers: the op that timed out may or may not have been applied.
    let r = record(&driver, "a").await.expect("row exists");
    assert!(matches!(r.value.as_deref(), Some("x") | Some("y")), "{r:?}");

    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn every_op_kind_reports_its_request_charge() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    let ops = [
        write("a", "x"),
        read("a"),
        insert("b", "y"),
        cas("a", Some(1), "z"),
        increment("a", 1),
        append("a", 2),
        Op::Query {
            table: TABLE.into(),
            prefix: String::new(),
            limit: None,
        },
        Op::Batch {
            ops: vec![write("c", "1"), read("c")],
        },
        Op::Txn {
            ops: vec![read("a"), write("a", "t")],
        },
        delete("b"),
    ];
    for op in ops {
        let result = driver.execute(&op).await;
        assert_ok(&result);
        let ru = result.meta.request_units;
        assert!(
            ru.is_some_and(|ru| ru > 0.0),
            "{} reported no request charge: {result:?}",
            op.kind()
        );
    }
    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

#[tokio::test]
async fn reads_at_every_consistency_level_and_session_token_finding() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    assert_ok(&driver.execute(&write("a", "v1")).await);
    for level in [
        Consistency::Strong,
        Consistency::BoundedStaleness,
        Consistency::Session,
        Consistency::ConsistentPrefix,
        Consistency::Eventual,
    ] {
        let result = driver.execute(&read_at("a", level)).await;
        assert_ok(&result);
        assert!(
            matches!(&result.value, OpValue::Record(Some(r)) if r.value.as_deref() == Some("v1")),
            "{level:?}: {result:?}"
        );
    }
    // cosmos-local returns no x-ms-session-token: the driver counts the writes that came
    // back without one instead of failing them (a real account returns one on every write).
    let counts = driver.session_token_counts();
    assert_eq!(counts.returned, 0, "{counts:?}");
    assert!(counts.missing >= 1, "{counts:?}");
    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}

/// `bulk_load` (a create per row, bounded concurrency): every row lands with its value; a
/// key that exists takes the write's path and gets its version bumped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_load_lands_every_row() {
    let Some((emulator, driver)) = start().await else {
        return;
    };
    let rows = |from: u64, to: u64| -> Vec<assay_core::LoadRow> {
        (from..to)
            .map(|i| assay_core::LoadRow {
                key: format!("user{i:05}"),
                value: format!("value {i}"),
            })
            .collect()
    };
    assert_ok(&driver.execute(&write("user00007", "before")).await);
    let (a, b) = (rows(0, 256), rows(256, 400));
    let (ra, rb) = tokio::join!(driver.bulk_load(TABLE, &a), driver.bulk_load(TABLE, &b));
    assert_eq!((ra, rb), (Ok(256), Ok(144)));
    let all = driver
        .execute(&Op::Query {
            table: TABLE.into(),
            prefix: "user".into(),
            limit: None,
        })
        .await;
    assert_ok(&all);
    let OpValue::Records(found) = all.value else {
        panic!("a query returns records")
    };
    assert_eq!(found.len(), 400);
    for i in [0u64, 255, 256, 399] {
        let key = format!("user{i:05}");
        let got = record(&driver, &key).await.expect("loaded");
        assert_eq!(
            (got.value.as_deref(), got.version),
            (Some(format!("value {i}").as_str()), Some(1)),
            "{key}"
        );
    }
    let existing = record(&driver, "user00007").await.unwrap();
    assert_eq!(
        (existing.value.as_deref(), existing.version),
        (Some("value 7"), Some(2))
    );
    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}
