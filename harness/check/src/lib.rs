//! Verdicts over a finished run, as pure functions of the scenario, the history and the
//! latency histograms. Every verdict carries its evidence: the op, what was expected,
//! what was observed. This crate never talks to a backend.

pub mod expectations;
pub mod thresholds;

pub use expectations::{check_expectations, Expectations, Mismatch, OpCounts, StepVerdict};
pub use thresholds::{evaluate_thresholds, ThresholdResult};
