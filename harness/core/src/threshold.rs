//! Thresholds, k6-style: `p99(read) < 20ms`, `error_rate < 0.1%`, `throughput > 5000/s`.
//! Parsing lives here so `assay validate` can reject a bad one; evaluation is the
//! check crate's.

use crate::op::OpKind;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Metric {
    /// Latency at a percentile (0–100], over one op kind or all ops.
    Latency { percentile: f64, op: Option<OpKind> },
    /// Share of ops whose outcome was not `ok` and not expected by the step.
    ErrorRate { op: Option<OpKind> },
    /// Completed ops per second.
    Throughput { op: Option<OpKind> },
    /// A fault figure: a count from the set account (`lost`, `unexpected`,
    /// `duplicated`) or the longest unavailability window (`unavailable`, a duration).
    Fault { figure: FaultFigure },
}

/// What a failover scenario promises, counted by the judge from its history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultFigure {
    /// Acknowledged writes missing from the final read.
    Lost,
    /// Present in the final read although never acknowledged as attempted or failed.
    Unexpected,
    /// Present more than once.
    Duplicated,
    /// The longest time any client could not get an op through.
    Unavailable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Comparison {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
}

impl Comparison {
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Comparison::Lt => observed < limit,
            Comparison::Le => observed <= limit,
            Comparison::Gt => observed > limit,
            Comparison::Ge => observed >= limit,
            Comparison::Eq => observed == limit,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Eq => "==",
        }
    }
}

/// A parsed threshold. `limit` is in base units: nanoseconds for latency, a fraction
/// (0–1) for error rate, ops per second for throughput.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Threshold {
    pub source: String,
    pub metric: Metric,
    pub comparison: Comparison,
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

const HELP: &str = "write it as `p99(read) < 20ms`, `error_rate < 0.1%`, `throughput > 5000/s`, `lost == 0` or `unavailable < 30s`";

impl Threshold {
    pub fn parse(src: &str) -> Result<Threshold, String> {
        let s = src.trim();
        let (pos, comparison, width) = ["<=", ">=", "==", "<", ">", "="]
            .iter()
            .find_map(|c| s.find(c).map(|p| (p, *c, c.len())))
            .ok_or_else(|| {
                format!("threshold `{src}` has no comparison (<, <=, >, >=, ==); {HELP}")
            })?;
        let comparison = match comparison {
            "<" => Comparison::Lt,
            "<=" => Comparison::Le,
            ">" => Comparison::Gt,
            ">=" => Comparison::Ge,
            _ => Comparison::Eq,
        };
        let lhs = s[..pos].trim();
        let rhs = s[pos + width..].trim();
        let (name, op) = match lhs.find('(') {
            Some(open) => {
                let inner = lhs[open + 1..].strip_suffix(')').ok_or_else(|| {
                    format!("threshold `{src}`: `(` without a closing `)`; {HELP}")
                })?;
                let op = OpKind::parse(inner.trim()).ok_or_else(|| {
                    let known: Vec<_> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                    format!(
                        "threshold `{src}`: unknown op `{inner}`; use one of {}",
                        known.join(", ")
                    )
                })?;
                (lhs[..open].trim(), Some(op))
            }
            None => (lhs, None),
        };
        let metric = match name {
            "error_rate" => Metric::ErrorRate { op },
            "throughput" => Metric::Throughput { op },
            "lost" | "unexpected" | "duplicated" | "unavailable" if op.is_none() => Metric::Fault {
                figure: match name {
                    "lost" => FaultFigure::Lost,
                    "unexpected" => FaultFigure::Unexpected,
                    "duplicated" => FaultFigure::Duplicated,
                    _ => FaultFigure::Unavailable,
                },
            },
            "max" => Metric::Latency {
                percentile: 100.0,
                op,
            },
            p if p.starts_with('p') && p.len() > 1 && p[1..].bytes().all(|b| b.is_ascii_digit()) => {
                // p50 → 50, p99 → 99, p999 → 99.9, p9999 → 99.99
                let digits = &p[1..];
                let percentile = if digits.len() <= 2 {
                    digits.parse::<f64>().unwrap_or(0.0)
                } else {
                    format!("{}.{}", &digits[..2], &digits[2..]).parse::<f64>().unwrap_or(0.0)
                };
                if !(percentile > 0.0 && percentile <= 100.0) {
                    return Err(format!("threshold `{src}`: percentile out of range; {HELP}"));
                }
                Metric::Latency { percentile, op }
            }
            other => {
                return Err(format!(
                    "threshold `{src}`: unknown metric `{other}` (known: pNN, max, error_rate, throughput, lost, unexpected, duplicated, unavailable); {HELP}"
                ))
            }
        };
        let limit = match metric {
            Metric::Fault {
                figure: FaultFigure::Unavailable,
            }
            | Metric::Latency { .. } => parse_duration_ns(rhs).ok_or_else(|| {
                format!("threshold `{src}`: `{rhs}` is not a duration like 20ms, 1.5s or 500us")
            })?,
            Metric::ErrorRate { .. } => parse_rate(rhs).ok_or_else(|| {
                format!("threshold `{src}`: `{rhs}` is not a rate like 0.1% or 0.001")
            })?,
            Metric::Throughput { .. } => rhs
                .strip_suffix("/s")
                .unwrap_or(rhs)
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("threshold `{src}`: `{rhs}` is not a rate like 5000/s"))?,
            Metric::Fault { .. } => rhs
                .parse::<u64>()
                .map(|n| n as f64)
                .map_err(|_| format!("threshold `{src}`: `{rhs}` is not a count like 0"))?,
        };
        Ok(Threshold {
            source: s.to_string(),
            metric,
            comparison,
            limit,
        })
    }
}

/// `20ms`, `1.5s`, `500us`, `2m`, `100ns` → nanoseconds.
pub fn parse_duration_ns(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic() || c == 'µ')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.trim().parse().ok()?;
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return None,
    };
    (n >= 0.0).then_some(n * scale)
}

fn parse_rate(s: &str) -> Option<f64> {
    let s = s.trim();
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => s.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_figures_as_counts_and_unavailability_as_a_duration() {
        let t = Threshold::parse("lost == 0").unwrap();
        assert_eq!(
            (t.metric.clone(), t.comparison, t.limit),
            (
                Metric::Fault {
                    figure: FaultFigure::Lost
                },
                Comparison::Eq,
                0.0
            )
        );
        assert_eq!(
            Threshold::parse("duplicated = 0").unwrap().comparison,
            Comparison::Eq
        );
        let t = Threshold::parse("unavailable < 30s").unwrap();
        assert_eq!(t.limit, 30e9);
        assert!(Threshold::parse("lost == none")
            .unwrap_err()
            .contains("count"));
        assert!(Threshold::parse("lost(read) == 0")
            .unwrap_err()
            .contains("unknown metric"));
    }

    #[test]
    fn parses_the_three_metric_families() {
        let t = Threshold::parse("p99(read) < 20ms").unwrap();
        assert_eq!(
            t.metric,
            Metric::Latency {
                percentile: 99.0,
                op: Some(OpKind::Read)
            }
        );
        assert_eq!(t.comparison, Comparison::Lt);
        assert_eq!(t.limit, 20e6);

        let t = Threshold::parse("p999 <= 1.5s").unwrap();
        assert_eq!(
            t.metric,
            Metric::Latency {
                percentile: 99.9,
                op: None
            }
        );
        assert_eq!(t.limit, 1.5e9);

        let t = Threshold::parse("error_rate < 0.1%").unwrap();
        assert_eq!(t.metric, Metric::ErrorRate { op: None });
        assert!((t.limit - 0.001).abs() < 1e-12);

        let t = Threshold::parse("throughput(write) > 5000/s").unwrap();
        assert_eq!(
            t.metric,
            Metric::Throughput {
                op: Some(OpKind::Write)
            }
        );
        assert_eq!(t.limit, 5000.0);
    }

    #[test]
    fn bad_thresholds_say_how_to_fix_them() {
        for bad in [
            "p99(read) 20ms",
            "p99(reed) < 20ms",
            "latency < 2s",
            "p99 < fast",
            "error_rate < 150%",
        ] {
            let err = Threshold::parse(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
