//! Targets: resolving names, bringing local backends up (or reusing ones left up by
//! `assay emulators up`), and building the driver for an endpoint. This is the only
//! module that knows every driver crate.

use crate::faults::Faults;
use crate::{workspace_root, EmulatorMode, EXIT_PASS};
use assay_core::isolation::IsolationLevel;
use assay_core::{Driver, DriverConfig, DriverError, Endpoint, LocalBackend, TargetSpec};
use assay_emulators::{Emulator, Mode, StartOptions};
use assay_engine::HealthProbe;
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
}

impl LiveTarget {
    /// Says why the backend is gone, once it is.
    pub fn health_probe(&self) -> HealthProbe {
        match &self.backend {
            LiveBackend::Started(emu) => {
                let emu = emu.clone();
                Arc::new(move || emu.lock().unwrap_or_else(|p| p.into_inner()).exit_reason())
            }
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
            LiveBackend::Reused(_) => None,
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

/// `assay targets`: every local target, whether it can run here, and whether one is up.
pub fn targets_command() -> u8 {
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
    println!("\nOnly local targets can be run by this version; real AWS / Google Cloud / Azure endpoints are not configurable yet.");
    EXIT_PASS
}
