//! The Hermitage-style isolation suite on any SQL server: runs each [`IsolationTest`] at
//! each level of each profile with one connection per session and returns the matrix
//! level × anomaly → prevented / occurs, compared with the tests' documented verdicts.
//! A driver supplies only its [`IsolationDialect`]: how to connect, the statements that
//! make a namespace, bound a session and begin a transaction at a level, the query that
//! says which sessions wait on a lock, how to end a stuck session, and how a statement's
//! rows and errors read ([`IsolationConn`]).
//!
//! One run of a test at one level:
//! 1. a fresh namespace (`assay_iso_…`: a schema, or a database) with the test's setup
//!    statements, on an admin connection;
//! 2. one connection per session (the namespace as its default, the server-side statement
//!    bound, the profile's settings); each session begins its transaction at the level under
//!    test right before its first statement;
//! 3. the steps in the file's order. After sending a step the runner *settles*
//!    (`session.rs`): it waits until every session with a statement in flight has either
//!    finished it or is waiting on another session's lock, which the server says (the
//!    dialect's lock-wait query, seen on two looks in a row). A blocked statement carries on
//!    in the background, as in Hermitage; a later step of the same session is queued behind
//!    it. A server that cannot say falls back to a time bound
//!    ([`IsolationRunOptions::settle_timeout`]). When a server ends a session's transaction
//!    itself (MySQL rolls a deadlock victim back), that session's later statements are not
//!    sent (they would run outside any transaction) and are recorded as skipped;
//! 4. after the last step, a bounded wait for every session to finish (deadlock detection
//!    included); statements still blocked then are recorded as not finished and their
//!    sessions ended;
//! 5. the after-reads on the admin connection, the verdict, and the namespace dropped.

mod session;

use assay_core::isolation::{
    is_isolation_test, CellResult, IsolationCell, IsolationEvidence, IsolationLevel,
    IsolationMatrix, IsolationRow, IsolationTest, Observation, ObservedResult, ProfileColumns,
    StepEvidence,
};
use assay_core::DriverError;
use async_trait::async_trait;
use session::{run_steps, SessionRun};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bound on setup statements, after-reads and dropping the namespace.
pub const ADMIN_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on opening one connection (each dialect applies it, naming its server).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What one statement did, as the dialect read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Ran {
    /// Rows as text (NULL as `NULL`), or the error with the server's SQLSTATE (empty for a
    /// client-side error, which ends the session).
    pub result: ObservedResult,
    /// The error is one a database raises to prevent an anomaly (serialization failure,
    /// deadlock, a constraint stopping a conflicting write, …). Any other error means the
    /// test or the server is broken, so the cell is an error, never a verdict.
    pub conflict: bool,
    /// The server is known to have rolled the whole transaction back with this error
    /// (MySQL's deadlock victim). Where the dialect can ask instead
    /// ([`IsolationDialect::in_transaction_sql`]), the runner asks after every error.
    pub ends_transaction: bool,
}

impl Ran {
    pub fn rows(rows: Vec<Vec<String>>) -> Ran {
        Ran {
            result: ObservedResult::Rows { rows },
            conflict: false,
            ends_transaction: false,
        }
    }

    /// A statement that ended with `result` (an error or not finished); no conflict.
    pub fn failed(result: ObservedResult) -> Ran {
        Ran {
            result,
            conflict: false,
            ends_transaction: false,
        }
    }

    /// What a text-protocol fetch came to: its rows as the dialect reads them as text, or
    /// the dialect's account of its error.
    pub fn from_fetch<R, E: std::fmt::Display>(
        fetched: Result<Vec<R>, sqlx::Error>,
        row_text: impl Fn(&R) -> Result<Vec<String>, E>,
        error_ran: impl Fn(&sqlx::Error) -> Ran,
    ) -> Ran {
        match fetched {
            Err(e) => error_ran(&e),
            Ok(rows) => match rows.iter().map(row_text).collect::<Result<Vec<_>, _>>() {
                Ok(rows) => Ran::rows(rows),
                Err(e) => Ran::failed(ObservedResult::Error {
                    sqlstate: String::new(),
                    message: format!("a value could not be read as text: {e}"),
                }),
            },
        }
    }
}

/// One connection the runner drives: a session, or the admin connection.
#[async_trait]
pub trait IsolationConn: Send {
    /// Runs `sql` (text protocol, so values compare as the server prints them). The runner
    /// bounds the call; a dropped call leaves the connection unusable, and the runner stops
    /// using it.
    async fn run(&mut self, sql: &str) -> Ran;
    /// Closes the connection (bounded by the runner).
    async fn close(self: Box<Self>);
}

/// What a SQL driver tells the shared runner about its server.
#[async_trait]
pub trait IsolationDialect: Send + Sync {
    /// The key of the tests' per-dialect statements (`sql_<key>`, `setup_<key>`).
    fn key(&self) -> &'static str;
    /// Opens a connection within [`CONNECT_TIMEOUT`]; `Err` says why, naming the server.
    async fn connect(&self) -> Result<Box<dyn IsolationConn>, DriverError>;
    /// Run on the admin connection first: its statement bound.
    fn admin_setup(&self, statement_timeout: Duration) -> Vec<String>;
    /// Creates namespace `name` (fresh) and makes it the admin connection's default.
    fn create_namespace(&self, name: &str) -> Vec<String>;
    fn drop_namespace(&self, name: &str) -> String;
    /// Run on each session after connecting: `namespace` as its default, the statement
    /// bound (lock waits included, where the server bounds them apart).
    fn session_setup(&self, namespace: &str, statement_timeout: Duration) -> Vec<String>;
    /// Returns the session's server-side id as one integer.
    fn session_id_sql(&self) -> &'static str;
    /// Begins a transaction at `level`.
    fn begin(&self, level: IsolationLevel) -> Vec<String>;
    /// Of the sessions `ids`, those waiting on another session's lock now, one id per row.
    fn waiting_sql(&self, ids: &[i64]) -> String;
    /// Least time between two lock-wait looks (a server may answer from a cache it
    /// refreshes only when left alone that long).
    fn lock_poll(&self) -> Duration;
    /// Ends session `id` from the admin connection.
    fn terminate_sql(&self, id: i64) -> String;
    /// Asked on a session after an error: one row, `1` while its transaction is still open.
    /// `None` when a failed transaction always stays open until its end (PostgreSQL).
    fn in_transaction_sql(&self) -> Option<&'static str>;
}

/// Knobs of an isolation run; the defaults suit a local or nearby server.
#[derive(Clone, Debug)]
pub struct IsolationRunOptions {
    /// Whose `expected.<profile>` verdicts the cells are compared with (the first
    /// [`ProfileRun`] of a driver that runs one).
    pub profile: String,
    /// How long a statement may run before it counts as blocked when the server cannot say
    /// whether it waits on a lock.
    pub settle_timeout: Duration,
    /// After the last step: how long sessions get to finish (must exceed the server's
    /// deadlock detection delay, PostgreSQL's `deadlock_timeout` is 1 s by default).
    pub finish_timeout: Duration,
    /// Server-side statement bound of each session, the backstop for a hung statement.
    pub statement_timeout: Duration,
}

impl IsolationRunOptions {
    /// The defaults, comparing with `profile`.
    pub fn for_profile(profile: &str) -> Self {
        IsolationRunOptions {
            profile: profile.to_string(),
            settle_timeout: Duration::from_secs(2),
            finish_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// One profile to run the suite under: its levels, and what each session sets first.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileRun {
    /// `expected.<profile>` in the test files.
    pub profile: String,
    /// Column suffix in the matrix; `None` for the target's own profile (the first run).
    pub label: Option<String>,
    /// For people: what this profile sets, e.g. `innodb_snapshot_isolation = ON`.
    pub setting: String,
    pub levels: Vec<IsolationLevel>,
    /// Run on each session after the dialect's own setup.
    pub session_sql: Vec<String>,
}

impl ProfileRun {
    /// The target's own profile at `levels`, nothing set.
    pub fn plain(profile: &str, levels: &[IsolationLevel]) -> Self {
        ProfileRun {
            profile: profile.to_string(),
            label: None,
            setting: String::new(),
            levels: levels.to_vec(),
            session_sql: Vec::new(),
        }
    }
}

/// Runs `tests` under each of `runs` (the first is the matrix's own profile, the rest are
/// suffixed columns) on the dialect's server.
///
/// `Err` only when the suite cannot run at all (server unreachable, two tests with the same
/// anomaly name, no runs); a test that cannot run at one level is an error *cell*, which
/// fails the matrix like any other difference.
pub async fn run_suite(
    dialect: &dyn IsolationDialect,
    tests: &[IsolationTest],
    runs: &[ProfileRun],
    options: &IsolationRunOptions,
) -> Result<IsolationMatrix, DriverError> {
    let Some((first, more)) = runs.split_first() else {
        return Err(DriverError::config("no isolation profile to run"));
    };
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
    let admin = connect(dialect).await?;
    close(admin).await;

    let mut rows = Vec::with_capacity(tests.len());
    for test in tests {
        let mut cells = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            for &level in &run.levels {
                let mut cell = run_cell(dialect, test, run, level, options).await;
                if i > 0 {
                    cell.profile = Some(run.profile.clone());
                }
                cells.push(cell);
            }
        }
        rows.push(IsolationRow {
            anomaly: test.anomaly.clone(),
            title: test.title.clone(),
            file: test.file.clone(),
            cells,
        });
    }
    Ok(IsolationMatrix {
        profile: first.profile.clone(),
        levels: first.levels.clone(),
        more: more
            .iter()
            .map(|r| ProfileColumns {
                profile: r.profile.clone(),
                label: r.label.clone().unwrap_or_else(|| r.profile.clone()),
                setting: r.setting.clone(),
                levels: r.levels.clone(),
            })
            .collect(),
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

/// A dialect's connect, with a backstop past the bound it applies itself.
async fn connect(dialect: &dyn IsolationDialect) -> Result<Box<dyn IsolationConn>, DriverError> {
    let backstop = CONNECT_TIMEOUT + Duration::from_secs(1);
    match tokio::time::timeout(backstop, dialect.connect()).await {
        Ok(result) => result,
        Err(_) => Err(DriverError::unavailable(format!(
            "connecting took longer than {backstop:?}"
        ))),
    }
}

async fn close(conn: Box<dyn IsolationConn>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
}

/// Runs one statement, bounded; a statement with no answer in time is not finished.
pub(crate) async fn run_bounded(conn: &mut dyn IsolationConn, sql: &str, timeout: Duration) -> Ran {
    match tokio::time::timeout(timeout, conn.run(sql)).await {
        Ok(ran) => ran,
        Err(_) => Ran::failed(ObservedResult::NotFinished {
            reason: format!("no answer within {timeout:?}"),
        }),
    }
}

/// Runs statements in order until one does not succeed; that one's result.
async fn run_all(conn: &mut dyn IsolationConn, statements: &[String]) -> Result<(), String> {
    for sql in statements {
        let ran = run_bounded(conn, sql, ADMIN_STATEMENT_TIMEOUT).await;
        if !matches!(ran.result, ObservedResult::Rows { .. }) {
            return Err(format!("`{sql}` failed: {}", ran.result));
        }
    }
    Ok(())
}

/// `assay_iso_<pid>_<n>`: unique per process and call, valid unquoted everywhere.
fn fresh_namespace() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "assay_iso_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

async fn run_cell(
    dialect: &dyn IsolationDialect,
    test: &IsolationTest,
    run: &ProfileRun,
    level: IsolationLevel,
    options: &IsolationRunOptions,
) -> IsolationCell {
    let expectation = test.expectation(&run.profile, level);
    let (result, evidence) = match run_once(dialect, test, run, level, options).await {
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
        profile: None,
        result,
        expected: expectation.map(|e| e.verdict),
        note: expectation.and_then(|e| e.note.clone()),
        hermitage: expectation.and_then(|e| e.hermitage),
        evidence,
    }
}

/// One test at one level in a namespace of its own, dropped afterwards whatever happened.
async fn run_once(
    dialect: &dyn IsolationDialect,
    test: &IsolationTest,
    run: &ProfileRun,
    level: IsolationLevel,
    options: &IsolationRunOptions,
) -> Result<(CellResult, IsolationEvidence), String> {
    let mut admin = connect(dialect).await.map_err(|e| e.message)?;
    let namespace = fresh_namespace();
    let mut prepare = dialect.admin_setup(ADMIN_STATEMENT_TIMEOUT);
    prepare.extend(dialect.create_namespace(&namespace));
    if let Err(e) = run_all(admin.as_mut(), &prepare).await {
        close(admin).await;
        return Err(format!("creating {namespace}: {e}"));
    }
    let outcome = run_in_namespace(
        admin.as_mut(),
        dialect,
        &namespace,
        test,
        run,
        level,
        options,
    )
    .await;
    let dropped = run_bounded(
        admin.as_mut(),
        &dialect.drop_namespace(&namespace),
        ADMIN_STATEMENT_TIMEOUT,
    )
    .await;
    close(admin).await;
    let outcome = outcome?;
    if !matches!(dropped.result, ObservedResult::Rows { .. }) {
        return Err(format!(
            "the test ran, but dropping {namespace} failed: {}; drop it by hand",
            dropped.result
        ));
    }
    Ok(outcome)
}

async fn run_in_namespace(
    admin: &mut dyn IsolationConn,
    dialect: &dyn IsolationDialect,
    namespace: &str,
    test: &IsolationTest,
    run: &ProfileRun,
    level: IsolationLevel,
    options: &IsolationRunOptions,
) -> Result<(CellResult, IsolationEvidence), String> {
    let key = dialect.key();
    for (i, sql) in test.setup_for(key).iter().enumerate() {
        let r = run_bounded(admin, sql, ADMIN_STATEMENT_TIMEOUT).await;
        if !matches!(r.result, ObservedResult::Rows { .. }) {
            return Err(format!(
                "setup statement {} (`{sql}`) failed: {}",
                i + 1,
                r.result
            ));
        }
    }
    let mut session_sql = dialect.session_setup(namespace, options.statement_timeout);
    session_sql.extend(run.session_sql.iter().cloned());
    let mut sessions = Vec::new();
    for s in 1..=test.sessions {
        let mut conn = connect(dialect)
            .await
            .map_err(|e| format!("session {s}: {}", e.message))?;
        if let Err(e) = run_all(conn.as_mut(), &session_sql).await {
            close(conn).await;
            return Err(format!("session {s}: {e}"));
        }
        let id = run_bounded(conn.as_mut(), dialect.session_id_sql(), CONNECT_TIMEOUT).await;
        let id = match &id.result {
            ObservedResult::Rows { rows } => rows
                .first()
                .and_then(|r| r.first())
                .and_then(|v| v.parse::<i64>().ok()),
            _ => None,
        };
        let Some(id) = id else {
            close(conn).await;
            return Err(format!("session {s}: reading its server-side id failed"));
        };
        sessions.push((conn, id));
    }

    let SessionRun { steps: states } =
        run_steps(admin, dialect, test, level, sessions, options).await;
    let last = test.steps.len();
    let mut evidence_steps: Vec<StepEvidence> = test
        .steps
        .iter()
        .zip(&states)
        .enumerate()
        .map(|(i, (step, state))| StepEvidence {
            index: i + 1,
            session: step.session,
            id: step.id.clone(),
            sql: step.sql_for(key).to_string(),
            blocked: state.blocked,
            queued: state.queued,
            finished_during_step: state.finished_during.filter(|d| *d != i + 1),
            result: state.result.clone().unwrap_or(ObservedResult::NotFinished {
                reason: "never sent".into(),
            }),
        })
        .collect();
    let mut conflicts: Vec<bool> = states.iter().map(|s| s.conflict).collect();
    for (j, read) in test.after.iter().enumerate() {
        let ran = run_bounded(admin, read.sql_for(key), ADMIN_STATEMENT_TIMEOUT).await;
        conflicts.push(ran.conflict);
        evidence_steps.push(StepEvidence {
            index: last + j + 1,
            session: 0,
            id: Some(read.id.clone()),
            sql: read.sql_for(key).to_string(),
            blocked: false,
            queued: false,
            finished_during_step: None,
            result: ran.result,
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
    let broken = evidence_steps.iter().zip(&conflicts).find_map(|(e, conflict)| match &e.result {
        ObservedResult::Error { sqlstate, message } if !conflict => Some(format!(
            "step {} ({}) failed with {}: {message}; only conflict errors (serialization failures, deadlocks, constraint violations) belong to a verdict, so the test or the server is broken",
            e.index,
            who(e.session),
            if sqlstate.is_empty() { "a client error" } else { sqlstate.as_str() }
        )),
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
