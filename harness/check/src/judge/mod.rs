//! The judge: the only code that decides. It reads a run record (what happened) and the
//! run's history and returns every verdict — of each scenario's expectations,
//! thresholds, consistency models, native steps, the isolation matrix, each target, the
//! run, and the fidelity matrix — each with its evidence. The CLI and the reports only
//! pass verdicts on.

pub mod compare;
pub mod faults;
mod fidelity;
mod verdict;

pub use fidelity::{FidelityCell, FidelityMatrix, FidelityRow};
pub use verdict::Verdict;

use crate::expectations::{check_expectations, Expectations, OpCounts, StepVerdict};
use crate::thresholds::{evaluate_thresholds, FaultFigures, ThresholdResult};
use crate::ConsistencyVerdict;
use assay_core::record::{RecordKind, RunRecord, ScenarioRecord, ScenarioStatus};
use assay_core::{HistoryEvent, LatencyHistograms, OpKind, Outcome, Scenario};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Every verdict of a run, in the record's order (targets, then their scenarios).
#[derive(Clone, Debug)]
pub struct Verdicts {
    pub run: Verdict,
    pub targets: Vec<TargetVerdict>,
    /// One matrix per conformance scenario: step × target.
    pub fidelity: Vec<FidelityMatrix>,
}

#[derive(Clone, Debug)]
pub struct TargetVerdict {
    pub verdict: Verdict,
    pub scenarios: Vec<ScenarioVerdict>,
}

/// The verdict on one scenario on one target, and what it was decided on.
#[derive(Clone, Debug)]
pub struct ScenarioVerdict {
    pub verdict: Verdict,
    /// Why, when it is not a plain pass.
    pub reason: Option<String>,
    /// Each portable step's ops against its `expect`.
    pub steps: Vec<StepVerdict>,
    pub thresholds: Vec<ThresholdResult>,
    /// One per consistency model in the scenario's `checks`.
    pub consistency: Vec<ConsistencyVerdict>,
    /// One per native step of the record, in its order.
    pub native: Vec<Verdict>,
    /// Ops whose outcome was not `ok` and not what their step expected.
    pub errors: u64,
    /// Unavailability windows per client (from the history; empty without one).
    pub availability: faults::Availability,
    /// The fate of every appended element against the final read, when there is one.
    pub set_account: Option<faults::SetAccount>,
    /// Per fault carried out: how long until every client got through again.
    pub recoveries: Vec<faults::Recovery>,
    /// The ops and time thresholds and throughput are measured over (the workload's
    /// measured window when there is one, else every op of the steps).
    pub measured_ops: u64,
    pub measured: Duration,
}

impl ScenarioVerdict {
    fn new(verdict: Verdict, reason: Option<String>) -> Self {
        ScenarioVerdict {
            verdict,
            reason,
            steps: Vec::new(),
            thresholds: Vec::new(),
            consistency: Vec::new(),
            native: Vec::new(),
            errors: 0,
            availability: faults::Availability::default(),
            set_account: None,
            recoveries: Vec::new(),
            measured_ops: 0,
            measured: Duration::ZERO,
        }
    }
}

/// A run's history, by target and scenario name (as `history.jsonl` groups it).
pub type Histories = HashMap<(String, String), Vec<HistoryEvent>>;

/// Judges a whole run.
pub fn judge(record: &RunRecord, histories: &Histories) -> Verdicts {
    let empty = Vec::new();
    let targets: Vec<TargetVerdict> = record
        .targets
        .iter()
        .map(|t| {
            let scenarios: Vec<ScenarioVerdict> = t
                .scenarios
                .iter()
                .map(|s| {
                    let history = histories
                        .get(&(t.name.clone(), s.name.clone()))
                        .unwrap_or(&empty);
                    judge_scenario(s, history)
                })
                .collect();
            let verdict = if t.start_error.is_some() {
                Verdict::Error
            } else {
                scenarios
                    .iter()
                    .fold(Verdict::Unsupported, |v, s| v.worst(s.verdict))
            };
            TargetVerdict { verdict, scenarios }
        })
        .collect();
    let base = if record.interrupted.is_some() {
        Verdict::Error
    } else {
        Verdict::Unsupported
    };
    let run = targets.iter().fold(base, |v, t| v.worst(t.verdict));
    let fidelity = fidelity::matrices(record, &targets);
    Verdicts {
        run,
        targets,
        fidelity,
    }
}

/// Judges one scenario on one target from its record and history.
pub fn judge_scenario(record: &ScenarioRecord, history: &[HistoryEvent]) -> ScenarioVerdict {
    let (aborted, teardown_error) = match &record.status {
        ScenarioStatus::NotRun { reason } => {
            return ScenarioVerdict::new(Verdict::Error, Some(reason.clone()))
        }
        ScenarioStatus::Unsupported { reason, .. } => {
            return ScenarioVerdict::new(Verdict::Unsupported, Some(reason.clone()))
        }
        ScenarioStatus::Ran {
            aborted,
            teardown_error,
        } => (aborted, teardown_error),
    };
    let mut v = if record.kind == RecordKind::Isolation {
        judge_isolation(record)
    } else {
        match record.scenario() {
            Some(Ok(scenario)) => judge_checks(&scenario, record, history),
            Some(Err(e)) => ScenarioVerdict::new(
                Verdict::Error,
                Some(format!("the recorded scenario no longer parses: {e}")),
            ),
            None => ScenarioVerdict::new(Verdict::Error, Some("no scenario recorded".into())),
        }
    };
    // A fault the schedule could not carry out leaves the scenario unproven either way.
    let failed_fault = record.faults.iter().find(|f| !f.ok);
    if let Some(reason) = aborted {
        v.verdict = Verdict::Error;
        v.reason = Some(reason.clone());
    } else if let Some(f) = failed_fault {
        v.verdict = Verdict::Error;
        v.reason = Some(format!(
            "fault `{}` ({}) could not be carried out: {}",
            f.action.as_str(),
            f.fault,
            f.detail
        ));
    } else if let Some(e) = teardown_error {
        v.verdict = v.verdict.worst(Verdict::Error);
        v.reason = Some(e.clone());
    }
    v
}

fn judge_isolation(record: &ScenarioRecord) -> ScenarioVerdict {
    match &record.isolation {
        Some(matrix) if matrix.passed() => ScenarioVerdict::new(Verdict::Pass, None),
        Some(matrix) => ScenarioVerdict::new(
            Verdict::Fail,
            Some(format!(
                "failed: {} cell(s) differ from the documented behaviour",
                matrix.mismatches().len()
            )),
        ),
        None => ScenarioVerdict::new(
            Verdict::Error,
            Some("the isolation suite did not run".into()),
        ),
    }
}

/// Expectations, thresholds, consistency models and native steps of a scenario that ran.
fn judge_checks(
    scenario: &Scenario,
    record: &ScenarioRecord,
    history: &[HistoryEvent],
) -> ScenarioVerdict {
    let expectations = check_expectations(scenario, history);
    let (counts, measured) = match &record.workload {
        Some(w) => (
            workload_counts(&record.latency),
            Duration::from_nanos(w.measured_ns),
        ),
        None => (
            expectations.by_op.clone(),
            Duration::from_nanos(record.elapsed_ns),
        ),
    };
    let errors = match &record.workload {
        Some(w) => step_errors(scenario, &expectations) + w.errors,
        None => expectations.total().errors,
    };
    let availability = faults::availability(history);
    let set_account = faults::set_account(history);
    let figures = FaultFigures {
        lost: set_account.as_ref().map(|a| a.lost.len() as u64),
        unexpected: set_account.as_ref().map(|a| a.unexpected.len() as u64),
        duplicated: set_account.as_ref().map(|a| a.duplicated.len() as u64),
        longest_unavailable_ns: (!history.is_empty()).then_some(availability.longest_ms * 1e6),
    };
    let thresholds = evaluate_thresholds(
        &scenario.thresholds,
        &record.latency,
        &counts,
        measured,
        &figures,
    );
    let consistency: Vec<ConsistencyVerdict> = scenario
        .checks
        .iter()
        .filter_map(|c| c.model_name())
        .filter_map(|name| name.parse::<crate::Model>().ok())
        .map(|model| crate::check_history(history, model))
        .collect();
    let native: Vec<Verdict> = record
        .native
        .iter()
        .map(|n| Verdict::of_native(n.outcome.verdict))
        .collect();
    let checks_ok = expectations.passed()
        && thresholds.iter().all(|t| t.passed)
        && consistency.iter().all(|c| c.valid)
        && !native.iter().any(|n| n.fails());
    let mut v = ScenarioVerdict {
        verdict: if checks_ok {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        reason: None,
        steps: expectations.steps,
        thresholds,
        consistency,
        native,
        errors,
        recoveries: faults::recoveries(&record.faults, &availability),
        availability,
        set_account,
        measured_ops: counts.values().map(|c| c.ops).sum(),
        measured,
    };
    if !checks_ok {
        v.reason = Some(failure_reason(record, &v));
    }
    // Nothing verified: every step was a native one this target cannot do or cannot show.
    if v.verdict == Verdict::Pass
        && scenario.steps.is_empty()
        && !v.native.is_empty()
        && !v.native.contains(&Verdict::Pass)
    {
        let first = &record.native[0];
        v.verdict = if v.native.contains(&Verdict::Unverified) {
            Verdict::Unverified
        } else {
            Verdict::Unsupported
        };
        v.reason = Some(format!("{}: {}", v.native[0], first.outcome.observed));
    }
    // A native step that could not be carried out makes the run an error, not a finding.
    if let Some(i) = v.native.iter().position(|n| *n == Verdict::Error) {
        let n = &record.native[i];
        v.verdict = Verdict::Error;
        v.reason = Some(format!(
            "step `{}` could not run: {}",
            n.step, n.outcome.observed
        ));
    }
    v
}

/// `failed: step `x`, serializable (G1c found), threshold `p99 < 1ms` (observed 2ms)`.
fn failure_reason(record: &ScenarioRecord, v: &ScenarioVerdict) -> String {
    let failed: Vec<String> = v
        .steps
        .iter()
        .filter(|s| !s.passed)
        .map(|s| format!("step `{}`", s.step))
        .chain(v.consistency.iter().filter(|c| !c.valid).map(|c| {
            let found = c.forbidden_names();
            if found.is_empty() {
                format!("{} (inconclusive: {})", c.model, c.inconclusive.join("; "))
            } else {
                format!("{} ({} found)", c.model, found.join(", "))
            }
        }))
        .chain(
            record
                .native
                .iter()
                .zip(&v.native)
                .filter(|(_, verdict)| verdict.fails())
                .map(|(n, verdict)| {
                    format!("step `{}` ({verdict}: {})", n.step, n.outcome.observed)
                }),
        )
        .chain(v.thresholds.iter().filter(|t| !t.passed).map(|t| {
            format!(
                "threshold `{}` (observed {})",
                t.threshold, t.observed_display
            )
        }))
        .collect();
    format!("failed: {}", failed.join(", "))
}

/// Ops and errors per op kind of the measured window, from its histograms.
fn workload_counts(latency: &LatencyHistograms) -> BTreeMap<OpKind, OpCounts> {
    let mut counts: BTreeMap<OpKind, OpCounts> = BTreeMap::new();
    for (kind, outcome, h) in latency.iter() {
        let c = counts.entry(kind).or_default();
        c.ops += h.len();
        if outcome != Outcome::Ok {
            c.errors += h.len();
        }
    }
    counts
}

/// Errors of the steps alone: outcomes other than `ok` that the step did not expect.
fn step_errors(scenario: &Scenario, e: &Expectations) -> u64 {
    e.steps
        .iter()
        .zip(&scenario.steps)
        .map(|(v, step)| {
            v.outcomes
                .iter()
                .filter(|(o, _)| **o != Outcome::Ok && **o != step.expect.outcome)
                .map(|(_, n)| n)
                .sum::<u64>()
        })
        .sum()
}

#[cfg(test)]
mod tests;
