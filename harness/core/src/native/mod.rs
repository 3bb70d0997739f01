//! Backend-specific conformance steps: behaviour the portable op model cannot express
//! (a DynamoDB GSI, a Spanner read at a timestamp, a Cosmos change feed). A scenario names
//! the check (`native = "dynamodb.gsi_query"`), its parameters, the documented behaviour
//! and where it is documented; the family's driver runs it and says what it observed.
//!
//! Verdicts keep the fidelity matrix honest: `pass` only when the documented behaviour was
//! seen, `deviates` when something else was seen, `unsupported` when the backend refused
//! (with its error), `unverified` when the request was accepted but this backend cannot
//! show whether the behaviour holds (e.g. consistency levels on a single-replica server).

pub mod registry;
pub mod security;

pub use registry::{
    CheckSpec, FamilyChecks, NativeParams, NativeSpecError, ParamDefault, ParamKind, ParamSpec,
};
pub use security::SECURITY_CHECKS;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One backend-specific step of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeStep {
    pub name: String,
    /// The driver family that runs it (`Driver::family`), e.g. `dynamodb`.
    pub family: String,
    /// The check within the family, e.g. `gsi_query`.
    pub check: String,
    /// The step's `params` table, as JSON (an object; empty when absent).
    pub params: serde_json::Value,
    /// The behaviour the backend's documentation promises.
    pub documented: String,
    /// Where that is documented (a URL).
    pub cite: String,
    /// Upper bound on the step; past it the step is reported as an error.
    pub timeout: Duration,
    /// How many portable steps run before this one (keeps the file's order).
    pub after: usize,
    /// The scenario file the step came from, so a parameter naming another file (e.g. an
    /// `.slt` file) resolves beside it.
    pub scenario_file: String,
}

impl NativeStep {
    /// The `native = "family.check"` name.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.family, self.check)
    }

    /// This step's parameters, validated against its check in `checks` (the driver's own
    /// table) and read through it. Scenario parsing has validated them already when it was
    /// given the registry; this catches a step built another way.
    pub fn params_in(&self, checks: &FamilyChecks) -> Result<NativeParams<'_>, NativeSpecError> {
        registry::read_params(
            checks,
            &self.family,
            &self.check,
            &self.params,
            &self.scenario_file,
        )
    }

    /// A raw count parameter, without the check's table (for tests that inspect a parsed
    /// step; drivers read through [`NativeStep::params_in`], where defaults and ranges live).
    pub fn param_u64(&self, name: &str, default: u64) -> u64 {
        self.params
            .get(name)
            .and_then(|v| v.as_u64())
            .unwrap_or(default)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NativeVerdict {
    /// The documented behaviour was observed.
    Pass,
    /// The backend accepted the request but this backend cannot show whether the
    /// documented behaviour holds; never counted as passed.
    Unverified,
    /// The backend cannot do it (an error or a missing API), with the reason.
    Unsupported,
    /// Something other than the documented behaviour was observed.
    Deviates,
    /// The step itself could not be carried out (backend down, timeout, setup failed).
    Error,
}

impl NativeVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            NativeVerdict::Pass => "pass",
            NativeVerdict::Unverified => "unverified",
            NativeVerdict::Unsupported => "unsupported",
            NativeVerdict::Deviates => "deviates",
            NativeVerdict::Error => "error",
        }
    }

    /// Whether the step fails a run: a deviation or an error does; the others are
    /// reported as what they are.
    pub fn fails(self) -> bool {
        matches!(self, NativeVerdict::Deviates | NativeVerdict::Error)
    }
}

impl fmt::Display for NativeVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A distribution a step measured (e.g. GSI propagation lag), summarised in µs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub name: String,
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Measurement {
    pub fn from_histogram(name: &str, h: &Histogram<u64>) -> Self {
        Measurement {
            name: name.to_string(),
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }

    /// From durations (e.g. one per probe); empty input gives count 0.
    pub fn from_durations(name: &str, samples: &[Duration]) -> Self {
        // 1 µs to one hour, 3 significant digits: valid bounds.
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .expect("1 µs to 1 h at 3 digits is a valid range");
        for d in samples {
            h.saturating_record(d.as_micros().min(u128::from(u64::MAX)) as u64);
        }
        Measurement::from_histogram(name, &h)
    }
}

/// What a driver observed running a native step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NativeOutcome {
    pub verdict: NativeVerdict,
    /// What the backend did, in one line (the evidence for the verdict).
    pub observed: String,
    /// Further evidence lines, e.g. a cancelled transaction's reason per item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    /// Named counts, e.g. `retries`, `aborts`, `request_units`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, f64>,
}

impl NativeOutcome {
    fn new(verdict: NativeVerdict, observed: impl Into<String>) -> Self {
        NativeOutcome {
            verdict,
            observed: observed.into(),
            evidence: Vec::new(),
            measurements: Vec::new(),
            counters: BTreeMap::new(),
        }
    }

    pub fn pass(observed: impl Into<String>) -> Self {
        Self::new(NativeVerdict::Pass, observed)
    }

    pub fn deviates(observed: impl Into<String>) -> Self {
        Self::new(NativeVerdict::Deviates, observed)
    }

    pub fn unsupported(reason: impl Into<String>) -> Self {
        Self::new(NativeVerdict::Unsupported, reason)
    }

    pub fn unverified(observed: impl Into<String>) -> Self {
        Self::new(NativeVerdict::Unverified, observed)
    }

    pub fn error(reason: impl Into<String>) -> Self {
        Self::new(NativeVerdict::Error, reason)
    }

    /// `pass` when `ok`, else `deviates`, with the same observation.
    pub fn expect(ok: bool, observed: impl Into<String>) -> Self {
        if ok {
            Self::pass(observed)
        } else {
            Self::deviates(observed)
        }
    }

    pub fn with_evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    pub fn with_measurement(mut self, m: Measurement) -> Self {
        self.measurements.push(m);
        self
    }

    pub fn with_counter(mut self, name: &str, value: f64) -> Self {
        self.counters.insert(name.to_string(), value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deviations_and_errors_fail_a_run() {
        assert!(NativeVerdict::Deviates.fails());
        assert!(NativeVerdict::Error.fails());
        assert!(!NativeVerdict::Pass.fails());
        assert!(!NativeVerdict::Unsupported.fails());
        assert!(!NativeVerdict::Unverified.fails());
    }

    #[test]
    fn measurements_summarise_durations_in_microseconds() {
        let m = Measurement::from_durations(
            "lag",
            &[
                Duration::from_millis(1),
                Duration::from_millis(2),
                Duration::from_millis(100),
            ],
        );
        assert_eq!(m.count, 3);
        assert!((999..=1001).contains(&m.p50_us) || (1999..=2001).contains(&m.p50_us));
        assert!(m.max_us >= 99_900);
        assert_eq!(Measurement::from_durations("none", &[]).count, 0);
    }

    #[test]
    fn raw_params_are_read_with_defaults() {
        let s = NativeStep {
            name: "n".into(),
            family: "dynamodb".into(),
            check: "atomic_counter".into(),
            params: serde_json::json!({"clients": 16}),
            documented: String::new(),
            cite: String::new(),
            timeout: Duration::from_secs(1),
            after: 0,
            scenario_file: "scenarios/conformance/sql/slt.toml".into(),
        };
        assert_eq!(s.qualified(), "dynamodb.atomic_counter");
        assert_eq!(s.param_u64("clients", 1), 16);
        assert_eq!(s.param_u64("increments", 1000), 1000);
    }
}
