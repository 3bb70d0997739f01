//! `assay run`: load scenarios, bring targets up, run every scenario on every target,
//! check, tear down, write the report, stop what was started. Exit code 0 pass, 1 a
//! check or threshold failed, 2 the run could not be done.
//!
//! With a workload, the scenario's latency table and thresholds are over the workload's
//! measured window (after warmup and load), from each op's intended start.

#[path = "progress.rs"]
mod progress;

use crate::faults::Faults;
use crate::load::{load_all, LoadedIsolationTest, LoadedScenario};
use crate::targets::{bring_up, connect, LiveTarget};
use crate::{error_line, stdout_is_terminal, workspace_root, EmulatorMode, EXIT_CANNOT_RUN};
use assay_check::{check_expectations, evaluate_thresholds, OpCounts};
use assay_core::metrics::IntervalSeries;
use assay_core::threshold::parse_duration_ns;
use assay_core::{
    Driver, DriverConfig, HistoryEvent, LatencyHistograms, NativeVerdict, OpKind, Outcome,
    TargetSpec,
};
use assay_engine::{
    run_scenario, AbortSignal, EngineOptions, LiveStats, NativeStepRun, ScenarioRun, WorkloadStats,
};
use assay_reports::{
    render_fidelity, render_table, write_run, FidelityMatrix, IntervalRow, LatencyRow, Machine,
    NativeStepReport, RunReport, ScenarioArtifacts, ScenarioReport, TargetReport, Unsupported,
    Verdict, WorkloadReport, REPORT_SCHEMA_VERSION,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
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
    /// After Ctrl-C, how long in-flight workload ops may still finish before the partial
    /// report is written.
    #[arg(long, default_value = "5s")]
    drain_grace: String,
    /// A fault a local stand-in is started with, e.g. `spanner-abort=0.3` (repeatable).
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Engine worker tasks a workload's clients are spread over (default: the engine's,
    /// see `docs/scenario-format.md`).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Async runtime threads (default: one per CPU). Against a server on the same machine,
    /// fewer leave it more CPU; `cargo xtask bench` compares with pgbench at 1.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=256))]
    pub(crate) threads: u16,
}

/// What one scenario on one target produced, kept for the files written at the end.
struct Recorded {
    target: String,
    scenario: String,
    history: Vec<HistoryEvent>,
    latencies: LatencyHistograms,
    elapsed: Duration,
    service: Option<LatencyHistograms>,
    intervals: Option<IntervalSeries>,
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
    let drain_grace = match parse_duration_ns(&args.drain_grace) {
        Some(ns) => Duration::from_nanos(ns as u64),
        None => {
            error_line(format!(
                "--drain-grace `{}` is not a duration; write e.g. 5s or 500ms",
                args.drain_grace
            ));
            return EXIT_CANNOT_RUN;
        }
    };
    let (scenarios, isolation_tests) = match load_all(&args.scenarios) {
        Ok(loaded) => (loaded.scenarios, loaded.isolation_tests),
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

    let faults = match Faults::parse(&args.faults).and_then(|f| {
        let backends: Vec<_> = specs.iter().filter_map(|s| s.local).collect();
        f.check_targets(&backends).map(|()| f)
    }) {
        Ok(f) => f,
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };

    let (run_id, short_id) = new_run_id();
    let run_dir = args
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("target/assay/runs").join(&run_id));
    if let Err(e) = std::fs::create_dir_all(&run_dir) {
        error_line(format!(
            "cannot create the run directory {}: {e}",
            run_dir.display()
        ));
        return EXIT_CANNOT_RUN;
    }
    let started_at = now_rfc3339();
    let abort = AbortSignal::default();
    spawn_interrupt_handler(abort.clone());
    status(&format!(
        "run {run_id}: {} scenario(s){} on {} target(s)",
        scenarios.len(),
        if isolation_tests.is_empty() {
            String::new()
        } else {
            format!(" and {} isolation test(s)", isolation_tests.len())
        },
        specs.len()
    ));

    // Bring every local backend up at once: start-up dominates short runs.
    let bring_ups = specs.iter().map(|spec| {
        let run_dir = run_dir.clone();
        let mode = args.emulators;
        let faults = &faults;
        async move {
            let backend = spec
                .local
                .expect("only local targets resolve in this version");
            status(&format!(
                "{}: starting {}",
                spec.name,
                backend.description()
            ));
            let r = bring_up(spec, backend, mode, &run_dir, faults).await;
            match &r {
                Ok(t) => status(&format!(
                    "{}: ready at {}",
                    spec.name,
                    t.endpoint.display_safe()
                )),
                Err(e) => status(&format!("{}: could not start: {e}", spec.name)),
            }
            r
        }
    });
    let live: Vec<Result<LiveTarget, String>> = futures::future::join_all(bring_ups).await;

    let mut targets = Vec::new();
    let mut recorded = Vec::new();
    let mut matrices: Vec<(String, String)> = Vec::new();
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
            let knobs = Knobs {
                op_timeout,
                seed: args.seed,
                drain_grace,
                workers: args.workers,
            };
            let (scenario_report, rec) = run_one(&live, loaded, namespace, knobs, &abort).await;
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
        if !isolation_tests.is_empty() && !abort.is_aborted() {
            let r = run_isolation(&live, &isolation_tests).await;
            status(&format!(
                "{}: isolation suite → {}",
                spec.name,
                r.verdict.as_str()
            ));
            if let Some(m) = &r.isolation_matrix {
                matrices.push((spec.name.clone(), m.to_string()));
            }
            report.verdict = report.verdict.worst(r.verdict);
            report.scenarios.push(r);
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
        fidelity: FidelityMatrix::from_targets(&targets),
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
            service: r.service.as_ref(),
            intervals: r.intervals.as_ref(),
        })
        .collect();
    for (target, matrix) in &matrices {
        println!("isolation matrix on {target}:\n{matrix}");
    }
    print!("{}", render_table(&report, stdout_is_terminal()));
    for t in &report.targets {
        let mut seen = HashSet::new();
        for n in t.scenarios.iter().flat_map(|s| &s.notes) {
            if seen.insert(n) {
                println!("note ({}): {n}", t.name);
            }
        }
    }
    print!(
        "{}",
        render_fidelity(&report.fidelity, stdout_is_terminal())
    );
    match write_run(&run_dir, &report, &artifacts) {
        Ok(a) => {
            if let Some(f) = &a.fidelity_md {
                println!("fidelity: {}", f.display());
            }
            println!("report: {}", a.report_json.display());
        }
        Err(e) => {
            error_line(format!(
                "cannot write the report to {}: {e}",
                run_dir.display()
            ));
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
            status("interrupted: stopped issuing; draining in-flight ops (up to --drain-grace), then tearing down and writing a partial report (Ctrl-C again to kill now)");
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

/// Runs the Hermitage-style isolation tests at every level the target offers. Only the
/// PostgreSQL wire family can run them; other targets report them unsupported.
async fn run_isolation(live: &LiveTarget, tests: &[LoadedIsolationTest]) -> ScenarioReport {
    let files: Vec<String> = tests.iter().map(|t| t.path.display().to_string()).collect();
    let mut report = ScenarioReport::new("isolation", &files.join(", "), "", "isolation");
    if live.spec.family != assay_core::Family::Postgres {
        report.verdict = Verdict::Unsupported;
        report.reason = Some(format!(
            "unsupported: isolation tests are SQL sessions; {} is not a SQL target",
            live.spec.name
        ));
        return report;
    }
    let started = std::time::Instant::now();
    let parsed: Vec<_> = tests.iter().map(|t| t.test.clone()).collect();
    match assay_driver_postgres::run_isolation_suite(
        &live.endpoint,
        &parsed,
        &assay_driver_postgres::POSTGRES_ISOLATION_LEVELS,
    )
    .await
    {
        Ok(matrix) => {
            report.elapsed_s = started.elapsed().as_secs_f64();
            report.verdict = if matrix.passed() {
                Verdict::Pass
            } else {
                report.reason = Some(format!(
                    "failed: {} cell(s) differ from the documented behaviour",
                    matrix.mismatches().len()
                ));
                Verdict::Fail
            };
            report.isolation_matrix = Some(matrix);
        }
        Err(e) => report.reason = Some(backend_failure(live, e.to_string())),
    }
    report
}

/// Teardown is bounded: a dead backend must not hang the end of the run.
const TEARDOWN_BOUND: Duration = Duration::from_secs(60);

/// Per-run settings every scenario gets.
#[derive(Clone, Copy)]
struct Knobs {
    op_timeout: Duration,
    seed: u64,
    drain_grace: Duration,
    workers: usize,
}

async fn run_one(
    live: &LiveTarget,
    loaded: &LoadedScenario,
    namespace: String,
    knobs: Knobs,
    abort: &AbortSignal,
) -> (ScenarioReport, Option<Recorded>) {
    let Knobs {
        op_timeout,
        seed,
        drain_grace,
        workers,
    } = knobs;
    let scenario = &loaded.scenario;
    let mut report = ScenarioReport::new(
        &scenario.name,
        &loaded.path.display().to_string(),
        &loaded.sha256,
        &format!("{:?}", scenario.kind).to_lowercase(),
    );
    let config = DriverConfig {
        namespace,
        op_timeout,
    };
    let driver = match connect(&live.endpoint, config, scenario.isolation).await {
        Ok(d) => d,
        Err(e) => {
            report.reason = Some(backend_failure(live, format!("cannot connect: {e}")));
            return (report, None);
        }
    };
    report.notes = driver.notes();
    if let Err(missing) = driver
        .capabilities()
        .require(&scenario.required_capabilities())
    {
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
    let live_stats = Arc::new(LiveStats::new());
    let opts = EngineOptions {
        op_timeout,
        health: Some(live.health_probe()),
        seed,
        drain_grace,
        live: Some(live_stats.clone()),
        workers,
        ..EngineOptions::default()
    };
    let progress = scenario.workload.as_ref().map(|_| {
        progress::Progress::start(format!("{}: {}", live.spec.name, scenario.name), live_stats)
    });
    let run = run_scenario(driver.clone(), scenario, opts, abort.clone()).await;
    if let Some(p) = progress {
        p.finish().await;
    }
    let teardown_error = teardown(driver.as_ref()).await;
    fill_from_run(&mut report, loaded, &run);
    if let Some(reason) = &run.aborted {
        report.verdict = Verdict::Error;
        report.reason = Some(reason.clone());
    } else if let Some(e) = teardown_error {
        report.verdict = report.verdict.worst(Verdict::Error);
        report.reason = Some(backend_failure(live, e));
    }
    let (latencies, elapsed, service, intervals) = match run.workload {
        Some(w) => (w.latency, w.measured, Some(w.service), Some(w.intervals)),
        None => (run.latencies, run.elapsed, None, None),
    };
    let rec = Recorded {
        target: live.spec.name.clone(),
        scenario: scenario.name.clone(),
        history: run.history,
        latencies,
        elapsed,
        service,
        intervals,
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
    report.ops = run.ops();
    report.elapsed_s = run.elapsed.as_secs_f64();
    // Workload ops are measured by the engine (history may be off for them); everything
    // else (steps, load) comes from the history.
    let workload_ops: HashSet<u64> = run
        .history
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::Invoke { op_id, step, .. } if step == "workload" || step == "warmup" => {
                Some(*op_id)
            }
            _ => None,
        })
        .collect();
    let (latencies, counts, measured_time) = match &run.workload {
        Some(w) => (&w.latency, workload_counts(&w.latency), w.measured),
        None => (&run.latencies, expectations.by_op.clone(), run.elapsed),
    };
    report.errors = match &run.workload {
        Some(w) => step_errors(scenario, &expectations) + w.errors,
        None => expectations.total().errors,
    };
    let measured_ops: u64 = counts.values().map(|c| c.ops).sum();
    report.throughput_ops_per_s = if measured_time.as_secs_f64() > 0.0 {
        measured_ops as f64 / measured_time.as_secs_f64()
    } else {
        0.0
    };
    let (rows, overall) = LatencyRow::table(latencies);
    report.latency = rows;
    report.overall_latency = overall;
    report.thresholds =
        evaluate_thresholds(&scenario.thresholds, latencies, &counts, measured_time);
    let kinds: HashMap<u64, OpKind> = run
        .history
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::Invoke { op_id, op, .. } => Some((*op_id, op.kind())),
            _ => None,
        })
        .collect();
    for e in &run.history {
        if let HistoryEvent::Complete {
            op_id,
            meta,
            error_class,
            ..
        } = e
        {
            if run.workload.is_some() && workload_ops.contains(op_id) {
                continue;
            }
            if let (Some(r), Some(kind)) = (meta.request_units, kinds.get(op_id)) {
                *report.request_units_by_op.entry(*kind).or_default() += r;
            }
            report.retries += u64::from(meta.retries);
            if let Some(c) = error_class {
                *report.error_classes.entry(c.to_string()).or_default() += 1;
            }
        }
    }
    if let Some(w) = &run.workload {
        for (kind, r) in &w.request_units {
            *report.request_units_by_op.entry(*kind).or_default() += r;
        }
        report.retries += w.retries;
        for (class, n) in &w.error_classes {
            *report.error_classes.entry(class.to_string()).or_default() += n;
        }
        report.workload = Some(workload_report(w));
    }
    report.request_units =
        (!report.request_units_by_op.is_empty()).then(|| report.request_units_by_op.values().sum());
    report.native_steps = run.native.iter().map(native_step_report).collect();
    // Consistency models named in `checks`, each over the whole history.
    report.consistency = scenario
        .checks
        .iter()
        .filter_map(|c| c.model_name())
        .filter_map(|name| name.parse::<assay_check::Model>().ok())
        .map(|model| assay_check::check_history(&run.history, model))
        .collect();
    let checks_ok = expectations.passed()
        && report.thresholds.iter().all(|t| t.passed)
        && report.consistency.iter().all(|v| v.valid)
        && !report.native_steps.iter().any(|n| n.verdict.fails());
    report.steps = expectations.steps;
    report.verdict = if checks_ok {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    if !checks_ok {
        let failed: Vec<String> = report
            .steps
            .iter()
            .filter(|s| !s.passed)
            .map(|s| format!("step `{}`", s.step))
            .chain(report.consistency.iter().filter(|v| !v.valid).map(|v| {
                let found = v.forbidden_names();
                if found.is_empty() {
                    format!("{} (inconclusive: {})", v.model, v.inconclusive.join("; "))
                } else {
                    format!("{} ({} found)", v.model, found.join(", "))
                }
            }))
            .chain(
                report
                    .native_steps
                    .iter()
                    .filter(|n| n.verdict.fails())
                    .map(|n| format!("step `{}` ({}: {})", n.step, n.verdict, n.observed)),
            )
            .chain(report.thresholds.iter().filter(|t| !t.passed).map(|t| {
                format!(
                    "threshold `{}` (observed {})",
                    t.threshold, t.observed_display
                )
            }))
            .collect();
        report.reason = Some(format!("failed: {}", failed.join(", ")));
    }
    // Nothing verified: every step was a native one this target cannot do or cannot show.
    if report.verdict == Verdict::Pass
        && scenario.steps.is_empty()
        && !report.native_steps.is_empty()
        && !report
            .native_steps
            .iter()
            .any(|n| n.verdict == NativeVerdict::Pass)
    {
        let first = &report.native_steps[0];
        report.verdict = if report
            .native_steps
            .iter()
            .any(|n| n.verdict == NativeVerdict::Unverified)
        {
            Verdict::Unverified
        } else {
            Verdict::Unsupported
        };
        report.reason = Some(format!("{}: {}", first.verdict, first.observed));
    }
    // A native step that could not be carried out makes the run an error, not a finding.
    if let Some(n) = report
        .native_steps
        .iter()
        .find(|n| n.verdict == NativeVerdict::Error)
    {
        report.verdict = Verdict::Error;
        report.reason = Some(format!("step `{}` could not run: {}", n.step, n.observed));
    }
}

fn native_step_report(n: &NativeStepRun) -> NativeStepReport {
    NativeStepReport {
        step: n.step.name.clone(),
        native: n.step.qualified(),
        verdict: n.outcome.verdict,
        observed: n.outcome.observed.clone(),
        documented: n.step.documented.clone(),
        cite: n.step.cite.clone(),
        after_steps: n.step.after,
        evidence: n.outcome.evidence.clone(),
        measurements: n.outcome.measurements.clone(),
        counters: n.outcome.counters.clone(),
        elapsed_s: n.elapsed.as_secs_f64(),
    }
}

/// Ops and errors per op kind of the measured window, from its histograms.
fn workload_counts(latency: &LatencyHistograms) -> BTreeMap<OpKind, OpCounts> {
    let mut counts: BTreeMap<OpKind, OpCounts> = BTreeMap::new();
    for (kind, outcome, h) in latency.iter() {
        let c = counts.entry(kind).or_default();
        c.ops += h.len();
        if outcome != Outcome::Ok {
            c.errors += h.len();
        }
    }
    counts
}

/// Errors of the steps alone: outcomes other than `ok` that the step did not expect.
fn step_errors(scenario: &assay_core::Scenario, e: &assay_check::Expectations) -> u64 {
    e.steps
        .iter()
        .zip(&scenario.steps)
        .map(|(v, step)| {
            v.outcomes
                .iter()
                .filter(|(o, _)| **o != Outcome::Ok && **o != step.expect.outcome)
                .map(|(_, n)| n)
                .sum::<u64>()
        })
        .sum()
}

fn workload_report(w: &WorkloadStats) -> WorkloadReport {
    let secs = w.measured.as_secs_f64();
    let (service_time, _) = LatencyRow::table(&w.service);
    WorkloadReport {
        mode: format!("{:?}", w.mode).to_lowercase(),
        measured_s: secs,
        ops: w.ops,
        errors: w.errors,
        throughput_ops_per_s: if secs > 0.0 { w.ops as f64 / secs } else { 0.0 },
        offered_rate_ops_per_s: w.offered_rate,
        late: w.late,
        dropped: w.dropped,
        abandoned: w.abandoned,
        warmup_ops: w.warmup_ops,
        service_time,
        schedule_lag: (!w.schedule_lag.is_empty())
            .then(|| LatencyRow::from_histogram("schedule_lag", "all", &w.schedule_lag)),
        intervals: IntervalRow::series(&w.intervals),
    }
}
