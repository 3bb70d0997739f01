//! `cargo xtask bench` runs this: three measured figures of the load engine, in one run.
//!
//! 1. Null-driver throughput: a closed loop against the in-process null driver, HDR
//!    recording on, history off — the engine's own ceiling.
//! 2. Open-loop schedule accuracy at 50,000 ops/s: p50/p99/max of actual − intended start.
//! 3. Assay vs pgbench on a local PostgreSQL (started through the emulators crate): the same
//!    scale, clients and duration; the load phase against `pgbench -i`, TPC-B-like and
//!    select-only, each as `--pairs` interleaved runs of both (who goes first alternates),
//!    printed as the median ratio Assay / pgbench with min–max.
//! 4. The load phase on the DynamoDB stand-ins (moto, dynalite): BatchWriteItem of 25 vs
//!    one write request per row, rows/s.
//!
//! Flags: `--quick` (short runs, 2 pairs, for a smoke check), `--scale N` (pgbench scale,
//! default 10), `--clients N` (default 8), `--duration SECS` (default 10), `--pairs N`
//! (default 5), `--threads N` (Assay's runtime threads in figure 3, default 1: see
//! docs/decisions.md; figures 1 and 2 use one per CPU), `--workers N`, `--skip-pgbench`,
//! `--only-pgbench`, `--skip-dynamodb`.
//! Every number printed is measured in this run; nothing is assumed.

use assay_core::record::LoadPhaseRecord;
use assay_core::scenario::{MixOp, TableSpec, Workload};
use assay_core::{
    Capabilities, Driver, DriverConfig, DriverError, Endpoint, LocalBackend, Op, OpKind, OpResult,
    Outcome, Scenario,
};
use assay_driver_dynamodb::DynamodbDriver;
use assay_driver_postgres::{IsolationLevel, PostgresDriver, PostgresOptions};
use assay_emulators::{Emulator, StartOptions};
use assay_engine::{run_scenario, AbortSignal, EngineOptions, NullDriver, WorkloadStats};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    quick: bool,
    scale: u64,
    clients: u32,
    duration_s: u64,
    skip_pgbench: bool,
    /// Only figure 3 (the engine figures 1 and 2 take 20 s and do not depend on a backend).
    only_pgbench: bool,
    /// Runtime threads for Assay's side of figure 3, as `assay run --threads N`.
    threads: usize,
    /// Engine worker tasks against PostgreSQL (default: the engine's).
    workers: usize,
    /// Interleaved Assay / pgbench pairs per workload.
    pairs: usize,
    /// Leave out figure 4 (the DynamoDB stand-ins' load phase).
    skip_dynamodb: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        scale: 10,
        clients: 8,
        duration_s: 10,
        skip_pgbench: false,
        only_pgbench: false,
        threads: 1,
        workers: 0,
        pairs: 5,
        skip_dynamodb: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a whole number, e.g. {name} 10"))
        };
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--skip-pgbench" => a.skip_pgbench = true,
            "--only-pgbench" => a.only_pgbench = true,
            "--scale" => a.scale = num("--scale")?.max(1),
            "--clients" => a.clients = num("--clients")?.clamp(1, 128) as u32,
            "--duration" => a.duration_s = num("--duration")?.max(1),
            "--threads" => a.threads = num("--threads")?.clamp(1, 64) as usize,
            "--workers" => a.workers = num("--workers")?.clamp(1, 64) as usize,
            "--pairs" => a.pairs = num("--pairs")?.clamp(1, 100) as usize,
            "--skip-dynamodb" => a.skip_dynamodb = true,
            other => return Err(format!("unknown option `{other}`; use --quick, --scale N, --clients N, --duration SECS, --pairs N, --threads N, --workers N, --skip-pgbench, --only-pgbench, --skip-dynamodb")),
        }
    }
    if a.skip_pgbench && a.only_pgbench {
        return Err("--skip-pgbench and --only-pgbench exclude each other; pick one".into());
    }
    if a.quick {
        a.duration_s = a.duration_s.min(3);
        a.scale = a.scale.min(1);
        a.pairs = a.pairs.min(2);
    }
    Ok(a)
}

fn workload_scenario(body: &str) -> Scenario {
    let src = format!(
        "format = 1\nname = \"bench\"\nkind = \"throughput\"\n[[setup.tables]]\nname = \"accounts\"\n[[setup.tables]]\nname = \"tellers\"\n[[setup.tables]]\nname = \"branches\"\n[[setup.tables]]\nname = \"history\"\n[workload]\nhistory = false\n{body}"
    );
    Scenario::parse(&src, "bench.toml").unwrap_or_else(|e| {
        eprintln!("bench: internal scenario does not parse: {e}");
        std::process::exit(2)
    })
}

async fn run_workload(
    driver: Arc<dyn Driver>,
    s: &Scenario,
    opts: EngineOptions,
) -> Result<WorkloadStats, String> {
    let run = run_scenario(driver, s, opts, AbortSignal::default()).await;
    if let Some(reason) = run.aborted {
        return Err(reason);
    }
    run.workload
        .ok_or_else(|| "the workload did not run".to_string())
}

fn fmt_us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}

/// (1) The engine's ceiling: closed loop on the null driver.
async fn null_throughput(quick: bool) -> Result<f64, String> {
    let secs = if quick { 2 } else { 10 };
    let s = workload_scenario(&format!(
        "clients = 64\nduration = \"{secs}s\"\nkeys = {{ prefix = \"user\", count = 100000, digits = 8, distribution = \"zipfian\" }}\nmix = {{ read = 0.5, write = 0.5 }}\nvalue_size = 100"
    ));
    let w = run_workload(Arc::new(NullDriver), &s, EngineOptions::default()).await?;
    let rate = w.ops as f64 / w.measured.as_secs_f64();
    let h = w.latency.combined(None, &Outcome::ALL);
    println!(
        "1. null driver, closed loop, 64 clients, YCSB-A mix (50 % read / 50 % 100-byte write, zipfian), HDR on, history off, {} CPUs:\n   {:.0} ops/s ({} ops in {:.2} s; latency p50 {} p99 {}; target ≥ 1,000,000 ops/s: {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rate,
        w.ops,
        w.measured.as_secs_f64(),
        fmt_us(h.value_at_quantile(0.5)),
        fmt_us(h.value_at_quantile(0.99)),
        if rate >= 1_000_000.0 { "met" } else { "NOT met" }
    );
    Ok(rate)
}

/// (2) Open-loop schedule accuracy at 50,000 ops/s on the null driver.
async fn schedule_accuracy(quick: bool) -> Result<u64, String> {
    let secs = if quick { 3 } else { 10 };
    let s = workload_scenario(&format!(
        "rate = 50000\nmax_in_flight = 256\nwarmup = \"1s\"\nduration = \"{secs}s\"\nkeys = {{ prefix = \"user\", count = 100000, digits = 8 }}\nmix = {{ read = 0.5, write = 0.5 }}"
    ));
    let w = run_workload(Arc::new(NullDriver), &s, EngineOptions::default()).await?;
    let lag = &w.schedule_lag;
    let p99 = lag.value_at_quantile(0.99);
    println!(
        "2. open loop at 50,000 ops/s for {secs} s (null driver): schedule lag (actual − intended start) p50 {} p99 {} p99.9 {} max {}; {} ops, achieved {:.0} ops/s, late (≥ 1 ms) {}, dropped {}; target p99 ≤ 100 µs: {}",
        fmt_us(lag.value_at_quantile(0.5)),
        fmt_us(p99),
        fmt_us(lag.value_at_quantile(0.999)),
        fmt_us(lag.max()),
        w.ops,
        w.ops as f64 / w.measured.as_secs_f64(),
        w.late,
        w.dropped,
        if p99 <= 100_000 { "met" } else { "NOT met" }
    );
    Ok(p99)
}

struct PgUrl {
    user: String,
    password: String,
    host: String,
    port: String,
    db: String,
}

fn parse_pg_url(url: &str) -> Option<PgUrl> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let (auth, hostpart) = rest.split_once('@')?;
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = hostpart.split_once('/')?;
    let db = db.split('?').next().unwrap_or(db);
    let (host, port) = hostport.rsplit_once(':')?;
    Some(PgUrl {
        user: user.into(),
        password: password.into(),
        host: host.into(),
        port: port.into(),
        db: db.into(),
    })
}

fn pgbench_path() -> Option<PathBuf> {
    let fixed = PathBuf::from("/usr/lib/postgresql/15/bin/pgbench");
    if fixed.is_file() {
        return Some(fixed);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("pgbench"))
            .find(|c| c.is_file())
    })
}

/// Runs pgbench with a bound; returns its stdout.
async fn pgbench(
    bin: &Path,
    pg: &PgUrl,
    args: &[String],
    bound: Duration,
) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["-h", &pg.host, "-p", &pg.port, "-U", &pg.user])
        .args(args)
        .arg(&pg.db)
        .env("PGPASSWORD", &pg.password)
        .kill_on_drop(true);
    let out = tokio::time::timeout(bound, cmd.output())
        .await
        .map_err(|_| format!("pgbench {} did not finish within {bound:?}", args.join(" ")))?
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "pgbench {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pgbench_tps(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// (3) Assay vs pgbench, TPC-B-like and select-only.
async fn versus_pgbench(a: &Args) -> Result<(), String> {
    let bin = pgbench_path().ok_or(
        "pgbench not found (install postgresql-client / the PostgreSQL 15 server package)",
    )?;
    let opts = StartOptions::for_tests();
    let emu = Emulator::start(LocalBackend::Postgres, &opts)
        .await
        .map_err(|e| format!("cannot start PostgreSQL: {e}"))?;
    let result = versus_pgbench_on(a, &bin, emu.endpoint()).await;
    emu.stop().await;
    result
}

/// Median, min and max of `v` (non-empty).
fn median_min_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (median, s[0], s[n - 1])
}

/// `median 1.23× (min 1.10 – max 1.30, N pairs)`.
fn ratio_line(ratios: &[f64]) -> String {
    let (med, min, max) = median_min_max(ratios);
    format!(
        "median {med:.2}× (min {min:.2} – max {max:.2}, {} pairs); target ≥ 1.0: {}",
        ratios.len(),
        if med >= 1.0 { "met" } else { "NOT met" }
    )
}

fn median(v: &[f64]) -> f64 {
    median_min_max(v).0
}

/// Runs the scenario's load phase (and a one-op workload after it); returns what the load
/// phase recorded.
async fn run_load(
    driver: Arc<dyn Driver>,
    s: &Scenario,
    opts: EngineOptions,
) -> Result<LoadPhaseRecord, String> {
    let run = run_scenario(driver, s, opts, AbortSignal::default()).await;
    if let Some(reason) = run.aborted {
        return Err(reason);
    }
    let load = run.load.ok_or("the load phase did not run")?;
    if load.rows_written != load.rows_planned {
        return Err(format!(
            "the load wrote {} of {} rows (first error: {})",
            load.rows_written,
            load.rows_planned,
            load.first_error.as_deref().unwrap_or("-")
        ));
    }
    Ok(load)
}

/// A workload scenario that only loads: the load phase, then a single read.
fn load_only(mut s: Scenario) -> Scenario {
    if let Some(w) = s.workload.as_mut() {
        w.load = true;
        w.mix = vec![(MixOp::Read, 1.0)];
        w.duration = Duration::from_secs(1);
        w.max_ops = Some(1);
    }
    s
}

async fn versus_pgbench_on(a: &Args, bin: &Path, endpoint: &Endpoint) -> Result<(), String> {
    let Endpoint::Postgres { url, .. } = endpoint else {
        return Err("the emulators crate did not return a PostgreSQL endpoint".into());
    };
    let pg = parse_pg_url(url.expose()).ok_or("cannot read the PostgreSQL URL")?;
    let (scale, clients, secs, threads, pairs) =
        (a.scale, a.clients, a.duration_s, a.threads, a.pairs);
    let run_bound = Duration::from_secs(secs + 120);
    let jobs = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(clients as usize)
        .to_string();
    let pgbench_run = |select_only: bool| {
        let mut args: Vec<String> = Vec::new();
        if select_only {
            args.push("-S".into());
        }
        // -n: the bench has just vacuumed both sides (see `vacuum_both`).
        for arg in [
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            &jobs,
            "-T",
            &secs.to_string(),
        ] {
            args.push(arg.to_string());
        }
        args
    };
    let pgbench_init: Vec<String> = vec!["-i".into(), "-q".into(), "-s".into(), scale.to_string()];

    // Assay: the same server, its own schema, the same number of accounts.
    let config = DriverConfig {
        namespace: format!("assay_bench_{}", std::process::id()),
        op_timeout: Duration::from_secs(10),
    };
    let options = PostgresOptions {
        pool_size: clients,
        // pgbench's default isolation, so both sides do the same work.
        isolation: IsolationLevel::ReadCommitted,
    };
    let driver = PostgresDriver::connect_with(endpoint, config, options)
        .await
        .map_err(|e| format!("cannot connect the postgres driver: {e}"))?;
    eprintln!(
        "bench: Assay's op connections use the {} client",
        driver.op_client()
    );
    let schema = driver.schema_name().to_string();
    let driver: Arc<dyn Driver> = Arc::new(driver);
    let accounts = scale * 100_000;
    let tpcb = workload_scenario(&format!(
        "clients = {clients}\nduration = \"{secs}s\"\ntable = \"accounts\"\nkeys = {{ prefix = \"account\", count = {accounts} }}\nmix = {{ tpcb = 1 }}\nvalue_size = 84"
    ));
    let result = async {
        let engine = EngineOptions {
            op_timeout: Duration::from_secs(10),
            workers: a.workers,
            ..EngineOptions::default()
        };

        // (a) The load phase against `pgbench -i`, interleaved, alternating who goes
        // first. pgbench's time is its whole `-i` (drop, create, generate with COPY,
        // vacuum, primary keys); Assay's is its setup (schema + tables with their primary
        // keys) plus the load phase.
        let load = load_only(tpcb.clone());
        let mut load_ratios = Vec::new();
        let (mut pg_times, mut assay_times) = (Vec::new(), Vec::new());
        let mut method = String::new();
        for pair in 0..pairs {
            let mut pg_secs = 0.0;
            let mut assay_secs = 0.0;
            for side in [pair % 2, 1 - pair % 2] {
                if side == 0 {
                    let started = Instant::now();
                    pgbench(bin, &pg, &pgbench_init, Duration::from_secs(600)).await?;
                    pg_secs = started.elapsed().as_secs_f64();
                } else {
                    tokio::time::timeout(Duration::from_secs(120), driver.teardown())
                        .await
                        .map_err(|_| "teardown did not finish in 120 s".to_string())?
                        .map_err(|e| format!("teardown: {e}"))?;
                    let started = Instant::now();
                    driver
                        .setup(&tpcb.tables)
                        .await
                        .map_err(|e| format!("setup: {e}"))?;
                    let setup_secs = started.elapsed().as_secs_f64();
                    let l = run_load(driver.clone(), &load, engine.clone()).await?;
                    assay_secs = setup_secs + l.elapsed_ns as f64 / 1e9;
                    method = format!("{}, {} × {} rows", l.method, l.writers, l.rows_per_call);
                }
            }
            let ratio = pg_secs / assay_secs;
            eprintln!(
                "bench: load pair {}: pgbench -i -s {scale} {pg_secs:.2} s, Assay {assay_secs:.2} s → {ratio:.2}×",
                pair + 1
            );
            load_ratios.push(ratio);
            pg_times.push(pg_secs);
            assay_times.push(assay_secs);
        }

        let tables = |prefix: &str, names: [&str; 4]| {
            names.iter().map(|t| format!("{prefix}{t}")).collect::<Vec<_>>()
        };
        let mut both = tables("pgbench_", ["accounts", "branches", "tellers", "history"]);
        both.extend(tables(
            &format!("\"{schema}\"."),
            ["accounts", "branches", "tellers", "history"],
        ));

        // (b) TPC-B-like and (c) select-only: pairs interleaved, alternating who goes
        // first, each run on freshly vacuumed tables so neither side runs while autovacuum
        // cleans up after the other.
        let mut figures = Vec::new();
        for select_only in [false, true] {
            let mut scenario = tpcb.clone();
            if select_only {
                let sw: &mut Workload = scenario.workload.as_mut().ok_or("no workload")?;
                sw.mix = vec![(MixOp::Read, 1.0)];
            }
            let kind = if select_only { OpKind::Read } else { OpKind::Txn };
            let (mut ratios, mut pg_tps, mut assay_tps, mut failed) =
                (Vec::new(), Vec::new(), Vec::new(), 0);
            for pair in 0..pairs {
                let (mut p, mut q) = (0.0, 0.0);
                for side in [pair % 2, 1 - pair % 2] {
                    if side == 1 && !select_only {
                        // TPC-B's history keys start over with every run (pgbench's history
                        // has no key): empty Assay's, as `pgbench -i` empties pgbench's.
                        psql(bin, &pg, &[format!("TRUNCATE \"{schema}\".history")]).await?;
                    }
                    vacuum_both(bin, &pg, &both).await?;
                    if side == 0 {
                        let out = pgbench(bin, &pg, &pgbench_run(select_only), run_bound).await?;
                        p = pgbench_tps(&out).ok_or("no tps line in pgbench's output")?;
                    } else {
                        let w = run_workload(driver.clone(), &scenario, engine.clone()).await?;
                        q = w.latency.count(Some(kind), &[Outcome::Ok]) as f64
                            / w.measured.as_secs_f64();
                        failed += w
                            .latency
                            .count(Some(kind), &[Outcome::Fail, Outcome::Indeterminate]);
                    }
                }
                let ratio = if p > 0.0 { q / p } else { 0.0 };
                eprintln!(
                    "bench: {} pair {}: pgbench {p:.0} TPS, Assay {q:.0} TPS → {ratio:.2}×",
                    if select_only { "select-only" } else { "TPC-B-like" },
                    pair + 1
                );
                ratios.push(ratio);
                pg_tps.push(p);
                assay_tps.push(q);
            }
            figures.push((ratios, median(&pg_tps), median(&assay_tps), failed));
        }
        let [(tpcb_r, tpcb_pg, tpcb_assay, tpcb_failed), (sel_r, sel_pg, sel_assay, _)] =
            <[_; 2]>::try_from(figures).map_err(|_| "two workloads")?;
        println!(
            "3. Assay vs pgbench on local PostgreSQL, scale {scale} ({accounts} accounts), {clients} clients, {secs} s per run, READ COMMITTED, {pairs} interleaved pairs per workload (order alternating), tables vacuumed before each run; pgbench -j {jobs}, Assay {threads} runtime thread(s); ratio = Assay / pgbench:\n   load phase vs pgbench -i: {} — pgbench -i median {:.2} s, Assay setup + load median {:.2} s ({method})\n   TPC-B-like:  {} — pgbench median {tpcb_pg:.0} TPS, Assay median {tpcb_assay:.0} TPS (+{tpcb_failed} failed txns in all)\n   select-only: {} — pgbench median {sel_pg:.0} TPS, Assay median {sel_assay:.0} TPS",
            ratio_line(&load_ratios),
            median(&pg_times),
            median(&assay_times),
            ratio_line(&tpcb_r),
            ratio_line(&sel_r),
        );
        Ok(())
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(60), driver.teardown()).await;
    result
}

/// The per-row load path of any driver: every method but the bulk ones delegates, so the
/// load phase takes the trait's default (one `write` per row, 16 in flight).
struct PerRow(Arc<dyn Driver>);

#[async_trait::async_trait]
impl Driver for PerRow {
    fn family(&self) -> &'static str {
        self.0.family()
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        self.0.setup(tables).await
    }
    async fn execute(&self, op: &Op) -> OpResult {
        self.0.execute(op).await
    }
    async fn teardown(&self) -> Result<(), DriverError> {
        self.0.teardown().await
    }
}

/// (4) The load phase on the DynamoDB stand-ins: BatchWriteItem of 25 against one write
/// request per row, interleaved, the median of each.
async fn dynamodb_load(a: &Args) -> Result<(), String> {
    let keys: u64 = if a.quick { 1_000 } else { 10_000 };
    let runs = if a.quick { 1 } else { 3 };
    let mut lines = Vec::new();
    for backend in [LocalBackend::DynamodbMoto, LocalBackend::DynamodbDynalite] {
        let opts = StartOptions::for_tests();
        let emu = match Emulator::start(backend, &opts).await {
            Ok(emu) => emu,
            Err(e) => {
                lines.push(format!("   {backend}: could not start ({e})"));
                continue;
            }
        };
        let result = async {
            let config = DriverConfig {
                namespace: format!("assay_bench_{}", std::process::id()),
                op_timeout: Duration::from_secs(10),
            };
            let driver: Arc<dyn Driver> = Arc::new(
                DynamodbDriver::connect(emu.endpoint(), config)
                    .await
                    .map_err(|e| format!("connect: {e}"))?,
            );
            let per_row: Arc<dyn Driver> = Arc::new(PerRow(driver.clone()));
            let s = load_only(workload_scenario(&format!(
                "clients = 1\nduration = \"1s\"\ntable = \"accounts\"\nkeys = {{ prefix = \"user\", count = {keys}, digits = 8 }}\nmix = {{ read = 1 }}\nvalue_size = 100"
            )));
            let (mut batched, mut single) = (Vec::new(), Vec::new());
            let mut method = String::new();
            for run in 0..runs {
                for side in [run % 2, 1 - run % 2] {
                    let d = if side == 0 { &driver } else { &per_row };
                    d.setup(&s.tables).await.map_err(|e| format!("setup: {e}"))?;
                    let l = run_load(d.clone(), &s, EngineOptions::default()).await?;
                    d.teardown().await.map_err(|e| format!("teardown: {e}"))?;
                    if side == 0 {
                        method = format!("{}, {} × {} rows", l.method, l.writers, l.rows_per_call);
                        batched.push(l.rows_per_s);
                    } else {
                        single.push(l.rows_per_s);
                    }
                }
            }
            let (b, s) = (median(&batched), median(&single));
            Ok::<_, String>(format!(
                "   {backend}: batched {b:.0} rows/s ({method}) vs one write request per row {s:.0} rows/s (UpdateItem, 16 in flight) → {:.1}× (medians of {runs} run(s) each)",
                b / s
            ))
        }
        .await;
        emu.stop().await;
        lines.push(result.unwrap_or_else(|e| format!("   {backend}: failed: {e}")));
    }
    println!(
        "4. load phase of {keys} keys (100-byte values) on the DynamoDB stand-ins:\n{}",
        lines.join("\n")
    );
    Ok(())
}

/// `VACUUM ANALYZE` of both sides' tables through `psql` (from the same directory as
/// pgbench), bounded.
async fn vacuum_both(pgbench_bin: &Path, pg: &PgUrl, tables: &[String]) -> Result<(), String> {
    let commands: Vec<String> = tables
        .iter()
        .map(|t| format!("VACUUM ANALYZE {t}"))
        .collect();
    psql(pgbench_bin, pg, &commands).await
}

/// Runs each command through `psql` (from the same directory as pgbench), bounded.
async fn psql(pgbench_bin: &Path, pg: &PgUrl, commands: &[String]) -> Result<(), String> {
    let psql = pgbench_bin.with_file_name("psql");
    let mut cmd = tokio::process::Command::new(&psql);
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &pg.host, "-p", &pg.port, "-U", &pg.user, "-d", &pg.db]);
    // One `-c` per table: psql runs a multi-statement `-c` as one transaction, and VACUUM
    // cannot run inside one.
    for c in commands {
        cmd.arg("-c").arg(c);
    }
    cmd.env("PGPASSWORD", &pg.password).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .map_err(|_| "psql did not finish within 300 s".to_string())?
        .map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
    if !out.status.success() {
        return Err(format!(
            "psql failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = |threads: Option<usize>| {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = threads {
            builder.worker_threads(n);
        }
        builder.enable_all().build().map_err(|e| {
            eprintln!("bench: error: cannot start the async runtime: {e}");
            ExitCode::from(2)
        })
    };
    let mut failed = false;
    if !args.only_pgbench {
        // The engine alone: one runtime thread per CPU.
        let rt = match runtime(None) {
            Ok(rt) => rt,
            Err(code) => return code,
        };
        rt.block_on(engine_figures(&args, &mut failed));
    }
    if args.skip_pgbench {
        println!("3. Assay vs pgbench: skipped (--skip-pgbench)");
    } else {
        // Assay's side on its own runtime, sized by --threads (pgbench runs as a child
        // process with its own -j).
        let rt = match runtime(Some(args.threads)) {
            Ok(rt) => rt,
            Err(code) => return code,
        };
        if let Err(e) = rt.block_on(versus_pgbench(&args)) {
            eprintln!("bench: error: Assay vs pgbench: {e}");
            failed = true;
        }
    }
    if args.skip_dynamodb || args.only_pgbench {
        println!("4. DynamoDB stand-ins' load phase: skipped");
    } else {
        let rt = match runtime(None) {
            Ok(rt) => rt,
            Err(code) => return code,
        };
        if let Err(e) = rt.block_on(dynamodb_load(&args)) {
            eprintln!("bench: error: DynamoDB load phase: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// Figures 1 and 2: the engine alone, on the null driver.
async fn engine_figures(args: &Args, failed: &mut bool) {
    for (name, r) in [
        (
            "null-driver throughput",
            null_throughput(args.quick).await.map(|_| ()),
        ),
        (
            "schedule accuracy",
            schedule_accuracy(args.quick).await.map(|_| ()),
        ),
    ] {
        if let Err(e) = r {
            eprintln!("bench: error: {name}: {e}");
            *failed = true;
        }
    }
}
