//! Assay's vocabulary: scenarios, targets, the portable operation model, the history
//! format and the `Driver` trait every backend implements.
//!
//! This crate is pure: no I/O beyond parsing text it is handed, and no async runtime
//! choice (the `Driver` trait is runtime-agnostic). Every other crate depends on it;
//! it depends on none of them.

pub mod capability;
pub mod cleanup;
pub mod driver;
mod endpoint_address;
pub mod fault;
pub mod history;
pub mod isolation;
pub mod isolation_level;
pub mod metrics;
pub mod native;
pub mod op;
pub mod record;
mod record_merge;
pub mod scenario;
pub mod target;
pub mod target_file;
pub mod threshold;
pub mod verify;

pub use cleanup::{Leftover, LeftoverKind};
pub use driver::{
    BulkLoadError, BulkLoadPath, Capabilities, Capability, Driver, DriverConfig, DriverError,
    DriverErrorKind,
};
pub use history::{HistoryEvent, HistoryLine};
pub use metrics::LatencyHistograms;
pub use native::{
    CheckSpec, FamilyChecks, Measurement, NativeOutcome, NativeParams, NativeSpecError, NativeStep,
    NativeVerdict, ParamKind, ParamSpec,
};
pub use op::{
    Consistency, ErrorClass, LoadRow, Op, OpError, OpKind, OpMeta, OpResult, OpValue, Outcome,
    Record,
};
pub use record::{RecordKind, RunRecord, ScenarioRecord, ScenarioStatus};
pub use scenario::{Scenario, ScenarioError, ScenarioKind};
pub use target::{Endpoint, Family, LocalBackend, Secret};
pub use target_file::TargetSpec;
