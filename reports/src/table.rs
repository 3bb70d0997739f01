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

/// Renders the table; `color` only when stdout is a terminal.
pub fn render_table(report: &RunReport, color: bool) -> String {
    let header = [
        "TARGET", "SCENARIO", "OPS", "ERRORS", "P50", "P99", "VERDICT",
    ];
    let mut rows: Vec<([String; 7], Verdict, Option<String>)> = Vec::new();
    for t in &report.targets {
        if t.scenarios.is_empty() {
            rows.push((
                [
                    t.name.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    t.verdict.as_str().into(),
                ],
                t.verdict,
                t.error.clone(),
            ));
        }
        for s in &t.scenarios {
            let (p50, p99) = match &s.overall_latency {
                Some(l) => (format_ns(l.p50_us * 1e3), format_ns(l.p99_us * 1e3)),
                None => ("-".into(), "-".into()),
            };
            rows.push((
                [
                    t.name.clone(),
                    s.name.clone(),
                    s.ops.to_string(),
                    s.errors.to_string(),
                    p50,
                    p99,
                    s.verdict.as_str().into(),
                ],
                s.verdict,
                s.reason.clone().or_else(|| t.error.clone()),
            ));
        }
    }
    let mut widths = header.map(|h| h.len());
    for (cells, _, _) in &rows {
        for (w, c) in widths.iter_mut().zip(cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    // Text columns left-aligned, numbers right-aligned.
    let line = |cells: &[String; 7]| -> String {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            if i > 0 {
                out.push_str("  ");
            }
            if (2..=5).contains(&i) {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            } else if i == 6 {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(pad));
            }
        }
        out
    };
    let mut out = line(&header.map(String::from));
    out.push('\n');
    for (cells, verdict, reason) in &rows {
        let mut l = line(cells);
        let verdict_text = cells[6].clone();
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
