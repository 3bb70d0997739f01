//! Staleness: for every ok read, how far it lags the acknowledged writes to its key —
//! in versions (acknowledged writes it missed) and in time (how long the oldest missed
//! write had been acknowledged when the read began). The figures are lower bounds that
//! hold whatever the model: a write counts as missed only when it was acknowledged before
//! the read began and is certainly newer than what the read saw.
//!
//! - Lists: the acknowledged appends missing from the read (at or past its length in the
//!   key's order, or never read at all).
//! - Registers: the acknowledged writes that began after the write of the value read had
//!   completed (so they are newer in any order consistent with real time). When several
//!   writes wrote the value read, the latest-ending one is assumed.
//!
//! Used to verify bounded staleness: see [`StalenessReport::exceeding`].

use crate::fxhash::FastMap;
use crate::history_view::{Effect, KeyKind, Observed, View};
use crate::index::ListIndex;
use crate::thresholds::format_ns;
use assay_core::{HistoryEvent, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// How far one read lagged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadLag {
    pub op_id: u64,
    pub client: u32,
    pub key: String,
    /// Acknowledged writes to the key the read missed.
    pub versions_behind: u64,
    /// How long the oldest missed write had been acknowledged when the read began.
    pub lag_ns: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StalenessSummary {
    /// Reads measured.
    pub reads: u64,
    /// Reads that missed at least one acknowledged write.
    pub stale_reads: u64,
    pub max_versions_behind: u64,
    pub max_lag_ns: u64,
    pub p50_lag_ns: u64,
    pub p99_lag_ns: u64,
    pub p999_lag_ns: u64,
    /// Versions behind → number of reads.
    pub versions_behind: BTreeMap<u64, u64>,
}

impl fmt::Display for StalenessSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reads, {} stale (max {} version(s) and {} behind; lag p50 {}, p99 {}, p99.9 {})",
            self.reads,
            self.stale_reads,
            self.max_versions_behind,
            format_ns(self.max_lag_ns as f64),
            format_ns(self.p50_lag_ns as f64),
            format_ns(self.p99_lag_ns as f64),
            format_ns(self.p999_lag_ns as f64),
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StalenessReport {
    pub summary: StalenessSummary,
    /// Every measured read, in history order.
    pub reads: Vec<ReadLag>,
}

impl StalenessReport {
    /// The reads that break a bounded-staleness promise of at most `max_versions`
    /// versions and `max_lag_ns` behind (`None`: no bound on that axis).
    pub fn exceeding(&self, max_versions: Option<u64>, max_lag_ns: Option<u64>) -> Vec<&ReadLag> {
        self.reads
            .iter()
            .filter(|r| {
                max_versions.is_some_and(|m| r.versions_behind > m)
                    || max_lag_ns.is_some_and(|m| r.lag_ns > m)
            })
            .collect()
    }
}

/// Staleness of every ok read of a list or register key in the history.
pub fn staleness(events: &[HistoryEvent]) -> StalenessReport {
    let view = View::new(events);
    let lists = ListIndex::build(&view);
    compute(&view, &lists)
}

/// Count and minimum over ranges of positions: how many missed writes, and the
/// earliest acknowledgement among them.
struct MinCount {
    size: usize,
    count: Vec<u32>,
    min: Vec<u64>,
}

impl MinCount {
    fn new(n: usize) -> MinCount {
        let size = n.max(1).next_power_of_two();
        MinCount {
            size,
            count: vec![0; 2 * size],
            min: vec![u64::MAX; 2 * size],
        }
    }

    fn add(&mut self, i: usize, end: u64) {
        let mut i = i + self.size;
        while i >= 1 {
            self.count[i] += 1;
            self.min[i] = self.min[i].min(end);
            i /= 2;
        }
    }

    /// Over positions `l..` (to the end).
    fn query_from(&self, l: usize) -> (u64, u64) {
        let (mut lo, mut hi) = (l + self.size, 2 * self.size);
        let (mut count, mut min) = (0u64, u64::MAX);
        while lo < hi {
            if lo & 1 == 1 {
                count += self.count[lo] as u64;
                min = min.min(self.min[lo]);
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                count += self.count[hi] as u64;
                min = min.min(self.min[hi]);
            }
            lo /= 2;
            hi /= 2;
        }
        (count, min)
    }
}

/// One key's measurement: acknowledged writes as (rank, end time) and reads as
/// (access, start time, first rank that counts as missed).
fn measure(
    n_ranks: usize,
    mut acked: Vec<(u64, usize)>,
    mut reads: Vec<(u32, u64, usize)>,
    out: &mut Vec<(u32, u64, u64)>,
) {
    acked.sort_unstable();
    reads.sort_unstable_by_key(|r| (r.1, r.0));
    let mut tree = MinCount::new(n_ranks);
    let mut next = 0;
    for (ai, start, from) in reads {
        while next < acked.len() && acked[next].0 < start {
            tree.add(acked[next].1, acked[next].0);
            next += 1;
        }
        let (count, min_end) = tree.query_from(from);
        let lag = if count > 0 {
            start.saturating_sub(min_end)
        } else {
            0
        };
        out.push((ai, count, lag));
    }
}

/// A register write that may have happened: (start, end, value, acknowledged).
type RegWrite<'v> = (u64, u64, Option<&'v str>, bool);
/// An ok register read: (access, start, end, value).
type RegRead<'v> = (u32, u64, u64, Option<&'v str>);

pub(crate) fn compute(view: &View<'_>, lists: &ListIndex<'_>) -> StalenessReport {
    let n = view.keys.len();
    let mut acked_lists: Vec<Vec<(u64, usize)>> = vec![Vec::new(); n];
    let mut list_reads: Vec<Vec<(u32, u64, usize)>> = vec![Vec::new(); n];
    let mut reg_writes: Vec<Vec<RegWrite<'_>>> = vec![Vec::new(); n];
    let mut reg_reads: Vec<Vec<RegRead<'_>>> = vec![Vec::new(); n];
    for (ai, a) in view.accesses.iter().enumerate() {
        let k = a.key as usize;
        let o = view.op_of(a);
        match (view.key_kind[k], &a.effect, a.outcome) {
            (_, _, Outcome::Fail) => {}
            (KeyKind::List, Effect::Append(e), Outcome::Ok) => {
                let rank = lists
                    .pos
                    .get(&(a.key, *e))
                    .map_or(lists.order[k].len(), |&p| p as usize);
                acked_lists[k].push((o.end_ns, rank));
            }
            (KeyKind::List, Effect::Read(obs), Outcome::Ok) => {
                if let (Some(l), false) = (obs.list(), lists.incompatible.contains(&(ai as u32))) {
                    list_reads[k].push((ai as u32, o.start_ns, l.len()));
                }
            }
            (KeyKind::Register, Effect::Read(obs), Outcome::Ok) => match obs {
                Observed::Absent => reg_reads[k].push((ai as u32, o.start_ns, o.end_ns, None)),
                Observed::Register { value: Some(v), .. } => {
                    reg_reads[k].push((ai as u32, o.start_ns, o.end_ns, Some(v)))
                }
                _ => {}
            },
            (KeyKind::Register, e, outcome) => {
                if let Some(v) = e.written_value() {
                    let ok = outcome == Outcome::Ok;
                    reg_writes[k].push((o.start_ns, if ok { o.end_ns } else { u64::MAX }, v, ok));
                }
            }
            _ => {}
        }
    }
    let mut measured: Vec<(u32, u64, u64)> = Vec::new();
    for k in 0..n {
        match view.key_kind[k] {
            KeyKind::List if !list_reads[k].is_empty() => measure(
                lists.order[k].len() + 1,
                std::mem::take(&mut acked_lists[k]),
                std::mem::take(&mut list_reads[k]),
                &mut measured,
            ),
            KeyKind::Register if !reg_reads[k].is_empty() => {
                register_key(&mut reg_writes[k], &reg_reads[k], &mut measured);
            }
            _ => {}
        }
    }
    measured.sort_unstable_by_key(|m| m.0);
    let mut report = StalenessReport::default();
    let mut lags: Vec<u64> = Vec::with_capacity(measured.len());
    for (ai, versions_behind, lag_ns) in measured {
        let a = &view.accesses[ai as usize];
        let o = view.op_of(a);
        lags.push(lag_ns);
        let s = &mut report.summary;
        s.reads += 1;
        if versions_behind > 0 {
            s.stale_reads += 1;
        }
        s.max_versions_behind = s.max_versions_behind.max(versions_behind);
        *s.versions_behind.entry(versions_behind).or_default() += 1;
        report.reads.push(ReadLag {
            op_id: o.op_id,
            client: o.client,
            key: view.keys[a.key as usize].to_string(),
            versions_behind,
            lag_ns,
        });
    }
    lags.sort_unstable();
    let at = |q: f64| -> u64 {
        if lags.is_empty() {
            0
        } else {
            lags[((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len()) - 1]
        }
    };
    let s = &mut report.summary;
    s.p50_lag_ns = at(0.5);
    s.p99_lag_ns = at(0.99);
    s.p999_lag_ns = at(0.999);
    s.max_lag_ns = lags.last().copied().unwrap_or(0);
    report
}

fn register_key(
    writes: &mut [RegWrite<'_>],
    reads: &[RegRead<'_>],
    out: &mut Vec<(u32, u64, u64)>,
) {
    writes.sort_unstable_by_key(|w| w.0);
    // Acknowledged writes ranked by start time.
    let acked_starts: Vec<u64> = writes.iter().filter(|w| w.3).map(|w| w.0).collect();
    let acked: Vec<(u64, usize)> = writes
        .iter()
        .filter(|w| w.3)
        .enumerate()
        .map(|(rank, w)| (w.1, rank))
        .collect();
    // Per value: writes by start, with the running maximum of their ends.
    let mut by_value: FastMap<Option<&str>, (Vec<u64>, Vec<u64>)> = FastMap::default();
    for w in writes.iter() {
        let (starts, max_ends) = by_value.entry(w.2).or_default();
        let prev = max_ends.last().copied().unwrap_or(0);
        starts.push(w.0);
        max_ends.push(prev.max(w.1));
    }
    let mut queries = Vec::with_capacity(reads.len());
    for &(ai, start, end, value) in reads {
        // The latest-ending write of the value that began before the read ended.
        let written_end = by_value.get(&value).and_then(|(starts, max_ends)| {
            let i = starts.partition_point(|&s| s < end);
            (i > 0).then(|| max_ends[i - 1])
        });
        let from = match (written_end, value) {
            (Some(e), _) => acked_starts.partition_point(|&s| s <= e),
            // The initial absent state: every acknowledged write is newer.
            (None, None) => 0,
            // A value nobody wrote: reported as a phantom elsewhere, not measured.
            (None, Some(_)) => continue,
        };
        queries.push((ai, start, from));
    }
    measure(acked_starts.len(), acked, queries, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_count_answers_suffix_queries() {
        let mut t = MinCount::new(5);
        t.add(1, 50);
        t.add(3, 20);
        t.add(4, 70);
        assert_eq!(t.query_from(0), (3, 20));
        assert_eq!(t.query_from(2), (2, 20));
        assert_eq!(t.query_from(4), (1, 70));
        assert_eq!(t.query_from(5), (0, u64::MAX));
    }
}
