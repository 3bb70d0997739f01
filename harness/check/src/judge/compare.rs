//! A run against a baseline: per target × scenario × op kind, the change in throughput
//! and p50 / p99 / p999 latency, each with a verdict — improved, regressed, no change or
//! inconclusive. A change counts only when it is significantly *beyond the tolerance*:
//! not merely different from the baseline, but so far from it that a change as small as
//! the tolerance is unlikely to explain it (a one-sided test against the tolerance's
//! edge). A point estimate just past the edge is inconclusive, not a regression: on a
//! shared machine, runs of one build drift by about the tolerance.
//!
//! With a per-second series on both sides, each figure is computed per batch of seconds
//! (a batch wide enough to hold ten ops beyond the percentile) and compared as the median
//! of the batches — robust to the odd stalled second that dominates a whole-run p99 on a
//! shared machine — with a Welch t-test over the batches (latte's approach: batches are
//! far closer to independent than single ops). Without enough batches, a bootstrap over
//! the whole-run histograms. Every figure of a comparison is one family: Holm's
//! correction keeps the chance of *any* false finding at 5 %, however many targets,
//! scenarios and ops are compared.

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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    pub default: f64,
    /// Per-figure overrides, e.g. p999 at 20 % (the first for a figure wins).
    pub per_figure: Vec<(Figure, f64)>,
}

impl Default for Tolerance {
    /// Wide enough for a shared machine or CI runner. Two identical-config runs of one
    /// build on a busy 2-core machine differed by up to 35 % in throughput, 25 % in p50
    /// and 56 % in p99: a difference between *runs* (what else the machine did), which no
    /// test within one pair of runs can tell from a slower build. A fixed-delay 2× p99
    /// regression still shows. On a quiet, dedicated machine, `--tolerance 5%` is the
    /// tighter gate; measure the noise first (the same build twice).
    fn default() -> Self {
        Tolerance {
            default: 0.40,
            per_figure: vec![(Figure::P99, 0.70), (Figure::P999, 0.70)],
        }
    }
}

impl Tolerance {
    /// One tolerance for every figure.
    pub fn uniform(share: f64) -> Self {
        Tolerance {
            default: share,
            per_figure: Vec::new(),
        }
    }

    pub fn of(&self, f: Figure) -> f64 {
        self.per_figure
            .iter()
            .find(|(g, _)| *g == f)
            .map_or(self.default, |(_, t)| *t)
    }

    /// `throughput 25%, p50 30%, p99 70%, p999 70%`, or `5%` when all are one.
    pub fn describe(&self) -> String {
        let shares: Vec<f64> = Figure::ALL.iter().map(|f| self.of(*f)).collect();
        if shares.iter().all(|s| *s == shares[0]) {
            return format!("{:.0}%", shares[0] * 100.0);
        }
        Figure::ALL
            .iter()
            .zip(shares)
            .map(|(f, s)| format!("{} {:.0}%", f.as_str(), s * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
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
    /// Whether the difference is unlikely to be noise: Holm-corrected over every figure
    /// of the comparison, so the chance of any false finding in it is at most 5 %.
    pub significant: bool,
    /// The test's two-sided p-value before the correction; `None` when untestable.
    pub p_value: Option<f64>,
    /// Whether the change is significantly beyond the tolerance (Holm-corrected like
    /// `significant`): what a regression or an improvement needs.
    pub beyond_tolerance: bool,
    /// The one-sided p-value that a change no larger than the tolerance, in the observed
    /// direction, explains what was measured; `None` when untestable.
    pub p_beyond_tolerance: Option<f64>,
    /// Set when a significant change beyond the tolerance is inconclusive because the
    /// machines were not alike: what differed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlike: Option<String>,
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
    pub tolerance: Tolerance,
    pub rows: Vec<OpComparison>,
    /// Target × scenario pairs found in only one of the runs.
    pub unmatched: Vec<String>,
    /// Regressed anywhere.
    pub regressed: bool,
}

/// The family-wise error rate of a comparison: the chance that any of its significant
/// findings is noise.
pub const ALPHA: f64 = 0.05;

/// Compares `new` against `base`.
pub fn compare(base: &RunRecord, new: &RunRecord, tolerance: &Tolerance) -> Comparison {
    let mut measured = Vec::new();
    let mut unmatched = Vec::new();
    for t in &new.targets {
        for s in &t.scenarios {
            let b = base
                .targets
                .iter()
                .find(|bt| bt.name == t.name)
                .and_then(|bt| bt.scenarios.iter().find(|bs| bs.name == s.name));
            match b {
                Some(b) if !b.latency.is_empty() && !s.latency.is_empty() => measured.extend(
                    compare_scenario(b, s, tolerance)
                        .into_iter()
                        .map(|(op, figures)| (t.name.clone(), s.name.clone(), op, figures)),
                ),
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
    let p: Vec<Option<f64>> = measured
        .iter()
        .flat_map(|(_, _, _, figures)| figures.iter().map(|(_, m)| m.p))
        .collect();
    let p_beyond: Vec<Option<f64>> = measured
        .iter()
        .flat_map(|(_, _, _, figures)| figures.iter().map(|(_, m)| m.p_beyond))
        .collect();
    let mut significant = holm(&p, ALPHA).into_iter();
    let mut beyond = holm(&p_beyond, ALPHA).into_iter();
    let rows: Vec<OpComparison> = measured
        .into_iter()
        .map(|(target, scenario, op, figures)| OpComparison {
            target,
            scenario,
            op,
            figures: figures
                .into_iter()
                .map(|(f, m)| {
                    let significant = significant.next().unwrap_or(false);
                    let beyond = beyond.next().unwrap_or(false);
                    verdict(f, m, significant, beyond, tolerance)
                })
                .collect(),
        })
        .collect();
    let regressed = rows
        .iter()
        .flat_map(|r| &r.figures)
        .any(|f| f.change == Change::Regressed);
    Comparison {
        base_run: base.run_id.clone(),
        new_run: new.run_id.clone(),
        tolerance: tolerance.clone(),
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

/// Fewest batches on each side for the batch-means test; with fewer, the histograms are
/// bootstrapped instead.
const MIN_BATCHES: usize = 5;

/// What one figure measured on both sides, before the verdict: its values and how likely
/// a difference this large is from noise alone.
struct Measured {
    base: f64,
    new: f64,
    /// Two-sided p-value; `None` when the figure cannot be tested (throughput without a
    /// per-second series).
    p: Option<f64>,
    /// One-sided p-value against the tolerance's edge in the observed direction.
    p_beyond: Option<f64>,
    method: String,
    /// Why the two runs' machines were not alike, when they were not.
    unlike: Option<String>,
}

fn compare_scenario(
    base: &ScenarioRecord,
    new: &ScenarioRecord,
    tolerance: &Tolerance,
) -> Vec<(String, Vec<(Figure, Measured)>)> {
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
    let unlike = unlike_machines(base, new);
    ops.into_iter()
        .map(|op| {
            let (bh, nh) = (
                ok_histogram(&base.latency, op),
                ok_histogram(&new.latency, op),
            );
            let figures = Figure::ALL
                .iter()
                .filter_map(|f| {
                    if f.quantile().is_some() && (bh.is_empty() || nh.is_empty()) {
                        return None;
                    }
                    let batched = match (&bs, &ns) {
                        (Some(bs), Some(ns)) => {
                            let (bb, nb) = (batches(bs, op, *f), batches(ns, op, *f));
                            (bb.values.len() >= MIN_BATCHES && nb.values.len() >= MIN_BATCHES)
                                .then_some((bb, nb))
                        }
                        _ => None,
                    };
                    let m = match batched {
                        Some((bb, nb)) => {
                            let (b, n) = (median(&bb.values), median(&nb.values));
                            let edge = Edge::of(b, n, tolerance.of(*f));
                            let at_edge: Vec<f64> =
                                bb.values.iter().map(|v| v * edge.factor).collect();
                            Measured {
                                base: b,
                                new: n,
                                p: Some(welch_p(&bb.values, &nb.values)),
                                p_beyond: Some(welch_one_sided_p(&nb.values, &at_edge, edge.up)),
                                method: format!(
                                    "median of {} vs {} batches ({} s / {} s each), Welch",
                                    bb.values.len(),
                                    nb.values.len(),
                                    bb.seconds,
                                    nb.seconds
                                ),
                                unlike: unlike.clone(),
                            }
                        }
                        None => {
                            let (b, n) = match f.quantile() {
                                Some(q) => (
                                    bh.value_at_quantile(q) as f64,
                                    nh.value_at_quantile(q) as f64,
                                ),
                                None => (
                                    bh.len() as f64 / measured_s(base).max(1e-9),
                                    nh.len() as f64 / measured_s(new).max(1e-9),
                                ),
                            };
                            let edge = Edge::of(b, n, tolerance.of(*f));
                            let (p, p_beyond, method) = bootstrap(&bh, &nh, *f, edge);
                            Measured {
                                base: b,
                                new: n,
                                p,
                                p_beyond,
                                method,
                                unlike: unlike.clone(),
                            }
                        }
                    };
                    Some((*f, m))
                })
                .collect();
            (
                op.map_or("all".to_string(), |k| k.as_str().to_string()),
                figures,
            )
        })
        .collect()
}

/// The tolerance's edge in the direction the figure moved: the baseline scaled by
/// (1 ± tolerance), which the new figure must be significantly beyond.
#[derive(Clone, Copy, Debug)]
struct Edge {
    factor: f64,
    up: bool,
}

impl Edge {
    fn of(base: f64, new: f64, tolerance: f64) -> Edge {
        let up = new >= base;
        Edge {
            factor: if up {
                1.0 + tolerance
            } else {
                (1.0 - tolerance).max(0.0)
            },
            up,
        }
    }
}

/// The verdict on one figure, once its significance is known.
fn verdict(
    f: Figure,
    m: Measured,
    significant: bool,
    beyond: bool,
    tolerance: &Tolerance,
) -> FigureChange {
    let relative = if m.base > 0.0 {
        (m.new - m.base) / m.base
    } else {
        0.0
    };
    let better = if f.higher_is_better() {
        relative > 0.0
    } else {
        relative < 0.0
    };
    let change = if relative.abs() <= tolerance.of(f) {
        Change::NoChange
    } else if !beyond || m.unlike.is_some() {
        Change::Inconclusive
    } else if better {
        Change::Improved
    } else {
        Change::Regressed
    };
    FigureChange {
        figure: f,
        base: m.base,
        new: m.new,
        relative,
        significant,
        p_value: m.p,
        beyond_tolerance: beyond,
        p_beyond_tolerance: m.p_beyond,
        method: m.method,
        unlike: m
            .unlike
            .filter(|_| change == Change::Inconclusive && beyond),
        change,
    }
}

/// How much more (or less) of the machine other processes may have used in one run than
/// in the other, in cores, before the two no longer measure the same thing.
pub const UNLIKE_MACHINE_CORES: f64 = 0.5;

/// Why the runs' machines were not alike, or not fit to measure on: the CPU taken by
/// other processes (and, on a virtual machine, by other guests: steal) differed by more
/// than [`UNLIKE_MACHINE_CORES`], or in either run the machine was saturated (≥ 90 %
/// busy) with more than that taken by others — then the
/// figures measure the contention as much as the service. A difference beyond the
/// tolerance is then not the build's to answer for: it is inconclusive, never a regression
/// nor an improvement.
fn unlike_machines(base: &ScenarioRecord, new: &ScenarioRecord) -> Option<String> {
    let (b, n) = (base.host?, new.host?);
    let contended = |h: &assay_core::record::HostLoad| {
        h.taken_cores() > UNLIKE_MACHINE_CORES
            && h.busy_cores + h.stolen_cores >= 0.9 * h.cpus as f64
    };
    let stolen = if b.stolen_cores + n.stolen_cores >= 0.05 {
        format!(
            " (of which the hypervisor took {:.1} and {:.1})",
            b.stolen_cores, n.stolen_cores
        )
    } else {
        String::new()
    };
    let loads = format!(
        "other processes used {:.1} of {} cores in the baseline and {:.1} of {} in the new run{stolen}",
        b.taken_cores(),
        b.cpus,
        n.taken_cores(),
        n.cpus
    );
    if (n.taken_cores() - b.taken_cores()).abs() > UNLIKE_MACHINE_CORES {
        Some(loads)
    } else if contended(&b) || contended(&n) {
        Some(format!("the machine was saturated: {loads}"))
    } else {
        None
    }
}

/// Holm's step-down procedure: which of `p` are significant with the family-wise error
/// rate (the chance of *any* false finding in the whole comparison) at `alpha`.
fn holm(p: &[Option<f64>], alpha: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    order.sort_by(|&a, &b| p[a].unwrap_or(1.0).total_cmp(&p[b].unwrap_or(1.0)));
    let m = order.len();
    let mut out = vec![false; p.len()];
    for (rank, &i) in order.iter().enumerate() {
        if p[i].unwrap_or(1.0) > alpha / (m - rank) as f64 {
            break;
        }
        out[i] = true;
    }
    out
}

/// The per-batch figure of a series: consecutive seconds merged into batches wide enough
/// that each holds the ops the figure needs (a p999 of ten ops is the maximum, not a
/// p999); seconds without ops and the partial first and last seconds left out.
struct Batches {
    values: Vec<f64>,
    seconds: usize,
}

/// Ops a batch must hold for the figure: ten beyond its percentile.
fn ops_needed(f: Figure) -> f64 {
    f.quantile().map_or(1.0, |q| 10.0 / (1.0 - q))
}

fn batches(series: &IntervalSeries, op: Option<OpKind>, f: Figure) -> Batches {
    let n = series.len();
    let secs = series.interval_ns() as f64 / 1e9;
    let per_second: Vec<Histogram<u64>> = (1..n.saturating_sub(1))
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
            h.filter(|h| !h.is_empty())
        })
        .collect();
    let mut counts: Vec<f64> = per_second.iter().map(|h| h.len() as f64).collect();
    counts.sort_by(|a, b| a.total_cmp(b));
    let typical = counts.get(counts.len() / 2).copied().unwrap_or(0.0);
    let width = if typical > 0.0 {
        (ops_needed(f) / typical).ceil().max(1.0) as usize
    } else {
        1
    };
    let values = per_second
        .chunks_exact(width)
        .map(|chunk| {
            let mut h = chunk[0].clone();
            for more in &chunk[1..] {
                let _ = h.add(more);
            }
            match f.quantile() {
                Some(q) => h.value_at_quantile(q) as f64,
                None => h.len() as f64 / (secs * width as f64),
            }
        })
        .collect();
    Batches {
        values,
        seconds: width,
    }
}

fn median(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var)
}

/// Welch's t statistic of mean(a) − mean(b) and its degrees of freedom; `None` when
/// both samples are constant.
fn welch_t(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let ((ma, va), (mb, vb)) = (mean_var(a), mean_var(b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let se2 = va / na + vb / nb;
    if se2 <= 0.0 {
        return None;
    }
    let df = se2.powi(2) / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0));
    Some((
        (ma - mb) / se2.sqrt(),
        if df.is_finite() { df } else { 1.0 },
    ))
}

/// Welch's t-test: the two-sided p-value that the two means are equal.
fn welch_p(a: &[f64], b: &[f64]) -> f64 {
    match welch_t(a, b) {
        Some((t, df)) => student_t_two_sided_p(t.abs(), df),
        None if mean_var(a).0 == mean_var(b).0 => 1.0,
        None => 0.0,
    }
}

/// Welch's one-sided test: the p-value that mean(a) is not above mean(b) (`up`), or not
/// below it.
fn welch_one_sided_p(a: &[f64], b: &[f64], up: bool) -> f64 {
    let (ma, mb) = (mean_var(a).0, mean_var(b).0);
    let Some((t, df)) = welch_t(a, b) else {
        let beyond = if up { ma > mb } else { ma < mb };
        return if beyond { 0.0 } else { 1.0 };
    };
    let t = if up { t } else { -t };
    let tail = student_t_two_sided_p(t.abs(), df) / 2.0;
    if t > 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// P(|T| ≥ t) for Student's t with `df` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2).
fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// The regularized incomplete beta function I_x(a, b) (continued fraction, Lentz's method).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(b, a, 1.0 - x);
    }
    const TINY: f64 = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..300 {
        let m = m as f64;
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + num / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-12 {
            break;
        }
    }
    front * f / a
}

/// ln Γ(x), Lanczos' approximation (g = 7, 9 terms).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = C[1..]
        .iter()
        .enumerate()
        .fold(C[0], |acc, (i, c)| acc + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// Most values one bootstrap sample draws from a histogram (bigger histograms are
/// resampled at this size: a wider, more cautious interval).
const BOOTSTRAP_SAMPLE: u64 = 2_000;
const BOOTSTRAP_ROUNDS: usize = 1_000;

/// A percentile bootstrap of the figure's difference, resampling each histogram's
/// distribution: the two-sided p-value is twice the share of rounds on the far side of
/// zero; the one against the tolerance's edge, the share of rounds not beyond it.
/// Throughput has no per-op distribution and cannot be tested this way.
fn bootstrap(
    base: &Histogram<u64>,
    new: &Histogram<u64>,
    f: Figure,
    edge: Edge,
) -> (Option<f64>, Option<f64>, String) {
    let Some(q) = f.quantile() else {
        return (
            None,
            None,
            "no per-second series to test throughput on".into(),
        );
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
    let mut picks: Vec<u64> = Vec::with_capacity(BOOTSTRAP_SAMPLE as usize);
    let mut draw = |vals: &[(u64, u64)], total: u64| -> f64 {
        let n = total.min(BOOTSTRAP_SAMPLE);
        picks.clear();
        picks.extend((0..n).map(|_| {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (rng >> 11) % total;
            let i = vals.partition_point(|(_, upto)| *upto <= at);
            vals.get(i).or(vals.last()).map_or(0, |(v, _)| *v)
        }));
        let k = ((n as f64 - 1.0) * q).round() as usize;
        *picks.select_nth_unstable(k).1 as f64
    };
    let (mut below, mut above, mut within) = (0usize, 0usize, 0usize);
    for _ in 0..BOOTSTRAP_ROUNDS {
        let (n, b) = (draw(&nv, new.len()), draw(&bv, base.len()));
        let d = n - b;
        if d <= 0.0 {
            below += 1;
        }
        if d >= 0.0 {
            above += 1;
        }
        let at_edge = b * edge.factor;
        if (edge.up && n <= at_edge) || (!edge.up && n >= at_edge) {
            within += 1;
        }
    }
    let share = |k: usize| ((k as f64 + 1.0) / (BOOTSTRAP_ROUNDS as f64 + 1.0)).min(1.0);
    let p = (2.0 * share(below.min(above))).min(1.0);
    (
        Some(p),
        Some(share(within)),
        "bootstrap of the whole-run histograms".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_p_values_match_the_tables() {
        // Two-sided 5 % critical values: t(10) = 2.228, t(30) = 2.042; t(1) = 12.706.
        for (t, df) in [(2.228, 10.0), (2.042, 30.0), (12.706, 1.0)] {
            let p = student_t_two_sided_p(t, df);
            assert!((p - 0.05).abs() < 5e-4, "t={t} df={df}: p={p}");
        }
        assert!((student_t_two_sided_p(0.0, 8.0) - 1.0).abs() < 1e-9);
        // 1 % critical value at df = 20: 2.845.
        let p = student_t_two_sided_p(2.845, 20.0);
        assert!((p - 0.01).abs() < 1e-4, "p={p}");
    }

    #[test]
    fn welch_separates_shifted_noisy_samples_and_not_equal_ones() {
        let a: Vec<f64> = (0..10).map(|i| 100.0 + (i % 3) as f64).collect();
        let b: Vec<f64> = (0..10).map(|i| 200.0 + (i % 4) as f64).collect();
        assert!(welch_p(&a, &b) < 1e-6);
        let c: Vec<f64> = (0..10).map(|i| 100.0 + ((i + 1) % 3) as f64).collect();
        assert!(welch_p(&a, &c) > 0.5);
    }

    #[test]
    fn holm_steps_down_and_stops_at_the_first_failure() {
        // m = 4: 0.01 ≤ 0.05/4, 0.015 ≤ 0.05/3, 0.03 > 0.05/2 stops, so 0.04 is not
        // significant either although it is below 0.05.
        let p = [Some(0.03), Some(0.01), None, Some(0.04), Some(0.015)];
        assert_eq!(holm(&p, 0.05), [false, true, false, false, true]);
        assert_eq!(holm(&[], 0.05), Vec::<bool>::new());
    }

    #[test]
    fn a_doubled_latency_is_a_significant_bootstrap_difference_and_the_same_is_not() {
        let mut a = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        let mut b = a.clone();
        for i in 0..20_000u64 {
            a.record(1_000_000 + (i % 100) * 10_000).unwrap();
            b.record(2_000_000 + (i % 100) * 20_000).unwrap();
        }
        let up = |tolerance| Edge::of(1.0, 2.0, tolerance);
        let (p, beyond, _) = bootstrap(&a, &b, Figure::P99, up(0.4));
        assert!(p.unwrap() < 0.01, "{p:?}");
        // Doubled is far beyond a 40 % tolerance, and not beyond a 150 % one.
        assert!(beyond.unwrap() < 0.01, "{beyond:?}");
        let (_, beyond, _) = bootstrap(&a, &b, Figure::P99, up(1.5));
        assert!(beyond.unwrap() > 0.99, "{beyond:?}");
        let (p, _, _) = bootstrap(&a, &a.clone(), Figure::P99, up(0.4));
        assert!(p.unwrap() > 0.5, "{p:?}");
        assert_eq!(bootstrap(&a, &b, Figure::Throughput, up(0.4)).0, None);
    }

    #[test]
    fn one_sided_welch_tests_against_the_tolerance_edge() {
        // Batches around 140 against an edge of 100 × 1.4: at the edge, not beyond it.
        let base: Vec<f64> = (0..10).map(|i| 100.0 + (i % 5) as f64 - 2.0).collect();
        let new: Vec<f64> = (0..10).map(|i| 140.0 + (i % 5) as f64 - 2.0).collect();
        let edge = Edge::of(100.0, 140.0, 0.4);
        let at_edge: Vec<f64> = base.iter().map(|v| v * edge.factor).collect();
        let p = welch_one_sided_p(&new, &at_edge, edge.up);
        assert!(p > 0.3, "{p}");
        // Clearly different from the baseline, though.
        assert!(welch_p(&base, &new) < 1e-6);
        // Around 200: far beyond the edge; and a drop beyond a 40 % tolerance downwards.
        let far: Vec<f64> = new.iter().map(|v| v + 60.0).collect();
        assert!(welch_one_sided_p(&far, &at_edge, true) < 1e-6);
        assert!(welch_one_sided_p(&at_edge, &far, true) > 1.0 - 1e-6);
        let low: Vec<f64> = base.iter().map(|v| v * 0.3).collect();
        let edge = Edge::of(100.0, 30.0, 0.4);
        assert!(!edge.up && (edge.factor - 0.6).abs() < 1e-12);
        let at_edge: Vec<f64> = base.iter().map(|v| v * edge.factor).collect();
        assert!(welch_one_sided_p(&low, &at_edge, false) < 1e-6);
    }

    #[test]
    fn batches_are_wide_enough_for_their_percentile() {
        let mut series = IntervalSeries::new(1_000_000_000);
        // 12 seconds of 300 ops each (the first and last are left out as partial).
        for sec in 0..12u64 {
            for i in 0..300u64 {
                series.record(
                    OpKind::Read,
                    Outcome::Ok,
                    sec * 1_000_000_000 + i,
                    1_000 + i,
                );
            }
        }
        let t = batches(&series, None, Figure::Throughput);
        assert_eq!((t.seconds, t.values.len()), (1, 10));
        assert!(t.values.iter().all(|v| (*v - 300.0).abs() < 1e-9));
        // p99 needs 1,000 ops: 4 seconds a batch, two whole batches.
        let p99 = batches(&series, None, Figure::P99);
        assert_eq!((p99.seconds, p99.values.len()), (4, 2));
        assert_eq!(batches(&series, None, Figure::P50).seconds, 1);
    }

    fn run_with(latency_ms: u64, other_cores: f64) -> RunRecord {
        run_on(latency_ms, other_cores, 1.0 + other_cores)
    }

    fn run_on(latency_ms: u64, other_cores: f64, busy_cores: f64) -> RunRecord {
        use assay_core::record::{HostLoad, LoadConfig, Machine, RecordKind, TargetRecord};
        let mut s = ScenarioRecord::new(
            "s",
            "s.toml",
            "00",
            RecordKind::Throughput,
            String::new(),
            LoadConfig::default(),
        );
        for i in 0..2_000u64 {
            s.latency.record(
                OpKind::Read,
                Outcome::Ok,
                latency_ms * (1_000_000 + (i % 100) * 5_000),
            );
        }
        s.elapsed_ns = 1_000_000_000;
        s.host = Some(HostLoad {
            cpus: 2,
            busy_cores,
            other_cores,
            stolen_cores: 0.0,
        });
        RunRecord {
            schema_version: assay_core::record::RECORD_SCHEMA_VERSION,
            run_id: format!("run-{latency_ms}-{other_cores}"),
            assay_version: "0".into(),
            seed: 0,
            started_at: String::new(),
            finished_at: String::new(),
            started_unix_ms: 0,
            machine: Machine::current(),
            interrupted: None,
            targets: vec![TargetRecord {
                name: "t".into(),
                family: assay_core::Family::Postgres,
                endpoint: None,
                stand_in: None,
                backend_version: None,
                start_error: None,
                scenarios: vec![s],
            }],
            timeline: Vec::new(),
        }
    }

    fn p99_change(c: &Comparison) -> &FigureChange {
        c.rows[0]
            .figures
            .iter()
            .find(|f| f.figure == Figure::P99)
            .unwrap()
    }

    #[test]
    fn a_doubled_p99_regresses_on_a_like_machine_and_is_inconclusive_on_an_unlike_one() {
        let tol = Tolerance::default();
        let c = compare(&run_with(1, 0.1), &run_with(2, 0.3), &tol);
        assert_eq!(p99_change(&c).change, Change::Regressed, "{c:?}");
        assert!(c.regressed);
        let c = compare(&run_with(1, 0.1), &run_with(2, 1.2), &tol);
        let f = p99_change(&c);
        assert_eq!(f.change, Change::Inconclusive, "{c:?}");
        assert!(
            f.unlike.as_deref().unwrap().contains("0.1 of 2 cores")
                && f.unlike.as_deref().unwrap().contains("1.2 of 2"),
            "{f:?}"
        );
        assert!(!c.regressed);
        // Alike, but the machine saturated with others' work: inconclusive too.
        let c = compare(&run_on(1, 1.4, 2.0), &run_on(2, 1.45, 2.0), &tol);
        let f = p99_change(&c);
        assert_eq!(f.change, Change::Inconclusive, "{c:?}");
        assert!(f
            .unlike
            .as_deref()
            .unwrap()
            .starts_with("the machine was saturated"));
        // Saturated by the run itself (nothing else running): a regression is one.
        let c = compare(&run_on(1, 0.1, 2.0), &run_on(2, 0.2, 2.0), &tol);
        assert_eq!(p99_change(&c).change, Change::Regressed, "{c:?}");
        // Alike in processes, but a hypervisor took most of a core from the new run.
        let mut stolen = run_with(2, 0.3);
        stolen.targets[0].scenarios[0]
            .host
            .as_mut()
            .unwrap()
            .stolen_cores = 0.7;
        let c = compare(&run_with(1, 0.1), &stolen, &tol);
        let f = p99_change(&c);
        assert_eq!(f.change, Change::Inconclusive, "{c:?}");
        assert!(f
            .unlike
            .as_deref()
            .unwrap()
            .contains("hypervisor took 0.0 and 0.7"));
        // Doubled, against a tolerance of 150 %: within it.
        let c = compare(
            &run_with(1, 0.1),
            &run_with(2, 0.3),
            &Tolerance::uniform(1.5),
        );
        assert_eq!(p99_change(&c).change, Change::NoChange, "{c:?}");
        // The same run against itself: no change, and no note.
        let c = compare(&run_with(1, 0.1), &run_with(1, 1.2), &tol);
        assert_eq!(p99_change(&c).change, Change::NoChange);
        assert_eq!(p99_change(&c).unlike, None);
    }
}
