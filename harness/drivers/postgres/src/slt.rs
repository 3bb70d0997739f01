//! sqllogictest (`.slt`) files on the PostgreSQL wire, on the SQL drivers' shared runner
//! (`assay_sql_common::slt`: the record loop, text results, SQLSTATE matching, `system`
//! records refused): each file runs in a schema of its own (dropped afterwards), and the
//! report says per file what ran and what failed. This module holds the PostgreSQL side:
//! the `postgres` label for `skipif` / `onlyif`, the schema per file, PostgreSQL's column
//! type names and how its text cells decode.

use crate::classify;
use assay_core::{DriverError, Endpoint};
use assay_sql_common::slt::{self as shared, SltConnection, SltDialect, STATEMENT_TIMEOUT};
use serde::Serialize;
use sqllogictest::{DefaultColumnType, Record};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgQueryResult, PgRow, Postgres};
use sqlx::{Column, ConnectOptions, Connection, Executor, Row, TypeInfo, ValueRef};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use assay_sql_common::slt::SltFailure;

/// The label `skipif` / `onlyif` test against.
pub const SLT_ENGINE_LABEL: &str = "postgres";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SltFileResult {
    pub file: String,
    /// `statement` and `query` records run (skipped ones excluded).
    pub records: u32,
    /// Records left out by `skipif` / `onlyif`.
    pub skipped: u32,
    pub failures: Vec<SltFailure>,
    pub duration_ms: u64,
}

impl SltFileResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.records > 0
    }
}

/// The outcome of running `.slt` files; `Display` is one line per file plus each failure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SltReport {
    pub engine: String,
    pub files: Vec<SltFileResult>,
}

impl SltReport {
    /// Every file ran at least one record and none failed (and there was a file).
    pub fn passed(&self) -> bool {
        !self.files.is_empty() && self.files.iter().all(SltFileResult::passed)
    }

    pub fn failures(&self) -> usize {
        self.files.iter().map(|f| f.failures.len()).sum()
    }
}

impl fmt::Display for SltReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.files.iter().map(|r| r.file.len()).max().unwrap_or(0);
        for r in &self.files {
            let verdict = if r.passed() {
                "pass"
            } else if r.records == 0 && r.failures.is_empty() {
                "fail (no records ran)"
            } else {
                "fail"
            };
            writeln!(
                f,
                "{:<width$}  {:>4} records  {:>3} skipped  {:>3} failed  {verdict}",
                r.file,
                r.records,
                r.skipped,
                r.failures.len()
            )?;
            for failure in &r.failures {
                writeln!(f, "  {}:", failure.location)?;
                for line in failure.message.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        let passed = self.files.iter().filter(|r| r.passed()).count();
        write!(
            f,
            "{passed} of {} .slt file(s) passed on {}",
            self.files.len(),
            self.engine
        )
    }
}

/// Every `*.slt` below `dir` (recursive), sorted.
pub fn find_slt_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: u32) -> std::io::Result<()> {
        // Bounded, so a symlink loop cannot recurse forever.
        if depth > 16 {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out, depth + 1)?;
            } else if path.extension().is_some_and(|e| e == "slt") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out, 0)?;
    out.sort();
    Ok(out)
}

/// Runs each `.slt` file against the PostgreSQL `endpoint` (its primary), each in a fresh
/// schema. `Err` only when nothing can run (wrong endpoint, server unreachable); a file
/// that cannot be read or parsed is a failed file in the report.
pub async fn run_slt(endpoint: &Endpoint, files: &[PathBuf]) -> Result<SltReport, DriverError> {
    let Endpoint::Postgres { url, .. } = endpoint else {
        return Err(DriverError::config(format!(
            ".slt files need a postgres endpoint, not {}",
            endpoint.display_safe()
        )));
    };
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(|e| classify::connect_error(&e, "primary", "(unparsed url)"))?
        .application_name("assay-slt")
        .options([(
            "statement_timeout",
            format!("{}ms", STATEMENT_TIMEOUT.as_millis()),
        )]);
    let mut admin = connect(&options).await?;
    let mut results = Vec::with_capacity(files.len());
    for file in files {
        results.push(run_file(&mut admin, &options, file).await);
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), admin.close()).await;
    Ok(SltReport {
        engine: SLT_ENGINE_LABEL.to_string(),
        files: results,
    })
}

async fn connect(options: &PgConnectOptions) -> Result<PgConnection, DriverError> {
    let addr = format!("{}:{}", options.get_host(), options.get_port());
    match tokio::time::timeout(shared::CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(classify::connect_error(&e, "primary", &addr)),
        Err(_) => Err(classify::connect_timeout_error(
            "primary",
            &addr,
            shared::CONNECT_TIMEOUT,
        )),
    }
}

fn fresh_schema() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "assay_slt_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn run_file(
    admin: &mut PgConnection,
    options: &PgConnectOptions,
    file: &Path,
) -> SltFileResult {
    let started = Instant::now();
    let label = file.display().to_string();
    let mut result = SltFileResult {
        file: label.clone(),
        records: 0,
        skipped: 0,
        failures: Vec::new(),
        duration_ms: 0,
    };
    let schema = fresh_schema();
    let fail = |message: String| SltFailure {
        location: label.clone(),
        message,
    };
    match shared::parse_file(file) {
        Err(failure) => result.failures.push(failure),
        Ok(records) => match admin.execute(&*format!("CREATE SCHEMA {schema}")).await {
            Err(e) => result
                .failures
                .push(fail(format!("creating schema {schema} failed: {e}"))),
            Ok(_) => {
                run_records(options, &schema, records, &mut result).await;
                if let Err(e) = admin
                    .execute(&*format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
                {
                    result.failures.push(fail(format!(
                        "dropping schema {schema} failed: {e}; drop it by hand"
                    )));
                }
            }
        },
    }
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

async fn run_records(
    options: &PgConnectOptions,
    schema: &str,
    records: Vec<Record<DefaultColumnType>>,
    result: &mut SltFileResult,
) {
    let session = options
        .clone()
        .options([("search_path", schema.to_string())]);
    let make_conn = move || {
        let session = session.clone();
        async move {
            let conn = shared::connect_within_timeout(session.connect()).await?;
            Ok::<_, sqlx::Error>(SltConnection::<PgSlt>::new(conn))
        }
    };
    // No deadline of its own: a file ends at its last record or its first unanswered one.
    let ran = shared::run_records(make_conn, records, None).await;
    result.records += ran.records;
    result.skipped += ran.skipped;
    result.failures.extend(ran.failures);
}

/// PostgreSQL's side of an `.slt` connection.
struct PgSlt;

impl SltDialect for PgSlt {
    type Database = Postgres;
    const LABEL: &'static str = SLT_ENGINE_LABEL;

    fn column_type(row: &PgRow, i: usize) -> DefaultColumnType {
        match row.columns()[i].type_info().name() {
            "INT2" | "INT4" | "INT8" => DefaultColumnType::Integer,
            "FLOAT4" | "FLOAT8" | "NUMERIC" => DefaultColumnType::FloatingPoint,
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => DefaultColumnType::Text,
            _ => DefaultColumnType::Any,
        }
    }

    fn cell_text(row: &PgRow, i: usize) -> Result<String, sqlx::Error> {
        let v = row.try_get_raw(i)?;
        if v.is_null() {
            return Ok("NULL".to_string());
        }
        let text = v.as_str().map_err(sqlx::Error::Decode)?;
        Ok(if text.is_empty() {
            "(empty)".to_string()
        } else {
            text.to_string()
        })
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }
}
