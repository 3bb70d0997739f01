//! The page's tables: the load configuration, request units, the figures of several
//! targets side by side, the fidelity matrix and the comparison against a baseline.

use super::text::{esc, link, ms, verdict_class};
use crate::model::{FidelityMatrix, LoadConfig, ScenarioReport};
use assay_check::judge::compare::Comparison;
use assay_core::record::LoadPhaseRecord;
use std::fmt::Write as _;

/// A JSON value as one line of text: arrays joined by commas, objects as `k=v`.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", plain(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The resolved load as a two-column table, every field the record holds (empty and
/// unset ones left out), under the one-line summary `summary.md` prints too.
pub fn load_config(load: &LoadConfig, phase: Option<&LoadPhaseRecord>) -> String {
    let mut out = format!(
        "<details class=\"load\"><summary>Load: {}</summary>\n<table class=\"kv\">\n",
        esc(&crate::load::load_line(load))
    );
    let fields = serde_json::to_value(load).unwrap_or_default();
    for (k, v) in fields.as_object().into_iter().flatten() {
        let empty = v.is_null() || v.as_array().is_some_and(Vec::is_empty);
        if !empty {
            let _ = writeln!(
                out,
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(k),
                esc(&plain(v))
            );
        }
    }
    if let Some(l) = phase {
        let _ = writeln!(
            out,
            "<tr><th>load phase</th><td>{}: {} of {} rows in {:.2} s = {:.0} rows/s ({} × {} rows per call){}</td></tr>",
            esc(&l.method),
            l.rows_written,
            l.rows_planned,
            l.elapsed_ns as f64 / 1e9,
            l.rows_per_s,
            l.writers,
            l.rows_per_call,
            if l.rows_failed > 0 {
                format!(
                    "; {} rows in {} failed calls (first: {})",
                    l.rows_failed,
                    l.calls_failed,
                    esc(l.first_error.as_deref().unwrap_or("-"))
                )
            } else {
                String::new()
            }
        );
    }
    out.push_str("</table></details>\n");
    out
}

/// Request units / capacity units the backend reported, per op kind; empty when it
/// reported none.
pub fn request_units(s: &ScenarioReport) -> String {
    if s.request_units_by_op.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<h4>Request units</h4>\n<table class=\"ru\"><tr><th>op</th><th>units</th></tr>\n",
    );
    for (op, ru) in &s.request_units_by_op {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{ru:.1}</td></tr>",
            esc(op.as_str())
        );
    }
    let _ = writeln!(
        out,
        "<tr><th>all</th><td class=\"n\">{:.1}</td></tr></table>",
        s.request_units.unwrap_or_default()
    );
    out
}

/// Throughput and p50 / p99 / p999 (every op, every outcome) of each target that ran the
/// scenario, one row per target.
pub fn side_by_side(rows: &[(&str, &ScenarioReport)]) -> String {
    let mut out = String::from("<table class=\"side\"><tr><th>target</th><th>verdict</th><th>measured ops</th><th>errors</th><th>throughput (ops/s)</th><th>p50 (ms)</th><th>p99 (ms)</th><th>p999 (ms)</th></tr>\n");
    for (target, s) in rows {
        let l = s.overall_latency.as_ref();
        let cell =
            |f: fn(&crate::model::LatencyRow) -> f64| l.map_or("-".to_string(), |l| ms(f(l) / 1e3));
        let _ = writeln!(
            out,
            "<tr data-target=\"{}\"><td>{}</td><td><span class=\"v {}\">{}</span></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(target),
            esc(target),
            verdict_class(s.verdict),
            esc(s.verdict.as_str()),
            s.workload.as_ref().map_or(s.ops, |w| w.ops),
            s.workload.as_ref().map_or(s.errors, |w| w.errors),
            s.workload
                .as_ref()
                .map_or(s.throughput_ops_per_s, |w| w.throughput_ops_per_s),
            cell(|l| l.p50_us),
            cell(|l| l.p99_us),
            cell(|l| l.p999_us)
        );
    }
    out.push_str("</table>\n");
    out
}

/// One table per conformance scenario: step × target → verdict, what each target
/// observed as the cell's tooltip and below the table.
pub fn fidelity(matrices: &[FidelityMatrix]) -> String {
    if matrices.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section id=\"fidelity\"><h2>Fidelity</h2>\n<p>Each step's expected result is the documented behaviour it cites.</p>\n");
    for m in matrices {
        let heads: String = m
            .targets
            .iter()
            .map(|t| format!("<th>{}</th>", esc(t)))
            .collect();
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<table class=\"fidelity\"><tr><th>step</th>{heads}<th>documented</th></tr>",
            esc(&m.scenario)
        );
        for r in &m.rows {
            let cells: String = r
                .cells
                .iter()
                .map(|c| {
                    format!(
                        "<td class=\"v {}\" title=\"{}\">{}</td>",
                        verdict_class(c.verdict),
                        esc(&c.observed),
                        esc(c.verdict.as_str())
                    )
                })
                .collect();
            let documented = match (&r.documented, &r.cite) {
                (Some(d), Some(c)) => link(c, d),
                (Some(d), None) => esc(d),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td>{cells}<td>{documented}</td></tr>",
                esc(&r.step)
            );
        }
        out.push_str("</table>\n<ul class=\"evidence\">\n");
        for r in &m.rows {
            for (c, t) in r.cells.iter().zip(&m.targets) {
                let details: Vec<String> = c
                    .evidence
                    .iter()
                    .map(|e| esc(e))
                    .chain(
                        c.measurements
                            .iter()
                            .map(|x| esc(&crate::fidelity::measurement_line(x))),
                    )
                    .collect();
                let _ = writeln!(
                    out,
                    "<li><b>{}</b> on <code>{}</code> — {}: {}{}</li>",
                    esc(&r.step),
                    esc(t),
                    esc(c.verdict.as_str()),
                    esc(&c.observed),
                    if details.is_empty() {
                        String::new()
                    } else {
                        format!("<br>{}", details.join("<br>"))
                    }
                );
            }
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    out
}

/// The comparison against a baseline: every figure with its change and verdict.
pub fn comparison(c: &Comparison) -> String {
    let mut out = format!(
        "<section id=\"comparison\"><h2>Against baseline {}</h2>\n<p>Tolerance {}. A change is a regression only when it is <b>significantly beyond</b> the tolerance. Verdict: <span class=\"v {}\">{}</span>.</p>\n<table class=\"comparison\"><tr>",
        esc(&c.base_run),
        esc(&c.tolerance.describe()),
        if c.regressed { "fail" } else { "pass" },
        if c.regressed { "regressed" } else { "no regression" }
    );
    for h in crate::compare::HEADER {
        let _ = write!(out, "<th>{}</th>", esc(&h.to_lowercase()));
    }
    out.push_str("</tr>\n");
    for row in crate::compare::rows(c) {
        let class = if row[6].starts_with("regressed") {
            "fail"
        } else if row[6].starts_with("improved") {
            "pass"
        } else {
            ""
        };
        let cells: String = row.iter().map(|x| format!("<td>{}</td>", esc(x))).collect();
        let _ = writeln!(out, "<tr class=\"{class}\">{cells}</tr>");
    }
    out.push_str("</table>\n");
    for u in &c.unmatched {
        let _ = writeln!(out, "<p>Not compared: {}</p>", esc(u));
    }
    out.push_str("</section>\n");
    out
}
