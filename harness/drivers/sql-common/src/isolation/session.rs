//! Driving the sessions of one run: a task per session that runs its statements in order on
//! its own connection, and the runner that sends the steps in the file's order and, after
//! each, settles until every busy session has finished or waits on a lock.

use super::{run_bounded, IsolationConn, IsolationDialect, IsolationRunOptions};
use assay_core::isolation::{IsolationLevel, IsolationTest, ObservedResult};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Longest wait between two looks at the sessions while settling, when the dialect allows
/// looks this often.
const POLL: Duration = Duration::from_millis(5);

/// A statement for a session task: its step index (0-based) and text.
struct Job {
    index: usize,
    sql: String,
}

/// What a session task reports for a job.
struct Done {
    index: usize,
    result: ObservedResult,
    conflict: bool,
}

/// What the runner knows about one step at the end.
pub(super) struct StepState {
    session: usize,
    issued: bool,
    pub(super) queued: bool,
    pub(super) blocked: bool,
    pub(super) finished_during: Option<usize>,
    pub(super) result: Option<ObservedResult>,
    pub(super) conflict: bool,
}

pub(super) struct SessionRun {
    pub(super) steps: Vec<StepState>,
}

/// What a session task is given besides its connection and channels.
struct SessionPlan {
    begin: Vec<String>,
    in_transaction_sql: Option<&'static str>,
    statement_bound: Duration,
}

/// Whether the server still has the session's transaction open (`None`: cannot tell).
async fn still_in_transaction(conn: &mut dyn IsolationConn, sql: &str) -> Option<bool> {
    match run_bounded(conn, sql, Duration::from_secs(2)).await.result {
        ObservedResult::Rows { rows } => rows.first()?.first().map(|v| v.trim() != "0"),
        _ => None,
    }
}

/// One session: runs its jobs in order, beginning the transaction before the first; once
/// the server has ended the transaction itself, later jobs are skipped, not sent; on
/// close, rolls back whatever is open.
async fn session_task(
    mut conn: Box<dyn IsolationConn>,
    plan: SessionPlan,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    done: mpsc::UnboundedSender<Done>,
) {
    let mut begun = false;
    let mut ended_at: Option<usize> = None;
    while let Some(job) = jobs.recv().await {
        if let Some(step) = ended_at {
            let skipped = Done {
                index: job.index,
                result: ObservedResult::Skipped {
                    reason: format!(
                        "the server ended this session's transaction at step {step}, so this would run outside it"
                    ),
                },
                conflict: true,
            };
            if done.send(skipped).is_err() {
                break;
            }
            continue;
        }
        let mut failed_begin = None;
        if !begun {
            begun = true;
            for sql in &plan.begin {
                let r = run_bounded(conn.as_mut(), sql, plan.statement_bound).await;
                if !matches!(r.result, ObservedResult::Rows { .. }) {
                    failed_begin = Some(r);
                    break;
                }
            }
        }
        let ran = match failed_begin {
            Some(r) => r,
            None => run_bounded(conn.as_mut(), &job.sql, plan.statement_bound).await,
        };
        let broken = matches!(&ran.result, ObservedResult::Error { sqlstate, .. } if sqlstate.is_empty())
            || matches!(ran.result, ObservedResult::NotFinished { .. });
        if !broken && matches!(ran.result, ObservedResult::Error { .. }) {
            let open = match plan.in_transaction_sql {
                Some(sql) => still_in_transaction(conn.as_mut(), sql).await,
                None => None,
            };
            if open == Some(false) || (open.is_none() && ran.ends_transaction) {
                ended_at = Some(job.index + 1);
            }
        }
        let sent = done.send(Done {
            index: job.index,
            result: ran.result,
            conflict: ran.conflict,
        });
        if sent.is_err() || broken {
            break;
        }
    }
    let _ = run_bounded(conn.as_mut(), "ROLLBACK", Duration::from_secs(2)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
}

/// The sessions of one run and what the runner knows about their statements.
struct Run<'a> {
    admin: &'a mut dyn IsolationConn,
    dialect: &'a dyn IsolationDialect,
    senders: Vec<Option<mpsc::UnboundedSender<Job>>>,
    ids: Vec<i64>,
    done: mpsc::UnboundedReceiver<Done>,
    steps: Vec<StepState>,
    /// Whether the server answered the lock-wait query; if not, blocking is judged by time.
    server_reports_locks: bool,
    last_look: Option<Instant>,
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
                s.conflict = d.conflict;
                s.finished_during = Some(during);
            }
        }
    }

    /// Sessions (indexes) whose in-flight statement waits on another session's lock now.
    async fn blocked_sessions(&mut self, busy: &[usize]) -> Option<Vec<usize>> {
        if !self.server_reports_locks {
            return None;
        }
        let ids: Vec<i64> = busy.iter().map(|&s| self.ids[s]).collect();
        let sql = self.dialect.waiting_sql(&ids);
        self.last_look = Some(Instant::now());
        match run_bounded(self.admin, &sql, Duration::from_secs(2))
            .await
            .result
        {
            ObservedResult::Rows { rows } => {
                let waiting: Vec<i64> = rows
                    .iter()
                    .filter_map(|r| r.first()?.parse().ok())
                    .collect();
                Some(
                    busy.iter()
                        .copied()
                        .filter(|s| waiting.contains(&self.ids[*s]))
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
        let lock_poll = self.dialect.lock_poll();
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
            let since_look = self.last_look.map_or(lock_poll, |t| t.elapsed());
            if since_look >= lock_poll || !self.server_reports_locks {
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
            }
            if timed_out {
                return;
            }
            let since_look = self.last_look.map_or(lock_poll, |t| t.elapsed());
            let wait = lock_poll.saturating_sub(since_look).max(POLL);
            if let Ok(Some(d)) = tokio::time::timeout(wait, self.done.recv()).await {
                self.absorb(d, during);
            }
        }
    }
}

/// Sends the test's steps to `sessions` (connection and server-side id each) in order,
/// settling after each; then waits for the sessions to finish, ends the stuck ones and
/// closes them all.
pub(super) async fn run_steps(
    admin: &mut dyn IsolationConn,
    dialect: &dyn IsolationDialect,
    test: &IsolationTest,
    level: IsolationLevel,
    sessions: Vec<(Box<dyn IsolationConn>, i64)>,
    options: &IsolationRunOptions,
) -> SessionRun {
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let mut senders = Vec::new();
    let mut ids = Vec::new();
    let mut tasks = Vec::new();
    for (conn, id) in sessions {
        let (tx, rx) = mpsc::unbounded_channel();
        let plan = SessionPlan {
            begin: dialect.begin(level),
            in_transaction_sql: dialect.in_transaction_sql(),
            statement_bound: options.statement_timeout + Duration::from_secs(2),
        };
        tasks.push(tokio::spawn(session_task(conn, plan, rx, done_tx.clone())));
        senders.push(Some(tx));
        ids.push(id);
    }
    drop(done_tx);

    let mut run = Run {
        admin,
        dialect,
        senders,
        ids,
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
                conflict: false,
            })
            .collect(),
        server_reports_locks: true,
        last_look: None,
    };
    let key = dialect.key();
    for (i, step) in test.steps.iter().enumerate() {
        run.settle(i + 1, options.settle_timeout, false).await;
        let session = step.session as usize - 1;
        let queued = run.in_flight(session).is_some();
        let sent = run.senders[session].as_ref().is_some_and(|tx| {
            tx.send(Job {
                index: i,
                sql: step.sql_for(key).to_string(),
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
    for s in run.steps.iter_mut() {
        if s.issued && s.result.is_none() {
            s.result = Some(ObservedResult::NotFinished {
                reason: "still blocked when every step had been sent".into(),
            });
        }
    }
    for s in &stuck {
        let sql = dialect.terminate_sql(run.ids[*s]);
        let _ = run_bounded(run.admin, &sql, Duration::from_secs(2)).await;
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
    SessionRun { steps: run.steps }
}
