//! `cargo xtask ci-local kubernetes [DIR]`: the Jobs of the manifests in DIR (default
//! `ci/kubernetes`) run here, in the repository root, as their pods would run them: each
//! Job's one container, its `command`/`args` (usually `sh -c SCRIPT`) with its `env` —
//! an Indexed Job's once per index 0..completions with `JOB_COMPLETION_INDEX` set, one pod
//! after another — Indexed Jobs first, then the others (the merge), stopping at the first
//! non-zero exit. `$(NAME)` in command, args and env values is expanded as the kubelet
//! does. `image:` is not pulled: the working tree's `target/debug/assay`, built first, is
//! first on PATH. Each volume is a fresh directory under `target/ci-local/kubernetes/`
//! (one per PersistentVolumeClaim, shared by every Job mounting it; one per pod for an
//! emptyDir), put in place of its `mountPath` wherever that appears as a path in the
//! command. At the end the merge's `--out` must hold a `report.json`.

use super::{report, status, Outcome};
use crate::ci::{shell, template};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use yaml_rust2::Yaml;

const DEFAULT_DIR: &str = "ci/kubernetes";

/// Where a volume's files are kept in the cluster.
#[derive(Debug, PartialEq)]
enum Backing {
    Claim(String),
    EmptyDir,
    /// Another kind of volume (configMap, secret, hostPath, …), by its key.
    Other(String),
}

#[derive(Debug, PartialEq)]
struct Mount {
    /// Without a trailing `/`.
    path: String,
    volume: String,
    sub_path: Option<String>,
}

/// A Job as ci-local runs it: its pod template's one container.
#[derive(Debug)]
struct Job {
    name: String,
    indexed: bool,
    completions: u32,
    parallelism: Option<i64>,
    image: Option<String>,
    /// `command` then `args`; without `command`, the image's entrypoint (`assay`).
    argv: Vec<String>,
    env: Vec<(String, String)>,
    /// `valueFrom` variables, which the cluster supplies: taken from this environment.
    env_from_cluster: Vec<String>,
    mounts: Vec<Mount>,
    volumes: BTreeMap<String, Backing>,
}

impl Job {
    /// The shell script the container runs (`sh -c SCRIPT`), or its argv as one line.
    fn script(argv: &[String]) -> String {
        match argv {
            [sh, c, script, ..] if (sh == "sh" || sh == "bash") && c == "-c" => script.clone(),
            _ => argv
                .iter()
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn merges(&self) -> bool {
        let env = self.env.iter().cloned().collect();
        shell::invocations(&Job::script(&self.argv), &env)
            .iter()
            .any(|i| matches!(i, shell::Invocation::Assay(a) if a.first().is_some_and(|s| s == "merge")))
    }

    fn at(&self) -> String {
        format!("Job {}", self.name)
    }
}

/// The Jobs of one file's documents (other kinds are left to `ci-check`).
fn jobs(docs: &[Yaml], file: &str) -> Result<Vec<Job>, String> {
    let list = |y: &Yaml| -> Vec<String> {
        y.as_vec()
            .into_iter()
            .flatten()
            .filter_map(template::scalar)
            .collect()
    };
    let mut out = Vec::new();
    for doc in docs {
        if template::scalar(&doc["kind"]).as_deref() != Some("Job") {
            continue;
        }
        let name = template::scalar(&doc["metadata"]["name"]).unwrap_or_default();
        let at = format!("{file}: Job {name}");
        let spec = &doc["spec"];
        let pod = &spec["template"]["spec"];
        if !pod["initContainers"].is_badvalue() {
            return Err(format!(
                "{at}: has initContainers, which ci-local does not run"
            ));
        }
        let containers = pod["containers"].as_vec().cloned().unwrap_or_default();
        let [c] = containers.as_slice() else {
            return Err(format!(
                "{at}: {} containers; ci-local runs pods of exactly one",
                containers.len()
            ));
        };
        let completions = match &spec["completions"] {
            Yaml::BadValue | Yaml::Null => 1,
            y => y
                .as_i64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(format!("{at}: completions is not a whole number"))?,
        };
        let (command, args) = (list(&c["command"]), list(&c["args"]));
        // The image's ENTRYPOINT is assay and its CMD `--help` (ci/Dockerfile).
        let argv: Vec<String> = match (c["command"].is_badvalue(), c["args"].is_badvalue()) {
            (true, true) => vec!["assay".into(), "--help".into()],
            (true, false) => std::iter::once("assay".to_string()).chain(args).collect(),
            (false, _) => command.into_iter().chain(args).collect(),
        };
        if argv.is_empty() {
            return Err(format!("{at}: an empty command"));
        }
        let (mut env, mut env_from_cluster) = (Vec::new(), Vec::new());
        for e in c["env"].as_vec().into_iter().flatten() {
            let Some(k) = template::scalar(&e["name"]) else {
                continue;
            };
            match template::scalar(&e["value"]) {
                Some(v) => env.push((k, v)),
                None if !e["valueFrom"].is_badvalue() => env_from_cluster.push(k),
                None => env.push((k, String::new())),
            }
        }
        let mut mounts = Vec::new();
        for m in c["volumeMounts"].as_vec().into_iter().flatten() {
            let path = template::scalar(&m["mountPath"]).unwrap_or_default();
            let trimmed = path.trim_end_matches('/');
            if !path.starts_with('/') || trimmed.is_empty() {
                return Err(format!(
                    "{at}: mountPath `{path}`: ci-local maps absolute paths below / only"
                ));
            }
            mounts.push(Mount {
                path: trimmed.to_string(),
                volume: template::scalar(&m["name"]).unwrap_or_default(),
                sub_path: template::scalar(&m["subPath"]).filter(|s| !s.is_empty()),
            });
        }
        let mut volumes = BTreeMap::new();
        for v in pod["volumes"].as_vec().into_iter().flatten() {
            let backing =
                if let Some(claim) = template::scalar(&v["persistentVolumeClaim"]["claimName"]) {
                    Backing::Claim(claim)
                } else if !v["emptyDir"].is_badvalue() {
                    Backing::EmptyDir
                } else {
                    let kind = template::entries(v)
                        .into_iter()
                        .map(|(k, _)| k)
                        .find(|k| k != "name")
                        .unwrap_or_default();
                    Backing::Other(kind)
                };
            volumes.insert(template::scalar(&v["name"]).unwrap_or_default(), backing);
        }
        out.push(Job {
            name,
            indexed: template::scalar(&spec["completionMode"]).as_deref() == Some("Indexed"),
            completions,
            parallelism: spec["parallelism"].as_i64(),
            image: template::scalar(&c["image"]),
            argv,
            env,
            env_from_cluster,
            mounts,
            volumes,
        });
    }
    Ok(out)
}

/// Kubernetes' expansion of `command`, `args` and `env` values: `$(NAME)` is NAME's value
/// when the container defines NAME and stays as written otherwise (so the shell's `$(…)`
/// and `$NAME` pass through); `$$` is one `$`.
fn kube_expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(close) => {
                    let name = &inner[..close];
                    match vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&format!("$({name})")),
                    }
                    rest = &inner[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `text` with each mount path replaced by its directory where it stands as a path:
/// followed by `/`, a quote, whitespace, a shell operator (`;|&)<>`) or the end, and not
/// the tail of a longer path
/// (`/data/runs`, `$HOME/runs`). The longest mount path wins; what was put in is not
/// scanned again.
fn map_mounts(text: &str, mounts: &[(String, String)]) -> String {
    let mut longest_first: Vec<&(String, String)> = mounts.iter().collect();
    longest_first.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while let Some(c) = text[i..].chars().next() {
        let starts_path = text[..i]
            .chars()
            .next_back()
            .is_none_or(|p| !(p.is_alphanumeric() || "_.-/~$})]\\".contains(p)));
        if c == '/' && starts_path {
            for (m, dir) in &longest_first {
                let Some(after) = text[i..].strip_prefix(m.as_str()) else {
                    continue;
                };
                // A shell operator ends the word as whitespace does.
                let ends = after
                    .chars()
                    .next()
                    .is_none_or(|n| n.is_whitespace() || "/\"';|&)<>".contains(n));
                if ends {
                    out.push_str(dir);
                    i += m.len();
                    continue 'scan;
                }
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The `--out` of the `assay merge` that `script` runs, its variables from `env`.
fn merge_out(script: &str, env: &BTreeMap<String, String>) -> Option<String> {
    shell::invocations(script, env)
        .into_iter()
        .find_map(|inv| match inv {
            shell::Invocation::Assay(args) if args.first().is_some_and(|a| a == "merge") => args
                .iter()
                .enumerate()
                .find_map(|(i, a)| match a.strip_prefix("--out=") {
                    Some(v) => Some(v.to_string()),
                    None if a == "--out" => args.get(i + 1).cloned(),
                    None => None,
                }),
            _ => None,
        })
        .map(|o| shell::expand(&o, |n| env.get(n).cloned()))
}

/// Every Job of the YAML files in `dir`, in file order.
fn load(root: &Path, dir: &Path) -> Result<Vec<Job>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = template::rel(root, &path);
        let docs = template::load_yaml(root, &path).map_err(|v| v.to_string())?;
        out.extend(jobs(&docs, &file)?);
    }
    Ok(out)
}

/// A directory holding no character the shell would read as syntax, so it can stand in
/// for a mount path in a script unquoted.
fn shell_safe(p: &Path) -> Result<String, String> {
    let s = p.display().to_string();
    if s.chars()
        .any(|c| c.is_whitespace() || "'\"\\$`*?[]{}()<>|&;!#~".contains(c))
    {
        return Err(format!(
            "{s}: the directory standing in for a volume has a character the shell would \
             interpret; run from a checkout whose path has none"
        ));
    }
    Ok(s)
}

/// The volumes of one pod (`index`: its completion index) as directories: a claim's is
/// shared (`claims`, made on first use), an emptyDir's is new for the pod.
fn pod_mounts(
    job: &Job,
    pod: &str,
    work: &Path,
    claims: &mut BTreeMap<String, PathBuf>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for m in &job.mounts {
        let mut dir = match job.volumes.get(&m.volume) {
            Some(Backing::Claim(c)) => claims
                .entry(c.clone())
                .or_insert_with(|| work.join(format!("pvc-{c}")))
                .clone(),
            Some(Backing::EmptyDir) => work.join(format!("{pod}-{}", m.volume)),
            Some(Backing::Other(kind)) => {
                return Err(format!(
                    "{}: volume {} is a {kind}; ci-local stands in for persistentVolumeClaim \
                     and emptyDir volumes only",
                    job.at(),
                    m.volume
                ))
            }
            None => {
                return Err(format!(
                    "{}: mountPath {} names volume {}, which the pod does not define",
                    job.at(),
                    m.path,
                    m.volume
                ))
            }
        };
        if let Some(sub) = &m.sub_path {
            dir.push(sub);
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        out.push((m.path.clone(), shell_safe(&dir)?));
    }
    Ok(out)
}

pub fn run(root: &Path, args: &[String]) -> u8 {
    let dir = match args {
        [] => root.join(DEFAULT_DIR),
        [d] if !d.starts_with('-') => root.join(d),
        _ => {
            eprintln!("xtask ci-local: error: kubernetes takes one DIR (default {DEFAULT_DIR}) and no options\n{}", super::USAGE);
            return 2;
        }
    };
    let shown = template::rel(root, &dir);
    let work = root.join("target/ci-local/kubernetes");
    let prepared = load(root, &dir).and_then(|mut jobs| {
        // The Indexed Jobs first: the merge reads what their pods wrote.
        jobs.sort_by_key(|j| !j.indexed);
        if !jobs.iter().any(|j| j.indexed) {
            return Err(format!("{shown}: no Indexed Job (completionMode: Indexed)"));
        }
        if !jobs.iter().any(Job::merges) {
            return Err(format!("{shown}: no Job runs `assay merge`"));
        }
        // Fresh volumes: what an earlier run left is removed.
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        }
        std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
        Ok(jobs)
    });
    let jobs = match prepared {
        Ok(j) => j,
        Err(e) => {
            eprintln!("xtask ci-local: error: {e}");
            return 2;
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "xtask ci-local: {shown}: {} Jobs, their pods run here one at a time, in {}",
        jobs.len(),
        root.display()
    );
    for job in &jobs {
        if let Some(image) = &job.image {
            eprintln!("xtask ci-local: {}: image {image} is not pulled; target/debug/assay (built below) is first on PATH", job.at());
        }
        if job.completions > 1 {
            eprintln!(
                "xtask ci-local: {}: {} pods (completions {}, parallelism {}) run one after another: this machine has {cores} core(s)",
                job.at(),
                job.completions,
                job.completions,
                job.parallelism.map_or("1".into(), |p| p.to_string())
            );
        }
        for k in &job.env_from_cluster {
            eprintln!(
                "xtask ci-local: {}: {k} comes from the cluster (valueFrom): {}",
                job.at(),
                if std::env::var_os(k).is_some() {
                    "taken from this environment"
                } else {
                    "not set here"
                }
            );
        }
    }
    let started = Instant::now();
    let mut outcomes = Vec::new();
    eprintln!("\nxtask ci-local: build assay");
    let build_started = Instant::now();
    let assay = crate::build_assay(false);
    outcomes.push(Outcome {
        name: "build target/debug/assay".into(),
        result: Ok(Some(assay.as_ref().map_or_else(|c| i32::from(*c), |_| 0))),
        took: build_started.elapsed(),
    });
    let Ok(assay) = assay else {
        return report(&shown, &outcomes, started.elapsed(), &work);
    };
    let path = assay
        .parent()
        .map(|d| d.display().to_string())
        .into_iter()
        .chain(std::env::var("PATH").ok())
        .collect::<Vec<_>>()
        .join(":");
    match pods(root, &work, &jobs, &path, &mut outcomes) {
        Ok(true) => {
            let (name, ok) = check_merged(root, &work, &jobs, &path);
            outcomes.push(Outcome {
                name,
                result: Ok(Some(if ok { 0 } else { 1 })),
                took: Duration::ZERO,
            });
        }
        Ok(false) => {}
        Err(e) => {
            eprintln!("xtask ci-local: error: {e}");
            return 2;
        }
    }
    report(&shown, &outcomes, started.elapsed(), &work)
}

/// One pod's variables, `$(NAME)` in each value expanded from those before it, and the
/// argv it runs; mount paths are mapped in both (a path in a variable must not reach this
/// machine's `/` either).
fn pod_command(
    job: &Job,
    index: Option<u32>,
    mounts: &[(String, String)],
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut vars = BTreeMap::new();
    for k in &job.env_from_cluster {
        if let Ok(v) = std::env::var(k) {
            vars.insert(k.clone(), v);
        }
    }
    for (k, v) in &job.env {
        let value = kube_expand(v, &vars);
        vars.insert(k.clone(), value);
    }
    if let Some(i) = index {
        vars.insert("JOB_COMPLETION_INDEX".into(), i.to_string());
    }
    let argv = job
        .argv
        .iter()
        .map(|a| map_mounts(&kube_expand(a, &vars), mounts))
        .collect();
    let env = vars
        .into_iter()
        .map(|(k, v)| (k, map_mounts(&v, mounts)))
        .collect();
    (env, argv)
}

/// Runs every pod in order; `Ok(false)` once one fails.
fn pods(
    root: &Path,
    work: &Path,
    jobs: &[Job],
    path: &str,
    outcomes: &mut Vec<Outcome>,
) -> Result<bool, String> {
    let mut claims = BTreeMap::new();
    let mut shown = Vec::new();
    for job in jobs {
        for i in 0..job.completions {
            let index = job.indexed.then_some(i);
            let (pod, name) = match index {
                Some(i) => (
                    format!("{}-{i}", job.name),
                    format!("{} index {i}", job.at()),
                ),
                None if job.completions > 1 => {
                    (format!("{}-{i}", job.name), format!("{} pod {i}", job.at()))
                }
                None => (job.name.clone(), job.at()),
            };
            let mounts = pod_mounts(job, &pod, work, &mut claims)?;
            for (m, d) in &mounts {
                let seen = (job.name.clone(), m.clone(), d.clone());
                if !shown.contains(&seen) {
                    eprintln!("xtask ci-local: {}: volume mount {m} → {d}", job.at());
                    shown.push(seen);
                }
            }
            let (mut env, argv) = pod_command(job, index, &mounts);
            env.insert("PATH".into(), path.into());
            eprintln!(
                "\nxtask ci-local: {name}{}",
                index.map_or(String::new(), |i| format!(" (JOB_COMPLETION_INDEX={i})"))
            );
            let mut cmd = Command::new(&argv[0]);
            cmd.args(&argv[1..]).current_dir(root).envs(&env);
            let (code, took) = status(cmd);
            outcomes.push(Outcome {
                name,
                result: Ok(code),
                took,
            });
            if code != Some(0) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Whether each merge Job's `--out` is a directory holding report.json: the check's name
/// and result.
fn check_merged(root: &Path, work: &Path, jobs: &[Job], path: &str) -> (String, bool) {
    let mut claims = BTreeMap::new();
    let mut found = Vec::new();
    for job in jobs.iter().filter(|j| j.merges()) {
        // The same directories the pods had (claims are named by claim, so they match).
        let mounts = pod_mounts(job, &job.name, work, &mut claims).unwrap_or_default();
        let (mut env, argv) = pod_command(job, None, &mounts);
        env.insert("PATH".into(), path.into());
        let out = merge_out(&Job::script(&argv), &env);
        found.push((job.at(), out));
    }
    let mut ok = true;
    let mut names = Vec::new();
    for (at, out) in found {
        match out.filter(|o| !o.contains('$')) {
            Some(o) => {
                let dir = root.join(&o);
                let report = dir.join("report.json");
                names.push(template::rel(root, &report));
                if !report.is_file() {
                    ok = false;
                    eprintln!(
                        "\nxtask ci-local: {at}: {} {}",
                        report.display(),
                        if dir.is_dir() {
                            "is missing"
                        } else {
                            "is missing: the --out directory was not made"
                        }
                    );
                } else {
                    eprintln!("\nxtask ci-local: {at}: merged run in {}", dir.display());
                }
            }
            None => {
                ok = false;
                names.push("--out".into());
                eprintln!("\nxtask ci-local: {at}: cannot tell the --out of its `assay merge`");
            }
        }
    }
    (format!("check {}", names.join(", ")), ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_mount_path_is_replaced_only_where_it_is_a_path() {
        let m = mounts(&[("/runs", "/tmp/v")]);
        let cases = [
            (
                "--out \"/runs/$RUN_ID/shard-0\"",
                "--out \"/tmp/v/$RUN_ID/shard-0\"",
            ),
            (
                "set -- \"/runs/$RUN_ID\"/shard-*",
                "set -- \"/tmp/v/$RUN_ID\"/shard-*",
            ),
            ("ls /runs", "ls /tmp/v"),
            ("ls /runs\necho", "ls /tmp/v\necho"),
            ("cd '/runs'", "cd '/tmp/v'"),
            ("a=/runs/ b", "a=/tmp/v/ b"),
            ("under /runs/$RUN_ID, found", "under /tmp/v/$RUN_ID, found"),
            ("/runs", "/tmp/v"),
            // Not that path: a longer name, a path ending in runs, a variable's subdirectory.
            ("ls /runsx /runs.d /runs-1", "ls /runsx /runs.d /runs-1"),
            (
                "ls /data/runs/x $HOME/runs ${D}/runs ./runs",
                "ls /data/runs/x $HOME/runs ${D}/runs ./runs",
            ),
            (
                "cat /runs; ls /runs|wc; (cd /runs)",
                "cat /tmp/v; ls /tmp/v|wc; (cd /tmp/v)",
            ),
            // Followed by none of `/`, a quote, whitespace, an operator or the end.
            ("x=/runs:/y /runs=1 /runs*", "x=/runs:/y /runs=1 /runs*"),
        ];
        for (text, want) in cases {
            assert_eq!(map_mounts(text, &m), want, "{text}");
        }
    }

    #[test]
    fn the_longest_mount_wins_and_replacements_are_not_rescanned() {
        let m = mounts(&[("/runs", "/w/runs"), ("/runs/cache", "/w/cache")]);
        assert_eq!(
            map_mounts("a /runs/cache/x /runs/c \"/runs\"", &m),
            "a /w/cache/x /w/runs/c \"/w/runs\""
        );
        // The directory put in for /runs ends in /runs itself.
        let m = mounts(&[("/runs", "/t/runs"), ("/t", "/never")]);
        assert_eq!(map_mounts("/runs/x /t", &m), "/t/runs/x /never");
        assert_eq!(
            map_mounts("é /runs é", &mounts(&[("/runs", "/d")])),
            "é /d é"
        );
    }

    #[test]
    fn kubernetes_expands_its_own_references_and_leaves_the_shells() {
        let vars: BTreeMap<String, String> = [("RUN_ID".to_string(), "k8s-1".to_string())].into();
        assert_eq!(kube_expand("--run-id $(RUN_ID)", &vars), "--run-id k8s-1");
        assert_eq!(kube_expand("$$(RUN_ID) $$ a$", &vars), "$(RUN_ID) $ a$");
        assert_eq!(
            kube_expand("\"$RUN_ID\" ${RUN_ID} $(date +%s) \"$@\" $(", &vars),
            "\"$RUN_ID\" ${RUN_ID} $(date +%s) \"$@\" $("
        );
    }

    #[test]
    fn variables_are_expanded_in_order_and_mapped_like_the_command() {
        let yaml = "kind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      \
                    containers:\n        - env:\n            - {name: RUN_ID, value: r1}\n            \
                    - {name: OUT, value: /data/$(RUN_ID)}\n            - {name: EARLY, value: $(LATER)}\n            \
                    - {name: LATER, value: x}\n          args: [merge, a, --out, $(OUT)]\n          \
                    volumeMounts: [{name: d, mountPath: /data/}]\n      \
                    volumes: [{name: d, emptyDir: {}}]\n";
        let docs = yaml_rust2::YamlLoader::load_from_str(yaml).expect("yaml");
        let jobs = jobs(&docs, "t.yaml").expect("a job");
        let job = &jobs[0];
        assert_eq!(job.completions, 1);
        assert_eq!(job.mounts[0].path, "/data");
        assert_eq!(job.volumes["d"], Backing::EmptyDir);
        let (env, argv) = pod_command(job, None, &mounts(&[("/data", "/w/d")]));
        assert_eq!(env["OUT"], "/w/d/r1");
        assert_eq!(env["EARLY"], "$(LATER)", "only variables defined before it");
        // No `command`: the image's entrypoint, assay.
        assert_eq!(argv, ["assay", "merge", "a", "--out", "/w/d/r1"]);
        assert_eq!(
            merge_out(&Job::script(&argv), &env).as_deref(),
            Some("/w/d/r1")
        );
    }

    #[test]
    fn the_repository_manifests_read_as_an_indexed_job_and_a_merge() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut jobs = load(&root, &root.join(DEFAULT_DIR)).expect("manifests load");
        jobs.sort_by_key(|j| !j.indexed);
        let [shards, merge] = jobs.as_slice() else {
            panic!("{jobs:#?}");
        };
        assert!(shards.indexed && !merge.indexed);
        assert_eq!(shards.completions, 4);
        assert_eq!(&shards.argv[..2], ["sh", "-c"]);
        assert!(merge.merges() && !shards.merges());
        let runs = Mount {
            path: "/runs".into(),
            volume: "runs".into(),
            sub_path: None,
        };
        assert_eq!(shards.mounts, [runs]);
        assert_eq!(
            shards.volumes.get("runs"),
            Some(&Backing::Claim("assay-runs".into()))
        );
        let m = mounts(&[("/runs", "/tmp/v")]);
        let (env, argv) = pod_command(shards, Some(2), &m);
        assert_eq!(env["JOB_COMPLETION_INDEX"], "2");
        assert!(
            argv[2].contains("--out \"/tmp/v/$RUN_ID/shard-$JOB_COMPLETION_INDEX\""),
            "{}",
            argv[2]
        );
        let (env, argv) = pod_command(merge, None, &m);
        assert_eq!(env["RUN_ID"], "k8s-1");
        assert_eq!(
            merge_out(&Job::script(&argv), &env).as_deref(),
            Some("/tmp/v/k8s-1/merged")
        );
    }
}
