//! Developer and runner front door: `cargo xtask run|test|tidy|bench|emulators|ci-check|ci-local`.
//!
//! Plain Rust instead of shell scripts, so the same steps run on every machine and in CI.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod ci;
mod tidy;

const LOCAL_TARGETS: &str =
    "postgres,spanner-emulator,dynamodb-moto,dynamodb-dynalite,cosmos-local";
/// The throughput suite's default: PostgreSQL and one DynamoDB stand-in (dynalite, which
/// has no transactions, so the TPC-B-like scenario shows up as unsupported there).
const THROUGHPUT_TARGETS: &str = "postgres,dynamodb-dynalite";

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  run [--suite default|throughput|consistency|isolation|failover] [--release] [--target LIST]
        build Assay, start every local backend, run the suite, write the report,
        print its path, stop everything (throughput: YCSB A–F, TPC-B-like, open loop;
        default targets postgres,dynamodb-dynalite)
  bench [--quick] [--scale N] [--clients N] [--duration SECS] [--pairs N]
        [--skip-pgbench | --only-pgbench] [--skip-dynamodb]
        release-build and run the engine benchmark: null-driver throughput, open-loop
        schedule accuracy at 50k ops/s, Assay vs pgbench on a local PostgreSQL in
        interleaved pairs (load phase vs pgbench -i, TPC-B-like, select-only: median
        ratio with min-max), the DynamoDB stand-ins' load batched vs per row
        (criterion benches of the hot paths: cargo bench -p assay-engine)
  test  tidy, then the whole test suite (unit + integration tests against every
        local backend) and validation of every file under scenarios/
  tidy [ROOT]
        check the crate graph ARCHITECTURE.md states, import cycles between modules
        of a crate, and source files over 800 lines outside #[cfg(test)]
  emulators up|down|status [NAMES]
        start / stop / list local backends that stay up between commands
  emulators install mysql|chromium
        install MariaDB (apt-get, as root) for the mysql target and its driver tests,
        or headless Chromium for the browser test of the HTML report
  ci-check
        check the CI templates under ci/: every YAML file parses and has the structure
        its CI system needs; every assay subcommand, flag and --target they name is
        accepted by the built assay; every cargo xtask command, crate and path exists
  ci-local github|gitlab [FILE] [--job NAME]
        run a CI template's steps here, in order, with bash, in the working tree
        (default ci/github/assay.yml or ci/gitlab/assay.gitlab-ci.yml); GitHub-only
        actions (checkout, cache, upload-artifact) are skipped with the reason
  ci-local kubernetes [DIR]
        run the Jobs of the manifests in DIR (default ci/kubernetes) here: the
        Indexed Job's container once per index, one after another, then the merge,
        each volume mountPath a fresh directory under target/ci-local/kubernetes,
        target/debug/assay first on PATH; checks the merged report.json";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a command, echoing it first; returns its exit code (2 if it could not start).
fn run(mut cmd: Command) -> u8 {
    eprintln!("xtask: $ {}", describe(&cmd));
    match cmd.status() {
        Ok(s) => s.code().map_or(2, |c| c.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("xtask: error: cannot run {}: {e}", describe(&cmd));
            2
        }
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the `assay` binary and returns its path.
fn build_assay(release: bool) -> Result<PathBuf, u8> {
    let mut c = cargo();
    c.args(["build", "--package", "assay-cli", "--bin", "assay"]);
    if release {
        c.arg("--release");
    }
    match run(c) {
        0 => Ok(root()
            .join("target")
            .join(if release { "release" } else { "debug" })
            .join("assay")),
        code => Err(code),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("run") => cmd_run(&args[1..]),
        Some("test") => cmd_test(&args[1..]),
        Some("tidy") => tidy::run(&args.get(1).map_or_else(root, PathBuf::from)),
        Some("bench") => cmd_bench(&args[1..]),
        Some("emulators") => match build_assay(false) {
            Ok(assay) => {
                let mut c = Command::new(assay);
                c.current_dir(root()).arg("emulators").args(&args[1..]);
                run(c)
            }
            Err(code) => code,
        },
        Some("ci-check") => match build_assay(false) {
            Ok(assay) => ci::run_check(&root(), &assay, USAGE),
            Err(code) => code,
        },
        Some("ci-local") => ci::local::run(&root(), &args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            0
        }
        other => {
            eprintln!(
                "xtask: error: unknown command {}; see below\n\n{USAGE}",
                other.map_or("(none)".to_string(), |o| format!("`{o}`"))
            );
            2
        }
    };
    ExitCode::from(code)
}

fn cmd_run(args: &[String]) -> u8 {
    let mut suite = "default".to_string();
    let mut release = false;
    let mut targets: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--suite" => suite = it.next().cloned().unwrap_or_default(),
            "--release" => release = true,
            "--target" => targets = it.next().cloned(),
            other => {
                eprintln!(
                    "xtask: error: unknown option `{other}` for run; see `cargo xtask --help`"
                );
                return 2;
            }
        }
    }
    let (scenarios, default_targets): (Vec<&str>, &str) = match suite.as_str() {
        "default" => (vec!["scenarios/smoke.toml"], LOCAL_TARGETS),
        "throughput" => (vec!["scenarios/throughput"], THROUGHPUT_TARGETS),
        // Targets whose transactions can mix reads and appends; the checkers judge them.
        "consistency" => (vec!["scenarios/consistency"], "postgres,spanner-emulator"),
        // Hermitage's tests on both SQL families, one side-by-side matrix.
        "isolation" => (vec!["scenarios/conformance/isolation"], "postgres,mysql"),
        // Failover on a primary + replica, and a restarted in-memory stand-in.
        "failover" => (
            vec!["scenarios/failover"],
            "postgres-replica,dynamodb-dynalite",
        ),
        other => {
            eprintln!(
                "xtask: error: unknown suite `{other}`; use --suite default, throughput, consistency, isolation or failover"
            );
            return 2;
        }
    };
    let assay = match build_assay(release) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut c = Command::new(assay);
    c.current_dir(root())
        .arg("run")
        .args(&scenarios)
        .args(["--target", targets.as_deref().unwrap_or(default_targets)]);
    run(c)
}

fn cmd_bench(args: &[String]) -> u8 {
    // Only the engine and its example's PostgreSQL dependencies are built, in release:
    // the figures are meaningless from a debug build.
    let mut c = cargo();
    c.args([
        "run",
        "--release",
        "--package",
        "assay-engine",
        "--example",
        "bench",
        "--",
    ])
    .args(args);
    let engine = run(c);
    // The checkers' criterion benches (assay-check's benches/checkers.rs) print their
    // own times; a failure there fails the bench run too.
    let mut check = cargo();
    check.args(["bench", "--package", "assay-check", "--bench", "checkers"]);
    let checkers = run(check);
    engine.max(checkers)
}

/// Where a MySQL-compatible server binary may be (Debian keeps it in /usr/sbin, often off a
/// non-root PATH). Mirrors the emulators crate's search, which xtask does not depend on.
fn mysql_server_installed() -> bool {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let dirs = path_dirs
        .into_iter()
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/mysql/bin"].map(PathBuf::from));
    dirs.flat_map(|d| [d.join("mariadbd"), d.join("mysqld")])
        .any(|p| p.is_file())
}

/// Where headless Chromium may be (`ASSAY_CHROMIUM`, or Debian's and others' names on
/// PATH or in /usr/bin). Mirrors `assay_emulators::chromium::find`.
fn chromium_installed() -> bool {
    if let Some(p) = std::env::var_os("ASSAY_CHROMIUM") {
        return Path::new(&p).is_file();
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain([PathBuf::from("/usr/bin")])
        .flat_map(|d| ["chromium", "chromium-browser", "google-chrome"].map(|n| d.join(n)))
        .any(|p| p.is_file())
}

fn cmd_test(args: &[String]) -> u8 {
    // Tidy first: a broken boundary fails the suite before anything is built.
    let tidy = tidy::run(&root());
    if tidy != 0 {
        eprintln!("xtask: tidy failed; fix the lines above (`cargo xtask tidy`) and rerun");
        return tidy;
    }
    // Integration tests start their own backends through the emulators crate; the
    // validation pass proves every shipped scenario parses. The mysql driver's tests run
    // apart: MariaDB is not on every machine, and a missing server must read as "not run",
    // never as a failure or a pass.
    let mut c = cargo();
    c.args([
        "test",
        "--workspace",
        "--exclude",
        "assay-driver-mysql",
        "--no-fail-fast",
    ])
    .args(args);
    let mut tests = run(c);
    if mysql_server_installed() {
        let mut c = cargo();
        c.args(["test", "-p", "assay-driver-mysql", "--no-fail-fast"])
            .args(args);
        let mysql = run(c);
        if tests == 0 {
            tests = mysql;
        }
    } else {
        eprintln!(
            "xtask: mysql driver tests: NOT RUN — no MySQL-compatible server; install one with `cargo xtask emulators install mysql`"
        );
    }
    // The HTML report's browser test runs apart for the same reason (it is `#[ignore]`d
    // in the workspace run): without Chromium it reads "not run", and when it runs, a
    // missing or failing browser fails it.
    if chromium_installed() {
        let mut c = cargo();
        c.args(["test", "-p", "assay-cli", "--test", "browser"])
            .args(args)
            .args(["--", "--ignored"]);
        let browser = run(c);
        if tests == 0 {
            tests = browser;
        }
    } else {
        eprintln!(
            "xtask: browser test of the HTML report: NOT RUN — no Chromium; install it with `cargo xtask emulators install chromium`"
        );
    }
    let validate = match build_assay(false) {
        Ok(assay) => {
            let mut c = Command::new(assay);
            c.current_dir(root()).args(["validate", "scenarios"]);
            run(c)
        }
        Err(code) => code,
    };
    if tests != 0 {
        tests
    } else {
        validate
    }
}
