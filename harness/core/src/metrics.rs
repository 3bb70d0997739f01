//! Latency histograms per op kind × outcome: recorded by the engine, read by the
//! checkers (thresholds) and the reports. HdrHistogram, 3 significant digits, values in
//! nanoseconds; histograms from several clients or shards merge losslessly.

use crate::op::{OpKind, Outcome};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Highest trackable latency: one hour. Longer values are clamped (and counted).
const MAX_TRACKABLE_NS: u64 = 3_600_000_000_000;

#[derive(Clone, Debug, Default)]
pub struct LatencyHistograms {
    by_op: BTreeMap<(OpKind, Outcome), Histogram<u64>>,
    clamped: u64,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, 3).expect("static bounds are valid")
}

impl LatencyHistograms {
    pub fn record(&mut self, kind: OpKind, outcome: Outcome, latency_ns: u64) {
        let h = self
            .by_op
            .entry((kind, outcome))
            .or_insert_with(new_histogram);
        let v = latency_ns.clamp(1, MAX_TRACKABLE_NS);
        if v != latency_ns.max(1) {
            self.clamped += 1;
        }
        // Cannot fail: the value is within the histogram's bounds.
        let _ = h.record(v);
    }

    pub fn merge(&mut self, other: &LatencyHistograms) {
        for (key, h) in &other.by_op {
            let mine = self.by_op.entry(*key).or_insert_with(new_histogram);
            // Same bounds on both sides, so addition cannot fail.
            let _ = mine.add(h);
        }
        self.clamped += other.clamped;
    }

    /// Every (op kind, outcome) with its histogram, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (OpKind, Outcome, &Histogram<u64>)> {
        self.by_op.iter().map(|((k, o), h)| (*k, *o, h))
    }

    /// One histogram over the selected op kind (all when `None`) and outcomes.
    pub fn combined(&self, op: Option<OpKind>, outcomes: &[Outcome]) -> Histogram<u64> {
        let mut out = new_histogram();
        for ((k, o), h) in &self.by_op {
            if op.is_none_or(|want| want == *k) && outcomes.contains(o) {
                let _ = out.add(h);
            }
        }
        out
    }

    pub fn count(&self, op: Option<OpKind>, outcomes: &[Outcome]) -> u64 {
        self.by_op
            .iter()
            .filter(|((k, o), _)| op.is_none_or(|want| want == *k) && outcomes.contains(o))
            .map(|(_, h)| h.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_op.values().all(|h| h.is_empty())
    }

    /// Values above one hour that were recorded as one hour.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_is_lossless_and_filters_select() {
        let mut a = LatencyHistograms::default();
        let mut b = LatencyHistograms::default();
        for i in 1..=100 {
            a.record(OpKind::Read, Outcome::Ok, i * 1_000_000);
        }
        b.record(OpKind::Write, Outcome::Fail, 5_000_000);
        b.record(OpKind::Read, Outcome::Ok, 200_000_000);
        a.merge(&b);
        assert_eq!(a.count(None, &Outcome::ALL), 102);
        assert_eq!(a.count(Some(OpKind::Read), &[Outcome::Ok]), 101);
        let reads = a.combined(Some(OpKind::Read), &[Outcome::Ok]);
        let p50 = reads.value_at_quantile(0.5);
        assert!((50_000_000..=51_100_000).contains(&p50), "{p50}");
        assert!(reads.max() >= 199_000_000);
        assert_eq!(a.count(Some(OpKind::Write), &[Outcome::Ok]), 0);
    }
}
