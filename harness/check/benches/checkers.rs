//! Checker benchmarks against the targets: a 100k-transaction list-append
//! history (≤ 2 s), and 10k single-key register ops from 8 clients checked for
//! linearizability (≤ 1 s). Histories come from `assay_check::generate`, so they are
//! valid and every check must pass.

use assay_check::generate::{
    list_append_history, register_history, ListAppendWorkload, RegisterWorkload,
};
use assay_check::{check_history, Model};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn list_append_100k() -> Vec<assay_core::HistoryEvent> {
    list_append_history(&ListAppendWorkload {
        clients: 16,
        txns: 100_000,
        active_keys: 16,
        appends_per_key: 128,
        max_ops_per_txn: 4,
        failed: 0.01,
        indeterminate: 0.01,
        final_reads: true,
        seed: 42,
    })
}

fn register_10k() -> Vec<assay_core::HistoryEvent> {
    register_history(&RegisterWorkload {
        clients: 8,
        ops: 10_000,
        keys: 1,
        indeterminate: 0.01,
        final_reads: true,
        seed: 42,
    })
}

fn checkers(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    g.sample_size(10).measurement_time(Duration::from_secs(10));

    let txns = list_append_100k();
    g.bench_function("list_append_100k_txns/serializable", |b| {
        b.iter(|| {
            let v = check_history(black_box(&txns), Model::Serializable);
            assert!(v.valid, "{v}");
        })
    });
    g.bench_function("list_append_100k_txns/strict_serializable", |b| {
        b.iter(|| {
            let v = check_history(black_box(&txns), Model::Linearizable);
            assert!(v.valid, "{v}");
        })
    });
    drop(txns);

    let regs = register_10k();
    g.bench_function("register_10k_ops_8_clients/linearizable", |b| {
        b.iter(|| {
            let v = check_history(black_box(&regs), Model::Linearizable);
            assert!(v.valid, "{v}");
        })
    });
    g.finish();
}

criterion_group!(benches, checkers);
criterion_main!(benches);
