//! The targets file and the real-endpoint guard.
//!
//! - A target under `.invalid` (never resolvable: a broken guard would still send
//!   nothing) is refused with exit 2 before any connection or name lookup, as `strace`
//!   shows: no inet socket is connected and no resolver file is read.
//!
//! That a loopback targets-file target runs like a stand-in, with every credential slot's
//! secret in no file the run wrote and nothing it printed, is `secrets.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{assay, root};

const REAL: &str = r#"
[targets.aurora]
family = "postgres"
url = "postgres://bench@db.assay-test.invalid:5432/bench?sslmode=require"
password_env = "ASSAY_TEST_AURORA_PASSWORD"
"#;

fn strace() -> PathBuf {
    ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("strace is needed to watch for connections; install it with `cargo xtask emulators install strace`")
}

/// Runs assay under strace; returns (exit code, stderr, the syscall trace).
fn traced(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let trace = dir.join("trace.txt");
    let out = Command::new(strace())
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg,openat,open",
            "-o",
        ])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_assay"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("ASSAY_TEST_AURORA_PASSWORD", "canary-aurora-7f3a")
        .stdin(Stdio::null())
        .output()
        .expect("strace runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        std::fs::read_to_string(&trace).unwrap_or_default(),
    )
}

fn assert_nothing_sent(trace: &str) {
    assert!(
        trace.contains("targets.toml"),
        "the trace must show the targets file being read (strace saw nothing?):\n{trace}"
    );
    for line in trace.lines() {
        assert!(
            !(line.contains("connect(") && (line.contains("AF_INET") || line.contains("AF_INET6"))),
            "an inet connection was attempted: {line}"
        );
        for resolver in [
            "/etc/resolv.conf",
            "/etc/hosts",
            "/etc/nsswitch.conf",
            "/etc/gai.conf",
        ] {
            assert!(
                !line.contains(resolver),
                "a name lookup was started: {line}"
            );
        }
    }
}

#[test]
fn a_real_endpoint_is_refused_before_any_connection_or_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.toml");
    std::fs::write(&file, REAL).unwrap();
    let f = file.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--targets",
            f,
            "scenarios/smoke.toml",
            "--target",
            "aurora",
        ];
        args.extend_from_slice(extra);
        traced(dir.path(), &args)
    };

    let (code, stderr, trace) = run(&[]);
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].contains("`aurora`")
            && lines[0].contains("db.assay-test.invalid")
            && lines[0].contains("--allow-real"),
        "{stderr}"
    );
    assert_nothing_sent(&trace);

    // Allowed, but with no terminal to confirm on and no --yes: still refused, still
    // before anything is sent — and the plan was shown.
    let (code, stderr, trace) = run(&["--allow-real"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no terminal to confirm on") && stderr.contains("--yes"),
        "{stderr}"
    );
    assert!(
        stderr.contains("smoke") && stderr.contains("op counts"),
        "the plan: {stderr}"
    );
    assert_nothing_sent(&trace);
    assert!(!stderr.contains("canary-aurora-7f3a"), "{stderr}");

    // `assay targets` lists it as real, with where its password comes from.
    let out = Command::new(env!("CARGO_BIN_EXE_assay"))
        .args(["targets", "--targets", f])
        .current_dir(root())
        .env("ASSAY_TEST_AURORA_PASSWORD", "canary-aurora-7f3a")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    let row = listing
        .lines()
        .find(|l| l.starts_with("aurora"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(
        row.contains("real") && row.contains("password from $ASSAY_TEST_AURORA_PASSWORD (set)"),
        "{row}"
    );
    assert!(!listing.contains("canary-aurora-7f3a"), "{listing}");
}

#[test]
fn a_malformed_targets_file_is_located_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("targets.toml");
    std::fs::write(
        &file,
        "[targets.x]\nfamily = \"postgres\"\nurl = \"postgres://u:pw@h/db\"\n",
    )
    .unwrap();
    let (code, _, stderr) = assay(&[
        "run",
        "--targets",
        file.to_str().unwrap(),
        "scenarios/smoke.toml",
        "--target",
        "x",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("targets.toml:3:7: ") && stderr.contains("password_env"),
        "{stderr}"
    );
}
