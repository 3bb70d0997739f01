use super::*;
use assay_core::record::{
    LoadConfig, Machine, MissingCapability, NativeObservation, RecordKind, RunRecord,
    ScenarioRecord, ScenarioStatus, TargetRecord, RECORD_SCHEMA_VERSION,
};
use assay_core::{Capability, Family, NativeOutcome, Op, OpMeta, OpValue};

const SCENARIO: &str = "format = 1\nname = \"s\"\nkind = \"conformance\"\n[setup]\ntables = [{ name = \"kv\" }]\n[[steps]]\nname = \"put\"\nop = \"write\"\ntable = \"kv\"\nkey = \"k\"\nvalue = \"v\"\nexpect = { outcome = \"ok\" }\n";

fn ran(source: &str) -> ScenarioRecord {
    let mut s = ScenarioRecord::new(
        "s",
        "s.toml",
        "00",
        RecordKind::Conformance,
        source.into(),
        LoadConfig::default(),
    );
    s.status = ScenarioStatus::Ran {
        aborted: None,
        teardown_error: None,
    };
    s.elapsed_ns = 1_000_000_000;
    s
}

fn write_history(outcome: Outcome) -> Vec<HistoryEvent> {
    vec![
        HistoryEvent::Invoke {
            op_id: 0,
            client: 0,
            step: "put".into(),
            op: Op::Write {
                table: "kv".into(),
                key: "k".into(),
                value: "v".into(),
            },
            intended_start_ns: 0,
            start_ns: 0,
        },
        HistoryEvent::Complete {
            op_id: 0,
            client: 0,
            outcome,
            value: OpValue::None,
            error_class: None,
            error: None,
            meta: OpMeta::default(),
            end_ns: 10,
        },
    ]
}

fn native(verdict: assay_core::NativeVerdict, observed: &str) -> NativeObservation {
    NativeObservation {
        step: "gsi".into(),
        native: "dynamodb.gsi_query".into(),
        documented: "d".into(),
        cite: "https://x".into(),
        after_steps: 1,
        outcome: NativeOutcome {
            verdict,
            observed: observed.into(),
            evidence: vec![],
            measurements: vec![],
            counters: Default::default(),
        },
        elapsed_ns: 0,
    }
}

fn run_of(targets: Vec<(&str, Vec<ScenarioRecord>)>) -> RunRecord {
    RunRecord {
        schema_version: RECORD_SCHEMA_VERSION,
        run_id: "r".into(),
        assay_version: "0".into(),
        seed: 1,
        started_at: String::new(),
        finished_at: String::new(),
        started_unix_ms: 0,
        machine: Machine::current(),
        interrupted: None,
        targets: targets
            .into_iter()
            .map(|(name, scenarios)| TargetRecord {
                name: name.into(),
                family: Family::Dynamodb,
                endpoint: None,
                stand_in: None,
                backend_version: None,
                start_error: None,
                scenarios,
            })
            .collect(),
        timeline: vec![],
    }
}

fn histories(target: &str, h: Vec<HistoryEvent>) -> Histories {
    [((target.to_string(), "s".to_string()), h)]
        .into_iter()
        .collect()
}

#[test]
fn a_step_as_expected_passes_and_a_failed_op_fails_with_the_step_named() {
    let v = judge_scenario(&ran(SCENARIO), &write_history(Outcome::Ok));
    assert_eq!((v.verdict, v.reason.as_deref()), (Verdict::Pass, None));
    let v = judge_scenario(&ran(SCENARIO), &write_history(Outcome::Fail));
    assert_eq!(v.verdict, Verdict::Fail);
    assert_eq!(v.reason.as_deref(), Some("failed: step `put`"));
    assert_eq!(v.errors, 1);
}

#[test]
fn a_threshold_with_its_observation_decides() {
    let source = SCENARIO.replace("[setup]", "thresholds = [\"p99 < 1us\"]\n[setup]");
    let mut s = ran(&source);
    s.latency.record(OpKind::Write, Outcome::Ok, 5_000_000);
    let v = judge_scenario(&s, &write_history(Outcome::Ok));
    assert_eq!(v.verdict, Verdict::Fail, "{:?}", v.reason);
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .contains("threshold `p99 < 1us` (observed"),
        "{:?}",
        v.reason
    );
}

#[test]
fn native_findings_become_verdicts_and_nothing_unverified_passes() {
    let only_native = "format = 1\nname = \"s\"\nkind = \"conformance\"\n[[steps]]\nname = \"gsi\"\nnative = \"dynamodb.gsi_query\"\ndocumented = \"d\"\ncite = \"https://x\"\n";
    let mut s = ran(only_native);
    s.native = vec![native(assay_core::NativeVerdict::Unsupported, "no GSI")];
    let v = judge_scenario(&s, &[]);
    assert_eq!(v.verdict, Verdict::Unsupported);
    assert_eq!(v.reason.as_deref(), Some("unsupported: no GSI"));
    s.native
        .push(native(assay_core::NativeVerdict::Unverified, "one replica"));
    assert_eq!(judge_scenario(&s, &[]).verdict, Verdict::Unverified);
    s.native
        .push(native(assay_core::NativeVerdict::Deviates, "500"));
    let v = judge_scenario(&s, &[]);
    assert_eq!(v.verdict, Verdict::Fail);
    assert_eq!(v.native[2], Verdict::Deviates);
    s.native
        .push(native(assay_core::NativeVerdict::Error, "timed out"));
    let v = judge_scenario(&s, &[]);
    assert_eq!(v.verdict, Verdict::Error);
    assert_eq!(
        v.reason.as_deref(),
        Some("step `gsi` could not run: timed out")
    );
}

#[test]
fn what_did_not_run_is_never_a_pass() {
    let mut s = ran(SCENARIO);
    s.status = ScenarioStatus::Unsupported {
        reason: "unsupported: txn (no transactions)".into(),
        missing: vec![MissingCapability {
            capability: Capability::Txn,
            reason: "no transactions".into(),
        }],
    };
    assert_eq!(judge_scenario(&s, &[]).verdict, Verdict::Unsupported);
    s.status = ScenarioStatus::NotRun {
        reason: "cannot connect".into(),
    };
    assert_eq!(judge_scenario(&s, &[]).verdict, Verdict::Error);
    s.status = ScenarioStatus::Ran {
        aborted: Some("backend stopped".into()),
        teardown_error: None,
    };
    let v = judge_scenario(&s, &write_history(Outcome::Ok));
    assert_eq!(
        (v.verdict, v.reason.as_deref()),
        (Verdict::Error, Some("backend stopped"))
    );
    // A run of only unsupported scenarios is unsupported; an interrupted one an error.
    let mut only = ran(SCENARIO);
    only.status = ScenarioStatus::Unsupported {
        reason: "x".into(),
        missing: vec![],
    };
    let mut record = run_of(vec![("a", vec![only])]);
    assert_eq!(judge(&record, &Histories::new()).run, Verdict::Unsupported);
    record.interrupted = Some("interrupted (Ctrl-C)".into());
    assert_eq!(judge(&record, &Histories::new()).run, Verdict::Error);
}

#[test]
fn the_fidelity_matrix_has_a_row_per_step_in_file_order_and_a_cell_per_target() {
    let mut a = ran(SCENARIO);
    a.native = vec![native(assay_core::NativeVerdict::Pass, "3 items")];
    let mut b = ran(SCENARIO);
    b.native = vec![native(assay_core::NativeVerdict::Unsupported, "no GSI")];
    let record = run_of(vec![("moto", vec![a]), ("dynalite", vec![b])]);
    let mut h = histories("moto", write_history(Outcome::Ok));
    h.extend(histories("dynalite", write_history(Outcome::Fail)));
    let v = judge(&record, &h);
    assert_eq!(v.fidelity.len(), 1);
    let m = &v.fidelity[0];
    assert_eq!(m.targets, vec!["moto", "dynalite"]);
    let rows: Vec<(&str, Vec<Verdict>)> = m
        .rows
        .iter()
        .map(|r| (r.step.as_str(), r.cells.iter().map(|c| c.verdict).collect()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("put", vec![Verdict::Pass, Verdict::Deviates]),
            ("gsi", vec![Verdict::Pass, Verdict::Unsupported]),
        ]
    );
    assert_eq!(v.targets[0].verdict, Verdict::Pass);
    assert_eq!(v.targets[1].verdict, Verdict::Fail);
    assert_eq!(v.run, Verdict::Fail);
}
