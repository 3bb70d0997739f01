//! Reading an isolation test file: TOML with spans, every rule checked with the line and
//! column of what breaks it and the fix.

use super::{
    AfterRead, AnomalyVerdict, Combine, Condition, Expectation, IsolationLevel, IsolationStep,
    IsolationTest, ProfileExpectations, StepOutcome, ISOLATION_FORMAT_VERSION, MAX_SESSIONS,
    MAX_STATEMENTS,
};
use crate::scenario::{from_toml, line_col, ScenarioError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use toml::Spanned;

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
    setup_postgres: Option<Vec<Spanned<String>>>,
    setup_mysql: Option<Vec<Spanned<String>>>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
    #[serde(default)]
    after: Vec<Spanned<RawAfter>>,
    occurs_if_all: Option<Spanned<Vec<Spanned<RawCondition>>>>,
    occurs_if_any: Option<Spanned<Vec<Spanned<RawCondition>>>>,
    #[serde(default)]
    expected: BTreeMap<String, Spanned<BTreeMap<ProfileKey, Spanned<toml::Value>>>>,
}

/// A key of `[expected.<profile>]`: a level, or where the verdicts come from.
#[derive(Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
enum ProfileKey {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
    Source,
}

impl ProfileKey {
    fn level(&self) -> Option<IsolationLevel> {
        Some(match self {
            ProfileKey::ReadUncommitted => IsolationLevel::ReadUncommitted,
            ProfileKey::ReadCommitted => IsolationLevel::ReadCommitted,
            ProfileKey::RepeatableRead => IsolationLevel::RepeatableRead,
            ProfileKey::Serializable => IsolationLevel::Serializable,
            ProfileKey::Source => return None,
        })
    }
}

/// The table form of one expected cell.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectation {
    verdict: AnomalyVerdict,
    note: Option<String>,
    hermitage: Option<AnomalyVerdict>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    session: Spanned<u32>,
    sql: Spanned<String>,
    sql_postgres: Option<Spanned<String>>,
    sql_mysql: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAfter {
    id: Spanned<String>,
    sql: Spanned<String>,
    sql_postgres: Option<Spanned<String>>,
    sql_mysql: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    step: Option<Spanned<String>>,
    rows: Option<Vec<Spanned<Vec<Spanned<toml::Value>>>>>,
    outcome: Option<StepOutcome>,
    all: Option<Vec<Spanned<RawCondition>>>,
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

/// The per-dialect overrides given beside a statement (`sql_postgres`, `sql_mysql`), trimmed;
/// an empty one is an error at its span.
fn overrides(
    given: [(&str, Option<Spanned<String>>); 2],
    at: &dyn Fn(Range<usize>, String) -> ScenarioError,
) -> Result<BTreeMap<String, String>, ScenarioError> {
    let mut out = BTreeMap::new();
    for (dialect, sql) in given {
        let Some(sql) = sql else { continue };
        let text = sql.get_ref().trim();
        if text.is_empty() {
            return Err(at(
                sql.span(),
                format!(
                    "sql_{dialect} is empty; give the statement in that dialect or remove the key"
                ),
            ));
        }
        if let Some(what) = transaction_control(text) {
            return Err(at(
                sql.span(),
                format!("`{text}` {what}; the runner begins each session's transaction itself, so remove it"),
            ));
        }
        out.insert(dialect.to_string(), text.to_string());
    }
    Ok(out)
}

fn setup_list(
    statements: &[Spanned<String>],
    at: &dyn Fn(Range<usize>, String) -> ScenarioError,
) -> Result<Vec<String>, ScenarioError> {
    let mut setup = Vec::with_capacity(statements.len());
    for s in statements {
        if s.get_ref().trim().is_empty() {
            return Err(at(s.span(), "a setup statement is empty; remove it".into()));
        }
        setup.push(s.get_ref().clone());
    }
    Ok(setup)
}

/// One `[expected.<profile>]` table: its levels and sources.
fn profile(
    name: &str,
    table: Spanned<BTreeMap<ProfileKey, Spanned<toml::Value>>>,
    at: &dyn Fn(Range<usize>, String) -> ScenarioError,
) -> Result<ProfileExpectations, ScenarioError> {
    let span = table.span();
    let mut sources = Vec::new();
    let mut levels = BTreeMap::new();
    for (key, value) in table.into_inner() {
        let value_span = value.span();
        let Some(level) = key.level() else {
            match value.into_inner() {
                toml::Value::String(s) if !s.trim().is_empty() => sources.push(s),
                toml::Value::Array(list)
                    if !list.is_empty()
                        && list
                            .iter()
                            .all(|v| v.as_str().is_some_and(|s| !s.trim().is_empty())) =>
                {
                    sources.extend(list.into_iter().filter_map(|v| v.as_str().map(String::from)))
                }
                _ => {
                    return Err(at(
                        value_span,
                        format!("expected.{name}.source names where the verdicts come from: a URL or document, or a list of them"),
                    ))
                }
            }
            continue;
        };
        let bad = |what: String| {
            at(
                value_span.clone(),
                format!("expected.{name}.{level}: {what}; give \"prevented\" or \"occurs\", or {{ verdict = \"…\", note = \"…\", hermitage = \"…\" }}"),
            )
        };
        let expectation = match value.into_inner() {
            toml::Value::String(s) => Expectation {
                verdict: AnomalyVerdict::deserialize(toml::Value::String(s.clone()))
                    .map_err(|_| bad(format!("`{s}` is not a verdict")))?,
                note: None,
                hermitage: None,
            },
            v @ toml::Value::Table(_) => {
                let raw =
                    RawExpectation::deserialize(v).map_err(|e| bad(e.message().to_string()))?;
                if raw.hermitage.is_some_and(|h| h == raw.verdict) {
                    return Err(bad("hermitage repeats the verdict; give it only where Hermitage's published result differs".into()));
                }
                if raw.hermitage.is_some() && raw.note.is_none() {
                    return Err(bad(
                        "a cell that departs from Hermitage needs a note saying why".into(),
                    ));
                }
                Expectation {
                    verdict: raw.verdict,
                    note: raw.note,
                    hermitage: raw.hermitage,
                }
            }
            other => return Err(bad(format!("got a {}", other.type_str()))),
        };
        levels.insert(level, expectation);
    }
    if levels.is_empty() {
        return Err(at(
            span,
            format!("expected.{name} lists no levels; add e.g. read_committed = \"prevented\""),
        ));
    }
    Ok(ProfileExpectations { sources, levels })
}

/// A condition's rows as text.
fn condition_rows(
    rows: Vec<Spanned<Vec<Spanned<toml::Value>>>>,
    at: &dyn Fn(Range<usize>, String) -> ScenarioError,
) -> Result<Vec<Vec<String>>, ScenarioError> {
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
    Ok(out)
}

/// One condition; `group_allowed` only at the top of `occurs_if_any`.
fn condition(
    spanned: Spanned<RawCondition>,
    ids: &BTreeSet<String>,
    group_allowed: bool,
    at: &dyn Fn(Range<usize>, String) -> ScenarioError,
) -> Result<Condition, ScenarioError> {
    let span = spanned.span();
    let c = spanned.into_inner();
    if let Some(all) = c.all {
        if !group_allowed {
            return Err(at(
                span,
                "a group ({ all = [...] }) belongs directly in occurs_if_any; list its conditions there or in occurs_if_all".into(),
            ));
        }
        if c.step.is_some() || c.rows.is_some() || c.outcome.is_some() || all.is_empty() {
            return Err(at(
                span,
                "a group is only { all = [ conditions... ] }, with at least one condition".into(),
            ));
        }
        let all = all
            .into_iter()
            .map(|c| condition(c, ids, false, at))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Condition {
            step: String::new(),
            rows: None,
            outcome: None,
            all,
        });
    }
    let Some(step_id) = c.step else {
        return Err(at(
            span,
            "a condition names its statement: step = \"<id>\"".into(),
        ));
    };
    let step = step_id.get_ref().clone();
    if !ids.contains(&step) {
        let known: Vec<&str> = ids.iter().map(String::as_str).collect();
        return Err(at(
            step_id.span(),
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
    let rows = c.rows.map(|r| condition_rows(r, at)).transpose()?;
    Ok(Condition {
        step,
        rows,
        outcome: c.outcome,
        all: Vec::new(),
    })
}

pub(super) fn parse(src: &str, file: &str) -> Result<IsolationTest, ScenarioError> {
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
    let setup = setup_list(&raw.setup, &at)?;
    let mut setup_in = BTreeMap::new();
    for (dialect, list) in [
        ("postgres", &raw.setup_postgres),
        ("mysql", &raw.setup_mysql),
    ] {
        if let Some(list) = list {
            setup_in.insert(dialect.to_string(), setup_list(list, &at)?);
        }
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
        let sql_in = overrides(
            [("postgres", step.sql_postgres), ("mysql", step.sql_mysql)],
            &at,
        )?;
        let id = step.id.as_ref().map(&mut check_id).transpose()?;
        used.insert(session);
        steps.push(IsolationStep {
            session,
            sql,
            sql_in,
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
        let sql_in = overrides([("postgres", a.sql_postgres), ("mysql", a.sql_mysql)], &at)?;
        after.push(AfterRead { id, sql, sql_in });
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
        conditions.push(condition(spanned, &ids, combine == Combine::Any, &at)?);
    }

    let mut expected = BTreeMap::new();
    for (name, table) in raw.expected {
        let p = profile(&name, table, &at)?;
        expected.insert(name, p);
    }

    Ok(IsolationTest {
        file: file.to_string(),
        anomaly,
        title: raw.title,
        description: raw.description.trim().to_string(),
        sessions,
        setup,
        setup_in,
        steps,
        after,
        combine,
        conditions,
        expected,
    })
}
