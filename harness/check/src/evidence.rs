//! Collecting anomalies as the checkers find them, and describing ops for evidence.

use crate::history_view::{Effect, Observed, View};
use crate::model::{Anomaly, Evidence, EvidenceOp};
use crate::text::{show_list, show_value};
use assay_core::Op;
use std::collections::BTreeMap;

/// At most this many examples are kept per anomaly name; all are counted.
pub(crate) const MAX_EXAMPLES: usize = 8;

/// Collects anomalies as checkers find them.
#[derive(Default)]
pub(crate) struct Findings {
    pub anomalies: Vec<Anomaly>,
    pub counts: BTreeMap<&'static str, u64>,
    pub checked: Vec<String>,
    pub skipped: Vec<String>,
    pub inconclusive: Vec<String>,
}

impl Findings {
    /// Counts one anomaly; builds its evidence only while examples are still wanted.
    pub(crate) fn add(&mut self, name: &'static str, build: impl FnOnce() -> (String, Evidence)) {
        let n = self.counts.entry(name).or_default();
        *n += 1;
        if *n as usize <= MAX_EXAMPLES {
            let (explanation, evidence) = build();
            self.anomalies.push(Anomaly {
                name,
                explanation,
                evidence,
            });
        }
    }
}

fn show_observed(o: &Observed<'_>) -> String {
    match o {
        Observed::Absent => "nil".to_string(),
        Observed::List(l) => show_list(l),
        Observed::Register { value, version } => match version {
            Some(v) => format!("{} ver {v}", show_value(*value)),
            None => show_value(*value),
        },
        Observed::Unknown => "?".to_string(),
    }
}

/// The op's accesses with their results, e.g. `[append x 3] [r y [1 2]]`.
pub(crate) fn describe_op(view: &View<'_>, op: usize) -> String {
    let range = view.op_accesses[op].clone();
    if range.is_empty() {
        return format!("[{}]", view.ops[op].op.kind());
    }
    let mut parts = Vec::new();
    for a in &view.accesses[range.start as usize..range.end as usize] {
        let k = view.keys[a.key as usize];
        parts.push(match &a.effect {
            Effect::Read(o) => format!("[r {k} {}]", show_observed(o)),
            Effect::Write(v) => format!("[w {k} {v:?}]"),
            Effect::InsertIfAbsent(v) => format!("[insert {k} {v:?}]"),
            Effect::CasVersion { expected, value } => match expected {
                Some(e) => format!("[cas {k} ver {e} -> {value:?}]"),
                None => format!("[cas {k} absent -> {value:?}]"),
            },
            Effect::CasValue { expected, value } => {
                format!("[cas {k} {} -> {value:?}]", show_value(expected.as_deref()))
            }
            Effect::Delete => format!("[delete {k}]"),
            Effect::Append(e) => format!("[append {k} {e}]"),
            Effect::AppendStr(v) => format!("[append {k} {v:?}]"),
        });
    }
    if matches!(view.ops[op].op, Op::Batch { .. }) {
        format!("batch {}", parts.join(" "))
    } else {
        parts.join(" ")
    }
}

pub(crate) fn evidence_op(view: &View<'_>, op: usize, label: impl Into<String>) -> EvidenceOp {
    let o = &view.ops[op];
    EvidenceOp {
        label: label.into(),
        op_id: o.op_id,
        client: o.client,
        outcome: o.outcome,
        start_ns: o.start_ns,
        end_ns: o.completed().then_some(o.end_ns),
        ops: describe_op(view, op),
    }
}

/// Evidence naming the given ops as T1, T2, … (no cycle).
pub(crate) fn ops_evidence(view: &View<'_>, ops: &[usize]) -> Evidence {
    Evidence {
        ops: ops
            .iter()
            .enumerate()
            .map(|(i, &o)| evidence_op(view, o, format!("T{}", i + 1)))
            .collect(),
        cycle: Vec::new(),
    }
}
