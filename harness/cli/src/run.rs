//! `assay run`: load scenarios, bring targets up, run every scenario on every target,
//! check, tear down, write the report, stop what was started. Exit code 0 pass, 1 a
//! check or threshold failed, 2 the run could not be done.

use crate::load::{load_all, LoadedScenario};
use crate::targets::{bring_up, connect, LiveTarget};
use crate::{error_line, stdout_is_terminal, workspace_root, EmulatorMode, EXIT_CANNOT_RUN};
use assay_check::{check_expectations, evaluate_thresholds};
use assay_core::threshold::parse_duration_ns;
use assay_core::{Driver, DriverConfig, HistoryEvent, LatencyHistograms, TargetSpec};
use assay_engine::{run_scenario, AbortSignal, EngineOptions, ScenarioRun};
use assay_reports::{
    render_table, write_run, LatencyRow, Machine, RunReport, ScenarioArtifacts, ScenarioReport,
    TargetReport, Unsupported, Verdict, REPORT_SCHEMA_VERSION,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct RunArgs {
    /// Scenario files or directories (searched for *.toml).
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Target names, repeated or comma-separated (see `assay targets`).
    #[arg(long = "target", short = 't', required = true, value_delimiter = ',')]
    targets: Vec<String>,
    /// How to start local stand-ins.
    #[arg(long, value_enum, default_value = "auto")]
    emulators: EmulatorMode,
    /// Directory for the run's files (default: target/assay/runs/<run-id>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Upper bound on one op; past it the op is recorded as indeterminate.
    #[arg(long, default_value = "5s")]
    op_timeout: String,
    /// Seed for workload key and op choice.
    #[arg(long, default_value_t = 0x5eed)]
    seed: u64,
}

/// What one scenario on one target produced, kept for the files written at the end.
struct Recorded {
    target: String,
    scenario: String,
    history: Vec<HistoryEvent>,
    latencies: LatencyHistograms,
    elapsed: Duration,
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn new_run_id() -> (String, String) {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    // Namespaces must be unique per run even for runs started in the same second.
    let entropy = (now.unix_timestamp_nanos() as u64) ^ (u64::from(std::process::id()) << 40);
    let short = format!("{:06x}", entropy & 0xff_ffff);
    (format!("{stamp}-{short}"), short)
}

pub async fn run_command(args: RunArgs) -> u8 {
    let op_timeout = match parse_duration_ns(&args.op_timeout) {
        Some(ns) if ns >= 1e6 => Duration::from_nanos(ns as u64),
        _ => {
            error_line(format!(
                "--op-timeout `{}` is not a duration of at least 1ms; write e.g. 5s or 500ms",
                args.op_timeout
            ));
            return EXIT_CANNOT_RUN;
        }
    };
    let scenarios = match load_all(&args.scenarios) {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                error_line(e);
            }
            return EXIT_CANNOT_RUN;
        }
    };
    let mut specs = Vec::new();
    for name in &args.targets {
        match TargetSpec::resolve(name.trim()) {
            Ok(s) if !specs.contains(&s) => specs.push(s),
            Ok(_) => {}
            Err(e) => {
                error_line(format!("--target: {e}"));
                return EXIT_CANNOT_RUN;
            }
        }
    }

    let (run_id, short_id) = new_run_id();
    let run_dir = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("target/assay/runs").join(&run_id));
    if let Err(e) = std::fs::create_dir_all(&run_dir) {
        error_line(format!("cannot create the run directory {}: {e}", run_dir.display()));
        return EXIT_CANNOT_RUN;
    }
    let started_at = now_rfc3339();
    let abort = AbortSignal::default();
    spawn_interrupt_handler(abort.clone());
    status(&format!("run {run_id}: {} scenario(s) on {} target(s)", scenarios.len(), specs.len()));

    // Bring every local backend up at once: start-up dominates short runs.
    let bring_ups = specs.iter().map(|spec| {
        let run_dir = run_dir.clone();
        let mode = args.emulators;
        async move {
            let backend = spec.local.expect("only local targets resolve in this version");
            status(&format!("{}: starting {}", spec.name, backend.description()));
            let r = bring_up(spec, backend, mode, &run_dir).await;
            match &r {
                Ok(t) => status(&format!("{}: ready at {}", spec.name, t.endpoint.display_safe())),
                Err(e) => status(&format!("{}: could not start: {e}", spec.name)),
            }
            r
        }
    });
    let live: Vec<Result<LiveTarget, String>> = futures::future::join_all(bring_ups).await;

    let mut targets = Vec::new();
    let mut recorded = Vec::new();
    for (i, (spec, live)) in specs.iter().zip(live).enumerate() {
        let live = match live {
            Ok(l) => l,
            Err(e) => {
                targets.push(TargetReport {
                    name: spec.name.clone(),
                    family: spec.family.to_string(),
                    endpoint: None,
                    backend_version: None,
                    verdict: Verdict::Error,
                    error: Some(e),
                    scenarios: Vec::new(),
                });
                continue;
            }
        };
        let mut report = TargetReport {
            name: spec.name.clone(),
            family: spec.family.to_string(),
            endpoint: Some(live.endpoint.display_safe()),
            backend_version: live.version.clone(),
            verdict: Verdict::Unsupported,
            error: None,
            scenarios: Vec::new(),
        };
        for (j, loaded) in scenarios.iter().enumerate() {
            if abort.is_aborted() {
                break;
            }
            let namespace = format!("assay_{short_id}_{i}_{j}");
            let (scenario_report, rec) =
                run_one(&live, loaded, namespace, op_timeout, args.seed, &abort).await;
            status(&format!(
                "{}: {} → {}",
                spec.name,
                loaded.scenario.name,
                scenario_report.verdict.as_str()
            ));
            report.verdict = report.verdict.worst(scenario_report.verdict);
            report.scenarios.push(scenario_report);
            recorded.extend(rec);
        }
        if report.backend_version.is_none() {
            report.backend_version = live.version.clone();
        }
        live.stop().await;
        targets.push(report);
    }

    let mut report = RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        run_id: run_id.clone(),
        assay_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: now_rfc3339(),
        seed: args.seed,
        machine: Machine::current(),
        verdict: Verdict::Pass,
        aborted: abort.reason().filter(|r| r.starts_with("interrupted")),
        targets,
    };
    report.verdict = report.overall_verdict();
    let artifacts: Vec<ScenarioArtifacts<'_>> = recorded
        .iter()
        .map(|r| ScenarioArtifacts {
            target: &r.target,
            scenario: &r.scenario,
            history: &r.history,
            latencies: &r.latencies,
            elapsed: r.elapsed,
        })
        .collect();
    print!("{}", render_table(&report, stdout_is_terminal()));
    match write_run(&run_dir, &report, &artifacts) {
        Ok(a) => println!("report: {}", a.report_json.display()),
        Err(e) => {
            error_line(format!("cannot write the report to {}: {e}", run_dir.display()));
            return EXIT_CANNOT_RUN;
        }
    }
    let code = report.verdict.exit_code() as u8;
    if let Some(reason) = &report.aborted {
        error_line(format!("run stopped early: {reason}"));
    }
    for t in &report.targets {
        if let Some(e) = &t.error {
            error_line(format!("{}: {e}", t.name));
        }
        for s in &t.scenarios {
            if s.verdict == Verdict::Error {
                error_line(format!(
                    "{}: {}: {}",
                    t.name,
                    s.name,
                    s.reason.as_deref().unwrap_or("could not run")
                ));
            }
        }
    }
    code
}

/// First Ctrl-C: stop issuing, tear down, write a partial report. Second: kill what
/// was started and exit at once.
fn spawn_interrupt_handler(abort: AbortSignal) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            status("interrupted: stopping, tearing down, writing a partial report (Ctrl-C again to kill now)");
            abort.abort("interrupted (Ctrl-C)");
            if tokio::signal::ctrl_c().await.is_ok() {
                assay_emulators::kill_all_started();
                std::process::exit(130);
            }
        }
    });
}

fn status(line: &str) {
    eprintln!("assay: {line}");
}

/// Teardown is bounded: a dead backend must not hang the end of the run.
const TEARDOWN_BOUND: Duration = Duration::from_secs(60);

async fn run_one(
    live: &LiveTarget,
    loaded: &LoadedScenario,
    namespace: String,
    op_timeout: Duration,
    seed: u64,
    abort: &AbortSignal,
) -> (ScenarioReport, Option<Recorded>) {
    let scenario = &loaded.scenario;
    let mut report = ScenarioReport {
        name: scenario.name.clone(),
        file: loaded.path.display().to_string(),
        sha256: loaded.sha256.clone(),
        kind: format!("{:?}", scenario.kind).to_lowercase(),
        verdict: Verdict::Error,
        reason: None,
        unsupported: Vec::new(),
        ops: 0,
        errors: 0,
        elapsed_s: 0.0,
        throughput_ops_per_s: 0.0,
        latency: Vec::new(),
        overall_latency: None,
        steps: Vec::new(),
        thresholds: Vec::new(),
        request_units: None,
        retries: 0,
        error_classes: BTreeMap::new(),
    };
    let config = DriverConfig {
        namespace,
        op_timeout,
    };
    let driver = match connect(&live.endpoint, config).await {
        Ok(d) => d,
        Err(e) => {
            report.reason = Some(backend_failure(live, format!("cannot connect: {e}")));
            return (report, None);
        }
    };
    if let Err(missing) = driver.capabilities().require(&scenario.required_capabilities()) {
        report.verdict = Verdict::Unsupported;
        report.reason = Some(format!(
            "unsupported: {}",
            missing
                .iter()
                .map(|(c, why)| format!("{c} ({why})"))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        report.unsupported = missing
            .into_iter()
            .map(|(capability, reason)| Unsupported { capability, reason })
            .collect();
        return (report, None);
    }
    if let Err(e) = driver.setup(&scenario.tables).await {
        let _ = tokio::time::timeout(TEARDOWN_BOUND, driver.teardown()).await;
        report.reason = Some(backend_failure(live, format!("setup failed: {e}")));
        return (report, None);
    }
    let opts = EngineOptions {
        op_timeout,
        health: Some(live.health_probe()),
        seed,
        ..EngineOptions::default()
    };
    let run = run_scenario(driver.clone(), scenario, opts, abort.clone()).await;
    let teardown_error = teardown(driver.as_ref()).await;
    fill_from_run(&mut report, loaded, &run);
    if let Some(reason) = &run.aborted {
        report.verdict = Verdict::Error;
        report.reason = Some(reason.clone());
    } else if let Some(e) = teardown_error {
        report.verdict = report.verdict.worst(Verdict::Error);
        report.reason = Some(backend_failure(live, e));
    }
    let rec = Recorded {
        target: live.spec.name.clone(),
        scenario: scenario.name.clone(),
        history: run.history,
        latencies: run.latencies,
        elapsed: run.elapsed,
    };
    (report, Some(rec))
}

async fn teardown(driver: &dyn Driver) -> Option<String> {
    match tokio::time::timeout(TEARDOWN_BOUND, driver.teardown()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("teardown failed: {e}")),
        Err(_) => Some(format!("teardown did not finish within {TEARDOWN_BOUND:?}")),
    }
}

/// Prefers the backend's own account of its death over the symptom.
fn backend_failure(live: &LiveTarget, symptom: String) -> String {
    match (live.health_probe())() {
        Some(reason) => format!("backend stopped: {reason}"),
        None => symptom,
    }
}

fn fill_from_run(report: &mut ScenarioReport, loaded: &LoadedScenario, run: &ScenarioRun) {
    let scenario = &loaded.scenario;
    let expectations = check_expectations(scenario, &run.history);
    let totals = expectations.total();
    report.ops = run.ops();
    report.errors = totals.errors;
    report.elapsed_s = run.elapsed.as_secs_f64();
    // Throughput of the workload when there is one; of the whole scenario otherwise.
    let (measured_ops, measured_time) = match run.phases.iter().find(|p| p.name == "workload") {
        Some(w) => (w.ops, w.elapsed),
        None => (run.ops(), run.elapsed),
    };
    report.throughput_ops_per_s = if measured_time.as_secs_f64() > 0.0 {
        measured_ops as f64 / measured_time.as_secs_f64()
    } else {
        0.0
    };
    let (rows, overall) = LatencyRow::table(&run.latencies);
    report.latency = rows;
    report.overall_latency = overall;
    report.thresholds = evaluate_thresholds(
        &scenario.thresholds,
        &run.latencies,
        &expectations.by_op,
        measured_time,
    );
    let mut ru = 0.0;
    let mut any_ru = false;
    for e in &run.history {
        if let HistoryEvent::Complete {
            meta, error_class, ..
        } = e
        {
            if let Some(r) = meta.request_units {
                ru += r;
                any_ru = true;
            }
            report.retries += u64::from(meta.retries);
            if let Some(c) = error_class {
                *report.error_classes.entry(c.to_string()).or_default() += 1;
            }
        }
    }
    report.request_units = any_ru.then_some(ru);
    let checks_ok = expectations.passed() && report.thresholds.iter().all(|t| t.passed);
    report.steps = expectations.steps;
    report.verdict = if checks_ok { Verdict::Pass } else { Verdict::Fail };
    if !checks_ok {
        let failed: Vec<String> = report
            .steps
            .iter()
            .filter(|s| !s.passed)
            .map(|s| format!("step `{}`", s.step))
            .chain(
                report
                    .thresholds
                    .iter()
                    .filter(|t| !t.passed)
                    .map(|t| format!("threshold `{}` (observed {})", t.threshold, t.observed_display)),
            )
            .collect();
        report.reason = Some(format!("failed: {}", failed.join(", ")));
    }
}
