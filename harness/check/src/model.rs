//! Consistency models, the anomaly names each forbids, and the verdict a check returns:
//! every anomaly with its evidence (the ops involved and, for a dependency cycle, the
//! edges between them), printable for people and serialisable for `report.json`.

use crate::history_view::{Effect, Observed, View};
use crate::staleness::StalenessSummary;
use crate::thresholds::format_ns;
use assay_core::{Op, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Anomaly names, as Elle and Adya spell them where they have one.
pub mod names {
    /// A cycle of write-write (ww) dependencies only: dirty write.
    pub const G0: &str = "G0";
    /// A read of a write that failed (aborted read).
    pub const G1A: &str = "G1a";
    /// A read of a value a transaction later overwrote itself (intermediate read).
    pub const G1B: &str = "G1b";
    /// A cycle of ww and write-read (wr) dependencies: circular information flow.
    pub const G1C: &str = "G1c";
    /// A cycle with exactly one read-write anti-dependency (rw): read skew.
    pub const G_SINGLE: &str = "G-single";
    /// A cycle with two or more rw edges: write skew.
    pub const G2: &str = "G2";
    pub const G0_REALTIME: &str = "G0-realtime";
    pub const G1C_REALTIME: &str = "G1c-realtime";
    pub const G_SINGLE_REALTIME: &str = "G-single-realtime";
    pub const G2_REALTIME: &str = "G2-realtime";
    /// A transaction's read disagrees with its own earlier reads and writes.
    pub const INTERNAL: &str = "internal";
    /// A list read holding the same element twice.
    pub const DUPLICATE_ELEMENTS: &str = "duplicate-elements";
    /// Two reads of a key that no single order of appends (or versions) explains.
    pub const INCOMPATIBLE_ORDER: &str = "incompatible-order";
    /// A list element no op appended.
    pub const PHANTOM_APPEND: &str = "phantom-append";
    /// A register value no op wrote.
    pub const PHANTOM_WRITE: &str = "phantom-write";
    /// An acknowledged append missing from the key's final read.
    pub const LOST_APPEND: &str = "lost-append";
    /// An acknowledged write overwritten by nothing yet missing from the final read.
    pub const LOST_WRITE: &str = "lost-write";
    /// Single-key register ops with no legal sequential order (per key).
    pub const NONLINEARIZABLE: &str = "nonlinearizable";
    pub const READ_YOUR_WRITES: &str = "read-your-writes";
    pub const MONOTONIC_READS: &str = "monotonic-reads";
    pub const MONOTONIC_WRITES: &str = "monotonic-writes";
    pub const WRITES_FOLLOW_READS: &str = "writes-follow-reads";
}

use names::*;

/// Violations of basic data integrity: forbidden whatever the model.
const INTEGRITY: &[&str] = &[
    G1A,
    DUPLICATE_ELEMENTS,
    INCOMPATIBLE_ORDER,
    PHANTOM_APPEND,
    PHANTOM_WRITE,
    LOST_APPEND,
    LOST_WRITE,
];
const READ_COMMITTED: &[&str] = &[G0, G1B, G1C];
// A transaction seeing others' commits between its own reads ("internal") is what READ
// COMMITTED allows (fresh snapshot per statement); snapshot isolation and stronger forbid
// it, as in Elle's model map.
const SNAPSHOT_ISOLATION: &[&str] = &[INTERNAL, G_SINGLE];
const SERIALIZABLE: &[&str] = &[G2];
const LINEARIZABLE: &[&str] = &[
    NONLINEARIZABLE,
    G0_REALTIME,
    G1C_REALTIME,
    G_SINGLE_REALTIME,
    G2_REALTIME,
];
const SESSION: &[&str] = &[
    READ_YOUR_WRITES,
    MONOTONIC_READS,
    MONOTONIC_WRITES,
    WRITES_FOLLOW_READS,
];

/// The consistency model a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Single-key register ops linearizable per key; transactions strict serializable
    /// (serializable, and consistent with real-time order).
    Linearizable,
    Serializable,
    SnapshotIsolation,
    ReadCommitted,
    /// Per-client session guarantees: read-your-writes, monotonic reads, monotonic
    /// writes, writes-follow-reads.
    Session,
}

impl Model {
    pub const ALL: [Model; 5] = [
        Model::Linearizable,
        Model::Serializable,
        Model::SnapshotIsolation,
        Model::ReadCommitted,
        Model::Session,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Model::Linearizable => "linearizable",
            Model::Serializable => "serializable",
            Model::SnapshotIsolation => "snapshot-isolation",
            Model::ReadCommitted => "read-committed",
            Model::Session => "session",
        }
    }

    /// Every anomaly name this model forbids.
    pub fn forbids(self) -> Vec<&'static str> {
        let parts: &[&[&str]] = match self {
            Model::ReadCommitted => &[INTEGRITY, READ_COMMITTED],
            Model::SnapshotIsolation => &[INTEGRITY, READ_COMMITTED, SNAPSHOT_ISOLATION],
            Model::Serializable => &[INTEGRITY, READ_COMMITTED, SNAPSHOT_ISOLATION, SERIALIZABLE],
            Model::Linearizable => &[
                INTEGRITY,
                READ_COMMITTED,
                SNAPSHOT_ISOLATION,
                SERIALIZABLE,
                LINEARIZABLE,
            ],
            Model::Session => &[INTEGRITY, SESSION],
        };
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    pub fn forbids_anomaly(self, name: &str) -> bool {
        self.forbids().contains(&name)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown consistency model {given:?}: use one of linearizable, serializable, snapshot-isolation, read-committed, session")]
pub struct UnknownModel {
    pub given: String,
}

impl FromStr for Model {
    type Err = UnknownModel;
    fn from_str(s: &str) -> Result<Model, UnknownModel> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let norm = match norm.as_str() {
            "strict-serializable" => "linearizable",
            "si" => "snapshot-isolation",
            "rc" => "read-committed",
            other => other,
        };
        Model::ALL
            .into_iter()
            .find(|m| m.as_str() == norm)
            .ok_or_else(|| UnknownModel {
                given: s.to_string(),
            })
    }
}

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
    /// The first op completed before the second began.
    Realtime,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Ww => "ww",
            EdgeKind::Wr => "wr",
            EdgeKind::Rw => "rw",
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

/// `a, b, c` or `a, b, c and 7 more`.
pub(crate) fn short_list<T: fmt::Display>(items: &[T]) -> String {
    const SHOWN: usize = 5;
    let mut s: Vec<String> = items.iter().take(SHOWN).map(|i| i.to_string()).collect();
    if items.len() > SHOWN {
        s.push(format!("and {} more", items.len() - SHOWN));
    }
    s.join(", ")
}

/// A list for evidence: long lists keep their head and tail, where the action is.
pub(crate) fn show_list(l: &[i64]) -> String {
    const HEAD: usize = 3;
    const TAIL: usize = 6;
    let join = |xs: &[i64]| {
        xs.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if l.len() <= HEAD + TAIL + 1 {
        format!("[{}]", join(l))
    } else {
        format!(
            "[{} …{} more… {}]",
            join(&l[..HEAD]),
            l.len() - HEAD - TAIL,
            join(&l[l.len() - TAIL..])
        )
    }
}

pub(crate) fn show_value(v: Option<&str>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "nil".to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_parse_and_nest() {
        for m in Model::ALL {
            assert_eq!(m.as_str().parse::<Model>().unwrap(), m);
        }
        assert_eq!(
            "snapshot_isolation".parse::<Model>().unwrap(),
            Model::SnapshotIsolation
        );
        let err = "causal".parse::<Model>().unwrap_err().to_string();
        assert!(
            err.contains("causal") && err.contains("read-committed"),
            "{err}"
        );
        assert!(Model::Serializable.forbids_anomaly(G2));
        assert!(!Model::SnapshotIsolation.forbids_anomaly(G2));
        assert!(Model::SnapshotIsolation.forbids_anomaly(G_SINGLE));
        assert!(!Model::ReadCommitted.forbids_anomaly(G_SINGLE));
        assert!(Model::ReadCommitted.forbids_anomaly(G1C));
        assert!(Model::Linearizable.forbids_anomaly(G2_REALTIME));
        assert!(!Model::Serializable.forbids_anomaly(G2_REALTIME));
        assert!(Model::Session.forbids_anomaly(READ_YOUR_WRITES));
        for m in Model::ALL {
            assert!(
                m.forbids_anomaly(LOST_APPEND) && m.forbids_anomaly(G1A),
                "{m}"
            );
        }
    }

    #[test]
    fn long_lists_keep_head_and_tail() {
        assert_eq!(show_list(&[1, 2, 3]), "[1 2 3]");
        let l: Vec<i64> = (1..=20).collect();
        assert_eq!(show_list(&l), "[1 2 3 …11 more… 15 16 17 18 19 20]");
        assert_eq!(short_list(&["a", "b"]), "a, b");
        assert_eq!(
            short_list(&[1, 2, 3, 4, 5, 6, 7]),
            "1, 2, 3, 4, 5, and 2 more"
        );
    }
}
