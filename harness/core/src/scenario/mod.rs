//! Scenario format v1 (TOML): what to set up, which steps to run with which expected
//! results, an optional closed-loop workload, checks and thresholds.
//!
//! Parsing is strict: unknown fields and wrong types are errors reported as
//! `file:line:col: what is wrong and how to fix it`. See `docs/scenario-format.md`.
//!
//! Layout, leaves first (no submodule imports one that imports it back): `error` (located
//! errors, strict TOML), `model` (kinds, tables, keys, steps, checks), `workload` (load
//! phases), `raw` (the file as written, with spans), `native` and `parse_workload` (one
//! section each), `parse` (the [`Scenario`] and its validation).

pub mod error;
mod faults;
mod model;
mod native;
mod parse;
mod parse_workload;
mod raw;
mod workload;

pub(crate) use error::from_toml;
pub use error::{line_col, ScenarioError};
pub use faults::{FaultDirection, FaultKind, FaultOn, FaultSpec, Replication};
pub use model::{fill_template, CheckKind, Expect, KeyRange, ScenarioKind, Step, TableSpec};
pub use parse::{Scenario, SCENARIO_FORMAT_VERSION};
pub use workload::{
    ConsistencyWorkload, ConsistencyWorkloadKind, KeyDistribution, LoadMode, MixOp, Shard, Stage,
    ValueSize, Workload, DEFAULT_MAX_IN_FLIGHT, DEFAULT_SCAN_LENGTH, DEFAULT_ZIPFIAN_THETA,
    TPCB_ACCOUNTS_PER_BRANCH, TPCB_TABLES, TPCB_TELLERS_PER_BRANCH,
};

#[cfg(test)]
mod tests;
