//! Every native step of every scenario in `scenarios/conformance/cosmos` against
//! cosmos-local (`@vercel/cosmosdb-server` behind Assay's adapter), started through the
//! emulators crate, with the exact verdict this stand-in earns asserted per step.

use assay_core::{Driver, DriverConfig, LocalBackend, NativeStep, NativeVerdict, Scenario};
use assay_driver_cosmos::CosmosDriver;
use assay_emulators::{Emulator, StartOptions};
use std::path::PathBuf;
use std::time::Duration;

fn scenario_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../scenarios/conformance/cosmos")
}

/// Every native step of every scenario file, in file-name order.
fn native_steps() -> Vec<(String, NativeStep)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("scenarios/conformance/cosmos exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut steps = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).expect("readable scenario");
        let scenario = Scenario::parse(&text, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
        for step in scenario.native {
            assert_eq!(step.family, "cosmos", "{name}: step `{}`", step.name);
            steps.push((name.clone(), step));
        }
    }
    steps
}

/// What cosmos-local earns per check, and why when it is not `pass`.
fn expected_on_cosmos_local(check: &str) -> NativeVerdict {
    match check {
        "container_partition_key" => NativeVerdict::Pass,
        // The server answers a point read of a missing item with 500 (a JavaScript
        // TypeError from its read handler), not 404.
        "item_crud" => NativeVerdict::Deviates,
        "create_conflict" => NativeVerdict::Pass,
        "etag_cas_counter" => NativeVerdict::Pass,
        "parameterised_query" => NativeVerdict::Pass,
        // The server runs batch operations one by one and does not roll back the ones
        // before a failing operation.
        "transactional_batch" => NativeVerdict::Deviates,
        // The server answers the first change feed request with the current documents and
        // every later one (If-None-Match set) with 304, so nothing written after the first
        // read is ever delivered from a continuation.
        "change_feed" => NativeVerdict::Deviates,
        // Every level is accepted, but the server returns no session tokens and has one
        // replica: the guarantees hold trivially and cannot be shown to come from the level.
        "consistency_levels" => NativeVerdict::Unverified,
        // Every op kind carries x-ms-request-charge, but always the constant 1.
        "request_charge" => NativeVerdict::Unverified,
        other => panic!("no expectation written down for cosmos.{other}"),
    }
}

#[tokio::test]
async fn native_steps_on_cosmos_local() {
    let steps = native_steps();
    assert!(steps.len() >= 9, "found {} native steps", steps.len());

    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::CosmosLocal, &opts.workspace_root)
    {
        return;
    }
    let emulator = Emulator::start(LocalBackend::CosmosLocal, &opts)
        .await
        .expect("cosmos-local starts");
    let namespace = format!("conf{}", std::process::id());
    let driver = CosmosDriver::connect(
        emulator.endpoint(),
        DriverConfig {
            namespace: namespace.clone(),
            op_timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("driver connects");

    let mut mismatches = Vec::new();
    for (file, step) in &steps {
        let outcome = driver.native(step).await;
        eprintln!(
            "{file} :: {} -> {} :: {}\n    evidence: {:?}\n    counters: {:?}\n    measurements: {:?}",
            step.qualified(),
            outcome.verdict,
            outcome.observed,
            outcome.evidence,
            outcome.counters,
            outcome.measurements
        );
        assert!(
            outcome.observed.contains("[fidelity: "),
            "{}: {}",
            step.name,
            outcome.observed
        );
        let expected = expected_on_cosmos_local(&step.check);
        if outcome.verdict != expected {
            mismatches.push(format!(
                "{file} `{}`: expected {expected}, got {} ({})",
                step.name, outcome.verdict, outcome.observed
            ));
        }
    }

    // Each check dropped its scratch database; teardown has nothing left to do.
    let left = driver
        .list_databases(&namespace)
        .await
        .expect("list databases");
    assert!(
        left.is_empty(),
        "native checks left databases behind: {left:?}"
    );
    driver.teardown().await.expect("teardown");
    emulator.stop().await;
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn unknown_checks_are_unsupported_and_create_nothing() {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::CosmosLocal, &opts.workspace_root)
    {
        return;
    }
    let emulator = Emulator::start(LocalBackend::CosmosLocal, &opts)
        .await
        .expect("cosmos-local starts");
    let namespace = format!("unk{}", std::process::id());
    let driver = CosmosDriver::connect(
        emulator.endpoint(),
        DriverConfig {
            namespace: namespace.clone(),
            op_timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("driver connects");
    let step = NativeStep {
        name: "x".into(),
        family: "cosmos".into(),
        check: "gsi_query".into(),
        params: serde_json::json!({}),
        documented: "d".into(),
        cite: "https://learn.microsoft.com/azure/cosmos-db/".into(),
        timeout: Duration::from_secs(10),
        after: 0,
        scenario_file: String::new(),
    };
    let outcome = driver.native(&step).await;
    assert_eq!(outcome.verdict, NativeVerdict::Unsupported, "{outcome:?}");
    assert!(
        outcome.observed.contains("gsi_query"),
        "{}",
        outcome.observed
    );
    assert!(driver
        .list_databases(&namespace)
        .await
        .expect("list")
        .is_empty());
    emulator.stop().await;
}

#[tokio::test]
async fn a_step_past_its_timeout_is_an_error_and_leaves_nothing_behind() {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(LocalBackend::CosmosLocal, &opts.workspace_root)
    {
        return;
    }
    let emulator = Emulator::start(LocalBackend::CosmosLocal, &opts)
        .await
        .expect("cosmos-local starts");
    let namespace = format!("tmo{}", std::process::id());
    let driver = CosmosDriver::connect(
        emulator.endpoint(),
        DriverConfig {
            namespace: namespace.clone(),
            op_timeout: Duration::from_secs(5),
        },
    )
    .await
    .expect("driver connects");
    // Far more work than two seconds allow on any backend.
    let step = NativeStep {
        name: "slow".into(),
        family: "cosmos".into(),
        check: "etag_cas_counter".into(),
        params: serde_json::json!({ "clients": 8, "increments": 10000 }),
        documented: "d".into(),
        cite: "https://learn.microsoft.com/azure/cosmos-db/".into(),
        timeout: Duration::from_secs(2),
        after: 0,
        scenario_file: String::new(),
    };
    let started = std::time::Instant::now();
    let outcome = driver.native(&step).await;
    assert_eq!(outcome.verdict, NativeVerdict::Error, "{outcome:?}");
    assert!(
        outcome.observed.contains("did not finish"),
        "{}",
        outcome.observed
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(driver
        .list_databases(&namespace)
        .await
        .expect("list")
        .is_empty());
    driver.teardown().await.expect("teardown");
    emulator.stop().await;
}
