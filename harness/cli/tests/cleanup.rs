//! `assay cleanup` after `assay run` was killed with SIGKILL (so its teardown never ran):
//! on every family's stand-in, kept up outside the run so it survives the kill — `assay
//! emulators up` for those it can keep up, and for Cosmos DB (whose adapter lives inside
//! the process that starts it) one this test holds, named in a targets file — the dry run
//! lists the run's leftover, `--older-than 1h` leaves the fresh leftover alone,
//! `--older-than 0s` removes it, and a second dry run finds nothing. Also: bad input and a
//! real endpoint without `--allow-real` are one-line errors with exit 2.
//!
//! `assay emulators up/down` run in a workspace root of the test's own (`ASSAY_ROOT`), so
//! they see and stop only the stand-ins this test started.

mod common;

use assay_core::{Endpoint, LocalBackend};
use assay_emulators::{Emulator, StartOptions};
use common::{output_within, root, Output as Out};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Would run for ten minutes; the test kills it once its table exists.
const LONG_RUN: &str = r#"format = 1
name = "left-behind"
kind = "throughput"
[[setup.tables]]
name = "kv"
[workload]
clients = 2
duration = "600s"
history = false
keys = { prefix = "k", count = 100 }
mix = { read = 0.9, write = 0.1 }
"#;

/// Upper bound on one `assay` command (a cleanup may start nothing but must connect).
const COMMAND_LIMIT: Duration = Duration::from_secs(180);
/// Upper bound on waiting for the killed run's table to appear.
const SETUP_LIMIT: Duration = Duration::from_secs(120);

/// One family at a time: each test keeps a stand-in up, and the machine may be small.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A workspace root of the test's own: its `target/assay` (the `assay emulators up` state
/// file) with the checkout's `emulators/` (npm and PyPI pins, node_modules) and moto venv
/// linked in. Dropping it stops whatever `assay emulators up` started in it.
struct Sandbox {
    dir: tempfile::TempDir,
    /// Passed to every command (e.g. the variable a targets file names).
    env: Vec<(String, String)>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let real = root().canonicalize().unwrap();
        std::os::unix::fs::symlink(real.join("emulators"), dir.path().join("emulators")).unwrap();
        std::fs::create_dir_all(dir.path().join("target/assay")).unwrap();
        let venv = real.join("target/assay/venv");
        if venv.is_dir() {
            std::os::unix::fs::symlink(venv, dir.path().join("target/assay/venv")).unwrap();
        }
        Sandbox {
            dir,
            env: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_assay"));
        c.current_dir(root())
            .env("ASSAY_ROOT", self.path())
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(args);
        c
    }

    fn assay(&self, args: &[&str]) -> Out {
        output_within(self.command(args), COMMAND_LIMIT)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let out = self.assay(&["emulators", "down"]);
        eprintln!("emulators down: {}{}", out.stdout, out.stderr);
    }
}

/// Kills the run if the test ends before it did.
struct RunGuard(Child);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `--targets FILE`, when the target comes from one.
fn with_file<'a>(args: &[&'a str], file: Option<&'a str>) -> Vec<&'a str> {
    let mut all = args.to_vec();
    if let Some(f) = file {
        all.extend(["--targets", f]);
    }
    all
}

/// The rows of a cleanup listing that name `namespace`.
fn rows<'a>(out: &'a Out, namespace: &str) -> Vec<&'a str> {
    out.stdout
        .lines()
        .filter(|l| l.contains(namespace))
        .collect()
}

/// Why `--older-than 1h` keeps a fresh leftover: its age, or (Spanner keeps no creation
/// time) that its age is unknown.
const YOUNGER: &str = "kept: younger than 1h";
const UNKNOWN_AGE: &str = "kept: age unknown";

/// A run killed after setup leaves its namespace; cleanup finds it, spares it while it is
/// young (`kept_because`), and removes it when asked for any age.
fn killed_run_is_cleaned_up(
    sandbox: &Sandbox,
    target: &str,
    run_id: &str,
    file: Option<&str>,
    kept_because: &str,
) {
    let namespace = format!("assay_{run_id}_0_0");
    let scenario = sandbox.path().join("left-behind.toml");
    std::fs::write(&scenario, LONG_RUN).unwrap();
    let out_dir = sandbox.path().join(format!("run-{run_id}"));
    let run_log = sandbox.path().join(format!("run-{run_id}.stderr"));
    let mut run = sandbox.command(&with_file(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--target",
            target,
            "--run-id",
            run_id,
            "--out",
            out_dir.to_str().unwrap(),
        ],
        file,
    ));
    run.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&run_log).unwrap());
    let mut guard = RunGuard(run.spawn().expect("assay run starts"));

    let dry_run = with_file(
        &[
            "cleanup",
            "--target",
            target,
            "--older-than",
            "0s",
            "--dry-run",
        ],
        file,
    );
    let started = Instant::now();
    let listed = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            panic!(
                "the run ended ({status}) before the test killed it:\n{}",
                std::fs::read_to_string(&run_log).unwrap_or_default()
            );
        }
        let out = sandbox.assay(&dry_run);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        if !rows(&out, &namespace).is_empty() {
            break out;
        }
        assert!(
            started.elapsed() < SETUP_LIMIT,
            "{namespace} did not appear within {SETUP_LIMIT:?}; run:\n{}\nlast listing:\n{}",
            std::fs::read_to_string(&run_log).unwrap_or_default(),
            out.stdout
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "{target}: the run's leftover appeared after {:.1?}",
        started.elapsed()
    );
    // SIGKILL: no teardown, no Ctrl-C handler.
    guard.0.kill().unwrap();
    let status = guard.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    // Whatever the listing showed before the kill is still there after it.
    let before = rows(&listed, &namespace).len();

    let out = sandbox.assay(&dry_run);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    eprintln!("{target}, after the kill:\n{}", out.stdout);
    let found = rows(&out, &namespace);
    assert!(found.len() >= before, "{}", out.stdout);
    assert!(
        found
            .iter()
            .all(|r| r.starts_with(target) && r.ends_with("would remove (dry run)")),
        "{}",
        out.stdout
    );

    // The default age, 1h: a fresh leftover stays (younger, or of unknown age).
    let out = sandbox.assay(&with_file(&["cleanup", "--target", target], file));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let kept = rows(&out, &namespace);
    assert!(
        !kept.is_empty() && kept.iter().all(|r| r.contains(kept_because)),
        "{}",
        out.stdout
    );
    let out = sandbox.assay(&dry_run);
    assert_eq!(rows(&out, &namespace).len(), found.len(), "{}", out.stdout);

    let out = sandbox.assay(&with_file(
        &["cleanup", "--target", target, "--older-than", "0s"],
        file,
    ));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let removed = rows(&out, &namespace);
    assert!(
        removed.len() == found.len() && removed.iter().all(|r| r.ends_with("removed")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "{} found: {} removed",
            removed.len(),
            removed.len()
        )),
        "{}",
        out.stdout
    );

    let out = sandbox.assay(&dry_run);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(rows(&out, &namespace).is_empty(), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("{target}: nothing left behind by earlier runs")),
        "{}",
        out.stdout
    );
}

/// `assay emulators up NAME` in the sandbox, then the killed-run check on it.
fn kept_up_stand_in(backend: LocalBackend, run_id: &str, kept_because: &str) {
    let _one_at_a_time = SERIAL.blocking_lock();
    if !assay_emulators::testing::backend_available(backend, &root()) {
        return;
    }
    let sandbox = Sandbox::new();
    let up = sandbox.assay(&["emulators", "up", backend.name()]);
    assert_eq!(up.code, 0, "{}{}", up.stdout, up.stderr);
    assert!(up.stdout.contains(" up at "), "{}", up.stdout);
    killed_run_is_cleaned_up(&sandbox, backend.name(), run_id, None, kept_because);
    let down = sandbox.assay(&["emulators", "down"]);
    assert_eq!(down.code, 0, "{}{}", down.stdout, down.stderr);
    assert!(
        down.stdout.contains(&format!("{} ", backend.name())) && down.stdout.contains("stopped"),
        "{}",
        down.stdout
    );
}

#[test]
fn postgres_leftovers_of_a_killed_run_are_cleaned_up() {
    kept_up_stand_in(LocalBackend::Postgres, "clpg01", YOUNGER);
}

#[test]
fn mysql_leftovers_of_a_killed_run_are_cleaned_up() {
    kept_up_stand_in(LocalBackend::Mysql, "clmy01", YOUNGER);
}

#[test]
fn dynamodb_leftovers_of_a_killed_run_are_cleaned_up() {
    kept_up_stand_in(LocalBackend::DynamodbMoto, "cldd01", YOUNGER);
}

#[test]
fn spanner_leftovers_of_a_killed_run_are_cleaned_up() {
    kept_up_stand_in(LocalBackend::SpannerEmulator, "clsp01", UNKNOWN_AGE);
}

/// The Cosmos DB stand-in cannot be kept up by `assay emulators up` (its adapter runs in
/// the process that starts it), so this test holds it and names it in a targets file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosmos_leftovers_of_a_killed_run_are_cleaned_up() {
    let _one_at_a_time = SERIAL.lock().await;
    let backend = LocalBackend::CosmosLocal;
    if !assay_emulators::testing::backend_available(backend, &root()) {
        return;
    }
    let emu = Emulator::start(backend, &StartOptions::for_tests())
        .await
        .expect("the Cosmos DB stand-in starts");
    let Endpoint::Cosmos { url, key, .. } = emu.endpoint().clone() else {
        unreachable!("a cosmos endpoint")
    };
    let mut sandbox = Sandbox::new();
    sandbox
        .env
        .push(("ASSAY_TEST_COSMOS_KEY".into(), key.expose().to_string()));
    let file: PathBuf = sandbox.path().join("targets.toml");
    std::fs::write(
        &file,
        format!(
            "[targets.cosmos-kept]\nfamily = \"cosmos\"\nurl = \"{url}\"\nkey_env = \"ASSAY_TEST_COSMOS_KEY\"\n"
        ),
    )
    .unwrap();
    let checked = tokio::task::spawn_blocking(move || {
        let f = file.to_str().unwrap().to_string();
        killed_run_is_cleaned_up(&sandbox, "cosmos-kept", "clcs01", Some(&f), YOUNGER);
    })
    .await;
    emu.stop().await;
    if let Err(e) = checked {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[test]
fn bad_input_and_a_real_target_without_allow_real_exit_2_with_one_line() {
    let sandbox = Sandbox::new();
    for (args, needle) in [
        (
            vec!["cleanup", "--target", "postgres", "--older-than", "soon"],
            "--older-than `soon` is not a duration",
        ),
        (
            vec!["cleanup", "--target", "no-such-target"],
            "unknown target `no-such-target`",
        ),
    ] {
        let out = sandbox.assay(&args);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains(needle), "{}", out.stderr);
    }
    let file = sandbox.path().join("targets.toml");
    std::fs::write(
        &file,
        "[targets.aurora]\nfamily = \"postgres\"\nurl = \"postgres://bench@db.assay-test.invalid:5432/bench\"\n",
    )
    .unwrap();
    let out = sandbox.assay(&[
        "cleanup",
        "--targets",
        file.to_str().unwrap(),
        "--target",
        "aurora",
    ]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("`aurora` is a real endpoint") && out.stderr.contains("--allow-real"),
        "{}",
        out.stderr
    );
}
