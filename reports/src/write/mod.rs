//! Writing a run's files into its directory.

use crate::junit;
use crate::load::load_line;
use crate::model::{RunReport, Verdict};
use assay_check::judge::compare::Comparison;
use assay_check::judge::{Histories, Verdicts};
use assay_check::thresholds::format_ns;
use assay_core::record::{RunRecord, ScenarioRecord};
use assay_core::{HistoryEvent, HistoryLine};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Paths of what `render_run` wrote.
#[derive(Debug, Clone)]
pub struct RunArtifacts {
    pub dir: PathBuf,
    pub report_json: PathBuf,
    pub summary_md: PathBuf,
    pub junit_xml: PathBuf,
    pub hlogs: Vec<PathBuf>,
    /// Written when the run had conformance scenarios.
    pub fidelity_md: Option<PathBuf>,
    /// The self-contained HTML page.
    pub index_html: PathBuf,
}

/// Renders every file of a run from its record and verdicts: report.json, summary.md,
/// junit.xml, index.html, fidelity.md (conformance runs) and one `.hlog` per target ×
/// scenario. The same record and verdicts give the same bytes (`assay report` relies on
/// it).
pub fn render_run(dir: &Path, record: &RunRecord, verdicts: &Verdicts) -> io::Result<RunArtifacts> {
    render_run_with(dir, record, verdicts, None)
}

/// `render_run` for a run judged against a baseline: index.html gets the comparison
/// section too.
pub fn render_run_with(
    dir: &Path,
    record: &RunRecord,
    verdicts: &Verdicts,
    comparison: Option<&Comparison>,
) -> io::Result<RunArtifacts> {
    std::fs::create_dir_all(dir)?;
    let report = RunReport::of(record, verdicts);
    let report_json = dir.join("report.json");
    let json = serde_json::to_vec_pretty(&report).map_err(io::Error::other)?;
    std::fs::write(&report_json, json)?;

    let summary_md = dir.join("summary.md");
    std::fs::write(&summary_md, summary(&report))?;

    let fidelity_md = if report.fidelity.is_empty() {
        None
    } else {
        let path = dir.join("fidelity.md");
        std::fs::write(&path, crate::fidelity::render_markdown(&report.fidelity))?;
        Some(path)
    };

    let junit_xml = dir.join("junit.xml");
    std::fs::write(&junit_xml, junit::render(&report))?;

    let index_html = dir.join(crate::html::INDEX_FILE);
    std::fs::write(
        &index_html,
        crate::html::render(record, verdicts, comparison),
    )?;

    let started = UNIX_EPOCH + Duration::from_millis(record.started_unix_ms);
    let mut hlogs = Vec::new();
    for t in &record.targets {
        for s in t.scenarios.iter().filter(|s| !s.latency.is_empty()) {
            let path = dir.join(format!("{}.{}.hlog", t.name, file_safe(&s.name)));
            write_hlog(&path, &t.name, s, started)?;
            hlogs.push(path);
        }
    }
    Ok(RunArtifacts {
        dir: dir.to_path_buf(),
        report_json,
        summary_md,
        junit_xml,
        hlogs,
        fidelity_md,
        index_html,
    })
}

/// Writes `history.jsonl`: every target × scenario's invoke and completion events, each
/// line naming its target and scenario.
pub fn write_history<'a>(
    dir: &Path,
    histories: impl IntoIterator<Item = (&'a str, &'a str, &'a [HistoryEvent])>,
) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(HISTORY_FILE);
    let mut w = BufWriter::new(File::create(&path)?);
    for (target, scenario, events) in histories {
        for event in events {
            let line = HistoryLine {
                target: target.to_string(),
                scenario: scenario.to_string(),
                event: event.clone(),
            };
            serde_json::to_writer(&mut w, &line).map_err(io::Error::other)?;
            w.write_all(b"\n")?;
        }
    }
    w.flush()?;
    Ok(path)
}

/// The history file's name in a run directory.
pub const HISTORY_FILE: &str = "history.jsonl";

/// Reads a run directory's `history.jsonl`, grouped by target and scenario (the form
/// the judge takes). A missing file is an empty history.
pub fn read_history(dir: &Path) -> Result<Histories, String> {
    let path = dir.join(HISTORY_FILE);
    let mut out = Histories::new();
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    for (i, line) in io::BufRead::lines(io::BufReader::new(file)).enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let l: HistoryLine = serde_json::from_str(&line)
            .map_err(|e| format!("{}:{}:{}: {e}", path.display(), i + 1, e.column()))?;
        out.entry((l.target, l.scenario)).or_default().push(l.event);
    }
    Ok(out)
}

fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The HdrHistogram interval log that HistogramLogProcessor and friends read: latency
/// tagged `read.ok` etc. — one interval per second when the workload kept a series, else
/// one for the whole run — and a workload's service time as `service.read.ok` over the
/// whole measured window.
fn write_hlog(
    path: &Path,
    target: &str,
    s: &ScenarioRecord,
    started: SystemTime,
) -> io::Result<()> {
    let mut file = BufWriter::new(File::create(path)?);
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "assay {target} / {}; values in nanoseconds; latency from the intended start",
            s.name
        ))
        .with_start_time(started)
        .with_max_value_divisor(1e6)
        .begin_log_with(&mut file, &mut serializer)?;
    let hlog_err = |e| io::Error::other(format!("{e:?}"));
    let elapsed = Duration::from_nanos(s.workload.as_ref().map_or(s.elapsed_ns, |w| w.measured_ns));
    match s
        .workload
        .as_ref()
        .map(|w| &w.series)
        .filter(|i| !i.is_empty())
    {
        Some(series) => {
            let width = Duration::from_nanos(series.interval_ns());
            for i in 0..series.len() {
                let start = width * i as u32;
                for (kind, outcome, h) in series.interval(i) {
                    let tag_text = format!("{kind}.{outcome}");
                    log.write_histogram(&h, start, width, Tag::new(&tag_text))
                        .map_err(hlog_err)?;
                }
            }
        }
        None => {
            for (kind, outcome, h) in s.latency.iter() {
                let tag_text = format!("{kind}.{outcome}");
                log.write_histogram(h, Duration::ZERO, elapsed, Tag::new(&tag_text))
                    .map_err(hlog_err)?;
            }
        }
    }
    if let Some(w) = &s.workload {
        for (kind, outcome, h) in w.service.iter() {
            let tag_text = format!("service.{kind}.{outcome}");
            log.write_histogram(h, Duration::ZERO, elapsed, Tag::new(&tag_text))
                .map_err(hlog_err)?;
        }
    }
    drop(log);
    file.flush()
}

fn summary(report: &RunReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Assay run {}\n", report.run_id);
    let _ = writeln!(
        md,
        "Verdict: **{}** · started {} · finished {} · assay {} · seed {}\n",
        report.verdict.as_str(),
        report.started_at,
        report.finished_at,
        report.assay_version,
        report.seed
    );
    if let Some(reason) = &report.aborted {
        let _ = writeln!(md, "Stopped early: {reason}\n");
    }
    md.push_str("| target | scenario | ops | errors | p50 | p99 | verdict |\n|---|---|---:|---:|---:|---:|---|\n");
    for t in &report.targets {
        if t.scenarios.is_empty() {
            let _ = writeln!(
                md,
                "| {} | - | - | - | - | - | {} {} |",
                t.name,
                t.verdict.as_str(),
                t.error.as_deref().unwrap_or("")
            );
        }
        for s in &t.scenarios {
            let (p50, p99) = s
                .overall_latency
                .as_ref()
                .map_or(("-".into(), "-".into()), |l| {
                    (format_ns(l.p50_us * 1e3), format_ns(l.p99_us * 1e3))
                });
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {p50} | {p99} | {} |",
                t.name,
                s.name,
                s.ops,
                s.errors,
                s.verdict.as_str()
            );
        }
    }
    for t in &report.targets {
        let _ = writeln!(
            md,
            "\n## {} ({})\n\nEndpoint: {} · backend version: {}\n",
            t.name,
            t.family,
            t.endpoint.as_deref().unwrap_or("-"),
            t.backend_version.as_deref().unwrap_or("unknown")
        );
        if let Some(e) = &t.error {
            let _ = writeln!(md, "Could not run: {e}\n");
        }
        for s in &t.scenarios {
            let _ = writeln!(md, "### {} — {}\n", s.name, s.verdict.as_str());
            let _ = writeln!(md, "Load: {}\n", load_line(&s.load));
            if let Some(r) = &s.reason {
                let _ = writeln!(md, "{r}\n");
            }
            for u in &s.unsupported {
                let _ = writeln!(md, "- unsupported `{}`: {}", u.capability, u.reason);
            }
            for n in &s.notes {
                let _ = writeln!(md, "- note: {n}");
            }
            if !s.steps.is_empty() {
                md.push_str("| step | op | ops | mismatches | result |\n|---|---|---:|---:|---|\n");
                for st in &s.steps {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {}/{} | {} | {} |",
                        st.step,
                        st.op,
                        st.completed,
                        st.planned,
                        st.mismatches,
                        if st.passed { "pass" } else { "FAIL" }
                    );
                }
                md.push('\n');
                for st in s.steps.iter().filter(|st| !st.passed) {
                    for m in &st.examples {
                        let _ = writeln!(
                            md,
                            "- `{}` op {} key `{}`: expected {}, observed {}",
                            st.step, m.op_id, m.key, m.expected, m.observed
                        );
                    }
                }
            }
            if !s.native_steps.is_empty() {
                md.push_str("| step | check | result | observed |\n|---|---|---|---|\n");
                for n in &s.native_steps {
                    let _ = writeln!(
                        md,
                        "| {} | `{}` | {} | {} |",
                        n.step,
                        n.native,
                        n.verdict,
                        n.observed.replace('|', "\\|")
                    );
                }
                md.push('\n');
                for n in &s.native_steps {
                    for m in &n.measurements {
                        let _ = writeln!(
                            md,
                            "- `{}` {}",
                            n.step,
                            crate::fidelity::measurement_line(m)
                        );
                    }
                }
            }
            if !s.request_units_by_op.is_empty() {
                let per_op: Vec<String> = s
                    .request_units_by_op
                    .iter()
                    .map(|(op, ru)| format!("{op} {ru:.1}"))
                    .collect();
                let _ = writeln!(
                    md,
                    "Request units: {:.1} in all ({}).\n",
                    s.request_units.unwrap_or_default(),
                    per_op.join(", ")
                );
            }
            if let Some(l) = &s.load_phase {
                let _ = writeln!(
                    md,
                    "Load phase ({}, {} × {} rows per call): {} of {} rows in {:.2} s = {:.0} rows/s{}{}.\n",
                    l.method,
                    l.writers,
                    l.rows_per_call,
                    l.rows_written,
                    l.rows_planned,
                    l.elapsed_ns as f64 / 1e9,
                    l.rows_per_s,
                    if l.rows_failed > 0 {
                        format!("; {} rows in {} failed calls (first: {})", l.rows_failed, l.calls_failed, l.first_error.as_deref().unwrap_or("-"))
                    } else {
                        String::new()
                    },
                    if l.interrupted { "; interrupted" } else { "" }
                );
            }
            if let Some(w) = &s.workload {
                let _ = write!(
                    md,
                    "Workload ({} loop): {} ops in {:.1} s = {:.1} ops/s",
                    w.mode, w.ops, w.measured_s, w.throughput_ops_per_s
                );
                if let Some(rate) = w.offered_rate_ops_per_s {
                    let _ = write!(
                        md,
                        " (offered {rate:.1}/s; late {}, dropped {})",
                        w.late, w.dropped
                    );
                }
                if let Some(lag) = &w.schedule_lag {
                    let _ = write!(md, "; schedule lag p99 {}", format_ns(lag.p99_us * 1e3));
                }
                let _ = writeln!(md, "; warmup ops {}.\n", w.warmup_ops);
                md.push_str("| op | outcome | count | latency p50 | latency p99 | service p50 | service p99 |\n|---|---|---:|---:|---:|---:|---:|\n");
                for l in &s.latency {
                    let svc = w
                        .service_time
                        .iter()
                        .find(|r| r.op == l.op && r.outcome == l.outcome);
                    let (sp50, sp99) = svc.map_or(("-".into(), "-".into()), |r| {
                        (format_ns(r.p50_us * 1e3), format_ns(r.p99_us * 1e3))
                    });
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} | {sp50} | {sp99} |",
                        l.op,
                        l.outcome,
                        l.count,
                        format_ns(l.p50_us * 1e3),
                        format_ns(l.p99_us * 1e3)
                    );
                }
                md.push('\n');
            }
            for f in &s.faults {
                let _ = writeln!(
                    md,
                    "- fault at {:.1} s: {} ({}) — {}{}",
                    f.at_ns as f64 / 1e9,
                    f.action.as_str(),
                    f.fault,
                    if f.ok { "" } else { "NOT DONE: " },
                    f.detail
                );
            }
            for r in &s.recoveries {
                let _ = writeln!(
                    md,
                    "- after `{}` at {:.0} ms: {}",
                    r.action,
                    r.at_ms,
                    r.recovered_after_ms.map_or(
                        "not recovered by the end of the run".to_string(),
                        |ms| format!("every client got through again after {ms:.0} ms")
                    )
                );
            }
            if !s.faults.is_empty() {
                md.push('\n');
            }
            if let Some(a) = &s.availability {
                let _ = writeln!(
                    md,
                    "Availability: {} unavailability window(s), longest {:.1} ms; inside them {} op(s) failed and {} were left indeterminate.\n",
                    a.windows.len(),
                    a.longest_ms,
                    a.failed,
                    a.indeterminate
                );
            }
            if let Some(a) = &s.set_account {
                let _ = writeln!(
                    md,
                    "Writes against the final read ({} key(s) read, {} not): {}.\n",
                    a.keys_read,
                    a.keys_unread,
                    a.tally()
                );
                for (key, element) in a.lost.iter().take(10) {
                    let _ = writeln!(md, "- lost: `{key}` element {element}");
                }
            }
            for th in &s.thresholds {
                let _ = writeln!(
                    md,
                    "- threshold `{}`: observed {} → {}",
                    th.threshold,
                    th.observed_display,
                    if th.passed { "pass" } else { "FAIL" }
                );
            }
            md.push('\n');
        }
    }
    if report.verdict == Verdict::Pass {
        md.push_str("All checks passed.\n");
    }
    md
}

#[cfg(test)]
mod tests;
