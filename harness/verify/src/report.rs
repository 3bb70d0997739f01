//! What `assay verify` shows: the report model (versioned JSON, [`REPORT_SCHEMA`]) built
//! from the compare's outcome and both sides' costs, and its compact text rendering.

use crate::compare::{DiffKind, Difference, LevelStats, Outcome, RecheckStats, Totals};
use crate::resolve::Plans;
use assay_core::verify::SourceStats;
use serde::ser::SerializeMap;
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// The JSON schema's name and version; a change to the shape bumps the number.
pub const REPORT_SCHEMA: &str = "assay.verify/1";

/// One side as the user named it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SideInfo {
    /// The target name (`postgres`, a targets-file entry).
    pub target: String,
    pub family: String,
    /// Where it is, without secrets (`Endpoint::display_safe`).
    pub endpoint: String,
    pub table: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SideReport {
    #[serde(flatten)]
    pub info: SideInfo,
    pub rows: u64,
    #[serde(flatten)]
    pub stats: SourceStats,
    /// `rows_scanned` per second of `busy`.
    pub rows_per_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DifferenceReport {
    /// Key column → value (as [`assay_core::verify::Value::display`] writes it).
    #[serde(serialize_with = "ordered_map")]
    pub key: Vec<(String, String)>,
    pub kind: DiffKind,
    pub columns: Vec<ColumnReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ColumnReport {
    pub column: String,
    pub source: String,
    pub target: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Bisection {
    pub levels: Vec<LevelStats>,
    pub row_passes: u64,
    pub rows_compared: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct DifferenceCounts {
    pub total: u64,
    #[serde(flatten)]
    pub by_kind: Totals,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    /// `equal` or `different`.
    pub verdict: &'static str,
    pub source: SideReport,
    pub target: SideReport,
    pub key: Vec<String>,
    pub columns: Vec<String>,
    pub notes: Vec<String>,
    pub differences: DifferenceCounts,
    /// The first differences by key order.
    pub first: Vec<DifferenceReport>,
    pub bisection: Bisection,
    pub recheck: Option<RecheckStats>,
    pub elapsed_s: f64,
}

fn ordered_map<S: serde::Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn side(info: SideInfo, rows: u64, stats: SourceStats) -> SideReport {
    let secs = stats.busy.as_secs_f64();
    SideReport {
        info,
        rows,
        rows_per_s: if secs > 0.0 {
            (stats.rows_scanned as f64 / secs).round()
        } else {
            0.0
        },
        stats,
    }
}

fn difference(d: &Difference, key: &[String]) -> DifferenceReport {
    DifferenceReport {
        key: key
            .iter()
            .cloned()
            .zip(d.key.iter().map(|v| v.display()))
            .collect(),
        kind: d.kind,
        columns: d
            .columns
            .iter()
            .map(|c| ColumnReport {
                column: c.column.clone(),
                source: c.source.display(),
                target: c.target.display(),
            })
            .collect(),
    }
}

/// The report of a finished compare.
pub fn build(
    sides: (SideInfo, SideInfo),
    stats: (SourceStats, SourceStats),
    plans: &Plans,
    outcome: &Outcome,
    elapsed: Duration,
) -> Report {
    Report {
        schema: REPORT_SCHEMA,
        verdict: if outcome.equal() {
            "equal"
        } else {
            "different"
        },
        source: side(sides.0, outcome.source_rows, stats.0),
        target: side(sides.1, outcome.target_rows, stats.1),
        key: plans.key.clone(),
        columns: plans.columns.clone(),
        notes: plans.notes.clone(),
        differences: DifferenceCounts {
            total: outcome.totals.total(),
            by_kind: outcome.totals,
        },
        first: outcome
            .first
            .iter()
            .map(|d| difference(d, &plans.key))
            .collect(),
        bisection: Bisection {
            levels: outcome.levels.clone(),
            row_passes: outcome.row_passes,
            rows_compared: outcome.rows_compared,
        },
        recheck: outcome.recheck,
        elapsed_s: round3(elapsed.as_secs_f64()),
    }
}

/// Longest value shown in the text rendering.
const SHOWN_VALUE: usize = 60;

fn clip(s: &str) -> String {
    match s.char_indices().nth(SHOWN_VALUE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn side_line(label: &str, s: &SideReport) -> String {
    let mut line = format!(
        "{label:<10} {} ({}) · {} rows · {} scanned in {:.2} s ({:.0} rows/s) · {} request(s)",
        s.info.target,
        s.info.table,
        s.rows,
        s.stats.rows_scanned,
        s.stats.busy.as_secs_f64(),
        s.rows_per_s,
        s.stats.requests,
    );
    match s.stats.consumed_capacity {
        Some(c) => {
            let _ = write!(line, " · {c:.1} capacity units consumed");
        }
        None if s.info.family == "dynamodb" => line.push_str(" · consumed capacity not reported"),
        None => {}
    }
    line
}

/// The terminal rendering: aligned lines, the verdict last; colour only when asked.
pub fn render_text(r: &Report, color: bool) -> String {
    let mut out = String::new();
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let _ = writeln!(
        out,
        "{:<10} {} → {} · key ({}) · {} column(s): {}",
        "verify",
        r.source.info.target,
        r.target.info.target,
        r.key.join(", "),
        r.columns.len(),
        if r.columns.is_empty() {
            "(key only)".to_string()
        } else {
            r.columns.join(", ")
        }
    );
    for note in &r.notes {
        let _ = writeln!(out, "{:<10} {note}", "note");
    }
    let _ = writeln!(
        out,
        "{:<10} source {} · target {}{}",
        "rows",
        r.source.rows,
        r.target.rows,
        if r.source.rows == r.target.rows {
            ""
        } else {
            " (counts differ)"
        }
    );
    let levels: Vec<String> = r
        .bisection
        .levels
        .iter()
        .map(|l| {
            format!(
                "level {}: {} compared, {} differ",
                l.level, l.ranges_compared, l.ranges_differing
            )
        })
        .collect();
    let _ = writeln!(out, "{:<10} {}", "ranges", levels.join(" · "));
    if r.bisection.row_passes > 0 {
        let _ = writeln!(
            out,
            "{:<10} {} row(s) diffed in {} pass(es)",
            "diffed", r.bisection.rows_compared, r.bisection.row_passes
        );
    }
    if let Some(rc) = &r.recheck {
        let _ = writeln!(
            out,
            "{:<10} after {:.1} s: {} rechecked, {} caught up{}",
            "recheck",
            rc.after.as_secs_f64(),
            rc.rechecked,
            rc.cleared,
            if rc.not_rechecked > 0 {
                format!(
                    ", {} not rechecked (beyond the kept ones)",
                    rc.not_rechecked
                )
            } else {
                String::new()
            }
        );
    }
    let d = &r.differences;
    if d.total > 0 {
        let _ = writeln!(
            out,
            "{:<10} {} row(s): {} missing in target · {} missing in source · {} changed",
            "differ",
            d.total,
            d.by_kind.missing_in_target,
            d.by_kind.missing_in_source,
            d.by_kind.changed
        );
        let keys: Vec<String> = r
            .first
            .iter()
            .map(|f| {
                f.key
                    .iter()
                    .map(|(k, v)| format!("{k}={}", clip(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
        for (f, key) in r.first.iter().zip(&keys) {
            let what = match f.kind {
                DiffKind::Changed => {
                    let cols: Vec<String> = f
                        .columns
                        .iter()
                        .map(|c| {
                            format!("{} ({} → {})", c.column, clip(&c.source), clip(&c.target))
                        })
                        .collect();
                    format!("changed: {}", cols.join(", "))
                }
                k => k.text().to_string(),
            };
            let _ = writeln!(out, "{:<10}   {key:<width$}  {what}", "");
        }
        if d.total > r.first.len() as u64 {
            let _ = writeln!(
                out,
                "{:<10}   … and {} more",
                "",
                d.total - r.first.len() as u64
            );
        }
    }
    let _ = writeln!(out, "{}", side_line("source", &r.source));
    let _ = writeln!(out, "{}", side_line("target", &r.target));
    let _ = writeln!(out, "{:<10} {:.2} s", "elapsed", r.elapsed_s);
    let verdict = if d.total == 0 {
        paint("32", "EQUAL")
    } else {
        paint("31", "DIFFERENT")
    };
    let _ = writeln!(
        out,
        "{verdict}: {}",
        if d.total == 0 {
            format!(
                "{} row(s) on each side, every compared column equal",
                r.source.rows
            )
        } else {
            format!("{} row(s) differ", d.total)
        }
    );
    out
}
