//! Isolation tests (Hermitage-style) for SQL backends: the file format, its validation, the
//! verdict of one run from what each session saw, and the matrix isolation level × anomaly
//! that a suite of them produces.
//!
//! A test is a TOML file marked by the top-level key `isolation_test = 1` (the format
//! version), which is how loaders tell it from a portable scenario ([`is_isolation_test`]).
//! It names an anomaly (G0, G1a, …, G2), the SQL that sets up its tables, the statements of
//! two to four sessions in one deterministic order, optional reads after every session has
//! ended, the condition under which the anomaly *occurs*, and per database profile the
//! documented verdict at each isolation level. See `scenarios/conformance/isolation/README.md`.
//!
//! Running the statements is a driver's business (it opens the sessions, begins each one's
//! transaction at the level under test before its first statement, and tells blocked
//! statements from finished ones); this module turns what it observed into a verdict with
//! evidence, and a difference from the expected verdict into a failed cell.

pub use crate::isolation_level::IsolationLevel;
use crate::scenario::{from_toml, line_col, ScenarioError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// The version `isolation_test = N` must name.
pub const ISOLATION_FORMAT_VERSION: u32 = 1;
/// The top-level key that marks an isolation test file.
pub const ISOLATION_MARKER: &str = "isolation_test";
/// Sessions one test may use.
pub const MAX_SESSIONS: u32 = 4;
/// Statements one test may run (sessions' steps plus after-reads).
pub const MAX_STATEMENTS: usize = 100;

/// Whether `src` is an isolation test rather than a portable scenario: it has the top-level
/// key `isolation_test`. Also true for a file that does not parse as TOML but has a line
/// starting with that key, so its own parser reports the syntax error.
pub fn is_isolation_test(src: &str) -> bool {
    match toml::from_str::<toml::Table>(src) {
        Ok(table) => table.contains_key(ISOLATION_MARKER),
        Err(_) => src.lines().any(|l| {
            l.trim_start()
                .strip_prefix(ISOLATION_MARKER)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        }),
    }
}

/// Whether the anomaly happened in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyVerdict {
    Prevented,
    Occurs,
}

impl AnomalyVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyVerdict::Prevented => "prevented",
            AnomalyVerdict::Occurs => "occurs",
        }
    }
}

impl fmt::Display for AnomalyVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a test's conditions combine into "the anomaly occurs".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    /// Every condition holds (`occurs_if_all`).
    All,
    /// At least one condition holds (`occurs_if_any`).
    Any,
}

/// What a condition may ask of a statement besides its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// It finished without an error.
    Ok,
    /// It ended with an error.
    Error,
    /// It ended with a transaction-rollback error (SQLSTATE class 40: serialization
    /// failure, deadlock).
    Aborted,
    /// It waited on another session's lock (whatever happened after).
    Blocked,
}

/// One statement of one session, in the test's global order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationStep {
    /// 1-based session number (T1, T2, …).
    pub session: u32,
    pub sql: String,
    /// Name that conditions refer to.
    pub id: Option<String>,
    /// Line in the file, for messages.
    pub line: usize,
}

/// A read after every session has ended, on a fresh connection outside any test transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AfterRead {
    pub id: String,
    pub sql: String,
}

/// One condition on what a statement observed; it holds when every given part does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// A step's or after-read's id.
    pub step: String,
    /// The statement finished and returned exactly these rows, in order, as text.
    pub rows: Option<Vec<Vec<String>>>,
    pub outcome: Option<StepOutcome>,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.step)?;
        if let Some(rows) = &self.rows {
            write!(f, " returns {}", format_rows(rows))?;
        }
        if let Some(outcome) = self.outcome {
            let word = match outcome {
                StepOutcome::Ok => "succeeds",
                StepOutcome::Error => "fails",
                StepOutcome::Aborted => "aborts (SQLSTATE 40xxx)",
                StepOutcome::Blocked => "blocks",
            };
            let joiner = if self.rows.is_some() { " and" } else { "" };
            write!(f, "{joiner} {word}")?;
        }
        Ok(())
    }
}

/// `[[1, 10], [2, 20]]`, or `no rows`.
pub fn format_rows(rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "no rows".to_string();
    }
    let inner: Vec<String> = rows.iter().map(|r| format!("[{}]", r.join(", "))).collect();
    format!("[{}]", inner.join(", "))
}

/// A parsed, validated isolation test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationTest {
    /// The label given to `parse` (normally the file path).
    pub file: String,
    /// Short anomaly name, unique within a suite: `G0`, `G1a`, `P4`, `G-single`, …
    pub anomaly: String,
    pub title: String,
    pub description: String,
    pub sessions: u32,
    /// Statements that create and fill the test's tables, run before each level's run in
    /// a schema of its own.
    pub setup: Vec<String>,
    pub steps: Vec<IsolationStep>,
    pub after: Vec<AfterRead>,
    pub combine: Combine,
    pub conditions: Vec<Condition>,
    /// Database profile (`postgres`, `mysql`, …) → level → documented verdict.
    pub expected: BTreeMap<String, BTreeMap<IsolationLevel, AnomalyVerdict>>,
}

/// What a driver saw of one statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// It waited on another session's lock at some point.
    pub blocked: bool,
    pub result: ObservedResult,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ObservedResult {
    /// Finished; the rows as text (NULL as `NULL`), empty for statements without rows.
    Rows {
        rows: Vec<Vec<String>>,
    },
    Error {
        sqlstate: String,
        message: String,
    },
    /// Never finished or never sent (the session was still blocked when the test ended,
    /// or its connection broke first).
    NotFinished {
        reason: String,
    },
}

impl fmt::Display for ObservedResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObservedResult::Rows { rows } if rows.is_empty() => f.write_str("ok"),
            ObservedResult::Rows { rows } => write!(f, "ok, {}", format_rows(rows)),
            ObservedResult::Error { sqlstate, message } => {
                write!(f, "error {sqlstate}: {message}")
            }
            ObservedResult::NotFinished { reason } => write!(f, "not finished: {reason}"),
        }
    }
}

/// Errors a statement may end with as part of a database preventing an anomaly: class 40
/// (serialization failure, deadlock), 25P02 (statements after such an error in the same
/// transaction) and class 23 (a constraint stopped a conflicting write). Any other error
/// means the test itself is broken (a typo, a missing table), so its verdict is not trusted.
pub fn is_conflict_sqlstate(sqlstate: &str) -> bool {
    sqlstate.starts_with("40") || sqlstate.starts_with("23") || sqlstate == "25P02"
}

/// One condition and whether it held, for the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionEvidence {
    pub condition: String,
    pub held: bool,
}

impl IsolationTest {
    /// Parses and validates test text; `file` labels errors and the test.
    pub fn parse(src: &str, file: &str) -> Result<IsolationTest, ScenarioError> {
        parse(src, file)
    }

    /// The documented verdict for `profile` at `level`, when the file gives one.
    pub fn expected(&self, profile: &str, level: IsolationLevel) -> Option<AnomalyVerdict> {
        self.expected.get(profile)?.get(&level).copied()
    }

    /// The verdict from what the sessions observed (`observed(id)` for each condition's
    /// step), with each condition's result. A condition on a statement without an
    /// observation does not hold.
    pub fn verdict(
        &self,
        observed: &dyn Fn(&str) -> Option<Observation>,
    ) -> (AnomalyVerdict, Vec<ConditionEvidence>) {
        let evidence: Vec<ConditionEvidence> = self
            .conditions
            .iter()
            .map(|c| ConditionEvidence {
                condition: c.to_string(),
                held: observed(&c.step).is_some_and(|o| condition_holds(c, &o)),
            })
            .collect();
        let occurs = match self.combine {
            Combine::All => evidence.iter().all(|e| e.held),
            Combine::Any => evidence.iter().any(|e| e.held),
        };
        let verdict = if occurs {
            AnomalyVerdict::Occurs
        } else {
            AnomalyVerdict::Prevented
        };
        (verdict, evidence)
    }
}

fn condition_holds(c: &Condition, o: &Observation) -> bool {
    let rows_ok = match (&c.rows, &o.result) {
        (None, _) => true,
        (Some(want), ObservedResult::Rows { rows }) => want == rows,
        (Some(_), _) => false,
    };
    let outcome_ok = match c.outcome {
        None => true,
        Some(StepOutcome::Ok) => matches!(o.result, ObservedResult::Rows { .. }),
        Some(StepOutcome::Error) => matches!(o.result, ObservedResult::Error { .. }),
        Some(StepOutcome::Aborted) => {
            matches!(&o.result, ObservedResult::Error { sqlstate, .. } if sqlstate.starts_with("40"))
        }
        Some(StepOutcome::Blocked) => o.blocked,
    };
    rows_ok && outcome_ok
}

// ---- the matrix a suite produces ----

/// What one test × level run found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CellResult {
    Verdict {
        verdict: AnomalyVerdict,
    },
    /// The run could not give a trustworthy verdict (setup failed, a connection broke, a
    /// statement failed with an error that is not a conflict).
    Error {
        message: String,
    },
}

/// One statement as run, for the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEvidence {
    /// 1-based position in the test's order; after-reads continue the numbering.
    pub index: usize,
    /// Session number; 0 for after-reads.
    pub session: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub sql: String,
    /// Waited on another session's lock.
    pub blocked: bool,
    /// Sent late because the session was still blocked on an earlier statement.
    pub queued: bool,
    /// The step during (or after) which it finished, when not its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_during_step: Option<usize>,
    pub result: ObservedResult,
}

impl fmt::Display for StepEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.session == 0 {
            "after".to_string()
        } else {
            format!("T{}", self.session)
        };
        write!(f, "{:>2}. {who}: {}", self.index, self.sql)?;
        if self.queued {
            f.write_str(" [queued behind a blocked statement]")?;
        }
        if self.blocked {
            f.write_str(" [blocked")?;
            if let Some(step) = self.finished_during_step {
                write!(f, ", released at step {step}")?;
            }
            f.write_str("]")?;
        }
        write!(f, " → {}", self.result)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationEvidence {
    pub steps: Vec<StepEvidence>,
    pub conditions: Vec<ConditionEvidence>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationCell {
    pub level: IsolationLevel,
    pub result: CellResult,
    /// The documented verdict for the matrix's profile; `None` when the file has none.
    pub expected: Option<AnomalyVerdict>,
    pub evidence: IsolationEvidence,
}

impl IsolationCell {
    /// Observed and documented verdicts agree. An error or a missing expectation never
    /// matches: nothing unverified passes.
    pub fn matches(&self) -> bool {
        match (&self.result, self.expected) {
            (CellResult::Verdict { verdict }, Some(expected)) => *verdict == expected,
            _ => false,
        }
    }

    fn short(&self) -> String {
        let observed = match &self.result {
            CellResult::Verdict { verdict } => verdict.as_str(),
            CellResult::Error { .. } => "error",
        };
        match (self.matches(), self.expected) {
            (true, _) => observed.to_string(),
            (false, Some(expected)) => format!("{observed} ≠ {expected}"),
            (false, None) => format!("{observed} (no expectation)"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationRow {
    pub anomaly: String,
    pub title: String,
    pub file: String,
    pub cells: Vec<IsolationCell>,
}

/// Isolation level × anomaly → prevented / occurs, compared with the documented matrix of
/// `profile`. `Display` renders it as an aligned table followed by the evidence of every
/// cell that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationMatrix {
    /// Whose documented verdicts the cells are compared with (`postgres`, …).
    pub profile: String,
    pub levels: Vec<IsolationLevel>,
    pub rows: Vec<IsolationRow>,
}

impl IsolationMatrix {
    /// Every cell matches its documented verdict (and there is at least one cell).
    pub fn passed(&self) -> bool {
        let mut cells = self.rows.iter().flat_map(|r| r.cells.iter()).peekable();
        cells.peek().is_some() && cells.all(IsolationCell::matches)
    }

    /// The cells that differ from the documented verdict, with their row.
    pub fn mismatches(&self) -> Vec<(&IsolationRow, &IsolationCell)> {
        self.rows
            .iter()
            .flat_map(|r| r.cells.iter().map(move |c| (r, c)))
            .filter(|(_, c)| !c.matches())
            .collect()
    }

    /// The cell of `anomaly` at `level`.
    pub fn cell(&self, anomaly: &str, level: IsolationLevel) -> Option<&IsolationCell> {
        self.rows
            .iter()
            .find(|r| r.anomaly == anomaly)?
            .cells
            .iter()
            .find(|c| c.level == level)
    }
}

impl fmt::Display for IsolationMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut header = vec!["anomaly".to_string()];
        header.extend(self.levels.iter().map(|l| l.as_str().to_string()));
        let mut table = vec![header];
        for row in &self.rows {
            let mut line = vec![row.anomaly.clone()];
            for level in &self.levels {
                let cell = row.cells.iter().find(|c| c.level == *level);
                line.push(cell.map(IsolationCell::short).unwrap_or_else(|| "-".into()));
            }
            table.push(line);
        }
        let columns = table[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                table
                    .iter()
                    .map(|r| r.get(i).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in &table {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s:<w$}"))
                .collect();
            writeln!(f, "{}", cells.join("  ").trim_end())?;
        }
        let mismatches = self.mismatches();
        if mismatches.is_empty() {
            return write!(
                f,
                "isolation matrix matches the documented {} behaviour",
                self.profile
            );
        }
        write!(
            f,
            "{} cell(s) differ from the documented {} behaviour:",
            mismatches.len(),
            self.profile
        )?;
        for (row, cell) in mismatches {
            write!(f, "\n{} ({}) at {}: ", row.anomaly, row.file, cell.level)?;
            match (&cell.result, cell.expected) {
                (CellResult::Error { message }, _) => write!(f, "error: {message}")?,
                (CellResult::Verdict { verdict }, Some(e)) => {
                    write!(f, "{verdict}, documented {e}")?
                }
                (CellResult::Verdict { verdict }, None) => write!(
                    f,
                    "{verdict}, and the file has no expected.{}.{} to compare with",
                    self.profile, cell.level
                )?,
            }
            for step in &cell.evidence.steps {
                write!(f, "\n    {step}")?;
            }
            for c in &cell.evidence.conditions {
                let held = if c.held { "holds" } else { "does not hold" };
                write!(f, "\n    condition {}: {held}", c.condition)?;
            }
        }
        Ok(())
    }
}

// ---- parsing ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    isolation_test: Spanned<u32>,
    anomaly: Spanned<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    sessions: Spanned<u32>,
    #[serde(default)]
    setup: Vec<Spanned<String>>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
    #[serde(default)]
    after: Vec<Spanned<RawAfter>>,
    occurs_if_all: Option<Spanned<Vec<Spanned<RawCondition>>>>,
    occurs_if_any: Option<Spanned<Vec<Spanned<RawCondition>>>>,
    #[serde(default)]
    expected: BTreeMap<String, Spanned<BTreeMap<IsolationLevel, AnomalyVerdict>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    session: Spanned<u32>,
    sql: Spanned<String>,
    id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAfter {
    id: Spanned<String>,
    sql: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    step: Spanned<String>,
    rows: Option<Vec<Spanned<Vec<Spanned<toml::Value>>>>>,
    outcome: Option<StepOutcome>,
}

/// Statements that would fight the runner, which begins each session's transaction itself.
fn transaction_control(sql: &str) -> Option<&'static str> {
    let words: Vec<String> = sql
        .split_whitespace()
        .take(2)
        .map(|w| w.trim_end_matches(';').to_ascii_lowercase())
        .collect();
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["begin", ..] | ["start", "transaction"] => Some("begins a transaction"),
        ["set", "transaction"] | ["set", "session"] => Some("sets the isolation level"),
        _ => None,
    }
}

fn parse(src: &str, file: &str) -> Result<IsolationTest, ScenarioError> {
    let at = |span: Range<usize>, message: String| ScenarioError::at(src, file, span, message);
    let raw: RawTest = from_toml(src, file)?;

    if *raw.isolation_test.get_ref() != ISOLATION_FORMAT_VERSION {
        return Err(at(
            raw.isolation_test.span(),
            format!(
                "isolation_test = {} is not supported; this Assay reads isolation_test = {ISOLATION_FORMAT_VERSION}",
                raw.isolation_test.get_ref()
            ),
        ));
    }
    let anomaly = raw.anomaly.get_ref().trim().to_string();
    if anomaly.is_empty() || anomaly.len() > 32 || anomaly.contains(char::is_whitespace) {
        return Err(at(
            raw.anomaly.span(),
            "anomaly must be a short name without spaces, e.g. \"G-single\"".into(),
        ));
    }
    let sessions = *raw.sessions.get_ref();
    if !(2..=MAX_SESSIONS).contains(&sessions) {
        return Err(at(
            raw.sessions.span(),
            format!("sessions = {sessions}: an isolation test needs 2 to {MAX_SESSIONS} sessions"),
        ));
    }
    let mut setup = Vec::with_capacity(raw.setup.len());
    for s in &raw.setup {
        if s.get_ref().trim().is_empty() {
            return Err(at(s.span(), "a setup statement is empty; remove it".into()));
        }
        setup.push(s.get_ref().clone());
    }

    let steps_span = raw.steps.span();
    let raw_steps = raw.steps.into_inner();
    if raw_steps.is_empty() {
        return Err(at(
            steps_span,
            "steps is empty; list each session's statements in the order they run".into(),
        ));
    }
    if raw_steps.len() + raw.after.len() > MAX_STATEMENTS {
        return Err(at(
            steps_span,
            format!("more than {MAX_STATEMENTS} statements; split the test"),
        ));
    }
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut check_id = |id: &Spanned<String>| -> Result<String, ScenarioError> {
        let name = id.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(at(id.span(), "id is empty; name the statement".into()));
        }
        if !ids.insert(name.clone()) {
            return Err(at(
                id.span(),
                format!("id `{name}` is used twice; ids name one statement each"),
            ));
        }
        Ok(name)
    };
    let mut steps = Vec::with_capacity(raw_steps.len());
    let mut used = BTreeSet::new();
    for spanned in raw_steps {
        let line = line_col(src, spanned.span().start).0;
        let step = spanned.into_inner();
        let session = *step.session.get_ref();
        if !(1..=sessions).contains(&session) {
            return Err(at(
                step.session.span(),
                format!("session = {session}, but sessions = {sessions}; use 1 to {sessions}"),
            ));
        }
        let sql = step.sql.get_ref().trim().to_string();
        if sql.is_empty() {
            return Err(at(
                step.sql.span(),
                "sql is empty; give the statement".into(),
            ));
        }
        if let Some(what) = transaction_control(&sql) {
            return Err(at(
                step.sql.span(),
                format!(
                    "`{sql}` {what}; the runner begins each session's transaction at the level under test before its first statement, so remove it"
                ),
            ));
        }
        let id = step.id.as_ref().map(&mut check_id).transpose()?;
        used.insert(session);
        steps.push(IsolationStep {
            session,
            sql,
            id,
            line,
        });
    }
    if let Some(unused) = (1..=sessions).find(|s| !used.contains(s)) {
        return Err(at(
            raw.sessions.span(),
            format!("session {unused} has no steps; lower sessions or give it statements"),
        ));
    }
    let mut after = Vec::with_capacity(raw.after.len());
    for a in raw.after {
        let a = a.into_inner();
        let id = check_id(&a.id)?;
        let sql = a.sql.get_ref().trim().to_string();
        if sql.is_empty() {
            return Err(at(a.sql.span(), "sql is empty; give the query".into()));
        }
        after.push(AfterRead { id, sql });
    }

    let (combine, raw_conditions) = match (raw.occurs_if_all, raw.occurs_if_any) {
        (Some(all), None) => (Combine::All, all),
        (None, Some(any)) => (Combine::Any, any),
        (Some(_), Some(any)) => {
            return Err(at(
                any.span(),
                "give occurs_if_all or occurs_if_any, not both".into(),
            ))
        }
        (None, None) => {
            return Err(at(
                0..0,
                "no occurs_if_all or occurs_if_any: say what the sessions observe when the anomaly occurs".into(),
            ))
        }
    };
    let conditions_span = raw_conditions.span();
    let raw_conditions = raw_conditions.into_inner();
    if raw_conditions.is_empty() {
        return Err(at(
            conditions_span,
            "the condition list is empty; add at least one condition".into(),
        ));
    }
    let mut conditions = Vec::with_capacity(raw_conditions.len());
    for spanned in raw_conditions {
        let span = spanned.span();
        let c = spanned.into_inner();
        let step = c.step.get_ref().clone();
        if !ids.contains(&step) {
            let known: Vec<&str> = ids.iter().map(String::as_str).collect();
            return Err(at(
                c.step.span(),
                format!(
                    "no step or after-read has id `{step}`; give one `id = \"{step}\"` or use one of: {}",
                    if known.is_empty() { "(none)".to_string() } else { known.join(", ") }
                ),
            ));
        }
        if c.rows.is_none() && c.outcome.is_none() {
            return Err(at(
                span,
                "a condition needs rows = [[...]] or outcome = \"ok\"|\"error\"|\"aborted\"|\"blocked\"".into(),
            ));
        }
        let rows = match c.rows {
            None => None,
            Some(rows) => {
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut values = Vec::new();
                    for v in row.into_inner() {
                        values.push(match v.get_ref() {
                            toml::Value::Integer(i) => i.to_string(),
                            toml::Value::String(s) => s.clone(),
                            other => {
                                return Err(at(
                                    v.span(),
                                    format!(
                                        "row values are integers or strings (as the database prints them); got a {}",
                                        other.type_str()
                                    ),
                                ))
                            }
                        });
                    }
                    out.push(values);
                }
                Some(out)
            }
        };
        conditions.push(Condition {
            step,
            rows,
            outcome: c.outcome,
        });
    }

    let mut expected = BTreeMap::new();
    for (profile, levels) in raw.expected {
        if levels.get_ref().is_empty() {
            return Err(at(
                levels.span(),
                format!(
                    "expected.{profile} lists no levels; add e.g. read_committed = \"prevented\""
                ),
            ));
        }
        expected.insert(profile, levels.into_inner());
    }

    Ok(IsolationTest {
        file: file.to_string(),
        anomaly,
        title: raw.title,
        description: raw.description.trim().to_string(),
        sessions,
        setup,
        steps,
        after,
        combine,
        conditions,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P4: &str = r#"
isolation_test = 1
anomaly = "P4"
title = "lost update"
sessions = 2
setup = [
  "create table test (id int primary key, value int)",
  "insert into test (id, value) values (1, 10), (2, 20)",
]
steps = [
  { session = 1, sql = "select value from test where id = 1" },
  { session = 2, sql = "select value from test where id = 1" },
  { session = 1, sql = "update test set value = 11 where id = 1" },
  { session = 2, sql = "update test set value = 12 where id = 1", id = "t2_update" },
  { session = 1, sql = "commit" },
  { session = 2, sql = "commit" },
]
after = [{ id = "final", sql = "select value from test where id = 1" }]
occurs_if_all = [{ step = "final", rows = [[12]] }]

[expected.postgres]
read_committed = "occurs"
repeatable_read = "prevented"
serializable = "prevented"
"#;

    fn err(src: &str) -> String {
        IsolationTest::parse(src, "t.toml").unwrap_err().to_string()
    }

    fn rows(r: &[&[&str]]) -> ObservedResult {
        ObservedResult::Rows {
            rows: r
                .iter()
                .map(|row| row.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn a_valid_test_parses_with_its_order_and_expectations() {
        let t = IsolationTest::parse(P4, "p4.toml").unwrap();
        assert_eq!(t.anomaly, "P4");
        assert_eq!(t.sessions, 2);
        assert_eq!(t.setup.len(), 2);
        assert_eq!(t.steps.len(), 6);
        assert_eq!(t.steps[3].session, 2);
        assert_eq!(t.steps[3].id.as_deref(), Some("t2_update"));
        assert_eq!(t.steps[0].line, 11);
        assert_eq!(t.combine, Combine::All);
        assert_eq!(t.conditions[0].rows, Some(vec![vec!["12".to_string()]]));
        assert_eq!(
            t.expected("postgres", IsolationLevel::ReadCommitted),
            Some(AnomalyVerdict::Occurs)
        );
        assert_eq!(
            t.expected("postgres", IsolationLevel::ReadUncommitted),
            None
        );
        assert_eq!(t.expected("mysql", IsolationLevel::Serializable), None);
    }

    #[test]
    fn the_marker_tells_isolation_tests_from_scenarios() {
        assert!(is_isolation_test(P4));
        assert!(!is_isolation_test("format = 1\nname = \"smoke\"\n"));
        // Broken TOML with the marker is still routed here, to report its own error.
        assert!(is_isolation_test("isolation_test = 1\nsteps = [\n"));
        assert!(!is_isolation_test("name = \"isolation_test\"\n"));
    }

    #[test]
    fn errors_point_at_the_line_and_column_and_say_the_fix() {
        let bad_session = P4.replace(
            "{ session = 2, sql = \"commit\" }",
            "{ session = 3, sql = \"commit\" }",
        );
        assert_eq!(
            err(&bad_session),
            "t.toml:16:15: session = 3, but sessions = 2; use 1 to 2"
        );
        let unknown = P4.replace("title =", "titel =");
        let e = err(&unknown);
        assert!(e.starts_with("t.toml:4:1: unknown field `titel`"), "{e}");
        assert!(e.ends_with("remove it or fix its spelling"), "{e}");
        let begin = P4.replace(
            "{ session = 1, sql = \"select value from test where id = 1\" }",
            "{ session = 1, sql = \"BEGIN\" }",
        );
        let e = err(&begin);
        assert!(
            e.starts_with("t.toml:11:24: `BEGIN` begins a transaction"),
            "{e}"
        );
        let dangling = P4.replace("step = \"final\"", "step = \"fnal\"");
        let e = err(&dangling);
        assert!(
            e.starts_with("t.toml:19:27: no step or after-read has id `fnal`"),
            "{e}"
        );
        assert!(e.contains("use one of: final, t2_update"), "{e}");
        let version = P4.replace("isolation_test = 1", "isolation_test = 2");
        assert!(err(&version).starts_with("t.toml:2:18: isolation_test = 2 is not supported"));
        let level = P4.replace("repeatable_read =", "snapshot =");
        let e = err(&level);
        assert!(
            e.starts_with("t.toml:23:1: unknown variant `snapshot`"),
            "{e}"
        );
        let neither = P4.replace("occurs_if_all", "occurs_iff");
        assert!(err(&neither).contains("unknown field `occurs_iff`"));
        let both = P4.replace(
            "occurs_if_all = [{ step = \"final\", rows = [[12]] }]",
            "occurs_if_all = [{ step = \"final\", rows = [[12]] }]\noccurs_if_any = [{ step = \"final\", outcome = \"ok\" }]",
        );
        assert!(err(&both).contains("not both"));
        let float = P4.replace("rows = [[12]]", "rows = [[1.5]]");
        assert!(err(&float).contains("got a float"), "{}", err(&float));
        let unused = P4.replace("{ session = 2, sql = \"commit\" }", "{ session = 1, sql = \"commit\" }")
            .replace("{ session = 2, sql = \"select value from test where id = 1\" }", "{ session = 1, sql = \"select 1\" }")
            .replace("{ session = 2, sql = \"update test set value = 12 where id = 1\", id = \"t2_update\" }", "{ session = 1, sql = \"select 2\" }");
        assert!(
            err(&unused).contains("session 2 has no steps"),
            "{}",
            err(&unused)
        );
    }

    #[test]
    fn the_verdict_follows_the_conditions_and_a_missing_observation_never_holds() {
        let t = IsolationTest::parse(P4, "p4.toml").unwrap();
        let lost = |id: &str| {
            (id == "final").then(|| Observation {
                blocked: false,
                result: rows(&[&["12"]]),
            })
        };
        let (v, evidence) = t.verdict(&lost);
        assert_eq!(v, AnomalyVerdict::Occurs);
        assert_eq!(evidence[0].condition, "final returns [[12]]");
        assert!(evidence[0].held);
        let kept = |id: &str| {
            (id == "final").then(|| Observation {
                blocked: false,
                result: rows(&[&["11"]]),
            })
        };
        assert_eq!(t.verdict(&kept).0, AnomalyVerdict::Prevented);
        assert_eq!(t.verdict(&|_| None).0, AnomalyVerdict::Prevented);

        let any = P4.replace(
            "occurs_if_all = [{ step = \"final\", rows = [[12]] }]",
            "occurs_if_any = [{ step = \"final\", rows = [[12]] }, { step = \"t2_update\", outcome = \"aborted\" }]",
        );
        let t = IsolationTest::parse(&any, "p4.toml").unwrap();
        let aborted = |id: &str| match id {
            "t2_update" => Some(Observation {
                blocked: true,
                result: ObservedResult::Error {
                    sqlstate: "40001".into(),
                    message: "could not serialize access".into(),
                },
            }),
            _ => None,
        };
        let (v, evidence) = t.verdict(&aborted);
        assert_eq!(v, AnomalyVerdict::Occurs);
        assert_eq!(
            evidence.iter().map(|e| e.held).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn conflict_errors_are_told_from_broken_tests() {
        for code in ["40001", "40P01", "23505", "25P02"] {
            assert!(is_conflict_sqlstate(code), "{code}");
        }
        for code in ["42601", "42P01", "57014", "08006", ""] {
            assert!(!is_conflict_sqlstate(code), "{code}");
        }
    }

    fn cell(
        level: IsolationLevel,
        verdict: AnomalyVerdict,
        expected: Option<AnomalyVerdict>,
    ) -> IsolationCell {
        IsolationCell {
            level,
            result: CellResult::Verdict { verdict },
            expected,
            evidence: IsolationEvidence {
                steps: vec![StepEvidence {
                    index: 1,
                    session: 2,
                    id: None,
                    sql: "update test set value = 12 where id = 1".into(),
                    blocked: true,
                    queued: false,
                    finished_during_step: Some(5),
                    result: rows(&[]),
                }],
                conditions: vec![ConditionEvidence {
                    condition: "final returns [[12]]".into(),
                    held: verdict == AnomalyVerdict::Occurs,
                }],
            },
        }
    }

    #[test]
    fn the_matrix_is_an_aligned_table_and_any_difference_fails() {
        use AnomalyVerdict::*;
        use IsolationLevel::*;
        let mut m = IsolationMatrix {
            profile: "postgres".into(),
            levels: vec![ReadCommitted, Serializable],
            rows: vec![
                IsolationRow {
                    anomaly: "G0".into(),
                    title: "write cycles".into(),
                    file: "g0.toml".into(),
                    cells: vec![
                        cell(ReadCommitted, Prevented, Some(Prevented)),
                        cell(Serializable, Prevented, Some(Prevented)),
                    ],
                },
                IsolationRow {
                    anomaly: "G-single".into(),
                    title: "read skew".into(),
                    file: "g-single.toml".into(),
                    cells: vec![
                        cell(ReadCommitted, Occurs, Some(Occurs)),
                        cell(Serializable, Prevented, Some(Prevented)),
                    ],
                },
            ],
        };
        assert!(m.passed());
        let text = m.to_string();
        assert_eq!(
            text,
            "anomaly   read_committed  serializable\n\
             G0        prevented       prevented\n\
             G-single  occurs          prevented\n\
             isolation matrix matches the documented postgres behaviour"
        );
        m.rows[1].cells[1] = cell(Serializable, Occurs, Some(Prevented));
        m.rows[0].cells[0].expected = None;
        assert!(!m.passed());
        assert_eq!(m.mismatches().len(), 2);
        let text = m.to_string();
        assert!(
            text.starts_with(
                "anomaly   read_committed              serializable\n\
             G0        prevented (no expectation)  prevented\n\
             G-single  occurs                      occurs ≠ prevented\n\
             2 cell(s) differ from the documented postgres behaviour:\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("G-single (g-single.toml) at serializable: occurs, documented prevented"),
            "{text}"
        );
        assert!(text.contains(" 1. T2: update test set value = 12 where id = 1 [blocked, released at step 5] → ok"), "{text}");
        assert!(
            text.contains("condition final returns [[12]]: holds"),
            "{text}"
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["rows"][1]["cells"][1]["result"]["verdict"], "occurs");
        assert_eq!(json["rows"][1]["cells"][1]["expected"], "prevented");
        assert!(!IsolationMatrix {
            profile: "p".into(),
            levels: vec![],
            rows: vec![]
        }
        .passed());
    }
}
