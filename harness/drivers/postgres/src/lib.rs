//! assay-driver-postgres: the portable operation model on the PostgreSQL wire protocol
//! (PostgreSQL, Aurora PostgreSQL, Cloud SQL, AlloyDB, ...): ops through its own wire client
//! (`wire.rs`) on plaintext connections, everything else and TLS through sqlx.
//!
//! Owns: connecting (pools for the primary and an optional read replica), the run's schema
//! (`setup` / `teardown`), and mapping every portable op onto SQL. Beside the `Driver`:
//! replica lag as clients see it ([`PostgresDriver::measure_replica_lag`], `lag.rs`), the
//! Hermitage-style isolation suite ([`run_isolation_suite`], `isolation.rs`) and
//! sqllogictest files ([`run_slt`], `slt.rs`).
//!
//! Layout: one schema per run, named by the namespace; each scenario table is
//! `"<ns>"."<table>" (k TEXT COLLATE "C" PRIMARY KEY, v TEXT, ver BIGINT, n BIGINT, l BIGINT[])`.
//!
//! Bulk loads (`bulk.rs`): `COPY ... FROM STDIN` on the op connections, several at once.
//!
//! Bounds: getting a connection waits at most [`ACQUIRE_TIMEOUT`] (or the op timeout if
//! shorter); every session runs with `statement_timeout` = the op timeout, and each op is
//! also bounded on the client by the op timeout plus [`SERVER_CANCEL_GRACE`].
//!
//! Consistency: `Strong` reads, writes, batches and transactions go to the primary. Weaker
//! reads go to the endpoint's `replica_url` when it has one, otherwise to the primary (which
//! is at least as strong as asked).

mod bulk;
mod classify;
mod cleanup;
mod exec;
pub mod isolation;
mod lag;
mod naming;
mod native;
mod security;
mod session;
pub mod slt;
mod verify;
mod verify_sql;
mod wire;

/// The shared `sql.*` checks (declared in `assay-sql-common`), which this driver runs.
pub use assay_sql_common::SQL_CHECKS;
pub use isolation::{
    load_isolation_tests, run_isolation_suite, run_isolation_suite_with, IsolationRunOptions,
    POSTGRES_ISOLATION_LEVELS, POSTGRES_PROFILE,
};
pub use lag::{ReplicaLag, ReplicaLagSummary, LAG_TABLE, MAX_LAG_SAMPLES};
/// The native checks this driver runs (`postgres.*`, and the same under `sql.*`).
pub use native::NATIVE_CHECKS;
pub use slt::{find_slt_files, run_slt, SltFailure, SltFileResult, SltReport};
/// `assay verify`'s PostgreSQL side.
pub use verify::PgTableSource;

use assay_core::scenario::TableSpec;
use assay_core::{
    BulkLoadError, BulkLoadPath, Capabilities, Capability, Consistency, Driver, DriverConfig,
    DriverError, Endpoint, ErrorClass, Leftover, LoadRow, NativeOutcome, NativeStep, Op, OpResult,
};
use assay_sql_common::OpPool;
use async_trait::async_trait;
use classify::Phase;
use naming::Schema;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Longest wait for a pooled connection (which may include opening one) before an op is
/// reported `Unavailable`.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the first connection while building the driver.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Extra client-side time past the op timeout, so the server's own `statement_timeout`
/// cancel (which leaves the connection reusable) normally fires before the client gives up.
pub const SERVER_CANCEL_GRACE: Duration = Duration::from_millis(500);
/// Statement bound for setup and teardown DDL, which may legitimately take longer than an op.
const DDL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the replica to show the tables setup created.
const REPLICA_CATCH_UP: Duration = Duration::from_secs(30);
/// Setup and teardown take at most this many connections.
const ADMIN_POOL_SIZE: u32 = 2;

/// Transaction isolation for `Op::Txn`, one vocabulary with scenarios and isolation tests.
pub use assay_core::isolation::IsolationLevel;

/// `BEGIN` at the given level (PostgreSQL runs READ UNCOMMITTED as READ COMMITTED).
pub(crate) fn begin_statement(level: IsolationLevel) -> String {
    format!("BEGIN ISOLATION LEVEL {}", level.sql())
}

/// PostgreSQL-specific knobs beyond `DriverConfig`.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Connections per pool (primary, and replica if any); bounds the concurrency one driver
    /// can put on the server.
    pub pool_size: u32,
    pub isolation: IsolationLevel,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 32,
            isolation: IsolationLevel::Serializable,
        }
    }
}

/// The connections to one server and its `host:port`, for messages (never the password).
struct Target {
    /// For setup, teardown and probes (sqlx's pool: every release costs a ping).
    pool: PgPool,
    /// For ops: no round trip on release; Assay's wire client where the connection is
    /// plaintext, sqlx where it needs TLS.
    ops: OpPool<session::OpConn>,
    connector: session::OpConnector,
    addr: String,
}

/// What setup has done to the run's schema, so teardown removes exactly that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum SchemaState {
    /// Not created by this driver (it may exist, owned by someone else: leave it alone).
    #[default]
    Absent,
    /// A COMMIT that creates it was sent but its answer was lost.
    MaybeCreated,
    Created,
}

pub struct PostgresDriver {
    /// Kept for runners that open their own connections (`.slt` files).
    endpoint: Endpoint,
    primary: Target,
    replica: Option<Target>,
    schema: Schema,
    /// The SQL text of each op, per table.
    statements: exec::Statements,
    op_timeout: Duration,
    options: PostgresOptions,
    schema_state: tokio::sync::Mutex<SchemaState>,
    /// Tables whose primary key a bulk load dropped, to be built again when it ends.
    deferred_keys: std::sync::Mutex<Vec<String>>,
}

impl PostgresDriver {
    pub async fn connect(endpoint: &Endpoint, config: DriverConfig) -> Result<Self, DriverError> {
        Self::connect_with(endpoint, config, PostgresOptions::default()).await
    }

    pub async fn connect_with(
        endpoint: &Endpoint,
        config: DriverConfig,
        options: PostgresOptions,
    ) -> Result<Self, DriverError> {
        let Endpoint::Postgres { url, replica_url } = endpoint else {
            return Err(DriverError::config(format!(
                "the postgres driver cannot use a {} endpoint ({}); pick a postgres target",
                endpoint.family(),
                endpoint.display_safe()
            )));
        };
        let schema = Schema::parse(&config.namespace).map_err(DriverError::config)?;
        if config.op_timeout.is_zero() {
            // `statement_timeout = 0` would switch the server-side bound off entirely.
            return Err(DriverError::config(
                "op_timeout is 0; give the run a positive op timeout",
            ));
        }
        if options.pool_size == 0 {
            return Err(DriverError::config(
                "pool_size is 0; the postgres driver needs at least one connection",
            ));
        }
        let primary = open_target(url.expose(), "primary", config.op_timeout, &options).await?;
        let replica = match replica_url {
            Some(url) => {
                Some(open_target(url.expose(), "replica", config.op_timeout, &options).await?)
            }
            None => None,
        };
        Ok(PostgresDriver {
            endpoint: endpoint.clone(),
            primary,
            replica,
            statements: exec::Statements::new(schema.clone()),
            schema,
            op_timeout: config.op_timeout,
            options,
            schema_state: tokio::sync::Mutex::new(SchemaState::Absent),
            deferred_keys: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The client the primary's op connections use: `wire` (Assay's own, plaintext) or
    /// `sqlx` (TLS, or URL parameters the wire client leaves to sqlx).
    pub fn op_client(&self) -> &'static str {
        self.primary.connector.client()
    }

    /// The schema this driver's tables live in (the run's namespace).
    pub fn schema_name(&self) -> &str {
        self.schema.as_str()
    }

    /// Weak reads may be served by the replica; everything else needs the primary.
    fn route(&self, op: &Op) -> &Target {
        match (op, &self.replica) {
            (Op::Read { consistency, .. }, Some(replica))
                if *consistency != Consistency::Strong =>
            {
                replica
            }
            _ => &self.primary,
        }
    }

    async fn create_schema_and_tables(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        let mut state = self.schema_state.lock().await;
        let addr = &self.primary.addr;
        let mut conn = self.primary.pool.acquire().await.map_err(|e| {
            DriverError::unavailable(classify::classify(&e, Phase::Acquire, addr).1)
        })?;
        let backend = |e: sqlx::Error| ddl_error(&e, "setup", addr);
        // One transaction, so a failed setup leaves nothing behind on the server.
        let mut tx = conn.begin().await.map_err(backend)?;
        sqlx::query(&format!(
            "SET LOCAL statement_timeout = '{}ms'",
            DDL_TIMEOUT.as_millis()
        ))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let create_schema = match *state {
            SchemaState::Created => None,
            // Our own earlier COMMIT may have created it.
            SchemaState::MaybeCreated => Some("CREATE SCHEMA IF NOT EXISTS"),
            // Plain CREATE, so a schema that someone else owns is an error, never adopted.
            SchemaState::Absent => Some("CREATE SCHEMA"),
        };
        if let Some(create) = create_schema {
            let created = sqlx::query(&format!("{create} {}", self.schema.quoted()))
                .execute(&mut *tx)
                .await;
            if let Err(e) = created {
                if db_code(&e).as_deref() == Some("42P06") {
                    return Err(DriverError::backend(format!(
                        "schema `{ns}` already exists at {addr}: another run uses this namespace, or an earlier teardown did not finish (drop it with DROP SCHEMA \"{ns}\" CASCADE)",
                        ns = self.schema.as_str()
                    )));
                }
                return Err(backend(e));
            }
            // PostgreSQL keeps no creation time for a schema; `assay cleanup` reads this.
            sqlx::query(&format!(
                "COMMENT ON SCHEMA {} IS '{}'",
                self.schema.quoted(),
                assay_core::cleanup::creation_mark(assay_core::cleanup::unix_ms_now())
            ))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        for table in tables {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                 k TEXT COLLATE \"C\" PRIMARY KEY, \
                 v TEXT, \
                 ver BIGINT NOT NULL DEFAULT 0, \
                 n BIGINT NOT NULL DEFAULT 0, \
                 l BIGINT[] NOT NULL DEFAULT '{{}}')",
                self.schema.table(&table.name)
            );
            sqlx::query(&sql).execute(&mut *tx).await.map_err(backend)?;
        }
        let before = *state;
        if before != SchemaState::Created {
            *state = SchemaState::MaybeCreated;
        }
        match tx.commit().await {
            Ok(()) => {
                *state = SchemaState::Created;
                Ok(())
            }
            Err(e) => {
                // The server answered, so the commit definitely did not happen; only a lost
                // answer leaves the schema possibly created.
                if matches!(e, sqlx::Error::Database(_)) {
                    *state = before;
                }
                Err(backend(e))
            }
        }
    }

    async fn wait_for_replica(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        let Some(replica) = &self.replica else {
            return Ok(());
        };
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let deadline = Instant::now() + REPLICA_CATCH_UP;
        let mut last_problem = String::from("no answer yet");
        while Instant::now() < deadline {
            let visible = sqlx::query(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = ANY($2)",
            )
            .bind(self.schema.as_str())
            .bind(&names)
            .fetch_one(&replica.pool)
            .await;
            match visible.and_then(|row| row.try_get::<i64, _>(0)) {
                Ok(n) if n == names.len() as i64 => return Ok(()),
                Ok(n) => last_problem = format!("{n} of {} tables visible", names.len()),
                Err(e) => last_problem = classify::classify(&e, Phase::Running, &replica.addr).1,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(DriverError::unavailable(format!(
            "replica at {} did not show the run's tables within {REPLICA_CATCH_UP:?} ({last_problem}); is it streaming from the primary?",
            replica.addr
        )))
    }
}

async fn open_target(
    url: &str,
    role: &str,
    op_timeout: Duration,
    options: &PostgresOptions,
) -> Result<Target, DriverError> {
    if let Some(why) = security::unreadable_ca_file(url) {
        return Err(DriverError::config(format!("postgres {role}: {why}")));
    }
    // sqlx's URL error does not echo the URL, so the password cannot leak through it.
    let connect_options = PgConnectOptions::from_str(url)
        .map_err(|e| classify::connect_error(&e, role, "(unparsed url)"))?
        .application_name("assay")
        .options([(
            "statement_timeout",
            format!("{}ms", op_timeout.as_millis().max(1)),
        )]);
    let addr = format!(
        "{}:{}",
        connect_options.get_host(),
        connect_options.get_port()
    );
    // A direct first connection, because the pool retries a refused connect until its
    // timeout and then reports only "timed out"; this one says why.
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_options.connect()).await {
        Ok(Ok(conn)) => {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        }
        Ok(Err(e)) => return Err(classify::connect_error(&e, role, &addr)),
        Err(_) => {
            return Err(classify::connect_timeout_error(
                role,
                &addr,
                CONNECT_TIMEOUT,
            ))
        }
    }
    let acquire_timeout = ACQUIRE_TIMEOUT.min(op_timeout);
    let pool = PgPoolOptions::new()
        .max_connections(ADMIN_POOL_SIZE)
        .acquire_timeout(acquire_timeout)
        .connect_lazy_with(connect_options.clone());
    let connector = session::OpConnector::new(
        wire::WireConfig::from_url(url, op_timeout),
        connect_options.clone(),
    );
    let opener = connector.clone();
    let ops = OpPool::new(
        options.pool_size,
        acquire_timeout,
        Box::new(move || {
            let connector = opener.clone();
            Box::pin(async move { connector.open().await })
        }),
    );
    Ok(Target {
        pool,
        ops,
        connector,
        addr,
    })
}

fn db_code(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
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

#[async_trait]
impl Driver for PostgresDriver {
    fn family(&self) -> &'static str {
        "postgres"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none("not declared by the postgres driver")
            .support(&Capability::ALL)
            .support(&[Capability::ConnectionSecurity])
    }

    async fn backend_version(&self) -> Option<String> {
        let query = sqlx::query("SHOW server_version").fetch_one(&self.primary.pool);
        let row = tokio::time::timeout(self.op_timeout + ACQUIRE_TIMEOUT, query)
            .await
            .ok()?
            .ok()?;
        row.try_get::<String, _>(0).ok()
    }

    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        for table in tables {
            naming::check_table_name(&table.name).map_err(DriverError::config)?;
        }
        let bound = ACQUIRE_TIMEOUT + DDL_TIMEOUT;
        tokio::time::timeout(bound, self.create_schema_and_tables(tables))
            .await
            .map_err(|_| {
                DriverError::unavailable(format!(
                    "setup at {} did not finish within {bound:?}",
                    self.primary.addr
                ))
            })??;
        self.wait_for_replica(tables).await
    }

    async fn execute(&self, op: &Op) -> OpResult {
        let started = Instant::now();
        let target = self.route(op);
        let mut lease = match target.ops.acquire().await {
            Ok(lease) => lease,
            Err(e) => return classify::error_result(&e, Phase::Acquire, &target.addr),
        };
        let budget = (self.op_timeout + SERVER_CANCEL_GRACE).saturating_sub(started.elapsed());
        let mut exec = exec::Exec {
            conn: lease.conn(),
            statements: &self.statements,
            addr: &target.addr,
            isolation: self.options.isolation,
            poisoned: false,
        };
        let outcome = tokio::time::timeout(budget, exec.run(op)).await;
        let (result, poisoned) = match outcome {
            Ok(result) => (result, exec.poisoned),
            Err(_) => (
                OpResult::error(
                    ErrorClass::Timeout,
                    format!(
                        "no answer from {} within {:?} (op timeout {:?} plus grace); the op may have been applied",
                        target.addr,
                        self.op_timeout + SERVER_CANCEL_GRACE,
                        self.op_timeout
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

    async fn bulk_load_prepare(&self, table: &str) -> Result<(), BulkLoadError> {
        self.defer_primary_key(table).await
    }

    async fn bulk_load(&self, table: &str, rows: &[LoadRow]) -> Result<u64, BulkLoadError> {
        self.copy_rows(table, rows).await
    }

    async fn bulk_load_finish(&self, table: &str) -> Result<(), BulkLoadError> {
        self.restore_primary_key(table).await
    }

    fn runs_native(&self, family: &str) -> bool {
        family == "postgres"
            || family == "sql"
            || family == assay_core::native::security::SECURITY_FAMILY
    }

    async fn native(&self, step: &NativeStep) -> NativeOutcome {
        self.run_native(step).await
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        let mut state = self.schema_state.lock().await;
        if *state == SchemaState::Absent {
            return Ok(());
        }
        cleanup::drop_schema(self, self.schema.as_str(), "teardown").await?;
        *state = SchemaState::Absent;
        Ok(())
    }

    async fn leftovers(&self, prefix: &str) -> Result<Vec<Leftover>, DriverError> {
        cleanup::leftovers(self, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<(), DriverError> {
        cleanup::remove(self, leftover).await
    }
}
