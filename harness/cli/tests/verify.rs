//! `assay verify` on real stand-ins, named in a targets file (loopback):
//!
//! - PostgreSQL ↔ PostgreSQL (two databases of one stand-in, every compared type): equal
//!   tables exit 0; one changed column is reported as exactly that key and that column,
//!   exit 1, also in the JSON report; one deleted row is "missing in target"; a row that
//!   is fixed during the `--recheck` pause is cleared (exit 0).
//! - PostgreSQL ↔ DynamoDB (dynalite, else moto) through a mapping file (a renamed key
//!   attribute, a nested attribute holding epoch milliseconds): one missing item is found,
//!   and the equal rest compares equal across the backends.
//! - Bad input: one line naming the flag or field and the fix, exit 2, nothing read.

mod common;

use assay_core::{Endpoint, LocalBackend};
use assay_emulators::{Emulator, StartOptions};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use common::{output_within, root, Output};
use sqlx::{Connection, Executor, PgConnection};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const COMMAND_LIMIT: Duration = Duration::from_secs(180);
const ROWS: i64 = 3000;

/// The table both PostgreSQL databases get: every kind the canonical encoding has.
const TABLE: &str = "CREATE TABLE items (
    id bigint PRIMARY KEY,
    name text,
    price numeric(12, 2),
    ratio float8,
    active boolean,
    created timestamptz,
    day date,
    payload bytea)";

/// Rows `from..=to` of the table, the same in every database.
fn fill(from: i64, to: i64) -> String {
    format!(
        "INSERT INTO items
         SELECT i, 'name-' || i || CASE WHEN i % 7 = 0 THEN ' ünï;cødé' ELSE '' END,
                (i % 1000) / 100.0, i / 3.0, i % 2 = 0,
                timestamptz '2024-01-01 00:00:00+00' + i * interval '1.000001 second',
                date '2024-01-01' + (i % 365),
                CASE WHEN i % 5 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END
         FROM generate_series({from}, {to}) AS i"
    )
}

fn assay(args: &[&str], env: &[(&str, &str)], sandbox: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .env("ASSAY_ROOT", sandbox)
        .envs(env.iter().copied())
        .args(args);
    output_within(cmd, COMMAND_LIMIT)
}

/// `scheme://user:password@rest` → (`scheme://user@rest`, password).
fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    (format!("{scheme}://{user}@{host}"), password.to_string())
}

async fn start(backend: LocalBackend) -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return None;
    }
    Some(
        Emulator::start(backend, &opts)
            .await
            .unwrap_or_else(|e| panic!("{backend} is installed but did not start: {e}")),
    )
}

fn pg_url(emu: &Emulator) -> String {
    match emu.endpoint() {
        Endpoint::Postgres { url, .. } => url.expose().to_string(),
        other => panic!("not a postgres endpoint: {other:?}"),
    }
}

async fn sql(url: &str, statements: &[&str]) {
    let mut conn = PgConnection::connect(url).await.expect("connects");
    for s in statements {
        conn.execute(*s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("--out was written")).unwrap()
}

#[test]
fn postgres_to_postgres_names_the_changed_column_and_the_missing_row() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(pg) = rt.block_on(start(LocalBackend::Postgres)) else {
        return;
    };
    let url = pg_url(&pg);
    let other_db = |u: &str| {
        format!(
            "{}/verify_b",
            u.strip_suffix("/assay")
                .expect("the stand-in's database is assay")
        )
    };
    let url_b = other_db(&url);
    let all = fill(1, ROWS);
    rt.block_on(sql(&url, &["CREATE DATABASE verify_b", TABLE, &all]));
    rt.block_on(sql(&url_b, &[TABLE, &all]));
    let (bare, password) = split_password(&url);
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.toml");
    std::fs::write(
        &targets,
        format!(
            "[targets.pg-a]\nfamily = \"postgres\"\nurl = \"{bare}\"\npassword_env = \"VERIFY_PG_PASSWORD\"\n\n\
             [targets.pg-b]\nfamily = \"postgres\"\nurl = \"{}\"\npassword_env = \"VERIFY_PG_PASSWORD\"\n",
            other_db(&bare)
        ),
    )
    .unwrap();
    let out = dir.path().join("verify.json");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--targets",
            targets.to_str().unwrap(),
            "--source",
            "pg-a",
            "--target",
            "pg-b",
            "--table",
            "items",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        assay(
            &args,
            &[("VERIFY_PG_PASSWORD", password.as_str())],
            dir.path(),
        )
    };

    // Equal.
    let r = verify(&[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("EQUAL"), "{}", r.stdout);
    let report = json(&out);
    assert_eq!(report["schema"], "assay.verify/1");
    assert_eq!(report["verdict"], "equal");
    assert_eq!(report["source"]["rows"], ROWS);
    assert_eq!(report["target"]["rows"], ROWS);
    assert_eq!(report["key"], serde_json::json!(["id"]));
    assert_eq!(report["columns"].as_array().unwrap().len(), 7);

    // One column of one row changed: exactly that key and that column.
    rt.block_on(sql(
        &url_b,
        &["UPDATE items SET price = price + 0.01 WHERE id = 1234"],
    ));
    let r = verify(&[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("id=1234") && r.stdout.contains("changed: price (2.34 → 2.35)"),
        "{}",
        r.stdout
    );
    let report = json(&out);
    assert_eq!(report["verdict"], "different");
    assert_eq!(report["differences"]["total"], 1);
    assert_eq!(report["differences"]["changed"], 1);
    let first = &report["first"][0];
    assert_eq!(first["key"]["id"], "1234");
    assert_eq!(first["kind"], "changed");
    assert_eq!(first["columns"].as_array().unwrap().len(), 1);
    assert_eq!(first["columns"][0]["column"], "price");

    // The change undone, one row deleted: missing in target, nothing else.
    rt.block_on(sql(
        &url_b,
        &[
            "UPDATE items SET price = price - 0.01 WHERE id = 1234",
            "DELETE FROM items WHERE id = 77",
        ],
    ));
    let r = verify(&[]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("id=77") && r.stdout.contains("missing in target"),
        "{}",
        r.stdout
    );
    let report = json(&out);
    assert_eq!(report["differences"]["total"], 1);
    assert_eq!(report["differences"]["missing_in_target"], 1);
    assert_eq!(report["first"][0]["key"]["id"], "77");
    assert_eq!(report["target"]["rows"], ROWS - 1);

    // Replication catching up: the row arrives during the recheck pause.
    let heal = {
        let url_b = url_b.clone();
        rt.spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            sql(&url_b, &[&fill(77, 77)]).await;
        })
    };
    let r = verify(&["--recheck", "--recheck-after", "4s"]);
    rt.block_on(heal).unwrap();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("1 rechecked, 1 caught up"),
        "{}",
        r.stdout
    );
    let report = json(&out);
    assert_eq!(report["recheck"]["cleared"], 1);
    assert_eq!(report["differences"]["total"], 0);
    rt.block_on(pg.stop());
}

async fn dynamo_client(emu: &Emulator) -> aws_sdk_dynamodb::Client {
    let Endpoint::Dynamodb { url, region, .. } = emu.endpoint() else {
        panic!("not a dynamodb endpoint");
    };
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(region.clone()))
        .endpoint_url(url.clone().unwrap())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

#[test]
fn postgres_to_dynamodb_finds_the_missing_item_through_a_mapping() {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(postgres_to_dynamodb());
}

async fn postgres_to_dynamodb() {
    let opts = StartOptions::for_tests();
    let dynamo = [LocalBackend::DynamodbDynalite, LocalBackend::DynamodbMoto]
        .into_iter()
        .find(|b| assay_emulators::availability(*b, &opts.workspace_root).is_ok())
        .unwrap_or(LocalBackend::DynamodbDynalite);
    let (Some(pg), Some(ddb)) = (start(LocalBackend::Postgres).await, start(dynamo).await) else {
        return;
    };
    let url = pg_url(&pg);
    sql(
        &url,
        &[
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer text, total numeric(10, 2), created timestamptz)",
            "INSERT INTO orders SELECT i, 'c' || (i % 17), i * 1.25, \
             timestamptz '2024-05-01 00:00:00+00' + i * interval '1.5 second' FROM generate_series(1, 500) AS i",
        ],
    )
    .await;
    let client = dynamo_client(&ddb).await;
    client
        .create_table()
        .table_name("orders")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    // dynalite creates tables asynchronously.
    for _ in 0..100 {
        let d = client
            .describe_table()
            .table_name("orders")
            .send()
            .await
            .expect("describe");
        if d.table().and_then(|t| t.table_status())
            == Some(&aws_sdk_dynamodb::types::TableStatus::Active)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every order but 321; `created` as epoch milliseconds inside a map.
    let items: Vec<WriteRequest> = (1..=500i64)
        .filter(|i| *i != 321)
        .map(|i| {
            let ms = 1_714_521_600_000i64 + i * 1500;
            let item = HashMap::from([
                ("pk".to_string(), AttributeValue::N(i.to_string())),
                (
                    "customer".to_string(),
                    AttributeValue::S(format!("c{}", i % 17)),
                ),
                (
                    "total".to_string(),
                    AttributeValue::N(format!("{:.2}", i as f64 * 1.25)),
                ),
                (
                    "meta".to_string(),
                    AttributeValue::M(HashMap::from([(
                        "created".to_string(),
                        AttributeValue::N(ms.to_string()),
                    )])),
                ),
            ]);
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    for batch in items.chunks(25) {
        let mut pending = batch.to_vec();
        for _ in 0..20 {
            let out = client
                .batch_write_item()
                .request_items("orders", pending.clone())
                .send()
                .await
                .expect("batch write");
            pending = out
                .unprocessed_items()
                .and_then(|u| u.get("orders"))
                .cloned()
                .unwrap_or_default();
            if pending.is_empty() {
                break;
            }
        }
        assert!(pending.is_empty(), "dynamodb kept refusing a batch");
    }

    let (bare, password) = split_password(&url);
    let Endpoint::Dynamodb {
        url: ddb_url,
        region,
        ..
    } = ddb.endpoint()
    else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.toml");
    std::fs::write(
        &targets,
        format!(
            "[targets.pg]\nfamily = \"postgres\"\nurl = \"{bare}\"\npassword_env = \"VERIFY_PG_PASSWORD\"\n\n\
             [targets.ddb]\nfamily = \"dynamodb\"\nregion = \"{region}\"\nendpoint = \"{}\"\n",
            ddb_url.as_deref().unwrap()
        ),
    )
    .unwrap();
    let map = dir.path().join("map.toml");
    std::fs::write(
        &map,
        "format = 1\nkey = [\"id\"]\n\n[[columns]]\nname = \"id\"\ntarget = \"pk\"\n\n\
         [[columns]]\nname = \"customer\"\n\n[[columns]]\nname = \"total\"\n\n\
         [[columns]]\nname = \"created\"\ntype = \"timestamp\"\ntarget = \"meta.created\"\ntarget_format = \"epoch_ms\"\n",
    )
    .unwrap();
    let out = dir.path().join("verify.json");
    let args: Vec<String> = [
        "verify",
        "--targets",
        targets.to_str().unwrap(),
        "--source",
        "pg",
        "--target",
        "ddb",
        "--table",
        "orders",
        "--map",
        map.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let sandbox = dir.path().to_path_buf();
    // The command blocks; the stand-ins keep serving from this runtime's other threads.
    let r = tokio::task::block_in_place(|| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assay(
            &args,
            &[
                ("VERIFY_PG_PASSWORD", password.as_str()),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
            ],
            &sandbox,
        )
    });
    eprintln!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("id=321") && r.stdout.contains("missing in target"),
        "{}",
        r.stdout
    );
    let report = json(&out);
    assert_eq!(report["differences"]["total"], 1, "{report}");
    assert_eq!(report["differences"]["missing_in_target"], 1);
    assert_eq!(report["first"][0]["key"]["id"], "321");
    assert_eq!(report["source"]["rows"], 500);
    assert_eq!(report["target"]["rows"], 499);
    assert_eq!(report["target"]["family"], "dynamodb");
    assert!(report["target"]["rows_scanned"].as_u64().unwrap() >= 499);
    pg.stop().await;
    ddb.stop().await;
}

#[test]
fn bad_input_is_one_line_with_the_fix_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path();
    let targets = sandbox.join("targets.toml");
    std::fs::write(
        &targets,
        "[targets.aurora]\nfamily = \"postgres\"\nurl = \"postgres://u@db.assay-test.invalid:5432/d\"\n\n\
         [targets.maria]\nfamily = \"mysql\"\nurl = \"mysql://u@127.0.0.1:1/d\"\n",
    )
    .unwrap();
    let bad_map = sandbox.join("map.toml");
    std::fs::write(&bad_map, "[[columns]]\nname = \"a\"\ntype = \"float64\"\n").unwrap();
    let t = targets.to_str().unwrap();
    let m = bad_map.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--source", "postgres", "--target", "postgres"],
            "--table",
        ),
        (
            vec!["--source", "nope", "--target", "postgres", "--table", "t"],
            "--source: unknown target `nope`",
        ),
        (
            vec!["--source", "postgres", "--target", "maria", "--table", "t"],
            "--target maria: verify reads postgres and dynamodb",
        ),
        (
            vec![
                "--source", "postgres", "--target", "postgres", "--table", "t", "--map", m,
            ],
            "map.toml:3:8: type `float64`",
        ),
        (
            vec!["--source", "postgres", "--target", "aurora", "--table", "t"],
            "--allow-real",
        ),
        (
            vec![
                "--source", "postgres", "--target", "postgres", "--table", "t",
            ],
            "assay emulators up postgres",
        ),
        (
            vec![
                "--source",
                "postgres",
                "--target",
                "postgres",
                "--table",
                "t",
                "--recheck",
                "--recheck-after",
                "1h",
            ],
            "at most 5m",
        ),
    ] {
        let mut all = vec!["verify", "--targets", t];
        all.extend(args.iter().copied());
        let r = assay(&all, &[], sandbox);
        assert_eq!(r.code, 2, "{all:?}: {}{}", r.stdout, r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{all:?}: one line: {}", r.stderr);
        assert!(lines[0].contains(needle), "{all:?}: {}", r.stderr);
    }
}
