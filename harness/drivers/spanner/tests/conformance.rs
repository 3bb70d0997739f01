//! The Spanner conformance scenarios (`scenarios/conformance/spanner/*.toml`) on the Cloud
//! Spanner emulator: every native step parsed from the files, run through
//! `Driver::native`, with the verdict each one gets on the emulator asserted. Also: the
//! emulator started with a raised abort probability still loses no increment, and a step
//! whose schema is half-created leaves nothing behind.

mod common;

use assay_core::{Driver, NativeOutcome, NativeStep, NativeVerdict, Scenario};
use assay_emulators::{Emulator, SpannerFaults, StartOptions};
use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn scenario_dir() -> PathBuf {
    assay_emulators::workspace_root_of_this_checkout().join("scenarios/conformance/spanner")
}

/// Every native step of every Spanner scenario file, in file order.
fn native_steps() -> Vec<(String, NativeStep)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("scenarios/conformance/spanner exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut steps = Vec::new();
    for file in files {
        let label = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).expect("read scenario");
        let scenario = Scenario::parse(&text, &label).unwrap_or_else(|e| panic!("{e}"));
        for step in scenario.native {
            steps.push((label.clone(), step));
        }
    }
    steps
}

fn show(outcome: &NativeOutcome) -> String {
    let mut text = format!("{}: {}", outcome.verdict, outcome.observed);
    for line in &outcome.evidence {
        text.push_str(&format!("\n    evidence: {line}"));
    }
    for (name, value) in &outcome.counters {
        text.push_str(&format!("\n    {name} = {value}"));
    }
    text
}

/// The verdict each check gets on the Cloud Spanner emulator, and why when not `pass`.
fn expected_on_emulator(check: &str) -> NativeVerdict {
    match check {
        // The emulator keeps committed versions, serves reads at a timestamp and with
        // staleness bounds, and reports the read timestamp; its single-replica, in-memory
        // store makes all of these observable.
        "strong_read_after_commit" | "stale_reads" => NativeVerdict::Pass,
        // It runs one read-write transaction at a time and aborts concurrent ones; with
        // the retries counted the counter is still exact.
        "rmw_counter" | "commit_timestamps" => NativeVerdict::Pass,
        "interleave_cascade" | "index_vs_scan" => NativeVerdict::Pass,
        other => panic!("no expectation written down for spanner.{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_native_step_of_the_spanner_scenarios_on_the_emulator() {
    let steps = native_steps();
    assert!(
        steps.len() >= 6,
        "expected the six Spanner checks, found {}",
        steps.len()
    );
    let Some(emu) = emulator().await else { return };
    let d = driver(&emu, "nconf").await;
    let mut failures = Vec::new();
    for (file, step) in &steps {
        assert_eq!(step.family, "spanner", "{file}: {}", step.name);
        let started = std::time::Instant::now();
        let outcome = d.native(step).await;
        eprintln!(
            "{file} / {} [{}] in {:?}\n  {}",
            step.name,
            step.qualified(),
            started.elapsed(),
            show(&outcome)
        );
        let expected = expected_on_emulator(&step.check);
        if outcome.verdict != expected {
            failures.push(format!(
                "{file} / {}: expected {expected}, got {}",
                step.name,
                show(&outcome)
            ));
        }
        if step.check == "rmw_counter" {
            // The emulator aborts all but one concurrent read-write transaction: the
            // retries must be counted, and said to be an emulator limitation.
            assert!(
                outcome.counters.get("aborts").copied().unwrap_or(0.0) > 0.0,
                "{}",
                show(&outcome)
            );
            assert!(
                outcome.observed.contains("emulator limitation"),
                "{}",
                outcome.observed
            );
        }
    }
    // Each step dropped its schema; nothing is left for teardown.
    let leftovers: Vec<String> = d
        .list_tables()
        .await
        .expect("list tables")
        .into_iter()
        .filter(|t| t.starts_with("nconf_"))
        .collect();
    d.teardown().await.expect("teardown");
    emu.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        leftovers.is_empty(),
        "native steps left tables behind: {leftovers:?}"
    );
}

fn rmw_step(clients: u64, increments: u64) -> NativeStep {
    let (_, step) = native_steps()
        .into_iter()
        .find(|(_, s)| s.check == "rmw_counter")
        .expect("transactions.toml has an rmw_counter step");
    let mut step = step;
    step.params["clients"] = clients.into();
    step.params["increments"] = increments.into();
    step
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_abort_probability_forces_retries_but_loses_no_increment() {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(
        assay_core::LocalBackend::SpannerEmulator,
        &opts.workspace_root,
    ) {
        return;
    }
    let faults = SpannerFaults {
        abort_probability: Some(1.0),
        inject_commit_aborts: false,
    };
    let emu = Emulator::start_spanner(&opts, faults)
        .await
        .unwrap_or_else(|e| panic!("emulator with faults did not start: {e}"));
    // The flag reached emulator_main (through the wrapper the gateway starts).
    let cmdlines: Vec<String> = emu
        .process_groups()
        .into_iter()
        .flat_map(assay_emulators::group_members)
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .collect();
    assert!(
        cmdlines.iter().any(|c| c.contains("emulator_main")
            && c.contains("--abort_current_transaction_probability=100")),
        "no emulator_main with the abort flag among {cmdlines:?}"
    );
    let d = driver(&emu, "nfault").await;
    let outcome = d.native(&rmw_step(8, 10)).await;
    eprintln!("abort probability 1.0: {}", show(&outcome));
    d.teardown().await.expect("teardown");
    emu.stop().await;
    assert_eq!(outcome.verdict, NativeVerdict::Pass, "{}", show(&outcome));
    assert!(
        outcome.observed.contains("final counter 80 = 80"),
        "{}",
        outcome.observed
    );
    let aborts = outcome.counters.get("aborts").copied().unwrap_or(0.0);
    assert!(
        aborts > 0.0,
        "no ABORTED retries counted: {}",
        show(&outcome)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_probability_outside_zero_to_one_is_refused() {
    let opts = StartOptions::for_tests();
    let faults = SpannerFaults {
        abort_probability: Some(1.5),
        inject_commit_aborts: false,
    };
    let err = Emulator::start_spanner(&opts, faults)
        .await
        .expect_err("1.5 is not a probability");
    assert!(err.to_string().contains("outside 0.0..=1.0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_created_schema_is_dropped_and_bad_steps_are_errors() {
    let Some(emu) = emulator().await else { return };
    let d = driver(&emu, "nhalf").await;
    let mut step = rmw_step(1, 1);
    // The second statement fails after the first created its table.
    step.params["ddl"] = serde_json::json!([
        "CREATE TABLE {ns}_counter (id STRING(64) NOT NULL, n INT64 NOT NULL) PRIMARY KEY (id)",
        "CREATE INDEX {ns}_bad ON {ns}_no_such_table (x)",
    ]);
    let outcome = d.native(&step).await;
    eprintln!("half-created schema: {}", show(&outcome));
    assert_eq!(outcome.verdict, NativeVerdict::Error, "{}", show(&outcome));
    let tables = d.list_tables().await.expect("list tables");
    assert!(
        !tables.iter().any(|t| t.starts_with("nhalf_")),
        "left behind: {tables:?}"
    );

    // Names without the namespace are refused before anything is sent.
    let mut step = rmw_step(1, 1);
    step.params["ddl"] = serde_json::json!([
        "CREATE TABLE counter (id STRING(64) NOT NULL, n INT64 NOT NULL) PRIMARY KEY (id)"
    ]);
    let outcome = d.native(&step).await;
    assert_eq!(outcome.verdict, NativeVerdict::Error, "{}", show(&outcome));
    assert!(outcome.observed.contains("{ns}_"), "{}", outcome.observed);

    let mut step = rmw_step(1, 1);
    step.check = "no_such_check".into();
    let outcome = d.native(&step).await;
    assert_eq!(
        outcome.verdict,
        NativeVerdict::Unsupported,
        "{}",
        show(&outcome)
    );

    // A step that cannot finish in time is an error, and still cleans up.
    let mut step = rmw_step(8, 100_000);
    step.timeout = Duration::from_secs(3);
    let outcome = d.native(&step).await;
    eprintln!("timed out: {}", show(&outcome));
    assert_eq!(outcome.verdict, NativeVerdict::Error, "{}", show(&outcome));
    assert!(
        outcome.observed.contains("timeout") || outcome.observed.contains("deadline"),
        "{}",
        outcome.observed
    );
    let tables = d.list_tables().await.expect("list tables");
    assert!(
        !tables.iter().any(|t| t.starts_with("nhalf_")),
        "left behind after a timeout: {tables:?}"
    );
    d.teardown().await.expect("teardown");
    emu.stop().await;
}
