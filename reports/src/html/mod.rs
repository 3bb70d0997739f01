//! `index.html`: one self-contained page per run — inline CSS and inline SVG, no script,
//! nothing fetched — as a pure function of the record, the verdicts and, for a run made
//! with a baseline, the comparison. Per scenario: the targets side by side when several
//! ran it (a table of throughput and p50 / p99 / p999 and plots with one series per
//! target), then per target the load, the latency percentile spectrum per op, throughput,
//! latency and errors per second with the fault schedule shaded, and every verdict with
//! its evidence. Then the fidelity matrix and the run's timeline. Every string from the
//! record is escaped.

mod evidence;
mod series;
mod svg;
mod tables;
mod text;

use crate::model::{RunReport, ScenarioReport, TargetReport};
use assay_check::judge::compare::Comparison;
use assay_check::judge::Verdicts;
use assay_core::record::{RunRecord, ScenarioRecord};
use assay_core::Outcome;
use std::fmt::Write as _;
use svg::{Plot, Series, XAxis};
use text::{esc, verdict_class};

/// The page's file name in a run directory.
pub const INDEX_FILE: &str = "index.html";

/// The whole page. The same arguments give the same bytes.
pub fn render(record: &RunRecord, verdicts: &Verdicts, comparison: Option<&Comparison>) -> String {
    let report = RunReport::of(record, verdicts);
    let groups = scenario_groups(record, &report);
    let mut page = head(&report);
    page.push_str(&header(&report, &groups));
    if let Some(c) = comparison {
        page.push_str(&tables::comparison(c));
    }
    for (i, (name, runs)) in groups.iter().enumerate() {
        page.push_str(&scenario_section(i, name, runs));
    }
    page.push_str(&tables::fidelity(&report.fidelity));
    page.push_str(&timeline(record));
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

/// One target's run of a scenario: its record (histograms) and report (figures,
/// verdicts).
struct Ran<'a> {
    target: &'a str,
    record: &'a ScenarioRecord,
    report: &'a ScenarioReport,
}

/// Scenarios in the order they first appear, each with every target that ran it.
fn scenario_groups<'a>(
    record: &'a RunRecord,
    report: &'a RunReport,
) -> Vec<(&'a str, Vec<Ran<'a>>)> {
    let mut groups: Vec<(&str, Vec<Ran>)> = Vec::new();
    for (t, tr) in record.targets.iter().zip(&report.targets) {
        for (s, sr) in t.scenarios.iter().zip(&tr.scenarios) {
            let ran = Ran {
                target: &t.name,
                record: s,
                report: sr,
            };
            match groups.iter_mut().find(|(n, _)| *n == s.name) {
                Some((_, runs)) => runs.push(ran),
                None => groups.push((&s.name, vec![ran])),
            }
        }
    }
    groups
}

const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1500px;margin:0 auto;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5d9de;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}h4{font-size:13px;margin:12px 0 4px;text-transform:uppercase;letter-spacing:.04em;color:#4a545e}
table{border-collapse:collapse;margin:4px 0 10px;background:#fff}th,td{border:1px solid #d5d9de;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.v{font-weight:600}.pass{color:#1e7b3a}.fail,.error,.deviates{color:#b3261e}.unsupported,.unverified{color:#9a6700}
tr.fail td{background:#fdecea}tr.pass td{background:#eaf6ed}
.targets{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:16px}
.target{background:#fff;border:1px solid #d5d9de;border-radius:6px;padding:8px 12px;min-width:0}
.side-by-side{background:#fff;border:1px solid #d5d9de;border-radius:6px;padding:8px 12px;margin-bottom:16px}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:8px}
svg.plot{width:100%;max-width:760px;height:auto;background:#fff;display:block}
svg .axis{stroke:#59636e;fill:none}svg .grid{stroke:#e3e6ea;fill:none}
svg .tick,svg .legend{font-size:10px;fill:#4a545e}svg .label{font-size:11px;fill:#1d232a}svg .title{font-size:12px;font-weight:600;fill:#1d232a}
svg .band{fill:#f0ad4e;fill-opacity:.28;stroke:#e08a1e;stroke-opacity:.6}
.no-data{color:#6c757d;font-style:italic;border:1px dashed #c3c9cf;padding:12px;background:#fff}
pre{background:#f3f4f6;padding:8px;overflow:auto;font-size:12px}code{font-size:12px}
ul.evidence{font-size:12px;margin:4px 0 8px}dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
dl.meta dt{color:#4a545e}dl.meta dd{margin:0}
";

fn head(report: &RunReport) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n<title>Assay run {} — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&report.run_id),
        esc(report.verdict.as_str())
    )
}

fn header(report: &RunReport, groups: &[(&str, Vec<Ran>)]) -> String {
    let mut out = format!(
        "<h1>Assay run {} — <span class=\"v {}\">{}</span></h1>\n<dl class=\"meta\"><dt>started</dt><dd>{}</dd><dt>finished</dt><dd>{}</dd><dt>assay</dt><dd>{}</dd><dt>seed</dt><dd>{}</dd><dt>machine</dt><dd>{} {}, {} CPUs</dd>",
        esc(&report.run_id),
        verdict_class(report.verdict),
        esc(report.verdict.as_str()),
        esc(&report.started_at),
        esc(&report.finished_at),
        esc(&report.assay_version),
        report.seed,
        esc(&report.machine.os),
        esc(&report.machine.arch),
        report.machine.cpus
    );
    if let Some(a) = &report.aborted {
        let _ = write!(out, "<dt>stopped early</dt><dd>{}</dd>", esc(a));
    }
    out.push_str("</dl>\n");
    out.push_str(&targets_table(&report.targets));
    let links: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, (name, runs))| {
            let verdicts: Vec<String> = runs
                .iter()
                .map(|r| {
                    format!(
                        "<span class=\"v {}\">{}</span> on {}",
                        verdict_class(r.report.verdict),
                        esc(r.report.verdict.as_str()),
                        esc(r.target)
                    )
                })
                .collect();
            format!(
                "<li><a href=\"#s{i}\">{}</a>: {}</li>",
                esc(name),
                verdicts.join(", ")
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "<h2>Scenarios</h2>\n<ul class=\"toc\">{}</ul>",
        links.join("\n")
    );
    out
}

fn targets_table(targets: &[TargetReport]) -> String {
    let mut out = String::from("<h2>Targets</h2>\n<table class=\"targets-table\"><tr><th>target</th><th>family</th><th>endpoint</th><th>backend version</th><th>verdict</th></tr>\n");
    for t in targets {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"v {}\">{}</span>{}</td></tr>",
            esc(&t.name),
            esc(&t.family),
            esc(t.endpoint.as_deref().unwrap_or("-")),
            esc(t.backend_version.as_deref().unwrap_or("unknown")),
            verdict_class(t.verdict),
            esc(t.verdict.as_str()),
            t.error
                .as_deref()
                .map_or(String::new(), |e| format!(": {}", esc(e)))
        );
    }
    out.push_str("</table>\n");
    out
}

fn plot_id(kind: &str, target: &str, scenario: &str) -> String {
    format!("{kind}:{target}:{scenario}")
}

fn spectrum_plot(id: String, title: String, series: Vec<Series>) -> String {
    svg::render(&Plot {
        id,
        title,
        x_label: "percentile".into(),
        y_label: "latency (ms)".into(),
        x_axis: XAxis::Percentile,
        series,
        bands: Vec::new(),
    })
}

fn time_plot(
    id: String,
    title: &str,
    y_label: &str,
    series: Vec<Series>,
    bands: Vec<svg::Band>,
) -> String {
    svg::render(&Plot {
        id,
        title: title.to_string(),
        x_label: "seconds into the measured window".into(),
        y_label: y_label.to_string(),
        x_axis: XAxis::Linear,
        series,
        bands,
    })
}

fn scenario_section(i: usize, name: &str, runs: &[Ran]) -> String {
    let mut out = format!(
        "<section class=\"scenario\" id=\"s{i}\" data-scenario=\"{}\">\n<h2>{}</h2>\n",
        esc(name),
        esc(name)
    );
    let measured: Vec<&Ran> = runs
        .iter()
        .filter(|r| !r.record.latency.is_empty())
        .collect();
    if measured.len() >= 2 {
        out.push_str(&side_by_side(name, &measured));
    }
    let _ = writeln!(
        out,
        "<div class=\"targets\" style=\"--n:{}\">",
        runs.len().clamp(1, 3)
    );
    for r in runs {
        out.push_str(&target_column(name, r));
    }
    out.push_str("</div>\n</section>\n");
    out
}

/// Several targets on the same axes: one series per target.
fn side_by_side(name: &str, runs: &[&Ran]) -> String {
    let rows: Vec<(&str, &ScenarioReport)> = runs.iter().map(|r| (r.target, r.report)).collect();
    let mut out = format!(
        "<section class=\"side-by-side\" data-scenario=\"{}\" data-targets=\"{}\">\n<h3>Side by side: {}</h3>\n{}<div class=\"plots\">\n",
        esc(name),
        runs.len(),
        rows.iter().map(|(t, _)| esc(t)).collect::<Vec<_>>().join(" · "),
        tables::side_by_side(&rows)
    );
    let spectra = runs
        .iter()
        .map(|r| Series {
            name: r.target.to_string(),
            points: series::spectrum(&r.record.latency.combined(None, &Outcome::ALL)),
        })
        .collect();
    out.push_str(&spectrum_plot(
        plot_id("side-spectrum", "*", name),
        "Latency by percentile, every op".into(),
        spectra,
    ));
    let with_series: Vec<&&Ran> = runs
        .iter()
        .filter(|r| r.report.workload.is_some())
        .collect();
    if !with_series.is_empty() {
        let per_target = |value: fn(&crate::model::IntervalRow) -> f64| -> Vec<Series> {
            with_series
                .iter()
                .map(|r| {
                    let rows = r.report.workload.as_ref().map_or(&[][..], |w| &w.intervals);
                    series::over_time(r.target, rows, value)
                })
                .collect()
        };
        out.push_str(&time_plot(
            plot_id("side-throughput", "*", name),
            "Throughput per second",
            "ops/s",
            per_target(|r| r.ops_per_s),
            Vec::new(),
        ));
        out.push_str(&time_plot(
            plot_id("side-p99", "*", name),
            "p99 latency per second",
            "ms",
            per_target(|r| r.p99_us / 1e3),
            Vec::new(),
        ));
    }
    out.push_str("</div>\n</section>\n");
    out
}

fn target_column(name: &str, r: &Ran) -> String {
    let s = r.report;
    let mut out = format!(
        "<div class=\"target\" data-target=\"{}\">\n<h3>{} — <span class=\"v {}\">{}</span></h3>\n",
        esc(r.target),
        esc(r.target),
        verdict_class(s.verdict),
        esc(s.verdict.as_str())
    );
    if let Some(reason) = &s.reason {
        let _ = writeln!(out, "<p>{}</p>", esc(reason));
    }
    for u in &s.unsupported {
        let _ = writeln!(
            out,
            "<p class=\"unsupported\">unsupported <code>{}</code>: {}</p>",
            esc(&u.capability.to_string()),
            esc(&u.reason)
        );
    }
    for n in &s.notes {
        let _ = writeln!(out, "<p class=\"note\">note: {}</p>", esc(n));
    }
    out.push_str(&tables::load_config(&s.load, s.load_phase.as_ref()));
    // The measured window's figures, with every op the scenario ran (load phase
    // included) beside them when that differs.
    let (ops, errors, rate) = s
        .workload
        .as_ref()
        .map_or((s.ops, s.errors, s.throughput_ops_per_s), |w| {
            (w.ops, w.errors, w.throughput_ops_per_s)
        });
    let all = if ops == s.ops {
        String::new()
    } else {
        format!(" ({} with the load phase)", s.ops)
    };
    let _ = writeln!(
        out,
        "<p>{ops} measured ops{all}, {errors} errors, {rate:.1} ops/s, {} retries{}</p>",
        s.retries,
        if s.error_classes.is_empty() {
            String::new()
        } else {
            let classes: Vec<String> = s
                .error_classes
                .iter()
                .map(|(k, v)| format!("{} {v}", esc(k)))
                .collect();
            format!("; errors by class: {}", classes.join(", "))
        }
    );
    if !r.record.latency.is_empty() {
        let per_op = r
            .record
            .latency
            .iter()
            .map(|(k, o, h)| Series {
                name: format!("{k} {o}"),
                points: series::spectrum(h),
            })
            .collect();
        out.push_str(&spectrum_plot(
            plot_id("spectrum", r.target, name),
            format!("Latency by percentile on {}", r.target),
            per_op,
        ));
    }
    if let Some(w) = &s.workload {
        out.push_str(&time_plots(name, r, &w.intervals));
    }
    out.push_str(&tables::request_units(s));
    out.push_str(&evidence::render(s));
    out.push_str("</div>\n");
    out
}

/// Throughput, latency and errors per second, the fault schedule shaded on each.
fn time_plots(name: &str, r: &Ran, rows: &[crate::model::IntervalRow]) -> String {
    let end_s = rows.last().map_or(0.0, |l| l.t_s + 1.0);
    let bands = series::fault_bands(&r.record.faults, series::measured_offset_s(r.record), end_s);
    let mut out = time_plot(
        plot_id("throughput", r.target, name),
        "Throughput per second",
        "ops/s",
        vec![series::over_time("ops/s", rows, |r| r.ops_per_s)],
        bands.clone(),
    );
    out.push_str(&time_plot(
        plot_id("latency", r.target, name),
        "Latency per second",
        "ms",
        vec![
            series::over_time("p50", rows, |r| r.p50_us / 1e3),
            series::over_time("p99", rows, |r| r.p99_us / 1e3),
        ],
        bands.clone(),
    ));
    out.push_str(&time_plot(
        plot_id("errors", r.target, name),
        "Errors per second",
        "ops",
        vec![
            series::over_time("errors", rows, |r| r.errors as f64),
            series::over_time("indeterminate", rows, |r| r.indeterminate as f64),
        ],
        bands,
    ));
    out
}

/// The run's timeline: backend, phase and fault events, milliseconds from the start.
fn timeline(record: &RunRecord) -> String {
    if record.timeline.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section id=\"timeline\"><h2>Timeline</h2>\n<details><summary>");
    let _ = write!(out, "{} events</summary>\n<table class=\"timeline\"><tr><th>ms</th><th>event</th><th>target</th><th>scenario</th><th>phase</th><th>detail</th></tr>\n", record.timeline.len());
    for e in &record.timeline {
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let phase = e
            .phase
            .and_then(|p| serde_json::to_value(p).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.unix_ms as i64 - record.started_unix_ms as i64,
            esc(&kind),
            esc(e.target.as_deref().unwrap_or("")),
            esc(e.scenario.as_deref().unwrap_or("")),
            esc(&phase),
            esc(&e.detail)
        );
    }
    out.push_str("</table></details></section>\n");
    out
}

#[cfg(test)]
mod tests;
