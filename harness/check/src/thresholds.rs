//! Threshold evaluation: each threshold against the observed figure, with both in the
//! verdict so a failure reads "p99(read) < 20ms — observed 31.2ms".

use crate::expectations::OpCounts;
use assay_core::threshold::{FaultFigure, Metric, Threshold};
use assay_core::{LatencyHistograms, OpKind, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdResult {
    pub threshold: String,
    /// In the threshold's base unit (ns, fraction, ops/s); `None` when nothing was
    /// measured for it (which fails the threshold: nothing unverified passes).
    pub observed: Option<f64>,
    pub observed_display: String,
    pub passed: bool,
}

/// The fault figures a scenario's history gave (see `judge::faults`): `None` fields were
/// not measurable (no final read, no history), which fails a threshold on them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultFigures {
    pub lost: Option<u64>,
    pub unexpected: Option<u64>,
    pub duplicated: Option<u64>,
    pub longest_unavailable_ns: Option<f64>,
}

pub fn format_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2}s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2}ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1}µs", ns / 1e3)
    } else {
        format!("{ns:.0}ns")
    }
}

/// `elapsed` is the time the measured ops took (the workload phase, or the whole run).
pub fn evaluate_thresholds(
    thresholds: &[Threshold],
    latencies: &LatencyHistograms,
    counts: &BTreeMap<OpKind, OpCounts>,
    elapsed: Duration,
    faults: &FaultFigures,
) -> Vec<ThresholdResult> {
    let select = |op: Option<OpKind>| -> OpCounts {
        counts
            .iter()
            .filter(|(k, _)| op.is_none_or(|want| want == **k))
            .fold(OpCounts::default(), |a, (_, c)| OpCounts {
                ops: a.ops + c.ops,
                errors: a.errors + c.errors,
            })
    };
    thresholds
        .iter()
        .map(|t| {
            let (observed, display) = match &t.metric {
                Metric::Latency { percentile, op } => {
                    let h = latencies.combined(*op, &Outcome::ALL);
                    if h.is_empty() {
                        (None, "no ops measured".to_string())
                    } else {
                        let v = h.value_at_quantile(percentile / 100.0) as f64;
                        (Some(v), format_ns(v))
                    }
                }
                Metric::ErrorRate { op } => {
                    let c = select(*op);
                    if c.ops == 0 {
                        (None, "no ops measured".to_string())
                    } else {
                        let r = c.errors as f64 / c.ops as f64;
                        (
                            Some(r),
                            format!("{:.3}% ({} of {})", r * 100.0, c.errors, c.ops),
                        )
                    }
                }
                Metric::Throughput { op } => {
                    let c = select(*op);
                    let secs = elapsed.as_secs_f64();
                    if c.ops == 0 || secs <= 0.0 {
                        (None, "no ops measured".to_string())
                    } else {
                        let r = c.ops as f64 / secs;
                        (Some(r), format!("{r:.1}/s"))
                    }
                }
                Metric::Fault { figure } => {
                    let count = match figure {
                        FaultFigure::Lost => faults.lost,
                        FaultFigure::Unexpected => faults.unexpected,
                        FaultFigure::Duplicated => faults.duplicated,
                        FaultFigure::Unavailable => None,
                    };
                    match (figure, count, faults.longest_unavailable_ns) {
                        (FaultFigure::Unavailable, _, Some(ns)) => (Some(ns), format_ns(ns)),
                        (FaultFigure::Unavailable, _, None) => {
                            (None, "no history to measure it on".to_string())
                        }
                        (_, Some(n), _) => (Some(n as f64), n.to_string()),
                        (_, None, _) => (
                            None,
                            "not measured: the history has no final read".to_string(),
                        ),
                    }
                }
            };
            ThresholdResult {
                threshold: t.source.clone(),
                passed: observed.is_some_and(|v| t.comparison.holds(v, t.limit)),
                observed,
                observed_display: display,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_hold_or_fail_with_the_observed_value() {
        let mut lat = LatencyHistograms::default();
        for i in 1..=100u64 {
            lat.record(OpKind::Read, Outcome::Ok, i * 1_000_000);
        }
        let mut counts = BTreeMap::new();
        counts.insert(
            OpKind::Read,
            OpCounts {
                ops: 100,
                errors: 1,
            },
        );
        let ts: Vec<Threshold> = [
            "p99(read) < 20ms",
            "p50 < 60ms",
            "error_rate < 0.1%",
            "throughput > 50/s",
            "p99(write) < 1s",
        ]
        .iter()
        .map(|s| Threshold::parse(s).unwrap())
        .collect();
        let r = evaluate_thresholds(
            &ts,
            &lat,
            &counts,
            Duration::from_secs(1),
            &FaultFigures::default(),
        );
        assert!(!r[0].passed);
        assert_eq!(r[0].observed_display, "99.02ms");
        assert!(r[1].passed);
        assert!(!r[2].passed, "1% errors exceed 0.1%");
        assert_eq!(r[2].observed_display, "1.000% (1 of 100)");
        assert!(r[3].passed);
        assert!(!r[4].passed, "nothing measured must not pass");
        assert_eq!(r[4].observed, None);
    }
}
