//! The raw, span-carrying form of a scenario file, exactly as written; `parse` turns it
//! into a validated [`Scenario`](super::Scenario).

use super::model::{CheckKind, Expect, KeyRange, ScenarioKind, TableSpec};
use super::workload::{ConsistencyWorkloadKind, LoadMode};
use crate::capability::Capability;
use crate::isolation_level::IsolationLevel;
use crate::op::Consistency;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A native step's `params` table, with the span of every name and value.
pub(super) type RawParams = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) format: Spanned<u32>,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) kind: ScenarioKind,
    #[serde(default)]
    pub(super) requires: Vec<Capability>,
    #[serde(default)]
    pub(super) families: Vec<crate::target::Family>,
    #[serde(default)]
    pub(super) checks: Option<Vec<CheckKind>>,
    #[serde(default)]
    pub(super) thresholds: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) setup: RawSetup,
    #[serde(default)]
    pub(super) steps: Vec<Spanned<RawStep>>,
    pub(super) workload: Option<Spanned<RawWorkload>>,
    pub(super) consistency: Option<Spanned<RawConsistency>>,
    pub(super) isolation: Option<IsolationLevel>,
    #[serde(default)]
    pub(super) faults: Vec<Spanned<super::faults::RawFault>>,
    pub(super) replication: Option<super::faults::Replication>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsistency {
    pub(super) workload: ConsistencyWorkloadKind,
    pub(super) table: Option<Spanned<String>>,
    #[serde(default = "default_consistency_clients")]
    pub(super) clients: u32,
    #[serde(default = "default_consistency_keys")]
    pub(super) keys: u32,
    pub(super) ops: u64,
    pub(super) duration: Spanned<String>,
    #[serde(default = "default_max_txn_ops")]
    pub(super) max_txn_ops: u32,
    #[serde(default = "default_read_ratio")]
    pub(super) read_ratio: f64,
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
pub(super) struct RawSetup {
    #[serde(default)]
    pub(super) tables: Vec<TableSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) name: String,
    pub(super) op: Option<Spanned<String>>,
    /// `family.check` of a backend-specific step (see `native`).
    pub(super) native: Option<Spanned<String>>,
    pub(super) params: Option<RawParams>,
    pub(super) documented: Option<String>,
    pub(super) cite: Option<String>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) table: Option<Spanned<String>>,
    pub(super) key: Option<String>,
    pub(super) keys: Option<KeyRange>,
    pub(super) value: Option<String>,
    pub(super) by: Option<i64>,
    pub(super) element: Option<i64>,
    #[serde(default)]
    pub(super) consistency: Consistency,
    #[serde(default = "one")]
    pub(super) clients: u32,
    pub(super) expect: Option<Expect>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    pub(super) mode: Option<Spanned<LoadMode>>,
    pub(super) clients: Option<u32>,
    pub(super) think_time: Option<Spanned<String>>,
    pub(super) rate: Option<f64>,
    pub(super) max_in_flight: Option<u32>,
    #[serde(default)]
    pub(super) stages: Vec<Spanned<RawStage>>,
    pub(super) warmup: Option<Spanned<String>>,
    pub(super) duration: Option<Spanned<String>>,
    pub(super) max_ops: Option<u64>,
    pub(super) table: Option<Spanned<String>>,
    pub(super) keys: Spanned<RawWorkloadKeys>,
    pub(super) mix: Spanned<BTreeMap<String, f64>>,
    pub(super) value_size: Option<Spanned<RawValueSize>>,
    pub(super) scan_length: Option<u32>,
    #[serde(default)]
    pub(super) load: bool,
    #[serde(default = "yes")]
    pub(super) history: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    pub(super) duration: String,
    pub(super) target: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkloadKeys {
    pub(super) prefix: String,
    #[serde(default)]
    pub(super) start: u64,
    pub(super) count: u64,
    #[serde(default)]
    pub(super) digits: u32,
    pub(super) distribution: Option<String>,
    pub(super) theta: Option<f64>,
    pub(super) hot_data_fraction: Option<f64>,
    pub(super) hot_op_fraction: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawValueSize {
    Fixed(usize),
    Distributed {
        min: usize,
        max: usize,
        distribution: String,
    },
}
