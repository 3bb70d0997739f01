//! The MySQL driver against a real MariaDB started through the emulators crate: every op's
//! success and failure paths, setup/teardown, concurrency, transactions and their isolation
//! level, error classes and bounds, and a backend that stops mid-test.

use assay_core::scenario::TableSpec;
use assay_core::{
    Capability, Driver, DriverConfig, DriverErrorKind, Endpoint, ErrorClass, LocalBackend, Op,
    OpResult, OpValue, Outcome, Record, Secret,
};
use assay_driver_mysql::{IsolationLevel, MysqlDriver, MysqlOptions, SERVER_CANCEL_GRACE};
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, Executor, MySqlConnection, Row};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// A started MariaDB, or `None` (with the reason printed) when no server is installed and
/// missing backends are allowed.
async fn start_mysql() -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::Mysql, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(LocalBackend::Mysql, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("a MySQL-compatible server is installed but did not start: {e}"),
    }
}

fn url_of(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Mysql { url } => url.expose().to_string(),
        other => panic!("the emulator gave a non-mysql endpoint: {other:?}"),
    }
}

/// A namespace no other test (or test process) uses.
fn unique_namespace() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(op_timeout: Duration) -> DriverConfig {
    DriverConfig {
        namespace: unique_namespace(),
        op_timeout,
    }
}

fn tables(names: &[&str]) -> Vec<TableSpec> {
    names
        .iter()
        .map(|n| TableSpec {
            name: n.to_string(),
        })
        .collect()
}

async fn connected(endpoint: &Endpoint, table_names: &[&str]) -> MysqlDriver {
    let driver = MysqlDriver::connect(endpoint, config(OP_TIMEOUT))
        .await
        .expect("connect");
    driver.setup(&tables(table_names)).await.expect("setup");
    driver
}

async fn raw(url: &str) -> MySqlConnection {
    MySqlConnection::connect(url).await.expect("raw connection")
}

async fn database_exists(conn: &mut MySqlConnection, name: &str) -> bool {
    let row = sqlx::query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .expect("list databases");
    row.get::<i64, _>(0) == 1
}

async fn tables_in(conn: &mut MySqlConnection, db: &str) -> Vec<String> {
    sqlx::query(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = ?",
    )
    .bind(db)
    .fetch_all(&mut *conn)
    .await
    .expect("list tables")
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect()
}

fn read(key: &str) -> Op {
    Op::Read {
        table: "kv".into(),
        key: key.into(),
        consistency: Default::default(),
    }
}

fn write(key: &str, value: &str) -> Op {
    Op::Write {
        table: "kv".into(),
        key: key.into(),
        value: value.into(),
    }
}

fn insert(key: &str, value: &str) -> Op {
    Op::InsertIfAbsent {
        table: "kv".into(),
        key: key.into(),
        value: value.into(),
    }
}

fn cas(key: &str, expected_version: Option<u64>, value: &str) -> Op {
    Op::CompareAndSet {
        table: "kv".into(),
        key: key.into(),
        expected_version,
        value: value.into(),
    }
}

fn delete(key: &str) -> Op {
    Op::Delete {
        table: "kv".into(),
        key: key.into(),
    }
}

fn increment(key: &str, by: i64) -> Op {
    Op::Increment {
        table: "kv".into(),
        key: key.into(),
        by,
    }
}

fn append(key: &str, element: i64) -> Op {
    Op::Append {
        table: "kv".into(),
        key: key.into(),
        element,
    }
}

fn query(prefix: &str, limit: Option<u32>) -> Op {
    Op::Query {
        table: "kv".into(),
        prefix: prefix.into(),
        limit,
    }
}

fn assert_ok(result: &OpResult) {
    assert_eq!(result.outcome, Outcome::Ok, "{result:?}");
    assert!(result.error.is_none(), "{result:?}");
}

fn assert_failed(result: &OpResult, class: ErrorClass) {
    assert_eq!(result.error_class(), Some(class), "{result:?}");
    assert_eq!(result.outcome, class.outcome(), "{result:?}");
}

async fn record(driver: &MysqlDriver, key: &str) -> Option<Record> {
    let result = driver.execute(&read(key)).await;
    assert_ok(&result);
    match result.value {
        OpValue::Record(r) => r,
        other => panic!("a read returned {other:?}"),
    }
}

fn keys_of(result: &OpResult) -> Vec<String> {
    match &result.value {
        OpValue::Records(records) => records.iter().map(|r| r.key.clone()).collect(),
        other => panic!("a query returned {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rejects_wrong_targets_with_a_reason() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let postgres = Endpoint::Postgres {
        url: Secret::new("postgres://a:b@127.0.0.1:1/db"),
        replica_url: None,
    };
    let err = MysqlDriver::connect(&postgres, config(OP_TIMEOUT))
        .await
        .err()
        .expect("a postgres endpoint is refused");
    assert_eq!(err.kind, DriverErrorKind::Config);
    assert!(err.message.contains("pick a mysql target"), "{err}");

    let bad_namespace = DriverConfig {
        namespace: "Bad-Name".into(),
        op_timeout: OP_TIMEOUT,
    };
    let err = MysqlDriver::connect(emu.endpoint(), bad_namespace)
        .await
        .err()
        .expect("a bad namespace is refused");
    assert_eq!(err.kind, DriverErrorKind::Config);

    let url = url_of(emu.endpoint());
    let (head, tail) = url.split_once('@').unwrap();
    let (user, _password) = head.rsplit_once(':').unwrap();
    let wrong = Endpoint::Mysql {
        url: Secret::new(format!("{user}:wrong-password@{tail}")),
    };
    let err = MysqlDriver::connect(&wrong, config(OP_TIMEOUT))
        .await
        .err()
        .expect("a wrong password is refused");
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    assert!(err.message.contains("rejected the login"), "{err}");
    assert!(!err.message.contains("wrong-password"), "{err}");

    let driver = MysqlDriver::connect(emu.endpoint(), config(OP_TIMEOUT))
        .await
        .expect("connect");
    assert_eq!(driver.family(), "mysql");
    assert!(driver.runs_native("sql") && driver.runs_native("mysql"));
    assert!(!driver.runs_native("postgres"));
    for cap in Capability::ALL {
        assert!(driver.capabilities().supports(cap), "{cap}");
    }
    let version = driver.backend_version().await.expect("a version");
    assert!(version.contains("MariaDB"), "{version}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_the_tables_and_teardown_removes_exactly_them() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let mut conn = raw(&url_of(emu.endpoint())).await;
    let driver = connected(emu.endpoint(), &["kv", "Odd`Name"]).await;
    let db = driver.database_name().to_string();
    assert!(database_exists(&mut conn, &db).await);
    assert_eq!(tables_in(&mut conn, &db).await, vec!["Odd`Name", "kv"]);
    // Setup again is harmless (the engine may retry it).
    driver.setup(&tables(&["kv"])).await.expect("setup again");

    // Another run with the same namespace must not adopt, and must not drop, this database.
    let same = DriverConfig {
        namespace: db.clone(),
        op_timeout: OP_TIMEOUT,
    };
    let intruder = MysqlDriver::connect(emu.endpoint(), same).await.unwrap();
    let err = intruder.setup(&tables(&["kv"])).await.unwrap_err();
    assert!(err.message.contains("already exists"), "{err}");
    intruder.teardown().await.expect("teardown of nothing");
    assert!(database_exists(&mut conn, &db).await);

    driver.teardown().await.expect("teardown");
    assert!(!database_exists(&mut conn, &db).await);
    driver
        .teardown()
        .await
        .expect("a second teardown is a no-op");

    let too_long = "t".repeat(65);
    let err = connected_err(emu.endpoint(), &too_long).await;
    assert!(err.contains("at most 64"), "{err}");
    emu.stop().await;
}

async fn connected_err(endpoint: &Endpoint, table: &str) -> String {
    let driver = MysqlDriver::connect(endpoint, config(OP_TIMEOUT))
        .await
        .expect("connect");
    let err = driver.setup(&tables(&[table])).await.unwrap_err();
    driver.teardown().await.expect("teardown");
    err.message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_ops_follow_the_portable_semantics() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = connected(emu.endpoint(), &["kv"]).await;

    assert_eq!(record(&d, "a").await, None);
    assert_ok(&d.execute(&write("a", "v1")).await);
    assert_eq!(
        record(&d, "a").await,
        Some(Record {
            key: "a".into(),
            value: Some("v1".into()),
            version: Some(1),
            counter: Some(0),
            list: Some(vec![]),
        })
    );
    assert_ok(&d.execute(&write("a", "v2 ünïcødé 🦀")).await);
    let a = record(&d, "a").await.unwrap();
    assert_eq!(a.value.as_deref(), Some("v2 ünïcødé 🦀"));
    assert_eq!(a.version, Some(2));

    // Keys differing only in a trailing space are different keys (no PAD SPACE).
    assert_ok(&d.execute(&insert("a ", "spaced")).await);
    assert_eq!(
        record(&d, "a ").await.unwrap().value.as_deref(),
        Some("spaced")
    );
    assert_eq!(record(&d, "a").await.unwrap().version, Some(2));
    // Case matters too.
    assert_eq!(record(&d, "A").await, None);

    assert_failed(
        &d.execute(&insert("a", "x")).await,
        ErrorClass::ConditionFailed,
    );
    assert_eq!(record(&d, "a").await.unwrap().version, Some(2));

    assert_failed(
        &d.execute(&cas("a", Some(1), "x")).await,
        ErrorClass::ConditionFailed,
    );
    assert_ok(&d.execute(&cas("a", Some(2), "v3")).await);
    let a = record(&d, "a").await.unwrap();
    assert_eq!((a.value.as_deref(), a.version), (Some("v3"), Some(3)));
    assert_failed(
        &d.execute(&cas("a", None, "x")).await,
        ErrorClass::ConditionFailed,
    );
    assert_failed(
        &d.execute(&cas("a", Some(u64::MAX), "x")).await,
        ErrorClass::ConditionFailed,
    );
    assert_failed(
        &d.execute(&cas("b", Some(0), "x")).await,
        ErrorClass::ConditionFailed,
    );
    assert_ok(&d.execute(&cas("b", None, "b1")).await);
    assert_eq!(record(&d, "b").await.unwrap().version, Some(1));

    assert_ok(&d.execute(&delete("b")).await);
    assert_eq!(record(&d, "b").await, None);
    assert_ok(&d.execute(&delete("b")).await);

    let inc = d.execute(&increment("c", 5)).await;
    assert_ok(&inc);
    assert_eq!(inc.value, OpValue::Counter(5));
    assert_eq!(
        d.execute(&increment("c", -7)).await.value,
        OpValue::Counter(-2)
    );
    assert_eq!(
        d.execute(&increment("a", 1)).await.value,
        OpValue::Counter(1)
    );
    let c = record(&d, "c").await.unwrap();
    assert_eq!((c.counter, c.version, c.value), (Some(-2), Some(0), None));
    let overflow = d.execute(&increment("c", i64::MIN)).await;
    assert_failed(&overflow, ErrorClass::InvalidRequest);

    for e in [3, -1, 3] {
        assert_ok(&d.execute(&append("l", e)).await);
    }
    assert_eq!(record(&d, "l").await.unwrap().list, Some(vec![3, -1, 3]));
    // Appending to a row that was only written starts from the empty list.
    assert_ok(&d.execute(&append("a", 9)).await);
    let a = record(&d, "a").await.unwrap();
    assert_eq!((a.list, a.value.as_deref()), (Some(vec![9]), Some("v3")));

    // A table that was never set up is an invalid request, not a crash.
    let missing = Op::Read {
        table: "nope".into(),
        key: "k".into(),
        consistency: Default::default(),
    };
    assert_failed(&d.execute(&missing).await, ErrorClass::InvalidRequest);
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_scans_a_prefix_in_byte_order_up_to_the_limit() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = connected(emu.endpoint(), &["kv"]).await;
    for key in ["p:b", "p:a", "p:B", "p:ä", "p_x", "p%y", "q:a", "p!z", "p:"] {
        assert_ok(&d.execute(&write(key, "v")).await);
    }
    let all = d.execute(&query("p:", None)).await;
    assert_ok(&all);
    // Byte order: 'B' (0x42) < 'a' < 'b' < 'ä' (0xC3 0xA4).
    assert_eq!(keys_of(&all), vec!["p:", "p:B", "p:a", "p:b", "p:ä"]);
    assert_eq!(
        keys_of(&d.execute(&query("p:", Some(2))).await),
        vec!["p:", "p:B"]
    );
    // LIKE metacharacters and the escape character in the prefix match literally.
    assert_eq!(keys_of(&d.execute(&query("p_", None)).await), vec!["p_x"]);
    assert_eq!(keys_of(&d.execute(&query("p%", None)).await), vec!["p%y"]);
    assert_eq!(keys_of(&d.execute(&query("p!", None)).await), vec!["p!z"]);
    assert!(keys_of(&d.execute(&query("zzz", None)).await).is_empty());
    let records = match d.execute(&query("q:", None)).await.value {
        OpValue::Records(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(records[0].version, Some(1));
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_runs_every_op_and_txn_applies_all_or_nothing() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = connected(emu.endpoint(), &["kv"]).await;
    assert_ok(&d.execute(&write("x", "x1")).await);

    let batch = d
        .execute(&Op::Batch {
            ops: vec![
                insert("x", "dup"),
                write("y", "y1"),
                increment("z", 2),
                read("y"),
            ],
        })
        .await;
    assert_ok(&batch);
    let OpValue::Results(results) = batch.value else {
        panic!("a batch returned {:?}", batch.value);
    };
    assert_eq!(results.len(), 4);
    assert_failed(&results[0], ErrorClass::ConditionFailed);
    assert_ok(&results[1]);
    assert_eq!(results[2].value, OpValue::Counter(2));
    match &results[3].value {
        OpValue::Record(Some(r)) => assert_eq!(r.value.as_deref(), Some("y1")),
        other => panic!("{other:?}"),
    }

    // A failed condition late in a txn undoes the ops before it.
    let txn = d
        .execute(&Op::Txn {
            ops: vec![
                write("x", "x2"),
                increment("z", 10),
                append("w", 1),
                insert("y", "dup"),
            ],
        })
        .await;
    assert_failed(&txn, ErrorClass::ConditionFailed);
    assert!(
        txn.error.as_ref().unwrap().message.contains("txn op 3"),
        "{txn:?}"
    );
    assert_eq!(record(&d, "x").await.unwrap().value.as_deref(), Some("x1"));
    assert_eq!(record(&d, "z").await.unwrap().counter, Some(2));
    assert_eq!(record(&d, "w").await, None);

    let txn = d
        .execute(&Op::Txn {
            ops: vec![
                write("x", "x2"),
                increment("z", 10),
                read("x"),
                cas("x", Some(2), "x3"),
            ],
        })
        .await;
    assert_ok(&txn);
    let OpValue::Results(results) = txn.value else {
        panic!("a txn returned {:?}", txn.value);
    };
    assert_eq!(results[1].value, OpValue::Counter(12));
    match &results[2].value {
        OpValue::Record(Some(r)) => assert_eq!(r.value.as_deref(), Some("x2")),
        other => panic!("a txn sees its own writes: {other:?}"),
    }
    let x = record(&d, "x").await.unwrap();
    assert_eq!((x.value.as_deref(), x.version), (Some("x3"), Some(3)));

    let nested = d
        .execute(&Op::Txn {
            ops: vec![Op::Batch { ops: vec![] }],
        })
        .await;
    assert_failed(&nested, ErrorClass::InvalidRequest);
    // The connection that ran the failed txn serves later ops normally.
    for _ in 0..40 {
        assert_ok(&d.execute(&read("x")).await);
    }
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_exact_and_each_returns_its_own_value() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = Arc::new(connected(emu.endpoint(), &["kv"]).await);
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 200;
    let mut handles = Vec::new();
    for _ in 0..CLIENTS {
        let d = d.clone();
        handles.push(tokio::spawn(async move {
            let mut seen = Vec::with_capacity(PER_CLIENT);
            let mut retries = 0;
            for _ in 0..PER_CLIENT {
                let r = d.execute(&increment("counter", 1)).await;
                assert_ok(&r);
                retries += r.meta.retries;
                match r.value {
                    OpValue::Counter(n) => seen.push(n),
                    other => panic!("{other:?}"),
                }
            }
            (seen, retries)
        }));
    }
    let mut all = BTreeSet::new();
    let mut retries = 0;
    for h in handles {
        let (seen, r) = h.await.unwrap();
        retries += r;
        all.extend(seen);
    }
    let total = (CLIENTS * PER_CLIENT) as i64;
    eprintln!("{total} concurrent increments took {retries} deadlock retries");
    // Every increment saw a distinct value, and together they are exactly 1..=total.
    assert_eq!(all, (1..=total).collect::<BTreeSet<_>>());
    assert_eq!(record(&d, "counter").await.unwrap().counter, Some(total));
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_run_at_the_configured_isolation_level() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    for level in IsolationLevel::ALL {
        let options = MysqlOptions {
            pool_size: 2,
            isolation: level,
        };
        let d = MysqlDriver::connect_with(emu.endpoint(), config(OP_TIMEOUT), options)
            .await
            .expect("connect");
        let seen = d.transaction_isolation_in_effect().await.expect("probe");
        assert_eq!(seen, level.sql(), "asked for {level:?}");
        // The level applies to that transaction only: a plain read afterwards works.
        d.setup(&tables(&["kv"])).await.unwrap();
        assert_ok(
            &d.execute(&Op::Txn {
                ops: vec![write("k", "v"), read("k")],
            })
            .await,
        );
        d.teardown().await.unwrap();
    }
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_row_lock_aborts_the_op_within_the_bound() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    // innodb_lock_wait_timeout becomes 1 s, ending the wait before the 1.5 s statement bound.
    let op_timeout = Duration::from_millis(1500);
    let d = MysqlDriver::connect(emu.endpoint(), config(op_timeout))
        .await
        .unwrap();
    d.setup(&tables(&["kv"])).await.unwrap();
    assert_ok(&d.execute(&write("locked", "v")).await);

    let mut holder = raw(&url_of(emu.endpoint())).await;
    holder.execute("START TRANSACTION").await.unwrap();
    let sql = format!(
        "SELECT v FROM `{}`.`kv` WHERE k = 'locked' FOR UPDATE",
        d.database_name()
    );
    holder.execute(sql.as_str()).await.unwrap();

    let started = Instant::now();
    let r = d.execute(&write("locked", "w")).await;
    let took = started.elapsed();
    // The lock wait timeout ends the wait: a definite, retryable failure, retried until
    // the op's budget left no room for another wait.
    assert_failed(&r, ErrorClass::Aborted);
    assert!(
        took < op_timeout + SERVER_CANCEL_GRACE + Duration::from_millis(500),
        "{took:?}"
    );
    holder.execute("ROLLBACK").await.unwrap();
    assert_eq!(
        record(&d, "locked").await.unwrap().value.as_deref(),
        Some("v")
    );
    d.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_times_out_and_a_stopped_one_is_unavailable() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let op_timeout = Duration::from_secs(1);
    let d = MysqlDriver::connect(emu.endpoint(), config(op_timeout))
        .await
        .unwrap();
    d.setup(&tables(&["kv"])).await.unwrap();
    assert_ok(&d.execute(&write("k", "v")).await);

    // A server that stops answering mid-op: the client bound makes it an indeterminate
    // timeout, not a hang.
    let pids: Vec<String> = emu.pids().iter().map(u32::to_string).collect();
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .args(&pids)
            .status()
            .expect("run kill");
        assert!(status.success());
    };
    signal("STOP");
    let started = Instant::now();
    let r = d.execute(&write("k", "w")).await;
    let took = started.elapsed();
    signal("CONT");
    assert_failed(&r, ErrorClass::Timeout);
    assert_eq!(r.outcome, Outcome::Indeterminate);
    assert!(
        took < op_timeout + SERVER_CANCEL_GRACE + Duration::from_millis(500),
        "{took:?}"
    );
    assert_ok(&d.execute(&read("k")).await);

    emu.stop().await;
    // Pooled connections idle past a second are pinged before reuse; only then is a dead
    // server known to be dead before anything was sent (else the op is indeterminate).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let r = d.execute(&read("k")).await;
    assert_failed(&r, ErrorClass::Unavailable);
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let err = d.teardown().await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlocked_txn_is_aborted_and_rolled_back() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let d = Arc::new(connected(emu.endpoint(), &["kv"]).await);
    for key in ["a", "b"] {
        assert_ok(&d.execute(&write(key, "v")).await);
    }
    let table = format!("`{}`.`kv`", d.database_name());
    let mut other = raw(&url_of(emu.endpoint())).await;
    other.execute("START TRANSACTION").await.unwrap();
    // InnoDB rolls back the lighter transaction of a deadlock; these rows make the other
    // session the heavier one, so the driver's txn is the victim every time.
    for i in 0..50 {
        let sql = format!("INSERT INTO {table} (k, v, ver) VALUES ('pad-{i}', 'p', 1)");
        other.execute(sql.as_str()).await.unwrap();
    }
    let lock_b = format!("UPDATE {table} SET v = 'other' WHERE k = 'b'");
    other.execute(lock_b.as_str()).await.unwrap();

    let txn = {
        let d = d.clone();
        tokio::spawn(async move {
            d.execute(&Op::Txn {
                ops: vec![write("a", "txn"), write("b", "txn")],
            })
            .await
        })
    };
    // Wait until the driver's txn holds `a` and waits for `b`.
    let mut watcher = raw(&url_of(emu.endpoint())).await;
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query(
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap()
        .get(0);
        if waiting == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the txn never waited for b"
        );
        // innodb_trx is a snapshot refreshed only when unread for 100 ms: polling faster
        // would keep it stale.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let lock_a = format!("UPDATE {table} SET v = 'other' WHERE k = 'a'");
    other.execute(lock_a.as_str()).await.unwrap();
    let result = txn.await.unwrap();
    assert_failed(&result, ErrorClass::Aborted);
    assert!(
        result.error.as_ref().unwrap().message.contains("1213"),
        "{result:?}"
    );
    assert_eq!(result.meta.retries, 0, "a txn is not retried by the driver");
    other.execute("ROLLBACK").await.unwrap();
    // Nothing of the aborted txn remains.
    assert_eq!(record(&d, "a").await.unwrap().value.as_deref(), Some("v"));
    assert_eq!(record(&d, "b").await.unwrap().value.as_deref(), Some("v"));
    d.teardown().await.unwrap();
    emu.stop().await;
}

/// `bulk_load` (multi-row INSERT): every row lands with its value, with several calls at
/// once and calls longer than one statement; an existing key is overwritten like a write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_load_lands_every_row() {
    let Some(emu) = start_mysql().await else {
        return;
    };
    let driver = connected(emu.endpoint(), &["kv"]).await;
    assert_eq!(driver.bulk_load_path().method, "multi-row insert");
    let rows = |from: u64, to: u64| -> Vec<assay_core::LoadRow> {
        (from..to)
            .map(|i| assay_core::LoadRow {
                key: format!("user{i:06}"),
                value: format!("value {i} 'quoted' \\ end"),
            })
            .collect()
    };
    let (a, b) = (rows(0, 2_500), rows(2_500, 3_000));
    let (ra, rb) = tokio::join!(driver.bulk_load("kv", &a), driver.bulk_load("kv", &b));
    assert_eq!((ra, rb), (Ok(2_500), Ok(500)));
    let mut conn = raw(&url_of(emu.endpoint())).await;
    let db = driver.database_name().to_string();
    let count: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM `{db}`.`kv`"))
        .fetch_one(&mut conn)
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 3_000);
    for i in [0u64, 999, 1_000, 2_499, 2_500, 2_999] {
        let key = format!("user{i:06}");
        assert_eq!(
            record(&driver, &key).await,
            Some(Record {
                key: key.clone(),
                value: Some(format!("value {i} 'quoted' \\ end")),
                version: Some(1),
                counter: Some(0),
                list: Some(vec![]),
            }),
            "{key}"
        );
    }
    assert_eq!(driver.bulk_load("kv", &rows(2_990, 3_010)).await, Ok(20));
    assert_eq!(
        record(&driver, "user002995").await.unwrap().version,
        Some(2)
    );
    assert_eq!(
        record(&driver, "user003005").await.unwrap().version,
        Some(1)
    );
    driver.teardown().await.expect("teardown");
    emu.stop().await;
}
