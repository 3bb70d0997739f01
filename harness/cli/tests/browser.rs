//! The HTML report in a real browser: a short YCSB run on two local targets, then
//! headless Chromium (the distribution's package, `cargo xtask emulators install
//! chromium`) loads the run's index.html from file:// — no console errors, a data point
//! in every plot, both targets side by side — and takes a screenshot into the target
//! directory.
//!
//! Ignored in the workspace run: `cargo xtask test` runs it apart when Chromium is
//! installed and prints NOT RUN otherwise (as for MariaDB). Run by hand with
//! `cargo test -p assay-cli --test browser -- --ignored`; without a browser it fails.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TARGETS: [&str; 2] = ["postgres", "dynamodb-dynalite"];
/// The whole run: both stand-ins started, loaded, 1 s warmup, 3 s measured, stopped.
const RUN_LIMIT: Duration = Duration::from_secs(240);
/// One Chromium call: start, load a local file, dump or paint, exit.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// YCSB workload A (50 % reads, 50 % updates, zipfian), cut short.
const YCSB: &str = r#"format = 1
name = "ycsb-a-short"
description = "YCSB A, short: 50% read / 50% update, zipfian, 200 records, 4 clients, 3 s after a 1 s warmup."
kind = "throughput"
thresholds = ["error_rate < 1%"]

[[setup.tables]]
name = "usertable"

[workload]
clients = 4
load = true
warmup = "1s"
duration = "3s"
history = false
keys = { prefix = "user", count = 200, digits = 8, distribution = "zipfian" }
mix = { read = 0.5, write = 0.5 }
value_size = 100
"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cargo target directory (`…/target`), from where cargo put the binary under test.
fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_assay"));
    bin.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("the assay binary sits in <target>/<profile>/")
}

struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` in its own process group with stdout and stderr in files under `logs`;
/// kills the whole group and fails the test when it takes longer than `limit`.
fn run_bounded(mut cmd: Command, limit: Duration, name: &str, logs: &Path) -> Finished {
    let (out_path, err_path) = (
        logs.join(format!("{name}.stdout")),
        logs.join(format!("{name}.stderr")),
    );
    let child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .process_group(0)
        .spawn();
    let mut child = child.unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // SAFETY: kill has no preconditions; the group is the child's own.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let finished = Finished {
        code: status.and_then(|s| s.code()),
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    assert!(
        status.is_some(),
        "{name} did not finish within {limit:?} and was killed\nstderr:\n{}",
        finished.stderr
    );
    finished
}

fn chromium() -> PathBuf {
    assay_emulators::chromium::find().unwrap_or_else(|| {
        panic!(
            "the browser test needs headless Chromium: {}",
            assay_emulators::chromium::INSTALL_HINT
        )
    })
}

/// Chromium on `page` with `extra` flags; console messages go to stderr.
fn browse(page: &Path, extra: &[String], name: &str, logs: &Path) -> Finished {
    let profile = logs.join(format!("{name}.profile"));
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()));
    run_bounded(cmd, BROWSER_LIMIT, name, logs)
}

/// The console messages in Chromium's log. Debian's Chromium 148 prints every one of
/// them — `console.log`, `warn` and `error` alike — as
/// `[pid:tid:time:INFO:CONSOLE:1] "message", source: file:///… (1)`, without the level;
/// the page has no script, so any console message at all (a refused load, a CSP
/// violation, a parse error) counts.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("CONSOLE")).collect()
}

/// Each plot of the dumped DOM: its `data-plot` and the sum of its series' `data-points`.
fn plots(dom: &str) -> Vec<(String, usize)> {
    dom.split("<svg class=\"plot\"")
        .skip(1)
        .map(|svg| {
            let svg = &svg[..svg.find("</svg>").expect("the plot is closed")];
            let attr = |text: &str, name: &str| -> Vec<String> {
                text.split(&format!("{name}=\""))
                    .skip(1)
                    .map(|v| v[..v.find('"').unwrap()].to_string())
                    .collect()
            };
            let id = attr(svg, "data-plot")
                .into_iter()
                .next()
                .unwrap_or_default();
            let points = attr(svg, "data-points")
                .iter()
                .map(|n| n.parse::<usize>().unwrap())
                .sum();
            (id, points)
        })
        .collect()
}

#[test]
#[ignore = "needs headless Chromium; `cargo xtask test` runs it when installed"]
fn the_html_report_of_a_two_target_ycsb_run_renders_in_chromium() {
    let browser = chromium();
    let work = tempfile::tempdir().unwrap();
    let logs = work.path();

    // The probe proves the console is really read: a page that logs an error must show
    // up as a CONSOLE line, or "no console errors" below would prove nothing.
    let probe = logs.join("probe.html");
    std::fs::write(
        &probe,
        "<!DOCTYPE html><title>probe</title><script>console.error('assay-console-probe')</script>",
    )
    .unwrap();
    let seen = browse(&probe, &["--dump-dom".into()], "probe", logs);
    assert!(
        console_lines(&seen.stderr)
            .iter()
            .any(|l| l.contains("assay-console-probe")),
        "{} does not print console messages as CONSOLE lines on stderr; stderr:\n{}",
        browser.display(),
        seen.stderr
    );

    let scenario = logs.join("ycsb-a-short.toml");
    std::fs::write(&scenario, YCSB).unwrap();
    let out = target_dir().join("assay-report-browser");
    let _ = std::fs::remove_dir_all(&out);
    let mut assay = Command::new(env!("CARGO_BIN_EXE_assay"));
    assay
        .current_dir(root())
        .env("NO_COLOR", "1")
        .arg("run")
        .arg(&scenario)
        .args(["--target", &TARGETS.join(","), "--out"])
        .arg(&out);
    let run = run_bounded(assay, RUN_LIMIT, "assay-run", logs);
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    let page = out.join("index.html").canonicalize().unwrap();

    let dumped = browse(&page, &["--dump-dom".into()], "dump-dom", logs);
    assert_eq!(dumped.code, Some(0), "stderr:\n{}", dumped.stderr);
    let console = console_lines(&dumped.stderr);
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
    let dom = dumped.stdout;
    assert!(
        dom.contains("ycsb-a-short"),
        "the DOM is the report:\n{dom}"
    );

    let plots = plots(&dom);
    // Side by side: spectrum, throughput, p99; per target: spectrum, throughput,
    // latency, errors.
    assert_eq!(plots.len(), 3 + 4 * TARGETS.len(), "{plots:?}");
    for (id, points) in &plots {
        assert!(*points >= 1, "plot {id} has no data point");
    }
    assert!(!dom.contains("class=\"no-data\""), "a plot without data");
    let side = &dom[dom
        .find("<section class=\"side-by-side\"")
        .expect("a side-by-side view")..];
    let side = &side[..side.find("</section>").unwrap()];
    for t in TARGETS {
        assert!(
            side.contains(&format!("<tr data-target=\"{t}\">")),
            "{t} in the table"
        );
        let spectrum = &side[side.find("data-plot=\"side-spectrum").unwrap()..];
        assert!(
            spectrum.contains(&format!("data-series=\"{t}\"")),
            "{t} in the side-by-side spectrum"
        );
        assert!(dom.contains(&format!("<div class=\"target\" data-target=\"{t}\">")));
    }

    let shot = target_dir().join("assay-report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let painted = browse(
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,3000".into(),
        ],
        "screenshot",
        logs,
    );
    assert_eq!(painted.code, Some(0), "stderr:\n{}", painted.stderr);
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 0, "no screenshot at {}", shot.display());
    println!("screenshot: {} ({size} bytes)", shot.display());
}
