//! The verdict a check returns: every anomaly with its evidence (the ops involved and,
//! for a dependency cycle, the edges between them), printable for people and
//! serialisable for `report.json`. The models and anomaly names live in `models`.

pub use crate::models::{names, Model, UnknownModel};
use crate::staleness::StalenessSummary;
use crate::thresholds::format_ns;
use assay_core::Outcome;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The kind of a dependency between two operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// The second op overwrote (or appended after) the first op's write.
    Ww,
    /// The second op read the first op's write.
    Wr,
    /// The second op overwrote the version the first op read (anti-dependency).
    Rw,
    /// The same client issued the second op after the first completed.
    Process,
    /// The first op completed before the second began.
    Realtime,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Ww => "ww",
            EdgeKind::Wr => "wr",
            EdgeKind::Rw => "rw",
            EdgeKind::Process => "process",
            EdgeKind::Realtime => "rt",
        }
    }
}

impl fmt::Display for EdgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One op named in evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvidenceOp {
    /// `T1`, `T2`, … in the order the evidence names them.
    pub label: String,
    pub op_id: u64,
    pub client: u32,
    pub outcome: Outcome,
    pub start_ns: u64,
    /// `None` when the op never completed.
    pub end_ns: Option<u64>,
    /// The op's accesses with what they returned, e.g. `[append x 3] [r y [1 2]]`.
    pub ops: String,
}

/// One edge of a dependency cycle, between two of the evidence's ops.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CycleEdge {
    /// Index into `Evidence::ops`.
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// Why the edge exists, e.g. `T2 appended 5 after T1's 4 on x`.
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Evidence {
    pub ops: Vec<EvidenceOp>,
    /// For a cycle: its edges in order, the last one returning to the first op.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<CycleEdge>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Anomaly {
    pub name: &'static str,
    pub explanation: String,
    pub evidence: Evidence,
}

/// The result of checking one history against one model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConsistencyVerdict {
    pub model: Model,
    /// No forbidden anomaly was found and nothing was left inconclusive.
    pub valid: bool,
    /// Examples of forbidden anomalies, a few per name; `counts` has the totals.
    pub anomalies: Vec<Anomaly>,
    /// Every anomaly found, forbidden or not, by name.
    pub counts: BTreeMap<&'static str, u64>,
    /// Anomalies found that the model allows (e.g. G2 under snapshot isolation).
    pub allowed: Vec<&'static str>,
    /// What was checked, e.g. `list-append: 1000 transactions over 10 keys`.
    pub checked: Vec<String>,
    /// What was not checked, and why.
    pub skipped: Vec<String>,
    /// Checks that ran out of their search budget: neither passed nor failed.
    pub inconclusive: Vec<String>,
    pub staleness: StalenessSummary,
}

impl ConsistencyVerdict {
    /// Total number of forbidden anomalies found.
    pub fn forbidden_count(&self) -> u64 {
        self.counts
            .iter()
            .filter(|(n, _)| self.model.forbids_anomaly(n))
            .map(|(_, c)| c)
            .sum()
    }

    /// The anomaly names found that the model forbids.
    pub fn forbidden_names(&self) -> Vec<&'static str> {
        self.counts
            .keys()
            .copied()
            .filter(|n| self.model.forbids_anomaly(n))
            .collect()
    }
}

impl fmt::Display for ConsistencyVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let forbidden: Vec<String> = self
            .counts
            .iter()
            .filter(|(n, _)| self.model.forbids_anomaly(n))
            .map(|(n, c)| format!("{n} ×{c}"))
            .collect();
        if self.valid {
            writeln!(f, "{}: valid", self.model)?;
        } else if forbidden.is_empty() {
            writeln!(f, "{}: inconclusive", self.model)?;
        } else {
            writeln!(f, "{}: INVALID — {}", self.model, forbidden.join(", "))?;
        }
        for c in &self.checked {
            writeln!(f, "  checked: {c}")?;
        }
        for s in &self.skipped {
            writeln!(f, "  skipped: {s}")?;
        }
        for s in &self.inconclusive {
            writeln!(f, "  inconclusive: {s}")?;
        }
        if !self.allowed.is_empty() {
            let allowed: Vec<String> = self
                .allowed
                .iter()
                .map(|n| format!("{n} ×{}", self.counts.get(n).copied().unwrap_or(0)))
                .collect();
            writeln!(f, "  allowed by {}: {}", self.model, allowed.join(", "))?;
        }
        if self.staleness.reads > 0 {
            writeln!(f, "  staleness: {}", self.staleness)?;
        }
        for a in &self.anomalies {
            writeln!(f)?;
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} — {}", self.name, self.explanation)?;
        let ev = &self.evidence;
        if let Some(first) = ev.cycle.first() {
            let mut line = ev.ops[first.from].label.clone();
            for e in &ev.cycle {
                line.push_str(&format!(" < {} < {}", e.kind, ev.ops[e.to].label));
            }
            writeln!(f, "  {line}")?;
        }
        for o in &ev.ops {
            let end = match o.end_ns {
                Some(e) => format_ns(e as f64),
                None => "never".to_string(),
            };
            writeln!(
                f,
                "  {} = op {} by client {} ({}, {}–{}): {}",
                o.label,
                o.op_id,
                o.client,
                o.outcome,
                format_ns(o.start_ns as f64),
                end,
                o.ops
            )?;
        }
        for e in &ev.cycle {
            writeln!(
                f,
                "  {} < {} < {}: {}",
                ev.ops[e.from].label, e.kind, ev.ops[e.to].label, e.why
            )?;
        }
        Ok(())
    }
}
