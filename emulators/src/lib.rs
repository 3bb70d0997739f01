//! Starts, readies and stops Assay's local stand-ins: native processes on free loopback
//! ports, each in its own temp dir and process group, logs kept in
//! `<run_dir>/logs/<backend>.log`; or containers (testcontainers) when a Docker daemon
//! answers.
//!
//! Everything started here is killed when its [`Emulator`] is dropped, on error, and by
//! [`kill_all_started`] (the CLI's Ctrl-C handler). [`state`] keeps backends running
//! between CLI invocations (`assay emulators up|down|status`). [`install`] puts a
//! stand-in's server on the machine from the distribution (MariaDB), [`chromium`] the
//! browser the report's test needs.
//!
//! ```no_run
//! # async fn example() -> Result<(), assay_emulators::EmulatorError> {
//! use assay_core::LocalBackend;
//! use assay_emulators::{Emulator, StartOptions};
//!
//! let emu = Emulator::start(LocalBackend::DynamodbMoto, &StartOptions::for_tests()).await?;
//! let endpoint = emu.endpoint().clone(); // hand to a driver
//! # drop(endpoint);
//! emu.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod chromium;
pub mod containers;
pub use faults::{PgControl, ServerRole};
pub use reaper::sweep_stale;
pub mod cosmos_adapter;
pub mod state;

mod apt;
mod cosmos;
mod dynamodb;
mod faults;
mod mysql;
mod native;
mod net;
mod node;
mod os;
pub use os::CpuSample;
mod postgres;
mod postgres_replica;
mod postgres_tls;
mod process;
mod python;
mod reaper;
mod spanner;
pub mod testing;

pub use mysql::InstallOutcome;
pub use process::{
    group_members, kill_all_started, process_is_alive, started_process_groups, DetachedProcess,
};
pub use spanner::SpannerFaults;
pub use state::DetachedEmulator;

use assay_core::{Endpoint, LocalBackend};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Where backends run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Containers when a Docker daemon answers and the backend has an image, else native.
    #[default]
    Auto,
    Native,
    Containers,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Native => "native",
            Mode::Containers => "containers",
        }
    }

    /// One line for `--help`.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Auto => "containers when a Docker daemon answers, native processes otherwise",
            Mode::Native => "native processes",
            Mode::Containers => "containers (testcontainers)",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "native" => Ok(Mode::Native),
            "containers" => Ok(Mode::Containers),
            other => Err(format!(
                "unknown emulators mode `{other}`: use auto, native or containers"
            )),
        }
    }
}

/// How and where to start a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartOptions {
    /// Logs go to `<run_dir>/logs/<backend>.log`.
    pub run_dir: PathBuf,
    pub mode: Mode,
    /// The Assay checkout: `emulators/node`, `emulators/python` and `target/assay` live here.
    pub workspace_root: PathBuf,
}

impl StartOptions {
    /// For integration tests: run dir `target/assay/test-emulators/<pid>` of this workspace,
    /// mode from `$ASSAY_EMULATORS` (auto|native|containers), native by default so tests
    /// use the same stand-ins on every machine.
    pub fn for_tests() -> StartOptions {
        let workspace_root = workspace_root_of_this_checkout();
        let tests_dir = workspace_root.join("target/assay/test-emulators");
        prune_dead_test_dirs(&tests_dir);
        let mode = std::env::var("ASSAY_EMULATORS")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(Mode::Native);
        StartOptions {
            run_dir: tests_dir.join(std::process::id().to_string()),
            mode,
            workspace_root,
        }
    }
}

/// The workspace this crate was built in (`emulators/..`).
pub fn workspace_root_of_this_checkout() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Test run dirs are named by pid. Those of finished processes are kept for a while so a
/// failure's log can still be read after later test binaries ran; beyond a day, or beyond
/// the newest 50, they go (once per process).
fn prune_dead_test_dirs(dir: &Path) {
    const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);
    const KEEP_AT_MOST: usize = 50;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dead: Vec<(std::time::SystemTime, PathBuf)> = entries
            .flatten()
            .take(10_000)
            .filter(|e| {
                let pid = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok());
                pid.is_some_and(|p| p != std::process::id() && !process_is_alive(p))
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        dead.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified)); // newest first
        for (i, (modified, path)) in dead.iter().enumerate() {
            let old = modified.elapsed().is_ok_and(|age| age > KEEP_FOR);
            if old || i >= KEEP_AT_MOST {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    });
}

/// Why a backend could not be started, readied or stopped. One line, with the fix or the
/// log to read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    #[error("{backend} is not available here: {reason}")]
    Unavailable {
        backend: LocalBackend,
        reason: String,
    },
    #[error("{backend}: {what}: {source}")]
    Io {
        backend: LocalBackend,
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{backend}: {step} failed: {detail}; log: {}", log.display())]
    Step {
        backend: LocalBackend,
        step: String,
        detail: String,
        log: PathBuf,
    },
    #[error("{backend} exited before it was ready: {reason}")]
    Exited {
        backend: LocalBackend,
        reason: String,
    },
    #[error("{backend} could not bind its port (another process took it) {attempts} times in a row; log: {}", log.display())]
    PortTaken {
        backend: LocalBackend,
        attempts: u32,
        log: PathBuf,
    },
    #[error("{backend} was not ready within {timeout:?}: waited for {waited_for}; last attempt: {last_error}; log: {}", log.display())]
    NotReady {
        backend: LocalBackend,
        waited_for: String,
        timeout: Duration,
        last_error: String,
        log: PathBuf,
    },
    #[error("no Docker daemon answers at {at} ({detail}); use --emulators native")]
    NoDocker { at: String, detail: String },
    #[error("{backend} has no container image ({reason}); use --emulators native")]
    NoContainer {
        backend: LocalBackend,
        reason: String,
    },
    #[error("{backend}: container {image}: {detail}")]
    Container {
        backend: LocalBackend,
        image: String,
        detail: String,
    },
    #[error("{backend} cannot be kept running after this process: {reason}")]
    CannotDetach {
        backend: LocalBackend,
        reason: String,
    },
    #[error("not starting {backend}: emulators are shutting down (Ctrl-C)")]
    ShuttingDown { backend: LocalBackend },
    #[error("emulator state file {}: {detail}", path.display())]
    State { path: PathBuf, detail: String },
}

impl EmulatorError {
    pub fn backend(&self) -> Option<LocalBackend> {
        match self {
            EmulatorError::Unavailable { backend, .. }
            | EmulatorError::Io { backend, .. }
            | EmulatorError::Step { backend, .. }
            | EmulatorError::Exited { backend, .. }
            | EmulatorError::PortTaken { backend, .. }
            | EmulatorError::NotReady { backend, .. }
            | EmulatorError::NoContainer { backend, .. }
            | EmulatorError::Container { backend, .. }
            | EmulatorError::CannotDetach { backend, .. }
            | EmulatorError::ShuttingDown { backend } => Some(*backend),
            EmulatorError::NoDocker { .. } | EmulatorError::State { .. } => None,
        }
    }
}

enum Running {
    Native(native::NativeRun),
    Container(containers::RunningContainer),
}

/// A started, ready backend. Dropping it stops it (whole process group or container).
pub struct Emulator {
    backend: LocalBackend,
    endpoint: Endpoint,
    version: Option<String>,
    running: Running,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("backend", &self.backend)
            .field("endpoint", &self.endpoint.display_safe())
            .field("version", &self.version)
            .field("pids", &self.pids())
            .finish()
    }
}

impl Emulator {
    /// Starts `backend` the way `opts.mode` says and returns once it answers requests.
    pub async fn start(
        backend: LocalBackend,
        opts: &StartOptions,
    ) -> Result<Emulator, EmulatorError> {
        if use_containers(backend, opts.mode).await? {
            let (running, endpoint, version) = containers::start(backend).await?;
            return Ok(Emulator {
                backend,
                endpoint,
                version,
                running: Running::Container(running),
            });
        }
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| {
            for line in reaper::sweep_stale() {
                eprintln!("assay: cleanup: {line}");
            }
        });
        let mut attempt = 1;
        loop {
            let ctx = native::NativeContext::new(backend, &opts.run_dir, &opts.workspace_root)?;
            let result = match backend {
                LocalBackend::Postgres => postgres::start(&ctx).await,
                LocalBackend::PostgresReplica => postgres_replica::start(&ctx).await,
                LocalBackend::PostgresTls => postgres_tls::start(&ctx).await,
                LocalBackend::SpannerEmulator => spanner::start(&ctx).await,
                LocalBackend::DynamodbMoto => dynamodb::start_moto(&ctx).await,
                LocalBackend::DynamodbDynalite => dynamodb::start_dynalite(&ctx).await,
                LocalBackend::CosmosLocal => cosmos::start(&ctx).await,
                LocalBackend::Mysql => mysql::start(&ctx).await,
            };
            match result {
                Ok(started) => {
                    return Ok(Emulator {
                        backend,
                        endpoint: started.endpoint,
                        version: started.version,
                        running: Running::Native(started.run),
                    })
                }
                Err(EmulatorError::PortTaken { log, .. })
                    if attempt < native::PORT_RACE_ATTEMPTS =>
                {
                    ctx.log.note(&format!(
                        "port taken by another process (attempt {attempt}); retrying with new ports; see {}",
                        log.display()
                    ));
                    attempt += 1;
                }
                Err(EmulatorError::PortTaken { backend, log, .. }) => {
                    return Err(EmulatorError::PortTaken {
                        backend,
                        attempts: attempt,
                        log,
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn backend(&self) -> LocalBackend {
        self.backend
    }

    /// How drivers reach it, secrets included (`Endpoint`'s `Secret`s never print).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// E.g. "postgres (PostgreSQL) 15.18 (Debian …)", "moto 5.2.1",
    /// "cloud-spanner-emulator 1.5.28", "amazon/dynamodb-local:2.5.2" for a container.
    pub fn version(&self) -> Option<String> {
        self.version.clone()
    }

    /// Whether it runs as a container rather than native processes.
    pub fn is_container(&self) -> bool {
        matches!(self.running, Running::Container(_))
    }

    /// Non-blocking: `Some("moto_server exited (killed by signal 9); log: …")` once any
    /// process of the backend has ended on its own. Containers report `None`.
    pub fn exit_reason(&mut self) -> Option<String> {
        match &self.running {
            Running::Native(run) => run.processes.iter().find_map(|p| p.exit_reason()),
            Running::Container(_) => None,
        }
    }

    /// Pids of the backend's processes (leaders and watched helpers), for fault injection.
    pub fn pids(&self) -> Vec<u32> {
        match &self.running {
            Running::Native(run) => run.processes.iter().flat_map(|p| p.pids()).collect(),
            Running::Container(_) => Vec::new(),
        }
    }

    /// Process groups (one per spawned leader): signal these to hit the whole backend.
    pub fn process_groups(&self) -> Vec<u32> {
        match &self.running {
            Running::Native(run) => run.processes.iter().map(|p| p.pgid()).collect(),
            Running::Container(_) => Vec::new(),
        }
    }

    pub fn log_paths(&self) -> Vec<PathBuf> {
        match &self.running {
            Running::Native(run) => vec![run.log_path.clone()],
            Running::Container(_) => Vec::new(),
        }
    }

    /// Stops it: SIGTERM (SIGINT for PostgreSQL) to each process group, a short grace,
    /// SIGKILL; then removes the temp dir. Containers are removed.
    pub async fn stop(self) {
        match self.running {
            Running::Native(run) => run.stop().await,
            Running::Container(c) => c.stop().await,
        }
    }

    /// Whether [`Emulator::detach`] can keep it running; `Err` says why not.
    pub fn can_detach(&self) -> Result<(), String> {
        match &self.running {
            Running::Container(_) => Err("containers are removed with the process that started \
                                          them; use --emulators native for `assay emulators up`"
                .into()),
            Running::Native(run) if run.adapter.is_some() => Err(
                "its compatibility adapter runs inside the assay process; start it with the run \
                 instead (`assay run --target cosmos-local`)"
                    .into(),
            ),
            Running::Native(_) => Ok(()),
        }
    }

    /// Keeps the backend running after this process ends (`assay emulators up`).
    ///
    /// A backend that cannot outlive this process ([`Emulator::can_detach`] says why) is
    /// stopped instead, and the returned record is not alive and carries the reason in
    /// [`DetachedEmulator::note`]; use [`Emulator::try_detach`] to get that as an error.
    pub fn detach(self) -> DetachedEmulator {
        let backend = self.backend;
        let endpoint = self.endpoint.clone();
        let version = self.version.clone();
        self.try_detach()
            .unwrap_or_else(|e| state::refused(backend, &endpoint, version, e.to_string()))
    }

    /// `detach`, or `CannotDetach` (after stopping the backend) when it cannot outlive us.
    pub fn try_detach(self) -> Result<DetachedEmulator, EmulatorError> {
        if let Err(reason) = self.can_detach() {
            return Err(EmulatorError::CannotDetach {
                backend: self.backend,
                reason,
            });
        }
        match self.running {
            Running::Native(run) => Ok(state::detach(
                self.backend,
                &self.endpoint,
                self.version,
                run,
            )),
            Running::Container(_) => Err(EmulatorError::CannotDetach {
                backend: self.backend,
                reason: "containers cannot be detached".into(),
            }),
        }
    }
}

async fn use_containers(backend: LocalBackend, mode: Mode) -> Result<bool, EmulatorError> {
    match mode {
        Mode::Native => Ok(false),
        Mode::Containers => {
            if containers::definition(backend, "unused").is_none() {
                return Err(EmulatorError::NoContainer {
                    backend,
                    reason: containers::why_no_container(backend),
                });
            }
            containers::docker_daemon_answers()
                .await
                .map_err(|(at, detail)| EmulatorError::NoDocker { at, detail })?;
            Ok(true)
        }
        Mode::Auto => Ok(containers::definition(backend, "unused").is_some()
            && containers::docker_daemon_answers().await.is_ok()),
    }
}

/// Cheap check that `backend` can run natively here: its binaries exist, or the project can
/// install them itself (node+npm, python3+venv). `Err` says what is missing and how to fix it.
pub fn availability(backend: LocalBackend, workspace_root: &Path) -> Result<(), String> {
    match backend {
        LocalBackend::Postgres => postgres::find_bin_dir().map(|_| ()),
        LocalBackend::PostgresReplica => postgres_replica::find_bin_dir().map(|_| ()),
        LocalBackend::PostgresTls => postgres_tls::find_binaries().map(|_| ()),
        LocalBackend::SpannerEmulator => spanner::find_bin_dir().map(|_| ()),
        LocalBackend::DynamodbMoto => python::availability(workspace_root),
        LocalBackend::DynamodbDynalite => node::availability(workspace_root),
        LocalBackend::CosmosLocal => node::availability(workspace_root),
        LocalBackend::Mysql => mysql::find_binaries().map(|_| ()),
    }
}

/// Puts `backend`'s server binaries on this machine (`assay emulators install`). Only
/// mysql is installed this way (MariaDB through apt-get, as root); the others install
/// themselves on first start or come with the image. Bounded to about ten minutes. The
/// browser of the report's test is installed the same way ([`chromium::install`]).
pub async fn install(backend: LocalBackend) -> Result<InstallOutcome, EmulatorError> {
    match backend {
        LocalBackend::Mysql => mysql::install().await,
        other => Err(EmulatorError::Unavailable {
            backend: other,
            reason: "`install` only handles mysql; this backend installs itself on first start \
                     or needs its binaries from the README"
                .to_string(),
        }),
    }
}

/// The machine's CPU counters now, this process and every stand-in it started counted as
/// this run's: two samples give the load other processes put on the machine meanwhile.
pub fn cpu_sample() -> Option<CpuSample> {
    os::cpu_sample_of(&started_process_groups())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulators_can_move_between_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Emulator>();
        send_sync::<DetachedEmulator>();
        send_sync::<EmulatorError>();
    }

    #[test]
    fn modes_parse_and_print() {
        for m in [Mode::Auto, Mode::Native, Mode::Containers] {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
        }
        assert!("docker"
            .parse::<Mode>()
            .unwrap_err()
            .contains("auto, native or containers"));
    }

    #[test]
    fn test_options_live_in_this_workspace() {
        let opts = StartOptions::for_tests();
        assert!(opts.workspace_root.join("emulators/Cargo.toml").is_file());
        assert!(opts.run_dir.ends_with(format!(
            "target/assay/test-emulators/{}",
            std::process::id()
        )));
    }

    #[test]
    fn errors_are_one_line_and_name_the_backend() {
        let e = EmulatorError::NotReady {
            backend: LocalBackend::Postgres,
            waited_for: "an authentication request".into(),
            timeout: Duration::from_secs(60),
            last_error: "connection refused".into(),
            log: PathBuf::from("/run/logs/postgres.log"),
        };
        let s = e.to_string();
        assert!(!s.contains('\n'));
        assert!(s.starts_with("postgres was not ready within 60s"), "{s}");
        assert!(s.ends_with("log: /run/logs/postgres.log"), "{s}");
        assert_eq!(e.backend(), Some(LocalBackend::Postgres));
    }
}
