//! `cargo xtask bench` runs this: three measured figures of the load engine, in one run.
//!
//! 1. Null-driver throughput: a closed loop against the in-process null driver, HDR
//!    recording on, history off — the engine's own ceiling.
//! 2. Open-loop schedule accuracy at 50,000 ops/s: p50/p99/max of actual − intended start.
//! 3. Assay vs pgbench on a local PostgreSQL (started through the emulators crate): the same
//!    scale, clients and duration, TPC-B-like and select-only, as a TPS ratio.
//!
//! Flags: `--quick` (short runs, for a smoke check), `--scale N` (pgbench scale, default
//! 10), `--clients N` (default 8), `--duration SECS` (default 20), `--threads N` (Assay's
//! runtime threads in figure 3, default 1: see docs/decisions.md; figures 1 and 2 use one
//! per CPU), `--workers N`, `--skip-pgbench`,
//! `--only-pgbench`.
//! Every number printed is measured in this run; nothing is assumed.

use assay_core::scenario::{MixOp, Workload};
use assay_core::{Driver, DriverConfig, Endpoint, LocalBackend, OpKind, Outcome, Scenario};
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
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        scale: 10,
        clients: 8,
        duration_s: 20,
        skip_pgbench: false,
        only_pgbench: false,
        threads: 1,
        workers: 0,
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
            other => return Err(format!("unknown option `{other}`; use --quick, --scale N, --clients N, --duration SECS, --threads N, --workers N, --skip-pgbench, --only-pgbench")),
        }
    }
    if a.skip_pgbench && a.only_pgbench {
        return Err("--skip-pgbench and --only-pgbench exclude each other; pick one".into());
    }
    if a.quick {
        a.duration_s = a.duration_s.min(5);
        a.scale = a.scale.min(1);
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

async fn versus_pgbench_on(a: &Args, bin: &Path, endpoint: &Endpoint) -> Result<(), String> {
    let Endpoint::Postgres { url, .. } = endpoint else {
        return Err("the emulators crate did not return a PostgreSQL endpoint".into());
    };
    let pg = parse_pg_url(url.expose()).ok_or("cannot read the PostgreSQL URL")?;
    let (scale, clients, secs, threads) = (a.scale, a.clients, a.duration_s, a.threads);
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

    let started = Instant::now();
    pgbench(
        bin,
        &pg,
        &["-i".into(), "-q".into(), "-s".into(), scale.to_string()],
        Duration::from_secs(600),
    )
    .await?;
    eprintln!(
        "bench: pgbench -i -s {scale} took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Assay: the same server, its own schema, the same number of accounts, loaded first.
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
    driver
        .setup(&tpcb.tables)
        .await
        .map_err(|e| format!("setup: {e}"))?;
    let result = async {
        let engine = EngineOptions {
            op_timeout: Duration::from_secs(10),
            workers: a.workers,
            ..EngineOptions::default()
        };
        let started = Instant::now();
        let mut load = tpcb.clone();
        let lw: &mut Workload = load.workload.as_mut().ok_or("no workload")?;
        lw.load = true;
        lw.mix = vec![(MixOp::Read, 1.0)];
        lw.duration = Duration::from_secs(1);
        run_workload(driver.clone(), &load, engine.clone()).await?;
        eprintln!(
            "bench: Assay loaded {accounts} accounts in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let tables = |prefix: &str, names: [&str; 4]| {
            names.iter().map(|t| format!("{prefix}{t}")).collect::<Vec<_>>()
        };
        let mut both = tables("pgbench_", ["accounts", "branches", "tellers", "history"]);
        both.extend(tables(
            &format!("\"{schema}\"."),
            ["accounts", "branches", "tellers", "history"],
        ));

        // Each workload: pgbench, then Assay, each on freshly vacuumed tables, so neither
        // side runs while autovacuum cleans up after the other.
        vacuum_both(bin, &pg, &both).await?;
        let out = pgbench(bin, &pg, &pgbench_run(false), run_bound).await?;
        let pg_tpcb = pgbench_tps(&out).ok_or("no tps line in pgbench's output")?;
        vacuum_both(bin, &pg, &both).await?;
        let w = run_workload(driver.clone(), &tpcb, engine.clone()).await?;
        let assay_tpcb = w.latency.count(Some(OpKind::Txn), &[Outcome::Ok]) as f64 / w.measured.as_secs_f64();
        let tpcb_failed = w.latency.count(Some(OpKind::Txn), &[Outcome::Fail, Outcome::Indeterminate]);

        vacuum_both(bin, &pg, &both).await?;
        let out = pgbench(bin, &pg, &pgbench_run(true), run_bound).await?;
        let pg_select = pgbench_tps(&out).ok_or("no tps line in pgbench's output")?;
        vacuum_both(bin, &pg, &both).await?;
        let mut select = tpcb.clone();
        let sw: &mut Workload = select.workload.as_mut().ok_or("no workload")?;
        sw.mix = vec![(MixOp::Read, 1.0)];
        let w2 = run_workload(driver.clone(), &select, engine).await?;
        let assay_select = w2.latency.count(Some(OpKind::Read), &[Outcome::Ok]) as f64 / w2.measured.as_secs_f64();
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let verdict = |r: f64| if r >= 1.0 { "met" } else { "NOT met" };
        println!(
            "3. Assay vs pgbench on local PostgreSQL, scale {scale} ({accounts} accounts), {clients} clients, {secs} s each, READ COMMITTED, tables vacuumed before each run; pgbench -j {jobs}, Assay {threads} runtime thread(s):\n   TPC-B-like:  pgbench {pg_tpcb:.0} TPS, Assay {assay_tpcb:.0} TPS (+{tpcb_failed} failed txns) → ratio {:.2} (target ≥ 1.0: {})\n   select-only: pgbench {pg_select:.0} TPS, Assay {assay_select:.0} TPS → ratio {:.2} (target ≥ 1.0: {})",
            ratio(assay_tpcb, pg_tpcb),
            verdict(ratio(assay_tpcb, pg_tpcb)),
            ratio(assay_select, pg_select),
            verdict(ratio(assay_select, pg_select)),
        );
        Ok(())
    }
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(60), driver.teardown()).await;
    result
}

/// `VACUUM ANALYZE` of both sides' tables through `psql` (from the same directory as
/// pgbench), bounded.
async fn vacuum_both(pgbench_bin: &Path, pg: &PgUrl, tables: &[String]) -> Result<(), String> {
    let psql = pgbench_bin.with_file_name("psql");
    let mut cmd = tokio::process::Command::new(&psql);
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &pg.host, "-p", &pg.port, "-U", &pg.user, "-d", &pg.db]);
    // One `-c` per table: psql runs a multi-statement `-c` as one transaction, and VACUUM
    // cannot run inside one.
    for t in tables {
        cmd.arg("-c").arg(format!("VACUUM ANALYZE {t}"));
    }
    cmd.env("PGPASSWORD", &pg.password).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .map_err(|_| "VACUUM did not finish within 300 s".to_string())?
        .map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
    if !out.status.success() {
        return Err(format!(
            "VACUUM failed ({}): {}",
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
