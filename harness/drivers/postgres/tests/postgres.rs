//! The PostgreSQL driver against a real local PostgreSQL started through the emulators
//! crate: every op's success and failure paths, setup/teardown, error classes, bounds, and
//! a backend that stops mid-test.

use assay_core::scenario::TableSpec;
use assay_core::LocalBackend;
use assay_core::{
    Capability, Consistency, Driver, DriverConfig, DriverErrorKind, Endpoint, ErrorClass, Op,
    OpResult, OpValue, Outcome, Record, Secret,
};
use assay_driver_postgres::{
    IsolationLevel, PostgresDriver, PostgresOptions, ACQUIRE_TIMEOUT, SERVER_CANCEL_GRACE,
};
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, Executor, PgConnection, Row};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// A started PostgreSQL, or `None` (with the reason printed) when its binaries are absent.
async fn start_postgres() -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::Postgres, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(LocalBackend::Postgres, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("PostgreSQL is installed but did not start: {e}"),
    }
}

fn url_of(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Postgres { url, .. } => url.expose().to_string(),
        other => panic!("the emulator gave a non-postgres endpoint: {other:?}"),
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

async fn connected(endpoint: &Endpoint, table_names: &[&str]) -> PostgresDriver {
    let driver = PostgresDriver::connect(endpoint, config(OP_TIMEOUT))
        .await
        .expect("connect");
    driver.setup(&tables(table_names)).await.expect("setup");
    driver
}

/// The stand-in's endpoint twice: as given (ops on Assay's wire client, plaintext) and with a
/// URL parameter only sqlx handles (ops on sqlx, as on a TLS connection). Each is checked
/// to really use that client.
fn op_clients(emu: &Emulator) -> Vec<(Endpoint, &'static str)> {
    let url = url_of(emu.endpoint());
    let sep = if url.contains('?') { '&' } else { '?' };
    vec![
        (emu.endpoint().clone(), "wire"),
        (
            Endpoint::Postgres {
                url: Secret::new(format!("{url}{sep}application_name=assay")),
                replica_url: None,
            },
            "sqlx",
        ),
    ]
}

async fn raw(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("raw connection")
}

/// Tables (by name) in `schema`, as the server lists them.
async fn tables_in(conn: &mut PgConnection, schema: &str) -> Vec<String> {
    sqlx::query("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = $1 ORDER BY 1")
        .bind(schema)
        .fetch_all(&mut *conn)
        .await
        .expect("list tables")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

async fn schema_exists(conn: &mut PgConnection, schema: &str) -> bool {
    sqlx::query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1")
        .bind(schema)
        .fetch_optional(&mut *conn)
        .await
        .expect("look up schema")
        .is_some()
}

fn read(key: &str) -> Op {
    Op::Read {
        table: "kv".into(),
        key: key.into(),
        consistency: Consistency::Strong,
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

#[track_caller]
fn assert_ok(result: &OpResult) {
    assert_eq!(result.outcome, Outcome::Ok, "{result:?}");
    assert!(result.error.is_none(), "{result:?}");
}

#[track_caller]
fn assert_failed(result: &OpResult, class: ErrorClass) {
    assert_eq!(result.error_class(), Some(class), "{result:?}");
    assert_eq!(result.outcome, class.outcome(), "{result:?}");
}

async fn record(driver: &PostgresDriver, key: &str) -> Option<Record> {
    let result = driver.execute(&read(key)).await;
    assert_ok(&result);
    match result.value {
        OpValue::Record(r) => r,
        other => panic!("a read returned {other:?}"),
    }
}

fn keys_of(result: &OpResult) -> Vec<String> {
    match &result.value {
        OpValue::Records(rs) => rs.iter().map(|r| r.key.clone()).collect(),
        other => panic!("a query returned {other:?}"),
    }
}

/// Waits (bounded) until a session of the database waits on a lock, so a test knows the op
/// it started is blocked where it meant it to be.
async fn wait_until_someone_waits_on_a_lock(conn: &mut PgConnection) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let waiting: i64 = sqlx::query(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&mut *conn)
        .await
        .expect("pg_stat_activity")
        .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no session started waiting on a lock within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_rejects_wrong_targets_with_a_reason() {
    // Wrong family.
    let dynamo = Endpoint::Dynamodb {
        url: Some("http://127.0.0.1:1".into()),
        region: "us-east-1".into(),
        access_key_id: None,
        secret_access_key: None,
    };
    let err = PostgresDriver::connect(&dynamo, config(OP_TIMEOUT))
        .await
        .err()
        .expect("a dynamodb endpoint must be refused");
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");

    // Nothing listens: a port we bound and released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nowhere = Endpoint::Postgres {
        url: Secret::new(format!("postgres://assay:pw@127.0.0.1:{port}/assay")),
        replica_url: None,
    };
    let started = Instant::now();
    let err = PostgresDriver::connect(&nowhere, config(OP_TIMEOUT))
        .await
        .err()
        .expect("a closed port must be refused");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(err.message.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.message.contains('\n'), "{err}");

    let Some(emu) = start_postgres().await else {
        return;
    };
    let url = url_of(emu.endpoint());

    // A namespace that cannot be a schema name.
    let bad_ns = DriverConfig {
        namespace: "Bad-Name".into(),
        op_timeout: OP_TIMEOUT,
    };
    let err = PostgresDriver::connect(emu.endpoint(), bad_ns)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");

    // A wrong password: a config error that never shows the password.
    let (head, tail) = url.split_once('@').unwrap();
    let user = head.rsplit_once(':').unwrap().0;
    let wrong_pw = Endpoint::Postgres {
        url: Secret::new(format!("{user}:not-the-password@{tail}")),
        replica_url: None,
    };
    let err = PostgresDriver::connect(&wrong_pw, config(OP_TIMEOUT))
        .await
        .err()
        .expect("a wrong password must be refused");
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    assert!(!err.message.contains("not-the-password"), "{err}");

    // A replica that cannot be reached fails the connect and is named.
    let bad_replica = Endpoint::Postgres {
        url: Secret::new(url.clone()),
        replica_url: Some(Secret::new(format!(
            "postgres://assay:pw@127.0.0.1:{port}/assay"
        ))),
    };
    let err = PostgresDriver::connect(&bad_replica, config(OP_TIMEOUT))
        .await
        .err()
        .expect("an unreachable replica must be refused");
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(err.message.contains("replica"), "{err}");
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_the_tables_and_teardown_removes_exactly_them() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let url = url_of(emu.endpoint());
    let mut inspect = raw(&url).await;

    let driver = PostgresDriver::connect(emu.endpoint(), config(OP_TIMEOUT))
        .await
        .unwrap();
    // Teardown before any setup has nothing to remove and must not fail.
    driver.teardown().await.unwrap();

    let ns = driver.schema_name().to_string();
    driver.setup(&tables(&["kv", "Other Table"])).await.unwrap();
    assert_eq!(
        tables_in(&mut inspect, &ns).await,
        vec!["Other Table", "kv"]
    );
    // A second setup call adds tables to the same schema.
    driver.setup(&tables(&["third"])).await.unwrap();
    assert_eq!(
        tables_in(&mut inspect, &ns).await,
        vec!["Other Table", "kv", "third"]
    );
    assert_ok(&driver.execute(&write("k", "v")).await);
    // The key sorts bytewise whatever the database's locale, so queries return key order
    // the same way on every server (and on every backend family).
    let key_collation: Option<String> = sqlx::query(
        "SELECT collation_name FROM information_schema.columns \
         WHERE table_schema = $1 AND table_name = 'kv' AND column_name = 'k'",
    )
    .bind(&ns)
    .fetch_one(&mut inspect)
    .await
    .unwrap()
    .get(0);
    assert_eq!(key_collation.as_deref(), Some("C"));

    driver.teardown().await.unwrap();
    assert!(tables_in(&mut inspect, &ns).await.is_empty());
    assert!(!schema_exists(&mut inspect, &ns).await);
    // Teardown twice is harmless.
    driver.teardown().await.unwrap();

    // A table name PostgreSQL would truncate is refused before anything is created.
    let driver = PostgresDriver::connect(emu.endpoint(), config(OP_TIMEOUT))
        .await
        .unwrap();
    let long = "x".repeat(64);
    let err = driver.setup(&tables(&["kv", &long])).await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    assert!(!schema_exists(&mut inspect, driver.schema_name()).await);

    // A schema that someone else owns is neither adopted by setup nor dropped by teardown.
    let cfg = config(OP_TIMEOUT);
    let foreign = cfg.namespace.clone();
    inspect
        .execute(format!("CREATE SCHEMA {foreign}").as_str())
        .await
        .unwrap();
    inspect
        .execute(format!("CREATE TABLE {foreign}.precious (x int)").as_str())
        .await
        .unwrap();
    let driver = PostgresDriver::connect(emu.endpoint(), cfg).await.unwrap();
    let err = driver.setup(&tables(&["kv"])).await.unwrap_err();
    assert!(err.message.contains("already exists"), "{err}");
    driver.teardown().await.unwrap();
    assert_eq!(tables_in(&mut inspect, &foreign).await, vec!["precious"]);

    // A failed setup (a bad table among good ones) leaves nothing behind.
    let driver = PostgresDriver::connect(emu.endpoint(), config(OP_TIMEOUT))
        .await
        .unwrap();
    let err = driver.setup(&tables(&["kv", "a\0b"])).await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    driver.teardown().await.unwrap();
    assert!(!schema_exists(&mut inspect, driver.schema_name()).await);
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_ops_follow_the_portable_semantics() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    for (endpoint, client) in op_clients(&emu) {
        eprintln!("op client: {client}");
        point_ops_on(&emu, &endpoint, client).await;
    }
    emu.stop().await;
}

async fn point_ops_on(emu: &Emulator, endpoint: &Endpoint, client: &str) {
    let driver = connected(endpoint, &["kv"]).await;
    assert_eq!(driver.family(), "postgres");
    for cap in Capability::ALL {
        assert!(driver.capabilities().supports(cap), "{cap}");
    }
    let version = driver.backend_version().await.expect("server_version");
    let major = version.split('.').next().unwrap().to_string();
    assert!(major.parse::<u32>().is_ok(), "{version}");
    if let Some(emu_version) = emu.version() {
        assert!(emu_version.contains(&major), "{emu_version} vs {version}");
    }

    // Read of an absent key.
    assert_eq!(record(&driver, "a").await, None);

    // Write creates with version 1, then bumps the version; n and l keep their defaults.
    assert_ok(&driver.execute(&write("a", "one")).await);
    assert_eq!(
        record(&driver, "a").await,
        Some(Record {
            key: "a".into(),
            value: Some("one".into()),
            version: Some(1),
            counter: Some(0),
            list: Some(vec![]),
        })
    );
    assert_ok(&driver.execute(&write("a", "two")).await);
    let a = record(&driver, "a").await.unwrap();
    assert_eq!((a.value.as_deref(), a.version), (Some("two"), Some(2)));

    // Insert-if-absent: first wins, second is a definite condition failure.
    assert_ok(&driver.execute(&insert("b", "first")).await);
    assert_failed(
        &driver.execute(&insert("b", "second")).await,
        ErrorClass::ConditionFailed,
    );
    let b = record(&driver, "b").await.unwrap();
    assert_eq!((b.value.as_deref(), b.version), (Some("first"), Some(1)));

    // Compare-and-set.
    assert_ok(&driver.execute(&cas("c", None, "c1")).await);
    assert_failed(
        &driver.execute(&cas("c", None, "again")).await,
        ErrorClass::ConditionFailed,
    );
    assert_ok(&driver.execute(&cas("c", Some(1), "c2")).await);
    assert_failed(
        &driver.execute(&cas("c", Some(1), "stale")).await,
        ErrorClass::ConditionFailed,
    );
    assert_failed(
        &driver.execute(&cas("absent", Some(0), "x")).await,
        ErrorClass::ConditionFailed,
    );
    assert_failed(
        &driver.execute(&cas("c", Some(u64::MAX), "x")).await,
        ErrorClass::ConditionFailed,
    );
    let c = record(&driver, "c").await.unwrap();
    assert_eq!((c.value.as_deref(), c.version), (Some("c2"), Some(2)));

    // Delete, present and absent.
    assert_ok(&driver.execute(&delete("c")).await);
    assert_eq!(record(&driver, "c").await, None);
    assert_ok(&driver.execute(&delete("c")).await);

    // Increment: creates, adds, returns the new value, leaves value and version alone.
    let r = driver.execute(&increment("n", 5)).await;
    assert_ok(&r);
    assert_eq!(r.value, OpValue::Counter(5));
    assert_eq!(
        driver.execute(&increment("n", -7)).await.value,
        OpValue::Counter(-2)
    );
    assert_ok(&driver.execute(&increment("a", 1)).await);
    let a = record(&driver, "a").await.unwrap();
    assert_eq!(
        (a.value.as_deref(), a.version, a.counter),
        (Some("two"), Some(2), Some(1))
    );
    // Overflowing the BIGINT counter is a definite, invalid request.
    assert_ok(&driver.execute(&increment("big", i64::MAX)).await);
    assert_failed(
        &driver.execute(&increment("big", 1)).await,
        ErrorClass::InvalidRequest,
    );

    // Append: creates, keeps order, leaves value and version alone.
    for e in [3, 1, 2] {
        assert_ok(&driver.execute(&append("l", e)).await);
    }
    assert_ok(&driver.execute(&append("a", 9)).await);
    assert_eq!(
        record(&driver, "l").await.unwrap().list,
        Some(vec![3, 1, 2])
    );
    let a = record(&driver, "a").await.unwrap();
    assert_eq!((a.version, a.list), (Some(2), Some(vec![9])));

    // Strings PostgreSQL text cannot hold are a definite, invalid request.
    assert_failed(
        &driver.execute(&write("nul", "a\0b")).await,
        ErrorClass::InvalidRequest,
    );

    // A table setup never made.
    let missing = Op::Read {
        table: "never_set_up".into(),
        key: "k".into(),
        consistency: Consistency::Strong,
    };
    assert_failed(&driver.execute(&missing).await, ErrorClass::InvalidRequest);

    // Weak reads without a replica are served by the primary.
    let eventual = Op::Read {
        table: "kv".into(),
        key: "b".into(),
        consistency: Consistency::Eventual,
    };
    let r = driver.execute(&eventual).await;
    assert_ok(&r);
    assert!(
        matches!(r.value, OpValue::Record(Some(ref rec)) if rec.value.as_deref() == Some("first"))
    );

    assert_eq!(driver.op_client(), client, "ops ran on the intended client");
    driver.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_scans_a_prefix_in_byte_order_up_to_the_limit() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    for (endpoint, client) in op_clients(&emu) {
        eprintln!("op client: {client}");
        prefix_query_on(&endpoint, client).await;
    }
    emu.stop().await;
}

async fn prefix_query_on(endpoint: &Endpoint, client: &str) {
    let driver = connected(endpoint, &["kv"]).await;
    for key in [
        "u/b", "u/a", "u/B", "u/10", "u/9", "u%x", "u_y", "v/a", "u\\z", "u/é",
    ] {
        assert_ok(&driver.execute(&write(key, "v")).await);
    }
    // Byte order, not the database's linguistic collation: "B" < "a" < "b" < "é".
    let r = driver.execute(&query("u/", None)).await;
    assert_ok(&r);
    assert_eq!(keys_of(&r), vec!["u/10", "u/9", "u/B", "u/a", "u/b", "u/é"]);
    assert_eq!(
        keys_of(&driver.execute(&query("u/", Some(2))).await),
        vec!["u/10", "u/9"]
    );
    assert!(keys_of(&driver.execute(&query("u/", Some(0))).await).is_empty());
    // LIKE metacharacters in the prefix match only themselves.
    assert_eq!(
        keys_of(&driver.execute(&query("u%", None)).await),
        vec!["u%x"]
    );
    assert_eq!(
        keys_of(&driver.execute(&query("u_", None)).await),
        vec!["u_y"]
    );
    assert_eq!(
        keys_of(&driver.execute(&query("u\\", None)).await),
        vec!["u\\z"]
    );
    assert!(keys_of(&driver.execute(&query("w", None)).await).is_empty());
    // Records come back whole.
    match driver.execute(&query("v/", None)).await.value {
        OpValue::Records(rs) => assert_eq!(
            rs,
            vec![Record {
                key: "v/a".into(),
                value: Some("v".into()),
                version: Some(1),
                counter: Some(0),
                list: Some(vec![]),
            }]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(driver.execute(&query("", None)).await.outcome, Outcome::Ok);
    assert_eq!(driver.op_client(), client, "ops ran on the intended client");
    driver.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_runs_every_op_and_reports_each_result() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    for (endpoint, client) in op_clients(&emu) {
        eprintln!("op client: {client}");
        batch_on(&endpoint, client).await;
    }
    emu.stop().await;
}

async fn batch_on(endpoint: &Endpoint, client: &str) {
    let driver = connected(endpoint, &["kv"]).await;
    let batch = Op::Batch {
        ops: vec![
            insert("x", "1"),
            insert("x", "2"),
            increment("y", 3),
            read("x"),
            Op::Batch {
                ops: vec![append("z", 1)],
            },
        ],
    };
    let r = driver.execute(&batch).await;
    assert_ok(&r);
    let OpValue::Results(results) = r.value else {
        panic!("a batch returned {:?}", r.value);
    };
    assert_eq!(results.len(), 5);
    assert_ok(&results[0]);
    // Not atomic: the failed second op does not undo the first or stop the rest.
    assert_failed(&results[1], ErrorClass::ConditionFailed);
    assert_eq!(results[2].value, OpValue::Counter(3));
    assert!(
        matches!(&results[3].value, OpValue::Record(Some(rec)) if rec.value.as_deref() == Some("1"))
    );
    assert!(matches!(&results[4].value, OpValue::Results(inner) if inner.len() == 1));
    assert_eq!(record(&driver, "z").await.unwrap().list, Some(vec![1]));

    let empty = driver.execute(&Op::Batch { ops: vec![] }).await;
    assert_eq!(empty.value, OpValue::Results(vec![]));
    assert_eq!(driver.op_client(), client, "ops ran on the intended client");
    driver.teardown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_applies_all_or_nothing() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    for (endpoint, client) in op_clients(&emu) {
        eprintln!("op client: {client}");
        txn_on(&endpoint, client).await;
    }
    emu.stop().await;
}

async fn txn_on(endpoint: &Endpoint, client: &str) {
    let driver = connected(endpoint, &["kv"]).await;
    assert_ok(&driver.execute(&write("acct", "100")).await);

    let ok = driver
        .execute(&Op::Txn {
            ops: vec![
                read("acct"),
                cas("acct", Some(1), "90"),
                increment("log", 1),
                append("hist", 90),
            ],
        })
        .await;
    assert_ok(&ok);
    let OpValue::Results(results) = &ok.value else {
        panic!("a txn returned {:?}", ok.value);
    };
    assert_eq!(results.len(), 4);
    assert!(
        matches!(&results[0].value, OpValue::Record(Some(rec)) if rec.value.as_deref() == Some("100"))
    );
    assert_eq!(results[2].value, OpValue::Counter(1));
    assert_eq!(record(&driver, "acct").await.unwrap().version, Some(2));

    // A failed condition rolls back the ops before it.
    let failed = driver
        .execute(&Op::Txn {
            ops: vec![
                write("acct", "0"),
                increment("log", 1),
                insert("acct", "dup"),
                write("after", "x"),
            ],
        })
        .await;
    assert_failed(&failed, ErrorClass::ConditionFailed);
    assert!(
        failed.error.as_ref().unwrap().message.contains("txn op 2"),
        "{failed:?}"
    );
    let acct = record(&driver, "acct").await.unwrap();
    assert_eq!((acct.value.as_deref(), acct.version), (Some("90"), Some(2)));
    assert_eq!(record(&driver, "log").await.unwrap().counter, Some(1));
    assert_eq!(record(&driver, "after").await, None);

    // A backend error inside a txn also rolls it back, and the connection stays usable.
    let failed = driver
        .execute(&Op::Txn {
            ops: vec![write("t1", "x"), write("t2", "a\0b")],
        })
        .await;
    assert_failed(&failed, ErrorClass::InvalidRequest);
    assert_eq!(record(&driver, "t1").await, None);

    // The first statement fails (it travels with the BEGIN on the wire client), or the
    // first op fails before any statement is sent: nothing applied, nothing left open.
    for first in [write("t3", "a\0b"), cas("t3", Some(u64::MAX), "x")] {
        let failed = driver
            .execute(&Op::Txn {
                ops: vec![first, write("t4", "x")],
            })
            .await;
        assert_eq!(failed.outcome, Outcome::Fail, "{failed:?}");
        assert_eq!(record(&driver, "t4").await, None);
        assert_ok(&driver.execute(&write("t5", "after")).await);
    }
    let ok = driver
        .execute(&Op::Txn {
            ops: vec![write("t6", "x"), read("t6")],
        })
        .await;
    assert_ok(&ok);

    // Nesting is refused before anything is sent.
    let nested = driver
        .execute(&Op::Txn {
            ops: vec![
                write("n1", "x"),
                Op::Batch {
                    ops: vec![write("n2", "x")],
                },
            ],
        })
        .await;
    assert_failed(&nested, ErrorClass::InvalidRequest);
    assert_eq!(record(&driver, "n1").await, None);

    // A txn inside a batch runs as a transaction.
    let r = driver
        .execute(&Op::Batch {
            ops: vec![
                write("b1", "x"),
                Op::Txn {
                    ops: vec![write("b2", "x"), insert("b1", "dup")],
                },
            ],
        })
        .await;
    let OpValue::Results(results) = r.value else {
        panic!("{:?}", r.value);
    };
    assert_ok(&results[0]);
    assert_failed(&results[1], ErrorClass::ConditionFailed);
    assert_eq!(record(&driver, "b2").await, None);

    assert_eq!(
        driver.execute(&Op::Txn { ops: vec![] }).await.value,
        OpValue::Results(vec![])
    );
    assert_eq!(driver.op_client(), client, "ops ran on the intended client");
    driver.teardown().await.unwrap();
}

/// Runs a driver txn that writes a row another client has updated but not yet committed,
/// then lets the other client commit; returns the txn's result and the row's final value.
async fn txn_against_a_concurrent_update(
    emu: &Emulator,
    isolation: IsolationLevel,
) -> (OpResult, Option<String>) {
    let url = url_of(emu.endpoint());
    let options = PostgresOptions {
        isolation,
        ..PostgresOptions::default()
    };
    let driver = PostgresDriver::connect_with(emu.endpoint(), config(OP_TIMEOUT), options)
        .await
        .unwrap();
    driver.setup(&tables(&["kv"])).await.unwrap();
    let driver = std::sync::Arc::new(driver);
    assert_ok(&driver.execute(&write("hot", "0")).await);
    let table = format!("\"{}\".\"kv\"", driver.schema_name());

    // Another client holds the row in an uncommitted update ...
    let mut other = raw(&url).await;
    other.execute("BEGIN").await.unwrap();
    other
        .execute(format!("UPDATE {table} SET v = 'other', ver = ver + 1 WHERE k = 'hot'").as_str())
        .await
        .unwrap();
    // ... the driver's txn takes its snapshot, then waits for that row ...
    let d = driver.clone();
    let txn = tokio::spawn(async move {
        d.execute(&Op::Txn {
            ops: vec![read("other_key"), write("hot", "mine")],
        })
        .await
    });
    let mut watcher = raw(&url).await;
    wait_until_someone_waits_on_a_lock(&mut watcher).await;
    // ... and the other commits first.
    other.execute("COMMIT").await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), txn)
        .await
        .expect("the txn must finish once the lock is released")
        .unwrap();
    let value = record(&driver, "hot").await.unwrap().value;
    driver.teardown().await.unwrap();
    (result, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serialization_conflict_aborts_the_txn_without_retry() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    // The default, SERIALIZABLE: the second writer loses with 40001.
    let (r, value) = txn_against_a_concurrent_update(&emu, IsolationLevel::Serializable).await;
    assert_failed(&r, ErrorClass::Aborted);
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(r.meta.retries, 0);
    assert!(r.error.as_ref().unwrap().message.contains("40001"), "{r:?}");
    assert_eq!(value.as_deref(), Some("other"));

    // READ COMMITTED re-reads the row after the wait and overwrites it.
    let (r, value) = txn_against_a_concurrent_update(&emu, IsolationLevel::ReadCommitted).await;
    assert_ok(&r);
    assert_eq!(value.as_deref(), Some("mine"));
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_the_op_timeout_is_an_indeterminate_timeout() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let url = url_of(emu.endpoint());
    let op_timeout = Duration::from_millis(800);
    let driver = PostgresDriver::connect(emu.endpoint(), config(op_timeout))
        .await
        .unwrap();
    driver.setup(&tables(&["kv"])).await.unwrap();
    assert_ok(&driver.execute(&write("locked", "0")).await);
    let table = format!("\"{}\".\"kv\"", driver.schema_name());

    let mut other = raw(&url).await;
    other.execute("BEGIN").await.unwrap();
    other
        .execute(format!("SELECT * FROM {table} WHERE k = 'locked' FOR UPDATE").as_str())
        .await
        .unwrap();
    let started = Instant::now();
    let r = driver.execute(&write("locked", "blocked")).await;
    let took = started.elapsed();
    assert_failed(&r, ErrorClass::Timeout);
    assert_eq!(r.outcome, Outcome::Indeterminate);
    // The server's statement_timeout (57014) answers, not the client's backstop.
    assert!(r.error.as_ref().unwrap().message.contains("57014"), "{r:?}");
    assert!(took >= op_timeout, "{took:?}");
    assert!(took < op_timeout + SERVER_CANCEL_GRACE, "{took:?}");
    other.execute("ROLLBACK").await.unwrap();

    // The connection that timed out was not reused in a bad state.
    for _ in 0..5 {
        assert_ok(&driver.execute(&write("locked", "free")).await);
    }
    assert_eq!(record(&driver, "locked").await.unwrap().version, Some(6));
    driver.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_reads_go_to_the_replica_url_and_strong_reads_to_the_primary() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let url = url_of(emu.endpoint());
    // Stand-in replica: the same server reached as a role that may not read the run's
    // tables, so which URL served a read shows in its result.
    let mut admin = raw(&url).await;
    admin
        .execute("CREATE ROLE replica_reader LOGIN PASSWORD 'replica-pw'")
        .await
        .unwrap();
    let (head, tail) = url.split_once('@').unwrap();
    let scheme = &head[..head.find("://").unwrap() + 3];
    let replica_url = format!("{scheme}replica_reader:replica-pw@{tail}");
    let endpoint = Endpoint::Postgres {
        url: Secret::new(url.clone()),
        replica_url: Some(Secret::new(replica_url)),
    };
    let driver = PostgresDriver::connect(&endpoint, config(OP_TIMEOUT))
        .await
        .unwrap();
    // Setup waits for the replica to show the tables (it sees the catalog, not the rows).
    driver.setup(&tables(&["kv"])).await.unwrap();
    assert_ok(&driver.execute(&write("k", "v")).await);

    assert_ok(&driver.execute(&read("k")).await);
    for consistency in [
        Consistency::Eventual,
        Consistency::BoundedStaleness,
        Consistency::Session,
        Consistency::ConsistentPrefix,
    ] {
        let weak = Op::Read {
            table: "kv".into(),
            key: "k".into(),
            consistency,
        };
        let r = driver.execute(&weak).await;
        // 42501 insufficient_privilege: only the replica role could have answered.
        assert_failed(&r, ErrorClass::InvalidRequest);
        assert!(r.error.as_ref().unwrap().message.contains("42501"), "{r:?}");
    }
    driver.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_backend_fails_ops_fast_and_never_hangs() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let url = url_of(emu.endpoint());
    let endpoint = emu.endpoint().clone();
    let driver = std::sync::Arc::new(connected(&endpoint, &["kv"]).await);
    assert_ok(&driver.execute(&write("k", "v")).await);
    let table = format!("\"{}\".\"kv\"", driver.schema_name());

    // An op in flight when the server goes away: blocked behind another client's row lock.
    let mut other = raw(&url).await;
    other.execute("BEGIN").await.unwrap();
    other
        .execute(format!("SELECT * FROM {table} WHERE k = 'k' FOR UPDATE").as_str())
        .await
        .unwrap();
    let d = driver.clone();
    let in_flight = tokio::spawn(async move { d.execute(&write("k", "in flight")).await });
    let mut watcher = raw(&url).await;
    wait_until_someone_waits_on_a_lock(&mut watcher).await;

    emu.stop().await;

    let r = tokio::time::timeout(OP_TIMEOUT + Duration::from_secs(2), in_flight)
        .await
        .expect("the in-flight op must end within its bound")
        .unwrap();
    eprintln!("in flight: {:?}", r.error);
    // It was sent, so it is never a definite failure. Fast shutdown may end the lock
    // holder's session first and let this op commit before its own session ends, so `ok`
    // is legitimate too (`a_backend_crash_mid_op_is_indeterminate` pins the lost case).
    assert_ne!(r.outcome, Outcome::Fail, "{r:?}");
    if r.outcome == Outcome::Indeterminate {
        assert_eq!(r.error_class(), Some(ErrorClass::ConnectionLost), "{r:?}");
    }

    // New ops: every one ends within its bound, none succeeds, and once the pool has
    // noticed, they are definite `Unavailable` failures (nothing was sent).
    let bound = ACQUIRE_TIMEOUT + OP_TIMEOUT + SERVER_CANCEL_GRACE + Duration::from_secs(1);
    // Each pooled connection that was idle when the server went away costs one op (which
    // may have reached the server: indeterminate); the pool holds at most a few here.
    let ops = [
        write("k", "after"),
        read("k"),
        insert("n", "x"),
        delete("k"),
    ];
    let mut unavailable = None;
    for op in ops.iter().cycle().take(8) {
        let started = Instant::now();
        let r = tokio::time::timeout(bound, driver.execute(op))
            .await
            .expect("an op against a stopped backend must not hang");
        eprintln!("after stop: {:?} in {:?}", r.error, started.elapsed());
        assert!(started.elapsed() < bound, "{:?}", started.elapsed());
        match r.error_class() {
            Some(ErrorClass::Unavailable) => {
                assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
                unavailable = Some(r);
                break;
            }
            Some(ErrorClass::ConnectionLost | ErrorClass::Timeout) => {
                assert_eq!(r.outcome, Outcome::Indeterminate, "{r:?}")
            }
            _ => panic!("an op against a stopped backend returned {r:?}"),
        }
    }
    let unavailable = unavailable.expect("ops never became `Unavailable` after the stop");
    assert!(
        unavailable.error.unwrap().message.contains("127.0.0.1"),
        "the reason names the address"
    );

    assert_eq!(driver.backend_version().await, None);
    let started = Instant::now();
    let err = driver.teardown().await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// The server's processes: the postmaster and its children. Each PostgreSQL backend calls
/// setsid(), so signalling the postmaster's process group would miss them.
fn server_processes(emu: &Emulator) -> Vec<u32> {
    let mut pids = emu.pids();
    for parent in emu.pids() {
        let out = std::process::Command::new("pgrep")
            .args(["-P", &parent.to_string()])
            .output()
            .expect("run pgrep");
        let children = String::from_utf8_lossy(&out.stdout).into_owned();
        pids.extend(
            children
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok()),
        );
    }
    pids
}

fn signal(pids: &[u32], signal: &str) {
    for pid in pids {
        // A process may have exited since it was listed; that is not the test's concern.
        let _ = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status();
    }
}

/// Resumes a frozen backend even when the test fails half-way.
struct Thaw(Vec<u32>);

impl Drop for Thaw {
    fn drop(&mut self) {
        signal(&self.0, "-CONT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_backend_times_out_instead_of_hanging_and_recovers() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let op_timeout = Duration::from_secs(1);
    let driver = PostgresDriver::connect(emu.endpoint(), config(op_timeout))
        .await
        .unwrap();
    driver.setup(&tables(&["kv"])).await.unwrap();
    assert_ok(&driver.execute(&write("k", "before")).await);

    // SIGSTOP: the server keeps its sockets but answers nothing, like a hung host.
    let pids = server_processes(&emu);
    assert!(
        pids.len() > 1,
        "expected the postmaster and its backends, got {pids:?}"
    );
    signal(&pids, "-STOP");
    let thaw = Thaw(pids);
    let bound = ACQUIRE_TIMEOUT + op_timeout + SERVER_CANCEL_GRACE + Duration::from_secs(1);
    let started = Instant::now();
    let r = tokio::time::timeout(bound, driver.execute(&write("k", "frozen")))
        .await
        .expect("an op against a frozen backend must not hang");
    eprintln!(
        "frozen, pooled connection: {:?} in {:?}",
        r.error,
        started.elapsed()
    );
    // Sent on a pooled connection and never answered: the client's bound fires.
    assert_failed(&r, ErrorClass::Timeout);
    assert_eq!(r.outcome, Outcome::Indeterminate);
    for op in [read("k"), write("k", "frozen")] {
        let started = Instant::now();
        let r = tokio::time::timeout(bound, driver.execute(&op))
            .await
            .expect("an op against a frozen backend must not hang");
        eprintln!("frozen: {:?} in {:?}", r.error, started.elapsed());
        assert_ne!(r.outcome, Outcome::Ok, "{r:?}");
        assert!(
            matches!(
                r.error_class(),
                Some(ErrorClass::Unavailable | ErrorClass::Timeout)
            ),
            "{r:?}"
        );
    }

    drop(thaw);
    // Once the server answers again, the driver serves ops again (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut recovered = false;
    while Instant::now() < deadline {
        if driver.execute(&read("k")).await.outcome == Outcome::Ok {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the driver did not recover within 15 s of the server resuming"
    );
    driver.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_crash_mid_op_is_indeterminate() {
    let Some(emu) = start_postgres().await else {
        return;
    };
    let url = url_of(emu.endpoint());
    let driver = std::sync::Arc::new(connected(emu.endpoint(), &["kv"]).await);
    assert_ok(&driver.execute(&write("k", "v")).await);
    let table = format!("\"{}\".\"kv\"", driver.schema_name());

    let mut other = raw(&url).await;
    other.execute("BEGIN").await.unwrap();
    other
        .execute(format!("SELECT * FROM {table} WHERE k = 'k' FOR UPDATE").as_str())
        .await
        .unwrap();
    let d = driver.clone();
    let in_flight = tokio::spawn(async move { d.execute(&write("k", "in flight")).await });
    let mut watcher = raw(&url).await;
    wait_until_someone_waits_on_a_lock(&mut watcher).await;

    // SIGKILL releases no locks, so the blocked op can only end by losing its connection.
    signal(&server_processes(&emu), "-KILL");
    let r = tokio::time::timeout(OP_TIMEOUT + Duration::from_secs(2), in_flight)
        .await
        .expect("the in-flight op must end within its bound")
        .unwrap();
    eprintln!("crashed mid-op: {:?}", r.error);
    assert_failed(&r, ErrorClass::ConnectionLost);
    assert_eq!(r.outcome, Outcome::Indeterminate);

    let r = driver.execute(&read("k")).await;
    assert_ne!(r.outcome, Outcome::Ok, "{r:?}");
    emu.stop().await;
}
