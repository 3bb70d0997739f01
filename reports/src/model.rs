//! The report model: what `report.json` holds. Bump `REPORT_SCHEMA_VERSION` on any
//! incompatible change; additions are compatible.

use assay_check::{StepVerdict, ThresholdResult};
use assay_core::{Capability, LatencyHistograms, OpKind, Outcome};
use assay_core::{Measurement, NativeVerdict};
use serde::Serialize;
use std::collections::BTreeMap;

pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check and threshold held.
    Pass,
    /// A check or threshold failed (exit code 1).
    Fail,
    /// The run could not be done: backend down, bad setup (exit code 2).
    Error,
    /// The target cannot express what the scenario needs; nothing was verified.
    Unsupported,
    /// The target accepted every step but cannot show whether the documented behaviour
    /// holds (e.g. consistency levels on a single-replica stand-in); not a pass.
    Unverified,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Unsupported => "unsupported",
            Verdict::Unverified => "unverified",
        }
    }

    /// The process exit code this verdict asks for (unsupported does not fail a run).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass | Verdict::Unsupported | Verdict::Unverified => 0,
            Verdict::Fail => 1,
            Verdict::Error => 2,
        }
    }

    /// The worse of two verdicts (error > fail > pass > unverified > unsupported).
    pub fn worst(self, other: Verdict) -> Verdict {
        let rank = |v: Verdict| match v {
            Verdict::Unsupported => 0,
            Verdict::Unverified => 1,
            Verdict::Pass => 2,
            Verdict::Fail => 3,
            Verdict::Error => 4,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[derive(Clone, Debug, Serialize)]
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

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub run_id: String,
    pub assay_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub seed: u64,
    pub machine: Machine,
    pub verdict: Verdict,
    /// Set when the run stopped early (Ctrl-C, backend down), with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    pub targets: Vec<TargetReport>,
    /// For conformance scenarios: step × target → verdict, with what each target did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fidelity: Vec<FidelityMatrix>,
}

impl RunReport {
    /// The run's verdict from its targets (and an abort, which makes it an error).
    pub fn overall_verdict(&self) -> Verdict {
        let base = if self.aborted.is_some() {
            Verdict::Error
        } else {
            Verdict::Unsupported
        };
        self.targets.iter().fold(base, |v, t| v.worst(t.verdict))
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    pub name: String,
    pub family: String,
    /// Safe to print: no credentials.
    pub endpoint: Option<String>,
    pub backend_version: Option<String>,
    pub verdict: Verdict,
    /// Why the target could not be run at all (start failed, backend down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub scenarios: Vec<ScenarioReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Unsupported {
    pub capability: Capability,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    /// sha256 of the scenario file's bytes.
    pub sha256: String,
    pub kind: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unsupported: Vec<Unsupported>,
    pub ops: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    pub throughput_ops_per_s: f64,
    pub latency: Vec<LatencyRow>,
    /// All ops of the scenario, every outcome.
    pub overall_latency: Option<LatencyRow>,
    pub steps: Vec<StepVerdict>,
    pub thresholds: Vec<ThresholdResult>,
    /// Sum of request units / capacity units the backend reported, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_units: Option<f64>,
    /// The same, per op kind (RU for Cosmos DB, RCU + WCU for DynamoDB).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_units_by_op: BTreeMap<OpKind, f64>,
    /// The driver's known limitations of this backend (e.g. an emulator's), which explain
    /// figures such as retries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Backend-specific conformance steps, in the scenario's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub native_steps: Vec<NativeStepReport>,
    pub retries: u64,
    /// Ops grouped by error class, e.g. {"timeout": 3}.
    pub error_classes: std::collections::BTreeMap<String, u64>,
    /// What the workload measured, when the scenario has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadReport>,
    /// One verdict per consistency model in the scenario's `checks`, with its evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consistency: Vec<assay_check::ConsistencyVerdict>,
    /// For the Hermitage-style isolation suite: isolation level × anomaly, observed
    /// against the database's documented behaviour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_matrix: Option<assay_core::isolation::IsolationMatrix>,
}

impl ScenarioReport {
    /// A report with nothing run yet: verdict `error` until something says otherwise.
    pub fn new(name: &str, file: &str, sha256: &str, kind: &str) -> Self {
        ScenarioReport {
            name: name.to_string(),
            file: file.to_string(),
            sha256: sha256.to_string(),
            kind: kind.to_string(),
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
            request_units_by_op: BTreeMap::new(),
            notes: Vec::new(),
            native_steps: Vec::new(),
            retries: 0,
            error_classes: Default::default(),
            workload: None,
            consistency: Vec::new(),
            isolation_matrix: None,
        }
    }
}

/// A workload's measured window: throughput, the open loop's schedule keeping, service
/// time, and the 1 s interval series. `latency` of the scenario is this window's.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadReport {
    /// `closed` or `open`.
    pub mode: String,
    pub measured_s: f64,
    pub ops: u64,
    pub errors: u64,
    pub throughput_ops_per_s: f64,
    /// Open loop: the schedule's mean rate over the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_rate_ops_per_s: Option<f64>,
    /// Open loop: ops that started ≥ 1 ms after their intended time (all in-flight slots
    /// busy); their latency still counts from the intended time.
    pub late: u64,
    /// Open loop: ops due before issuing stopped that never started.
    pub dropped: u64,
    /// Ops still in flight when an abort's drain grace ran out.
    pub abandoned: u64,
    /// Ops run during the warmup, not measured.
    pub warmup_ops: u64,
    /// Service time (from the actual start), per op × outcome.
    pub service_time: Vec<LatencyRow>,
    /// Open loop: actual − intended start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_lag: Option<LatencyRow>,
    /// One row per second of the measured window, by when ops ended.
    pub intervals: Vec<IntervalRow>,
}

/// One interval of the series: ops that ended in it and their latency (2 significant
/// digits).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalRow {
    /// Seconds from the start of the measured window to the interval's start.
    pub t_s: f64,
    pub ops: u64,
    pub errors: u64,
    pub ops_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl IntervalRow {
    pub fn series(intervals: &assay_core::metrics::IntervalSeries) -> Vec<IntervalRow> {
        let secs = intervals.interval_ns() as f64 / 1e9;
        intervals
            .summaries()
            .into_iter()
            .map(|s| IntervalRow {
                t_s: s.start_ns as f64 / 1e9,
                ops: s.ops,
                errors: s.errors,
                ops_per_s: s.ops as f64 / secs,
                p50_us: s.p50_ns as f64 / 1e3,
                p99_us: s.p99_ns as f64 / 1e3,
                max_us: s.max_ns as f64 / 1e3,
            })
            .collect()
    }
}

/// Latency percentiles in microseconds, measured from each op's intended start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyRow {
    pub op: String,
    pub outcome: String,
    pub count: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl LatencyRow {
    pub fn from_histogram(op: &str, outcome: &str, h: &hdrhistogram::Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1e3;
        LatencyRow {
            op: op.to_string(),
            outcome: outcome.to_string(),
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1e3,
        }
    }

    /// One row per op kind × outcome, then the overall row (`None` when nothing ran).
    pub fn table(latencies: &LatencyHistograms) -> (Vec<LatencyRow>, Option<LatencyRow>) {
        let rows = latencies
            .iter()
            .map(|(k, o, h)| LatencyRow::from_histogram(k.as_str(), o.as_str(), h))
            .collect();
        let all = latencies.combined(None::<OpKind>, &Outcome::ALL);
        let overall = (!all.is_empty()).then(|| LatencyRow::from_histogram("all", "all", &all));
        (rows, overall)
    }
}

/// One backend-specific conformance step as it ran on one target.
#[derive(Clone, Debug, Serialize)]
pub struct NativeStepReport {
    pub step: String,
    /// `family.check`.
    pub native: String,
    pub verdict: NativeVerdict,
    pub observed: String,
    pub documented: String,
    pub cite: String,
    /// How many portable steps of the file come before this one.
    pub after_steps: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, f64>,
    pub elapsed_s: f64,
}

/// A conformance scenario's steps (portable and native, in file order) × the targets it
/// ran on: what each target did against what the documentation promises.
#[derive(Clone, Debug, Serialize)]
pub struct FidelityMatrix {
    pub scenario: String,
    pub targets: Vec<String>,
    pub rows: Vec<FidelityRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FidelityRow {
    pub step: String,
    /// `family.check` of a native step; absent for a portable step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documented: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cite: Option<String>,
    /// One cell per target, in `targets` order.
    pub cells: Vec<FidelityCell>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FidelityCell {
    pub verdict: NativeVerdict,
    pub observed: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
}

impl FidelityCell {
    fn plain(verdict: NativeVerdict, observed: String) -> Self {
        FidelityCell {
            verdict,
            observed,
            evidence: Vec::new(),
            measurements: Vec::new(),
        }
    }
}

impl FidelityMatrix {
    /// One matrix per scenario that has native steps or is of kind `conformance`, over
    /// every target that ran it (a target that could not run it shows why in each cell).
    pub fn from_targets(targets: &[TargetReport]) -> Vec<FidelityMatrix> {
        let mut names: Vec<&str> = Vec::new();
        for t in targets {
            for s in &t.scenarios {
                let conformance = s.kind == "conformance" || !s.native_steps.is_empty();
                if conformance && !names.contains(&s.name.as_str()) {
                    names.push(&s.name);
                }
            }
        }
        names
            .into_iter()
            .map(|name| {
                let runs: Vec<(&TargetReport, &ScenarioReport)> = targets
                    .iter()
                    .filter_map(|t| t.scenarios.iter().find(|s| s.name == name).map(|s| (t, s)))
                    .collect();
                // The row order and texts come from the run with the most steps (a run
                // that stopped early has fewer).
                let template = runs
                    .iter()
                    .map(|(_, s)| *s)
                    .max_by_key(|s| s.steps.len() + s.native_steps.len())
                    .expect("a name comes from at least one run");
                let rows = template_rows(template)
                    .into_iter()
                    .map(|(step, native, documented, cite)| FidelityRow {
                        cells: runs.iter().map(|(_, s)| cell(s, &step)).collect(),
                        native,
                        step,
                        documented,
                        cite,
                    })
                    .collect();
                FidelityMatrix {
                    scenario: name.to_string(),
                    targets: runs.iter().map(|(t, _)| t.name.clone()).collect(),
                    rows,
                }
            })
            .collect()
    }
}

type TemplateRow = (String, Option<String>, Option<String>, Option<String>);

/// (step, native check, documented, cite) in file order: native steps sit after
/// `after_steps` portable ones.
fn template_rows(s: &ScenarioReport) -> Vec<TemplateRow> {
    let mut rows = Vec::new();
    let mut native = s.native_steps.iter().peekable();
    for i in 0..=s.steps.len() {
        while let Some(n) = native.next_if(|n| n.after_steps <= i) {
            rows.push((
                n.step.clone(),
                Some(n.native.clone()),
                Some(n.documented.clone()),
                Some(n.cite.clone()),
            ));
        }
        if let Some(p) = s.steps.get(i) {
            rows.push((p.step.clone(), None, p.documented.clone(), p.cite.clone()));
        }
    }
    rows
}

fn cell(s: &ScenarioReport, step: &str) -> FidelityCell {
    if let Some(n) = s.native_steps.iter().find(|n| n.step == step) {
        return FidelityCell {
            verdict: n.verdict,
            observed: n.observed.clone(),
            evidence: n.evidence.clone(),
            measurements: n.measurements.clone(),
        };
    }
    if let Some(p) = s.steps.iter().find(|p| p.step == step) {
        let observed = match p.examples.first() {
            Some(m) => format!(
                "{} of {} ops did not match; e.g. key {}: expected {}, observed {}",
                p.mismatches, p.planned, m.key, m.expected, m.observed
            ),
            None if p.completed < p.planned => {
                format!("{} of {} ops completed", p.completed, p.planned)
            }
            None => format!("{} ops as expected", p.completed),
        };
        let verdict = if p.passed && p.completed == p.planned {
            NativeVerdict::Pass
        } else {
            NativeVerdict::Deviates
        };
        return FidelityCell::plain(verdict, observed);
    }
    let (verdict, observed) = match s.verdict {
        Verdict::Unsupported => (NativeVerdict::Unsupported, s.reason.clone()),
        _ => (NativeVerdict::Error, s.reason.clone()),
    };
    FidelityCell::plain(verdict, observed.unwrap_or_else(|| "did not run".into()))
}
