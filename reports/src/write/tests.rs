use super::*;
use assay_check::judge;
use assay_core::metrics::IntervalSeries;
use assay_core::record::{
    LoadConfig, Machine, NativeObservation, RecordKind, ScenarioStatus, TargetRecord,
    WorkloadRecord, RECORD_SCHEMA_VERSION,
};
use assay_core::scenario::LoadMode;
use assay_core::{Family, LatencyHistograms, NativeOutcome, Op, OpKind, OpMeta, OpValue, Outcome};

const SCENARIO: &str = r#"format = 1
name = "smoke <&>"
kind = "conformance"
thresholds = ["p99 < 1ms"]

[[setup.tables]]
name = "kv"

[[steps]]
name = "gsi lag"
native = "dynamodb.gsi_propagation_lag"
documented = "GSIs are updated asynchronously"
cite = "https://docs.aws.amazon.com/gsi"
"#;

fn record() -> RunRecord {
    let mut s = ScenarioRecord::new(
        "smoke <&>",
        "scenarios/smoke.toml",
        "00",
        RecordKind::Conformance,
        SCENARIO.into(),
        LoadConfig {
            mode: Some(LoadMode::Open),
            rate_per_s: Some(2.0),
            max_in_flight: Some(4),
            duration_s: 1.0,
            op_timeout_s: 5.0,
            ..LoadConfig::default()
        },
    );
    s.status = ScenarioStatus::Ran {
        aborted: None,
        teardown_error: None,
    };
    s.latency.record(OpKind::Write, Outcome::Ok, 2_000_000);
    s.latency.record(OpKind::Write, Outcome::Ok, 4_000_000);
    s.request_units_by_op.insert(OpKind::Write, 3.0);
    s.notes = vec!["the emulator runs one read-write transaction at a time".into()];
    s.native = vec![NativeObservation {
        step: "gsi lag".into(),
        native: "dynamodb.gsi_propagation_lag".into(),
        documented: "GSIs are updated asynchronously".into(),
        cite: "https://docs.aws.amazon.com/gsi".into(),
        after_steps: 0,
        outcome: NativeOutcome::unsupported("CreateTable with a GSI: ValidationException"),
        elapsed_ns: 100_000_000,
    }];
    let mut series = IntervalSeries::new(1_000_000_000);
    series.record(OpKind::Write, Outcome::Ok, 10, 1_000);
    series.record(OpKind::Write, Outcome::Indeterminate, 1_500_000_000, 2_000);
    let mut service = LatencyHistograms::default();
    service.record(OpKind::Write, Outcome::Ok, 1_000);
    s.workload = Some(WorkloadRecord {
        mode: LoadMode::Open,
        measured_ns: 1_000_000_000,
        ops: 2,
        errors: 0,
        offered_rate: Some(2.0),
        late: 1,
        dropped: 0,
        abandoned: 0,
        warmup_ops: 0,
        service,
        schedule_lag: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap(),
        series,
    });
    RunRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        run_id: "r1".into(),
        assay_version: "0.1.0".into(),
        seed: 1,
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:01Z".into(),
        started_unix_ms: 1_767_225_600_000,
        machine: Machine::current(),
        interrupted: None,
        targets: vec![TargetRecord {
            name: "postgres".into(),
            family: Family::Postgres,
            endpoint: Some("postgres://assay:***@127.0.0.1:1/assay".into()),
            stand_in: None,
            backend_version: Some("15".into()),
            start_error: None,
            scenarios: vec![s],
        }],
        timeline: vec![],
    }
}

fn history() -> Vec<HistoryEvent> {
    vec![
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
    ]
}

#[test]
fn renders_every_file_from_the_record_and_the_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let r = record();
    let h = history();
    write_history(dir.path(), [("postgres", "smoke <&>", h.as_slice())]).unwrap();
    let histories = read_history(dir.path()).unwrap();
    assert_eq!(histories[&("postgres".into(), "smoke <&>".into())], h);
    let verdicts = judge(&r, &histories);
    assert_eq!(verdicts.run, Verdict::Fail, "the p99 threshold fails");
    let a = render_run(dir.path(), &r, &verdicts).unwrap();

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&a.report_json).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    let scenario = &json["targets"][0]["scenarios"][0];
    let p99 = scenario["latency"][0]["p99_us"].as_f64().unwrap();
    assert!(
        (4000.0..4005.0).contains(&p99),
        "HDR keeps 3 significant digits: {p99}"
    );
    assert_eq!(scenario["load"]["rate_per_s"], 2.0);
    assert_eq!(scenario["request_units_by_op"]["write"], 3.0);
    assert_eq!(scenario["workload"]["intervals"][1]["indeterminate"], 1);
    assert_eq!(
        json["fidelity"][0]["rows"][0]["cells"][0]["verdict"],
        "unsupported"
    );

    let junit = std::fs::read_to_string(&a.junit_xml).unwrap();
    assert!(junit.contains("smoke &lt;&amp;&gt;"), "{junit}");
    assert!(junit.contains("failures=\"1\""), "{junit}");
    assert!(
        junit.contains("threshold p99 &lt; 1ms failed: observed 4.00ms"),
        "{junit}"
    );
    assert!(
        junit.contains("skipped"),
        "native unsupported step is skipped: {junit}"
    );

    let fidelity = std::fs::read_to_string(a.fidelity_md.as_ref().unwrap()).unwrap();
    assert!(fidelity.contains("| gsi lag | unsupported |"), "{fidelity}");
    let summary = std::fs::read_to_string(&a.summary_md).unwrap();
    assert!(summary.contains("- note: the emulator runs one read-write transaction at a time"));
    assert!(
        summary.contains("Request units: 3.0 in all (write 3.0)"),
        "{summary}"
    );
    assert!(summary.contains("Workload (open loop)"), "{summary}");
    assert!(
        summary
            .contains("Load: open loop at 2/s, at most 4 in flight, duration 1 s, op timeout 5 s"),
        "{summary}"
    );
    let hlog = std::fs::read_to_string(&a.hlogs[0]).unwrap();
    assert_eq!(hlog.matches("Tag=write.ok,").count(), 1, "{hlog}");
    assert_eq!(
        hlog.matches("Tag=write.indeterminate,").count(),
        1,
        "{hlog}"
    );
    assert!(hlog.contains("Tag=service.write.ok,"), "{hlog}");
    assert!(
        hlog.contains("#[StartTime: 1767225600.000"),
        "the run's start: {hlog}"
    );

    // The same record and verdicts give the same bytes.
    let first: Vec<Vec<u8>> = [&a.report_json, &a.summary_md, &a.junit_xml, &a.hlogs[0]]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let again = render_run(dir.path(), &r, &judge(&r, &histories)).unwrap();
    for (p, bytes) in [
        &again.report_json,
        &again.summary_md,
        &again.junit_xml,
        &again.hlogs[0],
    ]
    .iter()
    .zip(first)
    {
        assert_eq!(std::fs::read(p).unwrap(), bytes, "{}", p.display());
    }
    let table = crate::render_table(&RunReport::of(&r, &verdicts), false);
    assert!(table.starts_with("TARGET"), "{table}");
    assert!(table.contains("postgres"));
}
