//! Latency histograms per op kind × outcome: recorded by the engine, read by the
//! checkers (thresholds) and the reports. HdrHistogram, 3 significant digits, values in
//! nanoseconds; histograms from several clients or shards merge losslessly.
//!
//! Also the 1 s interval series (`IntervalSeries`): one histogram per interval × op ×
//! outcome at 2 significant digits (≈36 KB instead of ≈270 KB, percentiles within 1 %),
//! and finished intervals packed in HdrHistogram's compressed encoding, so an hour-long
//! run's series stays in the megabytes.

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

/// Significant digits of interval histograms (see the module doc).
const INTERVAL_SIGNIFICANT_DIGITS: u8 = 2;

fn new_interval_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_NS, INTERVAL_SIGNIFICANT_DIGITS)
        .expect("static bounds are valid")
}

type IntervalMap = BTreeMap<(OpKind, Outcome), Histogram<u64>>;
/// Histograms of one interval in HdrHistogram's compressed V2 encoding.
type PackedInterval = Vec<((OpKind, Outcome), Vec<u8>)>;

/// One interval: open (histograms, still being recorded) or packed (each histogram in
/// HdrHistogram's compressed V2 encoding, typically well under 1 KB instead of ≈36 KB).
/// At most one of the two is set.
#[derive(Clone, Debug, Default)]
struct Slot {
    open: Option<IntervalMap>,
    packed: Option<PackedInterval>,
}

fn pack(map: &IntervalMap) -> PackedInterval {
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut ser = V2DeflateSerializer::new();
    map.iter()
        .filter_map(|(key, h)| {
            let mut bytes = Vec::new();
            // Serializing into a Vec cannot fail for histograms within their bounds.
            ser.serialize(h, &mut bytes).ok().map(|_| (*key, bytes))
        })
        .collect()
}

fn unpack(packed: &PackedInterval) -> IntervalMap {
    let mut de = hdrhistogram::serialization::Deserializer::new();
    packed
        .iter()
        .filter_map(|(key, bytes)| {
            let h: Histogram<u64> = de.deserialize(&mut bytes.as_slice()).ok()?;
            let mut out = new_interval_histogram();
            out.add(&h).ok()?;
            Some((*key, out))
        })
        .collect()
}

impl Slot {
    fn open(&mut self) -> &mut IntervalMap {
        if let Some(p) = self.packed.take() {
            self.open = Some(unpack(&p));
        }
        self.open.get_or_insert_with(BTreeMap::new)
    }

    fn pack(&mut self) {
        if let Some(m) = self.open.take() {
            self.packed = Some(pack(&m));
        }
    }

    fn is_packed(&self) -> bool {
        self.packed.is_some()
    }

    fn histograms(&self) -> IntervalMap {
        match (&self.open, &self.packed) {
            (Some(m), _) => m.clone(),
            (None, Some(p)) => unpack(p),
            (None, None) => BTreeMap::new(),
        }
    }
}

/// Latency per fixed interval (normally 1 s) of a run, keyed by when each op ended:
/// the time series behind "ops/s and p99 over time" and the `.hlog` interval log.
/// Finished intervals are packed (`pack_before`) so an hour-long run stays small.
#[derive(Clone, Debug)]
pub struct IntervalSeries {
    interval_ns: u64,
    /// Index `i` covers `[i, i+1) × interval_ns` from the start of measurement.
    slots: Vec<Slot>,
}

impl Default for IntervalSeries {
    fn default() -> Self {
        IntervalSeries::new(1_000_000_000)
    }
}

/// Counts and percentiles of one interval, over every op kind.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalSummary {
    pub index: usize,
    pub start_ns: u64,
    pub ops: u64,
    /// Ops whose outcome was not `ok`.
    pub errors: u64,
    /// Of those, ops that may or may not have been applied.
    pub indeterminate: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl IntervalSeries {
    pub fn new(interval_ns: u64) -> Self {
        IntervalSeries {
            interval_ns: interval_ns.max(1),
            slots: Vec::new(),
        }
    }

    pub fn interval_ns(&self) -> u64 {
        self.interval_ns
    }

    /// The interval an op ending `at_ns` after the start of measurement falls in.
    pub fn index_of(&self, at_ns: u64) -> usize {
        (at_ns / self.interval_ns) as usize
    }

    /// Records an op that ended `at_ns` after the start of measurement.
    pub fn record(&mut self, kind: OpKind, outcome: Outcome, at_ns: u64, latency_ns: u64) {
        let i = self.index_of(at_ns);
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, Slot::default);
        }
        let h = self.slots[i]
            .open()
            .entry((kind, outcome))
            .or_insert_with(new_interval_histogram);
        let _ = h.record(latency_ns.clamp(1, MAX_TRACKABLE_NS));
    }

    /// Packs every open interval before `index`; recording into one later unpacks it.
    pub fn pack_before(&mut self, index: usize) {
        for slot in self.slots.iter_mut().take(index) {
            slot.pack();
        }
    }

    pub fn merge(&mut self, other: &IntervalSeries) {
        if other.slots.len() > self.slots.len() {
            self.slots.resize_with(other.slots.len(), Slot::default);
        }
        for (mine, theirs) in self.slots.iter_mut().zip(&other.slots) {
            let keep_packed = mine.is_packed() || theirs.is_packed();
            let target = mine.open();
            for (key, h) in theirs.histograms() {
                let _ = target
                    .entry(key)
                    .or_insert_with(new_interval_histogram)
                    .add(&h);
            }
            if keep_packed {
                mine.pack();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Moves every interval `by` intervals later (a shard that started later, aligned
    /// on the wall clock with the others).
    pub fn delay(&mut self, by: usize) {
        if by > 0 && !self.slots.is_empty() {
            let mut slots: Vec<Slot> = (0..by).map(|_| Slot::default()).collect();
            slots.append(&mut self.slots);
            self.slots = slots;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The histograms of interval `i` by op kind × outcome.
    pub fn interval(&self, i: usize) -> Vec<(OpKind, Outcome, Histogram<u64>)> {
        self.slots
            .get(i)
            .map(|s| {
                s.histograms()
                    .into_iter()
                    .map(|((k, o), h)| (k, o, h))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One summary per interval, in time order (empty intervals included, as zeros).
    pub fn summaries(&self) -> Vec<IntervalSummary> {
        self.slots
            .iter()
            .enumerate()
            .map(|(index, slot)| {
                let mut all = new_interval_histogram();
                let (mut errors, mut indeterminate) = (0, 0);
                for ((_, outcome), h) in slot.histograms() {
                    let _ = all.add(&h);
                    if outcome != Outcome::Ok {
                        errors += h.len();
                    }
                    if outcome == Outcome::Indeterminate {
                        indeterminate += h.len();
                    }
                }
                IntervalSummary {
                    index,
                    start_ns: index as u64 * self.interval_ns,
                    ops: all.len(),
                    errors,
                    indeterminate,
                    p50_ns: if all.is_empty() {
                        0
                    } else {
                        all.value_at_quantile(0.5)
                    },
                    p99_ns: if all.is_empty() {
                        0
                    } else {
                        all.value_at_quantile(0.99)
                    },
                    max_ns: all.max(),
                }
            })
            .collect()
    }
}

/// The stored form of a histogram: HdrHistogram's compressed V2 encoding in base64, the
/// form HdrHistogram's own tools read. Lossless: counts come back exactly.
fn encode(h: &Histogram<u64>) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut bytes = Vec::new();
    // Serializing into a Vec cannot fail for histograms within their bounds.
    let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes `encode`'s text into a histogram with `fresh`'s bounds.
fn decode(text: &str, fresh: fn() -> Histogram<u64>) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("histogram: not base64: {e}"))?;
    let h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram: not an HdrHistogram V2 encoding: {e:?}"))?;
    let mut out = fresh();
    out.add(&h)
        .map_err(|e| format!("histogram: values out of range: {e:?}"))?;
    Ok(out)
}

/// One histogram of a stored set: the op kind and outcome it is for, its count (for
/// readers of the JSON) and its encoding.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredHistogram {
    op: OpKind,
    outcome: Outcome,
    count: u64,
    hdr: String,
}

fn store(map: &BTreeMap<(OpKind, Outcome), Histogram<u64>>) -> Vec<StoredHistogram> {
    map.iter()
        .map(|((op, outcome), h)| StoredHistogram {
            op: *op,
            outcome: *outcome,
            count: h.len(),
            hdr: encode(h),
        })
        .collect()
}

fn restore(
    stored: Vec<StoredHistogram>,
    fresh: fn() -> Histogram<u64>,
) -> Result<BTreeMap<(OpKind, Outcome), Histogram<u64>>, String> {
    stored
        .into_iter()
        .map(|s| Ok(((s.op, s.outcome), decode(&s.hdr, fresh)?)))
        .collect()
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredLatencies {
    histograms: Vec<StoredHistogram>,
    #[serde(default)]
    clamped: u64,
}

impl serde::Serialize for LatencyHistograms {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StoredLatencies {
            histograms: store(&self.by_op),
            clamped: self.clamped,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for LatencyHistograms {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = StoredLatencies::deserialize(d)?;
        Ok(LatencyHistograms {
            by_op: restore(stored.histograms, new_histogram).map_err(serde::de::Error::custom)?,
            clamped: stored.clamped,
        })
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredSeries {
    interval_ns: u64,
    /// One entry per interval, in time order; an empty list is an interval without ops.
    intervals: Vec<Vec<StoredHistogram>>,
}

impl serde::Serialize for IntervalSeries {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StoredSeries {
            interval_ns: self.interval_ns,
            intervals: self
                .slots
                .iter()
                .map(|slot| store(&slot.histograms()))
                .collect(),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for IntervalSeries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = StoredSeries::deserialize(d)?;
        let mut slots = Vec::with_capacity(stored.intervals.len());
        for cells in stored.intervals {
            let map = restore(cells, new_interval_histogram).map_err(serde::de::Error::custom)?;
            slots.push(Slot {
                packed: Some(pack(&map)),
                open: None,
            });
        }
        Ok(IntervalSeries {
            interval_ns: stored.interval_ns.max(1),
            slots,
        })
    }
}

/// A single histogram (e.g. the open loop's schedule lag), stored like the others.
pub mod single_histogram {
    use super::*;

    pub fn serialize<S: serde::Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(h))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        decode(&text, new_histogram).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_histograms_come_back_exactly() {
        let mut a = LatencyHistograms::default();
        for i in 1..=1000 {
            a.record(OpKind::Read, Outcome::Ok, i * 7_919);
        }
        a.record(OpKind::Write, Outcome::Indeterminate, 5_000_000_000_000);
        let back: LatencyHistograms =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        for ((k, o, h), (k2, o2, h2)) in a.iter().zip(back.iter()) {
            assert_eq!((k, o), (k2, o2));
            assert_eq!(h, h2);
        }
        assert_eq!(back.clamped(), 1);
        let mut series = IntervalSeries::new(1_000_000_000);
        series.record(OpKind::Read, Outcome::Ok, 10, 1_000);
        series.record(OpKind::Read, Outcome::Fail, 2_500_000_000, 9_000);
        let back: IntervalSeries =
            serde_json::from_str(&serde_json::to_string(&series).unwrap()).unwrap();
        assert_eq!(back.summaries(), series.summaries());
        assert!(serde_json::from_str::<LatencyHistograms>(
            r#"{"histograms":[{"op":"read","outcome":"ok","count":1,"hdr":"!!"}]}"#
        )
        .is_err());
    }

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

    #[test]
    fn interval_series_buckets_by_end_time_and_merges() {
        let mut a = IntervalSeries::new(1_000_000_000);
        a.record(OpKind::Read, Outcome::Ok, 100, 2_000_000);
        a.record(OpKind::Read, Outcome::Fail, 2_500_000_000, 9_000_000);
        let mut b = IntervalSeries::new(1_000_000_000);
        b.record(OpKind::Read, Outcome::Ok, 999_999_999, 4_000_000);
        a.pack_before(1);
        a.merge(&b);
        let s = a.summaries();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].ops, s[0].errors), (2, 0));
        assert!(
            (3_900_000..=4_100_000).contains(&s[0].max_ns),
            "{}",
            s[0].max_ns
        );
        assert_eq!((s[1].ops, s[2].ops, s[2].errors), (0, 1, 1));
        assert_eq!(s[2].start_ns, 2_000_000_000);
        // A packed interval keeps its data and accepts late records.
        a.pack_before(3);
        a.record(OpKind::Write, Outcome::Ok, 10, 1_000);
        assert_eq!(a.summaries()[0].ops, 3);
        assert_eq!(a.interval(2).len(), 1);
    }
}
