//! The compact aligned table printed at the end of a run: one row per target × scenario.

use crate::model::{RunReport, Verdict};
use assay_check::thresholds::format_ns;

fn paint(text: &str, verdict: Verdict, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match verdict {
        Verdict::Pass => "32",
        Verdict::Fail | Verdict::Deviates | Verdict::Error => "31",
        Verdict::Unsupported | Verdict::Unverified => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Renders the table; `color` only when stdout is a terminal. Runs with fault figures
/// get two more columns: the longest unavailability window and the lost acknowledged
/// writes.
pub fn render_table(report: &RunReport, color: bool) -> String {
    let faults = report
        .targets
        .iter()
        .flat_map(|t| &t.scenarios)
        .any(|s| s.availability.is_some() || s.set_account.is_some());
    let mut header: Vec<&str> = vec!["TARGET", "SCENARIO", "OPS", "ERRORS", "P50", "P99"];
    if faults {
        header.extend(["UNAVAILABLE", "LOST"]);
    }
    header.push("VERDICT");
    let numeric = 2..header.len() - 1;
    let mut rows: Vec<(Vec<String>, Verdict, Option<String>)> = Vec::new();
    for t in &report.targets {
        if t.scenarios.is_empty() {
            let mut cells = vec![t.name.clone()];
            cells.resize(header.len() - 1, "-".into());
            cells.push(t.verdict.as_str().into());
            rows.push((cells, t.verdict, t.error.clone()));
        }
        for s in &t.scenarios {
            let (p50, p99) = match &s.overall_latency {
                Some(l) => (format_ns(l.p50_us * 1e3), format_ns(l.p99_us * 1e3)),
                None => ("-".into(), "-".into()),
            };
            let mut cells = vec![
                t.name.clone(),
                s.name.clone(),
                s.ops.to_string(),
                s.errors.to_string(),
                p50,
                p99,
            ];
            if faults {
                cells.push(
                    s.availability
                        .as_ref()
                        .map_or("-".into(), |a| format!("{:.0}ms", a.longest_ms)),
                );
                cells.push(
                    s.set_account
                        .as_ref()
                        .map_or("-".into(), |a| a.lost.len().to_string()),
                );
            }
            cells.push(s.verdict.as_str().into());
            rows.push((
                cells,
                s.verdict,
                s.reason.clone().or_else(|| t.error.clone()),
            ));
        }
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for (cells, _, _) in &rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let last = header.len() - 1;
    // Text columns left-aligned, numbers right-aligned.
    let line = |cells: &[String]| -> String {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i > 0 {
                out.push_str("  ");
            }
            if numeric.contains(&i) {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            } else if i == last {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            }
        }
        out
    };
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = line(&header);
    out.push('\n');
    for (cells, verdict, reason) in &rows {
        let mut l = line(cells);
        let verdict_text = cells[last].clone();
        if color {
            l.truncate(l.len() - verdict_text.len());
            l.push_str(&paint(&verdict_text, *verdict, true));
        }
        if let Some(r) = reason {
            if *verdict != Verdict::Pass {
                l.push_str("  ");
                l.push_str(r);
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}
