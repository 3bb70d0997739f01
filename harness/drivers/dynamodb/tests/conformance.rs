//! Every native step of `scenarios/conformance/dynamodb/*.toml`, run through
//! `Driver::native` on moto and on dynalite (started through the emulators crate), against
//! the verdict observed on each stand-in. A step that does not pass on a stand-in says why
//! in `expected`; a changed verdict (a stand-in fixed or broken, a check changed) fails the
//! test with the step's observation.

use assay_core::{
    Driver, DriverConfig, LocalBackend, NativeOutcome, NativeStep, NativeVerdict, Scenario,
};
use assay_driver_dynamodb::DynamodbDriver;
use assay_emulators::{Emulator, StartOptions};
use std::path::PathBuf;
use std::time::Duration;

const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// The verdict each step gives on each stand-in, by step name.
fn expected(backend: LocalBackend, step: &str) -> Option<NativeVerdict> {
    use LocalBackend::{DynamodbDynalite as Dynalite, DynamodbMoto as Moto};
    use NativeVerdict::*;
    let verdict = match (step, backend) {
        ("on-demand and provisioned tables report their capacity mode", _) => Pass,
        ("conditional put on an existing key fails and changes nothing", _) => Pass,
        ("a failed condition returns the old item with ReturnValuesOnConditionCheckFailure=ALL_OLD", Moto) => Pass,
        // dynalite 4.0.0 accepts ReturnValuesOnConditionCheckFailure=ALL_OLD but its
        // ConditionalCheckFailedException carries no Item.
        ("a failed condition returns the old item with ReturnValuesOnConditionCheckFailure=ALL_OLD", Dynalite) => Deviates,
        ("strongly consistent read right after a write returns it", _) => Pass,
        ("number sort key: BETWEEN range in numeric order, both directions", _) => Pass,
        ("string sort key: BETWEEN range in byte order, both directions", _) => Pass,
        ("filtered scan returns exactly the matching items; Limit applies before the filter", _) => Pass,
        ("atomic counter: 16 clients x 1,000 increments is exact", Dynalite) => Pass,
        // moto 5.2.1 serves requests on threads and applies UpdateItem ADD as an unlocked
        // read-modify-write: acknowledged increments are lost (2 and 8 of 16,000 in two
        // runs). The loss is a race, so a run may also see none; see `allowed`.
        ("atomic counter: 16 clients x 1,000 increments is exact", Moto) => Deviates,
        // moto 5.2.1 accepts a BatchWriteItem of 26 items and writes all of them.
        ("batch write over 25 items is refused", Moto) => Deviates,
        ("batch write over 25 items is refused", Dynalite) => Pass,
        ("batch get over 100 keys is refused", _) => Pass,
        ("transaction with a failing condition check applies nothing", Moto) => Pass,
        // dynalite 4.0.0 has no transactions: TransactWriteItems answers
        // UnknownOperationException.
        ("transaction with a failing condition check applies nothing", Dynalite) => Unsupported,
        ("gsi query returns the matching items with the index's projection", _) => Pass,
        ("gsi propagation lag after an acknowledged write", _) => Pass,
        ("stream shows every acknowledged write in per-key order with old and new images", Moto) => Pass,
        // dynalite 4.0.0 accepts StreamSpecification but creates no stream, and ListStreams
        // answers UnknownOperationException.
        ("stream shows every acknowledged write in per-key order with old and new images", Dynalite) => Unsupported,
        _ => return None,
    };
    Some(verdict)
}

/// The verdicts accepted for a step: the observed one, plus `Pass` where the observed
/// deviation is a race that a run may miss (moto's lost increments).
fn allowed(backend: LocalBackend, step: &NativeStep) -> Vec<NativeVerdict> {
    let Some(verdict) = expected(backend, &step.name) else {
        return Vec::new();
    };
    if backend == LocalBackend::DynamodbMoto && step.check == "atomic_counter" {
        vec![verdict, NativeVerdict::Pass]
    } else {
        vec![verdict]
    }
}

fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scenarios/conformance/dynamodb")
}

/// Every native step of every scenario file, in file order.
fn native_steps() -> Vec<(String, NativeStep)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("scenarios/conformance/dynamodb exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut steps = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).expect("scenario file is readable");
        let scenario = Scenario::parse(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        for step in scenario.native {
            steps.push((name.clone(), step));
        }
    }
    steps
}

#[test]
fn every_scenario_step_is_a_dynamodb_step_with_an_expected_verdict() {
    let steps = native_steps();
    assert!(steps.len() >= 13, "only {} native steps found", steps.len());
    let mut names: Vec<&str> = steps.iter().map(|(_, s)| s.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), steps.len(), "step names must be unique");
    for (file, step) in &steps {
        assert_eq!(step.family, "dynamodb", "{file}: {}", step.name);
        assert!(
            step.cite.starts_with("https://docs.aws.amazon.com/"),
            "{file}: {}",
            step.cite
        );
        for backend in [LocalBackend::DynamodbMoto, LocalBackend::DynamodbDynalite] {
            assert!(
                expected(backend, &step.name).is_some(),
                "{file}: step `{}` has no expected verdict on {backend}",
                step.name
            );
        }
    }
}

async fn start(backend: LocalBackend) -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(backend, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("{backend} did not start: {e}"),
    }
}

fn describe(outcome: &NativeOutcome) -> String {
    let mut text = format!("{}: {}", outcome.verdict, outcome.observed);
    for line in &outcome.evidence {
        text.push_str(&format!("\n      | {line}"));
    }
    for m in &outcome.measurements {
        text.push_str(&format!(
            "\n      | {}: n={} p50={}µs p99={}µs max={}µs",
            m.name, m.count, m.p50_us, m.p99_us, m.max_us
        ));
    }
    for (name, value) in &outcome.counters {
        text.push_str(&format!("\n      | {name} = {value}"));
    }
    text
}

/// Runs every step on `backend` and checks each verdict, then that nothing is left behind.
async fn conformance(backend: LocalBackend, namespace: &str) {
    let Some(emu) = start(backend).await else {
        return;
    };
    let driver = DynamodbDriver::connect(
        emu.endpoint(),
        DriverConfig {
            namespace: namespace.into(),
            op_timeout: OP_TIMEOUT,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {backend}: {e}"));
    let mut mismatches = Vec::new();
    let mut outcomes = Vec::new();
    for (file, step) in native_steps() {
        let outcome = driver.native(&step).await;
        eprintln!(
            "[{backend}] {file} / {}\n    {}",
            step.name,
            describe(&outcome)
        );
        let want = allowed(backend, &step);
        if !want.contains(&outcome.verdict) {
            mismatches.push(format!(
                "{file} / {}: expected {want:?}, got {}",
                step.name,
                describe(&outcome)
            ));
        }
        outcomes.push((step, outcome));
    }
    // The checks dropped their tables; teardown has nothing left to do.
    driver.teardown().await.expect("teardown");
    let left: Vec<String> = driver
        .table_names()
        .await
        .expect("list tables")
        .into_iter()
        .filter(|t| t.starts_with(&format!("{namespace}_")))
        .collect();
    emu.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(
        left.is_empty(),
        "native checks left tables behind: {left:?}"
    );

    for (step, outcome) in &outcomes {
        match step.check.as_str() {
            // A pass here means every increment was acknowledged and counted once.
            "atomic_counter" if outcome.verdict == NativeVerdict::Pass => {
                let planned =
                    (step.param_u64("clients", 0) * step.param_u64("increments", 0)) as f64;
                assert_eq!(outcome.counters.get("acknowledged"), Some(&planned));
                assert!(outcome.observed.contains(&format!("final value {planned}")));
            }
            // moto's deviation is lost increments, never extra ones.
            "atomic_counter" if outcome.verdict == NativeVerdict::Deviates => {
                assert!(
                    outcome
                        .evidence
                        .iter()
                        .any(|e| e.contains("acknowledged increment(s) lost")),
                    "{}",
                    describe(outcome)
                );
            }
            // One evidence line per transaction item, in request order.
            "txn_all_or_nothing" if outcome.verdict == NativeVerdict::Pass => {
                assert_eq!(outcome.evidence.len(), 5, "{:?}", outcome.evidence);
                assert!(outcome.evidence[3].starts_with("#3 ConditionCheck"));
                assert!(outcome.evidence[3].contains("ConditionalCheckFailed"));
            }
            "gsi_propagation_lag" if outcome.verdict == NativeVerdict::Pass => {
                let m = &outcome.measurements[0];
                assert_eq!(m.name, "gsi_propagation_lag");
                assert_eq!(m.count, step.param_u64("samples", 0));
            }
            // An unsupported verdict quotes the backend's own refusal.
            _ if outcome.verdict == NativeVerdict::Unsupported => {
                assert!(
                    outcome.observed.contains("UnknownOperationException"),
                    "{}",
                    outcome.observed
                );
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_moto() {
    conformance(LocalBackend::DynamodbMoto, "conf_moto").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_dynalite() {
    conformance(LocalBackend::DynamodbDynalite, "conf_dynalite").await;
}

/// A check the driver does not know is reported as unsupported, naming the known ones, and
/// a backend that is gone gives an error within seconds, not a hang or a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_checks_and_stopped_backends() {
    let Some(emu) = start(LocalBackend::DynamodbDynalite).await else {
        return;
    };
    let driver = DynamodbDriver::connect(
        emu.endpoint(),
        DriverConfig {
            namespace: "conf_stopped".into(),
            op_timeout: Duration::from_secs(2),
        },
    )
    .await
    .expect("connect");
    let mut step = native_steps()
        .into_iter()
        .map(|(_, s)| s)
        .find(|s| s.check == "consistent_get")
        .expect("a consistent_get step");
    let mut unknown = step.clone();
    unknown.check = "no_such_check".into();
    let outcome = driver.native(&unknown).await;
    assert_eq!(outcome.verdict, NativeVerdict::Unsupported);
    assert!(
        outcome.observed.contains("atomic_counter"),
        "{}",
        outcome.observed
    );

    emu.stop().await;
    step.timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let outcome = driver.native(&step).await;
    assert_eq!(
        outcome.verdict,
        NativeVerdict::Error,
        "{}",
        describe(&outcome)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
