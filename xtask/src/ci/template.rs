//! The CI templates as data: YAML files under `ci/` parsed (yaml-rust2, YAML 1.2), and the
//! two models `ci-check` and `ci-local` share — a GitHub Actions workflow (jobs, steps,
//! their env and `if:`) and GitLab CI jobs (variables, before_script, script). Each reader
//! checks the structure its CI system needs and reports every problem as a
//! [`Violation`] naming the key path and the fix.

use crate::tidy::Violation;
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

/// Every YAML document in `path`; a syntax error as `file:line:col: message`.
pub fn load_yaml(root: &Path, path: &Path) -> Result<Vec<Yaml>, Violation> {
    let file = rel(root, path);
    let text = std::fs::read_to_string(path).map_err(|e| Violation {
        file: file.clone(),
        what: format!("cannot read it: {e}"),
        fix: "make it a readable text file".into(),
    })?;
    YamlLoader::load_from_str(&text).map_err(|e| Violation {
        file: format!("{file}:{}:{}", e.marker().line(), e.marker().col() + 1),
        what: format!("not valid YAML: {}", e.info()),
        fix: "correct the YAML at that position".into(),
    })
}

pub fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// A scalar as the CI systems read it (`3` and `true` are the strings "3" and "true").
pub fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The keys of a mapping with their values, in file order; nothing for a non-mapping.
pub fn entries(y: &Yaml) -> Vec<(String, &Yaml)> {
    match y {
        Yaml::Hash(h) => h
            .iter()
            .filter_map(|(k, v)| scalar(k).map(|k| (k, v)))
            .collect(),
        _ => Vec::new(),
    }
}

struct Problems<'a> {
    file: &'a str,
    found: Vec<Violation>,
}

impl Problems<'_> {
    fn add(&mut self, at: &str, what: impl Into<String>, fix: impl Into<String>) {
        self.found.push(Violation {
            file: self.file.to_string(),
            what: format!("{at}: {}", what.into()),
            fix: fix.into(),
        });
    }

    /// A mapping of scalars (`env:`, `variables:`, `with:`); GitLab's `{ value: … }` form too.
    fn vars(&mut self, y: &Yaml, at: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if y.is_badvalue() || y.is_null() {
            return out;
        }
        if !y.is_hash() {
            self.add(at, "is not a mapping", "write NAME: value lines");
            return out;
        }
        for (k, v) in entries(y) {
            match scalar(v).or_else(|| scalar(&v["value"])) {
                Some(s) => out.push((k, s)),
                None => self.add(
                    &format!("{at}.{k}"),
                    "is not a scalar",
                    "give it a string value",
                ),
            }
        }
        out
    }
}

impl Problems<'_> {
    /// `${{ }}` in env values: only the forms ci-local can replace.
    fn expressions(&mut self, vars: &[(String, String)], at: &str) {
        for (k, v) in vars {
            if let Err(e) = github_expressions(v, &|_| Ok(String::new())) {
                self.add(
                    &format!("{at}.{k}"),
                    e,
                    "write the value out, or use secrets.NAME / vars.NAME",
                );
            }
        }
    }
}

fn finish<T>(value: T, p: Problems<'_>) -> Result<T, Vec<Violation>> {
    if p.found.is_empty() {
        Ok(value)
    } else {
        Err(p.found)
    }
}

// ---------------------------------------------------------------------------------------
// GitHub Actions

#[derive(Debug)]
pub struct Workflow {
    pub env: Vec<(String, String)>,
    pub jobs: Vec<Job>,
}

#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub env: Vec<(String, String)>,
    /// Service container names (GitHub starts them; ci-local cannot).
    pub services: Vec<(String, String)>,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub action: Action,
    pub env: Vec<(String, String)>,
    /// The raw `if:`.
    pub condition: Option<String>,
    /// A `uses:` step's `with:`.
    pub with: Vec<(String, String)>,
    pub working_directory: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Uses(String),
    Run(String),
}

/// When a step runs, for the `if:` forms ci-local evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Success,
    Always,
    Failure,
    NotCancelled,
    Cancelled,
}

impl When {
    /// The status functions of a `run:` step's `if:` (`${{ }}` optional); `Err` for any
    /// other expression.
    pub fn parse(condition: Option<&str>) -> Result<When, String> {
        let Some(c) = condition else {
            return Ok(When::Success);
        };
        let c = c.trim();
        let c = c
            .strip_prefix("${{")
            .and_then(|c| c.strip_suffix("}}"))
            .unwrap_or(c)
            .trim();
        match c {
            "success()" => Ok(When::Success),
            "always()" => Ok(When::Always),
            "failure()" => Ok(When::Failure),
            "!cancelled()" => Ok(When::NotCancelled),
            "cancelled()" => Ok(When::Cancelled),
            other => Err(format!(
                "`if: {other}` on a run: step; ci-local evaluates only always(), success(), \
                 failure(), cancelled() and !cancelled()"
            )),
        }
    }

    /// Whether the step runs when an earlier step has (`failed`) or has not failed.
    pub fn runs(self, failed: bool) -> bool {
        match self {
            When::Success => !failed,
            When::Failure => failed,
            When::Always | When::NotCancelled => true,
            When::Cancelled => false,
        }
    }
}

/// `${{ expr }}` in an `env:` value, replaced: `secrets.NAME` and `vars.NAME` by `lookup`
/// (the caller decides what a secret is locally), `github.run_id` by `local`. Any other
/// expression is an error: ci-local could not run the step as GitHub does.
pub fn github_expressions(
    value: &str,
    lookup: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(open) = rest.find("${{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            return Err(format!("unclosed `${{{{` in `{value}`"));
        };
        let expr = rest[open + 3..open + close].trim();
        let parts: Vec<&str> = expr.split('.').collect();
        match parts.as_slice() {
            ["secrets" | "vars", name] => out.push_str(&lookup(name)?),
            ["github", "run_id"] => out.push_str("local"),
            _ => {
                return Err(format!(
                    "`${{{{ {expr} }}}}`: ci-local replaces only secrets.NAME, vars.NAME (from \
                     your environment) and github.run_id"
                ))
            }
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A GitHub Actions workflow: `on`, `jobs.*.runs-on`, `jobs.*.steps`, each step exactly
/// one of `uses:` / `run:` (bash), and what ci-local must be able to run: no `${{ }}` in a
/// `run:` script (pass values through `env:`), `if:` as [`When`] on `run:` steps.
pub fn github(doc: &Yaml, file: &str) -> Result<Workflow, Vec<Violation>> {
    let mut p = Problems {
        file,
        found: Vec::new(),
    };
    if !doc.is_hash() {
        p.add(
            "(top)",
            "is not a mapping",
            "start with name:, on: and jobs:",
        );
        return finish(
            Workflow {
                env: vec![],
                jobs: vec![],
            },
            p,
        );
    }
    if doc["on"].is_badvalue() {
        p.add(
            "on",
            "missing: the workflow never runs",
            "add e.g. `on: [push, pull_request]`",
        );
    }
    let env = p.vars(&doc["env"], "env");
    p.expressions(&env, "env");
    let mut jobs = Vec::new();
    let job_entries = entries(&doc["jobs"]);
    if job_entries.is_empty() {
        p.add(
            "jobs",
            "missing or empty",
            "add a job with runs-on: and steps:",
        );
    }
    for (id, j) in job_entries {
        let at = format!("jobs.{id}");
        if scalar(&j["runs-on"]).is_none() && !j["runs-on"].is_array() {
            p.add(
                &format!("{at}.runs-on"),
                "missing",
                "add `runs-on: ubuntu-latest`",
            );
        }
        let job_env = p.vars(&j["env"], &format!("{at}.env"));
        p.expressions(&job_env, &format!("{at}.env"));
        let services = entries(&j["services"])
            .into_iter()
            .map(|(name, s)| (name, scalar(&s["image"]).unwrap_or_default()))
            .collect();
        let mut steps = Vec::new();
        let Some(list) = j["steps"].as_vec().filter(|l| !l.is_empty()) else {
            p.add(
                &format!("{at}.steps"),
                "missing or empty",
                "add the job's steps",
            );
            continue;
        };
        for (n, s) in list.iter().enumerate() {
            let sat = format!("{at}.steps[{n}]");
            let action = match (scalar(&s["uses"]), scalar(&s["run"])) {
                (Some(u), None) => {
                    if !u.contains('@') {
                        p.add(
                            &format!("{sat}.uses"),
                            format!("`{u}` names no version"),
                            "pin it, e.g. `@v4`",
                        );
                    }
                    Action::Uses(u)
                }
                (None, Some(r)) => Action::Run(r),
                _ => {
                    p.add(
                        &sat,
                        "needs exactly one of uses: and run:",
                        "split it into two steps or add the missing key",
                    );
                    continue;
                }
            };
            let condition = scalar(&s["if"]);
            if let Action::Run(script) = &action {
                if let Err(e) = When::parse(condition.as_deref()) {
                    p.add(
                        &format!("{sat}.if"),
                        e,
                        "use a status function, or move the condition into the script",
                    );
                }
                if script.contains("${{") {
                    p.add(
                        &format!("{sat}.run"),
                        "uses `${{ }}` in the script (ci-local cannot evaluate it; GitHub advises against it)",
                        "pass the value through the step's env: and use $NAME",
                    );
                }
                if let Some(shell) = scalar(&s["shell"]).filter(|sh| sh != "bash") {
                    p.add(
                        &format!("{sat}.shell"),
                        format!("`{shell}`"),
                        "use bash (ci-local runs every step with bash)",
                    );
                }
            }
            let step_env = p.vars(&s["env"], &format!("{sat}.env"));
            p.expressions(&step_env, &format!("{sat}.env"));
            let name = scalar(&s["name"]).unwrap_or_else(|| match &action {
                Action::Uses(u) => u.clone(),
                Action::Run(r) => r.lines().next().unwrap_or_default().to_string(),
            });
            steps.push(Step {
                name,
                with: p.vars(&s["with"], &format!("{sat}.with")),
                working_directory: scalar(&s["working-directory"]),
                action,
                env: step_env,
                condition,
            });
        }
        jobs.push(Job {
            id,
            env: job_env,
            services,
            steps,
        });
    }
    finish(Workflow { env, jobs }, p)
}

// ---------------------------------------------------------------------------------------
// GitLab CI

#[derive(Debug)]
pub struct GitLabJob {
    pub name: String,
    pub image: Option<String>,
    /// Top-level variables first, then the job's (which win).
    pub variables: Vec<(String, String)>,
    pub before_script: Vec<String>,
    pub script: Vec<String>,
    pub after_script: Vec<String>,
    pub services: Vec<String>,
    /// `artifacts:reports:junit` paths.
    pub junit: Vec<String>,
}

/// Top-level keys that configure the pipeline rather than name a job.
const GITLAB_GLOBAL_KEYS: &[&str] = &[
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
];

/// Script lines: a string or a list of strings (one level of nested lists, as anchors
/// produce, flattened).
fn lines(y: &Yaml) -> Option<Vec<String>> {
    if let Some(s) = scalar(y) {
        return Some(vec![s]);
    }
    let mut out = Vec::new();
    for item in y.as_vec()? {
        match item {
            Yaml::Array(inner) => out.extend(inner.iter().filter_map(scalar)),
            other => out.push(scalar(other)?),
        }
    }
    Some(out)
}

/// GitLab CI jobs: every top-level key that is not global configuration or hidden (`.x`)
/// is a job and needs `script:`; ci-local also needs no `extends:` / `!reference`.
pub fn gitlab(doc: &Yaml, file: &str) -> Result<Vec<GitLabJob>, Vec<Violation>> {
    let mut p = Problems {
        file,
        found: Vec::new(),
    };
    let globals = p.vars(&doc["variables"], "variables");
    let default_before =
        lines(&doc["default"]["before_script"]).or_else(|| lines(&doc["before_script"]));
    let default_after =
        lines(&doc["default"]["after_script"]).or_else(|| lines(&doc["after_script"]));
    let default_image = scalar(&doc["default"]["image"]).or_else(|| scalar(&doc["image"]));
    let mut jobs = Vec::new();
    for (name, j) in entries(doc) {
        if GITLAB_GLOBAL_KEYS.contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        if !j["extends"].is_badvalue() {
            p.add(
                &format!("{name}.extends"),
                "ci-local does not follow extends:",
                "write the job out in full",
            );
        }
        let Some(script) = lines(&j["script"]).filter(|s| !s.is_empty()) else {
            p.add(
                &format!("{name}.script"),
                "missing: a GitLab job needs script:",
                "add the job's commands under script:",
            );
            continue;
        };
        let mut variables = globals.clone();
        variables.extend(p.vars(&j["variables"], &format!("{name}.variables")));
        let junit = lines(&j["artifacts"]["reports"]["junit"]).unwrap_or_default();
        jobs.push(GitLabJob {
            image: scalar(&j["image"])
                .or_else(|| scalar(&j["image"]["name"]))
                .or(default_image.clone()),
            variables,
            before_script: lines(&j["before_script"])
                .or(default_before.clone())
                .unwrap_or_default(),
            script,
            after_script: lines(&j["after_script"])
                .or(default_after.clone())
                .unwrap_or_default(),
            services: j["services"]
                .as_vec()
                .map(|v| {
                    v.iter()
                        .filter_map(|s| scalar(s).or_else(|| scalar(&s["name"])))
                        .collect()
                })
                .unwrap_or_default(),
            junit,
            name,
        });
    }
    if jobs.is_empty() && p.found.is_empty() {
        p.add("(top)", "no job", "add a job: a key with script:");
    }
    finish(jobs, p)
}
