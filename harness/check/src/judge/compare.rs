//! A run against a baseline: per target × scenario × op kind, the change in throughput
//! and p50 / p99 / p999 latency, each with a verdict — improved, regressed, no change or
//! inconclusive. A change counts only when it is both practically large (beyond the
//! tolerance) and statistically significant: a Welch t-test over the per-second batch
//! means of the two runs (latte's approach: seconds are far closer to independent than
//! single ops), or, without enough seconds, a bootstrap over the histograms.

use assay_core::metrics::IntervalSeries;
use assay_core::record::{RunRecord, ScenarioRecord};
use assay_core::{LatencyHistograms, OpKind, Outcome};
use hdrhistogram::Histogram;
use serde::Serialize;

/// What a comparison decided for one figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Improved,
    Regressed,
    NoChange,
    /// Beyond the tolerance, but the runs are too noisy (or too short) to tell.
    Inconclusive,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Improved => "improved",
            Change::Regressed => "regressed",
            Change::NoChange => "no change",
            Change::Inconclusive => "inconclusive",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Throughput,
    P50,
    P99,
    P999,
}

impl Figure {
    pub const ALL: [Figure; 4] = [Figure::Throughput, Figure::P50, Figure::P99, Figure::P999];

    pub fn as_str(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput",
            Figure::P50 => "p50",
            Figure::P99 => "p99",
            Figure::P999 => "p999",
        }
    }

    fn quantile(self) -> Option<f64> {
        match self {
            Figure::Throughput => None,
            Figure::P50 => Some(0.50),
            Figure::P99 => Some(0.99),
            Figure::P999 => Some(0.999),
        }
    }

    /// Up is better for throughput, worse for latency.
    fn higher_is_better(self) -> bool {
        self == Figure::Throughput
    }
}

/// The practical threshold: a relative change within it is no change.
#[derive(Clone, Debug, PartialEq)]
pub struct Tolerance {
    pub default: f64,
    /// Per-figure overrides, e.g. p999 at 20 %.
    pub per_figure: Vec<(Figure, f64)>,
}

impl Tolerance {
    pub fn of(&self, f: Figure) -> f64 {
        self.per_figure
            .iter()
            .find(|(g, _)| *g == f)
            .map_or(self.default, |(_, t)| *t)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FigureChange {
    pub figure: Figure,
    /// Ops per second, or nanoseconds.
    pub base: f64,
    pub new: f64,
    /// (new − base) / base.
    pub relative: f64,
    /// Whether the difference is unlikely to be noise (95 %).
    pub significant: bool,
    /// How significance was judged: `batch means (N vs M s)` or `bootstrap`.
    pub method: String,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpComparison {
    pub target: String,
    pub scenario: String,
    /// `all` or an op kind.
    pub op: String,
    pub figures: Vec<FigureChange>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub base_run: String,
    pub new_run: String,
    pub tolerance: f64,
    pub rows: Vec<OpComparison>,
    /// Target × scenario pairs found in only one of the runs.
    pub unmatched: Vec<String>,
    /// Regressed anywhere.
    pub regressed: bool,
}

/// Compares `new` against `base`.
pub fn compare(base: &RunRecord, new: &RunRecord, tolerance: &Tolerance) -> Comparison {
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    for t in &new.targets {
        for s in &t.scenarios {
            let b = base
                .targets
                .iter()
                .find(|bt| bt.name == t.name)
                .and_then(|bt| bt.scenarios.iter().find(|bs| bs.name == s.name));
            match b {
                Some(b) if !b.latency.is_empty() && !s.latency.is_empty() => {
                    rows.extend(compare_scenario(&t.name, b, s, tolerance))
                }
                Some(_) => {}
                None => unmatched.push(format!("{} / {} (only in the new run)", t.name, s.name)),
            }
        }
    }
    for t in &base.targets {
        for s in &t.scenarios {
            let in_new = new
                .targets
                .iter()
                .any(|nt| nt.name == t.name && nt.scenarios.iter().any(|ns| ns.name == s.name));
            if !in_new {
                unmatched.push(format!("{} / {} (only in the baseline)", t.name, s.name));
            }
        }
    }
    let regressed = rows
        .iter()
        .flat_map(|r| &r.figures)
        .any(|f| f.change == Change::Regressed);
    Comparison {
        base_run: base.run_id.clone(),
        new_run: new.run_id.clone(),
        tolerance: tolerance.default,
        rows,
        unmatched,
        regressed,
    }
}

fn measured_s(s: &ScenarioRecord) -> f64 {
    s.workload.as_ref().map_or(s.elapsed_ns, |w| w.measured_ns) as f64 / 1e9
}

fn ok_histogram(l: &LatencyHistograms, op: Option<OpKind>) -> Histogram<u64> {
    l.combined(op, &[Outcome::Ok])
}

fn compare_scenario(
    target: &str,
    base: &ScenarioRecord,
    new: &ScenarioRecord,
    tolerance: &Tolerance,
) -> Vec<OpComparison> {
    let mut ops: Vec<Option<OpKind>> = vec![None];
    for (k, o, _) in new.latency.iter() {
        if o == Outcome::Ok
            && !ops.contains(&Some(k))
            && base.latency.count(Some(k), &[Outcome::Ok]) > 0
        {
            ops.push(Some(k));
        }
    }
    let series = |s: &ScenarioRecord| s.workload.as_ref().map(|w| w.series.clone());
    let (bs, ns) = (series(base), series(new));
    ops.into_iter()
        .map(|op| {
            let (bh, nh) = (
                ok_histogram(&base.latency, op),
                ok_histogram(&new.latency, op),
            );
            let figures = Figure::ALL
                .iter()
                .filter_map(|f| {
                    let (b, n) = match f.quantile() {
                        Some(q) if !bh.is_empty() && !nh.is_empty() => (
                            bh.value_at_quantile(q) as f64,
                            nh.value_at_quantile(q) as f64,
                        ),
                        Some(_) => return None,
                        None => (
                            bh.len() as f64 / measured_s(base).max(1e-9),
                            nh.len() as f64 / measured_s(new).max(1e-9),
                        ),
                    };
                    let (significant, method) = match (&bs, &ns) {
                        (Some(bs), Some(ns)) => match (batches(bs, op, *f), batches(ns, op, *f)) {
                            (bb, nb) if bb.len() >= 5 && nb.len() >= 5 => (
                                welch_significant(&bb, &nb),
                                format!("batch means ({} vs {} s)", bb.len(), nb.len()),
                            ),
                            _ => bootstrap(&bh, &nh, *f),
                        },
                        _ => bootstrap(&bh, &nh, *f),
                    };
                    let relative = if b > 0.0 { (n - b) / b } else { 0.0 };
                    let better = if f.higher_is_better() {
                        relative > 0.0
                    } else {
                        relative < 0.0
                    };
                    let change = if relative.abs() <= tolerance.of(*f) {
                        Change::NoChange
                    } else if !significant {
                        Change::Inconclusive
                    } else if better {
                        Change::Improved
                    } else {
                        Change::Regressed
                    };
                    Some(FigureChange {
                        figure: *f,
                        base: b,
                        new: n,
                        relative,
                        significant,
                        method,
                        change,
                    })
                })
                .collect();
            OpComparison {
                target: target.to_string(),
                scenario: new.name.clone(),
                op: op.map_or("all".to_string(), |k| k.as_str().to_string()),
                figures,
            }
        })
        .collect()
}

/// The figure per second of a series (seconds without ops left out; the first and last,
/// which are partial, too).
fn batches(series: &IntervalSeries, op: Option<OpKind>, f: Figure) -> Vec<f64> {
    let n = series.len();
    let secs = series.interval_ns() as f64 / 1e9;
    (1..n.saturating_sub(1))
        .filter_map(|i| {
            let mut h: Option<Histogram<u64>> = None;
            for (k, o, hist) in series.interval(i) {
                if o == Outcome::Ok && op.is_none_or(|want| want == k) {
                    match h.as_mut() {
                        Some(all) => {
                            let _ = all.add(&hist);
                        }
                        None => h = Some(hist),
                    }
                }
            }
            let h = h.filter(|h| !h.is_empty())?;
            Some(match f.quantile() {
                Some(q) => h.value_at_quantile(q) as f64,
                None => h.len() as f64 / secs,
            })
        })
        .collect()
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var)
}

/// Two-sided 97.5 % quantile of Student's t for `df` degrees of freedom.
fn t_critical(df: f64) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    let d = df.floor().max(1.0) as usize;
    if d <= 30 {
        TABLE[d - 1]
    } else {
        1.96 + 2.4 / df
    }
}

/// Welch's t-test at 95 %: are the two means different?
fn welch_significant(a: &[f64], b: &[f64]) -> bool {
    let ((ma, va), (mb, vb)) = (mean_var(a), mean_var(b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let se2 = va / na + vb / nb;
    if se2 <= 0.0 {
        return ma != mb;
    }
    let t = (ma - mb).abs() / se2.sqrt();
    let df = se2.powi(2) / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0));
    t > t_critical(if df.is_finite() { df } else { 1.0 })
}

/// Most values one bootstrap sample draws from a histogram (bigger histograms are
/// resampled at this size: a wider, more cautious interval).
const BOOTSTRAP_SAMPLE: u64 = 5_000;
const BOOTSTRAP_ROUNDS: usize = 200;

/// A percentile bootstrap of the figure's difference at 95 %, resampling each
/// histogram's distribution; throughput has no per-op distribution and is never
/// significant this way.
fn bootstrap(base: &Histogram<u64>, new: &Histogram<u64>, f: Figure) -> (bool, String) {
    let Some(q) = f.quantile() else {
        return (false, "no per-second series to test throughput on".into());
    };
    // (value, running count) per recorded bucket: a draw is a binary search.
    let cumulative = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
        let mut total = 0;
        h.iter_recorded()
            .map(|v| {
                total += v.count_at_value();
                (v.value_iterated_to(), total)
            })
            .collect()
    };
    let (bv, nv) = (cumulative(base), cumulative(new));
    let mut rng = 0x5eed_u64;
    let mut draw = |vals: &[(u64, u64)], total: u64| -> f64 {
        let n = total.min(BOOTSTRAP_SAMPLE);
        let mut picks: Vec<u64> = (0..n)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let at = (rng >> 11) % total;
                let i = vals.partition_point(|(_, upto)| *upto <= at);
                vals.get(i).or(vals.last()).map_or(0, |(v, _)| *v)
            })
            .collect();
        picks.sort_unstable();
        picks[((n as f64 - 1.0) * q).round() as usize] as f64
    };
    let mut diffs: Vec<f64> = (0..BOOTSTRAP_ROUNDS)
        .map(|_| draw(&nv, new.len()) - draw(&bv, base.len()))
        .collect();
    diffs.sort_by(|a, b| a.total_cmp(b));
    let lo = diffs[(BOOTSTRAP_ROUNDS as f64 * 0.025) as usize];
    let hi = diffs[(BOOTSTRAP_ROUNDS as f64 * 0.975) as usize - 1];
    (lo > 0.0 || hi < 0.0, "bootstrap".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_separates_shifted_noisy_samples_and_not_equal_ones() {
        let a: Vec<f64> = (0..10).map(|i| 100.0 + (i % 3) as f64).collect();
        let b: Vec<f64> = (0..10).map(|i| 200.0 + (i % 4) as f64).collect();
        assert!(welch_significant(&a, &b));
        let c: Vec<f64> = (0..10).map(|i| 100.0 + ((i + 1) % 3) as f64).collect();
        assert!(!welch_significant(&a, &c));
    }

    #[test]
    fn a_doubled_latency_is_a_significant_bootstrap_difference_and_the_same_is_not() {
        let mut a = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        let mut b = a.clone();
        for i in 0..20_000u64 {
            a.record(1_000_000 + (i % 100) * 10_000).unwrap();
            b.record(2_000_000 + (i % 100) * 20_000).unwrap();
        }
        assert!(bootstrap(&a, &b, Figure::P99).0);
        assert!(!bootstrap(&a, &a.clone(), Figure::P99).0);
    }
}
