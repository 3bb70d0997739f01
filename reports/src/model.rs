//! The report model: what `report.json` holds. Bump `REPORT_SCHEMA_VERSION` on any
//! incompatible change; additions are compatible.

pub use assay_check::judge::{FidelityCell, FidelityMatrix, FidelityRow};
pub use assay_check::Verdict;
use assay_check::{StepVerdict, ThresholdResult};
pub use assay_core::record::{LoadConfig, Machine};
use assay_core::Measurement;
use assay_core::{Capability, LatencyHistograms, OpKind, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

pub const REPORT_SCHEMA_VERSION: u32 = 1;

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
    /// The load that produced the figures below.
    pub load: LoadConfig,
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
    /// The workload's load phase: rows, time, rows/s and the bulk path used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_phase: Option<assay_core::record::LoadPhaseRecord>,
    /// Fault figures: each client's unavailability windows (first failure → first
    /// success after it) and what failed or was left indeterminate inside them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<assay_check::judge::faults::Availability>,
    /// Per fault carried out: how long until every client got through again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recoveries: Vec<assay_check::judge::faults::Recovery>,
    /// What the fault schedule did, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<assay_core::record::FaultEvent>,
    /// Jepsen set-style account of every appended element against the final read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_account: Option<assay_check::judge::faults::SetAccount>,
    /// One verdict per consistency model in the scenario's `checks`, with its evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consistency: Vec<assay_check::ConsistencyVerdict>,
    /// For the Hermitage-style isolation suite: isolation level × anomaly, observed
    /// against the database's documented behaviour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_matrix: Option<assay_core::isolation::IsolationMatrix>,
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
    pub indeterminate: u64,
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
                indeterminate: s.indeterminate,
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
    pub verdict: Verdict,
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
