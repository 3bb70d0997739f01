//! `kill_all_started` (the CLI's Ctrl-C path) takes down every group this process started
//! and refuses new starts. Its own test binary: it flips process-wide state.

mod common;

use assay_core::LocalBackend;
use assay_emulators::{kill_all_started, started_process_groups, Emulator, StartOptions};
use common::*;

#[tokio::test]
async fn kill_all_started_stops_everything_and_blocks_new_starts() {
    let Some(moto) = start_or_skip(LocalBackend::DynamodbMoto).await else {
        return;
    };
    let Some(postgres) = start_or_skip(LocalBackend::Postgres).await else {
        return;
    };
    let pids: Vec<u32> = moto.pids().into_iter().chain(postgres.pids()).collect();
    let groups: Vec<u32> = moto
        .process_groups()
        .into_iter()
        .chain(postgres.process_groups())
        .collect();
    for g in &groups {
        assert!(started_process_groups().contains(g));
    }

    kill_all_started();
    assert_gone(&pids, &groups);

    let err = Emulator::start(LocalBackend::DynamodbMoto, &StartOptions::for_tests())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("shutting down"), "{err}");

    // Dropping after the kill only reaps; the registry ends empty.
    drop(moto);
    drop(postgres);
    assert!(started_process_groups().is_empty());
}
