//! `assay run`: load scenarios, bring targets up, run every scenario on every target,
//! tear down, stop what was started — recording what happened in the run record — then
//! hand the stored record to the judge and the reports (`report_cmd::finish`). Exit code
//! 0 pass, 1 a check or threshold failed, 2 the run could not be done.

use crate::faults::Faults;
use crate::load::load_all;
use crate::run_setup::{given_run_id, plan, take_shard};
use crate::scenario_run::{run_isolation, run_one, Knobs, Timeline};
use crate::targets::{bring_up, connect_file_target, guard, LiveTarget};
use crate::{error_line, status, workspace_root, EmulatorMode, EXIT_CANNOT_RUN};
use assay_core::record::{
    EventKind, Machine, RunRecord, TargetRecord, TimelineEvent, RECORD_SCHEMA_VERSION,
};
use assay_core::target_file::FileTarget;
use assay_core::threshold::parse_duration_ns;
use assay_core::{HistoryEvent, TargetSpec};
use assay_engine::AbortSignal;
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
    /// Compare this run against a baseline run directory at the end (`assay compare`);
    /// a regression exits 1.
    #[arg(long)]
    baseline: Option<PathBuf>,
    #[command(flatten)]
    tolerance: crate::compare_cmd::ToleranceArgs,
    /// Run as shard INDEX of COUNT (from 0, as a Kubernetes Indexed Job numbers them): this
    /// run takes its share of every workload's clients, rate and op bound, so the shards
    /// together produce the configured load; `assay merge` joins their run directories.
    #[arg(long, value_name = "INDEX/COUNT")]
    shard: Option<String>,
    /// The run id (default: a new one). Shards of one run share it.
    #[arg(long)]
    run_id: Option<String>,
    /// Allow targets whose endpoint is not on this machine (a real service). Without it
    /// such a target is refused before any connection or name lookup.
    #[arg(long)]
    allow_real: bool,
    /// With --allow-real: run without asking to confirm the plan (needed without a
    /// terminal).
    #[arg(long)]
    yes: bool,
}

/// A duration flag (`5s`, `500ms`, `1h`: the scenario files' duration syntax) of at least
/// `at_least_ns`.
pub(crate) fn duration_arg(flag: &str, text: &str, at_least_ns: f64) -> Result<Duration, String> {
    match parse_duration_ns(text) {
        Some(ns) if ns >= at_least_ns => Ok(Duration::from_nanos(ns as u64)),
        _ => Err(format!(
            "{flag} `{text}` is not a duration{}; write e.g. 5s or 500ms",
            if at_least_ns > 0.0 {
                " of at least 1ms"
            } else {
                ""
            }
        )),
    }
}

pub async fn run_command(args: &RunArgs, file_targets: &[FileTarget]) -> u8 {
    let durations = duration_arg("--op-timeout", &args.op_timeout, 1e6)
        .and_then(|t| Ok((t, duration_arg("--drain-grace", &args.drain_grace, 0.0)?)));
    let (op_timeout, drain_grace) = match durations {
        Ok(d) => d,
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    let tolerance = match args.tolerance.parse() {
        Ok(t) => t,
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    if let Some(base) = &args.baseline {
        if let Err(e) = RunRecord::load(base) {
            error_line(format!("--baseline: {e}"));
            return EXIT_CANNOT_RUN;
        }
    }
    let (mut scenarios, isolation_tests) = match load_all(&args.scenarios) {
        Ok(loaded) => (loaded.scenarios, loaded.isolation_tests),
        Err(errors) => {
            for e in errors {
                error_line(e);
            }
            return EXIT_CANNOT_RUN;
        }
    };
    let shard = match args
        .shard
        .as_deref()
        .map(|text| take_shard(&mut scenarios, text, args.run_id.is_some()))
    {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    // Each shard's clients draw their own keys and ops.
    let seed = shard.map_or(args.seed, |s| {
        args.seed ^ u64::from(s.index + 1).wrapping_mul(0xa076_1d64_78bd_642f)
    });
    let mut specs = Vec::new();
    for name in &args.targets {
        match TargetSpec::resolve(name.trim(), file_targets) {
            Ok(s) if !specs.contains(&s) => specs.push(s),
            Ok(_) => {}
            Err(e) => {
                error_line(format!("--target: {e}"));
                return EXIT_CANNOT_RUN;
            }
        }
    }
    if let Err(e) = guard(&specs, args.allow_real, args.yes, &plan(&scenarios)) {
        error_line(e);
        return EXIT_CANNOT_RUN;
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

    let (run_id, short_id) = match &args.run_id {
        Some(id) => match given_run_id(id) {
            Ok(ids) => ids,
            Err(e) => {
                error_line(e);
                return EXIT_CANNOT_RUN;
            }
        },
        None => new_run_id(),
    };
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
        let (run_dir, mode, faults, timeline) =
            (run_dir.clone(), args.emulators, &faults, &timeline);
        async move {
            let Some(backend) = spec.local else {
                let file = spec
                    .remote
                    .as_ref()
                    .expect("a target is local or from a file");
                let r = connect_file_target(spec, file);
                let line = match &r {
                    Ok(t) => format!("connecting to {}", t.endpoint.display_safe()),
                    Err(e) => format!("cannot connect: {e}"),
                };
                status(&format!("{}: {line}", spec.name));
                return r;
            };
            status(&format!(
                "{}: starting {}",
                spec.name,
                backend.description()
            ));
            timeline.push(
                TimelineEvent::now(EventKind::BackendStarting)
                    .target(&spec.name)
                    .detail(backend.description()),
            );
            let r = bring_up(spec, backend, mode, &run_dir, faults).await;
            let (kind, line) = match &r {
                Ok(t) => (
                    EventKind::BackendReady,
                    format!("ready at {}", t.endpoint.display_safe()),
                ),
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
        seed,
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
            let before = assay_emulators::cpu_sample();
            let (mut record, history) =
                run_one(up, loaded, namespace, &knobs, &abort, &timeline).await;
            record.host = before
                .zip(assay_emulators::cpu_sample())
                .and_then(|(b, a)| a.load_since(&b));
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
                let restarted = match spec.local {
                    Some(backend) => {
                        bring_up(spec, backend, args.emulators, &run_dir, &faults).await
                    }
                    None => connect_file_target(
                        spec,
                        spec.remote
                            .as_ref()
                            .expect("a target is local or from a file"),
                    ),
                };
                match restarted {
                    Ok(l) => live = Some(l),
                    Err(e) => {
                        target.start_error = Some(format!("restarting after a fault scenario: {e}"))
                    }
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
        error_line(format!(
            "cannot write the run to {}: {e}",
            run_dir.display()
        ));
        return EXIT_CANNOT_RUN;
    }
    drop(histories);
    // Judged and rendered from what was stored, exactly as `assay report` does.
    let code =
        crate::report_cmd::finish(&run_dir, args.baseline.as_deref().map(|b| (b, &tolerance)));
    match (&args.baseline, code) {
        (Some(base), c) if c != EXIT_CANNOT_RUN => c.max(crate::compare_cmd::compare_runs(
            base, &run_dir, &tolerance, None,
        )),
        _ => code,
    }
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
