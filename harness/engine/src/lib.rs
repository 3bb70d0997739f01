//! Load generation and recording. The engine runs a scenario's steps and workload
//! against one `Driver`: N clients issue portable ops, every op is recorded as an
//! invoke/complete pair in the history and its latency in a histogram per op × outcome.
//!
//! The engine knows nothing of backends (it sees only `dyn Driver`) and judges nothing:
//! verdicts are the check crate's. It does decide when a run cannot go on — an abort
//! (Ctrl-C) or a backend that stopped answering — and says why.

pub mod memory;
mod recorder;
mod run;

pub use recorder::ClientRecorder;
pub use run::{run_scenario, AbortSignal, EngineOptions, HealthProbe, PhaseStats, ScenarioRun};
