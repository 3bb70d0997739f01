//! A comparison against a baseline (`assay_check::judge::compare`), as the aligned
//! terminal table and as Markdown for CI job summaries.

use assay_check::judge::compare::{Change, Comparison, Figure, FigureChange};
use assay_check::thresholds::format_ns;
use std::fmt::Write as _;

fn value(f: &FigureChange, v: f64) -> String {
    match f.figure {
        Figure::Throughput => format!("{v:.1}/s"),
        _ => format_ns(v),
    }
}

pub(crate) fn rows(c: &Comparison) -> Vec<[String; 7]> {
    c.rows
        .iter()
        .flat_map(|r| {
            r.figures.iter().map(move |f| {
                [
                    r.target.clone(),
                    r.scenario.clone(),
                    r.op.clone(),
                    f.figure.as_str().to_string(),
                    format!("{} → {}", value(f, f.base), value(f, f.new)),
                    format!("{:+.1}%", f.relative * 100.0),
                    verdict(f),
                ]
            })
        })
        .collect()
}

/// The verdict with why it is not a plain one: the machines' difference, a change
/// past the tolerance by too little to be sure, or no significance at all.
fn verdict(f: &FigureChange) -> String {
    let word = f.change.as_str();
    match &f.unlike {
        Some(why) => format!("{word} ({why})"),
        None if f.change == Change::Inconclusive => {
            format!("{word} (not significantly beyond the tolerance)")
        }
        None if !f.significant => format!("{word} (not significant)"),
        None => word.to_string(),
    }
}

pub(crate) const HEADER: [&str; 7] = [
    "TARGET",
    "SCENARIO",
    "OP",
    "FIGURE",
    "BASE → NEW",
    "CHANGE",
    "VERDICT",
];

pub fn render_comparison_table(c: &Comparison) -> String {
    let rows = rows(c);
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 7]| -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            if i == 5 {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else if i == 6 {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(HEADER);
    for r in &rows {
        out.push_str(&line(r.each_ref().map(String::as_str)));
    }
    for u in &c.unmatched {
        let _ = writeln!(out, "not compared: {u}");
    }
    let _ = writeln!(
        out,
        "{} against baseline {} (tolerance {}): {}",
        c.new_run,
        c.base_run,
        c.tolerance.describe(),
        if c.regressed {
            "REGRESSED"
        } else {
            "no regression"
        }
    );
    out
}

pub fn render_comparison_markdown(c: &Comparison) -> String {
    let mut md = format!(
        "## Assay: {} against baseline {}\n\nTolerance {}. A change is a regression only when it is significantly beyond the tolerance.\n\n| {} |\n|{}\n",
        c.new_run,
        c.base_run,
        c.tolerance.describe(),
        HEADER.join(" | ").to_lowercase(),
        "---|".repeat(HEADER.len())
    );
    for r in rows(c) {
        let _ = writeln!(md, "| {} |", r.join(" | "));
    }
    for u in &c.unmatched {
        let _ = writeln!(md, "\n- not compared: {u}");
    }
    let _ = writeln!(
        md,
        "\n**{}**",
        if c.regressed {
            "Regressed."
        } else {
            "No regression."
        }
    );
    md
}
