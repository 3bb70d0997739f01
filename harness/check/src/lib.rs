//! Verdicts over a finished run, as pure functions of the scenario, the history and the
//! latency histograms. Every verdict carries its evidence: the op, what was expected,
//! what was observed. This crate never talks to a backend.

pub mod expectations;
pub mod judge;
pub mod thresholds;

pub mod consistency;
pub mod edn;
mod elle;
mod evidence;
mod fxhash;
pub mod generate;
mod graph;
mod history_view;
mod index;
pub mod input;
mod linearizable;
pub mod lost_writes;
pub mod model;
pub mod models;
mod session;
pub mod staleness;
mod text;

pub use expectations::{check_expectations, Expectations, Mismatch, OpCounts, StepVerdict};
pub use judge::{
    judge, judge_scenario, Histories, ScenarioVerdict, TargetVerdict, Verdict, Verdicts,
};
pub use thresholds::{evaluate_thresholds, FaultFigures, ThresholdResult};

pub use consistency::{check_history, check_history_with, CheckOptions};
pub use input::{parse_history_text, HistoryParseError, HistorySection};
pub use lost_writes::{FinalReads, FINAL_READ_STEP};
pub use model::{
    Anomaly, ConsistencyVerdict, CycleEdge, EdgeKind, Evidence, EvidenceOp, Model, UnknownModel,
};
pub use models::{model_table, ModelSpec, MODELS};
pub use staleness::{staleness, ReadLag, StalenessReport, StalenessSummary};
