//! `assay run`: load scenarios, bring targets up, run every scenario on every target,
//! tear down, stop what was started — recording what happened in the run record — then
//! hand the stored record to the judge and the reports (`report_cmd::finish`). Exit code
//! 0 pass, 1 a check or threshold failed, 2 the run could not be done.

#[path = "progress.rs"]
mod progress;

use crate::faults::Faults;
use crate::load::{load_all, LoadedIsolationTest, LoadedScenario};
use crate::fault_rig::FaultRig;
use crate::targets::{bring_up, connect, LiveTarget};
use assay_core::fault::FaultInjector;
use assay_core::scenario::FaultKind;
use crate::{error_line, workspace_root, EmulatorMode, EXIT_CANNOT_RUN};
use assay_core::record::{
    EventKind, LoadConfig, Machine, MissingCapability, Phase, RecordKind, RunOptions, RunRecord,
    ScenarioRecord, ScenarioStatus, TargetRecord, TimelineEvent, RECORD_SCHEMA_VERSION,
};
use assay_core::threshold::parse_duration_ns;
use assay_core::{Driver, DriverConfig, HistoryEvent, TargetSpec};
use assay_engine::{record_run, run_scenario, AbortSignal, EngineOptions, LiveStats};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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

/// Per-run settings every scenario gets.
#[derive(Clone)]
struct Knobs {
    op_timeout: Duration,
    seed: u64,
    drain_grace: Duration,
    workers: usize,
    faults: Vec<String>,
    /// How a fault schedule's restart starts a fresh stand-in.
    start: assay_emulators::StartOptions,
}

/// The run's timeline, appended to from concurrent bring-ups.
#[derive(Clone, Default)]
struct Timeline(Arc<Mutex<Vec<TimelineEvent>>>);

impl Timeline {
    fn push(&self, event: TimelineEvent) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }

    fn take(&self) -> Vec<TimelineEvent> {
        let mut events = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        events.sort_by_key(|e| e.unix_ms);
        events
    }
}

fn duration_arg(flag: &str, text: &str, at_least_ns: f64) -> Result<Duration, String> {
    match parse_duration_ns(text) {
        Some(ns) if ns >= at_least_ns => Ok(Duration::from_nanos(ns as u64)),
        _ => Err(format!(
            "{flag} `{text}` is not a duration{}; write e.g. 5s or 500ms",
            if at_least_ns > 0.0 { " of at least 1ms" } else { "" }
        )),
    }
}

pub async fn run_command(args: RunArgs) -> u8 {
    let durations = duration_arg("--op-timeout", &args.op_timeout, 1e6)
        .and_then(|t| Ok((t, duration_arg("--drain-grace", &args.drain_grace, 0.0)?)));
    let (op_timeout, drain_grace) = match durations {
        Ok(d) => d,
        Err(e) => {
            error_line(e);
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
    let started_unix_ms = TimelineEvent::now(EventKind::PhaseStarted).unix_ms;
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

    let timeline = Timeline::default();
    // Bring every local backend up at once: start-up dominates short runs.
    let bring_ups = specs.iter().map(|spec| {
        let (run_dir, mode, faults, timeline) = (run_dir.clone(), args.emulators, &faults, &timeline);
        async move {
            let backend = spec
                .local
                .expect("only local targets resolve in this version");
            status(&format!("{}: starting {}", spec.name, backend.description()));
            timeline.push(
                TimelineEvent::now(EventKind::BackendStarting)
                    .target(&spec.name)
                    .detail(backend.description()),
            );
            let r = bring_up(spec, backend, mode, &run_dir, faults).await;
            let (kind, line) = match &r {
                Ok(t) => (EventKind::BackendReady, format!("ready at {}", t.endpoint.display_safe())),
                Err(e) => (EventKind::BackendFailed, format!("could not start: {e}")),
            };
            status(&format!("{}: {line}", spec.name));
            timeline.push(TimelineEvent::now(kind).target(&spec.name).detail(line));
            r
        }
    });
    let live: Vec<Result<LiveTarget, String>> = futures::future::join_all(bring_ups).await;

    let knobs = Knobs {
        op_timeout,
        seed: args.seed,
        drain_grace,
        workers: args.workers,
        faults: args.faults.clone(),
        start: assay_emulators::StartOptions {
            run_dir: run_dir.clone(),
            mode: args.emulators.into(),
            workspace_root: workspace_root(),
        },
    };
    let mut targets = Vec::new();
    let mut histories: Vec<(String, String, Vec<HistoryEvent>)> = Vec::new();
    for (i, (spec, live)) in specs.iter().zip(live).enumerate() {
        let mut target = TargetRecord {
            name: spec.name.clone(),
            family: spec.family,
            endpoint: None,
            stand_in: spec.local.map(|b| b.description().to_string()),
            backend_version: None,
            start_error: None,
            scenarios: Vec::new(),
        };
        let live = match live {
            Ok(l) => l,
            Err(e) => {
                target.start_error = Some(e);
                targets.push(target);
                continue;
            }
        };
        target.endpoint = Some(live.endpoint.display_safe());
        target.backend_version = live.version.clone();
        let mut live = Some(live);
        for (j, loaded) in scenarios.iter().enumerate() {
            let Some(up) = live.as_ref() else { break };
            if abort.is_aborted() {
                break;
            }
            let namespace = format!("assay_{short_id}_{i}_{j}");
            let (record, history) =
                run_one(up, loaded, namespace, &knobs, &abort, &timeline).await;
            status(&format!(
                "{}: {} finished: {} ops in {:.1} s",
                spec.name,
                loaded.scenario.name,
                record.ops,
                record.elapsed_ns as f64 / 1e9
            ));
            histories.push((spec.name.clone(), record.name.clone(), history));
            let broken = !record.faults.is_empty();
            target.scenarios.push(record);
            // A fault schedule may have killed, emptied or promoted the stand-in: the next
            // scenario gets a fresh one.
            if broken && j + 1 < scenarios.len() && !abort.is_aborted() {
                if let Some(l) = live.take() {
                    l.stop().await;
                }
                timeline.push(TimelineEvent::now(EventKind::BackendStopped).target(&spec.name));
                let backend = spec.local.expect("only local targets resolve in this version");
                match bring_up(spec, backend, args.emulators, &run_dir, &faults).await {
                    Ok(l) => live = Some(l),
                    Err(e) => target.start_error = Some(format!("restarting after a fault scenario: {e}")),
                }
                timeline.push(TimelineEvent::now(EventKind::BackendReady).target(&spec.name));
            }
        }
        if let Some(live) = live {
            if !isolation_tests.is_empty() && !abort.is_aborted() {
                target
                    .scenarios
                    .push(run_isolation(&live, &isolation_tests, &knobs, &timeline).await);
                status(&format!("{}: isolation suite finished", spec.name));
            }
            live.stop().await;
            timeline.push(TimelineEvent::now(EventKind::BackendStopped).target(&spec.name));
        }
        targets.push(target);
    }
    if let Some(reason) = abort.reason().filter(|r| r.starts_with("interrupted")) {
        timeline.push(TimelineEvent::now(EventKind::Interrupted).detail(reason));
    }
    let record = RunRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        run_id,
        assay_version: env!("CARGO_PKG_VERSION").to_string(),
        seed: args.seed,
        started_at,
        finished_at: now_rfc3339(),
        started_unix_ms,
        machine: Machine::current(),
        interrupted: abort.reason().filter(|r| r.starts_with("interrupted")),
        targets,
        timeline: timeline.take(),
    };
    let written = assay_reports::write_history(
        &run_dir,
        histories
            .iter()
            .map(|(t, s, h)| (t.as_str(), s.as_str(), h.as_slice())),
    )
    .and_then(|_| record.save(&run_dir));
    if let Err(e) = written {
        error_line(format!("cannot write the run to {}: {e}", run_dir.display()));
        return EXIT_CANNOT_RUN;
    }
    drop(histories);
    // Judged and rendered from what was stored, exactly as `assay report` does.
    crate::report_cmd::finish(&run_dir)
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

fn run_options(knobs: &Knobs) -> RunOptions {
    RunOptions {
        op_timeout_s: knobs.op_timeout.as_secs_f64(),
        seed: knobs.seed,
        faults: knobs.faults.clone(),
    }
}

/// Runs the Hermitage-style isolation tests at every level the target offers. Only the
/// PostgreSQL wire family can run them; other targets record them unsupported.
async fn run_isolation(
    live: &LiveTarget,
    tests: &[LoadedIsolationTest],
    knobs: &Knobs,
    timeline: &Timeline,
) -> ScenarioRecord {
    let files: Vec<String> = tests.iter().map(|t| t.path.display().to_string()).collect();
    let load = LoadConfig {
        clients: 2,
        ..LoadConfig::of_options(&run_options(knobs))
    };
    let mut record = ScenarioRecord::new(
        "isolation",
        &files.join(", "),
        "",
        RecordKind::Isolation,
        String::new(),
        load,
    );
    if live.spec.family != assay_core::Family::Postgres {
        record.status = ScenarioStatus::Unsupported {
            reason: format!(
                "unsupported: isolation tests are SQL sessions; {} is not a SQL target",
                live.spec.name
            ),
            missing: Vec::new(),
        };
        return record;
    }
    let phase = |kind| {
        TimelineEvent::now(kind)
            .target(&live.spec.name)
            .scenario("isolation")
            .phase(Phase::Isolation)
    };
    timeline.push(phase(EventKind::PhaseStarted));
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
            record.elapsed_ns = started.elapsed().as_nanos() as u64;
            record.isolation = Some(matrix);
            record.status = ScenarioStatus::Ran {
                aborted: None,
                teardown_error: None,
            };
        }
        Err(e) => {
            record.status = ScenarioStatus::NotRun {
                reason: backend_failure(live, e.to_string()),
            }
        }
    }
    timeline.push(phase(EventKind::PhaseFinished));
    record
}

/// Teardown is bounded: a dead backend must not hang the end of the run.
const TEARDOWN_BOUND: Duration = Duration::from_secs(60);

/// Runs one scenario on one target: connect, capabilities, setup, engine, teardown.
async fn run_one(
    live: &LiveTarget,
    loaded: &LoadedScenario,
    namespace: String,
    knobs: &Knobs,
    abort: &AbortSignal,
    timeline: &Timeline,
) -> (ScenarioRecord, Vec<HistoryEvent>) {
    let scenario = &loaded.scenario;
    let mut record = ScenarioRecord::new(
        &scenario.name,
        &loaded.path.display().to_string(),
        &loaded.sha256,
        scenario.kind.into(),
        loaded.source.clone(),
        LoadConfig::of(scenario, &run_options(knobs)),
    );
    let phase = |kind, phase| {
        TimelineEvent::now(kind)
            .target(&live.spec.name)
            .scenario(&scenario.name)
            .phase(phase)
    };
    let rig = if scenario.faults.is_empty() && scenario.replication.is_none() {
        None
    } else {
        match FaultRig::start(live, scenario, knobs.start.clone()).await {
            Ok(r) => Some(Arc::new(r)),
            Err(reason) => {
                record.status = ScenarioStatus::Unsupported {
                    reason: format!("unsupported: {reason}"),
                    missing: Vec::new(),
                };
                return (record, Vec::new());
            }
        }
    };
    timeline.push(phase(EventKind::PhaseStarted, Phase::Connect));
    let config = DriverConfig {
        namespace,
        op_timeout: knobs.op_timeout,
    };
    let endpoint = rig.as_ref().map_or(&live.endpoint, |r| r.endpoint());
    if let Some(r) = &rig {
        r.use_setup(config.clone(), scenario.isolation, &scenario.tables);
    }
    let driver = match connect(endpoint, config, scenario.isolation).await {
        Ok(d) => d,
        Err(e) => {
            record.status = ScenarioStatus::NotRun {
                reason: backend_failure(live, format!("cannot connect: {e}")),
            };
            return (record, Vec::new());
        }
    };
    record.notes = driver.notes();
    if let Some(r) = rig.as_ref().and_then(|r| r.replication.clone()) {
        record.notes.push(r);
    }
    if let Err(missing) = driver
        .capabilities()
        .require(&scenario.required_capabilities())
    {
        record.status = ScenarioStatus::Unsupported {
            reason: format!(
                "unsupported: {}",
                missing
                    .iter()
                    .map(|(c, why)| format!("{c} ({why})"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            missing: missing
                .into_iter()
                .map(|(capability, reason)| MissingCapability { capability, reason })
                .collect(),
        };
        return (record, Vec::new());
    }
    timeline.push(phase(EventKind::PhaseStarted, Phase::Setup));
    if let Err(e) = driver.setup(&scenario.tables).await {
        let _ = tokio::time::timeout(TEARDOWN_BOUND, driver.teardown()).await;
        record.status = ScenarioStatus::NotRun {
            reason: backend_failure(live, format!("setup failed: {e}")),
        };
        return (record, Vec::new());
    }
    let live_stats = Arc::new(LiveStats::new());
    let mut opts = EngineOptions {
        op_timeout: knobs.op_timeout,
        health: Some(live.health_probe()),
        seed: knobs.seed,
        drain_grace: knobs.drain_grace,
        live: Some(live_stats.clone()),
        workers: knobs.workers,
        ..EngineOptions::default()
    };
    if let Some(r) = &rig {
        // Under a fault schedule failures are the point: the run goes on through them.
        opts.health = None;
        opts.max_consecutive_connection_errors = u32::MAX;
        opts.faults = Some(r.clone() as Arc<dyn FaultInjector>);
    }
    let progress = scenario.workload.as_ref().map(|_| {
        progress::Progress::start(format!("{}: {}", live.spec.name, scenario.name), live_stats)
    });
    timeline.push(phase(EventKind::PhaseStarted, Phase::Run));
    let run = run_scenario(driver.clone(), scenario, opts, abort.clone()).await;
    if let Some(p) = progress {
        p.finish().await;
    }
    timeline.push(phase(EventKind::PhaseStarted, Phase::Teardown));
    let teardown_error = teardown(driver.as_ref()).await;
    timeline.push(phase(EventKind::PhaseFinished, Phase::Teardown));
    if let Some(r) = rig.and_then(|r| Arc::try_unwrap(r).ok()) {
        r.finish().await;
    }
    for f in &run.faults {
        let mut e = TimelineEvent::now(EventKind::Fault)
            .target(&live.spec.name)
            .scenario(&scenario.name)
            .detail(format!(
                "{} ({}): {}{}",
                f.action.as_str(),
                f.fault,
                if f.ok { "" } else { "not done: " },
                f.detail
            ));
        e.unix_ms = f.unix_ms;
        timeline.push(e);
    }
    if run
        .faults
        .iter()
        .any(|f| f.ok && matches!(f.action, FaultKind::Restart | FaultKind::Start))
    {
        record.notes.push(format!(
            "{} was started afresh mid-run and came back empty: the writes it had acknowledged are lost by the emulator, which keeps data in memory, not by the service it stands in for",
            live.spec.name
        ));
    }
    let history = record_run(&mut record, run);
    if let (ScenarioStatus::Ran { teardown_error: t, .. }, Some(e)) =
        (&mut record.status, teardown_error)
    {
        // After a fault schedule the original stand-in may be dead by design: its
        // account of that is no explanation.
        *t = Some(if record.faults.is_empty() { backend_failure(live, e) } else { e });
    }
    (record, history)
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
