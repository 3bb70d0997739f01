//! Targets: resolving names, bringing local backends up (or reusing ones left up by
//! `assay emulators up`), and building the driver for an endpoint. This is the only
//! module that knows every driver crate.

use crate::faults::Faults;
use crate::{status, workspace_root, EmulatorMode, EXIT_PASS};
use assay_core::isolation::IsolationLevel;
use assay_core::target_file::{self, FileTarget};
use assay_core::{Driver, DriverConfig, DriverError, Endpoint, LocalBackend, TargetSpec};
use assay_emulators::{Emulator, Mode, StartOptions};
use assay_engine::HealthProbe;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, Mutex};

impl From<EmulatorMode> for Mode {
    fn from(m: EmulatorMode) -> Mode {
        m.0
    }
}

/// A target whose backend is up and reachable at `endpoint`.
pub struct LiveTarget {
    pub spec: TargetSpec,
    pub endpoint: Endpoint,
    pub version: Option<String>,
    backend: LiveBackend,
}

enum LiveBackend {
    /// Started by this run; stopped when the run ends.
    Started(Arc<Mutex<Emulator>>),
    /// Left running by `assay emulators up`; left running afterwards.
    Reused(assay_emulators::state::DetachedEmulator),
    /// A targets-file endpoint: nothing to start or stop.
    External,
}

impl LiveTarget {
    /// Says why the backend is gone, once it is.
    pub fn health_probe(&self) -> HealthProbe {
        match &self.backend {
            LiveBackend::Started(emu) => {
                let emu = emu.clone();
                Arc::new(move || emu.lock().unwrap_or_else(|p| p.into_inner()).exit_reason())
            }
            LiveBackend::External => Arc::new(|| None),
            LiveBackend::Reused(d) => {
                let d = d.clone();
                let name = self.spec.name.clone();
                Arc::new(move || {
                    (!d.is_alive()).then(|| {
                        format!("{name} (started by `assay emulators up`) is no longer running")
                    })
                })
            }
        }
    }

    /// The stand-in this run started (`None` for one left up by `assay emulators up`,
    /// which faults must not touch).
    pub fn started_emulator(&self) -> Option<Arc<Mutex<Emulator>>> {
        match &self.backend {
            LiveBackend::Started(emu) => Some(emu.clone()),
            LiveBackend::Reused(_) | LiveBackend::External => None,
        }
    }

    pub async fn stop(self) {
        if let LiveBackend::Started(emu) = self.backend {
            // When a health probe still holds a reference, dropping ours leaves the kill
            // to the last holder's drop, which the emulators crate guarantees.
            if let Ok(m) = Arc::try_unwrap(emu) {
                m.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .stop()
                    .await
            }
        }
    }
}

/// Starts (or reuses) the backend of a local target and waits until it is ready.
pub async fn bring_up(
    spec: &TargetSpec,
    backend: LocalBackend,
    mode: EmulatorMode,
    run_dir: &Path,
    faults: &Faults,
) -> Result<LiveTarget, String> {
    let root = workspace_root();
    // A stand-in started by `assay emulators up` runs without the faults asked for.
    let reusable = !faults.applies_to(backend);
    if let (true, Ok(detached)) = (reusable, assay_emulators::state::load(&root)) {
        if let Some(d) = detached
            .into_iter()
            .find(|d| d.backend() == backend && d.is_alive())
        {
            return Ok(LiveTarget {
                spec: spec.clone(),
                endpoint: d.endpoint(),
                version: d.version(),
                backend: LiveBackend::Reused(d),
            });
        }
    }
    let opts = StartOptions {
        run_dir: run_dir.to_path_buf(),
        mode: mode.into(),
        workspace_root: root,
    };
    let started = if faults.applies_to(backend) {
        Emulator::start_spanner(&opts, faults.spanner).await
    } else {
        Emulator::start(backend, &opts).await
    };
    let emu = started.map_err(|e| e.to_string())?;
    Ok(LiveTarget {
        spec: spec.clone(),
        endpoint: emu.endpoint().clone(),
        version: emu.version(),
        backend: LiveBackend::Started(Arc::new(Mutex::new(emu))),
    })
}

/// Builds the driver for an endpoint. `isolation` is the scenario's requested level for
/// transactions, honoured where the backend lets a client choose (PostgreSQL, MySQL); Spanner
/// and DynamoDB transactions are always serializable.
pub async fn connect(
    endpoint: &Endpoint,
    config: DriverConfig,
    isolation: Option<IsolationLevel>,
) -> Result<Arc<dyn Driver>, DriverError> {
    Ok(match endpoint {
        Endpoint::Dynamodb { .. } => {
            Arc::new(assay_driver_dynamodb::DynamodbDriver::connect(endpoint, config).await?)
        }
        Endpoint::Spanner { .. } => {
            Arc::new(assay_driver_spanner::SpannerDriver::connect(endpoint, config).await?)
        }
        Endpoint::Cosmos { .. } => {
            Arc::new(assay_driver_cosmos::CosmosDriver::connect(endpoint, config).await?)
        }
        Endpoint::Postgres { .. } => {
            let mut options = assay_driver_postgres::PostgresOptions::default();
            if let Some(level) = isolation {
                options.isolation = level;
            }
            Arc::new(
                assay_driver_postgres::PostgresDriver::connect_with(endpoint, config, options)
                    .await?,
            )
        }
        Endpoint::Mysql { .. } => {
            let mut options = assay_driver_mysql::MysqlOptions::default();
            if let Some(level) = isolation {
                options.isolation = level;
            }
            Arc::new(
                assay_driver_mysql::MysqlDriver::connect_with(endpoint, config, options).await?,
            )
        }
    })
}

/// `assay targets`: every local target, whether it can run here, and whether one is up;
/// then the targets file's, with where each credential comes from (never its value).
pub fn targets_command(file: &[FileTarget]) -> u8 {
    let root = workspace_root();
    let running: Vec<_> = assay_emulators::state::load(&root)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.is_alive())
        .map(|d| d.backend())
        .collect();
    let name_width = LocalBackend::ALL
        .iter()
        .map(|b| b.name().len())
        .max()
        .unwrap_or(0);
    println!(
        "{:name_width$}  {:8}  {:9}  DESCRIPTION",
        "TARGET", "FAMILY", "STATUS"
    );
    for b in LocalBackend::ALL {
        let status = if running.contains(&b) {
            "up".to_string()
        } else {
            match assay_emulators::availability(b, &root) {
                Ok(()) => "available".into(),
                Err(_) => "missing".into(),
            }
        };
        println!(
            "{:name_width$}  {:8}  {:9}  {}",
            b.name(),
            b.family().as_str(),
            status,
            b.description()
        );
        if let Err(why) = assay_emulators::availability(b, &root) {
            println!("{:name_width$}  {:8}  {:9}  ↳ {why}", "", "", "");
        }
    }
    if file.is_empty() {
        println!("\nReal services and servers of your own are named in a targets file (./assay.toml or --targets FILE); see docs/targets.md.");
        return EXIT_PASS;
    }
    let width = file
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0)
        .max(name_width);
    println!(
        "\n{:width$}  {:8}  {:9}  ENDPOINT · CREDENTIALS",
        "FILE TARGET", "FAMILY", "WHERE"
    );
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty());
    for t in file {
        println!(
            "{:width$}  {:8}  {:9}  {} · {}",
            t.name,
            t.family().as_str(),
            if t.is_loopback() { "loopback" } else { "real" },
            t.hosts().join(", "),
            t.credential_source(&set)
        );
    }
    println!(
        "\nReal targets run only with --allow-real (and --yes, or a confirmation on a terminal)."
    );
    EXIT_PASS
}

/// The targets file: `--targets FILE`, else `./assay.toml` when it exists, else none.
pub fn load_file_targets(arg: Option<&Path>) -> Result<Vec<FileTarget>, String> {
    let default = Path::new("assay.toml");
    let path = match arg {
        Some(p) => p,
        None if default.is_file() => default,
        None => return Ok(Vec::new()),
    };
    let src = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "--targets {}: cannot read it ({e}); check the path",
            path.display()
        )
    })?;
    target_file::parse(&src, &path.display().to_string()).map_err(|e| e.to_string())
}

/// The real-endpoint guard, decided from the targets' text before any connection or
/// name lookup: a target that leaves the machine needs `--allow-real`, and then a
/// confirmation of the plan (`--yes`, or an answer on a terminal).
pub fn guard(specs: &[TargetSpec], allow_real: bool, yes: bool, plan: &str) -> Result<(), String> {
    let real: Vec<&TargetSpec> = specs.iter().filter(|s| s.is_real()).collect();
    let Some(first) = real.first() else {
        return Ok(());
    };
    if !allow_real {
        let hosts = first
            .remote
            .as_ref()
            .map(|t| t.hosts().join(", "))
            .unwrap_or_default();
        return Err(format!(
            "target `{}` is a real endpoint ({hosts}, not loopback); nothing was sent — pass --allow-real to run against it",
            first.name
        ));
    }
    let names: Vec<&str> = real.iter().map(|s| s.name.as_str()).collect();
    status(&format!("real endpoint(s) {}: {plan}", names.join(", ")));
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(format!(
            "target `{}` is a real endpoint and there is no terminal to confirm on; pass --yes to run without asking",
            first.name
        ));
    }
    eprint!("assay: run against {}? [y/N] ", names.join(", "));
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    match answer.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err("not confirmed; nothing was sent".into()),
    }
}

/// Connects to a file target: reads its secrets from the environment now, after the
/// guard has passed.
pub fn connect_file_target(spec: &TargetSpec, t: &FileTarget) -> Result<LiveTarget, String> {
    let endpoint = t.endpoint(&|v| std::env::var(v).ok())?;
    Ok(LiveTarget {
        spec: spec.clone(),
        endpoint,
        version: None,
        backend: LiveBackend::External,
    })
}
