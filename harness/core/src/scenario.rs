//! Scenario format v1 (TOML): what to set up, which steps to run with which expected
//! results, an optional closed-loop workload, checks and thresholds.
//!
//! Parsing is strict: unknown fields and wrong types are errors reported as
//! `file:line:col: what is wrong and how to fix it`. See `docs/scenario-format.md`.

use crate::driver::Capability;
use crate::isolation::IsolationLevel;
use crate::native::NativeStep;
use crate::op::{Consistency, Op, OpKind, Outcome};
use crate::threshold::{parse_duration_ns, Threshold};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

pub const SCENARIO_FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioKind {
    Conformance,
    Consistency,
    Failover,
    Throughput,
}

/// A scenario file that parsed and validated.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub kind: ScenarioKind,
    pub tables: Vec<TableSpec>,
    pub steps: Vec<Step>,
    /// Backend-specific steps, each placed after `after` portable steps.
    pub native: Vec<NativeStep>,
    pub workload: Option<Workload>,
    pub checks: Vec<CheckKind>,
    pub thresholds: Vec<Threshold>,
    /// A phase producing a history for the consistency checkers.
    pub consistency: Option<ConsistencyWorkload>,
    /// The isolation level transactions should run at, where the backend lets one choose.
    pub isolation: Option<IsolationLevel>,
    explicit_requires: Vec<Capability>,
}

impl Scenario {
    /// Every capability the scenario needs: the declared ones plus those its ops imply.
    pub fn required_capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self.explicit_requires.clone();
        for step in &self.steps {
            caps.push(step.capability());
        }
        if let Some(w) = &self.workload {
            caps.extend(w.capabilities());
        }
        if let Some(c) = &self.consistency {
            caps.extend(match c.kind {
                ConsistencyWorkloadKind::ListAppend => {
                    vec![Capability::Txn, Capability::Append, Capability::Read]
                }
                ConsistencyWorkloadKind::Register => {
                    vec![
                        Capability::Read,
                        Capability::Write,
                        Capability::CompareAndSet,
                    ]
                }
            });
        }
        caps.sort();
        caps.dedup();
        caps
    }
}

/// A table the scenario needs, created under the run's namespace by `Driver::setup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub name: String,
}

/// Keys `{prefix}{start}` … `{prefix}{start+count-1}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRange {
    pub prefix: String,
    #[serde(default)]
    pub start: u64,
    pub count: u64,
    /// Set for a step's single `key = "..."`: the prefix is the whole key.
    #[serde(skip)]
    pub literal: bool,
}

impl KeyRange {
    pub fn key(&self, i: u64) -> String {
        if self.literal {
            self.prefix.clone()
        } else {
            format!("{}{}", self.prefix, self.start + i)
        }
    }
}

/// What a step's every op must return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Outcome,
    /// For reads: the value, with `{i}` for the key's index and `{key}` for the key.
    pub value: Option<String>,
    /// For reads: whether the row exists.
    pub found: Option<bool>,
}

/// One step of a conformance sequence: the same op over a key range, run by `clients`
/// concurrent clients, each result compared with `expect`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    pub op: OpKind,
    pub table: String,
    pub keys: KeyRange,
    pub value: Option<String>,
    pub by: Option<i64>,
    pub element: Option<i64>,
    pub consistency: Consistency,
    pub clients: u32,
    pub expect: Expect,
    /// The behaviour the backend's documentation promises, for the fidelity matrix.
    pub documented: Option<String>,
    /// Where that is documented (a URL).
    pub cite: Option<String>,
}

impl Step {
    pub fn capability(&self) -> Capability {
        if self.op == OpKind::Read && self.consistency != Consistency::Strong {
            Capability::WeakReads
        } else {
            Capability::for_kind(self.op)
        }
    }

    /// The op for the step's `i`-th key.
    pub fn op_at(&self, i: u64) -> Op {
        let key = self.keys.key(i);
        let value = || fill_template(self.value.as_deref().unwrap_or(""), i, &key);
        let table = self.table.clone();
        match self.op {
            OpKind::Read => Op::Read {
                table,
                key,
                consistency: self.consistency,
            },
            OpKind::Write => Op::Write {
                table,
                value: value(),
                key,
            },
            OpKind::InsertIfAbsent => Op::InsertIfAbsent {
                table,
                value: value(),
                key,
            },
            OpKind::CompareAndSet => Op::CompareAndSet {
                table,
                value: value(),
                key,
                expected_version: None,
            },
            OpKind::Delete => Op::Delete { table, key },
            OpKind::Increment => Op::Increment {
                table,
                key,
                by: self.by.unwrap_or(1),
            },
            OpKind::Append => Op::Append {
                table,
                key,
                element: self.element.unwrap_or(i as i64),
            },
            OpKind::Query => Op::Query {
                table,
                prefix: key,
                limit: None,
            },
            // Rejected by validation: steps cannot express multi-op requests in format v1.
            OpKind::Batch | OpKind::Txn => Op::Batch { ops: Vec::new() },
        }
    }

    /// The value `expect.value` asks for at index `i`.
    pub fn expected_value(&self, i: u64) -> Option<String> {
        let key = self.keys.key(i);
        self.expect
            .value
            .as_deref()
            .map(|t| fill_template(t, i, &key))
    }
}

pub fn fill_template(template: &str, i: u64, key: &str) -> String {
    template
        .replace("{i}", &i.to_string())
        .replace("{key}", key)
}

/// A load phase after the steps: closed loop (N clients, each issuing its next op when the
/// previous one ended) or open loop (ops issued at intended times at an arrival rate),
/// optionally ramped along stages, bounded by time and by count.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub mode: LoadMode,
    /// Closed loop: concurrent clients (the starting number when `stages` ramp them).
    pub clients: u32,
    /// Closed loop: pause between a client's ops, not counted in latency.
    pub think_time: Duration,
    /// Open loop: ops per second (the starting rate when `stages` ramp it).
    pub rate: f64,
    /// Open loop: ops in flight at most; a due op waits for a free slot and counts as late.
    pub max_in_flight: u32,
    /// Ramps of clients (closed loop) or rate (open loop), linear within each stage.
    pub stages: Vec<Stage>,
    /// Run but not measured, at the start of the timeline.
    pub warmup: Duration,
    /// The measured part of the timeline (after the warmup).
    pub duration: Duration,
    /// Bound on measured ops.
    pub max_ops: Option<u64>,
    pub table: String,
    /// The keyspace: `{prefix}{start + i}` for i in 0..count, zero-padded to `key_digits`.
    pub keys: KeyRange,
    /// Zero-pad key indexes to this many digits (0: no padding).
    pub key_digits: u32,
    pub key_distribution: KeyDistribution,
    /// Ops with their relative weights.
    pub mix: Vec<(MixOp, f64)>,
    pub value_size: ValueSize,
    /// Most rows one `scan` asks for; each scan asks for 1..=scan_length, uniformly.
    pub scan_length: u32,
    /// Write every key of the keyspace before the timeline starts (YCSB's load phase).
    pub load: bool,
    /// Record every workload op in the history (off for long throughput runs, whose
    /// histograms and interval series are kept either way).
    pub history: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    Closed,
    Open,
}

/// One ramp: from the previous level (or the starting one) to `target` over `duration`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

/// How keys are picked from the keyspace (YCSB's request distributions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Popular keys scattered over the keyspace (YCSB's scrambled zipfian).
    Zipfian {
        theta: f64,
    },
    /// Recently inserted keys are the most popular (YCSB D).
    Latest {
        theta: f64,
    },
    /// `op_fraction` of ops go to the first `data_fraction` of the keyspace.
    Hotspot {
        data_fraction: f64,
        op_fraction: f64,
    },
}

/// Sizes of written values in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueSize {
    Fixed(usize),
    Uniform {
        min: usize,
        max: usize,
    },
    /// Small sizes most frequent (zipfian over min..=max).
    Zipfian {
        min: usize,
        max: usize,
    },
}

impl ValueSize {
    pub fn max(&self) -> usize {
        match *self {
            ValueSize::Fixed(n) => n,
            ValueSize::Uniform { max, .. } | ValueSize::Zipfian { max, .. } => max,
        }
    }
}

/// What one workload op does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MixOp {
    Read,
    /// Unconditional write of an existing key (YCSB update).
    Write,
    /// Insert-if-absent of a key from the keyspace (usually present: a conflict probe).
    InsertIfAbsent,
    Delete,
    Increment,
    /// Insert of a new key after the keyspace (YCSB insert; feeds `latest`).
    Insert,
    /// A short range: `query` by a key prefix with a limit (YCSB scan).
    Scan,
    /// A read then a write of the same key by the same client (YCSB F); recorded as two ops.
    ReadModifyWrite,
    /// The TPC-B-like transaction: increment an account, read it, increment a teller and a
    /// branch, insert a history row — one `txn`.
    Tpcb,
}

impl MixOp {
    pub const ALL: [MixOp; 9] = [
        MixOp::Read,
        MixOp::Write,
        MixOp::InsertIfAbsent,
        MixOp::Delete,
        MixOp::Increment,
        MixOp::Insert,
        MixOp::Scan,
        MixOp::ReadModifyWrite,
        MixOp::Tpcb,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MixOp::Read => "read",
            MixOp::Write => "write",
            MixOp::InsertIfAbsent => "insert_if_absent",
            MixOp::Delete => "delete",
            MixOp::Increment => "increment",
            MixOp::Insert => "insert",
            MixOp::Scan => "scan",
            MixOp::ReadModifyWrite => "read_modify_write",
            MixOp::Tpcb => "tpcb",
        }
    }

    pub fn parse(s: &str) -> Option<MixOp> {
        MixOp::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The capabilities this op needs of a backend.
    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            MixOp::Read => &[Capability::Read],
            MixOp::Write => &[Capability::Write],
            MixOp::InsertIfAbsent | MixOp::Insert => &[Capability::InsertIfAbsent],
            MixOp::Delete => &[Capability::Delete],
            MixOp::Increment => &[Capability::Increment],
            MixOp::Scan => &[Capability::Query],
            MixOp::ReadModifyWrite => &[Capability::Read, Capability::Write],
            MixOp::Tpcb => &[
                Capability::Txn,
                Capability::Increment,
                Capability::Read,
                Capability::InsertIfAbsent,
            ],
        }
    }
}

/// Tables the `tpcb` op needs besides the workload's (accounts) table.
pub const TPCB_TABLES: [&str; 3] = ["tellers", "branches", "history"];
/// Accounts per branch, as in TPC-B and pgbench.
pub const TPCB_ACCOUNTS_PER_BRANCH: u64 = 100_000;
/// Tellers per branch, as in TPC-B and pgbench.
pub const TPCB_TELLERS_PER_BRANCH: u64 = 10;

impl Workload {
    /// The capabilities the workload's ops (and its load phase) need.
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self
            .mix
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .flat_map(|(m, _)| m.capabilities().iter().copied())
            .collect();
        if self.load {
            caps.push(Capability::Write);
        }
        caps.sort();
        caps.dedup();
        caps
    }

    /// Length of the whole timeline, warmup included.
    pub fn timeline(&self) -> Duration {
        if self.stages.is_empty() {
            self.warmup + self.duration
        } else {
            self.stages.iter().map(|s| s.duration).sum()
        }
    }

    /// TPC-B scale (branches) implied by the number of accounts.
    pub fn tpcb_branches(&self) -> u64 {
        (self.keys.count / TPCB_ACCOUNTS_PER_BRANCH).max(1)
    }

    /// The most clients a closed loop ever runs at once.
    pub fn max_clients(&self) -> u32 {
        self.stages
            .iter()
            .map(|s| s.target.ceil() as u32)
            .fold(self.clients, u32::max)
    }
}

/// Which checkable history a consistency workload produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsistencyWorkloadKind {
    /// Transactions of appends and reads over a few list keys (Elle's list-append).
    ListAppend,
    /// Single-key reads, writes and version compare-and-sets over a few registers.
    Register,
}

/// A load phase whose history the consistency checkers can judge: few keys, many
/// clients, unique written values, bounded by time and count.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsistencyWorkload {
    pub kind: ConsistencyWorkloadKind,
    pub table: String,
    pub clients: u32,
    pub keys: u32,
    /// Upper bound on transactions (list-append) or ops (register) over all clients.
    pub ops: u64,
    pub duration: Duration,
    /// List-append: micro-ops per transaction, 1 to this many.
    pub max_txn_ops: u32,
    /// Share of micro-ops (list-append) or ops (register) that are reads.
    pub read_ratio: f64,
}

/// Checks run over the recorded history. The consistency models take the names
/// `assay check --model` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKind {
    /// Every step op's outcome and value match the step's `expect`.
    #[serde(rename = "expectations")]
    Expectations,
    #[serde(rename = "linearizable")]
    Linearizable,
    #[serde(rename = "strict-serializable")]
    StrictSerializable,
    #[serde(rename = "serializable")]
    Serializable,
    #[serde(rename = "snapshot-isolation")]
    SnapshotIsolation,
    #[serde(rename = "read-committed")]
    ReadCommitted,
    #[serde(rename = "session")]
    Session,
}

impl CheckKind {
    /// The consistency model's name (`assay check --model`), `None` for expectations.
    pub fn model_name(self) -> Option<&'static str> {
        match self {
            CheckKind::Expectations => None,
            CheckKind::Linearizable => Some("linearizable"),
            CheckKind::StrictSerializable => Some("strict-serializable"),
            CheckKind::Serializable => Some("serializable"),
            CheckKind::SnapshotIsolation => Some("snapshot-isolation"),
            CheckKind::ReadCommitted => Some("read-committed"),
            CheckKind::Session => Some("session"),
        }
    }
}

/// `file:line:col: message`, the one-line error for bad scenario input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

// ---- raw, span-carrying form, exactly as written in the file ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    format: Spanned<u32>,
    name: String,
    #[serde(default)]
    description: String,
    kind: ScenarioKind,
    #[serde(default)]
    requires: Vec<Capability>,
    #[serde(default)]
    checks: Option<Vec<CheckKind>>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    #[serde(default)]
    setup: RawSetup,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
    workload: Option<Spanned<RawWorkload>>,
    consistency: Option<Spanned<RawConsistency>>,
    isolation: Option<IsolationLevel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsistency {
    workload: ConsistencyWorkloadKind,
    table: Option<Spanned<String>>,
    #[serde(default = "default_consistency_clients")]
    clients: u32,
    #[serde(default = "default_consistency_keys")]
    keys: u32,
    ops: u64,
    duration: Spanned<String>,
    #[serde(default = "default_max_txn_ops")]
    max_txn_ops: u32,
    #[serde(default = "default_read_ratio")]
    read_ratio: f64,
}

fn default_consistency_clients() -> u32 {
    8
}
fn default_consistency_keys() -> u32 {
    8
}
fn default_max_txn_ops() -> u32 {
    4
}
fn default_read_ratio() -> f64 {
    0.5
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSetup {
    #[serde(default)]
    tables: Vec<TableSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    op: Option<Spanned<String>>,
    /// `family.check` of a backend-specific step (see `native`).
    native: Option<Spanned<String>>,
    params: Option<toml::Table>,
    documented: Option<String>,
    cite: Option<String>,
    timeout: Option<Spanned<String>>,
    table: Option<Spanned<String>>,
    key: Option<String>,
    keys: Option<KeyRange>,
    value: Option<String>,
    by: Option<i64>,
    element: Option<i64>,
    #[serde(default)]
    consistency: Consistency,
    #[serde(default = "one")]
    clients: u32,
    expect: Option<Expect>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    mode: Option<Spanned<LoadMode>>,
    clients: Option<u32>,
    think_time: Option<Spanned<String>>,
    rate: Option<f64>,
    max_in_flight: Option<u32>,
    #[serde(default)]
    stages: Vec<Spanned<RawStage>>,
    warmup: Option<Spanned<String>>,
    duration: Option<Spanned<String>>,
    max_ops: Option<u64>,
    table: Option<Spanned<String>>,
    keys: Spanned<RawWorkloadKeys>,
    mix: Spanned<BTreeMap<String, f64>>,
    value_size: Option<Spanned<RawValueSize>>,
    scan_length: Option<u32>,
    #[serde(default)]
    load: bool,
    #[serde(default = "yes")]
    history: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    duration: String,
    target: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkloadKeys {
    prefix: String,
    #[serde(default)]
    start: u64,
    count: u64,
    #[serde(default)]
    digits: u32,
    distribution: Option<String>,
    theta: Option<f64>,
    hot_data_fraction: Option<f64>,
    hot_op_fraction: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawValueSize {
    Fixed(usize),
    Distributed {
        min: usize,
        max: usize,
        distribution: String,
    },
}

/// Default bound on ops in flight in an open loop.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 256;
/// Default most rows per `scan` (YCSB's `maxscanlength`).
pub const DEFAULT_SCAN_LENGTH: u32 = 100;
/// Zipfian constant YCSB uses.
pub const DEFAULT_ZIPFIAN_THETA: f64 = 0.99;

type At<'a> = &'a dyn Fn(Range<usize>, String) -> ScenarioError;

fn parse_span_duration(
    d: &Spanned<String>,
    field: &str,
    at: At<'_>,
) -> Result<Duration, ScenarioError> {
    parse_duration_ns(d.get_ref())
        .map(|ns| Duration::from_nanos(ns as u64))
        .ok_or_else(|| {
            at(
                d.span(),
                format!(
                    "workload.{field}: `{}` is not a duration; write e.g. \"10s\" or \"500ms\"",
                    d.get_ref()
                ),
            )
        })
}

/// Default bound on one native step.
const NATIVE_STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// A `native = "family.check"` step: its name split, params as JSON, and the documented
/// behaviour and citation it must carry.
#[allow(clippy::too_many_arguments)]
fn parse_native_step(
    native: Spanned<String>,
    name: String,
    params: Option<toml::Table>,
    documented: Option<String>,
    cite: Option<String>,
    timeout: Option<Spanned<String>>,
    after: usize,
    at: At<'_>,
) -> Result<NativeStep, ScenarioError> {
    let (family, check) = match native.get_ref().split_once('.') {
        Some((f, c)) if !f.is_empty() && !c.is_empty() => (f.to_string(), c.to_string()),
        _ => {
            return Err(at(
                native.span(),
                format!(
                    "native = \"{}\" is not `family.check`; write e.g. \"dynamodb.gsi_query\"",
                    native.get_ref()
                ),
            ))
        }
    };
    let documented = documented.filter(|d| !d.trim().is_empty()).ok_or_else(|| {
        at(
            native.span(),
            format!("step `{name}`: add `documented = \"...\"`, the behaviour the backend's documentation promises"),
        )
    })?;
    let cite = cite
        .filter(|c| c.starts_with("https://") || c.starts_with("http://"))
        .ok_or_else(|| {
            at(
                native.span(),
                format!("step `{name}`: add `cite = \"https://...\"`, where that behaviour is documented"),
            )
        })?;
    let timeout = match timeout {
        None => NATIVE_STEP_TIMEOUT,
        Some(t) => parse_duration_ns(t.get_ref())
            .filter(|ns| *ns > 0.0)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| {
                at(
                    t.span(),
                    format!("`{}` is not a duration; write e.g. \"60s\"", t.get_ref()),
                )
            })?,
    };
    let params = serde_json::to_value(params.unwrap_or_default())
        .map_err(|e| at(native.span(), format!("step `{name}`: params: {e}")))?;
    Ok(NativeStep {
        name,
        family,
        check,
        params,
        documented,
        cite,
        timeout,
        after,
        scenario_file: String::new(),
    })
}

fn parse_workload(
    spanned: Spanned<RawWorkload>,
    table: String,
    tables: &[&str],
    at: At<'_>,
) -> Result<Workload, ScenarioError> {
    let span = spanned.span();
    let w = spanned.into_inner();
    let mode = match (&w.mode, w.rate) {
        (Some(m), _) => *m.get_ref(),
        (None, Some(_)) => LoadMode::Open,
        (None, None) => LoadMode::Closed,
    };
    let open = mode == LoadMode::Open;
    let mut stages = Vec::with_capacity(w.stages.len());
    for s in &w.stages {
        let raw = s.get_ref();
        let duration = parse_duration_ns(&raw.duration)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| {
                at(
                    s.span(),
                    format!(
                        "workload.stages: `{}` is not a duration; write e.g. \"10s\"",
                        raw.duration
                    ),
                )
            })?;
        if !(raw.target >= 0.0 && raw.target.is_finite()) {
            return Err(at(
                s.span(),
                "workload.stages: target must be a number ≥ 0".into(),
            ));
        }
        stages.push(Stage {
            duration,
            target: raw.target,
        });
    }
    let warmup = match &w.warmup {
        Some(d) => parse_span_duration(d, "warmup", at)?,
        None => Duration::ZERO,
    };
    let duration = match (&w.duration, stages.is_empty()) {
        (Some(d), true) => parse_span_duration(d, "duration", at)?,
        (None, true) => {
            return Err(at(span, "workload: give `duration = \"10s\"` (or `stages`) to bound it in time".into()))
        }
        (Some(d), false) => {
            return Err(at(
                d.span(),
                "workload: `duration` and `stages` both given; with stages the run lasts their sum, so remove `duration`".into(),
            ))
        }
        (None, false) => {
            let total: Duration = stages.iter().map(|s| s.duration).sum();
            if total <= warmup {
                return Err(at(span, format!("workload: the stages last {total:?}, no longer than the warmup {warmup:?}; lengthen them or shorten the warmup")));
            }
            total - warmup
        }
    };
    if open {
        if w.clients.is_some() || w.think_time.is_some() {
            return Err(at(span, "workload: `clients` and `think_time` are for a closed loop; an open loop takes `rate` and `max_in_flight`".into()));
        }
        if w.rate.is_none() && stages.is_empty() {
            return Err(at(
                span,
                "workload: an open loop needs `rate = 1000` (ops/s) or rate `stages`".into(),
            ));
        }
    } else if w.rate.is_some() || w.max_in_flight.is_some() {
        return Err(at(span, "workload: `rate` and `max_in_flight` are for an open loop; set `mode = \"open\"` or use `clients`".into()));
    }
    let rate = w.rate.unwrap_or(0.0);
    if !(rate >= 0.0 && rate.is_finite()) || (open && stages.is_empty() && rate <= 0.0) {
        return Err(at(
            span,
            "workload: rate must be a number of ops per second > 0".into(),
        ));
    }
    let clients = w.clients.unwrap_or(if stages.is_empty() { 1 } else { 0 });
    if !open && stages.is_empty() && clients == 0 {
        return Err(at(span, "workload: clients must be at least 1".into()));
    }
    let max_in_flight = w.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    if max_in_flight == 0 {
        return Err(at(
            span,
            "workload: max_in_flight must be at least 1".into(),
        ));
    }
    let think_time = match &w.think_time {
        Some(d) => parse_span_duration(d, "think_time", at)?,
        None => Duration::ZERO,
    };

    let keys_span = w.keys.span();
    let k = w.keys.into_inner();
    if k.count == 0 {
        return Err(at(
            keys_span,
            "workload.keys: count must be at least 1".into(),
        ));
    }
    let theta = k.theta.unwrap_or(DEFAULT_ZIPFIAN_THETA);
    if !(theta > 0.0 && theta < 1.0) {
        return Err(at(
            keys_span,
            "workload.keys: theta must be between 0 and 1 (exclusive), e.g. 0.99".into(),
        ));
    }
    let key_distribution = match k.distribution.as_deref().unwrap_or("uniform") {
        "uniform" => KeyDistribution::Uniform,
        "zipfian" => KeyDistribution::Zipfian { theta },
        "latest" => KeyDistribution::Latest { theta },
        "hotspot" => {
            let data_fraction = k.hot_data_fraction.unwrap_or(0.2);
            let op_fraction = k.hot_op_fraction.unwrap_or(0.8);
            if !(data_fraction > 0.0 && data_fraction <= 1.0 && (0.0..=1.0).contains(&op_fraction)) {
                return Err(at(keys_span, "workload.keys: hot_data_fraction must be in (0, 1] and hot_op_fraction in [0, 1]".into()));
            }
            KeyDistribution::Hotspot {
                data_fraction,
                op_fraction,
            }
        }
        other => {
            return Err(at(
                keys_span,
                format!("workload.keys: distribution `{other}` is unknown; use uniform, zipfian, latest or hotspot"),
            ))
        }
    };
    if k.digits > 0 && 10f64.powi(k.digits as i32) < (k.start + k.count) as f64 {
        return Err(at(
            keys_span,
            format!(
                "workload.keys: {} digits cannot hold key index {}; raise `digits`",
                k.digits,
                k.start + k.count - 1
            ),
        ));
    }

    let mut mix = Vec::new();
    for (name, weight) in w.mix.get_ref() {
        let op = MixOp::parse(name).ok_or_else(|| {
            let known: Vec<_> = MixOp::ALL.iter().map(|m| m.as_str()).collect();
            at(
                w.mix.span(),
                format!(
                    "workload.mix: `{name}` is not a workload op; use {}",
                    known.join(", ")
                ),
            )
        })?;
        if !(*weight >= 0.0 && weight.is_finite()) {
            return Err(at(
                w.mix.span(),
                format!("workload.mix: weight of `{name}` must be a number ≥ 0"),
            ));
        }
        mix.push((op, *weight));
    }
    if mix.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
        return Err(at(
            w.mix.span(),
            "workload.mix: give at least one op a weight > 0, e.g. { read = 0.5, write = 0.5 }"
                .into(),
        ));
    }
    let weighted = |op: MixOp| mix.iter().any(|(m, w)| *m == op && *w > 0.0);
    if weighted(MixOp::Scan) && k.digits == 0 {
        return Err(at(keys_span, "workload: `scan` reads a key prefix as a range, which needs zero-padded keys; add `digits = 8` to keys".into()));
    }
    if weighted(MixOp::Tpcb) {
        if let Some(missing) = TPCB_TABLES.iter().find(|t| !tables.contains(t)) {
            return Err(at(w.mix.span(), format!("workload.mix: `tpcb` needs the tables accounts (the workload's), tellers, branches and history; add [[setup.tables]] name = \"{missing}\"")));
        }
    }
    let scan_length = w.scan_length.unwrap_or(DEFAULT_SCAN_LENGTH);
    if scan_length == 0 {
        return Err(at(span, "workload: scan_length must be at least 1".into()));
    }
    let value_size = match &w.value_size {
        None => ValueSize::Fixed(100),
        Some(v) => match v.get_ref() {
            RawValueSize::Fixed(n) => ValueSize::Fixed(*n),
            RawValueSize::Distributed {
                min,
                max,
                distribution,
            } => {
                if min > max {
                    return Err(at(v.span(), "workload.value_size: min is above max".into()));
                }
                match distribution.as_str() {
                    "uniform" => ValueSize::Uniform { min: *min, max: *max },
                    "zipfian" => ValueSize::Zipfian { min: *min, max: *max },
                    "fixed" | "constant" if min == max => ValueSize::Fixed(*min),
                    other => {
                        return Err(at(
                            v.span(),
                            format!("workload.value_size: distribution `{other}` is unknown; use uniform or zipfian (or a plain number for a fixed size)"),
                        ))
                    }
                }
            }
        },
    };
    Ok(Workload {
        mode,
        clients,
        think_time,
        rate,
        max_in_flight,
        stages,
        warmup,
        duration,
        max_ops: w.max_ops,
        table,
        keys: KeyRange {
            prefix: k.prefix,
            start: k.start,
            count: k.count,
            literal: false,
        },
        key_digits: k.digits,
        key_distribution,
        mix,
        value_size,
        scan_length,
        load: w.load,
        history: w.history,
    })
}

impl Scenario {
    /// Parses and validates scenario text; `file` only labels errors.
    pub fn parse(src: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let at = |span: Range<usize>, message: String| ScenarioError::at(src, file, span, message);
        let raw: RawScenario = from_toml(src, file)?;

        if *raw.format.get_ref() != SCENARIO_FORMAT_VERSION {
            return Err(at(
                raw.format.span(),
                format!(
                    "format = {} is not supported; this Assay reads format = {SCENARIO_FORMAT_VERSION}",
                    raw.format.get_ref()
                ),
            ));
        }
        if raw.setup.tables.is_empty()
            && (raw.steps.iter().any(|s| s.get_ref().native.is_none())
                || raw.workload.is_some()
                || raw.consistency.is_some())
        {
            return Err(at(
                0..0,
                "no tables: add `[[setup.tables]]` with `name = \"kv\"` before steps or a workload"
                    .into(),
            ));
        }
        let table_names: Vec<&str> = raw.setup.tables.iter().map(|t| t.name.as_str()).collect();
        let resolve_table = |t: &Option<Spanned<String>>| -> Result<String, ScenarioError> {
            match t {
                None => Ok(table_names[0].to_string()),
                Some(t) if table_names.contains(&t.get_ref().as_str()) => Ok(t.get_ref().clone()),
                Some(t) => Err(at(
                    t.span(),
                    format!(
                        "table `{}` is not in [[setup.tables]]; declare it there or use one of: {}",
                        t.get_ref(),
                        table_names.join(", ")
                    ),
                )),
            }
        };

        let mut steps = Vec::with_capacity(raw.steps.len());
        let mut native = Vec::new();
        for spanned in raw.steps {
            let span = spanned.span();
            let s = spanned.into_inner();
            let taken = |name: &str, steps: &[Step], native: &[NativeStep]| {
                name == "workload"
                    || steps.iter().any(|p| p.name == name)
                    || native.iter().any(|p| p.name == name)
            };
            if taken(&s.name, &steps, &native) {
                return Err(at(span, format!("step name `{}` is used twice (or is the reserved name `workload`); give every step its own name", s.name)));
            }
            let (op_name, expect) = match (s.op, s.native, s.expect) {
                (None, Some(n), None) => {
                    let mut step = parse_native_step(n, s.name, s.params, s.documented, s.cite, s.timeout, steps.len(), &at)?;
                    step.scenario_file = file.to_string();
                    native.push(step);
                    continue;
                }
                (Some(_), Some(n), _) => {
                    return Err(at(n.span(), format!("step `{}`: give either `op` (a portable step) or `native` (a backend-specific one), not both", s.name)))
                }
                (None, Some(_), Some(_)) => {
                    return Err(at(span, format!("step `{}`: a native step says what it checks in `documented`; remove `expect`", s.name)))
                }
                (Some(op), None, Some(expect)) => (op, expect),
                (Some(_), None, None) => {
                    return Err(at(span, format!("step `{}`: add `expect = {{ outcome = \"ok\" }}` (what every op must return)", s.name)))
                }
                (None, None, _) => {
                    return Err(at(span, format!("step `{}`: add `op = \"read\"` (a portable op) or `native = \"family.check\"`", s.name)))
                }
            };
            if s.params.is_some() || s.timeout.is_some() {
                return Err(at(
                    span,
                    format!(
                        "step `{}`: `params` and `timeout` belong to native steps; remove them",
                        s.name
                    ),
                ));
            }
            let op = OpKind::parse(op_name.get_ref()).ok_or_else(|| {
                let known: Vec<_> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                at(
                    op_name.span(),
                    format!(
                        "unknown op `{}`; use one of {}",
                        op_name.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
            if matches!(op, OpKind::Batch | OpKind::Txn) {
                return Err(at(
                    op_name.span(),
                    format!("op `{op}` needs several ops per request, which steps in format 1 cannot express; use single-key ops"),
                ));
            }
            let keys = match (s.key, s.keys) {
                (Some(k), None) => KeyRange {
                    prefix: k,
                    start: 0,
                    count: 1,
                    literal: true,
                },
                (None, Some(r)) if r.count > 0 => r,
                (None, Some(_)) => {
                    return Err(at(span, format!("step `{}`: keys.count must be at least 1", s.name)))
                }
                _ => {
                    return Err(at(
                        span,
                        format!("step `{}`: give exactly one of `key = \"k1\"` or `keys = {{ prefix = \"k\", count = 10 }}`", s.name),
                    ))
                }
            };
            let needs_value = matches!(
                op,
                OpKind::Write | OpKind::InsertIfAbsent | OpKind::CompareAndSet
            );
            if needs_value && s.value.is_none() {
                return Err(at(span, format!("step `{}`: op `{op}` needs `value = \"...\"` (use {{i}} for the key index)", s.name)));
            }
            if op != OpKind::Read && (expect.value.is_some() || expect.found.is_some()) {
                return Err(at(
                    span,
                    format!(
                        "step `{}`: expect.value and expect.found apply to reads only",
                        s.name
                    ),
                ));
            }
            if s.clients == 0 {
                return Err(at(
                    span,
                    format!("step `{}`: clients must be at least 1", s.name),
                ));
            }
            steps.push(Step {
                name: s.name,
                op,
                table: resolve_table(&s.table)?,
                keys,
                value: s.value,
                by: s.by,
                element: s.element,
                consistency: s.consistency,
                clients: s.clients,
                expect,
                documented: s.documented,
                cite: s.cite,
            });
        }

        let workload = match raw.workload {
            None => None,
            Some(spanned) => {
                let table = resolve_table(&spanned.get_ref().table)?;
                Some(parse_workload(spanned, table, &table_names, &at)?)
            }
        };

        let mut thresholds = Vec::with_capacity(raw.thresholds.len());
        for t in &raw.thresholds {
            thresholds.push(Threshold::parse(t.get_ref()).map_err(|m| at(t.span(), m))?);
        }

        let consistency = match raw.consistency {
            None => None,
            Some(spanned) => {
                let span = spanned.span();
                let c = spanned.into_inner();
                let duration = parse_duration_ns(c.duration.get_ref())
                    .map(|ns| Duration::from_nanos(ns as u64))
                    .ok_or_else(|| {
                        at(
                            c.duration.span(),
                            format!(
                                "`{}` is not a duration; write e.g. \"20s\"",
                                c.duration.get_ref()
                            ),
                        )
                    })?;
                if c.clients == 0 || c.keys == 0 || c.ops == 0 || c.max_txn_ops == 0 {
                    return Err(at(
                        span,
                        "consistency: clients, keys, ops and max_txn_ops must be at least 1".into(),
                    ));
                }
                if !(0.0..=1.0).contains(&c.read_ratio) {
                    return Err(at(
                        span,
                        "consistency: read_ratio is a share between 0 and 1, e.g. 0.5".into(),
                    ));
                }
                Some(ConsistencyWorkload {
                    kind: c.workload,
                    table: resolve_table(&c.table)?,
                    clients: c.clients,
                    keys: c.keys,
                    ops: c.ops,
                    duration,
                    max_txn_ops: c.max_txn_ops,
                    read_ratio: c.read_ratio,
                })
            }
        };
        let checks = raw.checks.unwrap_or_else(|| vec![CheckKind::Expectations]);
        if consistency.is_none() && steps.is_empty() && native.is_empty() && workload.is_none() {
            return Err(at(
                0..0,
                "nothing to run: add [[steps]], a [workload] or a [consistency] section".into(),
            ));
        }
        if consistency.is_some() && !checks.iter().any(|c| c.model_name().is_some()) {
            return Err(at(0..0, "a [consistency] workload needs a model to check it against: add e.g. checks = [\"serializable\"]".into()));
        }

        Ok(Scenario {
            consistency,
            isolation: raw.isolation,
            name: raw.name,
            description: raw.description,
            kind: raw.kind,
            tables: raw.setup.tables,
            steps,
            native,
            workload,
            checks,
            thresholds,
            explicit_requires: raw.requires,
        })
    }
}

impl ScenarioError {
    /// The error at the start of `span` in `src`.
    pub fn at(src: &str, file: &str, span: Range<usize>, message: String) -> Self {
        let (line, col) = line_col(src, span.start);
        ScenarioError {
            file: file.to_string(),
            line,
            col,
            message,
        }
    }
}

/// Deserializes a TOML file strictly, locating any syntax or shape error.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(
    src: &str,
    file: &str,
) -> Result<T, ScenarioError> {
    toml::from_str(src).map_err(|e| {
        ScenarioError::at(
            src,
            file,
            e.span().unwrap_or(0..0),
            explain_toml_error(e.message()),
        )
    })
}

/// serde's messages are precise but terse; add the fix where we know it.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim_end();
    if message.starts_with("unknown field") {
        format!("{message}; remove it or fix its spelling")
    } else if message.starts_with("invalid type") {
        format!("{message}; change the value to that type")
    } else if message.starts_with("missing field") {
        format!("{message}; add it")
    } else if message.starts_with("unknown variant") {
        format!("{message}; use one of the listed values")
    } else {
        message.to_string()
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOKE: &str = r#"
format = 1
name = "smoke"
kind = "conformance"
thresholds = ["p99 < 2s"]

[[setup.tables]]
name = "kv"

[[steps]]
name = "insert"
op = "write"
keys = { prefix = "k", count = 3 }
value = "v-{i}"
clients = 2
expect = { outcome = "ok" }

[[steps]]
name = "read back"
op = "read"
keys = { prefix = "k", count = 3 }
expect = { outcome = "ok", value = "v-{i}" }
"#;

    #[test]
    fn a_valid_scenario_parses() {
        let s = Scenario::parse(SMOKE, "smoke.toml").unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].table, "kv");
        assert_eq!(
            s.steps[0].op_at(2),
            Op::Write {
                table: "kv".into(),
                key: "k2".into(),
                value: "v-2".into()
            }
        );
        assert_eq!(s.steps[1].expected_value(1).as_deref(), Some("v-1"));
        assert_eq!(s.checks, vec![CheckKind::Expectations]);
        assert_eq!(
            s.required_capabilities(),
            vec![Capability::Read, Capability::Write]
        );
    }

    fn err(src: &str) -> ScenarioError {
        Scenario::parse(src, "bad.toml").unwrap_err()
    }

    #[test]
    fn native_steps_keep_their_place_params_and_citation() {
        let src = format!(
            "{SMOKE}\n[[steps]]\nname = \"gsi\"\nnative = \"dynamodb.gsi_query\"\nparams = {{ items = 20, index = \"by_v\" }}\ndocumented = \"a GSI query returns the matching items\"\ncite = \"https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html\"\ntimeout = \"30s\"\n"
        );
        let s = Scenario::parse(&src, "n.toml").unwrap();
        assert_eq!(s.native.len(), 1);
        let n = &s.native[0];
        assert_eq!(
            (n.family.as_str(), n.check.as_str()),
            ("dynamodb", "gsi_query")
        );
        assert_eq!(n.after, s.steps.len());
        assert_eq!(n.param_u64("items", 0), 20);
        assert_eq!(n.param_str("index", ""), "by_v");
        assert_eq!(n.timeout, Duration::from_secs(30));
    }

    #[test]
    fn native_steps_need_a_family_documented_behaviour_and_citation() {
        let base = "format = 1\nname = \"n\"\nkind = \"conformance\"\n[[steps]]\nname = \"s\"\n";
        let e = err(&format!(
            "{base}native = \"gsi\"\ndocumented = \"d\"\ncite = \"https://x\"\n"
        ));
        assert!(e.message.contains("family.check"), "{}", e.message);
        let e = err(&format!(
            "{base}native = \"dynamodb.gsi\"\ncite = \"https://x\"\n"
        ));
        assert!(e.message.contains("documented"), "{}", e.message);
        let e = err(&format!(
            "{base}native = \"dynamodb.gsi\"\ndocumented = \"d\"\n"
        ));
        assert!(e.message.contains("cite"), "{}", e.message);
        let e = err(&format!("{base}native = \"dynamodb.gsi\"\nop = \"read\"\ndocumented = \"d\"\ncite = \"https://x\"\n"));
        assert!(e.message.contains("not both"), "{}", e.message);
        let e = err(&format!(
            "{}documented = \"d\"\n",
            base.replace("[[steps]]", "[[setup.tables]]\nname = \"kv\"\n[[steps]]")
        ));
        assert!(e.message.contains("native"), "{}", e.message);
        // A native-only scenario needs no tables.
        let ok =
            format!("{base}native = \"dynamodb.gsi\"\ndocumented = \"d\"\ncite = \"https://x\"\n");
        assert_eq!(Scenario::parse(&ok, "n.toml").unwrap().native.len(), 1);
    }

    #[test]
    fn unknown_field_is_located() {
        let src = SMOKE.replace("clients = 2", "clients = 2\ncolour = \"red\"");
        let e = err(&src);
        assert_eq!((e.line, e.file.as_str()), (16, "bad.toml"));
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert!(e.to_string().starts_with("bad.toml:16:"), "{e}");
    }

    #[test]
    fn wrong_type_is_located() {
        let e = err(&SMOKE.replace("clients = 2", "clients = \"two\""));
        assert_eq!(e.line, 15);
        assert!(e.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn bad_toml_is_located() {
        let e = err(&SMOKE.replace("name = \"kv\"", "name = \"kv"));
        assert_eq!(e.line, 8);
    }

    #[test]
    fn semantic_errors_are_located() {
        let e = err(&SMOKE.replace("op = \"read\"", "op = \"reed\""));
        assert_eq!((e.line, e.col), (20, 6));
        assert!(e.message.contains("unknown op `reed`"), "{e}");

        let e = err(&SMOKE.replace("p99 < 2s", "p99 < soon"));
        assert_eq!(e.line, 5);

        let e = err(&SMOKE.replace("format = 1", "format = 2"));
        assert_eq!(e.line, 2);
    }

    #[test]
    fn a_consistency_section_parses_and_needs_a_model() {
        let src = r#"
format = 1
name = "la"
kind = "consistency"
isolation = "read_committed"
checks = ["serializable"]

[[setup.tables]]
name = "lists"

[consistency]
workload = "list-append"
ops = 100
duration = "5s"
"#;
        let s = Scenario::parse(src, "la.toml").unwrap();
        let c = s.consistency.as_ref().unwrap();
        assert_eq!(c.kind, ConsistencyWorkloadKind::ListAppend);
        assert_eq!((c.clients, c.keys, c.max_txn_ops), (8, 8, 4));
        assert_eq!(s.isolation, Some(IsolationLevel::ReadCommitted));
        assert_eq!(s.checks, vec![CheckKind::Serializable]);
        assert!(s.required_capabilities().contains(&Capability::Txn));

        let e = Scenario::parse(&src.replace("checks = [\"serializable\"]\n", ""), "la.toml")
            .unwrap_err();
        assert!(e.message.contains("needs a model"), "{e}");
        let e = Scenario::parse(&src.replace("serializable\"]", "acid\"]"), "la.toml").unwrap_err();
        assert!(e.message.contains("unknown variant `acid`"), "{e}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 0), (1, 1));
    }

    const WORKLOAD_BASE: &str = "format = 1\nname = \"w\"\nkind = \"throughput\"\n[[setup.tables]]\nname = \"kv\"\n[workload]\n";

    fn workload(body: &str) -> Result<Workload, ScenarioError> {
        Scenario::parse(&format!("{WORKLOAD_BASE}{body}"), "w.toml").map(|s| s.workload.unwrap())
    }

    #[test]
    fn a_format_1_closed_loop_workload_keeps_its_meaning() {
        let w = workload("clients = 8\nduration = \"10s\"\nmax_ops = 50000\nkeys = { prefix = \"user\", count = 1000 }\nmix = { read = 0.9, write = 0.1 }\nvalue_size = 100").unwrap();
        assert_eq!(
            (w.mode, w.clients, w.duration),
            (LoadMode::Closed, 8, Duration::from_secs(10))
        );
        assert_eq!(
            (w.warmup, w.key_digits, w.history, w.load),
            (Duration::ZERO, 0, true, false)
        );
        assert_eq!(w.key_distribution, KeyDistribution::Uniform);
        assert_eq!(w.value_size, ValueSize::Fixed(100));
        assert_eq!(w.mix, vec![(MixOp::Read, 0.9), (MixOp::Write, 0.1)]);
        assert_eq!(w.timeline(), Duration::from_secs(10));
    }

    #[test]
    fn open_loop_stages_and_distributions_parse() {
        let w = workload("rate = 100\nmax_in_flight = 32\nwarmup = \"5s\"\nstages = [{ duration = \"10s\", target = 1000 }, { duration = \"20s\", target = 1000 }]\nkeys = { prefix = \"user\", count = 1000, digits = 8, distribution = \"hotspot\", hot_data_fraction = 0.1 }\nmix = { scan = 0.95, insert = 0.05 }\nvalue_size = { min = 10, max = 100, distribution = \"zipfian\" }").unwrap();
        assert_eq!(
            (w.mode, w.rate, w.max_in_flight),
            (LoadMode::Open, 100.0, 32)
        );
        assert_eq!(w.stages.len(), 2);
        assert_eq!(
            (w.timeline(), w.duration),
            (Duration::from_secs(30), Duration::from_secs(25))
        );
        assert_eq!(
            w.key_distribution,
            KeyDistribution::Hotspot {
                data_fraction: 0.1,
                op_fraction: 0.8
            }
        );
        assert_eq!(w.value_size, ValueSize::Zipfian { min: 10, max: 100 });
        assert_eq!(
            w.capabilities(),
            vec![Capability::InsertIfAbsent, Capability::Query]
        );
    }

    #[test]
    fn bad_workloads_say_how_to_fix_them() {
        for (body, needle) in [
            ("keys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "give `duration"),
            ("rate = 10\nclients = 2\nduration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "closed loop"),
            ("max_in_flight = 2\nduration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "open loop"),
            ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { scan = 1 }", "digits"),
            ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { tpcb = 1 }", "tellers"),
            ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10, distribution = \"gauss\" }\nmix = { read = 1 }", "uniform, zipfian, latest or hotspot"),
            ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 1000, digits = 2 }\nmix = { read = 1 }", "raise `digits`"),
            ("duration = \"1s\"\nstages = [{ duration = \"1s\", target = 2 }]\nkeys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "remove `duration`"),
            ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { upsert = 1 }", "not a workload op"),
        ] {
            let e = workload(body).unwrap_err();
            assert!(e.message.contains(needle), "{body}: {e}");
            assert!(e.line >= 6, "located in the workload: {e}");
        }
    }
}
