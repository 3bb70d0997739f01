//! The Hermitage-style isolation suite on the PostgreSQL wire: PostgreSQL's dialect for the
//! SQL drivers' shared runner (`assay_sql_common::isolation`, which opens the sessions,
//! sends the steps in order, settles and judges). What is PostgreSQL's here: a schema per
//! run (`search_path`), `statement_timeout`, `BEGIN ISOLATION LEVEL …`, lock waits read
//! from `pg_blocking_pids`, stuck sessions ended with `pg_terminate_backend`, and which
//! SQLSTATEs are conflicts (class 40, class 23, and 25P02 for the statements after one).
//! READ UNCOMMITTED is READ COMMITTED in PostgreSQL, so it is not run by default.
//!
//! Statement results are read as text over the simple query protocol, so every value is
//! compared the way `psql` prints it.

use crate::classify::{self, one_line};
use assay_core::isolation::{IsolationLevel, IsolationMatrix, IsolationTest, ObservedResult};
use assay_core::{DriverError, Endpoint};
pub use assay_sql_common::isolation::{load_isolation_tests, IsolationRunOptions};
use assay_sql_common::isolation::{
    run_suite, IsolationConn, IsolationDialect, ProfileRun, Ran, CONNECT_TIMEOUT,
};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{ConnectOptions, Connection, Executor, Row, ValueRef};
use std::str::FromStr;
use std::time::Duration;

/// The profile whose documented verdicts PostgreSQL runs are compared with.
pub const POSTGRES_PROFILE: &str = "postgres";
/// The levels PostgreSQL offers as distinct behaviours (READ UNCOMMITTED is READ COMMITTED).
pub const POSTGRES_ISOLATION_LEVELS: [IsolationLevel; 3] = [
    IsolationLevel::ReadCommitted,
    IsolationLevel::RepeatableRead,
    IsolationLevel::Serializable,
];

/// Runs `tests` at each of `levels` against the PostgreSQL `endpoint` (its primary) and
/// compares every cell with the tests' `expected.postgres` verdicts.
///
/// `Err` only when the suite cannot run at all (wrong endpoint, server unreachable, two tests
/// with the same anomaly name); a test that cannot run at one level is an error *cell*, which
/// fails the matrix like any other difference.
pub async fn run_isolation_suite(
    endpoint: &Endpoint,
    tests: &[IsolationTest],
    levels: &[IsolationLevel],
) -> Result<IsolationMatrix, DriverError> {
    let options = IsolationRunOptions::for_profile(POSTGRES_PROFILE);
    run_isolation_suite_with(endpoint, tests, levels, &options).await
}

/// [`run_isolation_suite`] with explicit options (another profile, other bounds).
pub async fn run_isolation_suite_with(
    endpoint: &Endpoint,
    tests: &[IsolationTest],
    levels: &[IsolationLevel],
    options: &IsolationRunOptions,
) -> Result<IsolationMatrix, DriverError> {
    let dialect = PostgresIsolation {
        connect: connect_options(endpoint)?,
    };
    let runs = [ProfileRun::plain(&options.profile, levels)];
    run_suite(&dialect, tests, &runs, options).await
}

fn connect_options(endpoint: &Endpoint) -> Result<PgConnectOptions, DriverError> {
    let Endpoint::Postgres { url, .. } = endpoint else {
        return Err(DriverError::config(format!(
            "the isolation suite needs a postgres endpoint, not {}",
            endpoint.display_safe()
        )));
    };
    PgConnectOptions::from_str(url.expose())
        .map(|o| o.application_name("assay-isolation"))
        .map_err(|e| classify::connect_error(&e, "primary", "(unparsed url)"))
}

/// Errors a statement may end with as part of PostgreSQL preventing an anomaly: class 40
/// (serialization failure, deadlock), 25P02 (statements after such an error in the same
/// transaction) and class 23 (a constraint stopped a conflicting write). Any other error
/// means the test itself is broken (a typo, a missing table), so its verdict is not trusted.
pub fn is_conflict_sqlstate(sqlstate: &str) -> bool {
    sqlstate.starts_with("40") || sqlstate.starts_with("23") || sqlstate == "25P02"
}

struct PostgresIsolation {
    connect: PgConnectOptions,
}

#[async_trait]
impl IsolationDialect for PostgresIsolation {
    fn key(&self) -> &'static str {
        "postgres"
    }

    async fn connect(&self) -> Result<Box<dyn IsolationConn>, DriverError> {
        let addr = format!("{}:{}", self.connect.get_host(), self.connect.get_port());
        let conn = match tokio::time::timeout(CONNECT_TIMEOUT, self.connect.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(classify::connect_error(&e, "primary", &addr)),
            Err(_) => {
                return Err(classify::connect_timeout_error(
                    "primary",
                    &addr,
                    CONNECT_TIMEOUT,
                ))
            }
        };
        Ok(Box::new(PgSession(conn)))
    }

    fn admin_setup(&self, statement_timeout: Duration) -> Vec<String> {
        vec![format!(
            "SET statement_timeout = '{}ms'",
            statement_timeout.as_millis().max(1)
        )]
    }

    fn create_namespace(&self, name: &str) -> Vec<String> {
        vec![
            format!("CREATE SCHEMA {name}"),
            format!("SET search_path TO {name}"),
        ]
    }

    fn drop_namespace(&self, name: &str) -> String {
        format!("DROP SCHEMA IF EXISTS {name} CASCADE")
    }

    fn session_setup(&self, namespace: &str, statement_timeout: Duration) -> Vec<String> {
        vec![
            format!("SET search_path TO {namespace}"),
            format!(
                "SET statement_timeout = '{}ms'",
                statement_timeout.as_millis().max(1)
            ),
        ]
    }

    fn session_id_sql(&self) -> &'static str {
        "SELECT pg_backend_pid()"
    }

    fn begin(&self, level: IsolationLevel) -> Vec<String> {
        vec![format!("BEGIN ISOLATION LEVEL {}", level.sql())]
    }

    fn waiting_sql(&self, ids: &[i64]) -> String {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        format!(
            "SELECT p FROM unnest(ARRAY[{}]::int4[]) AS p WHERE cardinality(pg_blocking_pids(p)) > 0",
            list.join(",")
        )
    }

    fn lock_poll(&self) -> Duration {
        Duration::from_millis(5)
    }

    fn terminate_sql(&self, id: i64) -> String {
        format!("SELECT pg_terminate_backend({id})")
    }

    fn in_transaction_sql(&self) -> Option<&'static str> {
        // A failed transaction stays open (25P02) until its end.
        None
    }
}

/// One session or admin connection; statements over the simple query protocol.
struct PgSession(PgConnection);

#[async_trait]
impl IsolationConn for PgSession {
    async fn run(&mut self, sql: &str) -> Ran {
        // A bare `&str` has no arguments, so sqlx sends it as a simple query (text results).
        Ran::from_fetch(self.0.fetch_all(sql).await, row_text, error_ran)
    }

    async fn close(self: Box<Self>) {
        let _ = self.0.close().await;
    }
}

/// A row's values as text; NULL as `NULL`.
fn row_text(row: &PgRow) -> Result<Vec<String>, String> {
    (0..row.len())
        .map(|i| {
            let v = row.try_get_raw(i).map_err(|e| e.to_string())?;
            if v.is_null() {
                return Ok("NULL".to_string());
            }
            v.as_str().map(str::to_string).map_err(|e| e.to_string())
        })
        .collect()
}

fn error_ran(e: &sqlx::Error) -> Ran {
    let result = match e {
        sqlx::Error::Database(db) => ObservedResult::Error {
            sqlstate: db.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: one_line(db.message()),
        },
        other => ObservedResult::Error {
            sqlstate: String::new(),
            message: one_line(&other.to_string()),
        },
    };
    let conflict =
        matches!(&result, ObservedResult::Error { sqlstate, .. } if is_conflict_sqlstate(sqlstate));
    Ran {
        result,
        conflict,
        ends_transaction: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_errors_are_told_from_broken_tests() {
        for code in ["40001", "40P01", "23505", "25P02"] {
            assert!(is_conflict_sqlstate(code), "{code}");
        }
        for code in ["42601", "42P01", "57014", "08006", ""] {
            assert!(!is_conflict_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn the_lock_wait_query_names_every_session() {
        let d = PostgresIsolation {
            connect: PgConnectOptions::new(),
        };
        assert_eq!(
            d.waiting_sql(&[101, 102]),
            "SELECT p FROM unnest(ARRAY[101,102]::int4[]) AS p WHERE cardinality(pg_blocking_pids(p)) > 0"
        );
        assert_eq!(
            d.begin(IsolationLevel::RepeatableRead),
            ["BEGIN ISOLATION LEVEL REPEATABLE READ"]
        );
    }
}
