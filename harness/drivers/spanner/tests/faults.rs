//! A frozen or stopped emulator mid-test: every op comes back within the op timeout as
//! `fail` (unavailable, nothing applied) or `indeterminate`, never a hang or a panic.

mod common;

use assay_core::{Driver, DriverConfig, DriverErrorKind, ErrorClass, Op, OpResult, Outcome};
use assay_driver_spanner::SpannerDriver;
use assay_emulators::Emulator;
use common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SHORT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_millis(1500);

fn every_kind_of_op() -> Vec<Op> {
    vec![
        read("kv", "k"),
        query("kv", "k", Some(5)),
        write("kv", "k", "v2"),
        insert("kv", "new", "v"),
        cas("kv", "k", Some(1), "v3"),
        delete("kv", "k"),
        increment("kv", "n", 1),
        append("kv", "l", 1),
        Op::Batch {
            ops: vec![write("kv", "b", "1"), read("kv", "k")],
        },
        Op::Txn {
            ops: vec![write("kv", "t", "1"), increment("kv", "t", 1)],
        },
    ]
}

/// Runs all ops concurrently and returns each with how long it took.
async fn run_all(d: &Arc<SpannerDriver>) -> Vec<(Op, OpResult, Duration)> {
    let mut tasks = Vec::new();
    for op in every_kind_of_op() {
        let d = Arc::clone(d);
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = d.execute(&op).await;
            (op, r, started.elapsed())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("op task panicked"));
    }
    out
}

#[track_caller]
fn assert_bounded_failures(label: &str, results: &[(Op, OpResult, Duration)]) {
    for (op, r, took) in results {
        eprintln!("{label}: {} -> {:?} in {took:?}", op.kind(), r.error);
        assert!(
            *took <= SHORT_TIMEOUT + SLACK,
            "{label}: {op:?} took {took:?}"
        );
        match r.outcome {
            Outcome::Ok => panic!("{label}: {op:?} succeeded against a dead backend: {r:?}"),
            Outcome::Fail => assert!(
                matches!(
                    r.error_class(),
                    Some(ErrorClass::Unavailable | ErrorClass::Timeout)
                ),
                "{label}: {op:?} -> {r:?}"
            ),
            Outcome::Indeterminate => assert!(
                matches!(
                    r.error_class(),
                    Some(ErrorClass::Timeout | ErrorClass::ConnectionLost)
                ),
                "{label}: {op:?} -> {r:?}"
            ),
        }
        let message = &r.error.as_ref().expect("an error").message;
        assert!(!message.contains('\n'), "{message}");
    }
}

fn signal_groups(emu: &Emulator, signal: &str) {
    for pgid in emu.process_groups() {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} -{pgid}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_then_stopped_backend_gives_bounded_failures() {
    let Some(emu) = emulator().await else { return };
    let config = DriverConfig {
        namespace: "faults".into(),
        op_timeout: SHORT_TIMEOUT,
    };
    let d = Arc::new(
        SpannerDriver::connect(emu.endpoint(), config)
            .await
            .expect("connect"),
    );
    d.setup(&[table("kv")]).await.expect("setup");
    assert_ok(&d.execute(&write("kv", "k", "v1")).await);

    // Frozen: connections stay open but nothing answers.
    signal_groups(&emu, "STOP");
    let frozen = run_all(&d).await;
    signal_groups(&emu, "CONT");
    assert_bounded_failures("frozen", &frozen);
    for (op, r, _) in &frozen {
        // A read either reaches the frozen emulator and times out, or, under load, waits
        // for a session that cannot be created and gives up before sending: both are
        // bounded, and neither may be reported as ok.
        if matches!(op, Op::Read { .. } | Op::Query { .. }) {
            assert!(
                matches!(
                    r.error_class(),
                    Some(ErrorClass::Timeout | ErrorClass::Unavailable)
                ),
                "{op:?} -> {r:?}"
            );
        }
    }

    // Thawed, the same driver works again: the frozen ops left no stuck transaction
    // behind that blocks the emulator for long.
    let mut recovered = None;
    for _ in 0..20 {
        let r = d.execute(&write("kv", "after", "thaw")).await;
        if r.outcome == Outcome::Ok {
            recovered = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        recovered.is_some(),
        "no successful write within 20 attempts after thawing"
    );

    // Stopped. The first ops may still go out on a pooled connection that the dying
    // emulator has just closed: a write then fails before its commit (nothing applied),
    // a read may lose its answer (indeterminate, which for a read changes nothing).
    emu.stop().await;
    let dying = run_all(&d).await;
    assert_bounded_failures("dying", &dying);
    for (op, r, _) in &dying {
        if !matches!(op, Op::Read { .. } | Op::Query { .. }) {
            assert_eq!(r.outcome, Outcome::Fail, "{op:?} -> {r:?}");
        }
    }
    // Once the pooled connections are gone, every op is refused before anything is sent.
    let stopped = run_all(&d).await;
    assert_bounded_failures("stopped", &stopped);
    for (op, r, _) in &stopped {
        assert_eq!(r.outcome, Outcome::Fail, "{op:?} -> {r:?}");
        assert_eq!(
            r.error_class(),
            Some(ErrorClass::Unavailable),
            "{op:?} -> {r:?}"
        );
    }

    let started = Instant::now();
    let err = d
        .teardown()
        .await
        .expect_err("teardown cannot reach a stopped backend");
    assert_eq!(err.kind, DriverErrorKind::Unavailable, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
