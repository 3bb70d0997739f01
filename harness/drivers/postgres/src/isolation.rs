//! The Hermitage-style isolation suite on the PostgreSQL wire: runs each
//! [`IsolationTest`] at each isolation level with one connection per session and returns the
//! matrix level × anomaly → prevented / occurs, compared with the documented verdicts of a
//! profile (`postgres` by default).
//!
//! One run of a test at one level:
//! 1. a fresh schema (`assay_iso_…`) with the test's setup statements, on an admin connection;
//! 2. one connection per session (search_path = that schema); each session begins its
//!    transaction at the level under test right before its first statement;
//! 3. the steps in the file's order. After sending a step the runner *settles*: it waits
//!    until every session with a statement in flight has either finished it or is waiting
//!    on another session's lock, which the server says (`pg_blocking_pids`, seen on two polls
//!    in a row). A blocked statement carries on in the background, as in Hermitage; a later
//!    step of the same session is queued behind it. A server that cannot say (no
//!    `pg_blocking_pids`) falls back to a time bound ([`IsolationRunOptions::settle_timeout`]).
//! 4. after the last step, a bounded wait for every session to finish (deadlock detection
//!    included); statements still blocked then are recorded as not finished and their
//!    backends terminated;
//! 5. the after-reads on the admin connection, the verdict, and `DROP SCHEMA … CASCADE`.
//!
//! Statement results are read as text over the simple query protocol, so every value is
//! compared the way `psql` prints it.

use crate::classify::{self, one_line};
use assay_core::isolation::{
    is_conflict_sqlstate, is_isolation_test, CellResult, IsolationCell, IsolationEvidence,
    IsolationLevel, IsolationMatrix, IsolationRow, IsolationTest, Observation, ObservedResult,
    StepEvidence,
};
use assay_core::{DriverError, Endpoint};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{ConnectOptions, Connection, Executor, Row, ValueRef};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The profile whose documented verdicts PostgreSQL runs are compared with.
pub const POSTGRES_PROFILE: &str = "postgres";
/// The levels PostgreSQL offers as distinct behaviours (READ UNCOMMITTED is READ COMMITTED).
pub const POSTGRES_ISOLATION_LEVELS: [IsolationLevel; 3] = [
    IsolationLevel::ReadCommitted,
    IsolationLevel::RepeatableRead,
    IsolationLevel::Serializable,
];
/// Between two looks at the sessions while settling.
const POLL: Duration = Duration::from_millis(5);
/// Bound on connecting one session or the admin connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on setup statements, after-reads and dropping the schema.
const ADMIN_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Knobs of an isolation run; the defaults suit a local or nearby server.
#[derive(Clone, Debug)]
pub struct IsolationRunOptions {
    /// Whose `expected.<profile>` verdicts the cells are compared with.
    pub profile: String,
    /// How long a statement may run before it counts as blocked when the server cannot say
    /// whether it waits on a lock.
    pub settle_timeout: Duration,
    /// After the last step: how long sessions get to finish (must exceed the server's
    /// `deadlock_timeout`, 1 s by default, so deadlocks resolve inside it).
    pub finish_timeout: Duration,
    /// Server-side `statement_timeout` of each session, the backstop for a hung statement.
    pub statement_timeout: Duration,
}

impl Default for IsolationRunOptions {
    fn default() -> Self {
        IsolationRunOptions {
            profile: POSTGRES_PROFILE.to_string(),
            settle_timeout: Duration::from_secs(2),
            finish_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

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
    run_isolation_suite_with(endpoint, tests, levels, &IsolationRunOptions::default()).await
}

/// [`run_isolation_suite`] with explicit options (another profile, other bounds).
pub async fn run_isolation_suite_with(
    endpoint: &Endpoint,
    tests: &[IsolationTest],
    levels: &[IsolationLevel],
    options: &IsolationRunOptions,
) -> Result<IsolationMatrix, DriverError> {
    let connect = connect_options(endpoint)?;
    let mut seen = BTreeMap::new();
    for t in tests {
        if let Some(other) = seen.insert(t.anomaly.as_str(), t.file.as_str()) {
            return Err(DriverError::config(format!(
                "anomaly `{}` is named by both {other} and {}; give each test its own name",
                t.anomaly, t.file
            )));
        }
    }
    // Fail fast, with the reason, when the server is not there.
    let admin = connect_admin(&connect).await?;
    let _ = tokio::time::timeout(Duration::from_secs(1), admin.close()).await;

    let mut rows = Vec::with_capacity(tests.len());
    for test in tests {
        let mut cells = Vec::with_capacity(levels.len());
        for &level in levels {
            cells.push(run_cell(&connect, test, level, options).await);
        }
        rows.push(IsolationRow {
            anomaly: test.anomaly.clone(),
            title: test.title.clone(),
            file: test.file.clone(),
            cells,
        });
    }
    Ok(IsolationMatrix {
        profile: options.profile.clone(),
        levels: levels.to_vec(),
        rows,
    })
}

/// Every `*.toml` in `dir` (not recursive), sorted by name, each of which must be an
/// isolation test. `Err` lists every bad file as `file:line:col: message`.
pub fn load_isolation_tests(dir: &Path) -> Result<Vec<IsolationTest>, Vec<String>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| vec![format!("{}: cannot read directory: {e}", dir.display())])?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(vec![format!(
            "{}: no *.toml isolation tests in this directory",
            dir.display()
        )]);
    }
    let mut tests = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let label = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Err(e) => errors.push(format!("{label}: cannot read: {e}")),
            Ok(text) if !is_isolation_test(&text) => errors.push(format!(
                "{label}:1:1: not an isolation test; add `isolation_test = 1` at the top or move the file out of {}",
                dir.display()
            )),
            Ok(text) => match IsolationTest::parse(&text, &label) {
                Ok(t) => tests.push(t),
                Err(e) => errors.push(e.to_string()),
            },
        }
    }
    if errors.is_empty() {
        Ok(tests)
    } else {
        Err(errors)
    }
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

fn addr_of(options: &PgConnectOptions) -> String {
    format!("{}:{}", options.get_host(), options.get_port())
}

async fn connect_with(options: &PgConnectOptions) -> Result<PgConnection, DriverError> {
    let addr = addr_of(options);
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(classify::connect_error(&e, "primary", &addr)),
        Err(_) => Err(classify::connect_timeout_error(
            "primary",
            &addr,
            CONNECT_TIMEOUT,
        )),
    }
}

async fn connect_admin(options: &PgConnectOptions) -> Result<PgConnection, DriverError> {
    let options = options.clone().options([(
        "statement_timeout",
        format!("{}ms", ADMIN_STATEMENT_TIMEOUT.as_millis()),
    )]);
    connect_with(&options).await
}

/// `assay_iso_<pid>_<n>`: unique per process and call, valid unquoted.
fn fresh_schema() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "assay_iso_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
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

/// Runs one statement over the simple query protocol; the result as observed.
async fn run_text(conn: &mut PgConnection, sql: &str, timeout: Duration) -> ObservedResult {
    // A bare `&str` has no arguments, so sqlx sends it as a simple query (text results).
    match tokio::time::timeout(timeout, conn.fetch_all(sql)).await {
        Err(_) => ObservedResult::NotFinished {
            reason: format!("no answer within {timeout:?}"),
        },
        Ok(Err(e)) => error_result(&e),
        Ok(Ok(rows)) => match rows.iter().map(row_text).collect::<Result<Vec<_>, _>>() {
            Ok(rows) => ObservedResult::Rows { rows },
            Err(e) => ObservedResult::Error {
                sqlstate: String::new(),
                message: format!("a value could not be read as text: {e}"),
            },
        },
    }
}

fn error_result(e: &sqlx::Error) -> ObservedResult {
    match e {
        sqlx::Error::Database(db) => ObservedResult::Error {
            sqlstate: db.code().map(|c| c.into_owned()).unwrap_or_default(),
            message: one_line(db.message()),
        },
        other => ObservedResult::Error {
            sqlstate: String::new(),
            message: one_line(&other.to_string()),
        },
    }
}

/// A statement for a session task: its step index (0-based) and text.
struct Job {
    index: usize,
    sql: String,
}

/// What a session task reports for a job.
struct Done {
    index: usize,
    result: ObservedResult,
}

/// One session: runs its jobs in order on its own connection, beginning the transaction at
/// `level` before the first; on close, rolls back whatever is open.
async fn session_task(
    mut conn: PgConnection,
    level: IsolationLevel,
    statement_bound: Duration,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    done: mpsc::UnboundedSender<Done>,
) {
    let mut begun = false;
    while let Some(job) = jobs.recv().await {
        let mut result = None;
        if !begun {
            begun = true;
            let begin = format!("BEGIN ISOLATION LEVEL {}", level.sql());
            let r = run_text(&mut conn, &begin, statement_bound).await;
            if !matches!(r, ObservedResult::Rows { .. }) {
                result = Some(r);
            }
        }
        let result = match result {
            Some(failed_begin) => failed_begin,
            None => run_text(&mut conn, &job.sql, statement_bound).await,
        };
        let broken = matches!(&result, ObservedResult::Error { sqlstate, .. } if sqlstate.is_empty())
            || matches!(result, ObservedResult::NotFinished { .. });
        if done
            .send(Done {
                index: job.index,
                result,
            })
            .is_err()
            || broken
        {
            break;
        }
    }
    let _ = run_text(&mut conn, "ROLLBACK", Duration::from_secs(2)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
}

/// A step as the runner tracks it.
struct StepState {
    session: usize,
    issued: bool,
    queued: bool,
    blocked: bool,
    finished_during: Option<usize>,
    result: Option<ObservedResult>,
}

/// The sessions of one run and what the runner knows about their statements.
struct Run<'a> {
    admin: &'a mut PgConnection,
    senders: Vec<Option<mpsc::UnboundedSender<Job>>>,
    pids: Vec<i32>,
    done: mpsc::UnboundedReceiver<Done>,
    steps: Vec<StepState>,
    /// Whether the server answered `pg_blocking_pids`; if not, blocking is judged by time.
    server_reports_locks: bool,
}

impl Run<'_> {
    /// The statement a session is running (its oldest unfinished issued step).
    fn in_flight(&self, session: usize) -> Option<usize> {
        self.steps
            .iter()
            .position(|s| s.session == session && s.issued && s.result.is_none())
    }

    fn absorb(&mut self, d: Done, during: usize) {
        if let Some(s) = self.steps.get_mut(d.index) {
            if s.result.is_none() {
                s.result = Some(d.result);
                s.finished_during = Some(during);
            }
        }
    }

    /// Sessions (indexes) whose in-flight statement waits on another session's lock now.
    async fn blocked_sessions(&mut self, busy: &[usize]) -> Option<Vec<usize>> {
        if !self.server_reports_locks {
            return None;
        }
        let pids: Vec<i32> = busy.iter().map(|&s| self.pids[s]).collect();
        let query = sqlx::query(
            "SELECT p FROM unnest($1::int4[]) AS p WHERE cardinality(pg_blocking_pids(p)) > 0",
        )
        .bind(&pids)
        .fetch_all(&mut *self.admin);
        match tokio::time::timeout(Duration::from_secs(2), query).await {
            Ok(Ok(rows)) => {
                let blocked: Vec<i32> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
                Some(
                    busy.iter()
                        .copied()
                        .filter(|s| blocked.contains(&self.pids[*s]))
                        .collect(),
                )
            }
            _ => {
                self.server_reports_locks = false;
                None
            }
        }
    }

    /// Waits until every session is idle, or (unless `until_idle`) idle or blocked on a lock,
    /// at most `bound`. Marks the in-flight statements seen blocked.
    async fn settle(&mut self, during: usize, bound: Duration, until_idle: bool) {
        let deadline = Instant::now() + bound;
        // Blocked on two looks in a row, so a waiter the lock was just handed to is not
        // mistaken for one still waiting.
        let mut blocked_before: Vec<usize> = Vec::new();
        loop {
            while let Ok(d) = self.done.try_recv() {
                self.absorb(d, during);
            }
            let busy: Vec<usize> = (0..self.senders.len())
                .filter(|s| self.in_flight(*s).is_some())
                .collect();
            if busy.is_empty() {
                return;
            }
            let timed_out = Instant::now() >= deadline;
            match self.blocked_sessions(&busy).await {
                Some(blocked) => {
                    for &s in &blocked {
                        if let Some(i) = self.in_flight(s) {
                            self.steps[i].blocked = true;
                        }
                    }
                    let stable = blocked.iter().all(|s| blocked_before.contains(s));
                    if !until_idle && blocked.len() == busy.len() && stable {
                        return;
                    }
                    blocked_before = blocked;
                }
                None if timed_out && !until_idle => {
                    // No lock information: a statement this slow counts as blocked.
                    for s in busy {
                        if let Some(i) = self.in_flight(s) {
                            self.steps[i].blocked = true;
                        }
                    }
                    return;
                }
                None => {}
            }
            if timed_out {
                return;
            }
            if let Ok(Some(d)) = tokio::time::timeout(POLL, self.done.recv()).await {
                self.absorb(d, during);
            }
        }
    }
}

async fn run_cell(
    connect: &PgConnectOptions,
    test: &IsolationTest,
    level: IsolationLevel,
    options: &IsolationRunOptions,
) -> IsolationCell {
    let expected = test.expected(&options.profile, level);
    let (result, evidence) = match run_once(connect, test, level, options).await {
        Ok((result, evidence)) => (result, evidence),
        Err(message) => (
            CellResult::Error { message },
            IsolationEvidence {
                steps: Vec::new(),
                conditions: Vec::new(),
            },
        ),
    };
    IsolationCell {
        level,
        result,
        expected,
        evidence,
    }
}

/// One test at one level in a schema of its own, dropped afterwards whatever happened.
async fn run_once(
    connect: &PgConnectOptions,
    test: &IsolationTest,
    level: IsolationLevel,
    options: &IsolationRunOptions,
) -> Result<(CellResult, IsolationEvidence), String> {
    let mut admin = connect_admin(connect).await.map_err(|e| e.message)?;
    let schema = fresh_schema();
    let created = run_text(
        &mut admin,
        &format!("CREATE SCHEMA {schema}; SET search_path TO {schema}"),
        ADMIN_STATEMENT_TIMEOUT,
    )
    .await;
    if !matches!(created, ObservedResult::Rows { .. }) {
        return Err(format!("creating schema {schema} failed: {created}"));
    }
    let outcome = run_in_schema(&mut admin, connect, &schema, test, level, options).await;
    let dropped = run_text(
        &mut admin,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ADMIN_STATEMENT_TIMEOUT,
    )
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), admin.close()).await;
    let outcome = outcome?;
    if !matches!(dropped, ObservedResult::Rows { .. }) {
        return Err(format!(
            "the test ran, but dropping schema {schema} failed: {dropped}; drop it by hand"
        ));
    }
    Ok(outcome)
}

async fn run_in_schema(
    admin: &mut PgConnection,
    connect: &PgConnectOptions,
    schema: &str,
    test: &IsolationTest,
    level: IsolationLevel,
    options: &IsolationRunOptions,
) -> Result<(CellResult, IsolationEvidence), String> {
    for (i, sql) in test.setup.iter().enumerate() {
        let r = run_text(admin, sql, ADMIN_STATEMENT_TIMEOUT).await;
        if !matches!(r, ObservedResult::Rows { .. }) {
            return Err(format!("setup statement {} (`{sql}`) failed: {r}", i + 1));
        }
    }

    let session_options = connect.clone().options([
        ("search_path", schema.to_string()),
        (
            "statement_timeout",
            format!("{}ms", options.statement_timeout.as_millis().max(1)),
        ),
    ]);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let mut senders = Vec::new();
    let mut pids = Vec::new();
    let mut tasks = Vec::new();
    for s in 1..=test.sessions {
        let mut conn = connect_with(&session_options)
            .await
            .map_err(|e| format!("session {s}: {}", e.message))?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("session {s}: reading its backend pid failed: {e}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(session_task(
            conn,
            level,
            options.statement_timeout + Duration::from_secs(2),
            rx,
            done_tx.clone(),
        )));
        senders.push(Some(tx));
        pids.push(pid);
    }
    drop(done_tx);

    let mut run = Run {
        admin,
        senders,
        pids,
        done: done_rx,
        steps: test
            .steps
            .iter()
            .map(|s| StepState {
                session: s.session as usize - 1,
                issued: false,
                queued: false,
                blocked: false,
                finished_during: None,
                result: None,
            })
            .collect(),
        server_reports_locks: true,
    };
    for (i, step) in test.steps.iter().enumerate() {
        run.settle(i + 1, options.settle_timeout, false).await;
        let session = step.session as usize - 1;
        let queued = run.in_flight(session).is_some();
        let sent = run.senders[session].as_ref().is_some_and(|tx| {
            tx.send(Job {
                index: i,
                sql: step.sql.clone(),
            })
            .is_ok()
        });
        let state = &mut run.steps[i];
        state.queued = queued;
        if sent {
            state.issued = true;
        } else {
            state.result = Some(ObservedResult::NotFinished {
                reason: format!("session {} had already ended", step.session),
            });
        }
        run.settle(i + 1, options.settle_timeout, false).await;
    }
    let last = test.steps.len();
    run.settle(last, options.finish_timeout, true).await;

    // Whatever is still in flight is stuck behind a transaction the test left open.
    let stuck: Vec<usize> = (0..run.senders.len())
        .filter(|s| run.in_flight(*s).is_some())
        .collect();
    for i in 0..run.steps.len() {
        let s = &mut run.steps[i];
        if s.issued && s.result.is_none() {
            s.result = Some(ObservedResult::NotFinished {
                reason: "still blocked when every step had been sent".into(),
            });
        }
    }
    for s in &stuck {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(run.pids[*s])
                .execute(&mut *run.admin),
        )
        .await;
    }
    run.senders.iter_mut().for_each(|tx| drop(tx.take()));
    for task in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    let mut evidence_steps: Vec<StepEvidence> = test
        .steps
        .iter()
        .zip(&run.steps)
        .enumerate()
        .map(|(i, (step, state))| StepEvidence {
            index: i + 1,
            session: step.session,
            id: step.id.clone(),
            sql: step.sql.clone(),
            blocked: state.blocked,
            queued: state.queued,
            finished_during_step: state.finished_during.filter(|d| *d != i + 1),
            result: state.result.clone().unwrap_or(ObservedResult::NotFinished {
                reason: "never sent".into(),
            }),
        })
        .collect();
    let admin = run.admin;
    for (j, read) in test.after.iter().enumerate() {
        let result = run_text(admin, &read.sql, ADMIN_STATEMENT_TIMEOUT).await;
        evidence_steps.push(StepEvidence {
            index: last + j + 1,
            session: 0,
            id: Some(read.id.clone()),
            sql: read.sql.clone(),
            blocked: false,
            queued: false,
            finished_during_step: None,
            result,
        });
    }

    let observations: BTreeMap<String, Observation> = evidence_steps
        .iter()
        .filter_map(|e| {
            e.id.clone().map(|id| {
                (
                    id,
                    Observation {
                        blocked: e.blocked,
                        result: e.result.clone(),
                    },
                )
            })
        })
        .collect();
    let (verdict, conditions) = test.verdict(&|id| observations.get(id).cloned());
    let broken = evidence_steps.iter().find_map(|e| match &e.result {
        ObservedResult::Error { sqlstate, message } if !is_conflict_sqlstate(sqlstate) => {
            Some(format!(
                "step {} ({}) failed with {}: {message}; only conflict errors (SQLSTATE 40xxx, 23xxx, 25P02) belong to a verdict, so the test or the server is broken",
                e.index,
                who(e.session),
                if sqlstate.is_empty() { "a client error" } else { sqlstate.as_str() }
            ))
        }
        ObservedResult::NotFinished { reason } => Some(format!(
            "step {} ({}: {}) did not finish: {reason}; a session probably left its transaction open",
            e.index,
            who(e.session),
            e.sql
        )),
        _ => None,
    });
    let result = match broken {
        Some(message) => CellResult::Error { message },
        None => CellResult::Verdict { verdict },
    };
    Ok((
        result,
        IsolationEvidence {
            steps: evidence_steps,
            conditions,
        },
    ))
}

fn who(session: u32) -> String {
    if session == 0 {
        "after-read".to_string()
    } else {
        format!("T{session}")
    }
}
