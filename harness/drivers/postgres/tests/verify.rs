//! `assay verify`'s PostgreSQL side on a real server: every kind's canonical encoding as
//! the server computes it equals what `assay_core::verify` encodes on the client (edge
//! values: number spellings, floats, NaN, multibyte text, bytes, times before 1970, NULL),
//! and the server's digests (MD5 buckets, summed row hashes) equal the client's over the
//! same rows — the identity cross-backend compares rest on.

use assay_core::verify::digest::{Bucket, BucketSet, Digests};
use assay_core::verify::value::{encode_all, parse_rfc3339};
use assay_core::verify::{EpochUnit, Kind, PlanColumn, SidePlan, StoredAs, TableSource, Value};
use assay_core::{Endpoint, LocalBackend};
use assay_driver_postgres::PgTableSource;
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, Executor, PgConnection};

async fn start_postgres() -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::Postgres, &opts.workspace_root) {
        return None;
    }
    Some(
        Emulator::start(LocalBackend::Postgres, &opts)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is installed but did not start: {e}")),
    )
}

fn col(name: &str, typname: &str, kind: Option<Kind>, stored_as: StoredAs) -> PlanColumn {
    PlanColumn {
        name: name.into(),
        path: vec![name.into()],
        kind,
        stored_as,
        native_type: Some(typname.into()),
    }
}

fn n(s: &str) -> Value {
    Value::number(s).unwrap()
}

fn t(s: &str) -> Value {
    Value::Text(s.into())
}

fn ts(s: &str) -> Value {
    Value::Timestamp(parse_rfc3339(s).unwrap())
}

#[tokio::test]
async fn server_encodings_and_digests_equal_the_clients() {
    let Some(pg) = start_postgres().await else {
        return;
    };
    let Endpoint::Postgres { url, .. } = pg.endpoint() else {
        panic!("not a postgres endpoint")
    };
    let mut conn = PgConnection::connect(url.expose()).await.unwrap();
    conn.execute(
        "CREATE TABLE enc (id int8 PRIMARY KEY, i int4, num numeric, f8 float8, f4 float4, \
         txt text, vc varchar(20), b bytea, flag bool, tz timestamptz, ts timestamp, d date, \
         u uuid, numtext text, ms int8, iso text)",
    )
    .await
    .unwrap();
    conn.execute(
        "INSERT INTO enc VALUES
         (1, 0, 1.50, 0.1, 0.1, '', 'a', '\\xdeadbeef', true, '2024-05-01 12:00:00.123456+02',
          '1969-12-31 23:59:59.5', '2024-02-29', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '42.10',
          1714521600123, '2024-05-01T10:00:00Z'),
         (2, -5, -0.000, 1e20, -2.5, 'héllo;:s3:', 'ünï', '\\x', false, '1970-01-01 00:00:00+00',
          '2262-04-11 23:47:16', '1900-01-01', NULL, '-7', -1, '1969-12-31 23:59:59.999999+00'),
         (3, 2147483647, 'NaN', -2.5e-7, 3.4e38, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
          NULL, NULL, NULL),
         (9223372036854775807, NULL, 12345678901234567890.1230, 1.0/3.0, 1, 'x', 'y', '\\x00',
          true, '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999', '2000-01-01', NULL,
          '1e3', 0, '2000-01-01 00:00:00')",
    )
    .await
    .unwrap();
    let native = StoredAs::Native;
    let plan = SidePlan {
        table: "enc".into(),
        key: vec![col("id", "int8", None, native)],
        columns: vec![
            col("i", "int4", None, native),
            col("num", "numeric", None, native),
            col("f8", "float8", None, native),
            col("f4", "float4", None, native),
            col("txt", "text", None, native),
            col("vc", "varchar", None, native),
            col("b", "bytea", None, native),
            col("flag", "bool", None, native),
            col("tz", "timestamptz", None, native),
            col("ts", "timestamp", None, native),
            col("d", "date", None, native),
            col("u", "uuid", None, native),
            col("numtext", "text", Some(Kind::Number), StoredAs::Text),
            col(
                "ms",
                "int8",
                Some(Kind::Timestamp),
                StoredAs::Epoch(EpochUnit::Millis),
            ),
            col("iso", "text", Some(Kind::Timestamp), StoredAs::Text),
        ],
    };
    let expected: Vec<(Vec<Value>, Vec<Value>)> = vec![
        (
            vec![n("1")],
            vec![
                n("0"),
                n("1.5"),
                n("0.1"),
                n("0.1"),
                t(""),
                t("a"),
                Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef]),
                Value::Bool(true),
                ts("2024-05-01T10:00:00.123456Z"),
                ts("1969-12-31T23:59:59.5Z"),
                t("2024-02-29"),
                t("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                n("42.1"),
                Value::Timestamp(1_714_521_600_123_000_000),
                ts("2024-05-01T10:00:00Z"),
            ],
        ),
        (
            vec![n("2")],
            vec![
                n("-5"),
                n("0"),
                n("100000000000000000000"),
                n("-2.5"),
                t("héllo;:s3:"),
                t("ünï"),
                Value::Bytes(vec![]),
                Value::Bool(false),
                Value::Timestamp(0),
                ts("2262-04-11T23:47:16Z"),
                t("1900-01-01"),
                Value::Null,
                n("-7"),
                Value::Timestamp(-1_000_000),
                ts("1969-12-31T23:59:59.999999Z"),
            ],
        ),
        (
            vec![n("3")],
            vec![
                n("2147483647"),
                Value::Number("NaN".into()),
                n("-0.00000025"),
                n("3.4e38"),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        ),
        (
            vec![n("9223372036854775807")],
            vec![
                Value::Null,
                n("12345678901234567890.123"),
                n("0.3333333333333333"),
                n("1"),
                t("x"),
                t("y"),
                Value::Bytes(vec![0]),
                Value::Bool(true),
                ts("0001-01-01T00:00:00Z"),
                ts("9999-12-31T23:59:59.999999Z"),
                t("2000-01-01"),
                Value::Null,
                n("1000"),
                Value::Timestamp(0),
                ts("2000-01-01T00:00:00Z"),
            ],
        ),
    ];

    let source = PgTableSource::connect(pg.endpoint(), 2).await.unwrap();
    source.prepare(&plan).await.unwrap();
    let mut rows = source.rows(&plan, &BucketSet::all()).await.unwrap();
    rows.sort_by_key(|r| r.key_hash());
    assert_eq!(rows.len(), expected.len());
    for (key, cols) in &expected {
        let enc = encode_all(key);
        let row = rows
            .iter()
            .find(|r| r.key == enc)
            .unwrap_or_else(|| panic!("no row with key {enc}: {rows:?}"));
        for ((c, got), want) in plan.columns.iter().zip(&row.columns).zip(cols) {
            assert_eq!(got, &want.encode(), "row {enc} column {}", c.name);
        }
    }

    // The server's buckets and sums are the client's over the same rows.
    let mut client = Digests::new();
    for r in &rows {
        client
            .entry(Bucket::of(r.key_hash(), 1))
            .or_default()
            .add_row(r.row_hash());
    }
    let server = source.digests(&plan, &BucketSet::all()).await.unwrap();
    assert_eq!(server, client);
    // One level down, within one bucket.
    let first = Bucket::of(rows[0].key_hash(), 1);
    let within = BucketSet::new(1, [first]);
    let server2 = source.digests(&plan, &within).await.unwrap();
    let mut client2 = Digests::new();
    for r in rows.iter().filter(|r| first.contains(r.key_hash())) {
        client2
            .entry(Bucket::of(r.key_hash(), 2))
            .or_default()
            .add_row(r.row_hash());
    }
    assert_eq!(server2, client2);
    // And by key, as the recheck reads.
    let keys: Vec<Vec<Value>> = expected.iter().map(|(k, _)| k.clone()).collect();
    let again = source.rows_by_key(&plan, &keys[..2]).await.unwrap();
    assert_eq!(again.len(), 2);

    // A value that does not convert is bad input naming the fix.
    conn.execute("INSERT INTO enc (id, numtext) VALUES (10, 'many')")
        .await
        .unwrap();
    let e = source.digests(&plan, &BucketSet::all()).await.unwrap_err();
    assert_eq!(e.kind, assay_core::verify::VerifyErrorKind::Input, "{e}");
    assert!(e.message.contains("--map"), "{e}");
    let _ = conn.close().await;
    pg.stop().await;
}
