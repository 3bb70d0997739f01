//! Load generation and recording. The engine runs a scenario's steps and workload
//! against one `Driver`: clients issue portable ops, every op is recorded (history
//! invoke/complete pairs when asked, latency from the intended start and service time in
//! HdrHistograms per op × outcome, a 1 s interval series), closed loop or open loop.
//!
//! The engine knows nothing of backends (it sees only `dyn Driver`) and judges nothing:
//! verdicts are the check crate's. It does decide when a run cannot go on — an abort
//! (Ctrl-C) or a backend that stopped answering — and says why.

pub mod consistency;
mod faults;
pub mod generate;
mod live;
mod load;
pub mod memory;
pub mod null;
mod observed;
pub mod proxy;
mod recorder;
mod run;
pub mod schedule;
mod shared;
mod workload;

pub use live::{LiveSnapshot, LiveStats};
pub use null::NullDriver;
pub use observed::record_run;
pub use recorder::ClientRecorder;
pub use run::{run_scenario, NativeStepRun, ScenarioRun};
pub use shared::{AbortSignal, EngineOptions, HealthProbe, PhaseStats};
pub use workload::{WorkloadStats, LATE_AFTER};
