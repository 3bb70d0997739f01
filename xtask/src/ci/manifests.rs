//! The Kubernetes manifests and the Dockerfile under `ci/`: the structure a cluster and
//! `docker build` need, and the shell scripts they run (handed back for the command
//! checks).

use super::shell;
use super::template::scalar;
use crate::tidy::Violation;
use std::collections::BTreeMap;
use std::path::Path;
use yaml_rust2::Yaml;

/// A script a manifest or the Dockerfile runs, with the environment it runs in.
pub struct Script {
    pub at: String,
    pub text: String,
    pub env: BTreeMap<String, String>,
}

/// What the Kubernetes files hold, across all of them.
#[derive(Default)]
pub struct Cluster {
    pub claims_defined: Vec<String>,
    /// (file, where, claim) for every volume naming a PersistentVolumeClaim.
    pub claims_used: Vec<(String, String, String)>,
    pub indexed_jobs: usize,
    pub merge_jobs: usize,
    /// (file, job, variable, value) of RUN_ID and SHARDS, which every Job must agree on.
    pub shared_env: Vec<(String, String, String, String)>,
    /// (file, job, image).
    pub images: Vec<(String, String, String)>,
}

fn v(file: &str, what: String, fix: &str) -> Violation {
    Violation {
        file: file.to_string(),
        what,
        fix: fix.to_string(),
    }
}

/// One Kubernetes file's documents: each needs apiVersion, kind and metadata.name; a Job
/// needs a pod template with restartPolicy Never or OnFailure and containers with an
/// image; an Indexed Job needs integer completions and parallelism and a `--shard` whose
/// index is `$JOB_COMPLETION_INDEX` and whose count is its completions.
pub fn kubernetes(
    docs: &[Yaml],
    file: &str,
    cluster: &mut Cluster,
    scripts: &mut Vec<Script>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for (n, doc) in docs.iter().enumerate() {
        let (Some(kind), Some(_), Some(name)) = (
            scalar(&doc["kind"]),
            scalar(&doc["apiVersion"]),
            scalar(&doc["metadata"]["name"]),
        ) else {
            out.push(v(
                file,
                format!("document {n}: needs apiVersion, kind and metadata.name"),
                "add the missing keys",
            ));
            continue;
        };
        match kind.as_str() {
            "PersistentVolumeClaim" => cluster.claims_defined.push(name),
            "Job" => job(doc, &name, file, cluster, scripts, &mut out),
            _ => {}
        }
    }
    out
}

fn job(
    doc: &Yaml,
    name: &str,
    file: &str,
    cluster: &mut Cluster,
    scripts: &mut Vec<Script>,
    out: &mut Vec<Violation>,
) {
    let spec = &doc["spec"];
    let pod = &spec["template"]["spec"];
    let at = format!("Job {name}");
    match scalar(&pod["restartPolicy"]).as_deref() {
        Some("Never" | "OnFailure") => {}
        _ => out.push(v(
            file,
            format!("{at}: spec.template.spec.restartPolicy must be Never or OnFailure"),
            "add `restartPolicy: Never`",
        )),
    }
    let indexed = scalar(&spec["completionMode"]).as_deref() == Some("Indexed");
    let completions = spec["completions"].as_i64();
    if indexed {
        cluster.indexed_jobs += 1;
        if completions.is_none() || spec["parallelism"].as_i64().is_none() {
            out.push(v(
                file,
                format!("{at}: an Indexed Job needs integer completions and parallelism"),
                "set both to the number of shards",
            ));
        }
    }
    for vol in pod["volumes"].as_vec().into_iter().flatten() {
        if let Some(claim) = scalar(&vol["persistentVolumeClaim"]["claimName"]) {
            cluster
                .claims_used
                .push((file.to_string(), at.clone(), claim));
        }
    }
    let containers = pod["containers"].as_vec().cloned().unwrap_or_default();
    if containers.is_empty() {
        out.push(v(
            file,
            format!("{at}: no containers"),
            "add a container running assay",
        ));
    }
    let mut shard_seen = false;
    for c in &containers {
        let cname = scalar(&c["name"]).unwrap_or_default();
        let cat = format!("{at}, container {cname}");
        match scalar(&c["image"]) {
            Some(image) => cluster
                .images
                .push((file.to_string(), name.to_string(), image)),
            None => out.push(v(
                file,
                format!("{cat}: no image"),
                "name the image built from ci/Dockerfile",
            )),
        }
        let mut env = BTreeMap::new();
        for e in c["env"].as_vec().into_iter().flatten() {
            if let (Some(k), Some(val)) = (scalar(&e["name"]), scalar(&e["value"])) {
                if k == "RUN_ID" || k == "SHARDS" {
                    cluster.shared_env.push((
                        file.to_string(),
                        name.to_string(),
                        k.clone(),
                        val.clone(),
                    ));
                }
                env.insert(k, val);
            }
        }
        let argv: Vec<String> = c["command"]
            .as_vec()
            .into_iter()
            .flatten()
            .chain(c["args"].as_vec().into_iter().flatten())
            .filter_map(scalar)
            .collect();
        // `sh -c SCRIPT`, or an argv run directly (the image's entrypoint is assay).
        let text = match argv.as_slice() {
            [sh, dash_c, script, ..] if (sh == "sh" || sh == "bash") && dash_c == "-c" => {
                script.clone()
            }
            [] => String::new(),
            [first, ..] if shell::is_assay(first) => shell_join(&argv),
            _ if c["command"].is_badvalue() => format!("assay {}", shell_join(&argv)),
            _ => shell_join(&argv),
        };
        if text.contains("assay merge") {
            cluster.merge_jobs += 1;
        }
        for inv in shell::invocations(&text, &env) {
            let shell::Invocation::Assay(args) = inv else {
                continue;
            };
            let Some(i) = args.iter().position(|a| a == "--shard") else {
                continue;
            };
            shard_seen = true;
            let value = args.get(i + 1).cloned().unwrap_or_default();
            if !indexed {
                out.push(v(
                    file,
                    format!("{cat}: --shard in a Job that is not completionMode: Indexed"),
                    "make it an Indexed Job",
                ));
            }
            let (index, count) = value.split_once('/').unwrap_or((&value, ""));
            if !index.contains("JOB_COMPLETION_INDEX") {
                out.push(v(
                    file,
                    format!("{cat}: --shard {value}: the index is not $JOB_COMPLETION_INDEX"),
                    "write --shard \"$JOB_COMPLETION_INDEX/N\"",
                ));
            }
            let count = shell::expand(count, |n| env.get(n).cloned());
            if completions.is_some_and(|c| count != c.to_string()) {
                out.push(v(
                    file,
                    format!(
                        "{cat}: --shard {value}: the count is {count} but completions is {}",
                        completions.unwrap_or_default()
                    ),
                    "give SHARDS (or the count) the value of completions",
                ));
            }
        }
        scripts.push(Script { at: cat, text, env });
    }
    if indexed && !shard_seen {
        out.push(v(
            file,
            format!("{at}: an Indexed Job whose assay run has no --shard"),
            "add --shard \"$JOB_COMPLETION_INDEX/N\" --run-id \"$RUN_ID\"",
        ));
    }
}

fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What holds across the Kubernetes files: an Indexed Job and a merge Job exist, every
/// claim used is defined, RUN_ID and SHARDS agree between the Jobs.
pub fn cluster_checks(cluster: &Cluster, file: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    if cluster.indexed_jobs == 0 {
        out.push(v(
            file,
            "no Indexed Job (completionMode: Indexed) running the shards".into(),
            "add one",
        ));
    }
    if cluster.merge_jobs == 0 {
        out.push(v(
            file,
            "no Job running `assay merge` over the shards".into(),
            "add one",
        ));
    }
    for (f, at, claim) in &cluster.claims_used {
        if !cluster.claims_defined.contains(claim) {
            out.push(v(
                f,
                format!("{at}: claim {claim} is defined in no file under ci/kubernetes"),
                "add its PersistentVolumeClaim",
            ));
        }
    }
    let mut first: BTreeMap<&str, (&str, &str, &str)> = BTreeMap::new();
    for (f, job, k, val) in &cluster.shared_env {
        match first.get(k.as_str()) {
            Some((fjob, ffile, fval)) if fval != val => out.push(v(
                f,
                format!("Job {job}: {k}={val}, but Job {fjob} ({ffile}) has {k}={fval}"),
                "give every Job of one run the same RUN_ID and SHARDS",
            )),
            Some(_) => {}
            None => {
                first.insert(k, (job, f, val));
            }
        }
    }
    out
}

/// What the Dockerfile says: its stages and the image tags of its `docker build -t`
/// comments, for the manifests' images.
#[derive(Default)]
pub struct Image {
    pub stages: Vec<String>,
    pub tags: Vec<String>,
}

/// A Dockerfile (build context: the repository root): each `COPY` source exists and is
/// not ignored, `--from=` names an earlier stage, `--target` in its build comments names a
/// stage, the context leaves target/ out; `RUN` lines and an `assay` entrypoint's `CMD`
/// are handed back as scripts.
pub fn dockerfile(
    root: &Path,
    path: &Path,
    file: &str,
    image: &mut Image,
    scripts: &mut Vec<Script>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut instructions: Vec<String> = Vec::new();
    let mut pending = String::new();
    let mut targets = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.trim_start().strip_prefix('#') {
            for words in shell::simple_commands(comment) {
                let w: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
                if w.first() == Some(&"docker") && w.get(1) == Some(&"build") {
                    for pair in w.windows(2) {
                        match pair[0] {
                            "-t" | "--tag" => image.tags.push(pair[1].to_string()),
                            "--target" => targets.push(pair[1].to_string()),
                            _ => {}
                        }
                    }
                }
            }
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => pending.push_str(part),
            None => {
                pending.push_str(line);
                if !pending.trim().is_empty() {
                    instructions.push(std::mem::take(&mut pending));
                }
                pending.clear();
            }
        }
    }
    let mut entrypoint_assay = false;
    for ins in &instructions {
        let (op, rest) = ins
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((ins.trim(), ""));
        let rest = rest.trim();
        match op.to_ascii_uppercase().as_str() {
            "FROM" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if let [_, as_kw, name] = words.as_slice() {
                    if as_kw.eq_ignore_ascii_case("as") {
                        image.stages.push(name.to_string());
                    }
                }
            }
            "COPY" | "ADD" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let from = words.iter().find_map(|w| w.strip_prefix("--from="));
                let paths: Vec<&str> = words
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                match from {
                    Some(stage) if !image.stages.iter().any(|s| s == stage) => {
                        out.push(v(
                            file,
                            format!("COPY --from={stage}: no earlier stage is called {stage}"),
                            "name a stage defined above",
                        ));
                    }
                    Some(_) => {}
                    None => {
                        for src in paths.iter().take(paths.len().saturating_sub(1)) {
                            if *src != "." && !root.join(src).exists() {
                                out.push(v(file, format!("COPY {src}: not in the build context (the repository root)"), "copy a path that exists"));
                            }
                        }
                    }
                }
            }
            "RUN" => scripts.push(Script {
                at: format!("RUN {}", rest.chars().take(40).collect::<String>()),
                text: rest.to_string(),
                env: BTreeMap::new(),
            }),
            "ENTRYPOINT" => {
                entrypoint_assay = exec_form(rest).first().is_some_and(|p| shell::is_assay(p))
            }
            "CMD" if entrypoint_assay => scripts.push(Script {
                at: "CMD".into(),
                text: format!("assay {}", shell_join(&exec_form(rest))),
                env: BTreeMap::new(),
            }),
            _ => {}
        }
    }
    for t in &targets {
        if !image.stages.contains(t) {
            out.push(v(
                file,
                format!("docker build --target {t}: no stage is called {t}"),
                "name a stage of this Dockerfile",
            ));
        }
    }
    let ignore = path.with_file_name(format!(
        "{}.dockerignore",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let ignored = [ignore, root.join(".dockerignore")]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .any(|t| {
            t.lines()
                .any(|l| matches!(l.trim(), "target" | "target/" | "/target" | "target/**"))
        });
    if !ignored {
        out.push(v(
            file,
            "the build context would include target/ (gigabytes of build output)".into(),
            "list target/ in ci/Dockerfile.dockerignore",
        ));
    }
    out
}

/// `["a", "b"]` → [a, b]; a shell-form line as its words.
fn exec_form(rest: &str) -> Vec<String> {
    let inner = rest
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'));
    match inner {
        Some(list) => list
            .split(',')
            .map(|w| w.trim().trim_matches('"').to_string())
            .filter(|w| !w.is_empty())
            .collect(),
        None => rest.split_whitespace().map(str::to_string).collect(),
    }
}

/// Every word of `text` that names a file of the repository (`scenarios/…`, `ci/…`,
/// `docs/…`, a crate's directory) and does not exist.
pub fn missing_paths(root: &Path, text: &str) -> Vec<String> {
    const PREFIXES: &[&str] = &[
        "scenarios/",
        "ci/",
        "docs/",
        "harness/",
        "emulators/",
        "xtask/",
        "reports/",
    ];
    let mut out: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || "_./*-".contains(c)))
        .map(|w| w.trim_end_matches('.'))
        .filter(|w| PREFIXES.iter().any(|p| w.starts_with(p)) && !w.contains('*'))
        .filter(|w| !root.join(w).exists())
        .map(str::to_string)
        .collect();
    out.dedup();
    out
}
