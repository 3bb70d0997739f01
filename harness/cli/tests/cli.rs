//! The `assay` binary as a user meets it: real backends, real processes, exit codes,
//! one-line errors, and nothing left running afterwards.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn assay() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_assay"));
    c.current_dir(root()).env("NO_COLOR", "1");
    c
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Output {
    let out = assay().args(args).output().expect("assay runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write_scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `assay run SCENARIOS --target TARGETS` into a fresh directory; asserts exit 0 and
/// returns the output, the parsed `report.json` and the directory (kept alive).
fn run_passing(scenarios: &str, targets: &str) -> (Output, serde_json::Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        scenarios,
        "--target",
        targets,
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let report = serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap())
        .expect("report.json parses");
    (out, report, dir)
}

const GOOD: &str = r#"format = 1
name = "tiny"
kind = "conformance"

[[setup.tables]]
name = "kv"

[[steps]]
name = "write"
op = "write"
keys = { prefix = "k", count = 20 }
value = "v{i}"
expect = { outcome = "ok" }
"#;

#[test]
fn malformed_scenarios_are_located_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad-toml.toml",
            GOOD.replace("name = \"kv\"", "name = \"kv"),
            6,
        ),
        (
            "unknown-field.toml",
            GOOD.replace("op = \"write\"", "op = \"write\"\ncolour = 1"),
            11,
        ),
        (
            "wrong-type.toml",
            GOOD.replace("count = 20", "count = \"twenty\""),
            11,
        ),
    ];
    for (name, text, line) in &cases {
        let path = write_scenario(dir.path(), name, text);
        let out = run(&["validate", path.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        let want = format!("{}:{line}:", path.display());
        assert!(
            out.stderr.contains(&want),
            "{name}: want {want} in {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
        // `run` refuses the same file before starting anything.
        let out = run(&["run", path.to_str().unwrap(), "--target", "postgres"]);
        assert_eq!(out.code, 2);
        assert!(out.stderr.contains(&want), "{}", out.stderr);
    }
}

#[test]
fn unknown_target_and_missing_file_are_one_line_errors() {
    let out = run(&["run", "scenarios/smoke.toml", "--target", "dynamo"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown target `dynamo`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("dynamodb-moto"),
        "lists the known ones: {}",
        out.stderr
    );
    let out = run(&["run", "scenarios/nope.toml", "--target", "postgres"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("scenarios/nope.toml: no such file"),
        "{}",
        out.stderr
    );
}

#[test]
fn shipped_scenarios_validate() {
    let out = run(&["validate", "scenarios"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("smoke.toml"));
}

#[test]
fn smoke_passes_on_every_local_target() {
    let (out, report, dir) = run_passing(
        "scenarios/smoke.toml",
        "postgres,spanner-emulator,dynamodb-moto,dynamodb-dynalite,cosmos-local",
    );
    for target in [
        "postgres",
        "spanner-emulator",
        "dynamodb-moto",
        "dynamodb-dynalite",
        "cosmos-local",
    ] {
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with(target))
            .unwrap_or_else(|| panic!("no row for {target}:\n{}", out.stdout));
        assert!(row.contains(" 4020 ") && row.ends_with("pass"), "{row}");
    }
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["targets"].as_array().unwrap().len(), 5);
    for f in [
        "summary.md",
        "junit.xml",
        "history.jsonl",
        "postgres.smoke.hlog",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).unwrap();
    assert_eq!(history.lines().count(), 5 * 2 * 4020);
}

#[test]
fn a_failing_threshold_exits_1_with_a_junit_failure() {
    let dir = tempfile::tempdir().unwrap();
    let text = GOOD.replace(
        "kind = \"conformance\"",
        "kind = \"conformance\"\nthresholds = [\"p99(write) < 1ns\"]",
    );
    let path = write_scenario(dir.path(), "strict.toml", &text);
    let out_dir = dir.path().join("run");
    let out = run(&[
        "run",
        path.to_str().unwrap(),
        "--target",
        "postgres",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("threshold p99(write) &lt; 1ns failed: observed"),
        "{junit}"
    );
}

// ---- process bookkeeping for the kill / interrupt tests ----

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Every live process below `root_pid`.
fn descendants(root_pid: u32) -> BTreeSet<u32> {
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut found = BTreeSet::new();
    for pid in all {
        let mut p = pid;
        for _ in 0..64 {
            match parent_of(p) {
                Some(pp) if pp == root_pid => {
                    found.insert(pid);
                    break;
                }
                Some(pp) if pp > 1 => p = pp,
                _ => break,
            }
        }
    }
    found
}

/// Watches the child's process tree until `ready(pids)` says so (bounded).
fn wait_for(
    child: &Child,
    seen: &mut BTreeSet<u32>,
    what: &str,
    ready: impl Fn(&BTreeSet<u32>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = descendants(child.id());
        seen.extend(&now);
        if ready(&now) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn finish(mut child: Child, seen: &mut BTreeSet<u32>) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        seen.extend(descendants(child.id()));
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("assay did not stop within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code().unwrap_or(-1), stderr)
}

fn assert_nothing_left(seen: &BTreeSet<u32>) {
    // Give killed processes a moment to be reaped by init.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<_> = seen.iter().copied().filter(|p| is_running(*p)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left running: {:?}",
            left.iter().map(|p| (p, cmdline(*p))).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A run that keeps issuing ops for a minute (bounded by time only), so a kill or a
/// Ctrl-C always lands mid-workload however fast the backend is.
const LONG_RUN: &str = r#"format = 1
name = "long-run"
kind = "throughput"
[[setup.tables]]
name = "kv"
[workload]
clients = 8
duration = "60s"
history = false
keys = { prefix = "k", count = 1000 }
mix = { read = 0.9, write = 0.1 }
"#;

fn spawn_throughput(target: &str, out: &Path) -> Child {
    let scenario = write_scenario(out, "long-run.toml", LONG_RUN);
    assay()
        .arg("run")
        .arg(scenario)
        .args(["--target", target, "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("assay starts")
}

/// SIGKILL of Assay itself runs none of its cleanup; the reaper it started still stops
/// every stand-in and removes their temp data directories.
#[test]
fn kill_9_of_assay_itself_leaves_no_process_and_no_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_throughput("postgres,dynamodb-dynalite", dir.path());
    let mut seen = BTreeSet::new();
    let find = |pids: &BTreeSet<u32>, needle: &str| {
        pids.iter().copied().find(|p| cmdline(*p).contains(needle))
    };
    wait_for(&child, &mut seen, "postgres and dynalite", |p| {
        find(p, "postgres -D").is_some() && find(p, "dynalite").is_some()
    });
    std::thread::sleep(Duration::from_secs(3));
    seen.extend(descendants(child.id()));
    let postgres = find(&seen, "postgres -D").expect("postgres is up");
    let data_dir = cmdline(postgres)
        .split(' ')
        .skip_while(|a| *a != "-D")
        .nth(1)
        .map(PathBuf::from)
        .expect("postgres -D <dir>");
    assert!(data_dir.exists(), "{}", data_dir.display());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_nothing_left(&seen);
    let deadline = Instant::now() + Duration::from_secs(10);
    while data_dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!data_dir.exists(), "{} left behind", data_dir.display());
}

#[test]
fn killing_the_backend_mid_run_gives_a_reason_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_throughput("dynamodb-moto", dir.path());
    let mut seen = BTreeSet::new();
    let moto = |pids: &BTreeSet<u32>| {
        pids.iter()
            .copied()
            .find(|p| cmdline(*p).contains("moto_server"))
    };
    wait_for(&child, &mut seen, "moto_server", |p| moto(p).is_some());
    // Let setup and some load happen first: the kill must land mid-run.
    std::thread::sleep(Duration::from_secs(4));
    let pid = moto(&descendants(child.id())).expect("moto still up");
    // SAFETY: plain kill(2) on a pid we just read from /proc.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let (code, stderr) = finish(child, &mut seen);
    assert!(code == 1 || code == 2, "exit {code}: {stderr}");
    let reason = stderr
        .lines()
        .find(|l| l.starts_with("assay: error:") && l.contains("killed by signal 9"))
        .unwrap_or_else(|| panic!("no one-line reason in:\n{stderr}"));
    assert!(reason.contains("moto_server"), "{reason}");
    assert_nothing_left(&seen);
}

#[test]
fn ctrl_c_tears_down_writes_a_partial_report_and_stops_backends() {
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_throughput("postgres", dir.path());
    let mut seen = BTreeSet::new();
    wait_for(&child, &mut seen, "postgres", |p| {
        p.iter().any(|p| cmdline(*p).contains("postgres"))
    });
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let (code, stderr) = finish(child, &mut seen);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("run stopped early: interrupted (Ctrl-C)"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["aborted"], "interrupted (Ctrl-C)");
    assert_eq!(report["verdict"], "error");
    assert_nothing_left(&seen);
}

#[test]
fn check_prints_the_g2_cycle_and_exits_1() {
    let out = run(&[
        "check",
        "harness/check/tests/fixtures/g2.jsonl",
        "--model",
        "serializable",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("INVALID — G2"), "{}", out.stdout);
    assert!(
        out.stdout.contains("T1 < rw < T2 < rw < T1"),
        "{}",
        out.stdout
    );
    // The same history is fine under a model that allows write skew.
    let out = run(&[
        "check",
        "harness/check/tests/fixtures/g2.jsonl",
        "--model",
        "snapshot-isolation",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let out = run(&[
        "check",
        "harness/check/tests/fixtures/g2.jsonl",
        "--model",
        "acid",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--model"), "{}", out.stderr);
}

#[test]
fn check_reads_jepsen_edn_and_writes_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let edn_out = dir.path().join("out.edn");
    let out = run(&[
        "check",
        "harness/check/tests/fixtures/register-valid.edn",
        "--model",
        "linearizable",
        "--write-edn",
        edn_out.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let written = std::fs::read_to_string(&edn_out).unwrap();
    assert!(written.contains(":type :invoke"), "{written}");
    let out = run(&[
        "check",
        "harness/check/tests/fixtures/nonlinearizable.edn",
        "--model",
        "linearizable",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn consistency_scenarios_on_postgres_and_spanner() {
    let (_out, report, dir) = run_passing("scenarios/consistency", "postgres,spanner-emulator");
    for target in report["targets"].as_array().unwrap() {
        for s in target["scenarios"].as_array().unwrap() {
            if s["name"] == "replica-lag" {
                // Needs a replica: neither target has one, and each says so.
                assert_eq!(s["verdict"], "unsupported", "{s}");
                continue;
            }
            let verdicts = s["consistency"].as_array().unwrap();
            assert_eq!(verdicts.len(), 1, "{s}");
            assert_eq!(
                verdicts[0]["valid"], true,
                "{}: {}",
                target["name"], s["name"]
            );
            assert!(s["ops"].as_u64().unwrap() >= 1000, "{s}");
        }
    }
    // The READ COMMITTED history is not serializable on PostgreSQL: the checker names what
    // that level allows, with a cycle as evidence.
    let history = dir.path().join("history.jsonl");
    let out = run(&[
        "check",
        history.to_str().unwrap(),
        "--model",
        "serializable",
    ]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let rc = out
        .stdout
        .split("== ")
        .find(|s| s.starts_with("postgres / list-append-read-committed"))
        .expect("postgres read-committed section");
    assert!(rc.contains("serializable: INVALID"), "{rc}");
    assert!(rc.contains("G-single") || rc.contains("G2"), "{rc}");
    assert!(rc.contains(" < rw < "), "a cycle as evidence: {rc}");
}

#[test]
fn isolation_suite_prints_and_stores_the_matrix() {
    let (out, report, _dir) = run_passing("scenarios/conformance/isolation", "postgres");
    assert!(
        out.stdout
            .contains("anomaly    read_committed  repeatable_read  serializable"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("G2-item    occurs          occurs           prevented"),
        "{}",
        out.stdout
    );
    let s = &report["targets"][0]["scenarios"][0];
    assert_eq!(s["name"], "isolation");
    assert!(
        s["isolation_matrix"]["rows"].as_array().unwrap().len() >= 10,
        "{s}"
    );
}

/// The DynamoDB transaction conformance step on both stand-ins: moto cancels the
/// transaction with a reason per item, dynalite lacks transactions (unsupported, not
/// passed); the fidelity matrix says both, on the terminal and in fidelity.md.
#[test]
fn conformance_fidelity_matrix_on_two_dynamodb_stand_ins() {
    let (out, report, dir) = run_passing(
        "scenarios/conformance/dynamodb/08-transactions.toml",
        "dynamodb-moto,dynamodb-dynalite",
    );
    let row =
        "transaction with a failing condition check applies nothing  pass           unsupported";
    assert!(out.stdout.contains(row), "{}", out.stdout);
    let fidelity = std::fs::read_to_string(dir.path().join("fidelity.md")).unwrap();
    assert!(fidelity.contains("| pass | unsupported |"), "{fidelity}");
    let matrix = &report["fidelity"][0];
    assert_eq!(matrix["targets"][0], "dynamodb-moto");
    let moto = &matrix["rows"][0]["cells"][0];
    assert_eq!(moto["verdict"], "pass");
    // The cancelled transaction's reason per item is the evidence.
    let evidence = moto["evidence"].as_array().expect("per-item reasons");
    assert!(
        evidence
            .iter()
            .any(|e| e.as_str().unwrap().contains("ConditionalCheckFailed")),
        "{evidence:?}"
    );
    let dynalite = &report["targets"][1]["scenarios"][0];
    assert_eq!(dynalite["verdict"], "unsupported", "{dynalite}");
}

/// `.slt` files and the replica-lag probe as `sql.*` native steps: the lag histogram is in
/// the report; the target without a replica says why it cannot measure one.
#[test]
fn slt_and_replica_lag_run_as_native_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "scenarios/conformance/sql/slt.toml",
        "scenarios/consistency/replica-lag.toml",
        "--target",
        "postgres-replica",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert!(
        out.stdout.contains("replica_lag: 500 samples"),
        "{}",
        out.stdout
    );
    let scenarios = report["targets"][0]["scenarios"].as_array().unwrap();
    let slt = scenarios
        .iter()
        .find(|s| s["name"] == "sqllogictest")
        .unwrap();
    assert_eq!(slt["verdict"], "pass", "{slt}");
    assert_eq!(slt["native_steps"].as_array().unwrap().len(), 5);
    let lag = scenarios
        .iter()
        .find(|s| s["name"] == "replica-lag")
        .unwrap();
    let m = &lag["native_steps"][0]["measurements"][0];
    assert_eq!(m["name"], "replica_lag");
    assert_eq!(m["count"], 500);
    assert!(m["p99_us"].as_u64().unwrap() >= m["p50_us"].as_u64().unwrap());
}

/// Runs `scenario` on `targets` as a child process, watching every process it starts,
/// and returns its exit code, the parsed report and the directory; asserts that nothing
/// it started is left running afterwards.
fn run_fault_scenario(
    scenario: &str,
    targets: &str,
    extra: &[&str],
) -> (i32, serde_json::Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let child = assay()
        .args(["run", scenario, "--target", targets, "--out"])
        .arg(dir.path())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("assay starts");
    let mut seen = BTreeSet::new();
    let (code, stderr) = finish(child, &mut seen);
    assert!(!seen.is_empty(), "the run started its stand-ins");
    assert_nothing_left(&seen);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("report.json"))
            .unwrap_or_else(|e| panic!("no report ({e}); stderr:\n{stderr}")),
    )
    .unwrap();
    (code, report, dir)
}

#[test]
fn synchronous_failover_loses_no_acknowledged_write_and_reports_its_window() {
    let (code, report, _dir) = run_fault_scenario(
        "scenarios/failover/postgres-sync-failover.toml",
        "postgres-replica",
        &[],
    );
    let s = &report["targets"][0]["scenarios"][0];
    assert_eq!(code, 0, "{s:#}");
    assert_eq!(s["set_account"]["lost"].as_array().unwrap().len(), 0);
    assert!(s["set_account"]["ok"].as_u64().unwrap() > 100, "{s:#}");
    let longest = s["availability"]["longest_ms"].as_f64().unwrap();
    assert!(
        longest > 100.0,
        "killing the primary makes it unavailable: {longest}"
    );
    assert!(
        s["notes"].to_string().contains("replication is sync"),
        "{}",
        s["notes"]
    );
}

#[test]
fn asynchronous_failover_reports_its_window_and_counts_what_it_lost() {
    let (code, report, _dir) = run_fault_scenario(
        "scenarios/failover/postgres-async-failover.toml",
        "postgres-replica",
        &[],
    );
    let s = &report["targets"][0]["scenarios"][0];
    let lost = s["set_account"]["lost"].as_array().unwrap().len();
    // Asynchronous replication may lose acknowledged commits; when it does, the run
    // says so and fails.
    assert_eq!(code, if lost > 0 { 1 } else { 0 }, "{s:#}");
    assert!(s["availability"]["longest_ms"].as_f64().unwrap() > 100.0);
    assert!(!s["availability"]["windows"].as_array().unwrap().is_empty());
}

#[test]
fn a_partition_leaves_in_flight_ops_indeterminate_and_the_history_is_judged_with_them() {
    let (code, report, _dir) = run_fault_scenario(
        "scenarios/failover/postgres-partition.toml",
        "postgres",
        &["--op-timeout", "1s"],
    );
    let s = &report["targets"][0]["scenarios"][0];
    assert_eq!(code, 0, "{s:#}");
    assert!(
        s["availability"]["indeterminate"].as_u64().unwrap() > 0,
        "ops in flight across the partition end indeterminate: {s:#}"
    );
    let acc = &s["set_account"];
    assert!(
        acc["recovered"].as_u64().unwrap() + acc["maybe_missing"].as_u64().unwrap() > 0,
        "indeterminate appends are counted as maybe-applied: {acc:#}"
    );
    assert_eq!(s["consistency"][0]["valid"], true, "{:#}", s["consistency"]);
}

#[test]
fn restarting_an_in_memory_stand_in_reports_its_data_loss_as_the_emulators() {
    let (code, report, _dir) = run_fault_scenario(
        "scenarios/failover/stand-in-restart.toml",
        "dynamodb-dynalite",
        &[],
    );
    let s = &report["targets"][0]["scenarios"][0];
    assert_eq!(code, 1, "acknowledged writes are gone: {s:#}");
    assert!(
        !s["set_account"]["lost"].as_array().unwrap().is_empty(),
        "{s:#}"
    );
    assert!(
        s["notes"].to_string().contains("lost by the emulator"),
        "{}",
        s["notes"]
    );
}
