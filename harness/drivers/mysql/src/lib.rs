//! assay-driver-mysql: the portable operation model on the MySQL wire protocol (MySQL,
//! MariaDB, Aurora MySQL, Cloud SQL for MySQL, PlanetScale, ...), through sqlx.
//!
//! Owns: connecting (its own op pool plus a small admin pool), the run's database (`setup` /
//! `teardown`), mapping every portable op onto SQL (`exec.rs`), classifying MySQL errors
//! (`classify.rs`), bulk loads as multi-row INSERTs (`bulk.rs`), the native `sql.slt`
//! check (`native.rs`), and MySQL's dialect of the shared isolation runner (`isolation.rs`).
//!
//! Layout: one database per run, named by the namespace; each scenario table is
//! `` `<ns>`.`<table>` (k VARBINARY(1024) PRIMARY KEY, v LONGTEXT, ver BIGINT, n BIGINT, l JSON) ``
//! on InnoDB. `k` is VARBINARY rather than a `_bin` collation because MySQL's `_bin`
//! collations pad with spaces (`'a'` = `'a '`), which would merge distinct portable keys;
//! bytes compare in exactly the portable key order.
//!
//! Bounds: getting a connection waits at most [`ACQUIRE_TIMEOUT`] (or the op timeout if
//! shorter); every session runs with the server's statement bound (MariaDB
//! `max_statement_time`, MySQL `max_execution_time`, which covers SELECTs only) and
//! `innodb_lock_wait_timeout` from the op timeout, and each op is also bounded on the client
//! by the op timeout plus [`SERVER_CANCEL_GRACE`].

mod bulk;
mod classify;
mod cleanup;
mod exec;
pub mod isolation;
mod naming;
mod native;
mod slt;

pub use isolation::{run_isolation_suite, MARIADB_PROFILE, MYSQL_ISOLATION_LEVELS};
/// The native checks this driver runs (`mysql.*`, and the same under `sql.*`).
pub use native::NATIVE_CHECKS;

use assay_core::native::{NativeOutcome, NativeStep};
use assay_core::scenario::TableSpec;
use assay_core::{
    BulkLoadError, BulkLoadPath, Capabilities, Capability, Driver, DriverConfig, DriverError,
    Endpoint, ErrorClass, Leftover, LoadRow, Op, OpResult,
};
use assay_sql_common::pool::Opener;
use assay_sql_common::OpPool;
use async_trait::async_trait;
use classify::Phase;
use naming::Database;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Transaction isolation for `Op::Txn`, one vocabulary with scenarios and isolation tests.
pub use assay_core::isolation::IsolationLevel;

/// Longest wait for a pooled connection (which may include opening one) before an op is
/// reported `Unavailable`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the first connection while building the driver.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Extra client-side time past the op timeout, so the server's own statement bound (which
/// leaves the connection reusable) normally fires before the client gives up.
pub const SERVER_CANCEL_GRACE: Duration = Duration::from_millis(500);
/// Statement bound for setup and teardown DDL, which may legitimately take longer than an op.
const DDL_TIMEOUT: Duration = Duration::from_secs(30);
/// Setup, teardown and native checks take at most this many connections.
const ADMIN_POOL_SIZE: u32 = 2;

/// MySQL-specific knobs beyond `DriverConfig`.
#[derive(Clone, Debug)]
pub struct MysqlOptions {
    /// Connections ops may use at once; bounds the concurrency one driver puts on the server.
    pub pool_size: u32,
    pub isolation: IsolationLevel,
}

impl Default for MysqlOptions {
    fn default() -> Self {
        MysqlOptions {
            pool_size: 32,
            // InnoDB's own default, so a scenario that names none sees the server as shipped.
            isolation: IsolationLevel::RepeatableRead,
        }
    }
}

/// Which server answers: the statement bound is spelt differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Mariadb,
    Mysql,
}

/// `SET SESSION` of the server-side bounds for connections whose statements may take `bound`.
fn session_sql(flavor: Flavor, bound: Duration) -> String {
    // Whole seconds only; rounded down so a lock wait ends (a definite, retryable 1205)
    // before the statement bound would (an indeterminate timeout) wherever the bound allows.
    let lock_wait_secs = bound.as_secs().max(1);
    let statement = match flavor {
        // Seconds, fractional; covers every statement.
        Flavor::Mariadb => format!(
            "SESSION max_statement_time = {:.3}",
            bound.as_secs_f64().max(0.001)
        ),
        // Milliseconds; read-only SELECTs only (writes are bounded by the lock wait and the
        // client).
        Flavor::Mysql => format!("SESSION max_execution_time = {}", bound.as_millis().max(1)),
    };
    format!("SET SESSION innodb_lock_wait_timeout = {lock_wait_secs}, {statement}")
}

/// What setup has done to the run's database, so teardown removes exactly that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum DatabaseState {
    /// Not created by this driver (it may exist, owned by someone else: leave it alone).
    #[default]
    Absent,
    /// A CREATE DATABASE was sent but its answer was lost.
    MaybeCreated,
    Created,
}

pub struct MysqlDriver {
    /// For connections native checks open themselves (`.slt` sessions).
    connect_options: MySqlConnectOptions,
    flavor: Flavor,
    ops: OpPool<MySqlConnection>,
    admin: OpPool<MySqlConnection>,
    addr: String,
    db: Database,
    op_timeout: Duration,
    options: MysqlOptions,
    state: tokio::sync::Mutex<DatabaseState>,
    /// Databases native checks created (or may have), dropped by teardown too.
    native_databases: std::sync::Mutex<Vec<Database>>,
}

impl MysqlDriver {
    pub async fn connect(endpoint: &Endpoint, config: DriverConfig) -> Result<Self, DriverError> {
        Self::connect_with(endpoint, config, MysqlOptions::default()).await
    }

    pub async fn connect_with(
        endpoint: &Endpoint,
        config: DriverConfig,
        options: MysqlOptions,
    ) -> Result<Self, DriverError> {
        let Endpoint::Mysql { url } = endpoint else {
            return Err(DriverError::config(format!(
                "the mysql driver cannot use a {} endpoint ({}); pick a mysql target",
                endpoint.family(),
                endpoint.display_safe()
            )));
        };
        let db = Database::parse(&config.namespace).map_err(DriverError::config)?;
        if config.op_timeout.is_zero() {
            // A zero statement bound would switch the server-side bound off entirely.
            return Err(DriverError::config(
                "op_timeout is 0; give the run a positive op timeout",
            ));
        }
        if options.pool_size == 0 {
            return Err(DriverError::config(
                "pool_size is 0; the mysql driver needs at least one connection",
            ));
        }
        // sqlx's URL error does not echo the URL, so the password cannot leak through it.
        let connect_options = MySqlConnectOptions::from_str(url.expose())
            .map_err(|e| classify::connect_error(&e, "(unparsed url)"))?;
        let addr = format!(
            "{}:{}",
            connect_options.get_host(),
            connect_options.get_port()
        );
        // A direct first connection says why a connect fails (the pool would only time out),
        // and tells which server answers.
        let version = match tokio::time::timeout(CONNECT_TIMEOUT, async {
            let mut conn = connect_options.connect().await?;
            let row = sqlx::query("SELECT VERSION()").fetch_one(&mut conn).await?;
            let version: String = row.try_get(0)?;
            let _ = conn.close().await;
            Ok::<_, sqlx::Error>(version)
        })
        .await
        {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(classify::connect_error(&e, &addr)),
            Err(_) => return Err(classify::connect_timeout_error(&addr, CONNECT_TIMEOUT)),
        };
        let flavor = if version.contains("MariaDB") {
            Flavor::Mariadb
        } else {
            Flavor::Mysql
        };
        let acquire_timeout = ACQUIRE_TIMEOUT.min(config.op_timeout);
        let ops = OpPool::new(
            options.pool_size,
            acquire_timeout,
            opener(
                connect_options.clone(),
                session_sql(flavor, config.op_timeout),
            ),
        );
        let admin = OpPool::new(
            ADMIN_POOL_SIZE,
            ACQUIRE_TIMEOUT,
            opener(connect_options.clone(), session_sql(flavor, DDL_TIMEOUT)),
        );
        Ok(MysqlDriver {
            connect_options,
            flavor,
            ops,
            admin,
            addr,
            db,
            op_timeout: config.op_timeout,
            options,
            state: tokio::sync::Mutex::new(DatabaseState::Absent),
            native_databases: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The database this driver's tables live in (the run's namespace).
    pub fn database_name(&self) -> &str {
        self.db.as_str()
    }

    /// The isolation level InnoDB reports for a transaction begun the way `Op::Txn` begins
    /// one (from `information_schema.innodb_trx`), e.g. `REPEATABLE READ`. For checking that
    /// the configured level is applied; needs the PROCESS privilege and read access to
    /// `mysql.innodb_table_stats`.
    pub async fn transaction_isolation_in_effect(&self) -> Result<String, DriverError> {
        let work = async {
            let mut lease = self.ops.acquire().await.map_err(|e| {
                DriverError::unavailable(classify::classify(&e, Phase::Acquire, &self.addr).1)
            })?;
            let conn = lease.conn();
            let failed =
                |e: sqlx::Error| ddl_error(&e, "reading the transaction's isolation", &self.addr);
            exec::begin(conn, self.options.isolation)
                .await
                .map_err(failed)?;
            // InnoDB lists a transaction once it has read an InnoDB table.
            exec::exec_text(conn, "SELECT COUNT(*) FROM mysql.innodb_table_stats")
                .await
                .map_err(failed)?;
            // InnoDB serves innodb_trx from a snapshot it refreshes only once nobody has
            // read it for 100 ms, so a transaction begun just after another read shows up a
            // moment later; each retry waits longer than that.
            let mut row = None;
            for _ in 0..10 {
                row = sqlx::query(
                    "SELECT CAST(trx_isolation_level AS CHAR) FROM information_schema.innodb_trx \
                     WHERE trx_mysql_thread_id = CONNECTION_ID()",
                )
                .fetch_optional(&mut *conn)
                .await
                .map_err(failed)?;
                if row.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
            exec::exec_text(conn, "ROLLBACK").await.map_err(failed)?;
            lease.release(true);
            let row = row.ok_or_else(|| {
                DriverError::backend(format!(
                    "information_schema.innodb_trx at {} does not list this session's transaction",
                    self.addr
                ))
            })?;
            row.try_get::<String, _>(0).map_err(failed)
        };
        tokio::time::timeout(self.op_timeout + ACQUIRE_TIMEOUT, work)
            .await
            .map_err(|_| {
                DriverError::unavailable(format!(
                    "{} did not answer within {:?}",
                    self.addr,
                    self.op_timeout + ACQUIRE_TIMEOUT
                ))
            })?
    }

    /// Runs DDL statements on an admin connection, each bounded by the admin session's
    /// statement bound and all together by [`DDL_TIMEOUT`] plus the acquire wait.
    async fn admin_sql(&self, what: &str, statements: &[String]) -> Result<(), AdminError> {
        let work = async {
            let mut lease = self.admin.acquire().await.map_err(|e| AdminError {
                error: DriverError::unavailable(
                    classify::classify(&e, Phase::Acquire, &self.addr).1,
                ),
                number: None,
                answered: true,
            })?;
            for sql in statements {
                if let Err(e) = exec::exec_text(lease.conn(), sql).await {
                    return Err(AdminError {
                        number: classify::error_number(&e),
                        answered: matches!(e, sqlx::Error::Database(_)),
                        error: ddl_error(&e, what, &self.addr),
                    });
                }
            }
            lease.release(true);
            Ok(())
        };
        let bound = ACQUIRE_TIMEOUT + DDL_TIMEOUT;
        tokio::time::timeout(bound, work)
            .await
            .map_err(|_| AdminError {
                error: DriverError::unavailable(format!(
                    "{what} at {} did not finish within {bound:?}",
                    self.addr
                )),
                number: None,
                answered: false,
            })?
    }

    /// Remembers a database a native check is about to create, so teardown drops it even if
    /// the check dies half-way.
    pub(crate) fn register_native_database(&self, db: &Database) {
        let mut dbs = self
            .native_databases
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !dbs.contains(db) {
            dbs.push(db.clone());
        }
    }

    pub(crate) fn forget_native_database(&self, db: &Database) {
        self.native_databases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d| d != db);
    }

    pub(crate) fn namespace(&self) -> &Database {
        &self.db
    }

    /// Options for a session of its own in `db`, and the SQL that bounds its statements.
    pub(crate) fn session_in(
        &self,
        db: &Database,
        bound: Duration,
    ) -> (MySqlConnectOptions, String) {
        (
            self.connect_options.clone().database(db.as_str()),
            session_sql(self.flavor, bound),
        )
    }

    /// Creates a database for a native check (dropping a leftover of the same name first),
    /// registered so teardown drops it if the check dies half-way.
    pub(crate) async fn create_native_database(&self, db: &Database) -> Result<(), DriverError> {
        self.register_native_database(db);
        self.admin_sql(
            "creating a database for a native check",
            &[
                format!("DROP DATABASE IF EXISTS {}", db.quoted()),
                format!("CREATE DATABASE {} CHARACTER SET utf8mb4", db.quoted()),
            ],
        )
        .await
        .map_err(|e| e.error)
    }

    /// Drops a database if it exists, bounded like all admin DDL.
    pub(crate) async fn drop_database(&self, db: &Database) -> Result<(), DriverError> {
        self.admin_sql(
            "teardown",
            &[format!("DROP DATABASE IF EXISTS {}", db.quoted())],
        )
        .await
        .map_err(|e| e.error)
    }
}

/// A failed admin step: the error, the server's error number, and whether the server
/// answered (so the statement definitely did not take effect).
struct AdminError {
    error: DriverError,
    number: Option<u16>,
    answered: bool,
}

fn ddl_error(e: &sqlx::Error, what: &str, addr: &str) -> DriverError {
    let (class, message) = classify::classify(e, Phase::Running, addr);
    match class {
        ErrorClass::Unavailable | ErrorClass::ConnectionLost | ErrorClass::Timeout => {
            DriverError::unavailable(format!("{what} at {addr} did not finish: {message}"))
        }
        _ => DriverError::backend(format!("{what} at {addr} failed: {message}")),
    }
}

/// The portable layout as a MySQL table (see the crate docs for why `k` is VARBINARY).
fn create_table_sql(table: &naming::QualifiedTable) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         k VARBINARY(1024) NOT NULL PRIMARY KEY, \
         v LONGTEXT CHARACTER SET utf8mb4 NULL, \
         ver BIGINT NOT NULL DEFAULT 0, \
         n BIGINT NOT NULL DEFAULT 0, \
         l JSON NULL\
         ) ENGINE=InnoDB"
    )
}

#[async_trait]
impl Driver for MysqlDriver {
    fn family(&self) -> &'static str {
        "mysql"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none("not declared by the mysql driver").support(&Capability::ALL)
    }

    async fn backend_version(&self) -> Option<String> {
        let work = async {
            let mut lease = self.admin.acquire().await.ok()?;
            let row = sqlx::query("SELECT VERSION()")
                .fetch_one(&mut *lease.conn())
                .await
                .ok()?;
            lease.release(true);
            row.try_get::<String, _>(0).ok()
        };
        tokio::time::timeout(self.op_timeout + ACQUIRE_TIMEOUT, work)
            .await
            .ok()?
    }

    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        for table in tables {
            naming::check_table_name(&table.name).map_err(DriverError::config)?;
        }
        let mut state = self.state.lock().await;
        // MySQL DDL commits on its own, so unlike PostgreSQL a failed setup can leave the
        // database behind: the state says teardown must drop it.
        let create = match *state {
            DatabaseState::Created => None,
            // Our own earlier CREATE may have gone through.
            DatabaseState::MaybeCreated => Some("CREATE DATABASE IF NOT EXISTS"),
            // Plain CREATE, so a database someone else owns is an error, never adopted.
            DatabaseState::Absent => Some("CREATE DATABASE"),
        };
        if let Some(create) = create {
            let before = *state;
            *state = DatabaseState::MaybeCreated;
            let sql = format!("{create} {} CHARACTER SET utf8mb4", self.db.quoted());
            match self.admin_sql("setup", &[sql]).await {
                Ok(()) => *state = DatabaseState::Created,
                Err(e) => {
                    if e.answered {
                        *state = before;
                    }
                    if e.number == Some(1007) {
                        return Err(DriverError::backend(format!(
                            "database `{ns}` already exists at {addr}: another run uses this namespace, or an earlier teardown did not finish (drop it with DROP DATABASE `{ns}`)",
                            ns = self.db.as_str(),
                            addr = self.addr
                        )));
                    }
                    return Err(e.error);
                }
            }
        }
        let statements: Vec<String> = tables
            .iter()
            .map(|t| create_table_sql(&self.db.table(&t.name)))
            .collect();
        self.admin_sql("setup", &statements)
            .await
            .map_err(|e| e.error)
    }

    async fn execute(&self, op: &Op) -> OpResult {
        let started = Instant::now();
        let mut lease = match self.ops.acquire().await {
            Ok(lease) => lease,
            Err(e) => return classify::error_result(&e, Phase::Acquire, &self.addr),
        };
        let bound = self.op_timeout + SERVER_CANCEL_GRACE;
        let budget = bound.saturating_sub(started.elapsed());
        let mut exec = exec::Exec {
            conn: lease.conn(),
            db: &self.db,
            addr: &self.addr,
            isolation: self.options.isolation,
            deadline: started + self.op_timeout,
            poisoned: false,
        };
        let outcome = tokio::time::timeout(budget, exec.run(op)).await;
        let (result, poisoned) = match outcome {
            Ok(result) => (result, exec.poisoned),
            Err(_) => (
                OpResult::error(
                    ErrorClass::Timeout,
                    format!(
                        "no answer from {} within {bound:?} (op timeout {:?} plus grace); the op may have been applied",
                        self.addr, self.op_timeout
                    ),
                ),
                true,
            ),
        };
        lease.release(!poisoned);
        result
    }

    fn bulk_load_path(&self) -> BulkLoadPath {
        bulk::path(self.options.pool_size)
    }

    async fn bulk_load(&self, table: &str, rows: &[LoadRow]) -> Result<u64, BulkLoadError> {
        self.insert_rows(table, rows).await
    }

    fn runs_native(&self, family: &str) -> bool {
        family == "mysql" || family == "sql"
    }

    async fn native(&self, step: &NativeStep) -> NativeOutcome {
        native::run(self, step).await
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        let natives: Vec<Database> = self
            .native_databases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for db in &natives {
            self.drop_database(db).await?;
            self.forget_native_database(db);
        }
        let mut state = self.state.lock().await;
        if *state == DatabaseState::Absent {
            return Ok(());
        }
        self.drop_database(&self.db).await?;
        *state = DatabaseState::Absent;
        Ok(())
    }

    async fn leftovers(&self, prefix: &str) -> Result<Vec<Leftover>, DriverError> {
        cleanup::leftovers(self, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<(), DriverError> {
        cleanup::remove(self, leftover).await
    }
}

/// Opens a connection and sets the session's server-side bounds on it.
fn opener(options: MySqlConnectOptions, session_sql: String) -> Opener<MySqlConnection> {
    Box::new(move || {
        let options = options.clone();
        let session_sql = session_sql.clone();
        Box::pin(async move {
            let mut conn = options.connect().await?;
            if !session_sql.is_empty() {
                exec::exec_text(&mut conn, &session_sql).await?;
            }
            Ok(conn)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_bounds_follow_the_op_timeout_in_each_flavor() {
        assert_eq!(
            session_sql(Flavor::Mariadb, Duration::from_millis(2500)),
            "SET SESSION innodb_lock_wait_timeout = 2, SESSION max_statement_time = 2.500"
        );
        assert_eq!(
            session_sql(Flavor::Mysql, Duration::from_millis(200)),
            "SET SESSION innodb_lock_wait_timeout = 1, SESSION max_execution_time = 200"
        );
    }

    #[test]
    fn tables_use_byte_ordered_keys_on_innodb() {
        let db = Database::parse("run1").unwrap();
        let sql = create_table_sql(&db.table("kv"));
        assert!(
            sql.starts_with("CREATE TABLE IF NOT EXISTS `run1`.`kv` ("),
            "{sql}"
        );
        assert!(
            sql.contains("k VARBINARY(1024) NOT NULL PRIMARY KEY"),
            "{sql}"
        );
        assert!(sql.ends_with("ENGINE=InnoDB"), "{sql}");
    }
}
