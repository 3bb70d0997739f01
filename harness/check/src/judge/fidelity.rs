//! The fidelity matrix: a conformance scenario's steps (portable and native, in file
//! order) × the targets it ran on — what each target did against what the documentation
//! promises.

use super::{ScenarioVerdict, TargetVerdict, Verdict};
use crate::expectations::StepVerdict;
use assay_core::record::{NativeObservation, RecordKind, RunRecord, ScenarioRecord};
use assay_core::Measurement;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct FidelityMatrix {
    pub scenario: String,
    pub targets: Vec<String>,
    pub rows: Vec<FidelityRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FidelityRow {
    pub step: String,
    /// `family.check` of a native step; absent for a portable step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documented: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cite: Option<String>,
    /// One cell per target, in `targets` order.
    pub cells: Vec<FidelityCell>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FidelityCell {
    pub verdict: Verdict,
    pub observed: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
}

impl FidelityCell {
    fn plain(verdict: Verdict, observed: String) -> Self {
        FidelityCell {
            verdict,
            observed,
            evidence: Vec::new(),
            measurements: Vec::new(),
        }
    }
}

/// One scenario on one target: its record and its verdict.
type Run<'a> = (&'a str, &'a ScenarioRecord, &'a ScenarioVerdict);

/// One matrix per scenario that has native steps or is of kind `conformance`, over every
/// target that ran it (a target that could not run it shows why in each cell).
pub(super) fn matrices(record: &RunRecord, verdicts: &[TargetVerdict]) -> Vec<FidelityMatrix> {
    let mut names: Vec<&str> = Vec::new();
    for t in &record.targets {
        for s in &t.scenarios {
            let conformance = s.kind == RecordKind::Conformance || !s.native.is_empty();
            if conformance && !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let runs: Vec<Run<'_>> = record
                .targets
                .iter()
                .zip(verdicts)
                .filter_map(|(t, tv)| {
                    t.scenarios
                        .iter()
                        .zip(&tv.scenarios)
                        .find(|(s, _)| s.name == name)
                        .map(|(s, v)| (t.name.as_str(), s, v))
                })
                .collect();
            // The row order and texts come from the run with the most steps (a run that
            // stopped early has fewer).
            let template = runs
                .iter()
                .max_by_key(|(_, s, v)| v.steps.len() + s.native.len())
                .expect("a name comes from at least one run");
            let rows = template_rows(template.1, &template.2.steps)
                .into_iter()
                .map(|(step, native, documented, cite)| FidelityRow {
                    cells: runs.iter().map(|run| cell(run, &step)).collect(),
                    native,
                    step,
                    documented,
                    cite,
                })
                .collect();
            FidelityMatrix {
                scenario: name.to_string(),
                targets: runs.iter().map(|(t, _, _)| t.to_string()).collect(),
                rows,
            }
        })
        .collect()
}

type TemplateRow = (String, Option<String>, Option<String>, Option<String>);

/// (step, native check, documented, cite) in file order: native steps sit after
/// `after_steps` portable ones.
fn template_rows(s: &ScenarioRecord, steps: &[StepVerdict]) -> Vec<TemplateRow> {
    let mut rows = Vec::new();
    let mut native = s.native.iter().peekable();
    for i in 0..=steps.len() {
        while let Some(n) = native.next_if(|n| n.after_steps <= i) {
            rows.push((
                n.step.clone(),
                Some(n.native.clone()),
                Some(n.documented.clone()),
                Some(n.cite.clone()),
            ));
        }
        if let Some(p) = steps.get(i) {
            rows.push((p.step.clone(), None, p.documented.clone(), p.cite.clone()));
        }
    }
    rows
}

fn native_cell(n: &NativeObservation, verdict: Verdict) -> FidelityCell {
    FidelityCell {
        verdict,
        observed: n.outcome.observed.clone(),
        evidence: n.outcome.evidence.clone(),
        measurements: n.outcome.measurements.clone(),
    }
}

fn cell((_, s, v): &Run<'_>, step: &str) -> FidelityCell {
    if let Some((n, verdict)) = s.native.iter().zip(&v.native).find(|(n, _)| n.step == step) {
        return native_cell(n, *verdict);
    }
    if let Some(p) = v.steps.iter().find(|p| p.step == step) {
        let observed = match p.examples.first() {
            Some(m) => format!(
                "{} of {} ops did not match; e.g. key {}: expected {}, observed {}",
                p.mismatches, p.planned, m.key, m.expected, m.observed
            ),
            None if p.completed < p.planned => {
                format!("{} of {} ops completed", p.completed, p.planned)
            }
            None => format!("{} ops as expected", p.completed),
        };
        let verdict = if p.passed && p.completed == p.planned {
            Verdict::Pass
        } else {
            Verdict::Deviates
        };
        return FidelityCell::plain(verdict, observed);
    }
    let verdict = match v.verdict {
        Verdict::Unsupported => Verdict::Unsupported,
        _ => Verdict::Error,
    };
    FidelityCell::plain(
        verdict,
        v.reason.clone().unwrap_or_else(|| "did not run".into()),
    )
}
