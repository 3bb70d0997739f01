//! What the SQL drivers' sqllogictest (`.slt`) runners share, on the `sqllogictest`
//! crate's runner: parsing a file, the per-record loop (every record's failure collected
//! instead of stopping at the first, each record bounded in time, `system` records
//! refused: scenario data must not run shell commands) and the connection the runner
//! talks to, which reads every result over the text protocol (NULL as `NULL`, the empty
//! string as `(empty)`) and matches `statement error (SQLSTATE)` on the server's code.
//!
//! Each driver supplies only its dialect ([`SltDialect`]: the `skipif` / `onlyif` label,
//! its server's column type names, how a text cell decodes) and how a session is opened
//! (schema or database of the file, statement timeout).

use futures::TryStreamExt;
use serde::Serialize;
use sqllogictest::{
    AsyncDB, DBOutput, DefaultColumnType, MakeConnection, Record, RecordOutput, Runner,
};
use sqlx::{Database, Either, Executor, Row};
use std::future::Future;
use std::marker::PhantomData;
use std::path::Path;
use std::time::{Duration, Instant};

/// Server-side bound on one statement of an `.slt` file.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Client-side bound on one record (a little past the server's, which normally fires).
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(12);
/// Bound on opening one `.slt` session.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One record that did not pass.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SltFailure {
    /// `file:line` of the record.
    pub location: String,
    /// What differed or failed (may span lines: expected and actual results).
    pub message: String,
}

/// What running a file's records gave.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SltRecords {
    /// `statement` and `query` records run (skipped ones excluded).
    pub records: u32,
    /// Records left out by `skipif` / `onlyif`.
    pub skipped: u32,
    pub failures: Vec<SltFailure>,
    /// Set when the deadline or an unanswered record cut the file short.
    pub cut_short: bool,
}

impl SltRecords {
    /// At least one record ran, none failed, and the file ran to its end.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.records > 0 && !self.cut_short
    }
}

/// The records of `file`, or the parse error as the file's failure.
pub fn parse_file(file: &Path) -> Result<Vec<Record<DefaultColumnType>>, SltFailure> {
    sqllogictest::parse_file::<DefaultColumnType>(file).map_err(|e| SltFailure {
        location: e.location().to_string(),
        message: format!("cannot parse: {}", e.kind()),
    })
}

/// Runs `records` on sessions from `make_conn`, labelled `D::LABEL`, each record bounded by
/// [`RECORD_TIMEOUT`] and, when given, by what is left until `deadline`; then shuts the
/// sessions down.
pub async fn run_records<D, M>(
    make_conn: M,
    records: Vec<Record<DefaultColumnType>>,
    deadline: Option<Instant>,
) -> SltRecords
where
    D: SltDialect,
    M: MakeConnection<Conn = SltConnection<D>>,
    SltConnection<D>: AsyncDB<ColumnType = DefaultColumnType>,
{
    let mut result = SltRecords::default();
    let mut runner = Runner::new(make_conn);
    runner.add_label(D::LABEL);
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
        let limit = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    result.cut_short = true;
                    break;
                }
                RECORD_TIMEOUT.min(left)
            }
            None => RECORD_TIMEOUT,
        };
        let outcome = tokio::time::timeout(limit, runner.run_async(record)).await;
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
                    message: format!("no answer within {limit:?}"),
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

/// Opening an `.slt` session, bounded by [`CONNECT_TIMEOUT`].
pub async fn connect_within_timeout<C>(
    open: impl Future<Output = Result<C, sqlx::Error>>,
) -> Result<C, sqlx::Error> {
    tokio::time::timeout(CONNECT_TIMEOUT, open)
        .await
        .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting took longer than {CONNECT_TIMEOUT:?}"),
            ))
        })?
}

/// What a SQL driver tells the shared `.slt` connection about its server.
pub trait SltDialect: Send + Sync + 'static {
    type Database: Database;
    /// The label `skipif` / `onlyif` test against, and the runner's engine name.
    const LABEL: &'static str;
    /// How the server's name for column `i`'s type maps onto sqllogictest's types.
    fn column_type(row: &<Self::Database as Database>::Row, i: usize) -> DefaultColumnType;
    /// Cell `i` as the text protocol sent it: `NULL`, `(empty)` or the text.
    fn cell_text(row: &<Self::Database as Database>::Row, i: usize) -> Result<String, sqlx::Error>;
    /// Rows a statement changed.
    fn rows_affected(done: &<Self::Database as Database>::QueryResult) -> u64;
}

/// One `.slt` session on a driver's server.
pub struct SltConnection<D: SltDialect> {
    conn: <D::Database as Database>::Connection,
    dialect: PhantomData<D>,
}

impl<D: SltDialect> SltConnection<D> {
    pub fn new(conn: <D::Database as Database>::Connection) -> Self {
        SltConnection {
            conn,
            dialect: PhantomData,
        }
    }
}

#[async_trait::async_trait]
impl<D: SltDialect> AsyncDB for SltConnection<D>
where
    for<'c> &'c mut <D::Database as Database>::Connection: Executor<'c, Database = D::Database>,
{
    type Error = sqlx::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, sqlx::Error> {
        // A bare `&str` goes over the simple / text protocol: values come back as text.
        let mut stream = self.conn.fetch_many(sql);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut types: Vec<DefaultColumnType> = Vec::new();
        let mut affected = 0u64;
        while let Some(item) = stream.try_next().await? {
            match item {
                Either::Left(done) => affected += D::rows_affected(&done),
                Either::Right(row) => {
                    if types.is_empty() {
                        types = (0..row.len()).map(|i| D::column_type(&row, i)).collect();
                    }
                    rows.push(
                        (0..row.len())
                            .map(|i| D::cell_text(&row, i))
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
        D::LABEL
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_needs_a_record_no_failure_and_the_whole_file() {
        let ran = SltRecords {
            records: 2,
            ..SltRecords::default()
        };
        assert!(ran.passed());
        assert!(!SltRecords::default().passed());
        let cut = SltRecords {
            cut_short: true,
            ..ran.clone()
        };
        assert!(!cut.passed());
        let failed = SltRecords {
            failures: vec![SltFailure {
                location: "a.slt:1".into(),
                message: "differs".into(),
            }],
            ..ran
        };
        assert!(!failed.passed());
    }

    #[test]
    fn a_file_that_does_not_parse_is_its_failure() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.slt");
        std::fs::write(&file, "statement frobnicate\nSELECT 1\n").unwrap();
        let failure = parse_file(&file).unwrap_err();
        assert!(failure.message.starts_with("cannot parse"), "{failure:?}");
        assert!(failure.location.contains("bad.slt"), "{failure:?}");
    }
}
