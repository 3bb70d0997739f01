//! Scenario format v1 (TOML): what to set up, which steps to run with which expected
//! results, an optional closed-loop workload, checks and thresholds.
//!
//! Parsing is strict: unknown fields and wrong types are errors reported as
//! `file:line:col: what is wrong and how to fix it`. See `docs/scenario-format.md`.

use crate::driver::Capability;
use crate::op::{Consistency, Op, OpKind, Outcome};
use crate::threshold::{parse_duration_ns, Threshold};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

pub const SCENARIO_FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    Conformance,
    Consistency,
    Failover,
    Throughput,
}

/// A scenario file that parsed and validated.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub kind: ScenarioKind,
    pub tables: Vec<TableSpec>,
    pub steps: Vec<Step>,
    pub workload: Option<Workload>,
    pub checks: Vec<CheckKind>,
    pub thresholds: Vec<Threshold>,
    explicit_requires: Vec<Capability>,
}

impl Scenario {
    /// Every capability the scenario needs: the declared ones plus those its ops imply.
    pub fn required_capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self.explicit_requires.clone();
        for step in &self.steps {
            caps.push(step.capability());
        }
        if let Some(w) = &self.workload {
            for kind in w.mix.keys() {
                caps.push(Capability::for_kind(*kind));
            }
        }
        caps.sort();
        caps.dedup();
        caps
    }
}

/// A table the scenario needs, created under the run's namespace by `Driver::setup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub name: String,
}

/// Keys `{prefix}{start}` … `{prefix}{start+count-1}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRange {
    pub prefix: String,
    #[serde(default)]
    pub start: u64,
    pub count: u64,
    /// Set for a step's single `key = "..."`: the prefix is the whole key.
    #[serde(skip)]
    pub literal: bool,
}

impl KeyRange {
    pub fn key(&self, i: u64) -> String {
        if self.literal {
            self.prefix.clone()
        } else {
            format!("{}{}", self.prefix, self.start + i)
        }
    }
}

/// What a step's every op must return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Outcome,
    /// For reads: the value, with `{i}` for the key's index and `{key}` for the key.
    pub value: Option<String>,
    /// For reads: whether the row exists.
    pub found: Option<bool>,
}

/// One step of a conformance sequence: the same op over a key range, run by `clients`
/// concurrent clients, each result compared with `expect`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    pub op: OpKind,
    pub table: String,
    pub keys: KeyRange,
    pub value: Option<String>,
    pub by: Option<i64>,
    pub element: Option<i64>,
    pub consistency: Consistency,
    pub clients: u32,
    pub expect: Expect,
}

impl Step {
    pub fn capability(&self) -> Capability {
        if self.op == OpKind::Read && self.consistency != Consistency::Strong {
            Capability::WeakReads
        } else {
            Capability::for_kind(self.op)
        }
    }

    /// The op for the step's `i`-th key.
    pub fn op_at(&self, i: u64) -> Op {
        let key = self.keys.key(i);
        let value = || fill_template(self.value.as_deref().unwrap_or(""), i, &key);
        let table = self.table.clone();
        match self.op {
            OpKind::Read => Op::Read {
                table,
                key,
                consistency: self.consistency,
            },
            OpKind::Write => Op::Write {
                table,
                value: value(),
                key,
            },
            OpKind::InsertIfAbsent => Op::InsertIfAbsent {
                table,
                value: value(),
                key,
            },
            OpKind::CompareAndSet => Op::CompareAndSet {
                table,
                value: value(),
                key,
                expected_version: None,
            },
            OpKind::Delete => Op::Delete { table, key },
            OpKind::Increment => Op::Increment {
                table,
                key,
                by: self.by.unwrap_or(1),
            },
            OpKind::Append => Op::Append {
                table,
                key,
                element: self.element.unwrap_or(i as i64),
            },
            OpKind::Query => Op::Query {
                table,
                prefix: key,
                limit: None,
            },
            // Rejected by validation: steps cannot express multi-op requests in format v1.
            OpKind::Batch | OpKind::Txn => Op::Batch { ops: Vec::new() },
        }
    }

    /// The value `expect.value` asks for at index `i`.
    pub fn expected_value(&self, i: u64) -> Option<String> {
        let key = self.keys.key(i);
        self.expect.value.as_deref().map(|t| fill_template(t, i, &key))
    }
}

pub fn fill_template(template: &str, i: u64, key: &str) -> String {
    template
        .replace("{i}", &i.to_string())
        .replace("{key}", key)
}

/// A closed-loop load phase after the steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub clients: u32,
    pub duration: Duration,
    pub max_ops: Option<u64>,
    pub table: String,
    pub keys: KeyRange,
    /// Op kind → relative weight.
    pub mix: BTreeMap<OpKind, f64>,
    pub value_size: usize,
}

/// Checks run over the recorded history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Every step op's outcome and value match the step's `expect`.
    Expectations,
}

/// `file:line:col: message`, the one-line error for bad scenario input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

// ---- raw, span-carrying form, exactly as written in the file ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    format: Spanned<u32>,
    name: String,
    #[serde(default)]
    description: String,
    kind: ScenarioKind,
    #[serde(default)]
    requires: Vec<Capability>,
    #[serde(default)]
    checks: Option<Vec<CheckKind>>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    #[serde(default)]
    setup: RawSetup,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
    workload: Option<Spanned<RawWorkload>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSetup {
    #[serde(default)]
    tables: Vec<TableSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    op: Spanned<String>,
    table: Option<Spanned<String>>,
    key: Option<String>,
    keys: Option<KeyRange>,
    value: Option<String>,
    by: Option<i64>,
    element: Option<i64>,
    #[serde(default)]
    consistency: Consistency,
    #[serde(default = "one")]
    clients: u32,
    expect: Expect,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    #[serde(default = "one")]
    clients: u32,
    duration: Spanned<String>,
    max_ops: Option<u64>,
    table: Option<Spanned<String>>,
    keys: KeyRange,
    mix: Spanned<BTreeMap<String, f64>>,
    #[serde(default = "default_value_size")]
    value_size: usize,
}

fn default_value_size() -> usize {
    100
}

impl Scenario {
    /// Parses and validates scenario text; `file` only labels errors.
    pub fn parse(src: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let at = |span: Range<usize>, message: String| {
            let (line, col) = line_col(src, span.start);
            ScenarioError {
                file: file.to_string(),
                line,
                col,
                message,
            }
        };
        let raw: RawScenario = toml::from_str(src).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            at(span, explain_toml_error(e.message()))
        })?;

        if *raw.format.get_ref() != SCENARIO_FORMAT_VERSION {
            return Err(at(
                raw.format.span(),
                format!(
                    "format = {} is not supported; this Assay reads format = {SCENARIO_FORMAT_VERSION}",
                    raw.format.get_ref()
                ),
            ));
        }
        if raw.setup.tables.is_empty() && (!raw.steps.is_empty() || raw.workload.is_some()) {
            return Err(at(
                0..0,
                "no tables: add `[[setup.tables]]` with `name = \"kv\"` before steps or a workload"
                    .into(),
            ));
        }
        let table_names: Vec<&str> = raw.setup.tables.iter().map(|t| t.name.as_str()).collect();
        let resolve_table = |t: &Option<Spanned<String>>| -> Result<String, ScenarioError> {
            match t {
                None => Ok(table_names[0].to_string()),
                Some(t) if table_names.contains(&t.get_ref().as_str()) => Ok(t.get_ref().clone()),
                Some(t) => Err(at(
                    t.span(),
                    format!(
                        "table `{}` is not in [[setup.tables]]; declare it there or use one of: {}",
                        t.get_ref(),
                        table_names.join(", ")
                    ),
                )),
            }
        };

        let mut steps = Vec::with_capacity(raw.steps.len());
        for spanned in raw.steps {
            let span = spanned.span();
            let s = spanned.into_inner();
            let op = OpKind::parse(s.op.get_ref()).ok_or_else(|| {
                let known: Vec<_> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                at(
                    s.op.span(),
                    format!("unknown op `{}`; use one of {}", s.op.get_ref(), known.join(", ")),
                )
            })?;
            if matches!(op, OpKind::Batch | OpKind::Txn) {
                return Err(at(
                    s.op.span(),
                    format!("op `{op}` needs several ops per request, which steps in format 1 cannot express; use single-key ops"),
                ));
            }
            let keys = match (s.key, s.keys) {
                (Some(k), None) => KeyRange {
                    prefix: k,
                    start: 0,
                    count: 1,
                    literal: true,
                },
                (None, Some(r)) if r.count > 0 => r,
                (None, Some(_)) => {
                    return Err(at(span, format!("step `{}`: keys.count must be at least 1", s.name)))
                }
                _ => {
                    return Err(at(
                        span,
                        format!("step `{}`: give exactly one of `key = \"k1\"` or `keys = {{ prefix = \"k\", count = 10 }}`", s.name),
                    ))
                }
            };
            let needs_value = matches!(
                op,
                OpKind::Write | OpKind::InsertIfAbsent | OpKind::CompareAndSet
            );
            if needs_value && s.value.is_none() {
                return Err(at(span, format!("step `{}`: op `{op}` needs `value = \"...\"` (use {{i}} for the key index)", s.name)));
            }
            if op != OpKind::Read && (s.expect.value.is_some() || s.expect.found.is_some()) {
                return Err(at(span, format!("step `{}`: expect.value and expect.found apply to reads only", s.name)));
            }
            if s.name == "workload" || steps.iter().any(|p: &Step| p.name == s.name) {
                return Err(at(span, format!("step name `{}` is used twice (or is the reserved name `workload`); give every step its own name", s.name)));
            }
            if s.clients == 0 {
                return Err(at(span, format!("step `{}`: clients must be at least 1", s.name)));
            }
            steps.push(Step {
                name: s.name,
                op,
                table: resolve_table(&s.table)?,
                keys,
                value: s.value,
                by: s.by,
                element: s.element,
                consistency: s.consistency,
                clients: s.clients,
                expect: s.expect,
            });
        }

        let workload = match raw.workload {
            None => None,
            Some(spanned) => {
                let span = spanned.span();
                let w = spanned.into_inner();
                let duration = parse_duration_ns(w.duration.get_ref())
                    .map(|ns| Duration::from_nanos(ns as u64))
                    .ok_or_else(|| {
                        at(
                            w.duration.span(),
                            format!("`{}` is not a duration; write e.g. \"10s\" or \"500ms\"", w.duration.get_ref()),
                        )
                    })?;
                let mut mix = BTreeMap::new();
                for (name, weight) in w.mix.get_ref() {
                    let kind = OpKind::parse(name).filter(|k| matches!(k, OpKind::Read | OpKind::Write | OpKind::InsertIfAbsent | OpKind::Delete | OpKind::Increment)).ok_or_else(|| {
                        at(w.mix.span(), format!("workload.mix: `{name}` is not a workload op; use read, write, insert_if_absent, delete or increment"))
                    })?;
                    if !(*weight >= 0.0 && weight.is_finite()) {
                        return Err(at(w.mix.span(), format!("workload.mix: weight of `{name}` must be a number ≥ 0")));
                    }
                    mix.insert(kind, *weight);
                }
                if mix.values().sum::<f64>() <= 0.0 {
                    return Err(at(w.mix.span(), "workload.mix: give at least one op a weight > 0, e.g. { read = 0.5, write = 0.5 }".into()));
                }
                if w.clients == 0 || w.keys.count == 0 {
                    return Err(at(span, "workload: clients and keys.count must be at least 1".into()));
                }
                Some(Workload {
                    clients: w.clients,
                    duration,
                    max_ops: w.max_ops,
                    table: resolve_table(&w.table)?,
                    keys: w.keys,
                    mix,
                    value_size: w.value_size,
                })
            }
        };

        let mut thresholds = Vec::with_capacity(raw.thresholds.len());
        for t in &raw.thresholds {
            thresholds.push(Threshold::parse(t.get_ref()).map_err(|m| at(t.span(), m))?);
        }

        Ok(Scenario {
            name: raw.name,
            description: raw.description,
            kind: raw.kind,
            tables: raw.setup.tables,
            steps,
            workload,
            checks: raw.checks.unwrap_or_else(|| vec![CheckKind::Expectations]),
            thresholds,
            explicit_requires: raw.requires,
        })
    }
}

/// serde's messages are precise but terse; add the fix where we know it.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim_end();
    if message.starts_with("unknown field") {
        format!("{message}; remove it or fix its spelling")
    } else if message.starts_with("invalid type") {
        format!("{message}; change the value to that type")
    } else if message.starts_with("missing field") {
        format!("{message}; add it")
    } else if message.starts_with("unknown variant") {
        format!("{message}; use one of the listed values")
    } else {
        message.to_string()
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOKE: &str = r#"
format = 1
name = "smoke"
kind = "conformance"
thresholds = ["p99 < 2s"]

[[setup.tables]]
name = "kv"

[[steps]]
name = "insert"
op = "write"
keys = { prefix = "k", count = 3 }
value = "v-{i}"
clients = 2
expect = { outcome = "ok" }

[[steps]]
name = "read back"
op = "read"
keys = { prefix = "k", count = 3 }
expect = { outcome = "ok", value = "v-{i}" }
"#;

    #[test]
    fn a_valid_scenario_parses() {
        let s = Scenario::parse(SMOKE, "smoke.toml").unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].table, "kv");
        assert_eq!(
            s.steps[0].op_at(2),
            Op::Write {
                table: "kv".into(),
                key: "k2".into(),
                value: "v-2".into()
            }
        );
        assert_eq!(s.steps[1].expected_value(1).as_deref(), Some("v-1"));
        assert_eq!(s.checks, vec![CheckKind::Expectations]);
        assert_eq!(
            s.required_capabilities(),
            vec![Capability::Read, Capability::Write]
        );
    }

    fn err(src: &str) -> ScenarioError {
        Scenario::parse(src, "bad.toml").unwrap_err()
    }

    #[test]
    fn unknown_field_is_located() {
        let src = SMOKE.replace("clients = 2", "clients = 2\ncolour = \"red\"");
        let e = err(&src);
        assert_eq!((e.line, e.file.as_str()), (16, "bad.toml"));
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(e.to_string().starts_with("bad.toml:16:"), "{e}");
    }

    #[test]
    fn wrong_type_is_located() {
        let e = err(&SMOKE.replace("clients = 2", "clients = \"two\""));
        assert_eq!(e.line, 15);
        assert!(e.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn bad_toml_is_located() {
        let e = err(&SMOKE.replace("name = \"kv\"", "name = \"kv"));
        assert_eq!(e.line, 8);
    }

    #[test]
    fn semantic_errors_are_located() {
        let e = err(&SMOKE.replace("op = \"read\"", "op = \"reed\""));
        assert_eq!((e.line, e.col), (20, 6));
        assert!(e.message.contains("unknown op `reed`"), "{e}");

        let e = err(&SMOKE.replace("p99 < 2s", "p99 < soon"));
        assert_eq!(e.line, 5);

        let e = err(&SMOKE.replace("format = 1", "format = 2"));
        assert_eq!(e.line, 2);
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 0), (1, 1));
    }
}
