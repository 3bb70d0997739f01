//! Checker benchmarks against issue #14's targets, each on a generated history (so it is
//! valid and every check must pass; a budget running out fails the bench too):
//! - `etcd_cas_register`: Jepsen etcd-style, 1 key, 160 ops of read / write / cas over
//!   five values, 5 clients, 20 crashed ops, parsed from EDN, linearizable (≤ 20 ms);
//! - `register_10k_ops_8_clients_5pct_timeouts`: one key and 100 keys (≤ 100 ms);
//! - `kv_50_clients`: Porcupine's key-value model, 50 clients, 10 keys (≤ 200 ms);
//! - `list_append_1m_txns`: Elle's list-append, serializable (≤ 3 s; peak RSS is
//!   measured by `examples/list_append_1m.rs`);
//! - the earlier 100k-transaction list-append benches, for comparison.

use assay_check::generate::{
    cas_register_edn, kv_edn, list_append_history, register_history, CasRegisterWorkload,
    KvWorkload, ListAppendWorkload, RegisterWorkload,
};
use assay_check::{check_history, edn, Model};
use assay_core::HistoryEvent;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn list_append(txns: usize) -> Vec<HistoryEvent> {
    list_append_history(&ListAppendWorkload {
        clients: 16,
        txns,
        active_keys: 16,
        appends_per_key: 128,
        max_ops_per_txn: 4,
        failed: 0.01,
        indeterminate: 0.01,
        final_reads: true,
        seed: 42,
    })
}

fn register_10k(keys: usize) -> Vec<HistoryEvent> {
    register_history(&RegisterWorkload {
        clients: 8,
        ops: 10_000,
        keys,
        indeterminate: 0.05,
        final_reads: true,
        seed: 42,
    })
}

fn etcd(seed: u64) -> Vec<HistoryEvent> {
    let text = cas_register_edn(&CasRegisterWorkload {
        clients: 5,
        ops: 160,
        crashed: 20,
        values: 5,
        seed,
    });
    edn::parse_history(&text).expect("generated EDN parses")
}

fn kv_50() -> Vec<HistoryEvent> {
    let text = kv_edn(&KvWorkload {
        clients: 50,
        ops: 5_000,
        keys: 10,
        indeterminate: 0.0,
        corrupt: false,
        seed: 42,
    });
    edn::parse_history(&text).expect("generated EDN parses")
}

fn bench_valid(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    h: &[HistoryEvent],
    model: Model,
) {
    g.bench_function(name, |b| {
        b.iter(|| {
            let v = check_history(black_box(h), model);
            assert!(v.valid, "{name}: {v}");
        })
    });
}

fn checkers(c: &mut Criterion) {
    let mut g = c.benchmark_group("check");
    g.sample_size(10).measurement_time(Duration::from_secs(5));

    for seed in [1, 2, 3] {
        let h = etcd(seed);
        bench_valid(
            &mut g,
            &format!("etcd_cas_register_160_ops_20_crashed/seed_{seed}"),
            &h,
            Model::Linearizable,
        );
    }
    for keys in [1, 100] {
        let h = register_10k(keys);
        bench_valid(
            &mut g,
            &format!("register_10k_ops_8_clients_5pct_timeouts/{keys}_keys"),
            &h,
            Model::Linearizable,
        );
    }
    let kv = kv_50();
    bench_valid(
        &mut g,
        "kv_50_clients_5k_ops_10_keys/linearizable",
        &kv,
        Model::Linearizable,
    );
    drop(kv);

    let txns = list_append(100_000);
    bench_valid(
        &mut g,
        "list_append_100k_txns/serializable",
        &txns,
        Model::Serializable,
    );
    bench_valid(
        &mut g,
        "list_append_100k_txns/strict_serializable",
        &txns,
        Model::StrictSerializable,
    );
    drop(txns);

    let txns = list_append(1_000_000);
    g.measurement_time(Duration::from_secs(30));
    bench_valid(
        &mut g,
        "list_append_1m_txns/serializable",
        &txns,
        Model::Serializable,
    );
    g.finish();
}

criterion_group!(benches, checkers);
criterion_main!(benches);
