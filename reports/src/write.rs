//! Writing a run's files into its directory.

use crate::junit;
use crate::model::{RunReport, Verdict};
use assay_check::thresholds::format_ns;
use assay_core::metrics::IntervalSeries;
use assay_core::{HistoryEvent, HistoryLine, LatencyHistograms};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What one target × scenario recorded, for history.jsonl and the .hlog files.
pub struct ScenarioArtifacts<'a> {
    pub target: &'a str,
    pub scenario: &'a str,
    pub history: &'a [HistoryEvent],
    pub latencies: &'a LatencyHistograms,
    pub elapsed: Duration,
    /// A workload's service time, written to the `.hlog` as `service.<op>.<outcome>`.
    pub service: Option<&'a LatencyHistograms>,
    /// A workload's 1 s series: the `.hlog` then holds one interval per second per tag.
    pub intervals: Option<&'a IntervalSeries>,
}

/// Paths of what `write_run` wrote.
#[derive(Debug, Clone)]
pub struct RunArtifacts {
    pub dir: PathBuf,
    pub report_json: PathBuf,
    pub summary_md: PathBuf,
    pub junit_xml: PathBuf,
    pub history_jsonl: PathBuf,
    pub hlogs: Vec<PathBuf>,
    /// Written when the run had conformance scenarios.
    pub fidelity_md: Option<PathBuf>,
}

pub fn write_run(
    dir: &Path,
    report: &RunReport,
    scenarios: &[ScenarioArtifacts<'_>],
) -> io::Result<RunArtifacts> {
    std::fs::create_dir_all(dir)?;
    let report_json = dir.join("report.json");
    let json = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
    std::fs::write(&report_json, json)?;

    let summary_md = dir.join("summary.md");
    std::fs::write(&summary_md, summary(report))?;

    let fidelity_md = if report.fidelity.is_empty() {
        None
    } else {
        let path = dir.join("fidelity.md");
        std::fs::write(&path, crate::fidelity::render_markdown(&report.fidelity))?;
        Some(path)
    };

    let junit_xml = dir.join("junit.xml");
    std::fs::write(&junit_xml, junit::render(report))?;

    let history_jsonl = dir.join("history.jsonl");
    let mut w = BufWriter::new(File::create(&history_jsonl)?);
    for s in scenarios {
        for event in s.history {
            let line = HistoryLine {
                target: s.target.to_string(),
                scenario: s.scenario.to_string(),
                event: event.clone(),
            };
            serde_json::to_writer(&mut w, &line).map_err(io::Error::other)?;
            w.write_all(b"\n")?;
        }
    }
    w.flush()?;

    let mut hlogs = Vec::new();
    for s in scenarios.iter().filter(|s| !s.latencies.is_empty()) {
        let path = dir.join(format!("{}.{}.hlog", s.target, file_safe(s.scenario)));
        write_hlog(&path, s)?;
        hlogs.push(path);
    }
    Ok(RunArtifacts {
        dir: dir.to_path_buf(),
        report_json,
        summary_md,
        junit_xml,
        history_jsonl,
        hlogs,
        fidelity_md,
    })
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
fn write_hlog(path: &Path, s: &ScenarioArtifacts<'_>) -> io::Result<()> {
    let mut file = BufWriter::new(File::create(path)?);
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "assay {} / {}; values in nanoseconds; latency from the intended start",
            s.target, s.scenario
        ))
        .with_start_time(SystemTime::now())
        .with_max_value_divisor(1e6)
        .begin_log_with(&mut file, &mut serializer)?;
    let hlog_err = |e| io::Error::other(format!("{e:?}"));
    match s.intervals.filter(|i| !i.is_empty()) {
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
            for (kind, outcome, h) in s.latencies.iter() {
                let tag_text = format!("{kind}.{outcome}");
                log.write_histogram(h, Duration::ZERO, s.elapsed, Tag::new(&tag_text))
                    .map_err(hlog_err)?;
            }
        }
    }
    if let Some(service) = s.service {
        for (kind, outcome, h) in service.iter() {
            let tag_text = format!("service.{kind}.{outcome}");
            log.write_histogram(h, Duration::ZERO, s.elapsed, Tag::new(&tag_text))
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
mod tests {
    use super::*;
    use crate::model::*;
    use assay_core::{Op, OpKind, OpMeta, OpValue, Outcome};

    fn report() -> RunReport {
        let mut lat = LatencyHistograms::default();
        lat.record(OpKind::Write, Outcome::Ok, 2_000_000);
        lat.record(OpKind::Write, Outcome::Ok, 4_000_000);
        let (latency, overall_latency) = LatencyRow::table(&lat);
        let mut r = RunReport {
            fidelity: Vec::new(),
            schema_version: REPORT_SCHEMA_VERSION,
            run_id: "r1".into(),
            assay_version: "0.1.0".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:01Z".into(),
            seed: 1,
            machine: Machine::current(),
            verdict: Verdict::Fail,
            aborted: None,
            targets: vec![TargetReport {
                name: "postgres".into(),
                family: "postgres".into(),
                endpoint: Some("postgres://assay:***@127.0.0.1:1/assay".into()),
                backend_version: Some("15".into()),
                verdict: Verdict::Fail,
                error: None,
                scenarios: vec![ScenarioReport {
                    name: "smoke <&>".into(),
                    file: "scenarios/smoke.toml".into(),
                    sha256: "00".into(),
                    kind: "conformance".into(),
                    verdict: Verdict::Fail,
                    reason: None,
                    unsupported: vec![],
                    ops: 2,
                    errors: 0,
                    elapsed_s: 1.0,
                    throughput_ops_per_s: 2.0,
                    latency,
                    overall_latency,
                    steps: vec![],
                    thresholds: vec![assay_check::ThresholdResult {
                        threshold: "p99 < 1ms".into(),
                        observed: Some(4e6),
                        observed_display: "4.00ms".into(),
                        passed: false,
                    }],
                    request_units: Some(3.0),
                    request_units_by_op: [(OpKind::Write, 3.0)].into_iter().collect(),
                    notes: vec!["the emulator runs one read-write transaction at a time".into()],
                    native_steps: vec![NativeStepReport {
                        step: "gsi lag".into(),
                        native: "dynamodb.gsi_propagation_lag".into(),
                        verdict: assay_core::NativeVerdict::Unsupported,
                        observed: "CreateTable with a GSI: ValidationException".into(),
                        documented: "GSIs are updated asynchronously".into(),
                        cite: "https://docs.aws.amazon.com/gsi".into(),
                        after_steps: 0,
                        evidence: vec![],
                        measurements: vec![],
                        counters: Default::default(),
                        elapsed_s: 0.1,
                    }],
                    retries: 0,
                    error_classes: Default::default(),
                    consistency: Vec::new(),
                    isolation_matrix: None,
                    workload: Some(WorkloadReport {
                        mode: "open".into(),
                        measured_s: 1.0,
                        ops: 2,
                        errors: 0,
                        throughput_ops_per_s: 2.0,
                        offered_rate_ops_per_s: Some(2.0),
                        late: 1,
                        dropped: 0,
                        abandoned: 0,
                        warmup_ops: 0,
                        service_time: vec![],
                        schedule_lag: None,
                        intervals: vec![],
                    }),
                }],
            }],
        };
        r.fidelity = FidelityMatrix::from_targets(&r.targets);
        r
    }

    #[test]
    fn writes_every_file_and_the_json_parses() {
        let dir = tempfile::tempdir().unwrap();
        let r = report();
        let mut lat = LatencyHistograms::default();
        lat.record(OpKind::Write, Outcome::Ok, 1_000);
        let mut series = IntervalSeries::new(1_000_000_000);
        series.record(OpKind::Write, Outcome::Ok, 10, 1_000);
        series.record(OpKind::Write, Outcome::Ok, 1_500_000_000, 2_000);
        let history = vec![
            HistoryEvent::Invoke {
                op_id: 0,
                client: 0,
                step: "s".into(),
                op: Op::Delete {
                    table: "kv".into(),
                    key: "k".into(),
                },
                intended_start_ns: 0,
                start_ns: 0,
            },
            HistoryEvent::Complete {
                op_id: 0,
                client: 0,
                outcome: Outcome::Ok,
                value: OpValue::None,
                error_class: None,
                error: None,
                meta: OpMeta::default(),
                end_ns: 5,
            },
        ];
        let a = write_run(
            dir.path(),
            &r,
            &[ScenarioArtifacts {
                target: "postgres",
                scenario: "smoke",
                history: &history,
                latencies: &lat,
                elapsed: Duration::from_secs(1),
                service: Some(&lat),
                intervals: Some(&series),
            }],
        )
        .unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&a.report_json).unwrap()).unwrap();
        assert_eq!(json["schema_version"], 1);
        let p99 = json["targets"][0]["scenarios"][0]["latency"][0]["p99_us"]
            .as_f64()
            .unwrap();
        assert!(
            (4000.0..4005.0).contains(&p99),
            "HDR keeps 3 significant digits: {p99}"
        );
        let history_text = std::fs::read_to_string(&a.history_jsonl).unwrap();
        assert_eq!(history_text.lines().count(), 2);
        let junit = std::fs::read_to_string(&a.junit_xml).unwrap();
        assert!(junit.contains("smoke &lt;&amp;&gt;"), "{junit}");
        assert!(junit.contains("failures=\"1\""), "{junit}");
        assert!(junit.contains("observed 4.00ms"), "{junit}");
        assert!(
            junit.contains("skipped"),
            "native unsupported step is skipped: {junit}"
        );
        assert_eq!(
            json["fidelity"][0]["rows"][0]["cells"][0]["verdict"],
            "unsupported"
        );
        assert_eq!(
            json["targets"][0]["scenarios"][0]["request_units_by_op"]["write"],
            3.0
        );
        let fidelity = std::fs::read_to_string(a.fidelity_md.as_ref().unwrap()).unwrap();
        assert!(fidelity.contains("| gsi lag | unsupported |"), "{fidelity}");
        let summary = std::fs::read_to_string(&a.summary_md).unwrap();
        assert!(summary.contains("- note: the emulator runs one read-write transaction at a time"));
        assert!(
            summary.contains("Request units: 3.0 in all (write 3.0)"),
            "{summary}"
        );
        let hlog = std::fs::read_to_string(&a.hlogs[0]).unwrap();
        assert_eq!(
            hlog.matches("Tag=write.ok,").count(),
            2,
            "one line per interval: {hlog}"
        );
        assert!(hlog.contains("Tag=service.write.ok,"), "{hlog}");
        let intervals = IntervalRow::series(&series);
        assert_eq!((intervals.len(), intervals[1].ops), (2, 1));
        let summary = std::fs::read_to_string(&a.summary_md).unwrap();
        assert!(summary.contains("- note: the emulator runs one read-write transaction at a time"));
        assert!(summary.contains("Workload (open loop)"), "{summary}");
        let table = crate::render_table(&r, false);
        assert!(table.starts_with("TARGET"), "{table}");
        assert!(table.contains("postgres"));
    }
}
