//! The judge's verdicts of one target × scenario with their evidence: expectations with
//! their mismatches, thresholds, consistency models (cycles, stale reads), the set account
//! of writes (lost, unexpected, duplicated, stale), unavailability windows, native steps
//! and the fault schedule as it was carried out.

use super::text::{esc, link, verdict_class};
use crate::model::ScenarioReport;
use assay_check::thresholds::format_ns;
use std::fmt::Write as _;

/// Most list items (lost writes, windows, …) shown of one kind; the count says the rest.
const MAX_ITEMS: usize = 20;

fn pass_fail(passed: bool) -> &'static str {
    if passed {
        "<span class=\"v pass\">pass</span>"
    } else {
        "<span class=\"v fail\">FAIL</span>"
    }
}

/// Every verdict of the scenario with its evidence; empty when it has none to show.
pub fn render(s: &ScenarioReport) -> String {
    [
        steps(s),
        thresholds(s),
        consistency(s),
        set_account(s),
        availability(s),
        native_steps(s),
        faults(s),
    ]
    .concat()
}

fn steps(s: &ScenarioReport) -> String {
    if s.steps.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h4>Steps</h4>\n<table class=\"steps\"><tr><th>step</th><th>op</th><th>ops</th><th>mismatches</th><th>result</th></tr>\n");
    for st in &s.steps {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}/{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&st.step),
            esc(st.op.as_str()),
            st.completed,
            st.planned,
            st.mismatches,
            pass_fail(st.passed)
        );
    }
    out.push_str("</table>\n");
    let examples: Vec<String> = s
        .steps
        .iter()
        .filter(|st| !st.passed)
        .flat_map(|st| {
            st.examples.iter().map(move |m| {
                format!(
                    "<li><code>{}</code> op {} key <code>{}</code>: expected {}, observed {}</li>",
                    esc(&st.step),
                    m.op_id,
                    esc(&m.key),
                    esc(&m.expected),
                    esc(&m.observed)
                )
            })
        })
        .collect();
    if !examples.is_empty() {
        let _ = writeln!(out, "<ul class=\"evidence\">{}</ul>", examples.join("\n"));
    }
    out
}

fn thresholds(s: &ScenarioReport) -> String {
    if s.thresholds.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h4>Thresholds</h4>\n<table class=\"thresholds\"><tr><th>threshold</th><th>observed</th><th>result</th></tr>\n");
    for t in &s.thresholds {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&t.threshold),
            esc(&t.observed_display),
            pass_fail(t.passed)
        );
    }
    out.push_str("</table>\n");
    out
}

/// Each model's verdict as the checkers print it: what was checked, every anomaly with
/// its ops and, for a cycle, its edges; staleness.
fn consistency(s: &ScenarioReport) -> String {
    if s.consistency.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h4>Consistency</h4>\n");
    for c in &s.consistency {
        let state = if c.valid {
            "<span class=\"v pass\">valid</span>"
        } else if c.forbidden_count() == 0 {
            "<span class=\"v unverified\">inconclusive</span>"
        } else {
            "<span class=\"v fail\">INVALID</span>"
        };
        let _ = writeln!(
            out,
            "<details class=\"consistency\"{}><summary>{} — {state} ({} anomal{} found)</summary><pre>{}</pre></details>",
            if c.valid { "" } else { " open" },
            esc(&c.model.to_string()),
            c.counts.values().sum::<u64>(),
            if c.counts.values().sum::<u64>() == 1 { "y" } else { "ies" },
            esc(&c.to_string())
        );
    }
    out
}

fn pairs(title: &str, items: &[(String, i64)]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = items
        .iter()
        .take(MAX_ITEMS)
        .map(|(k, e)| format!("<code>{}</code> element {e}", esc(k)))
        .collect();
    format!(
        "<li>{title} ({}): {}{}</li>\n",
        items.len(),
        shown.join(", "),
        if items.len() > MAX_ITEMS { ", …" } else { "" }
    )
}

fn set_account(s: &ScenarioReport) -> String {
    let Some(a) = &s.set_account else {
        return String::new();
    };
    let mut out = format!(
        "<h4>Writes against the final read</h4>\n<p>{} key(s) read, {} not: {}.</p>\n",
        a.keys_read,
        a.keys_unread,
        a.tally()
    );
    let lists = [
        pairs("lost", &a.lost),
        pairs("unexpected", &a.unexpected),
        pairs("duplicated", &a.duplicated),
        pairs("stale", &a.stale),
    ]
    .concat();
    if !lists.is_empty() {
        let _ = writeln!(out, "<ul class=\"evidence\">\n{lists}</ul>");
    }
    out
}

fn availability(s: &ScenarioReport) -> String {
    let mut out = String::new();
    if let Some(a) = &s.availability {
        let _ = writeln!(
            out,
            "<h4>Availability</h4>\n<p>{} unavailability window(s), longest {:.1} ms; inside them {} op(s) failed and {} were left indeterminate.</p>",
            a.windows.len(),
            a.longest_ms,
            a.failed,
            a.indeterminate
        );
        if !a.windows.is_empty() {
            out.push_str("<table class=\"windows\"><tr><th>client</th><th>from</th><th>to</th><th>recovered</th><th>failed</th><th>indeterminate</th></tr>\n");
            for w in a.windows.iter().take(MAX_ITEMS) {
                let _ = writeln!(
                    out,
                    "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    w.client,
                    esc(&format_ns(w.start_ns as f64)),
                    esc(&format_ns(w.end_ns as f64)),
                    if w.recovered { "yes" } else { "no" },
                    w.failed,
                    w.indeterminate
                );
            }
            out.push_str("</table>\n");
        }
    }
    for r in &s.recoveries {
        let _ = writeln!(
            out,
            "<p>After <code>{}</code> at {:.0} ms: {}.</p>",
            esc(&r.action),
            r.at_ms,
            r.recovered_after_ms.map_or(
                "not recovered by the end of the run".to_string(),
                |ms| format!("every client got through again after {ms:.0} ms")
            )
        );
    }
    out
}

fn native_steps(s: &ScenarioReport) -> String {
    if s.native_steps.is_empty() {
        return String::new();
    }
    let mut out = String::from("<h4>Native steps</h4>\n<table class=\"native\"><tr><th>step</th><th>check</th><th>result</th><th>observed</th><th>documented</th></tr>\n");
    for n in &s.native_steps {
        let mut details: Vec<String> = n.evidence.iter().map(|e| esc(e)).collect();
        details.extend(
            n.measurements
                .iter()
                .map(|m| esc(&crate::fidelity::measurement_line(m))),
        );
        details.extend(n.counters.iter().map(|(k, v)| format!("{}: {v}", esc(k))));
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td><span class=\"v {}\">{}</span></td><td>{}{}</td><td>{}</td></tr>",
            esc(&n.step),
            esc(&n.native),
            verdict_class(n.verdict),
            esc(n.verdict.as_str()),
            esc(&n.observed),
            if details.is_empty() {
                String::new()
            } else {
                format!("<ul class=\"evidence\"><li>{}</li></ul>", details.join("</li><li>"))
            },
            link(&n.cite, &n.documented)
        );
    }
    out.push_str("</table>\n");
    out
}

fn faults(s: &ScenarioReport) -> String {
    if s.faults.is_empty() {
        return String::new();
    }
    let items: Vec<String> = s
        .faults
        .iter()
        .map(|f| {
            format!(
                "<li>at {:.1} s: {} ({}) — {}{}</li>",
                f.at_ns as f64 / 1e9,
                esc(f.action.as_str()),
                esc(&f.fault),
                if f.ok { "" } else { "NOT DONE: " },
                esc(&f.detail)
            )
        })
        .collect();
    format!(
        "<h4>Fault schedule</h4>\n<ul class=\"faults\">\n{}\n</ul>\n",
        items.join("\n")
    )
}
