//! `cargo xtask ci-local github|gitlab [FILE] [--job NAME]` and `ci-local kubernetes
//! [DIR]`: a CI template's steps run on this machine, in the working tree (uncommitted
//! changes included, the build cache warm), as the CI system would run them — in order,
//! with bash, with the environment the file sets, stopping at the first failing step.
//!
//! GitHub: every `run:` step is `bash --noprofile --norc -eo pipefail` on its script, as
//! on a runner; `$GITHUB_PATH`, `$GITHUB_ENV` and `$GITHUB_STEP_SUMMARY` work; `if:`
//! status functions are honoured (a `Job summary` step with `always()` still runs after a
//! failure); `uses:` actions exist only on GitHub and are skipped with the reason.
//! GitLab: `before_script` and `script` run in one shell with `set -eo pipefail` (as the
//! runner does), then `after_script`; `image:`, `services:`, `cache:` and `rules:` are
//! GitLab's and are not used here.
//! Kubernetes ([`kubernetes`]): the Jobs' pods one at a time — an Indexed Job's once per
//! index, then the merge — each volume a fresh directory under `target/ci-local/`.
//! Working files (step scripts, the job summary) go to `target/ci-local/`.

mod kubernetes;

use super::template::{self, Action, GitLabJob, When, Workflow};
use super::{shell, vars};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: cargo xtask ci-local github|gitlab [FILE] [--job NAME]\n       cargo xtask ci-local kubernetes [DIR]";

struct Outcome {
    name: String,
    /// `None`: skipped, with why.
    result: Result<Option<i32>, String>,
    took: Duration,
}

pub fn run(root: &Path, args: &[String]) -> u8 {
    if args.first().is_some_and(|a| a == "kubernetes") {
        return kubernetes::run(root, &args[1..]);
    }
    let mut positional = Vec::new();
    let mut job: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--job" => job = it.next().cloned(),
            other if other.starts_with('-') => {
                eprintln!("xtask ci-local: error: unknown option `{other}`\n{USAGE}");
                return 2;
            }
            other => positional.push(other.to_string()),
        }
    }
    let (system, file) = match positional.as_slice() {
        [s] if s == "github" => (s.as_str(), PathBuf::from("ci/github/assay.yml")),
        [s] if s == "gitlab" => (s.as_str(), PathBuf::from("ci/gitlab/assay.gitlab-ci.yml")),
        [s, f] if s == "github" || s == "gitlab" => (s.as_str(), PathBuf::from(f)),
        _ => {
            eprintln!("xtask ci-local: error: name the CI system\n{USAGE}");
            return 2;
        }
    };
    let path = if file.is_absolute() {
        file
    } else {
        root.join(file)
    };
    let work = root.join("target/ci-local");
    if let Err(e) = std::fs::create_dir_all(work.join("tmp")) {
        eprintln!(
            "xtask ci-local: error: cannot create {}: {e}",
            work.display()
        );
        return 2;
    }
    let doc = match template::load_yaml(root, &path) {
        Ok(docs) if !docs.is_empty() => docs.into_iter().next().unwrap_or(yaml_rust2::Yaml::Null),
        Ok(_) => {
            eprintln!("xtask ci-local: error: {} is empty", path.display());
            return 2;
        }
        Err(v) => {
            eprintln!("xtask ci-local: error: {v}");
            return 2;
        }
    };
    let file = template::rel(root, &path);
    // A GitHub run's job summary is its own: a GitLab run must not list one left over.
    let _ = std::fs::remove_file(work.join("summary.md"));
    let started = Instant::now();
    let outcomes = match system {
        "github" => match template::github(&doc, &file) {
            Ok(w) => github(root, &work, &w, job.as_deref()),
            Err(problems) => Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")),
        },
        _ => match template::gitlab(&doc, &file) {
            Ok(jobs) => gitlab(root, &work, &jobs, job.as_deref()),
            Err(problems) => Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")),
        },
    };
    let outcomes = match outcomes {
        Ok(o) => o,
        Err(e) => {
            eprintln!("xtask ci-local: error: {e}");
            return 2;
        }
    };
    report(&file, &outcomes, started.elapsed(), &work)
}

fn report(file: &str, outcomes: &[Outcome], took: Duration, work: &Path) -> u8 {
    eprintln!("\nxtask ci-local: {file}");
    let width = outcomes
        .iter()
        .map(|o| o.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut first_failure = None;
    for (n, o) in outcomes.iter().enumerate() {
        let (result, secs) = match &o.result {
            Ok(Some(0)) => ("ok".to_string(), format!("{:7.1} s", o.took.as_secs_f64())),
            Ok(Some(code)) => {
                first_failure.get_or_insert((n, *code));
                (
                    format!("FAILED (exit {code})"),
                    format!("{:7.1} s", o.took.as_secs_f64()),
                )
            }
            Ok(None) => {
                first_failure.get_or_insert((n, 1));
                (
                    "FAILED (killed)".to_string(),
                    format!("{:7.1} s", o.took.as_secs_f64()),
                )
            }
            Err(why) => (format!("skipped: {why}"), " ".repeat(9)),
        };
        eprintln!("  {:>2}  {secs}  {:<width$}  {result}", n + 1, o.name);
    }
    let summary = work.join("summary.md");
    if std::fs::metadata(&summary).is_ok_and(|m| m.len() > 0) {
        eprintln!("  job summary: {}", summary.display());
    }
    match first_failure {
        None => {
            eprintln!("xtask ci-local: passed in {:.0} s", took.as_secs_f64());
            0
        }
        Some((n, code)) => {
            eprintln!(
                "xtask ci-local: FAILED at step {} ({}) after {:.0} s",
                n + 1,
                outcomes[n].name,
                took.as_secs_f64()
            );
            u8::try_from(code.clamp(1, 255)).unwrap_or(1)
        }
    }
}

/// Runs `bash ARGS script` in `dir` with `env`; its exit code (`None` when killed).
fn bash(
    script_file: &Path,
    dir: &Path,
    env: &BTreeMap<String, String>,
    github: bool,
) -> (Option<i32>, Duration) {
    let mut cmd = Command::new("bash");
    if github {
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"]);
    }
    cmd.arg(script_file).current_dir(dir).envs(env);
    status(cmd)
}

/// Runs `cmd` and times it: its exit code (`None` when killed, 127 when it cannot start).
fn status(mut cmd: Command) -> (Option<i32>, Duration) {
    let started = Instant::now();
    let code = match cmd.status() {
        Ok(s) => s.code(),
        Err(e) => {
            eprintln!(
                "xtask ci-local: cannot run {}: {e}",
                cmd.get_program().to_string_lossy()
            );
            Some(127)
        }
    };
    (code, started.elapsed())
}

fn skip_reason(uses: &str, with: &[(String, String)]) -> String {
    let action = uses.split('@').next().unwrap_or(uses);
    let path = with
        .iter()
        .find(|(k, _)| k == "path")
        .map(|(_, p)| p.split_whitespace().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    match action {
        "actions/checkout" => "GitHub's checkout; the working tree here is the checkout".into(),
        a if a.starts_with("actions/cache") => {
            format!("GitHub's cache service; here {path} simply stay on disk between runs")
        }
        "actions/upload-artifact" => {
            format!("GitHub's artifact store; the files stay in place: {path}")
        }
        _ => format!("{action} runs only on GitHub"),
    }
}

fn github(
    root: &Path,
    work: &Path,
    w: &Workflow,
    only: Option<&str>,
) -> Result<Vec<Outcome>, String> {
    let secret = |name: &str| {
        std::env::var(name).map_err(|_| {
            format!("the workflow reads secret/variable {name}: set {name} in your environment")
        })
    };
    let mut base: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in [
        ("CI", "true".to_string()),
        ("GITHUB_WORKSPACE", root.display().to_string()),
        ("GITHUB_RUN_ID", "local".to_string()),
        ("RUNNER_OS", "Linux".to_string()),
        ("RUNNER_TEMP", work.join("tmp").display().to_string()),
    ] {
        base.insert(k.to_string(), v);
    }
    for (k, v) in &w.env {
        base.insert(k.clone(), template::github_expressions(v, &secret)?);
    }
    let summary = work.join("summary.md");
    std::fs::write(&summary, "").map_err(|e| e.to_string())?;
    let mut outcomes = Vec::new();
    let jobs: Vec<_> = w
        .jobs
        .iter()
        .filter(|j| only.is_none_or(|o| o == j.id))
        .collect();
    if jobs.is_empty() {
        return Err(format!("no job {}", only.unwrap_or_default()));
    }
    for job in jobs {
        eprintln!(
            "xtask ci-local: job {}: runs here, in {}",
            job.id,
            root.display()
        );
        for (name, image) in &job.services {
            eprintln!("xtask ci-local: skipped service {name} ({image}): GitHub starts it as a container; start an equivalent yourself");
        }
        let mut env = base.clone();
        for (k, v) in &job.env {
            env.insert(k.clone(), template::github_expressions(v, &secret)?);
        }
        let mut extra_path: Vec<String> = Vec::new();
        let mut failed = false;
        for (n, step) in job.steps.iter().enumerate() {
            let label = format!("[{}/{}] {}", n + 1, job.steps.len(), step.name);
            let script = match &step.action {
                Action::Uses(u) => {
                    let why = skip_reason(u, &step.with);
                    eprintln!("\nxtask ci-local: {label}: skipped ({u}: {why})");
                    let short = why.split(';').next().unwrap_or_default().to_string();
                    outcomes.push(Outcome {
                        name: step.name.clone(),
                        result: Err(short),
                        took: Duration::ZERO,
                    });
                    continue;
                }
                Action::Run(s) => s,
            };
            let when = When::parse(step.condition.as_deref())?;
            if !when.runs(failed) {
                eprintln!(
                    "\nxtask ci-local: {label}: skipped (if: {}, and an earlier step {})",
                    step.condition.as_deref().unwrap_or("success()"),
                    if failed { "failed" } else { "did not fail" }
                );
                outcomes.push(Outcome {
                    name: step.name.clone(),
                    result: Err(format!(
                        "if: {}",
                        step.condition.as_deref().unwrap_or("success()")
                    )),
                    took: Duration::ZERO,
                });
                continue;
            }
            let mut step_env = env.clone();
            for (k, v) in &step.env {
                step_env.insert(k.clone(), template::github_expressions(v, &secret)?);
            }
            let (path_file, env_file) = (work.join("github_path"), work.join("github_env"));
            std::fs::write(&path_file, "").map_err(|e| e.to_string())?;
            std::fs::write(&env_file, "").map_err(|e| e.to_string())?;
            let path = extra_path
                .iter()
                .rev()
                .cloned()
                .chain(std::env::var("PATH").ok())
                .collect::<Vec<_>>()
                .join(":");
            step_env.insert("PATH".into(), path);
            step_env.insert("GITHUB_PATH".into(), path_file.display().to_string());
            step_env.insert("GITHUB_ENV".into(), env_file.display().to_string());
            step_env.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
            let script_file = work.join(format!("step-{}.sh", n + 1));
            std::fs::write(&script_file, script).map_err(|e| e.to_string())?;
            eprintln!("\nxtask ci-local: {label}");
            let dir = step
                .working_directory
                .as_ref()
                .map_or(root.to_path_buf(), |d| root.join(d));
            let (code, took) = bash(&script_file, &dir, &step_env, true);
            if code != Some(0) {
                failed = true;
            }
            outcomes.push(Outcome {
                name: step.name.clone(),
                result: Ok(code),
                took,
            });
            // What the step handed to the later ones.
            extra_path.extend(read_lines(&path_file));
            for (k, v) in parse_github_env(&std::fs::read_to_string(&env_file).unwrap_or_default())
            {
                env.insert(k, v);
            }
        }
    }
    Ok(outcomes)
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `NAME=value` lines and `NAME<<DELIMITER` … `DELIMITER` blocks, as GitHub reads them.
fn parse_github_env(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((k, delim)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            out.push((k.to_string(), value.join("\n")));
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

fn gitlab(
    root: &Path,
    work: &Path,
    jobs: &[GitLabJob],
    only: Option<&str>,
) -> Result<Vec<Outcome>, String> {
    let jobs: Vec<_> = jobs
        .iter()
        .filter(|j| only.is_none_or(|o| o == j.name))
        .collect();
    if jobs.is_empty() {
        return Err(format!("no job {}", only.unwrap_or_default()));
    }
    let mut outcomes = Vec::new();
    for job in jobs {
        eprintln!(
            "xtask ci-local: job {}: runs here, in {}",
            job.name,
            root.display()
        );
        if let Some(image) = &job.image {
            eprintln!("xtask ci-local: not used: image {image} (GitLab runs the job in it; here it runs on this machine)");
        }
        for s in &job.services {
            eprintln!("xtask ci-local: skipped service {s}: GitLab starts it as a container; start an equivalent yourself");
        }
        eprintln!(
            "xtask ci-local: not used: cache:, artifacts:, rules: (GitLab's; files stay in place)"
        );
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("CI".into(), "true".into());
        env.insert("CI_PROJECT_DIR".into(), root.display().to_string());
        env.insert("CI_JOB_NAME".into(), job.name.clone());
        let known = vars(&job.variables);
        for (k, v) in &job.variables {
            // GitLab expands variables inside variables' values.
            let value = shell::expand(v, |n| {
                env.get(n)
                    .cloned()
                    .or_else(|| known.get(n).cloned())
                    .or_else(|| std::env::var(n).ok())
            });
            env.insert(k.clone(), value);
        }
        let mut script = String::from("set -eo pipefail\n");
        for line in job.before_script.iter().chain(&job.script) {
            // GitLab shows a block by its first line; a comment says less than the command.
            let shown = line
                .lines()
                .find(|l| !l.trim_start().starts_with('#'))
                .unwrap_or_default();
            script.push_str(&format!(
                "printf '\\n$ %s\\n' '{}'\n{line}\n",
                shown.replace('\'', "'\\''")
            ));
        }
        let script_file = work.join(format!("gitlab-{}.sh", job.name));
        std::fs::write(&script_file, script).map_err(|e| e.to_string())?;
        eprintln!("\nxtask ci-local: {}: before_script + script", job.name);
        let (code, took) = bash(&script_file, root, &env, false);
        outcomes.push(Outcome {
            name: format!("{}: before_script + script", job.name),
            result: Ok(code),
            took,
        });
        if !job.after_script.is_empty() {
            let after = work.join(format!("gitlab-{}-after.sh", job.name));
            std::fs::write(&after, job.after_script.join("\n")).map_err(|e| e.to_string())?;
            let (code, took) = bash(&after, root, &env, false);
            // GitLab does not fail a job for its after_script.
            let result = if code == Some(0) {
                Ok(Some(0))
            } else {
                Err(format!(
                    "after_script failed ({code:?}); GitLab ignores that"
                ))
            };
            outcomes.push(Outcome {
                name: format!("{}: after_script", job.name),
                result,
                took,
            });
        }
        if code != Some(0) {
            break;
        }
    }
    Ok(outcomes)
}
