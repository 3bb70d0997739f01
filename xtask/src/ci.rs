//! The CI templates under `ci/` — GitHub Actions workflows, a GitLab CI job, Kubernetes
//! Jobs and the Dockerfile of their image — checked as their CI systems read them, and run
//! on this machine.
//!
//! `cargo xtask ci-check` ([`check`]): every YAML file parses; each has the structure its
//! system needs (GitHub: `on`, `jobs.*.runs-on`, `steps`; GitLab: jobs with `script`;
//! Kubernetes: an Indexed Job whose `--shard` is `$JOB_COMPLETION_INDEX/completions`, a
//! merge Job, the claims they mount); every command they name exists: `assay` subcommands
//! and flags as the built binary's `--help` lists them, `--target` names, `cargo xtask`
//! commands, `cargo -p` crates, and every repository path they mention.
//! `cargo xtask ci-local` ([`local`]): a workflow's `run:` steps (or a GitLab job's
//! scripts) run in order with bash in the working tree.

mod commands;
pub mod local;
mod manifests;
mod shell;
mod template;

use crate::tidy::Violation;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file under `root/ci`, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.join("ci")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
}

fn vars(list: &[(String, String)]) -> BTreeMap<String, String> {
    list.iter().cloned().collect()
}

/// Checks every template under `root/ci` with the `assay` binary at `assay`;
/// `xtask_usage` is `cargo xtask --help`'s text. `Err` when the checks cannot start.
pub fn check(root: &Path, assay: &Path, xtask_usage: &str) -> Result<Vec<Violation>, String> {
    let cmds = commands::Commands::new(root, assay, xtask_usage)?;
    let mut out = Vec::new();
    let mut cluster = manifests::Cluster::default();
    let mut image = manifests::Image::default();
    let (mut workflows, mut gitlab_jobs, mut dockerfiles) = (0, 0, 0);
    let check_script = |file: &str,
                        at: &str,
                        text: &str,
                        env: &BTreeMap<String, String>,
                        out: &mut Vec<Violation>| {
        let site = commands::Site { file, at };
        for inv in shell::invocations(text, env) {
            out.extend(cmds.check(&inv, &site));
        }
    };
    for path in files(root) {
        let file = template::rel(root, &path);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for missing in manifests::missing_paths(root, &text) {
            out.push(Violation {
                file: file.clone(),
                what: format!("names {missing}, which is not in the repository"),
                fix: "correct the path or add the file".into(),
            });
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name == "Dockerfile"
            || (name.starts_with("Dockerfile.") && !name.ends_with(".dockerignore"))
        {
            dockerfiles += 1;
            let mut scripts = Vec::new();
            out.extend(manifests::dockerfile(
                root,
                &path,
                &file,
                &mut image,
                &mut scripts,
            ));
            for s in scripts {
                check_script(&file, &s.at, &s.text, &s.env, &mut out);
            }
            continue;
        }
        if !is_yaml(&path) {
            continue;
        }
        let docs = match template::load_yaml(root, &path) {
            Ok(d) => d,
            Err(v) => {
                out.push(v);
                continue;
            }
        };
        let under = |dir: &str| file.starts_with(&format!("ci/{dir}/"));
        if under("github") {
            match docs.first().map(|d| template::github(d, &file)) {
                Some(Ok(w)) => {
                    workflows += 1;
                    let publishes_junit = w.jobs.iter().flat_map(|j| &j.steps).any(|s| {
                        matches!(&s.action, template::Action::Uses(u) if u.starts_with("actions/upload-artifact@"))
                            && s.with.iter().any(|(k, p)| k == "path" && p.contains("junit.xml"))
                            && s.condition.as_deref() == Some("always()")
                    });
                    if !publishes_junit {
                        out.push(Violation {
                            file: file.clone(),
                            what:
                                "no `if: always()` actions/upload-artifact step publishes junit.xml"
                                    .into(),
                            fix: "upload the run directories' junit.xml, also when the run failed"
                                .into(),
                        });
                    }
                    for job in &w.jobs {
                        let mut env = vars(&w.env);
                        env.extend(vars(&job.env));
                        for (n, step) in job.steps.iter().enumerate() {
                            if let template::Action::Run(script) = &step.action {
                                let mut env = env.clone();
                                env.extend(vars(&step.env));
                                let at = format!("jobs.{}.steps[{n}] ({})", job.id, step.name);
                                check_script(&file, &at, script, &env, &mut out);
                            }
                        }
                    }
                }
                Some(Err(v)) => out.extend(v),
                None => out.push(Violation {
                    file: file.clone(),
                    what: "empty".into(),
                    fix: "write the workflow".into(),
                }),
            }
        } else if under("gitlab") {
            match docs.first().map(|d| template::gitlab(d, &file)) {
                Some(Ok(jobs)) => {
                    for job in &jobs {
                        gitlab_jobs += 1;
                        if !job.junit.iter().any(|j| j.ends_with("junit.xml")) {
                            out.push(Violation {
                                file: file.clone(),
                                what: format!("{}: no artifacts:reports:junit naming junit.xml", job.name),
                                fix: "publish the run directories' junit.xml as the job's test report".into(),
                            });
                        }
                        let env = vars(&job.variables);
                        let all = job
                            .before_script
                            .iter()
                            .chain(&job.script)
                            .chain(&job.after_script);
                        for (n, line) in all.enumerate() {
                            check_script(
                                &file,
                                &format!("{} line {n}", job.name),
                                line,
                                &env,
                                &mut out,
                            );
                        }
                    }
                }
                Some(Err(v)) => out.extend(v),
                None => out.push(Violation {
                    file: file.clone(),
                    what: "empty".into(),
                    fix: "write the job".into(),
                }),
            }
        } else if under("kubernetes") {
            let mut scripts = Vec::new();
            out.extend(manifests::kubernetes(
                &docs,
                &file,
                &mut cluster,
                &mut scripts,
            ));
            for s in scripts {
                check_script(&file, &s.at, &s.text, &s.env, &mut out);
            }
        }
    }
    out.extend(manifests::cluster_checks(&cluster, "ci/kubernetes"));
    for (file, job, img) in &cluster.images {
        if !image.tags.contains(img) {
            out.push(Violation {
                file: file.clone(),
                what: format!("Job {job}: image {img} is not what ci/Dockerfile's `docker build -t` comment builds"),
                fix: "use the same image name in both".into(),
            });
        }
    }
    for (count, what) in [
        (workflows, "a GitHub Actions workflow under ci/github"),
        (gitlab_jobs, "a GitLab CI job under ci/gitlab"),
        (dockerfiles, "a Dockerfile under ci/"),
    ] {
        if count == 0 {
            out.push(Violation {
                file: "ci".into(),
                what: format!("no {what}"),
                fix: "add it back".into(),
            });
        }
    }
    Ok(out)
}

/// `cargo xtask ci-check`: prints every problem; 0 when there is none, 1 otherwise, 2 when
/// the checks cannot run.
pub fn run_check(root: &Path, assay: &Path, xtask_usage: &str) -> u8 {
    match check(root, assay, xtask_usage) {
        Ok(v) if v.is_empty() => {
            eprintln!("xtask ci-check: ok (every template under ci/ parses, has its CI system's structure and names only commands, flags, targets and paths that exist)");
            0
        }
        Ok(v) => {
            for x in &v {
                println!("{x}");
            }
            eprintln!(
                "xtask ci-check: {} problem(s) in the templates under ci/",
                v.len()
            );
            1
        }
        Err(e) => {
            eprintln!("xtask ci-check: error: {e}");
            2
        }
    }
}

#[cfg(test)]
mod tests;
