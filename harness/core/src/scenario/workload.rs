//! The load phases of a scenario: the workload (closed or open loop, stages, key and value
//! distributions, op mix) and the consistency workload whose history the checkers judge.

use super::model::KeyRange;
use crate::capability::Capability;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A load phase after the steps: closed loop (N clients, each issuing its next op when the
/// previous one ended) or open loop (ops issued at intended times at an arrival rate),
/// optionally ramped along stages, bounded by time and by count.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub mode: LoadMode,
    /// Closed loop: concurrent clients (the starting number when `stages` ramp them).
    pub clients: u32,
    /// Closed loop: pause between a client's ops, not counted in latency.
    pub think_time: Duration,
    /// Open loop: ops per second (the starting rate when `stages` ramp it).
    pub rate: f64,
    /// Open loop: ops in flight at most; a due op waits for a free slot and counts as late.
    pub max_in_flight: u32,
    /// Ramps of clients (closed loop) or rate (open loop), linear within each stage.
    pub stages: Vec<Stage>,
    /// Run but not measured, at the start of the timeline.
    pub warmup: Duration,
    /// The measured part of the timeline (after the warmup).
    pub duration: Duration,
    /// Bound on measured ops.
    pub max_ops: Option<u64>,
    pub table: String,
    /// The keyspace: `{prefix}{start + i}` for i in 0..count, zero-padded to `key_digits`.
    pub keys: KeyRange,
    /// Zero-pad key indexes to this many digits (0: no padding).
    pub key_digits: u32,
    pub key_distribution: KeyDistribution,
    /// Ops with their relative weights.
    pub mix: Vec<(MixOp, f64)>,
    pub value_size: ValueSize,
    /// Most rows one `scan` asks for; each scan asks for 1..=scan_length, uniformly.
    pub scan_length: u32,
    /// Write every key of the keyspace before the timeline starts (YCSB's load phase).
    pub load: bool,
    /// Record every workload op in the history (off for long throughput runs, whose
    /// histograms and interval series are kept either way).
    pub history: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    Closed,
    Open,
}

/// One ramp: from the previous level (or the starting one) to `target` over `duration`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

/// How keys are picked from the keyspace (YCSB's request distributions).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    Uniform,
    /// Popular keys scattered over the keyspace (YCSB's scrambled zipfian).
    Zipfian {
        theta: f64,
    },
    /// Recently inserted keys are the most popular (YCSB D).
    Latest {
        theta: f64,
    },
    /// `op_fraction` of ops go to the first `data_fraction` of the keyspace.
    Hotspot {
        data_fraction: f64,
        op_fraction: f64,
    },
}

/// Sizes of written values in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueSize {
    Fixed(usize),
    Uniform {
        min: usize,
        max: usize,
    },
    /// Small sizes most frequent (zipfian over min..=max).
    Zipfian {
        min: usize,
        max: usize,
    },
}

impl ValueSize {
    pub fn max(&self) -> usize {
        match *self {
            ValueSize::Fixed(n) => n,
            ValueSize::Uniform { max, .. } | ValueSize::Zipfian { max, .. } => max,
        }
    }
}

/// What one workload op does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MixOp {
    Read,
    /// Unconditional write of an existing key (YCSB update).
    Write,
    /// Insert-if-absent of a key from the keyspace (usually present: a conflict probe).
    InsertIfAbsent,
    Delete,
    Increment,
    /// Insert of a new key after the keyspace (YCSB insert; feeds `latest`).
    Insert,
    /// A short range: `query` by a key prefix with a limit (YCSB scan).
    Scan,
    /// A read then a write of the same key by the same client (YCSB F); recorded as two ops.
    ReadModifyWrite,
    /// The TPC-B-like transaction: increment an account, read it, increment a teller and a
    /// branch, insert a history row — one `txn`.
    Tpcb,
}

impl MixOp {
    pub const ALL: [MixOp; 9] = [
        MixOp::Read,
        MixOp::Write,
        MixOp::InsertIfAbsent,
        MixOp::Delete,
        MixOp::Increment,
        MixOp::Insert,
        MixOp::Scan,
        MixOp::ReadModifyWrite,
        MixOp::Tpcb,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MixOp::Read => "read",
            MixOp::Write => "write",
            MixOp::InsertIfAbsent => "insert_if_absent",
            MixOp::Delete => "delete",
            MixOp::Increment => "increment",
            MixOp::Insert => "insert",
            MixOp::Scan => "scan",
            MixOp::ReadModifyWrite => "read_modify_write",
            MixOp::Tpcb => "tpcb",
        }
    }

    pub fn parse(s: &str) -> Option<MixOp> {
        MixOp::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The capabilities this op needs of a backend.
    pub fn capabilities(self) -> &'static [Capability] {
        match self {
            MixOp::Read => &[Capability::Read],
            MixOp::Write => &[Capability::Write],
            MixOp::InsertIfAbsent | MixOp::Insert => &[Capability::InsertIfAbsent],
            MixOp::Delete => &[Capability::Delete],
            MixOp::Increment => &[Capability::Increment],
            MixOp::Scan => &[Capability::Query],
            MixOp::ReadModifyWrite => &[Capability::Read, Capability::Write],
            MixOp::Tpcb => &[
                Capability::Txn,
                Capability::Increment,
                Capability::Read,
                Capability::InsertIfAbsent,
            ],
        }
    }
}

/// Tables the `tpcb` op needs besides the workload's (accounts) table.
pub const TPCB_TABLES: [&str; 3] = ["tellers", "branches", "history"];
/// Accounts per branch, as in TPC-B and pgbench.
pub const TPCB_ACCOUNTS_PER_BRANCH: u64 = 100_000;
/// Tellers per branch, as in TPC-B and pgbench.
pub const TPCB_TELLERS_PER_BRANCH: u64 = 10;

impl Workload {
    /// The capabilities the workload's ops (and its load phase) need.
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self
            .mix
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .flat_map(|(m, _)| m.capabilities().iter().copied())
            .collect();
        if self.load {
            caps.push(Capability::Write);
        }
        caps.sort();
        caps.dedup();
        caps
    }

    /// Length of the whole timeline, warmup included.
    pub fn timeline(&self) -> Duration {
        if self.stages.is_empty() {
            self.warmup + self.duration
        } else {
            self.stages.iter().map(|s| s.duration).sum()
        }
    }

    /// TPC-B scale (branches) implied by the number of accounts.
    pub fn tpcb_branches(&self) -> u64 {
        (self.keys.count / TPCB_ACCOUNTS_PER_BRANCH).max(1)
    }

    /// The most clients a closed loop ever runs at once.
    pub fn max_clients(&self) -> u32 {
        self.stages
            .iter()
            .map(|s| s.target.ceil() as u32)
            .fold(self.clients, u32::max)
    }
}

/// Which checkable history a consistency workload produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsistencyWorkloadKind {
    /// Transactions of appends and reads over a few list keys (Elle's list-append).
    ListAppend,
    /// Single-key reads, writes and version compare-and-sets over a few registers.
    Register,
}

/// A load phase whose history the consistency checkers can judge: few keys, many
/// clients, unique written values, bounded by time and count.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsistencyWorkload {
    pub kind: ConsistencyWorkloadKind,
    pub table: String,
    pub clients: u32,
    pub keys: u32,
    /// Upper bound on transactions (list-append) or ops (register) over all clients.
    pub ops: u64,
    pub duration: Duration,
    /// List-append: micro-ops per transaction, 1 to this many.
    pub max_txn_ops: u32,
    /// Share of micro-ops (list-append) or ops (register) that are reads.
    pub read_ratio: f64,
}

/// Default bound on ops in flight in an open loop.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 256;
/// Default most rows per `scan` (YCSB's `maxscanlength`).
pub const DEFAULT_SCAN_LENGTH: u32 = 100;
/// Zipfian constant YCSB uses.
pub const DEFAULT_ZIPFIAN_THETA: f64 = 0.99;
