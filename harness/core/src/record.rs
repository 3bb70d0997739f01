//! The run record: one typed value holding everything a run observed — who ran what,
//! with which load, on which stand-in, what every target × scenario measured (HDR
//! histograms per op × outcome, the per-second series), what native steps observed, and
//! the timeline of backend, phase and (later) fault events.
//!
//! A record holds observations only; it decides nothing. The judge (`assay-check`) turns
//! it into verdicts, and the reports (`assay-reports`) are functions of the two. It is
//! written as `record.json` beside `history.jsonl` and the `.hlog` files, and read back
//! by `RunRecord::load`, so a stored run can be judged and rendered again
//! (`assay report DIR`). This module's file I/O is the one exception to core's purity:
//! reading and writing that one file.

use crate::driver::Capability;
use crate::isolation::{IsolationLevel, IsolationMatrix};
use crate::metrics::{IntervalSeries, LatencyHistograms};
use crate::native::NativeOutcome;
use crate::op::OpKind;
use crate::scenario::{KeyDistribution, LoadMode, Scenario, ScenarioKind, ValueSize};
use crate::target::Family;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Bump on any incompatible change of `record.json`; additions are compatible.
pub const RECORD_SCHEMA_VERSION: u32 = 1;
/// The record's file name in a run directory.
pub const RECORD_FILE: &str = "record.json";

/// Everything one `assay run` observed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema_version: u32,
    pub run_id: String,
    pub assay_version: String,
    pub seed: u64,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// `started_at` in milliseconds since the Unix epoch (the `.hlog` start time).
    pub started_unix_ms: u64,
    pub machine: Machine,
    /// Set when the run was interrupted (Ctrl-C), with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub targets: Vec<TargetRecord>,
    /// Backend, phase and fault events in the order they happened.
    #[serde(default)]
    pub timeline: Vec<TimelineEvent>,
}

/// The machine the run's load generator ran on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

impl Machine {
    pub fn current() -> Self {
        Machine {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// One target of the run: the backend it reached and what each scenario did on it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetRecord {
    pub name: String,
    pub family: Family,
    /// Safe to print: no credentials.
    pub endpoint: Option<String>,
    /// The local stand-in, when one was started (e.g. "moto_server (PyPI moto)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stand_in: Option<String>,
    pub backend_version: Option<String>,
    /// Why the target could not be brought up at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_error: Option<String>,
    pub scenarios: Vec<ScenarioRecord>,
}

/// What a run record's entry is: a scenario of one of the portable kinds, or the
/// Hermitage-style isolation suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Conformance,
    Consistency,
    Failover,
    Throughput,
    Isolation,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Conformance => "conformance",
            RecordKind::Consistency => "consistency",
            RecordKind::Failover => "failover",
            RecordKind::Throughput => "throughput",
            RecordKind::Isolation => "isolation",
        }
    }
}

impl From<ScenarioKind> for RecordKind {
    fn from(k: ScenarioKind) -> Self {
        match k {
            ScenarioKind::Conformance => RecordKind::Conformance,
            ScenarioKind::Consistency => RecordKind::Consistency,
            ScenarioKind::Failover => RecordKind::Failover,
            ScenarioKind::Throughput => RecordKind::Throughput,
        }
    }
}

/// How far a scenario got on its target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ScenarioStatus {
    /// The engine ran it (possibly stopped early: `aborted`).
    Ran {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aborted: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        teardown_error: Option<String>,
    },
    /// The driver could not connect, or setup failed; nothing was run.
    NotRun { reason: String },
    /// The target lacks what the scenario needs; nothing was run.
    Unsupported {
        reason: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        missing: Vec<MissingCapability>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MissingCapability {
    pub capability: Capability,
    pub reason: String,
}

/// One scenario (or the isolation suite) on one target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScenarioRecord {
    pub name: String,
    pub file: String,
    /// sha256 of the scenario file's bytes.
    pub sha256: String,
    pub kind: RecordKind,
    /// The scenario file's text, so the run can be judged again from the record alone.
    #[serde(default)]
    pub source: String,
    /// The load that produced the figures.
    pub load: LoadConfig,
    pub status: ScenarioStatus,
    /// The driver's known limitations of this backend (e.g. an emulator's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Ops the engine ran (steps, load, workload, native steps' own ops excluded).
    pub ops: u64,
    pub elapsed_ns: u64,
    /// Latency from the intended start per op × outcome: the workload's measured window
    /// when there is a workload, else every op.
    pub latency: LatencyHistograms,
    /// Capacity / request units per op kind, as the backend reported them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_units_by_op: BTreeMap<OpKind, f64>,
    pub retries: u64,
    /// Ops per error class, e.g. {"timeout": 3}.
    #[serde(default)]
    pub error_classes: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadRecord>,
    /// The workload's load phase (`load = true`), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_phase: Option<LoadPhaseRecord>,
    /// Backend-specific steps, in the file's order, with what the driver observed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub native: Vec<NativeObservation>,
    /// The isolation suite: each level × test, observed beside the documented behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationMatrix>,
    /// Every fault the schedule started or ended, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultEvent>,
    /// What else the machine was doing while the scenario ran (Linux; `None` elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostLoad>,
}

/// The machine's CPU while a scenario ran, averaged over it, in cores: all of it, the
/// part used by processes outside this run (neither Assay nor a stand-in it started),
/// and the part a hypervisor gave to other guests (steal). Two runs compared are only
/// comparable when the second is alike.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostLoad {
    pub cpus: usize,
    pub busy_cores: f64,
    pub other_cores: f64,
    /// Time this (virtual) machine was ready to run but the host ran someone else.
    #[serde(default)]
    pub stolen_cores: f64,
}

impl HostLoad {
    /// The CPU taken from this run by anything else: other processes and other guests.
    pub fn taken_cores(&self) -> f64 {
        self.other_cores + self.stolen_cores
    }
}

/// One action of the fault schedule as it was carried out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// Wall clock, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Since the scenario's run started (the history's clock).
    pub at_ns: u64,
    /// What was done: the fault's kind, or its undo (`start`, `resume`, `heal`).
    pub action: crate::scenario::FaultKind,
    /// The scheduled fault it belongs to, e.g. `partition for 2s`.
    pub fault: String,
    /// Whether it was done; `detail` says what happened or why not.
    pub ok: bool,
    pub detail: String,
}

impl ScenarioRecord {
    /// A record of a scenario that has not run yet.
    pub fn new(
        name: &str,
        file: &str,
        sha256: &str,
        kind: RecordKind,
        source: String,
        load: LoadConfig,
    ) -> Self {
        ScenarioRecord {
            name: name.to_string(),
            file: file.to_string(),
            sha256: sha256.to_string(),
            kind,
            source,
            load,
            status: ScenarioStatus::NotRun {
                reason: "did not run".into(),
            },
            notes: Vec::new(),
            ops: 0,
            elapsed_ns: 0,
            latency: LatencyHistograms::default(),
            request_units_by_op: BTreeMap::new(),
            retries: 0,
            error_classes: BTreeMap::new(),
            workload: None,
            load_phase: None,
            native: Vec::new(),
            isolation: None,
            faults: Vec::new(),
            host: None,
        }
    }

    /// The scenario as it ran, parsed from the stored text (`None` for the isolation
    /// suite, which has no scenario file of its own).
    pub fn scenario(&self) -> Option<Result<Scenario, crate::ScenarioError>> {
        (self.kind != RecordKind::Isolation).then(|| Scenario::parse(&self.source, &self.file))
    }
}

/// What a workload's measured window recorded beyond the latency histograms.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkloadRecord {
    pub mode: LoadMode,
    pub measured_ns: u64,
    pub ops: u64,
    /// Ops whose outcome was not `ok`.
    pub errors: u64,
    /// Open loop: the schedule's mean rate over the measured window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate: Option<f64>,
    pub late: u64,
    pub dropped: u64,
    pub abandoned: u64,
    pub warmup_ops: u64,
    /// Service time (from the actual start) per op × outcome.
    pub service: LatencyHistograms,
    /// Open loop: actual − intended start.
    #[serde(with = "crate::metrics::single_histogram")]
    pub schedule_lag: Histogram<u64>,
    /// The per-second series, by when ops ended.
    pub series: IntervalSeries,
}

/// What a workload's load phase did: rows written through the driver's bulk path, how
/// long it took, and the rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadPhaseRecord {
    /// The logical table loaded.
    pub table: String,
    /// What each bulk call did on the backend (`BulkLoadPath::method`).
    pub method: String,
    /// Calls in flight at once and rows per call.
    pub writers: u32,
    pub rows_per_call: u32,
    /// Rows the keyspace asked for.
    pub rows_planned: u64,
    /// Rows the driver reported written.
    pub rows_written: u64,
    /// Rows of calls that failed (may or may not have been applied).
    pub rows_failed: u64,
    /// Bulk calls that failed, and the first failure's message.
    pub calls_failed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// From the first call's start to the last call's end.
    pub elapsed_ns: u64,
    /// Rows written per second of `elapsed_ns`.
    pub rows_per_s: f64,
    /// Stopped by an abort before the keyspace was done.
    #[serde(default)]
    pub interrupted: bool,
}

/// One native step and what the driver observed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NativeObservation {
    pub step: String,
    /// `family.check`.
    pub native: String,
    pub documented: String,
    pub cite: String,
    /// How many portable steps of the file come before this one.
    pub after_steps: usize,
    pub outcome: NativeOutcome,
    pub elapsed_ns: u64,
}

/// The load a scenario ran with, resolved: defaults filled in, options applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadConfig {
    /// `closed` or `open`, when the scenario has a workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LoadMode>,
    /// Concurrent clients (closed loop; the start of a ramp), or the most clients of any
    /// step or consistency phase when there is no workload.
    pub clients: u32,
    /// Open loop: ops per second (the start of a ramp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageConfig>,
    pub warmup_s: f64,
    pub duration_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ops: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time_s: Option<f64>,
    /// Keys in the workload's keyspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_distribution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_size: Option<String>,
    /// Op kinds with their weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mix: Vec<MixWeight>,
    #[serde(default)]
    pub load_phase: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<IsolationLevel>,
    /// Read consistency levels the steps ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consistency: Vec<String>,
    /// As written in the scenario.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<String>,
    /// Fault options the run was started with (e.g. `spanner-abort=0.3`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    pub op_timeout_s: f64,
    pub seed: u64,
    /// `i/N` when this run was one shard of several (`--shard`); a merge of all of them
    /// has none, and the summed load of the whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixWeight {
    pub op: String,
    pub weight: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageConfig {
    pub duration_s: f64,
    pub target: f64,
}

/// Run-wide options that shape a scenario's load.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub op_timeout_s: f64,
    pub seed: u64,
    pub faults: Vec<String>,
}

impl LoadConfig {
    /// Only the run-wide options (for the isolation suite, which has no scenario file).
    pub fn of_options(options: &RunOptions) -> Self {
        LoadConfig {
            faults: options.faults.clone(),
            op_timeout_s: options.op_timeout_s,
            seed: options.seed,
            ..LoadConfig::default()
        }
    }

    /// The load `scenario` asks for, with `options` applied.
    pub fn of(scenario: &Scenario, options: &RunOptions) -> Self {
        let mut consistency: Vec<String> = scenario
            .steps
            .iter()
            .map(|s| format!("{:?}", s.consistency).to_lowercase())
            .collect();
        consistency.sort();
        consistency.dedup();
        let mut c = LoadConfig {
            clients: scenario.steps.iter().map(|s| s.clients).max().unwrap_or(0),
            isolation: scenario.isolation,
            consistency,
            thresholds: scenario.thresholds.iter().map(|t| t.to_string()).collect(),
            ..LoadConfig::of_options(options)
        };
        if let Some(cw) = &scenario.consistency {
            c.clients = c.clients.max(cw.clients);
            c.duration_s = cw.duration.as_secs_f64();
            c.max_ops = Some(cw.ops);
            c.keys = Some(u64::from(cw.keys));
        }
        if let Some(w) = &scenario.workload {
            c.mode = Some(w.mode);
            match w.mode {
                LoadMode::Closed => {
                    c.clients = w.clients;
                    c.think_time_s =
                        (!w.think_time.is_zero()).then_some(w.think_time.as_secs_f64());
                }
                LoadMode::Open => {
                    c.clients = 0;
                    c.rate_per_s = Some(w.rate);
                    c.max_in_flight = Some(w.max_in_flight);
                }
            }
            c.stages = w
                .stages
                .iter()
                .map(|s| StageConfig {
                    duration_s: s.duration.as_secs_f64(),
                    target: s.target,
                })
                .collect();
            c.warmup_s = w.warmup.as_secs_f64();
            c.duration_s = w.duration.as_secs_f64();
            c.max_ops = w.max_ops;
            c.shard = w.shard.map(|s| s.to_string());
            c.keys = Some(w.keys.count);
            c.key_distribution = Some(describe_distribution(&w.key_distribution));
            c.value_size = Some(describe_value_size(&w.value_size));
            c.mix = w
                .mix
                .iter()
                .map(|(op, weight)| MixWeight {
                    op: format!("{op:?}").to_lowercase(),
                    weight: *weight,
                })
                .collect();
            c.load_phase = w.load;
        }
        c
    }
}

fn describe_distribution(d: &KeyDistribution) -> String {
    match d {
        KeyDistribution::Uniform => "uniform".into(),
        KeyDistribution::Zipfian { theta } => format!("zipfian (theta {theta})"),
        KeyDistribution::Latest { theta } => format!("latest (theta {theta})"),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn describe_value_size(v: &ValueSize) -> String {
    match v {
        ValueSize::Fixed(n) => format!("{n} B"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// One event of the run's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Wall clock, milliseconds since the Unix epoch (shards align on it).
    pub unix_ms: u64,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    BackendStarting,
    BackendReady,
    BackendFailed,
    BackendStopped,
    PhaseStarted,
    PhaseFinished,
    /// A fault of the schedule started or ended (`detail` says which and how it went).
    Fault,
    Interrupted,
}

/// The phases of one scenario on one target, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Connect,
    Setup,
    /// Steps, load, warmup, workload, consistency phase and native steps (the engine).
    Run,
    Teardown,
    Isolation,
}

impl TimelineEvent {
    pub fn now(kind: EventKind) -> Self {
        let unix_ms = crate::cleanup::unix_ms_now();
        TimelineEvent {
            unix_ms,
            kind,
            target: None,
            scenario: None,
            phase: None,
            detail: String::new(),
        }
    }

    pub fn target(mut self, target: &str) -> Self {
        self.target = Some(target.to_string());
        self
    }

    pub fn scenario(mut self, scenario: &str) -> Self {
        self.scenario = Some(scenario.to_string());
        self
    }

    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = Some(phase);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}; is it a run directory written by `assay run`?")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Format {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: record schema version {found}, this Assay reads version {RECORD_SCHEMA_VERSION}; re-run with this version or use the Assay that wrote it")]
    Version { path: String, found: u32 },
}

impl RunRecord {
    pub fn to_json(&self) -> String {
        // A record is plain data with string keys; serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a record; `path` names it in errors.
    pub fn from_json(text: &str, path: &str) -> Result<RunRecord, RecordError> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let format = |e: serde_json::Error| RecordError::Format {
            path: path.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        let v: Version = serde_json::from_str(text).map_err(format)?;
        if v.schema_version != RECORD_SCHEMA_VERSION {
            return Err(RecordError::Version {
                path: path.to_string(),
                found: v.schema_version,
            });
        }
        serde_json::from_str(text).map_err(format)
    }

    /// Writes `record.json` into `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<std::path::PathBuf> {
        let path = dir.join(RECORD_FILE);
        std::fs::write(&path, self.to_json())?;
        Ok(path)
    }

    /// Reads `dir/record.json` (or the file itself when `dir` names one).
    pub fn load(dir: &Path) -> Result<RunRecord, RecordError> {
        let path = if dir.is_dir() {
            dir.join(RECORD_FILE)
        } else {
            dir.to_path_buf()
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| RecordError::Io {
            path: shown.clone(),
            source,
        })?;
        RunRecord::from_json(&text, &shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Outcome;

    fn record() -> RunRecord {
        let scenario_text = "format = 1\nname = \"s\"\nkind = \"conformance\"\n[setup]\ntables = [{ name = \"kv\" }]\n[[steps]]\nname = \"w\"\nop = \"write\"\ntable = \"kv\"\nkey = \"k\"\nvalue = \"v\"\nexpect = { outcome = \"ok\" }\n";
        let mut s = ScenarioRecord::new(
            "s",
            "s.toml",
            "00",
            RecordKind::Conformance,
            scenario_text.into(),
            LoadConfig::default(),
        );
        s.latency.record(OpKind::Write, Outcome::Ok, 1_000);
        s.status = ScenarioStatus::Ran {
            aborted: None,
            teardown_error: None,
        };
        RunRecord {
            schema_version: RECORD_SCHEMA_VERSION,
            run_id: "r".into(),
            assay_version: "0".into(),
            seed: 1,
            started_at: "a".into(),
            started_unix_ms: 0,
            finished_at: "b".into(),
            machine: Machine::current(),
            interrupted: None,
            targets: vec![TargetRecord {
                name: "postgres".into(),
                family: Family::Postgres,
                endpoint: None,
                stand_in: None,
                backend_version: None,
                start_error: None,
                scenarios: vec![s],
            }],
            timeline: vec![TimelineEvent::now(EventKind::BackendReady).target("postgres")],
        }
    }

    #[test]
    fn a_record_round_trips_and_its_scenario_parses_again() {
        let dir = std::env::temp_dir().join(format!("assay-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = record();
        r.save(&dir).unwrap();
        let back = RunRecord::load(&dir).unwrap();
        assert_eq!(back.to_json(), r.to_json());
        let s = back.targets[0].scenarios[0].scenario().unwrap().unwrap();
        assert_eq!(s.steps.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_or_newer_record_is_refused_with_its_place() {
        let e = RunRecord::from_json("{\"schema_version\": 1,\n \"run_id\": 3}", "x/record.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x/record.json:"), "{e}");
        let e = RunRecord::from_json("{\"schema_version\": 99}", "x/record.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 99"), "{e}");
    }
}
