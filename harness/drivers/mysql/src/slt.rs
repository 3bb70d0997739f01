//! sqllogictest (`.slt`) records on the MySQL wire, on the SQL drivers' shared runner
//! (`assay_sql_common::slt`: the record loop, text results, SQLSTATE matching, `system`
//! records refused). This module holds the MySQL dialect: the `mysql` label for `skipif` /
//! `onlyif`, MySQL's column type names, and text-protocol cells read as raw bytes. Shares
//! its runner with the postgres driver, so one `.slt` file shows where the two engines
//! answer differently.

use assay_sql_common::slt::{self as shared, SltConnection, SltDialect};
use sqllogictest::DefaultColumnType;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlQueryResult, MySqlRow};
use sqlx::{Column, ConnectOptions, Executor, Row, TypeInfo};
use std::path::Path;
use std::time::Instant;

pub(crate) use assay_sql_common::slt::{SltRecords as SltFileResult, STATEMENT_TIMEOUT};

/// The label `skipif` / `onlyif` test against.
pub(crate) const SLT_ENGINE_LABEL: &str = "mysql";

/// Runs the records of `file` on sessions opened with `options` (already pointing at the
/// file's own database), each statement bounded by `session_sql`, stopping at `deadline`.
pub(crate) async fn run_file(
    options: MySqlConnectOptions,
    session_sql: String,
    file: &Path,
    deadline: Instant,
) -> SltFileResult {
    let records = match shared::parse_file(file) {
        Ok(r) => r,
        Err(failure) => {
            return SltFileResult {
                failures: vec![failure],
                ..SltFileResult::default()
            }
        }
    };
    let make_conn = move || {
        let options = options.clone();
        let session_sql = session_sql.clone();
        async move {
            let conn = shared::connect_within_timeout(async {
                let mut conn = options.connect().await?;
                conn.execute(session_sql.as_str()).await?;
                Ok(conn)
            })
            .await?;
            Ok::<_, sqlx::Error>(SltConnection::<MysqlSlt>::new(conn))
        }
    };
    shared::run_records(make_conn, records, Some(deadline)).await
}

/// MySQL's side of an `.slt` connection.
struct MysqlSlt;

impl SltDialect for MysqlSlt {
    type Database = MySql;
    const LABEL: &'static str = SLT_ENGINE_LABEL;

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

    fn rows_affected(done: &MySqlQueryResult) -> u64 {
        done.rows_affected()
    }
}
