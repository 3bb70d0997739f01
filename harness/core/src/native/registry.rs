//! The typed registry of native checks. Each driver family declares, in one table
//! ([`FamilyChecks`]), the checks it implements: their parameters with types, defaults and
//! allowed ranges, and the documentation each check exercises. Scenario parsing validates a
//! `native = "family.check"` step against the tables it is handed (the CLI passes every
//! driver's; this crate knows none), and drivers read parameters through [`NativeParams`],
//! so a default or a range is written once, in its table.

use serde_json::Value;
use std::fmt;
use std::path::PathBuf;

/// The native checks of one driver family (`native = "<family>.<check>"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FamilyChecks {
    pub family: &'static str,
    pub checks: &'static [CheckSpec],
}

/// One native check: what it shows, the parameters it reads and where the behaviour is
/// documented.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckSpec {
    pub name: &'static str,
    /// What the check exercises, in one line.
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    /// The documentation the check exercises (a URL).
    pub cite: &'static str,
}

/// One parameter of a check (`params = { name = value }`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: ParamDefault,
    /// What the parameter controls, in one line.
    pub doc: &'static str,
}

/// The type of a parameter's value, with its allowed range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamKind {
    /// A whole number ≥ 0, from `min` to `max` inclusive.
    Count {
        min: u64,
        max: u64,
    },
    /// A whole number, from `min` to `max` inclusive.
    Integer {
        min: i64,
        max: i64,
    },
    /// A string: one of `allowed`, or any string when `allowed` is empty.
    Text {
        allowed: &'static [&'static str],
    },
    /// A file, relative to the scenario file's directory.
    Path,
    /// A non-empty list of strings.
    List,
    Bool,
}

/// What a parameter is when the step does not give it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ParamDefault {
    /// The step must give it.
    Required,
    /// Absent: the check does without (e.g. no list).
    Absent,
    Count(u64),
    Integer(i64),
    Text(&'static str),
    Bool(bool),
}

impl ParamSpec {
    pub const fn count(
        name: &'static str,
        default: u64,
        min: u64,
        max: u64,
        doc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::Count { min, max },
            default: ParamDefault::Count(default),
            doc,
        }
    }

    /// A string, one of `allowed`.
    pub const fn choice(
        name: &'static str,
        default: &'static str,
        allowed: &'static [&'static str],
        doc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::Text { allowed },
            default: ParamDefault::Text(default),
            doc,
        }
    }

    /// Any string the step must give.
    pub const fn required_text(name: &'static str, doc: &'static str) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::Text { allowed: &[] },
            default: ParamDefault::Required,
            doc,
        }
    }

    pub const fn required_path(name: &'static str, doc: &'static str) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::Path,
            default: ParamDefault::Required,
            doc,
        }
    }

    pub const fn required_list(name: &'static str, doc: &'static str) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::List,
            default: ParamDefault::Required,
            doc,
        }
    }

    pub const fn flag(name: &'static str, default: bool, doc: &'static str) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::Bool,
            default: ParamDefault::Bool(default),
            doc,
        }
    }

    /// Checks one given value against the parameter's type and range.
    pub fn check(&self, value: &Value) -> Result<(), NativeSpecError> {
        let wrong = || NativeSpecError::WrongType {
            param: self.name.to_string(),
            found: describe_value(value),
            expected: self.kind.describe(),
        };
        let out_of_range = || NativeSpecError::OutOfRange {
            param: self.name.to_string(),
            value: value.to_string(),
            expected: self.kind.describe(),
        };
        match self.kind {
            ParamKind::Count { min, max } => match value {
                Value::Number(n) if n.is_u64() => {
                    let n = n.as_u64().unwrap_or_default();
                    if (min..=max).contains(&n) {
                        Ok(())
                    } else {
                        Err(out_of_range())
                    }
                }
                Value::Number(n) if n.is_i64() => Err(out_of_range()),
                _ => Err(wrong()),
            },
            ParamKind::Integer { min, max } => match value.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(()),
                Some(_) => Err(out_of_range()),
                None => Err(wrong()),
            },
            ParamKind::Text { allowed } => match value.as_str() {
                Some(s) if allowed.is_empty() || allowed.contains(&s) => Ok(()),
                Some(_) => Err(out_of_range()),
                None => Err(wrong()),
            },
            ParamKind::Path => match value.as_str() {
                Some(s) if !s.trim().is_empty() => Ok(()),
                _ => Err(wrong()),
            },
            ParamKind::List => match value.as_array() {
                Some(items) if !items.is_empty() => {
                    match items.iter().position(|v| !v.is_string()) {
                        None => Ok(()),
                        Some(i) => Err(NativeSpecError::WrongType {
                            param: format!("{}[{i}]", self.name),
                            found: describe_value(&items[i]),
                            expected: "a string".into(),
                        }),
                    }
                }
                _ => Err(wrong()),
            },
            ParamKind::Bool => match value {
                Value::Bool(_) => Ok(()),
                _ => Err(wrong()),
            },
        }
    }

    /// The default, as written in a scenario (`20`, `"N"`), or `required` / `-`.
    pub fn default_text(&self) -> String {
        match self.default {
            ParamDefault::Required => "required".into(),
            ParamDefault::Absent => "-".into(),
            ParamDefault::Count(n) => n.to_string(),
            ParamDefault::Integer(n) => n.to_string(),
            ParamDefault::Text(s) => format!("\"{s}\""),
            ParamDefault::Bool(b) => b.to_string(),
        }
    }
}

impl ParamKind {
    /// The type in one word: `count`, `integer`, `text`, `path`, `list`, `bool`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamKind::Count { .. } => "count",
            ParamKind::Integer { .. } => "integer",
            ParamKind::Text { .. } => "text",
            ParamKind::Path => "path",
            ParamKind::List => "list",
            ParamKind::Bool => "bool",
        }
    }

    /// The allowed values, compactly: `2..=1000`, `N | S`; empty when anything of the type goes.
    pub fn range_text(&self) -> String {
        match self {
            ParamKind::Count { min, max } => format!("{min}..={max}"),
            ParamKind::Integer { min, max } => format!("{min}..={max}"),
            ParamKind::Text { allowed } => allowed.join(" | "),
            ParamKind::Path | ParamKind::List | ParamKind::Bool => String::new(),
        }
    }

    /// What a value must be, for messages: "a count from 2 to 1000".
    pub fn describe(&self) -> String {
        match self {
            ParamKind::Count { min, max } => format!("a count (whole number) from {min} to {max}"),
            ParamKind::Integer { min, max } => format!("a whole number from {min} to {max}"),
            ParamKind::Text { allowed: [] } => "a string".into(),
            ParamKind::Text { allowed } => {
                let quoted: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
                format!("one of {}", quoted.join(", "))
            }
            ParamKind::Path => "a file path relative to the scenario file, as a string".into(),
            ParamKind::List => "a non-empty list of strings".into(),
            ParamKind::Bool => "true or false".into(),
        }
    }
}

/// A value's type in a message: `a string ("twenty")`.
fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) if n.is_f64() => format!("a number with a fraction ({n})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string (\"{s}\")"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a table".into(),
    }
}

impl FamilyChecks {
    /// For a driver's tests: maps every listed check through the driver's dispatch
    /// (`which`) and says how many distinct pieces of code they reach, or which check has
    /// none or shares another's.
    pub fn distinct_dispatch<W: PartialEq>(
        &self,
        which: impl Fn(&str) -> Option<W>,
    ) -> Result<usize, String> {
        let mut seen = Vec::new();
        for spec in self.checks {
            let w = which(spec.name).ok_or_else(|| format!("`{}` has no code", spec.name))?;
            if seen.contains(&w) {
                return Err(format!("`{}` dispatches like another check", spec.name));
            }
            seen.push(w);
        }
        Ok(seen.len())
    }

    /// The check called `name`, if the family has it.
    pub fn check(&self, name: &str) -> Option<&'static CheckSpec> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name).collect()
    }
}

impl CheckSpec {
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Checks one given parameter of `family.<this check>`: known, of its type, in range.
    pub fn check_param(
        &self,
        family: &str,
        name: &str,
        value: &Value,
    ) -> Result<(), NativeSpecError> {
        match self.param(name) {
            Some(p) => p.check(value),
            None => Err(NativeSpecError::UnknownParam {
                qualified: format!("{family}.{}", self.name),
                param: name.to_string(),
                known: self.params.iter().map(|p| p.name).collect(),
            }),
        }
    }

    /// The first required parameter `given` does not contain.
    pub fn missing(&self, family: &str, given: impl Fn(&str) -> bool) -> Option<NativeSpecError> {
        let p = self
            .params
            .iter()
            .find(|p| p.default == ParamDefault::Required && !given(p.name))?;
        Some(NativeSpecError::Missing {
            qualified: format!("{family}.{}", self.name),
            param: p.name.to_string(),
            expected: p.kind.describe(),
            doc: p.doc,
        })
    }

    /// Checks a step's whole `params` object (as JSON).
    pub fn validate(&self, family: &str, params: &Value) -> Result<(), NativeSpecError> {
        let empty = serde_json::Map::new();
        let given = match params {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => {
                return Err(NativeSpecError::WrongType {
                    param: "params".into(),
                    found: describe_value(params),
                    expected: "a table, e.g. params = { items = 20 }".into(),
                })
            }
        };
        for (name, value) in given {
            self.check_param(family, name, value)?;
        }
        match self.missing(family, |n| given.contains_key(n)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The check `family.check` names in `registry`, or why there is none.
pub fn find_check(
    registry: &[FamilyChecks],
    family: &str,
    check: &str,
) -> Result<&'static CheckSpec, NativeSpecError> {
    let Some(f) = registry.iter().find(|f| f.family == family) else {
        let mut known: Vec<&'static str> = registry.iter().map(|f| f.family).collect();
        known.sort_unstable();
        known.dedup();
        return Err(NativeSpecError::UnknownFamily {
            family: family.to_string(),
            suggestion: closest(family, &known),
            known,
        });
    };
    f.check(check).ok_or_else(|| {
        let known = f.check_names();
        NativeSpecError::UnknownCheck {
            family: family.to_string(),
            check: check.to_string(),
            suggestion: closest(check, &known),
            known,
        }
    })
}

/// Validates a whole native step description against `registry`: its check, and every
/// parameter given (and those required). Returns the check's spec.
pub fn validate(
    registry: &[FamilyChecks],
    family: &str,
    check: &str,
    params: &Value,
) -> Result<&'static CheckSpec, NativeSpecError> {
    let spec = find_check(registry, family, check)?;
    spec.validate(family, params)?;
    Ok(spec)
}

/// Why a native step does not match its family's table. One line each, naming the fix.
#[derive(Clone, Debug, PartialEq)]
pub enum NativeSpecError {
    UnknownFamily {
        family: String,
        known: Vec<&'static str>,
        suggestion: Option<&'static str>,
    },
    UnknownCheck {
        family: String,
        check: String,
        known: Vec<&'static str>,
        suggestion: Option<&'static str>,
    },
    UnknownParam {
        qualified: String,
        param: String,
        known: Vec<&'static str>,
    },
    WrongType {
        param: String,
        found: String,
        expected: String,
    },
    OutOfRange {
        param: String,
        value: String,
        expected: String,
    },
    Missing {
        qualified: String,
        param: String,
        expected: String,
        doc: &'static str,
    },
}

fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

impl fmt::Display for NativeSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeSpecError::UnknownFamily {
                family,
                known,
                suggestion,
            } => write!(
                f,
                "no driver runs native checks of family `{family}`{}; known families: {}",
                did_you_mean(suggestion),
                known.join(", ")
            ),
            NativeSpecError::UnknownCheck {
                family,
                check,
                known,
                suggestion,
            } => write!(
                f,
                "`{family}` has no native check `{check}`{}; known checks of {family}: {} (`assay checks` lists them)",
                did_you_mean(suggestion),
                known.join(", ")
            ),
            NativeSpecError::UnknownParam {
                qualified,
                param,
                known,
            } if known.is_empty() => write!(
                f,
                "`{qualified}` takes no parameters; remove params.{param}"
            ),
            NativeSpecError::UnknownParam {
                qualified,
                param,
                known,
            } => write!(
                f,
                "`{qualified}` has no parameter `{param}`{}; its parameters: {}",
                did_you_mean(&closest(param, known)),
                known.join(", ")
            ),
            NativeSpecError::WrongType {
                param,
                found,
                expected,
            } => write!(
                f,
                "params.{param} is {found} where {expected} is expected; change the value to that type"
            ),
            NativeSpecError::OutOfRange {
                param,
                value,
                expected,
            } => write!(
                f,
                "params.{param} = {value} is out of range; give {expected}"
            ),
            NativeSpecError::Missing {
                qualified,
                param,
                expected,
                doc,
            } => write!(
                f,
                "`{qualified}` needs params.{param} ({doc}); add it as {expected}"
            ),
        }
    }
}

impl std::error::Error for NativeSpecError {}

/// The known name closest to a misspelt one, when it is close enough to be a typo.
fn closest(wrong: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (edit_distance(wrong, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

/// A native step's parameters read through its check's table: the given value, else the
/// table's default. Built by [`NativeStep::params_in`](super::NativeStep::params_in), which
/// validates them first.
#[derive(Clone, Copy, Debug)]
pub struct NativeParams<'a> {
    spec: &'static CheckSpec,
    /// The step's `params` object.
    values: &'a Value,
    /// The scenario file, which relative paths resolve against.
    scenario_file: &'a str,
}

/// The check `check` of `checks` with `params` validated against it, read through it.
pub fn read_params<'a>(
    checks: &FamilyChecks,
    family: &str,
    check: &str,
    params: &'a Value,
    scenario_file: &'a str,
) -> Result<NativeParams<'a>, NativeSpecError> {
    let spec = checks
        .check(check)
        .ok_or_else(|| NativeSpecError::UnknownCheck {
            family: family.to_string(),
            check: check.to_string(),
            known: checks.check_names(),
            suggestion: closest(check, &checks.check_names()),
        })?;
    spec.validate(family, params)?;
    Ok(NativeParams {
        spec,
        values: params,
        scenario_file,
    })
}

impl<'a> NativeParams<'a> {
    pub fn spec(&self) -> &'static CheckSpec {
        self.spec
    }

    /// The parameter's declaration. Reading an undeclared one is a driver bug: debug
    /// builds (the tests) stop on it; release builds read it as absent.
    fn declared(&self, name: &str) -> Option<&'static ParamSpec> {
        let p = self.spec.param(name);
        debug_assert!(
            p.is_some(),
            "native check `{}` reads params.{name}, which its table does not declare",
            self.spec.name
        );
        p
    }

    fn given(&self, name: &str) -> Option<&'a Value> {
        self.values.get(name)
    }

    /// A `Count` parameter.
    pub fn count(&self, name: &str) -> u64 {
        let Some(p) = self.declared(name) else {
            return 0;
        };
        if let Some(n) = self.given(name).and_then(Value::as_u64) {
            return n;
        }
        match (p.default, p.kind) {
            (ParamDefault::Count(n), _) => n,
            (_, ParamKind::Count { min, .. }) => min,
            _ => 0,
        }
    }

    /// An `Integer` parameter.
    pub fn integer(&self, name: &str) -> i64 {
        let Some(p) = self.declared(name) else {
            return 0;
        };
        match (self.given(name).and_then(Value::as_i64), p.default) {
            (Some(n), _) => n,
            (None, ParamDefault::Integer(n)) => n,
            _ => 0,
        }
    }

    /// A `Text` parameter: the given string, else the default; `None` when neither.
    pub fn text(&self, name: &str) -> Option<&'a str> {
        let p = self.declared(name)?;
        match (self.given(name).and_then(Value::as_str), p.default) {
            (Some(s), _) => Some(s),
            (None, ParamDefault::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// A `Path` parameter, resolved against the scenario file's directory.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.declared(name)?;
        let rel = self.given(name)?.as_str()?;
        let base = std::path::Path::new(self.scenario_file)
            .parent()
            .unwrap_or(std::path::Path::new("."));
        Some(base.join(rel))
    }

    /// A `List` parameter (empty when absent).
    pub fn list(&self, name: &str) -> Vec<&'a str> {
        if self.declared(name).is_none() {
            return Vec::new();
        }
        self.given(name)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// A `Bool` parameter.
    pub fn flag(&self, name: &str) -> bool {
        let Some(p) = self.declared(name) else {
            return false;
        };
        match (self.given(name).and_then(Value::as_bool), p.default) {
            (Some(b), _) => b,
            (None, ParamDefault::Bool(b)) => b,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeStep;
    use serde_json::json;
    use std::time::Duration;

    const GSI_QUERY: CheckSpec = CheckSpec {
        name: "gsi_query",
        summary: "a GSI query returns the matching items",
        params: &[
            ParamSpec::count("items", 20, 2, 1_000, "items written"),
            ParamSpec::choice("sort_key", "N", &["N", "S"], "sort key type"),
            ParamSpec::flag("old", false, "ask for the old item"),
            ParamSpec::required_list("between", "the two bounds"),
        ],
        cite: "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html",
    };
    const TABLE_MODES: CheckSpec = CheckSpec {
        name: "table_modes",
        summary: "capacity modes",
        params: &[],
        cite: "https://example.com",
    };
    const REGISTRY: &[FamilyChecks] = &[
        FamilyChecks {
            family: "dynamodb",
            checks: &[TABLE_MODES, GSI_QUERY],
        },
        FamilyChecks {
            family: "sql",
            checks: &[],
        },
    ];

    fn check(params: Value) -> Result<&'static CheckSpec, NativeSpecError> {
        validate(REGISTRY, "dynamodb", "gsi_query", &params)
    }

    #[test]
    fn an_unknown_family_lists_the_known_ones() {
        let e = validate(REGISTRY, "dynamo", "gsi_query", &json!({})).unwrap_err();
        assert!(matches!(e, NativeSpecError::UnknownFamily { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("dynamodb, sql"), "{text}");
        assert!(text.contains("did you mean `dynamodb`"), "{text}");
    }

    #[test]
    fn an_unknown_check_lists_the_family_s_checks() {
        let e = validate(REGISTRY, "dynamodb", "gsi_qurey", &json!({})).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("no native check `gsi_qurey`"), "{text}");
        assert!(text.contains("table_modes, gsi_query"), "{text}");
        assert!(text.contains("did you mean `gsi_query`"), "{text}");
        let e = validate(REGISTRY, "dynamodb", "zzzzzzzz", &json!({})).unwrap_err();
        assert!(!e.to_string().contains("did you mean"), "{e}");
    }

    #[test]
    fn an_unknown_param_lists_the_check_s_params() {
        let e = check(json!({"itmes": 3, "between": ["a", "b"]})).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("no parameter `itmes`"), "{text}");
        assert!(
            text.contains("items, sort_key, old, between"),
            "names every param: {text}"
        );
        let e = validate(REGISTRY, "dynamodb", "table_modes", &json!({"x": 1})).unwrap_err();
        assert!(e.to_string().contains("takes no parameters"), "{e}");
    }

    #[test]
    fn a_string_for_a_count_names_the_type_and_range() {
        let e = check(json!({"items": "twenty", "between": ["a", "b"]})).unwrap_err();
        assert!(matches!(e, NativeSpecError::WrongType { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("a string (\"twenty\")"), "{text}");
        assert!(
            text.contains("a count (whole number) from 2 to 1000"),
            "{text}"
        );
        let e = check(json!({"items": 2.5, "between": ["a", "b"]})).unwrap_err();
        assert!(e.to_string().contains("fraction"), "{e}");
        let e = check(json!({"old": "yes", "between": ["a", "b"]})).unwrap_err();
        assert!(e.to_string().contains("true or false"), "{e}");
        let e = check(json!({"between": ["a", 3]})).unwrap_err();
        assert!(e.to_string().contains("params.between[1]"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_the_range() {
        for bad in [json!(1), json!(1_001), json!(-5)] {
            let e = check(json!({"items": bad, "between": ["a", "b"]})).unwrap_err();
            assert!(matches!(e, NativeSpecError::OutOfRange { .. }), "{e}");
            assert!(e.to_string().contains("from 2 to 1000"), "{e}");
        }
        let e = check(json!({"sort_key": "B", "between": ["a", "b"]})).unwrap_err();
        assert!(e.to_string().contains("one of \"N\", \"S\""), "{e}");
    }

    #[test]
    fn a_missing_required_param_is_named() {
        let e = check(json!({})).unwrap_err();
        assert!(matches!(e, NativeSpecError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("needs params.between"), "{e}");
    }

    fn step(params: Value) -> NativeStep {
        NativeStep {
            name: "n".into(),
            family: "dynamodb".into(),
            check: "gsi_query".into(),
            params,
            documented: String::new(),
            cite: String::new(),
            timeout: Duration::from_secs(1),
            after: 0,
            scenario_file: "scenarios/x/s.toml".into(),
        }
    }

    #[test]
    fn valid_params_read_with_the_table_s_defaults() {
        assert_eq!(
            check(json!({"items": 2, "between": ["1", "3"]}))
                .unwrap()
                .name,
            "gsi_query"
        );
        let s = step(json!({"items": 7, "between": ["1", "3"]}));
        let p = s.params_in(&REGISTRY[0]).unwrap();
        assert_eq!(p.count("items"), 7);
        assert_eq!(p.text("sort_key"), Some("N"));
        assert!(!p.flag("old"));
        assert_eq!(p.list("between"), vec!["1", "3"]);
        let defaults = step(json!({"between": ["1", "3"]}));
        assert_eq!(defaults.params_in(&REGISTRY[0]).unwrap().count("items"), 20);
        let bad = step(json!({"items": 0, "between": ["1", "3"]}));
        assert!(bad.params_in(&REGISTRY[0]).is_err());
    }

    #[test]
    fn paths_resolve_beside_the_scenario() {
        const SLT: CheckSpec = CheckSpec {
            name: "slt",
            summary: "",
            params: &[ParamSpec::required_path("file", "the .slt file")],
            cite: "https://sqlite.org/sqllogictest",
        };
        let family = FamilyChecks {
            family: "sql",
            checks: &[SLT],
        };
        let mut s = step(json!({"file": "nulls.slt"}));
        s.check = "slt".into();
        assert_eq!(
            s.params_in(&family).unwrap().path("file").unwrap(),
            std::path::Path::new("scenarios/x/nulls.slt")
        );
    }

    #[test]
    fn ranges_and_defaults_render_for_listings() {
        let items = GSI_QUERY.param("items").unwrap();
        assert_eq!(items.kind.range_text(), "2..=1000");
        assert_eq!(items.default_text(), "20");
        assert_eq!(
            GSI_QUERY.param("sort_key").unwrap().kind.range_text(),
            "N | S"
        );
        assert_eq!(
            GSI_QUERY.param("between").unwrap().default_text(),
            "required"
        );
    }
}
