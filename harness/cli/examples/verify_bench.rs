//! `cargo run --release -p assay-cli --example verify_bench`: measured figures of
//! `assay verify`'s compare (the code path of the command, in this process).
//!
//! 1. PostgreSQL ↔ PostgreSQL: `--rows` rows (default 1,000,000) in two schemas of one
//!    local PostgreSQL (started through the emulators crate), one row changed in one
//!    column; elapsed, rows/s per side, and the peak RSS of the compare (VmHWM from
//!    /proc/self/status, reset through /proc/self/clear_refs after the data is loaded).
//! 2. PostgreSQL ↔ DynamoDB stand-in: `--dynamodb-rows` rows (default 100,000) in
//!    PostgreSQL and the same items but one in dynalite (`--dynamodb moto` for moto);
//!    elapsed, rows/s per side, consumed capacity. `--skip-dynamodb` leaves it out.
//!
//! Every number printed is measured in this run; the load times are printed apart and
//! are not part of the compare's.

use assay_core::verify::TableSource;
use assay_core::{Endpoint, LocalBackend};
use assay_driver_dynamodb::DynamoTableSource;
use assay_driver_postgres::PgTableSource;
use assay_emulators::{Emulator, Mode, StartOptions};
use assay_verify::{compare, Options, Request, Side, SideInfo};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, TableStatus, WriteRequest,
};
use futures::StreamExt;
use sqlx::{Connection, Executor, PgConnection};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Args {
    rows: i64,
    dynamodb_rows: i64,
    dynamodb: LocalBackend,
    skip_dynamodb: bool,
    parallel: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        rows: 1_000_000,
        dynamodb_rows: 100_000,
        dynamodb: LocalBackend::DynamodbDynalite,
        skip_dynamodb: false,
        parallel: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<i64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|n: &i64| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive whole number"))
        };
        match arg.as_str() {
            "--rows" => a.rows = num("--rows")?,
            "--dynamodb-rows" => a.dynamodb_rows = num("--dynamodb-rows")?,
            "--parallel" => a.parallel = num("--parallel")?.min(64) as usize,
            "--skip-dynamodb" => a.skip_dynamodb = true,
            "--dynamodb" => {
                a.dynamodb = match it.next().as_deref() {
                    Some("dynalite") => LocalBackend::DynamodbDynalite,
                    Some("moto") => LocalBackend::DynamodbMoto,
                    _ => return Err("--dynamodb takes dynalite or moto".into()),
                }
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    Ok(a)
}

/// Peak resident set size of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// Resident set size now (VmRSS), in MiB.
fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Resets VmHWM to the current RSS (Linux: `5` into clear_refs), so the next reading is
/// the peak of what runs from now on.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn options() -> StartOptions {
    let root = assay_emulators::workspace_root_of_this_checkout();
    StartOptions {
        run_dir: root.join(format!("target/assay/verify-bench/{}", std::process::id())),
        mode: Mode::Native,
        workspace_root: root,
    }
}

fn pg_url(emu: &Emulator) -> String {
    match emu.endpoint() {
        Endpoint::Postgres { url, .. } => url.expose().to_string(),
        other => panic!("not a postgres endpoint: {other:?}"),
    }
}

async fn sql(url: &str, statements: &[String]) -> Result<(), String> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    for s in statements {
        conn.execute(s.as_str())
            .await
            .map_err(|e| format!("{s}: {e}"))?;
    }
    Ok(())
}

fn table(schema: &str) -> String {
    format!(
        "CREATE TABLE {schema}.items (id bigint PRIMARY KEY, name text, price numeric(12, 2), \
         qty int, active boolean, updated_at timestamptz, payload bytea)"
    )
}

fn fill(schema: &str, rows: i64) -> String {
    format!(
        "INSERT INTO {schema}.items SELECT i, 'name-' || i, (i % 10000) / 100.0, i % 97, i % 2 = 0, \
         timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', decode(md5(i::text), 'hex') \
         FROM generate_series(1, {rows}) AS i"
    )
}

/// Runs the compare as `assay verify` does and prints its report and figures.
async fn measure(
    label: &str,
    source: &dyn TableSource,
    target: &dyn TableSource,
    tables: (&str, &str),
    mapping: Option<&assay_core::verify::mapping::Mapping>,
) -> Result<bool, String> {
    let reset = reset_peak_rss();
    let rss_before = rss_mib();
    let started = Instant::now();
    let (s, t) = futures::try_join!(source.describe(tables.0), target.describe(tables.1))
        .map_err(|e| e.message)?;
    let request = Request {
        mapping,
        ..Request::default()
    };
    let plans = assay_verify::resolve(&request, &s, &t).map_err(|e| e.message)?;
    let outcome = compare(
        Side {
            source,
            plan: &plans.source,
        },
        Side {
            source: target,
            plan: &plans.target,
        },
        &Options::default(),
        &|line| eprintln!("  … {line}"),
    )
    .await
    .map_err(|e| e.message)?;
    let elapsed = started.elapsed();
    let info = |family: &str, table: &str| SideInfo {
        target: family.to_string(),
        family: family.to_string(),
        endpoint: "local stand-in".into(),
        table: table.to_string(),
    };
    let report = assay_verify::build_report(
        (
            info(source.family(), &s.table),
            info(target.family(), &t.table),
        ),
        (source.stats(), target.stats()),
        &plans,
        &outcome,
        elapsed,
    );
    println!("\n== {label}");
    print!("{}", assay_verify::render_text(&report, false));
    println!(
        "figures: elapsed {:.2} s · source {:.0} rows/s · target {:.0} rows/s · peak RSS {}",
        elapsed.as_secs_f64(),
        report.source.rows_per_s,
        report.target.rows_per_s,
        match (reset, peak_rss_mib()) {
            (true, Some(mib)) => format!(
                "{mib:.1} MiB (VmHWM during the compare; {} MiB resident when it began)",
                rss_before.map_or("?".into(), |r| format!("{r:.1}"))
            ),
            (false, Some(mib)) =>
                format!("{mib:.1} MiB (VmHWM of the whole process: clear_refs refused)"),
            (_, None) => "not readable (/proc/self/status)".into(),
        }
    );
    Ok(outcome.totals.total() == 1)
}

async fn postgres_figure(pg: &Emulator, a: &Args) -> Result<bool, String> {
    let url = pg_url(pg);
    let started = Instant::now();
    sql(
        &url,
        &[
            "CREATE SCHEMA bench_a".into(),
            "CREATE SCHEMA bench_b".into(),
            table("bench_a"),
            table("bench_b"),
            fill("bench_a", a.rows),
            fill("bench_b", a.rows),
            format!(
                "UPDATE bench_b.items SET name = 'changed' WHERE id = {}",
                a.rows / 2
            ),
            "ANALYZE bench_a.items".into(),
            "ANALYZE bench_b.items".into(),
        ],
    )
    .await?;
    eprintln!(
        "loaded {} rows into bench_a.items and bench_b.items in {:.1} s (not part of the figures)",
        a.rows,
        started.elapsed().as_secs_f64()
    );
    let source = PgTableSource::connect(pg.endpoint(), a.parallel)
        .await
        .map_err(|e| e.message)?;
    let target = PgTableSource::connect(pg.endpoint(), a.parallel)
        .await
        .map_err(|e| e.message)?;
    measure(
        &format!("PostgreSQL ↔ PostgreSQL, {} rows, one changed", a.rows),
        &source,
        &target,
        ("bench_a.items", "bench_b.items"),
        None,
    )
    .await
}

async fn dynamodb_figure(pg: &Emulator, ddb: &Emulator, a: &Args) -> Result<bool, String> {
    let url = pg_url(pg);
    let n = a.dynamodb_rows;
    let missing = n / 3;
    sql(
        &url,
        &[
            "CREATE SCHEMA bench_c".into(),
            table("bench_c"),
            fill("bench_c", n),
        ],
    )
    .await?;
    let Endpoint::Dynamodb {
        url: ddb_url,
        region,
        ..
    } = ddb.endpoint()
    else {
        return Err("not a dynamodb endpoint".into());
    };
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new(region.clone()))
        .endpoint_url(ddb_url.clone().unwrap_or_default())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    client
        .create_table()
        .table_name("items")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| format!("CreateTable: {e:?}"))?;
    for _ in 0..200 {
        let d = client
            .describe_table()
            .table_name("items")
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let epoch_2024 = 1_704_067_200i64;
    let item = |i: i64| -> WriteRequest {
        let map = HashMap::from([
            ("id".to_string(), AttributeValue::N(i.to_string())),
            ("name".to_string(), AttributeValue::S(format!("name-{i}"))),
            (
                "price".to_string(),
                AttributeValue::N(format!("{}.{:02}", (i % 10000) / 100, (i % 10000) % 100)),
            ),
            ("qty".to_string(), AttributeValue::N((i % 97).to_string())),
            ("active".to_string(), AttributeValue::Bool(i % 2 == 0)),
            (
                "updated_at".to_string(),
                AttributeValue::S(assay_core::verify::value::format_rfc3339(
                    i128::from(epoch_2024 + i) * 1_000_000_000,
                )),
            ),
        ]);
        WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .set_item(Some(map))
                    .build()
                    .expect("an item"),
            )
            .build()
    };
    let batches: Vec<Vec<WriteRequest>> = (1..=n)
        .filter(|i| *i != missing)
        .map(item)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(<[WriteRequest]>::to_vec)
        .collect();
    let results: Vec<Result<(), String>> = futures::stream::iter(batches)
        .map(|batch| {
            let client = client.clone();
            async move {
                let mut pending = batch;
                for round in 0..50u32 {
                    if round > 0 {
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(round.min(10))))
                            .await;
                    }
                    let out = client
                        .batch_write_item()
                        .request_items("items", pending.clone())
                        .send()
                        .await
                        .map_err(|e| format!("BatchWriteItem: {e:?}"))?;
                    pending = out
                        .unprocessed_items()
                        .and_then(|u| u.get("items"))
                        .cloned()
                        .unwrap_or_default();
                    if pending.is_empty() {
                        return Ok(());
                    }
                }
                Err("BatchWriteItem kept items unprocessed".into())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>, String>>()?;
    eprintln!(
        "loaded {} items into {} and {n} rows into bench_c.items in {:.1} s (not part of the figures)",
        n - 1,
        ddb.backend(),
        started.elapsed().as_secs_f64()
    );
    // The DynamoDB side has no schema: compare the columns both have (not the bytea).
    let mapping = assay_core::verify::mapping::parse(
        "[[columns]]\nname = \"id\"\n[[columns]]\nname = \"name\"\n[[columns]]\nname = \"price\"\n\
         [[columns]]\nname = \"qty\"\n[[columns]]\nname = \"active\"\n[[columns]]\nname = \"updated_at\"\n",
        "bench-map.toml",
    )
    .map_err(|e| e.to_string())?;
    let source = PgTableSource::connect(pg.endpoint(), a.parallel)
        .await
        .map_err(|e| e.message)?;
    let target = DynamoTableSource::connect(ddb.endpoint(), a.parallel)
        .await
        .map_err(|e| e.message)?;
    measure(
        &format!(
            "PostgreSQL ↔ {} (DynamoDB API), {n} rows, one item missing",
            ddb.backend()
        ),
        &source,
        &target,
        ("bench_c.items", "items"),
        Some(&mapping),
    )
    .await
}

async fn run(a: Args) -> Result<bool, String> {
    let opts = options();
    let pg = Emulator::start(LocalBackend::Postgres, &opts)
        .await
        .map_err(|e| format!("PostgreSQL did not start: {e}"))?;
    let mut found = postgres_figure(&pg, &a).await;
    if !a.skip_dynamodb && found.is_ok() {
        match Emulator::start(a.dynamodb, &opts).await {
            Ok(ddb) => {
                let f = dynamodb_figure(&pg, &ddb, &a).await;
                ddb.stop().await;
                found = found.and_then(|ok| f.map(|g| ok && g));
            }
            Err(e) => found = Err(format!("{} did not start: {e}", a.dynamodb)),
        }
    }
    pg.stop().await;
    found
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("verify_bench: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("verify_bench: the compare did not find exactly the one planted difference");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("verify_bench: {e}");
            ExitCode::from(2)
        }
    }
}
