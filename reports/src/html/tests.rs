use super::*;
use assay_check::judge::compare::{compare, Tolerance};
use assay_check::judge::{judge, Histories};
use assay_core::metrics::IntervalSeries;
use assay_core::record::{
    FaultEvent, LoadConfig, Machine, RecordKind, ScenarioStatus, TargetRecord, WorkloadRecord,
    RECORD_SCHEMA_VERSION,
};
use assay_core::scenario::{FaultKind, LoadMode};
use assay_core::{Family, LatencyHistograms, OpKind};

const SCENARIO: &str = r#"format = 1
name = "ycsb <&>"
kind = "throughput"
thresholds = ["error_rate < 50%"]

[[setup.tables]]
name = "kv"

[workload]
clients = 2
duration = "3s"
keys = { prefix = "k", count = 10 }
mix = { read = 0.5, write = 0.5 }
"#;

/// A workload scenario on `target`: `seconds` of per-second series whose latency grows
/// with `slow`, and a partition from 1 s to 2 s.
fn scenario(seconds: u64, slow: u64) -> ScenarioRecord {
    let mut s = ScenarioRecord::new(
        "ycsb <&>",
        "ycsb.toml",
        "00",
        RecordKind::Throughput,
        SCENARIO.into(),
        LoadConfig {
            mode: Some(LoadMode::Closed),
            clients: 2,
            duration_s: seconds as f64,
            op_timeout_s: 5.0,
            ..LoadConfig::default()
        },
    );
    s.status = ScenarioStatus::Ran {
        aborted: None,
        teardown_error: None,
    };
    let mut series = IntervalSeries::new(1_000_000_000);
    let mut service = LatencyHistograms::default();
    for i in 0..seconds * 50 {
        let (kind, outcome) = match i % 25 {
            0 => (OpKind::Write, Outcome::Indeterminate),
            n if n % 2 == 0 => (OpKind::Write, Outcome::Ok),
            _ => (OpKind::Read, Outcome::Ok),
        };
        let latency = (1 + i % 17) * 100_000 * slow;
        s.latency.record(kind, outcome, latency);
        service.record(kind, outcome, latency);
        series.record(kind, outcome, i * 20_000_000, latency);
    }
    s.ops = seconds * 50;
    s.elapsed_ns = seconds * 1_000_000_000;
    s.workload = Some(WorkloadRecord {
        mode: LoadMode::Closed,
        measured_ns: seconds * 1_000_000_000,
        ops: seconds * 50,
        errors: seconds * 2,
        offered_rate: None,
        late: 0,
        dropped: 0,
        abandoned: 0,
        warmup_ops: 0,
        service,
        schedule_lag: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap(),
        series,
    });
    let fault = |at_ns, action| FaultEvent {
        unix_ms: 0,
        at_ns,
        action,
        fault: "partition <1s>".into(),
        ok: true,
        detail: "proxy".into(),
    };
    s.faults = vec![
        fault(1_000_000_000, FaultKind::Partition),
        fault(2_000_000_000, FaultKind::Heal),
    ];
    s
}

fn target(name: &str, s: ScenarioRecord) -> TargetRecord {
    TargetRecord {
        name: name.into(),
        family: Family::Dynamodb,
        endpoint: Some("http://127.0.0.1:1".into()),
        stand_in: None,
        backend_version: None,
        start_error: None,
        scenarios: vec![s],
    }
}

fn record(slow: u64) -> RunRecord {
    RunRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        run_id: "run <1>".into(),
        assay_version: "0.1.0".into(),
        seed: 1,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:04Z".into(),
        started_unix_ms: 1_767_225_600_000,
        machine: Machine::current(),
        interrupted: None,
        targets: vec![
            target("moto", scenario(3, slow)),
            target("dyna<lite>", scenario(3, 2 * slow)),
        ],
        timeline: vec![],
    }
}

fn page(r: &RunRecord) -> String {
    render(r, &judge(r, &Histories::new()), None)
}

/// Each `<svg class="plot" …>` with the sum of its polylines' `data-points`.
fn plots(html: &str) -> Vec<(String, usize)> {
    html.split("<svg class=\"plot\"")
        .skip(1)
        .map(|svg| {
            let svg = &svg[..svg.find("</svg>").unwrap()];
            let id = svg.split("data-plot=\"").nth(1).unwrap();
            let id = id[..id.find('"').unwrap()].to_string();
            let points = svg
                .split("data-points=\"")
                .skip(1)
                .map(|p| p[..p.find('"').unwrap()].parse::<usize>().unwrap())
                .sum();
            (id, points)
        })
        .collect()
}

#[test]
fn every_plot_has_points_and_both_targets_stand_side_by_side() {
    let html = page(&record(1));
    let plots = plots(&html);
    let ids: Vec<&str> = plots.iter().map(|(id, _)| id.as_str()).collect();
    // Side by side: spectrum, throughput, p99; per target: spectrum, throughput,
    // latency, errors.
    assert_eq!(plots.len(), 3 + 2 * 4, "{ids:?}");
    for (id, points) in &plots {
        assert!(*points > 0, "{id} has no points");
    }
    assert!(
        ids.contains(&"side-spectrum:*:ycsb &lt;&amp;&gt;"),
        "{ids:?}"
    );
    assert!(html.contains("<tr data-target=\"moto\">"));
    assert!(html.contains("<tr data-target=\"dyna&lt;lite&gt;\">"));
    assert!(html.contains("data-targets=\"2\""));
    let side = &html[html.find("side-spectrum").unwrap()..];
    let side = &side[..side.find("</svg>").unwrap()];
    assert_eq!(side.matches("<g class=\"series\"").count(), 2);
}

#[test]
fn the_page_is_self_contained_and_escapes_the_record() {
    let html = page(&record(1));
    assert!(html.starts_with("<!DOCTYPE html>"));
    for outside in ["<script", "<link", " src=", "url(", "@import"] {
        assert!(!html.contains(outside), "{outside}");
    }
    assert!(!html.contains("<&>") && !html.contains("run <1>") && !html.contains("dyna<lite>"));
    assert!(html.contains("Assay run run &lt;1&gt;"));
    assert!(html.contains("partition &lt;1s&gt;"));
}

#[test]
fn faults_are_shaded_and_the_spectrum_has_a_percentile_axis() {
    let html = page(&record(1));
    assert_eq!(html.matches("<rect class=\"band\"").count(), 2 * 3);
    for tick in [">0%<", ">90%<", ">99%<", ">99.9%<"] {
        assert!(html.contains(tick), "{tick}");
    }
    assert!(html.contains(">percentile<"));
}

#[test]
fn verdicts_and_load_are_shown() {
    let html = page(&record(1));
    assert!(
        html.contains("<code>error_rate &lt; 50%</code>"),
        "threshold"
    );
    assert!(html.contains("closed loop, 2 clients"), "load line");
    assert!(
        html.contains("<th>op_timeout_s</th><td>5.0</td>"),
        "load table"
    );
}

#[test]
fn an_empty_series_is_no_data_never_an_empty_plot() {
    let mut r = record(1);
    let s = &mut r.targets[1].scenarios[0];
    if let Some(w) = s.workload.as_mut() {
        w.series = IntervalSeries::new(1_000_000_000);
    }
    let html = page(&r);
    assert_eq!(
        html.matches("<p class=\"no-data\" data-plot=\"throughput:dyna&lt;lite&gt;")
            .count(),
        1
    );
    assert!(plots(&html).iter().all(|(_, points)| *points > 0));
}

#[test]
fn the_same_record_gives_the_same_bytes() {
    let r = record(1);
    assert_eq!(page(&r), page(&r));
}

#[test]
fn a_baseline_adds_the_comparison_section() {
    let (base, new) = (record(1), record(3));
    let c = compare(&base, &new, &Tolerance::default());
    let html = render(&new, &judge(&new, &Histories::new()), Some(&c));
    assert!(html.contains("<section id=\"comparison\">"));
    assert!(html.contains("Against baseline run &lt;1&gt;"));
    assert!(html.contains("<th>base → new</th>"));
    assert!(!page(&new).contains("id=\"comparison\""));
}
