//! The consistency models and the anomalies each forbids, as data: [`MODELS`] (one row
//! per model: names, the weaker models it implies, the anomalies it proscribes directly)
//! and [`ANOMALIES`] (one row per anomaly: the anomalies it is also an instance of).
//! Both follow Elle's `elle.consistency-model` (its model graph, `direct-proscribed-
//! anomalies` and `implied-anomalies`): a model forbids every anomaly it or a model it
//! implies proscribes, and every anomaly that implies one of those.
//!
//! Where Elle is silent Assay decides, and says so in the row's `about`:
//! `update-atomic` (no row in Elle), `linearizable` over transactions (checked as strict
//! serializability of one-op transactions), `session` (Assay's per-client guarantees),
//! and the data-integrity anomalies only Assay names (phantom elements or values, writes
//! missing from a final read), which every model forbids.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Anomaly names, as Elle and Adya spell them where they have one.
pub mod names {
    pub const G0: &str = "G0";
    pub const G0_PROCESS: &str = "G0-process";
    pub const G0_REALTIME: &str = "G0-realtime";
    /// Union of G1a, G1b and G1c (never reported itself).
    pub const G1: &str = "G1";
    pub const G1_PROCESS: &str = "G1-process";
    pub const G1_REALTIME: &str = "G1-realtime";
    /// A read of a write that failed (aborted read).
    pub const G1A: &str = "G1a";
    /// A read of a value its writer later overwrote itself (intermediate read).
    pub const G1B: &str = "G1b";
    pub const G1C: &str = "G1c";
    pub const G1C_PROCESS: &str = "G1c-process";
    pub const G1C_REALTIME: &str = "G1c-realtime";
    pub const G_SINGLE: &str = "G-single";
    pub const G_SINGLE_PROCESS: &str = "G-single-process";
    pub const G_SINGLE_REALTIME: &str = "G-single-realtime";
    pub const G_NONADJACENT: &str = "G-nonadjacent";
    pub const G_NONADJACENT_PROCESS: &str = "G-nonadjacent-process";
    pub const G_NONADJACENT_REALTIME: &str = "G-nonadjacent-realtime";
    pub const G2_ITEM: &str = "G2-item";
    pub const G2_ITEM_PROCESS: &str = "G2-item-process";
    pub const G2_ITEM_REALTIME: &str = "G2-item-realtime";
    pub const G2: &str = "G2";
    pub const G2_PROCESS: &str = "G2-process";
    pub const G2_REALTIME: &str = "G2-realtime";
    pub const INTERNAL: &str = "internal";
    pub const DIRTY_UPDATE: &str = "dirty-update";
    pub const DUPLICATE_ELEMENTS: &str = "duplicate-elements";
    pub const INCOMPATIBLE_ORDER: &str = "incompatible-order";
    pub const LOST_UPDATE: &str = "lost-update";
    pub const FUTURE_READ: &str = "future-read";
    pub const CYCLIC_VERSIONS: &str = "cyclic-versions";
    pub const PHANTOM_APPEND: &str = "phantom-append";
    pub const PHANTOM_WRITE: &str = "phantom-write";
    /// An acknowledged append missing from a read marked final.
    pub const LOST_APPEND: &str = "lost-append";
    /// An acknowledged register write missing from a read marked final.
    pub const LOST_WRITE: &str = "lost-write";
    /// Single-key register ops with no legal sequential order (per key).
    pub const NONLINEARIZABLE: &str = "nonlinearizable";
    /// Single-key register ops with no legal serial order at all (per key).
    pub const NONSERIALIZABLE: &str = "nonserializable";
    /// A dependency component the cycle search could not finish within its budget.
    pub const PL1_CYCLE_EXISTS: &str = "PL-1-cycle-exists";
    pub const PL2_CYCLE_EXISTS: &str = "PL-2-cycle-exists";
    pub const PL3_CYCLE_EXISTS: &str = "PL-3-cycle-exists";
    pub const SESSION_CYCLE_EXISTS: &str = "strong-session-serializable-cycle-exists";
    pub const PLSS_CYCLE_EXISTS: &str = "PL-SS-cycle-exists";
    pub const READ_YOUR_WRITES: &str = "read-your-writes";
    pub const MONOTONIC_READS: &str = "monotonic-reads";
    pub const MONOTONIC_WRITES: &str = "monotonic-writes";
    pub const WRITES_FOLLOW_READS: &str = "writes-follow-reads";
}

use names::*;

/// One anomaly: its name, the anomalies every instance of it also is (Elle's
/// `implied-anomalies`), and what it means.
pub struct AnomalySpec {
    pub name: &'static str,
    pub implies: &'static [&'static str],
    pub about: &'static str,
}

const fn a(
    name: &'static str,
    implies: &'static [&'static str],
    about: &'static str,
) -> AnomalySpec {
    AnomalySpec {
        name,
        implies,
        about,
    }
}

/// Every anomaly Assay reports, and the implications between them.
pub const ANOMALIES: &[AnomalySpec] = &[
    a(
        G0,
        &[G1C, G0_PROCESS],
        "a cycle of write-write dependencies (dirty write)",
    ),
    a(
        G0_PROCESS,
        &[G1C_PROCESS, G0_REALTIME],
        "G0 given process order",
    ),
    a(G0_REALTIME, &[G1C_REALTIME], "G0 given real-time order"),
    a(G1A, &[G1], "a read of a write that failed (aborted read)"),
    a(
        G1B,
        &[G1],
        "a read of an intermediate version (intermediate read)",
    ),
    a(
        G1C,
        &[G1, G1C_PROCESS, G_SINGLE],
        "a cycle of ww and wr dependencies (circular information flow)",
    ),
    a(
        G1C_PROCESS,
        &[G1C_REALTIME, G1_PROCESS, G_SINGLE_PROCESS],
        "G1c given process order",
    ),
    a(
        G1C_REALTIME,
        &[G1_REALTIME, G_SINGLE_REALTIME],
        "G1c given real-time order",
    ),
    a(G1, &[G1_PROCESS], "G1a, G1b or G1c"),
    a(G1_PROCESS, &[G1_REALTIME], "G1 given process order"),
    a(G1_REALTIME, &[], "G1 given real-time order"),
    a(
        G_SINGLE,
        &[G_NONADJACENT, G_SINGLE_PROCESS],
        "a cycle with exactly one anti-dependency (read skew)",
    ),
    a(
        G_SINGLE_PROCESS,
        &[G_NONADJACENT_PROCESS, G_SINGLE_REALTIME],
        "G-single given process order",
    ),
    a(
        G_SINGLE_REALTIME,
        &[G_NONADJACENT_REALTIME],
        "G-single given real-time order",
    ),
    a(
        G_NONADJACENT,
        &[G2_ITEM, G_NONADJACENT_PROCESS],
        "a cycle whose anti-dependencies are never adjacent",
    ),
    a(
        G_NONADJACENT_PROCESS,
        &[G2_ITEM_PROCESS, G_NONADJACENT_REALTIME],
        "G-nonadjacent given process order",
    ),
    a(
        G_NONADJACENT_REALTIME,
        &[G2_ITEM_REALTIME],
        "G-nonadjacent given real-time order",
    ),
    a(
        G2_ITEM,
        &[G2, G2_ITEM_PROCESS],
        "a cycle with two or more item anti-dependencies (write skew)",
    ),
    a(
        G2_ITEM_PROCESS,
        &[G2_PROCESS, G2_ITEM_REALTIME],
        "G2-item given process order",
    ),
    a(
        G2_ITEM_REALTIME,
        &[G2_REALTIME],
        "G2-item given real-time order",
    ),
    a(
        G2,
        &[G2_PROCESS],
        "any dependency cycle with anti-dependencies",
    ),
    a(G2_PROCESS, &[G2_REALTIME], "G2 given process order"),
    a(G2_REALTIME, &[], "G2 given real-time order"),
    a(
        INTERNAL,
        &[],
        "a read disagrees with the transaction's own earlier reads and writes",
    ),
    a(
        DIRTY_UPDATE,
        &[G1A],
        "a write built on a version a failed transaction wrote",
    ),
    a(
        DUPLICATE_ELEMENTS,
        &[],
        "a list read holds the same element twice",
    ),
    a(
        INCOMPATIBLE_ORDER,
        &[G1A],
        "two reads of a key no single version order explains",
    ),
    a(
        LOST_UPDATE,
        &[G2_ITEM],
        "two committed transactions read the same version of a key and both wrote it",
    ),
    a(
        FUTURE_READ,
        &[G1C],
        "a read observes a write its own transaction makes later",
    ),
    a(
        CYCLIC_VERSIONS,
        &[],
        "the version order of a key has a cycle",
    ),
    a(PHANTOM_APPEND, &[], "a list element no op appended"),
    a(PHANTOM_WRITE, &[], "a register value no op wrote"),
    a(
        LOST_APPEND,
        &[],
        "an acknowledged append missing from a read marked final",
    ),
    a(
        LOST_WRITE,
        &[],
        "an acknowledged write missing from a read marked final",
    ),
    a(
        NONSERIALIZABLE,
        &[NONLINEARIZABLE],
        "single-key register ops with no legal serial order",
    ),
    a(
        NONLINEARIZABLE,
        &[],
        "single-key register ops with no legal order consistent with real time",
    ),
    a(
        PL1_CYCLE_EXISTS,
        &[PL2_CYCLE_EXISTS],
        "a ww cycle exists; the search for it ran out of budget",
    ),
    a(
        PL2_CYCLE_EXISTS,
        &[PL3_CYCLE_EXISTS],
        "a ww/wr cycle exists; the search for it ran out of budget",
    ),
    a(
        PL3_CYCLE_EXISTS,
        &[SESSION_CYCLE_EXISTS],
        "a dependency cycle exists; the search for it ran out of budget",
    ),
    a(
        SESSION_CYCLE_EXISTS,
        &[PLSS_CYCLE_EXISTS],
        "a cycle with process order exists; the search ran out of budget",
    ),
    a(
        PLSS_CYCLE_EXISTS,
        &[],
        "a cycle with real-time order exists; the search ran out of budget",
    ),
    a(
        READ_YOUR_WRITES,
        &[],
        "a client does not see its own earlier write",
    ),
    a(
        MONOTONIC_READS,
        &[],
        "a client sees an older version after a newer one",
    ),
    a(
        MONOTONIC_WRITES,
        &[],
        "a client's writes take effect out of order",
    ),
    a(
        WRITES_FOLLOW_READS,
        &[],
        "a write is ordered before a write its client had read",
    ),
];

/// The consistency model a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    ReadUncommitted,
    ReadCommitted,
    CursorStability,
    MonotonicAtomicView,
    RepeatableRead,
    UpdateAtomic,
    ConsistentView,
    SnapshotIsolation,
    Serializable,
    StrongSessionSnapshotIsolation,
    StrongSnapshotIsolation,
    StrongSessionSerializable,
    StrictSerializable,
    Linearizable,
    /// Assay's per-client session guarantees: read-your-writes, monotonic reads,
    /// monotonic writes, writes-follow-reads.
    Session,
}

/// One consistency model: its Elle name, Adya's (or another) alias, the weaker models
/// it implies and the anomalies it proscribes on top of theirs.
pub struct ModelSpec {
    pub model: Model,
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub implies: &'static [Model],
    pub proscribes: &'static [&'static str],
    pub about: &'static str,
}

/// Anomalies no model allows: the data itself is wrong. (An aborted read is not one of
/// them: read uncommitted allows it.)
const INTEGRITY: &[&str] = &[
    DUPLICATE_ELEMENTS,
    CYCLIC_VERSIONS,
    PHANTOM_APPEND,
    PHANTOM_WRITE,
    LOST_APPEND,
    LOST_WRITE,
];

use Model::*;

/// Every model, weakest first (the order `assay check --model list` prints).
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        model: ReadUncommitted,
        name: "read-uncommitted",
        aliases: &["PL-1", "ru"],
        implies: &[],
        // Not G1a: reading a write whose transaction later aborted is the dirty read
        // this level allows (Elle's PL-1 proscribes G0, duplicates and cyclic versions
        // only); read committed forbids it through G1.
        proscribes: &[G0, PL1_CYCLE_EXISTS, DUPLICATE_ELEMENTS, CYCLIC_VERSIONS, PHANTOM_APPEND, PHANTOM_WRITE, LOST_APPEND, LOST_WRITE],
        about: "no dirty writes (Adya PL-1)",
    },
    ModelSpec {
        model: ReadCommitted,
        name: "read-committed",
        aliases: &["PL-2", "rc"],
        implies: &[ReadUncommitted],
        proscribes: &[G1, PL2_CYCLE_EXISTS],
        about: "no dirty reads (Adya PL-2)",
    },
    ModelSpec {
        model: CursorStability,
        name: "cursor-stability",
        aliases: &["PL-CS"],
        implies: &[ReadCommitted],
        proscribes: &[G1, LOST_UPDATE],
        about: "read committed without lost updates (Adya PL-CS)",
    },
    ModelSpec {
        model: MonotonicAtomicView,
        name: "monotonic-atomic-view",
        aliases: &["MAV"],
        implies: &[ReadCommitted],
        proscribes: &[],
        about: "read committed with atomic visibility (Bailis); Elle proscribes nothing more it can detect",
    },
    ModelSpec {
        model: RepeatableRead,
        name: "repeatable-read",
        aliases: &["PL-2.99", "rr"],
        implies: &[CursorStability, MonotonicAtomicView],
        proscribes: &[G1, G2_ITEM, LOST_UPDATE, PL3_CYCLE_EXISTS],
        about: "no item anti-dependency cycles (Adya PL-2.99)",
    },
    ModelSpec {
        model: UpdateAtomic,
        name: "update-atomic",
        aliases: &["ROLA"],
        implies: &[ReadCommitted],
        proscribes: &[LOST_UPDATE, DIRTY_UPDATE],
        about: "read committed without lost or dirty updates (Assay's reading of ROLA; not in Elle's graph)",
    },
    ModelSpec {
        model: ConsistentView,
        name: "consistent-view",
        aliases: &["PL-2+"],
        implies: &[CursorStability],
        proscribes: &[G1, G_SINGLE],
        about: "no read skew (Adya PL-2+)",
    },
    ModelSpec {
        model: SnapshotIsolation,
        name: "snapshot-isolation",
        aliases: &["PL-SI", "si"],
        implies: &[ConsistentView, MonotonicAtomicView, UpdateAtomic],
        proscribes: &[INTERNAL, G1, G_NONADJACENT, FUTURE_READ],
        about: "a consistent snapshot per transaction, first committer wins (Adya PL-SI, generalized SI)",
    },
    ModelSpec {
        model: Serializable,
        name: "serializable",
        aliases: &["PL-3", "conflict-serializable"],
        implies: &[RepeatableRead, SnapshotIsolation],
        proscribes: &[INTERNAL, G1, G2, PL3_CYCLE_EXISTS, NONSERIALIZABLE],
        about: "equivalent to some serial order (Adya PL-3)",
    },
    ModelSpec {
        model: StrongSessionSnapshotIsolation,
        name: "strong-session-snapshot-isolation",
        aliases: &["strong-session-si"],
        implies: &[SnapshotIsolation],
        proscribes: &[INTERNAL, G1_PROCESS, G_NONADJACENT_PROCESS],
        about: "snapshot isolation in each client's order (Daudjee)",
    },
    ModelSpec {
        model: StrongSnapshotIsolation,
        name: "strong-snapshot-isolation",
        aliases: &["strong-si"],
        implies: &[StrongSessionSnapshotIsolation],
        proscribes: &[INTERNAL, G1_REALTIME, G_NONADJACENT_REALTIME],
        about: "snapshot isolation in real-time order (Daudjee)",
    },
    ModelSpec {
        model: StrongSessionSerializable,
        name: "strong-session-serializable",
        aliases: &["session-serializable"],
        implies: &[Serializable, StrongSessionSnapshotIsolation],
        proscribes: &[G1_PROCESS, G2_PROCESS, SESSION_CYCLE_EXISTS],
        about: "serializable in each client's order (Daudjee)",
    },
    ModelSpec {
        model: StrictSerializable,
        name: "strict-serializable",
        aliases: &["PL-SS", "strong-serializable"],
        implies: &[Serializable, StrongSnapshotIsolation, StrongSessionSerializable],
        proscribes: &[G1, G1C_REALTIME, G2_REALTIME, PLSS_CYCLE_EXISTS, NONLINEARIZABLE],
        about: "serializable in real-time order (Adya PL-SS); single-key register ops must be linearizable",
    },
    ModelSpec {
        model: Linearizable,
        name: "linearizable",
        aliases: &[],
        implies: &[StrictSerializable],
        proscribes: &[NONLINEARIZABLE],
        about: "per-key register linearizability; transactions are checked as strict serializable (one-op transactions make the two the same)",
    },
    ModelSpec {
        model: Session,
        name: "session",
        aliases: &["session-guarantees"],
        implies: &[],
        proscribes: &[READ_YOUR_WRITES, MONOTONIC_READS, MONOTONIC_WRITES, WRITES_FOLLOW_READS, G1A, DUPLICATE_ELEMENTS, CYCLIC_VERSIONS, PHANTOM_APPEND, PHANTOM_WRITE, LOST_APPEND, LOST_WRITE],
        about: "Assay's per-client session guarantees (Terry et al.) and data integrity",
    },
];

// Keep the integrity list and the rows that carry it in step.
const _: () = assert!(INTEGRITY.len() == 6);

impl Model {
    pub const ALL: [Model; 15] = [
        ReadUncommitted,
        ReadCommitted,
        CursorStability,
        MonotonicAtomicView,
        RepeatableRead,
        UpdateAtomic,
        ConsistentView,
        SnapshotIsolation,
        Serializable,
        StrongSessionSnapshotIsolation,
        StrongSnapshotIsolation,
        StrongSessionSerializable,
        StrictSerializable,
        Linearizable,
        Session,
    ];

    pub fn spec(self) -> &'static ModelSpec {
        MODELS
            .iter()
            .find(|s| s.model == self)
            .expect("every model has a row in MODELS")
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// This model and every model it implies.
    pub fn implied(self) -> Vec<Model> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            for &m in out[i].spec().implies {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            i += 1;
        }
        out
    }

    /// The anomalies this model proscribes directly or through the models it implies.
    fn proscribed(self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for m in self.implied() {
            for &n in m.spec().proscribes {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// Every known anomaly name this model forbids.
    pub fn forbids(self) -> Vec<&'static str> {
        ANOMALIES
            .iter()
            .map(|a| a.name)
            .filter(|n| self.forbids_anomaly(n))
            .collect()
    }

    /// Whether `name`, or any anomaly it implies, is proscribed.
    pub fn forbids_anomaly(self, name: &str) -> bool {
        let proscribed = self.proscribed();
        let mut todo: Vec<&str> = vec![name];
        let mut seen: Vec<&str> = Vec::new();
        while let Some(n) = todo.pop() {
            if seen.contains(&n) {
                continue;
            }
            seen.push(n);
            if proscribed.contains(&n) {
                return true;
            }
            if let Some(spec) = ANOMALIES.iter().find(|a| a.name == n) {
                todo.extend_from_slice(spec.implies);
            }
        }
        false
    }

    /// Real-time order between transactions matters.
    pub fn realtime(self) -> bool {
        self.forbids_anomaly(G2_ITEM_REALTIME) || self.forbids_anomaly(G_NONADJACENT_REALTIME)
    }

    /// Each client's order matters.
    pub fn process(self) -> bool {
        self.forbids_anomaly(G2_ITEM_PROCESS) || self.forbids_anomaly(G_NONADJACENT_PROCESS)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown consistency model {given:?}: use one of {} (or `list` to see what each forbids)",
    known_names()
)]
pub struct UnknownModel {
    pub given: String,
}

fn known_names() -> String {
    MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

impl FromStr for Model {
    type Err = UnknownModel;
    fn from_str(s: &str) -> Result<Model, UnknownModel> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        MODELS
            .iter()
            .find(|m| m.name == norm || m.aliases.iter().any(|a| a.to_ascii_lowercase() == norm))
            .map(|m| m.model)
            .ok_or_else(|| UnknownModel {
                given: s.to_string(),
            })
    }
}

/// The table `assay check --model list` prints: each model, its aliases and what it
/// forbids (the anomalies Assay can report, implied ones included).
pub fn model_table() -> String {
    let mut out = String::new();
    for m in MODELS {
        let aliases = if m.aliases.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.aliases.join(", "))
        };
        out.push_str(&format!("{}{aliases}\n  {}\n", m.name, m.about));
        let forbids = m.model.forbids();
        out.push_str(&format!("  forbids: {}\n", forbids.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_parse_by_name_and_alias() {
        for m in Model::ALL {
            assert_eq!(m.as_str().parse::<Model>().unwrap(), m);
        }
        assert_eq!("PL-2.99".parse::<Model>().unwrap(), RepeatableRead);
        assert_eq!(
            "snapshot_isolation".parse::<Model>().unwrap(),
            SnapshotIsolation
        );
        assert_eq!(
            "strict-serializable".parse::<Model>().unwrap(),
            StrictSerializable
        );
        let err = "causal".parse::<Model>().unwrap_err().to_string();
        assert!(
            err.contains("causal") && err.contains("repeatable-read"),
            "{err}"
        );
    }

    #[test]
    fn the_table_nests_as_elle_does() {
        assert!(Serializable.forbids_anomaly(G2_ITEM));
        assert!(!SnapshotIsolation.forbids_anomaly(G2_ITEM));
        assert!(SnapshotIsolation.forbids_anomaly(G_SINGLE));
        assert!(SnapshotIsolation.forbids_anomaly(G_NONADJACENT));
        assert!(SnapshotIsolation.forbids_anomaly(LOST_UPDATE));
        assert!(!ReadCommitted.forbids_anomaly(G_SINGLE));
        assert!(ReadCommitted.forbids_anomaly(G1C));
        assert!(ReadCommitted.forbids_anomaly(G0));
        assert!(!ReadUncommitted.forbids_anomaly(G1C));
        // Dirty reads, of aborted writes too, are what read uncommitted allows.
        assert!(!ReadUncommitted.forbids_anomaly(G1A));
        assert!(!ReadUncommitted.forbids_anomaly(INCOMPATIBLE_ORDER));
        assert!(!ReadUncommitted.forbids_anomaly(DIRTY_UPDATE));
        assert!(ReadCommitted.forbids_anomaly(G1A));
        assert!(ReadCommitted.forbids_anomaly(INCOMPATIBLE_ORDER));
        assert!(RepeatableRead.forbids_anomaly(G_SINGLE));
        assert!(!RepeatableRead.forbids_anomaly(INTERNAL));
        assert!(StrictSerializable.forbids_anomaly(G_SINGLE_REALTIME));
        assert!(StrictSerializable.forbids_anomaly(G0_PROCESS));
        assert!(!Serializable.forbids_anomaly(G2_REALTIME));
        assert!(!Serializable.forbids_anomaly(G_SINGLE_PROCESS));
        assert!(StrongSessionSerializable.forbids_anomaly(G_SINGLE_PROCESS));
        assert!(!StrongSessionSerializable.forbids_anomaly(G_SINGLE_REALTIME));
        assert!(StrongSnapshotIsolation.forbids_anomaly(G_SINGLE_REALTIME));
        assert!(!StrongSnapshotIsolation.forbids_anomaly(G2_ITEM_REALTIME));
        assert!(Linearizable.forbids_anomaly(NONLINEARIZABLE));
        assert!(Session.forbids_anomaly(READ_YOUR_WRITES));
        assert!(Serializable.forbids_anomaly(FUTURE_READ));
        assert!(Serializable.forbids_anomaly(INCOMPATIBLE_ORDER));
        for m in Model::ALL {
            for n in INTEGRITY {
                assert!(m.forbids_anomaly(n), "{m} must forbid {n}");
            }
        }
        assert!(StrictSerializable.realtime() && !Serializable.realtime());
        assert!(StrongSessionSerializable.process() && !Serializable.process());
        let t = model_table();
        assert!(t.contains("repeatable-read (PL-2.99, rr)"), "{t}");
    }

    #[test]
    fn every_name_in_the_tables_is_an_anomaly() {
        for m in MODELS {
            for n in m.proscribes {
                assert!(ANOMALIES.iter().any(|a| a.name == *n), "{n}");
            }
        }
        for a in ANOMALIES {
            for n in a.implies {
                assert!(ANOMALIES.iter().any(|b| b.name == *n), "{n}");
            }
        }
    }
}
