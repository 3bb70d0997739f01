//! The Hermitage-style isolation suite on the MySQL wire (MariaDB locally): MySQL's
//! dialect for the SQL drivers' shared runner (`assay_sql_common::isolation`). What is
//! MySQL's here: a database per run (`USE`), the statement bound (`max_statement_time` on
//! MariaDB, `max_execution_time` on MySQL) beside `innodb_lock_wait_timeout`,
//! `SET TRANSACTION ISOLATION LEVEL …` then `START TRANSACTION`, lock waits read from
//! `information_schema.innodb_trx` (`trx_state = 'LOCK WAIT'`; InnoDB refreshes that view
//! only after 100 ms without a reader, so looks are spaced wider), stuck sessions ended with
//! `KILL`, and which errors are conflicts (SQLSTATE class 40 — 1213, the deadlock victim,
//! whose whole transaction InnoDB rolls back —, class 23, and MariaDB's 1020 ER_CHECKREAD,
//! the write conflict of `innodb_snapshot_isolation`).
//!
//! The suite runs at all four levels under the server's profile (`mariadb`, or `mysql` for
//! Oracle's server); where the server has `innodb_snapshot_isolation` (MariaDB 10.6.18,
//! 10.11.8, 11.x and later) it runs with it OFF for that profile and again with it ON at
//! REPEATABLE READ and SERIALIZABLE under `mariadb_snapshot_isolation` (columns `+si`).

use crate::classify::{self, one_line};
use assay_core::isolation::{IsolationLevel, IsolationMatrix, IsolationTest, ObservedResult};
use assay_core::{DriverError, Endpoint};
use assay_sql_common::isolation::{
    run_suite, IsolationConn, IsolationDialect, IsolationRunOptions, ProfileRun, Ran,
    CONNECT_TIMEOUT,
};
use async_trait::async_trait;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::str::FromStr;
use std::time::Duration;

/// The profile of a MariaDB server (`[expected.mariadb]`), run with
/// `innodb_snapshot_isolation = OFF` where the server has it.
pub const MARIADB_PROFILE: &str = "mariadb";
/// MariaDB with `SET SESSION innodb_snapshot_isolation = ON`.
pub const MARIADB_SNAPSHOT_PROFILE: &str = "mariadb_snapshot_isolation";
/// The profile of Oracle's MySQL server.
pub const MYSQL_PROFILE: &str = "mysql";
/// InnoDB offers all four levels as distinct behaviours.
pub const MYSQL_ISOLATION_LEVELS: [IsolationLevel; 4] = IsolationLevel::ALL;
/// The levels the snapshot-isolation profile runs at: the setting changes what locking
/// reads and writes do inside a transaction's read view, which REPEATABLE READ keeps (and
/// SERIALIZABLE, whose reads lock, must stay serializable with it).
pub const SNAPSHOT_ISOLATION_LEVELS: [IsolationLevel; 2] =
    [IsolationLevel::RepeatableRead, IsolationLevel::Serializable];

/// ER_CHECKREAD: "Record has changed since last read" (MariaDB `innodb_snapshot_isolation`).
const ER_CHECKREAD: u16 = 1020;
/// ER_LOCK_DEADLOCK: the victim's whole transaction was rolled back.
const ER_LOCK_DEADLOCK: u16 = 1213;

/// Which server answers: the statement bound is spelt differently, and only MariaDB says
/// whether a transaction is open (`@@in_transaction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Mariadb,
    Mysql,
}

/// What the server offers, read once before the suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// `SELECT VERSION()`.
    pub version: String,
    pub mariadb: bool,
    /// The server has the `innodb_snapshot_isolation` variable.
    pub snapshot_isolation: bool,
}

/// The profiles to run on a server with `facts`: its own at every level (with
/// `innodb_snapshot_isolation` OFF where it exists), then, where it exists, the
/// snapshot-isolation profile.
pub fn isolation_plan(facts: &ServerFacts) -> Vec<ProfileRun> {
    if !facts.mariadb {
        return vec![ProfileRun::plain(MYSQL_PROFILE, &MYSQL_ISOLATION_LEVELS)];
    }
    let mut own = ProfileRun::plain(MARIADB_PROFILE, &MYSQL_ISOLATION_LEVELS);
    if !facts.snapshot_isolation {
        return vec![own];
    }
    own.setting = "innodb_snapshot_isolation = OFF".into();
    own.session_sql = vec!["SET SESSION innodb_snapshot_isolation = OFF".into()];
    vec![
        own,
        ProfileRun {
            profile: MARIADB_SNAPSHOT_PROFILE.into(),
            label: Some("si".into()),
            setting: "innodb_snapshot_isolation = ON".into(),
            levels: SNAPSHOT_ISOLATION_LEVELS.to_vec(),
            session_sql: vec!["SET SESSION innodb_snapshot_isolation = ON".into()],
        },
    ]
}

/// Runs `tests` on the MySQL-wire `endpoint` under every profile the server offers
/// ([`isolation_plan`]) and compares each cell with the tests' documented verdicts.
///
/// `Err` only when the suite cannot run at all (wrong endpoint, server unreachable, two tests
/// with the same anomaly name); a test that cannot run at one level is an error *cell*.
pub async fn run_isolation_suite(
    endpoint: &Endpoint,
    tests: &[IsolationTest],
) -> Result<IsolationMatrix, DriverError> {
    let facts = server_facts(endpoint).await?;
    let runs = isolation_plan(&facts);
    let options = IsolationRunOptions::for_profile(&runs[0].profile);
    run_isolation_suite_with(endpoint, tests, &runs, &options).await
}

/// The suite under explicit profiles and bounds.
pub async fn run_isolation_suite_with(
    endpoint: &Endpoint,
    tests: &[IsolationTest],
    runs: &[ProfileRun],
    options: &IsolationRunOptions,
) -> Result<IsolationMatrix, DriverError> {
    let dialect = MysqlIsolation::new(endpoint).await?;
    run_suite(&dialect, tests, runs, options).await
}

/// Which server `endpoint` is and whether it has `innodb_snapshot_isolation`.
pub async fn server_facts(endpoint: &Endpoint) -> Result<ServerFacts, DriverError> {
    let dialect = MysqlIsolation::new(endpoint).await?;
    let mut conn = dialect.open().await?;
    let version = match conn.run("SELECT VERSION()").await.result {
        ObservedResult::Rows { rows } => rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .unwrap_or_default(),
        other => {
            return Err(DriverError::unavailable(format!(
                "reading the server version on {}: {other}",
                dialect.addr
            )))
        }
    };
    let snapshot_isolation = matches!(
        conn.run("SELECT @@innodb_snapshot_isolation").await.result,
        ObservedResult::Rows { .. }
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.0.close()).await;
    Ok(ServerFacts {
        mariadb: dialect.flavor == Flavor::Mariadb,
        version,
        snapshot_isolation,
    })
}

struct MysqlIsolation {
    connect: MySqlConnectOptions,
    addr: String,
    flavor: Flavor,
}

impl MysqlIsolation {
    /// The dialect for `endpoint`, with the server's flavor read from its version.
    async fn new(endpoint: &Endpoint) -> Result<MysqlIsolation, DriverError> {
        let Endpoint::Mysql { url } = endpoint else {
            return Err(DriverError::config(format!(
                "the mysql isolation suite needs a mysql endpoint, not {}",
                endpoint.display_safe()
            )));
        };
        // sqlx's URL error does not echo the URL, so the password cannot leak through it.
        let connect = MySqlConnectOptions::from_str(url.expose())
            .map_err(|e| classify::connect_error(&e, "(unparsed url)"))?;
        let addr = format!("{}:{}", connect.get_host(), connect.get_port());
        let mut dialect = MysqlIsolation {
            connect,
            addr,
            flavor: Flavor::Mysql,
        };
        let mut conn = dialect.open().await?;
        if let ObservedResult::Rows { rows } = conn.run("SELECT VERSION()").await.result {
            if rows
                .first()
                .and_then(|r| r.first())
                .is_some_and(|v| v.contains("MariaDB"))
            {
                dialect.flavor = Flavor::Mariadb;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.0.close()).await;
        Ok(dialect)
    }

    async fn open(&self) -> Result<MySession, DriverError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.connect.connect()).await {
            Ok(Ok(conn)) => Ok(MySession(conn)),
            Ok(Err(e)) => Err(classify::connect_error(&e, &self.addr)),
            Err(_) => Err(classify::connect_timeout_error(&self.addr, CONNECT_TIMEOUT)),
        }
    }

    /// `SET SESSION` of the statement bound and the lock wait bound.
    fn bounds(&self, bound: Duration) -> String {
        let secs = bound.as_secs().max(1);
        let statement = match self.flavor {
            Flavor::Mariadb => format!("SESSION max_statement_time = {secs}"),
            Flavor::Mysql => format!("SESSION max_execution_time = {}", secs * 1000),
        };
        format!("SET SESSION innodb_lock_wait_timeout = {secs}, {statement}")
    }
}

#[async_trait]
impl IsolationDialect for MysqlIsolation {
    fn key(&self) -> &'static str {
        "mysql"
    }

    async fn connect(&self) -> Result<Box<dyn IsolationConn>, DriverError> {
        Ok(Box::new(self.open().await?))
    }

    fn admin_setup(&self, statement_timeout: Duration) -> Vec<String> {
        vec![self.bounds(statement_timeout)]
    }

    fn create_namespace(&self, name: &str) -> Vec<String> {
        vec![format!("CREATE DATABASE `{name}`"), format!("USE `{name}`")]
    }

    fn drop_namespace(&self, name: &str) -> String {
        format!("DROP DATABASE IF EXISTS `{name}`")
    }

    fn session_setup(&self, namespace: &str, statement_timeout: Duration) -> Vec<String> {
        vec![format!("USE `{namespace}`"), self.bounds(statement_timeout)]
    }

    fn session_id_sql(&self) -> &'static str {
        "SELECT CONNECTION_ID()"
    }

    fn begin(&self, level: IsolationLevel) -> Vec<String> {
        vec![
            format!("SET TRANSACTION ISOLATION LEVEL {}", level.sql()),
            "START TRANSACTION".into(),
        ]
    }

    fn waiting_sql(&self, ids: &[i64]) -> String {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        format!(
            "SELECT trx_mysql_thread_id FROM information_schema.innodb_trx \
             WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id IN ({})",
            list.join(",")
        )
    }

    fn lock_poll(&self) -> Duration {
        // InnoDB refreshes information_schema.innodb_trx only once nobody has read it for
        // 100 ms; a look sooner than that sees the previous answer.
        Duration::from_millis(120)
    }

    fn terminate_sql(&self, id: i64) -> String {
        format!("KILL {id}")
    }

    fn in_transaction_sql(&self) -> Option<&'static str> {
        match self.flavor {
            Flavor::Mariadb => Some("SELECT @@in_transaction"),
            // MySQL cannot say; a deadlock's rollback is known from its error number.
            Flavor::Mysql => None,
        }
    }
}

/// One session or admin connection; statements over the text protocol.
struct MySession(MySqlConnection);

#[async_trait]
impl IsolationConn for MySession {
    async fn run(&mut self, sql: &str) -> Ran {
        // A bare `&str` has no arguments, so sqlx sends COM_QUERY: text results.
        Ran::from_fetch(self.0.fetch_all(sql).await, row_text, error_ran)
    }

    async fn close(self: Box<Self>) {
        let _ = self.0.close().await;
    }
}

/// A row's values as the text protocol sent them; NULL as `NULL`.
fn row_text(row: &MySqlRow) -> Result<Vec<String>, sqlx::Error> {
    (0..row.len())
        .map(|i| {
            let bytes: Option<&[u8]> = row.try_get_unchecked(i)?;
            Ok(match bytes {
                None => "NULL".to_string(),
                Some(b) => String::from_utf8_lossy(b).into_owned(),
            })
        })
        .collect()
}

/// Whether a server error is one InnoDB raises to prevent an anomaly.
fn is_conflict(sqlstate: &str, number: u16) -> bool {
    sqlstate.starts_with("40") || sqlstate.starts_with("23") || number == ER_CHECKREAD
}

fn error_ran(e: &sqlx::Error) -> Ran {
    match e {
        sqlx::Error::Database(db) => {
            let sqlstate = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let number = classify::error_number(e).unwrap_or(0);
            Ran {
                conflict: is_conflict(&sqlstate, number),
                ends_transaction: number == ER_LOCK_DEADLOCK,
                result: ObservedResult::Error {
                    sqlstate,
                    message: format!("error {number}: {}", one_line(db.message())),
                },
            }
        }
        other => Ran::failed(ObservedResult::Error {
            sqlstate: String::new(),
            message: one_line(&other.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_are_deadlocks_constraints_and_snapshot_write_conflicts() {
        assert!(is_conflict("40001", 1213));
        assert!(is_conflict("23000", 1062));
        assert!(is_conflict("HY000", ER_CHECKREAD));
        // A lock wait timeout means a session stayed blocked: the test is broken.
        assert!(!is_conflict("HY000", 1205));
        assert!(!is_conflict("42S02", 1146));
    }

    #[test]
    fn the_plan_follows_what_the_server_offers() {
        let mut facts = ServerFacts {
            version: "10.11.14-MariaDB".into(),
            mariadb: true,
            snapshot_isolation: true,
        };
        let plan = isolation_plan(&facts);
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].profile, MARIADB_PROFILE);
        assert_eq!(plan[0].levels, IsolationLevel::ALL);
        assert_eq!(
            plan[0].session_sql,
            ["SET SESSION innodb_snapshot_isolation = OFF"]
        );
        assert_eq!(plan[1].profile, MARIADB_SNAPSHOT_PROFILE);
        assert_eq!(plan[1].label.as_deref(), Some("si"));
        assert_eq!(plan[1].levels, SNAPSHOT_ISOLATION_LEVELS);
        facts.snapshot_isolation = false;
        let plan = isolation_plan(&facts);
        assert_eq!(plan.len(), 1);
        assert!(plan[0].session_sql.is_empty());
        facts.mariadb = false;
        assert_eq!(isolation_plan(&facts)[0].profile, MYSQL_PROFILE);
    }

    #[test]
    fn statements_in_the_mysql_dialect() {
        let d = MysqlIsolation {
            connect: MySqlConnectOptions::new(),
            addr: String::new(),
            flavor: Flavor::Mariadb,
        };
        assert_eq!(
            d.begin(IsolationLevel::ReadUncommitted),
            [
                "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
                "START TRANSACTION"
            ]
        );
        assert_eq!(
            d.session_setup("assay_iso_1_2", Duration::from_secs(10)),
            [
                "USE `assay_iso_1_2`",
                "SET SESSION innodb_lock_wait_timeout = 10, SESSION max_statement_time = 10"
            ]
        );
        assert!(d
            .waiting_sql(&[7, 8])
            .ends_with("trx_mysql_thread_id IN (7,8)"));
        assert_eq!(d.in_transaction_sql(), Some("SELECT @@in_transaction"));
    }
}
