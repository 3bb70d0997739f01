//! Shared helpers of the Spanner driver's integration tests: starting the emulator through
//! the emulators crate, connecting, and building ops.

#![allow(dead_code)] // each test binary uses a different subset

use assay_core::{DriverConfig, LocalBackend, Op, OpResult, OpValue, Outcome, Record};
use assay_driver_spanner::SpannerDriver;
use assay_emulators::{Emulator, StartOptions};
use std::time::Duration;

pub const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// A started emulator, or `None` (with the reason printed) when its binaries are not
/// installed on this machine.
pub async fn emulator() -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(
        LocalBackend::SpannerEmulator,
        &opts.workspace_root,
    ) {
        return None;
    }
    let started = std::time::Instant::now();
    match Emulator::start(LocalBackend::SpannerEmulator, &opts).await {
        Ok(emu) => {
            eprintln!(
                "{} started and provisioned in {:?}",
                emu.version().unwrap_or_else(|| "spanner emulator".into()),
                started.elapsed()
            );
            Some(emu)
        }
        Err(e) => panic!("the Cloud Spanner emulator is installed but did not start: {e}"),
    }
}

pub fn config(namespace: &str) -> DriverConfig {
    DriverConfig {
        namespace: namespace.to_string(),
        op_timeout: OP_TIMEOUT,
    }
}

pub async fn driver(emu: &Emulator, namespace: &str) -> SpannerDriver {
    SpannerDriver::connect(emu.endpoint(), config(namespace))
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", emu.endpoint().display_safe()))
}

pub fn table(name: &str) -> assay_core::scenario::TableSpec {
    assay_core::scenario::TableSpec {
        name: name.to_string(),
    }
}

pub fn read(t: &str, k: &str) -> Op {
    Op::Read {
        table: t.into(),
        key: k.into(),
        consistency: assay_core::Consistency::Strong,
    }
}

pub fn write(t: &str, k: &str, v: &str) -> Op {
    Op::Write {
        table: t.into(),
        key: k.into(),
        value: v.into(),
    }
}

pub fn insert(t: &str, k: &str, v: &str) -> Op {
    Op::InsertIfAbsent {
        table: t.into(),
        key: k.into(),
        value: v.into(),
    }
}

pub fn cas(t: &str, k: &str, expected: Option<u64>, v: &str) -> Op {
    Op::CompareAndSet {
        table: t.into(),
        key: k.into(),
        expected_version: expected,
        value: v.into(),
    }
}

pub fn delete(t: &str, k: &str) -> Op {
    Op::Delete {
        table: t.into(),
        key: k.into(),
    }
}

pub fn increment(t: &str, k: &str, by: i64) -> Op {
    Op::Increment {
        table: t.into(),
        key: k.into(),
        by,
    }
}

pub fn append(t: &str, k: &str, element: i64) -> Op {
    Op::Append {
        table: t.into(),
        key: k.into(),
        element,
    }
}

pub fn query(t: &str, prefix: &str, limit: Option<u32>) -> Op {
    Op::Query {
        table: t.into(),
        prefix: prefix.into(),
        limit,
    }
}

#[track_caller]
pub fn assert_ok(r: &OpResult) {
    assert_eq!(r.outcome, Outcome::Ok, "expected ok, got {r:?}");
}

/// The record of a successful point read.
#[track_caller]
pub fn record(r: OpResult) -> Option<Record> {
    assert_ok(&r);
    match r.value {
        OpValue::Record(rec) => rec,
        other => panic!("expected a record, got {other:?}"),
    }
}

#[track_caller]
pub fn records(r: OpResult) -> Vec<Record> {
    assert_ok(&r);
    match r.value {
        OpValue::Records(recs) => recs,
        other => panic!("expected records, got {other:?}"),
    }
}

#[track_caller]
pub fn results(r: OpResult) -> Vec<OpResult> {
    assert_ok(&r);
    match r.value {
        OpValue::Results(rs) => rs,
        other => panic!("expected per-op results, got {other:?}"),
    }
}
