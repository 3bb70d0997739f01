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
    /// Set when this run is one shard of several (`--shard i/N`).
    pub shard: Option<Shard>,
}

/// One of `count` runs that together produce a workload's configured load
/// (`--shard index/count`, `index` from 0 as a Kubernetes Indexed Job numbers them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// `i/N`, with `i < N`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad =
            || format!("--shard `{text}`: write INDEX/COUNT with 0 ≤ INDEX < COUNT, e.g. 0/2");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        (count >= 1 && index < count)
            .then_some(Shard { index, count })
            .ok_or_else(bad)
    }

    /// This shard's share of `total` units: the remainder goes to the first shards, so the
    /// shares add up to `total`.
    pub fn share(self, total: u64) -> u64 {
        let (i, n) = (u64::from(self.index), u64::from(self.count));
        total / n + u64::from(i < total % n)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Workload {
    /// This shard's part of the workload: its share of the clients (closed loop) or of the
    /// rate and in-flight bound (open loop), of every stage's level and of `max_ops`. Ops
    /// pick keys from the whole keyspace, as YCSB's clients do; each shard's stand-in is a
    /// database of its own, so each loads the whole keyspace.
    pub fn sharded(&self, shard: Shard) -> Result<Workload, String> {
        let mut w = self.clone();
        let n = f64::from(shard.count);
        match w.mode {
            LoadMode::Closed => {
                let clients = shard.share(u64::from(w.clients)) as u32;
                if clients == 0 {
                    return Err(format!(
                        "--shard {shard}: the workload has {} client(s), fewer than {} shards; use at most {} shards",
                        self.clients, shard.count, self.clients
                    ));
                }
                w.clients = clients;
                for s in &mut w.stages {
                    s.target = shard.share(s.target.round() as u64) as f64;
                }
            }
            LoadMode::Open => {
                w.rate /= n;
                w.max_in_flight = (shard.share(u64::from(w.max_in_flight)) as u32).max(1);
                for s in &mut w.stages {
                    s.target /= n;
                }
            }
        }
        w.max_ops = w.max_ops.map(|m| shard.share(m));
        w.shard = Some(shard);
        Ok(w)
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn shares_and_slices_add_up() {
        for n in 1..=7u32 {
            for total in [0u64, 1, 5, 8, 1000, 1003] {
                let shards: Vec<Shard> = (0..n).map(|index| Shard { index, count: n }).collect();
                assert_eq!(shards.iter().map(|s| s.share(total)).sum::<u64>(), total);
            }
        }
        assert_eq!(Shard::parse("1/2"), Ok(Shard { index: 1, count: 2 }));
        for bad in ["2/2", "1", "a/2", "0/0", "-1/2"] {
            assert!(
                Shard::parse(bad).unwrap_err().contains("INDEX/COUNT"),
                "{bad}"
            );
        }
    }
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
