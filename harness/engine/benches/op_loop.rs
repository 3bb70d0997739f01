//! Criterion benches of the engine's hot paths: recording one completed op (HDR latency,
//! service time, interval series), generating one op (key distribution, value), and the
//! whole op loop against the null driver.

use assay_core::metrics::IntervalSeries;
use assay_core::{LatencyHistograms, OpKind, Outcome, Scenario};
use assay_engine::generate::{OpGenerator, ValueSource};
use assay_engine::{run_scenario, AbortSignal, EngineOptions, NullDriver};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::hint::black_box;
use std::sync::Arc;

fn scenario(body: &str) -> Scenario {
    let src = format!(
        "format = 1\nname = \"b\"\nkind = \"throughput\"\n[[setup.tables]]\nname = \"kv\"\n[workload]\nhistory = false\n{body}"
    );
    Scenario::parse(&src, "b.toml").expect("bench scenario parses")
}

fn recording(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    let mut latency = LatencyHistograms::default();
    let mut service = LatencyHistograms::default();
    let mut intervals = IntervalSeries::default();
    let mut t: u64 = 0;
    g.bench_function("latency+service+interval", |b| {
        b.iter(|| {
            t += 20_000;
            let v = black_box(150_000 + (t % 97) * 1000);
            latency.record(OpKind::Read, Outcome::Ok, v);
            service.record(OpKind::Read, Outcome::Ok, v - 1000);
            intervals.record(OpKind::Read, Outcome::Ok, t, v);
        })
    });
    g.finish();
}

fn generation(c: &mut Criterion) {
    let mut g = c.benchmark_group("generate");
    g.throughput(Throughput::Elements(1));
    for (name, mix, dist) in [
        ("ycsb-a zipfian", "read = 0.5, write = 0.5", "zipfian"),
        ("ycsb-c uniform", "read = 1", "uniform"),
    ] {
        let w = scenario(&format!(
            "duration = \"1s\"\nkeys = {{ prefix = \"user\", count = 1000000, digits = 10, distribution = \"{dist}\" }}\nmix = {{ {mix} }}\nvalue_size = 100"
        ))
        .workload
        .expect("workload");
        let gen = OpGenerator::new(&w);
        let mut rng = SmallRng::seed_from_u64(1);
        let values = ValueSource::new(w.value_size, &mut rng);
        g.bench_function(name, |b| b.iter(|| black_box(gen.next(&values, &mut rng))));
    }
    g.finish();
}

fn op_loop(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("op_loop");
    g.sample_size(10);
    let ops = 200_000u64;
    g.throughput(Throughput::Elements(ops));
    let s = scenario(&format!(
        "clients = 64\nduration = \"60s\"\nmax_ops = {ops}\nkeys = {{ prefix = \"user\", count = 100000, digits = 8 }}\nmix = {{ read = 0.5, write = 0.5 }}"
    ));
    g.bench_function("null driver, closed loop, 64 clients", |b| {
        b.iter_batched(
            || (),
            |()| {
                rt.block_on(run_scenario(
                    Arc::new(NullDriver),
                    &s,
                    EngineOptions::default(),
                    AbortSignal::default(),
                ))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, recording, generation, op_loop);
criterion_main!(benches);
