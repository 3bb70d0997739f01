//! Live figures for a progress display while a workload runs: ops and errors so far and
//! the latest complete 1 s interval's p99. Workers publish in batches (every
//! [`PUBLISH_EVERY`] ops or interval), so the op loop touches shared memory rarely.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Ops a worker counts locally before adding them to the shared totals.
pub(crate) const PUBLISH_EVERY: u64 = 1024;
/// Intervals kept for the display; older ones are dropped.
const KEPT_INTERVALS: usize = 4;

pub struct LiveStats {
    /// Intervals are whole seconds since this instant.
    origin: Instant,
    ops: AtomicU64,
    errors: AtomicU64,
    phase: Mutex<String>,
    /// Interval index (seconds since `origin`) → latencies of ops that ended in it.
    intervals: Mutex<BTreeMap<u64, Histogram<u64>>>,
}

/// What a progress display shows at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveSnapshot {
    pub phase: String,
    pub ops: u64,
    pub errors: u64,
    /// p99 latency (ns) of the latest complete interval, when there is one.
    pub last_interval_p99_ns: Option<u64>,
}

impl Default for LiveStats {
    fn default() -> Self {
        LiveStats {
            origin: Instant::now(),
            ops: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            phase: Mutex::new(String::new()),
            intervals: Mutex::new(BTreeMap::new()),
        }
    }
}

impl LiveStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// The interval an op ending at `at` falls in.
    pub(crate) fn interval_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_secs()
    }

    pub(crate) fn set_phase(&self, phase: &str) {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        phase.clone_into(&mut p);
        self.intervals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Renames the phase without resetting the figures (warmup → measured).
    pub(crate) fn relabel(&self, phase: &str) {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        phase.clone_into(&mut p);
    }

    pub(crate) fn add(&self, ops: u64, errors: u64) {
        self.ops.fetch_add(ops, Ordering::Relaxed);
        if errors > 0 {
            self.errors.fetch_add(errors, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_interval(&self, index: u64, h: &Histogram<u64>) {
        let mut m = self.intervals.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(&index) {
            Some(mine) => {
                let _ = mine.add(h);
            }
            None => {
                m.insert(index, h.clone());
            }
        }
        while m.len() > KEPT_INTERVALS {
            m.pop_first();
        }
    }

    pub fn snapshot(&self) -> LiveSnapshot {
        let current_interval = self.interval_of(Instant::now());
        let m = self.intervals.lock().unwrap_or_else(|p| p.into_inner());
        let last = m
            .range(..current_interval)
            .next_back()
            .filter(|(_, h)| !h.is_empty())
            .map(|(_, h)| h.value_at_quantile(0.99));
        LiveSnapshot {
            phase: self.phase.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            ops: self.ops.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            last_interval_p99_ns: last,
        }
    }
}
