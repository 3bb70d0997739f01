//! sqllogictest (`.slt`) records on the MySQL wire, through the `sqllogictest` crate's
//! runner: connections that return every value as text (NULL as `NULL`, the empty string as
//! `(empty)`), every record's failure collected instead of stopping at the first.
//!
//! `skipif mysql` / `onlyif mysql` select records; `statement error (SQLSTATE)` matches on
//! the server's SQLSTATE. `system` records are refused: scenario data must not run shell
//! commands. Mirrors the postgres driver's runner, so one `.slt` file shows where the two
//! engines answer differently.

use futures::TryStreamExt;
use sqllogictest::{DBOutput, DefaultColumnType, Record, RecordOutput, Runner};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{Column, ConnectOptions, Either, Executor, Row, TypeInfo};
use std::path::Path;
use std::time::{Duration, Instant};

/// The label `skipif` / `onlyif` test against.
pub(crate) const SLT_ENGINE_LABEL: &str = "mysql";
/// Server-side bound on one statement of an `.slt` file.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Client-side bound on one record (a little past the server's, which normally fires).
const RECORD_TIMEOUT: Duration = Duration::from_secs(12);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One record that did not pass.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SltFailure {
    /// `file:line` of the record.
    pub location: String,
    /// What differed or failed (may span lines: expected and actual results).
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct SltFileResult {
    /// `statement` and `query` records run (skipped ones excluded).
    pub records: u32,
    /// Records left out by `skipif` / `onlyif`.
    pub skipped: u32,
    pub failures: Vec<SltFailure>,
    /// Set when the overall deadline cut the file short.
    pub cut_short: bool,
}

impl SltFileResult {
    pub(crate) fn passed(&self) -> bool {
        self.failures.is_empty() && self.records > 0 && !self.cut_short
    }
}

/// Runs the records of `file` on sessions opened with `options` (already pointing at the
/// file's own database), each statement bounded by `session_sql`, stopping at `deadline`.
pub(crate) async fn run_file(
    options: MySqlConnectOptions,
    session_sql: String,
    file: &Path,
    deadline: Instant,
) -> SltFileResult {
    let mut result = SltFileResult::default();
    let records = match sqllogictest::parse_file::<DefaultColumnType>(file) {
        Ok(r) => r,
        Err(e) => {
            result.failures.push(SltFailure {
                location: e.location().to_string(),
                message: format!("cannot parse: {}", e.kind()),
            });
            return result;
        }
    };
    let mut runner = Runner::new(move || {
        let options = options.clone();
        let session_sql = session_sql.clone();
        async move {
            let open = async {
                let mut conn = options.connect().await?;
                conn.execute(session_sql.as_str()).await?;
                Ok::<_, sqlx::Error>(conn)
            };
            let conn = tokio::time::timeout(CONNECT_TIMEOUT, open)
                .await
                .map_err(|_| {
                    sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting took longer than {CONNECT_TIMEOUT:?}"),
                    ))
                })??;
            Ok::<_, sqlx::Error>(MysqlSlt { conn })
        }
    });
    runner.add_label(SLT_ENGINE_LABEL);
    for record in records {
        let loc = match &record {
            Record::Halt { .. } => break,
            Record::System { loc, .. } => {
                result.failures.push(SltFailure {
                    location: loc.to_string(),
                    message: "`system` records are not run: scenario files must not execute \
                              shell commands; remove it"
                        .into(),
                });
                continue;
            }
            Record::Statement { loc, .. } | Record::Query { loc, .. } => Some(loc.to_string()),
            _ => None,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            result.cut_short = true;
            break;
        }
        let outcome =
            tokio::time::timeout(RECORD_TIMEOUT.min(left), runner.run_async(record)).await;
        let Some(location) = loc else {
            if let Ok(Err(e)) = outcome {
                result.failures.push(SltFailure {
                    location: e.location().to_string(),
                    message: e.kind().display(false).to_string(),
                });
            }
            continue;
        };
        match outcome {
            Ok(Ok(RecordOutput::Nothing)) => result.skipped += 1,
            Ok(Ok(_)) => result.records += 1,
            Ok(Err(e)) => {
                result.records += 1;
                result.failures.push(SltFailure {
                    location: e.location().to_string(),
                    message: e.kind().display(false).to_string(),
                });
            }
            Err(_) => {
                result.records += 1;
                result.failures.push(SltFailure {
                    location,
                    message: format!("no answer within {:?}", RECORD_TIMEOUT.min(left)),
                });
                // The connection may still carry the unanswered statement.
                result.cut_short = true;
                break;
            }
        }
    }
    tokio::time::timeout(Duration::from_secs(5), runner.shutdown_async())
        .await
        .unwrap_or(());
    result
}

/// One `.slt` connection.
struct MysqlSlt {
    conn: MySqlConnection,
}

fn column_type(row: &MySqlRow, i: usize) -> DefaultColumnType {
    let name = row.columns()[i].type_info().name();
    let base = name.strip_suffix(" UNSIGNED").unwrap_or(name);
    match base {
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => DefaultColumnType::Integer,
        "FLOAT" | "DOUBLE" | "DECIMAL" => DefaultColumnType::FloatingPoint,
        "VARCHAR" | "CHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" => {
            DefaultColumnType::Text
        }
        _ => DefaultColumnType::Any,
    }
}

/// A cell as the text protocol sent it; raw bytes, so any column type reads the same way.
fn cell_text(row: &MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    let bytes: Option<&[u8]> = row.try_get_unchecked(i)?;
    Ok(match bytes {
        None => "NULL".to_string(),
        Some([]) => "(empty)".to_string(),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    })
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for MysqlSlt {
    type Error = sqlx::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, sqlx::Error> {
        // A bare `&str` goes over the text protocol: values come back as text.
        let mut stream = self.conn.fetch_many(sql);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut types: Vec<DefaultColumnType> = Vec::new();
        let mut affected = 0u64;
        while let Some(item) = stream.try_next().await? {
            match item {
                Either::Left(done) => affected += done.rows_affected(),
                Either::Right(row) => {
                    if types.is_empty() {
                        types = (0..row.len()).map(|i| column_type(&row, i)).collect();
                    }
                    rows.push(
                        (0..row.len())
                            .map(|i| cell_text(&row, i))
                            .collect::<Result<_, _>>()?,
                    );
                }
            }
        }
        Ok(if rows.is_empty() {
            DBOutput::StatementComplete(affected)
        } else {
            DBOutput::Rows { types, rows }
        })
    }

    async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.execute("ROLLBACK")).await;
    }

    fn engine_name(&self) -> &str {
        SLT_ENGINE_LABEL
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await
    }

    fn error_sql_state(err: &sqlx::Error) -> Option<String> {
        match err {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }
}
