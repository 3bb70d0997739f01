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
//! A step may carry the statement in another SQL dialect (`sql_mysql = "…"`, and
//! `setup_mysql` for the setup list) where the syntax differs; the runner picks the one of
//! its dialect ([`IsolationStep::sql_for`]).
//!
//! Running the statements is a driver's business (it opens the sessions, begins each one's
//! transaction at the level under test before its first statement, and tells blocked
//! statements from finished ones; the SQL drivers share one runner, `assay-sql-common`'s
//! `isolation`, behind a small dialect); this module turns what it observed into a verdict
//! with evidence, and a difference from the expected verdict into a failed cell
//! (`matrix.rs`: the matrix, its rendering, and several targets' matrices side by side).

mod matrix;
mod parse;

pub use crate::isolation_level::IsolationLevel;
use crate::scenario::ScenarioError;
pub use matrix::{
    side_by_side, CellResult, IsolationCell, IsolationEvidence, IsolationMatrix, IsolationRow,
    ProfileColumns, StepEvidence,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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
    /// The statement in another dialect where its syntax differs (`sql_mysql` → `mysql`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sql_in: BTreeMap<String, String>,
    /// Name that conditions refer to.
    pub id: Option<String>,
    /// Line in the file, for messages.
    pub line: usize,
}

impl IsolationStep {
    /// The statement a runner of `dialect` (`postgres`, `mysql`) sends.
    pub fn sql_for(&self, dialect: &str) -> &str {
        self.sql_in
            .get(dialect)
            .map_or(self.sql.as_str(), String::as_str)
    }
}

/// A read after every session has ended, on a fresh connection outside any test transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AfterRead {
    pub id: String,
    pub sql: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sql_in: BTreeMap<String, String>,
}

impl AfterRead {
    /// The query a runner of `dialect` sends.
    pub fn sql_for(&self, dialect: &str) -> &str {
        self.sql_in
            .get(dialect)
            .map_or(self.sql.as_str(), String::as_str)
    }
}

/// One condition on what a statement observed; it holds when every given part does. Or,
/// inside `occurs_if_any`, a group (`{ all = [...] }`) that holds when each of its
/// conditions does: one of several observations that each show the anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// A step's or after-read's id (empty for a group).
    pub step: String,
    /// The statement finished and returned exactly these rows, in order, as text.
    pub rows: Option<Vec<Vec<String>>>,
    pub outcome: Option<StepOutcome>,
    /// A group's conditions, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<Condition>,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.all.is_empty() {
            let parts: Vec<String> = self.all.iter().map(|c| c.to_string()).collect();
            return write!(f, "({})", parts.join(" and "));
        }
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
    /// The setup list in another dialect where it differs (`setup_mysql` → `mysql`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub setup_in: BTreeMap<String, Vec<String>>,
    pub steps: Vec<IsolationStep>,
    pub after: Vec<AfterRead>,
    pub combine: Combine,
    pub conditions: Vec<Condition>,
    /// Database profile (`postgres`, `mariadb`, …) → its documented verdicts and sources.
    pub expected: BTreeMap<String, ProfileExpectations>,
}

/// One profile's documented verdicts (`[expected.<profile>]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileExpectations {
    /// Where the verdicts come from (`source = "…"` or a list): the database's manual,
    /// Hermitage's published results.
    pub sources: Vec<String>,
    pub levels: BTreeMap<IsolationLevel, Expectation>,
}

/// The documented verdict of one cell: `level = "occurs"`, or a table
/// `{ verdict = "…", note = "…", hermitage = "…" }` when the cell needs a word.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    pub verdict: AnomalyVerdict,
    /// Why the cell is what it is, where that needs saying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Hermitage's published verdict, given when it differs from `verdict` (which then
    /// follows the database's own documentation for this version; `note` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hermitage: Option<AnomalyVerdict>,
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
    /// Deliberately not sent: the server had already ended the session's transaction
    /// (MySQL rolls a deadlock victim's whole transaction back, and would run what follows
    /// outside any transaction). Counts as an error of the session, like PostgreSQL's
    /// 25P02 for statements after a failure.
    Skipped {
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
            ObservedResult::Skipped { reason } => write!(f, "not sent: {reason}"),
        }
    }
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
        parse::parse(src, file)
    }

    /// The documented verdict for `profile` at `level`, when the file gives one.
    pub fn expected(&self, profile: &str, level: IsolationLevel) -> Option<AnomalyVerdict> {
        self.expectation(profile, level).map(|e| e.verdict)
    }

    /// The documented cell for `profile` at `level`, with its note.
    pub fn expectation(&self, profile: &str, level: IsolationLevel) -> Option<&Expectation> {
        self.expected.get(profile)?.levels.get(&level)
    }

    /// The setup statements a runner of `dialect` sends.
    pub fn setup_for(&self, dialect: &str) -> &[String] {
        self.setup_in.get(dialect).unwrap_or(&self.setup)
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
                held: holds(c, observed),
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

fn holds(c: &Condition, observed: &dyn Fn(&str) -> Option<Observation>) -> bool {
    if !c.all.is_empty() {
        return c.all.iter().all(|c| holds(c, observed));
    }
    observed(&c.step).is_some_and(|o| condition_holds(c, &o))
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
        Some(StepOutcome::Error) => matches!(
            o.result,
            ObservedResult::Error { .. } | ObservedResult::Skipped { .. }
        ),
        Some(StepOutcome::Aborted) => {
            matches!(&o.result, ObservedResult::Error { sqlstate, .. } if sqlstate.starts_with("40"))
        }
        Some(StepOutcome::Blocked) => o.blocked,
    };
    rows_ok && outcome_ok
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

    const OTV_LIKE: &str = r#"
isolation_test = 1
anomaly = "X"
sessions = 2
setup = ["create table test (id int primary key, value int)"]
setup_mysql = ["create table test (id int primary key, value int) engine=innodb"]
steps = [
  { session = 1, sql = "select value from test where id = 1", id = "a" },
  { session = 2, sql = "select value from test where id = 2", sql_mysql = "select value from test where id = 2 lock in share mode", id = "b" },
  { session = 1, sql = "commit" },
  { session = 2, sql = "commit" },
]
after = [{ id = "final", sql = "select 1", sql_postgres = "select 1::int" }]
occurs_if_any = [
  { all = [{ step = "a", rows = [[11]] }, { step = "b", rows = [[20]] }] },
  { step = "final", outcome = "error" },
]

[expected.mariadb]
source = ["https://github.com/ept/hermitage/blob/master/mysql.md", "https://mariadb.com/kb/en/set-transaction/"]
read_uncommitted = "occurs"
repeatable_read = { verdict = "prevented", note = "consistent reads", hermitage = "occurs" }

[expected.postgres]
source = "https://www.postgresql.org/docs/current/transaction-iso.html"
read_committed = "prevented"
"#;

    #[test]
    fn dialect_overrides_groups_and_cited_expectations_parse() {
        let t = IsolationTest::parse(OTV_LIKE, "x.toml").unwrap();
        assert_eq!(t.setup_for("postgres"), t.setup.as_slice());
        assert!(t.setup_for("mysql")[0].ends_with("engine=innodb"));
        assert_eq!(
            t.steps[1].sql_for("postgres"),
            "select value from test where id = 2"
        );
        assert!(t.steps[1].sql_for("mysql").ends_with("lock in share mode"));
        assert_eq!(t.after[0].sql_for("postgres"), "select 1::int");
        assert_eq!(t.after[0].sql_for("mysql"), "select 1");
        let m = &t.expected["mariadb"];
        assert_eq!(m.sources.len(), 2);
        let rr = t
            .expectation("mariadb", IsolationLevel::RepeatableRead)
            .unwrap();
        assert_eq!(rr.verdict, AnomalyVerdict::Prevented);
        assert_eq!(rr.hermitage, Some(AnomalyVerdict::Occurs));
        assert_eq!(rr.note.as_deref(), Some("consistent reads"));
        assert_eq!(
            t.expected["postgres"].sources,
            ["https://www.postgresql.org/docs/current/transaction-iso.html"]
        );

        // A group holds when all of its conditions do; the list when any entry does.
        let obs = |a: &str, b: &str| {
            let (a, b) = (a.to_string(), b.to_string());
            move |id: &str| match id {
                "a" => Some(Observation {
                    blocked: false,
                    result: ObservedResult::Rows {
                        rows: vec![vec![a.clone()]],
                    },
                }),
                "b" => Some(Observation {
                    blocked: false,
                    result: ObservedResult::Rows {
                        rows: vec![vec![b.clone()]],
                    },
                }),
                _ => Some(Observation {
                    blocked: false,
                    result: ObservedResult::Rows { rows: vec![] },
                }),
            }
        };
        let (v, evidence) = t.verdict(&obs("11", "20"));
        assert_eq!(v, AnomalyVerdict::Occurs);
        assert_eq!(
            evidence[0].condition,
            "(a returns [[11]] and b returns [[20]])"
        );
        assert_eq!(t.verdict(&obs("11", "19")).0, AnomalyVerdict::Prevented);
        // A statement the runner did not send (its transaction was already gone) counts as
        // an error of its session.
        let skipped = |id: &str| {
            (id == "final").then(|| Observation {
                blocked: false,
                result: ObservedResult::Skipped {
                    reason: "rolled back".into(),
                },
            })
        };
        assert_eq!(t.verdict(&skipped).0, AnomalyVerdict::Occurs);
    }

    #[test]
    fn bad_overrides_groups_and_expectations_are_located() {
        let nested = OTV_LIKE.replace(
            "{ step = \"b\", rows = [[20]] }]",
            "{ all = [{ step = \"b\", rows = [[20]] }] }]",
        );
        assert!(
            err(&nested).contains("a group ({ all = [...] }) belongs directly in occurs_if_any"),
            "{}",
            err(&nested)
        );
        let all_group = OTV_LIKE.replace("occurs_if_any", "occurs_if_all");
        assert!(err(&all_group).contains("belongs directly in occurs_if_any"));
        let empty = OTV_LIKE.replace("sql_postgres = \"select 1::int\"", "sql_postgres = \" \"");
        assert!(
            err(&empty).contains("sql_postgres is empty"),
            "{}",
            err(&empty)
        );
        let begin = OTV_LIKE.replace(
            "sql_mysql = \"select value",
            "sql_mysql = \"start transaction; select value",
        );
        assert!(
            err(&begin).contains("begins a transaction"),
            "{}",
            err(&begin)
        );
        let same = OTV_LIKE.replace("hermitage = \"occurs\"", "hermitage = \"prevented\"");
        let e = err(&same);
        assert!(
            e.contains("expected.mariadb.repeatable_read: hermitage repeats the verdict"),
            "{e}"
        );
        let silent = OTV_LIKE.replace("note = \"consistent reads\", ", "");
        assert!(err(&silent).contains("needs a note"), "{}", err(&silent));
        let typo = OTV_LIKE.replace(
            "read_uncommitted = \"occurs\"",
            "read_uncommitted = \"occurrs\"",
        );
        let e = err(&typo);
        assert!(
            e.starts_with(
                "t.toml:21:20: expected.mariadb.read_uncommitted: `occurrs` is not a verdict"
            ),
            "{e}"
        );
        let source = OTV_LIKE.replace(
            "source = \"https://www.postgresql.org/docs/current/transaction-iso.html\"",
            "source = []",
        );
        assert!(
            err(&source).contains("expected.postgres.source names where"),
            "{}",
            err(&source)
        );
    }
}
