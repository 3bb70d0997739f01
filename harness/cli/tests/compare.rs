//! `assay compare` against real PostgreSQL runs: identical-config runs of one build show
//! no regression (five repeats on whatever else the machine is doing), and a fixed delay
//! added by the fault proxy — about 2× the p99 — is flagged with exit 1, both by
//! `assay compare` and inline by `assay run --baseline`.
//!
//! Apart from cli.rs so that its runs are not measured while that file's tests run in
//! parallel beside them.

use std::path::Path;

mod common;
use common::assay;

/// 8 closed-loop clients for 8 s through the fault proxy; `fault` is the one fault at 0 s
/// (`heal` puts the proxy in the path without slowing it, so both sides pay for the hop).
fn scenario(fault: &str) -> String {
    format!(
        r#"format = 1
name = "kv-through-proxy"
kind = "throughput"

[[setup.tables]]
name = "usertable"

[workload]
clients = 8
load = true
warmup = "1s"
duration = "8s"
history = false
keys = {{ prefix = "user", count = 500, digits = 8, distribution = "uniform" }}
mix = {{ read = 0.5, write = 0.5 }}
value_size = 100

[[faults]]
{fault}
at = "0s"
"#
    )
}

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "run",
        scenario.to_str().unwrap(),
        "--target",
        "postgres",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    assay(&args)
}

/// The verdict cell of the `all` row for `figure`.
fn verdict_of<'a>(table: &'a str, figure: &str) -> &'a str {
    table
        .lines()
        .find(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.get(2) == Some(&"all") && cells.get(3) == Some(&figure)
        })
        .unwrap_or_else(|| panic!("no `all {figure}` row in:\n{table}"))
}

#[test]
fn identical_runs_do_not_regress_and_a_fixed_delay_does() {
    let dir = tempfile::tempdir().unwrap();
    let base_toml = dir.path().join("base.toml");
    let slow_toml = dir.path().join("slow.toml");
    std::fs::write(&base_toml, scenario(r#"kind = "heal""#)).unwrap();
    std::fs::write(
        &slow_toml,
        scenario("kind = \"latency\"\nlatency = \"3ms\""),
    )
    .unwrap();
    let base = dir.path().join("base");
    let (code, _, stderr) = run(&base_toml, &base, &[]);
    assert_eq!(code, 0, "baseline run: {stderr}");

    for i in 1..=5 {
        let again = dir.path().join(format!("again-{i}"));
        let (code, _, stderr) = run(&base_toml, &again, &[]);
        assert_eq!(code, 0, "repeat {i}: {stderr}");
        let (code, table, stderr) =
            assay(&["compare", base.to_str().unwrap(), again.to_str().unwrap()]);
        eprintln!("repeat {i}:\n{table}");
        assert_eq!(
            code, 0,
            "repeat {i} of the same config regressed:\n{table}{stderr}"
        );
        for line in table.lines().skip(1) {
            assert!(
                !line.contains("regressed") && !line.contains("improved"),
                "repeat {i}: a change found between identical configs:\n{table}"
            );
        }
        assert!(table.contains("no regression"), "{table}");
    }

    // The delay, judged inline by `run --baseline` and again by `compare` with Markdown.
    let slow = dir.path().join("slow");
    let (code, stdout, stderr) = run(&slow_toml, &slow, &["--baseline", base.to_str().unwrap()]);
    assert_eq!(code, 1, "a 2× p99 must fail the run:\n{stdout}{stderr}");
    assert!(stdout.contains("REGRESSED"), "{stdout}");
    let md = dir.path().join("compare.md");
    let (code, table, _) = assay(&[
        "compare",
        base.to_str().unwrap(),
        slow.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    eprintln!("delayed:\n{table}");
    assert_eq!(code, 1, "{table}");
    for figure in ["throughput", "p50", "p99"] {
        assert!(
            verdict_of(&table, figure).ends_with("regressed"),
            "{figure} not flagged:\n{table}"
        );
    }
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("**Regressed.**") && md.contains("| postgres | kv-through-proxy | all | p99 |"),
        "{md}"
    );
}
