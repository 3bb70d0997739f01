//! Backends kept running between CLI invocations (`assay emulators up|down|status`): what a
//! detached backend leaves behind (process groups, temp dir, how to connect) and the state
//! file `<workspace>/target/assay/emulators.json` (mode 0600: it holds local passwords,
//! written through `Endpoint::to_state_json`, where a report would show "***").

use crate::native::NativeRun;
use crate::process::DetachedProcess;
use crate::EmulatorError;
use assay_core::{Endpoint, LocalBackend};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const STATE_VERSION: u32 = 1;
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The state file of the workspace at `root`.
pub fn state_path(root: &Path) -> PathBuf {
    root.join("target/assay/emulators.json")
}

/// A backend left running by an earlier `assay emulators up`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct DetachedEmulator {
    backend: LocalBackend,
    version: Option<String>,
    processes: Vec<DetachedProcess>,
    /// Removed by `stop_detached` once the processes are gone.
    temp_dir: Option<PathBuf>,
    /// How to reach it, secrets in the clear (see `endpoint_in_state`).
    #[serde(rename = "connection", with = "endpoint_in_state")]
    endpoint: Endpoint,
    /// Why it is not running although `detach` was asked for (see `Emulator::detach`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl fmt::Debug for DetachedEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetachedEmulator")
            .field("backend", &self.backend)
            .field("endpoint", &self.endpoint().display_safe())
            .field("processes", &self.processes)
            .finish()
    }
}

impl DetachedEmulator {
    pub fn backend(&self) -> LocalBackend {
        self.backend
    }

    pub fn version(&self) -> Option<String> {
        self.version.clone()
    }

    /// Why the backend was not kept running, when `Emulator::detach` had to refuse.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    pub fn processes(&self) -> &[DetachedProcess] {
        &self.processes
    }

    /// The backend's private temp dir (data, sockets), removed by `stop_detached`.
    pub fn temp_dir(&self) -> Option<&Path> {
        self.temp_dir.as_deref()
    }

    /// How to reach it, secrets included.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    /// Every process we started for it is still the one we started and running.
    pub fn is_alive(&self) -> bool {
        !self.processes.is_empty() && self.processes.iter().all(DetachedProcess::is_alive)
    }

    pub fn pids(&self) -> Vec<u32> {
        self.processes
            .iter()
            .flat_map(|p| std::iter::once(p.pid).chain(p.member_pids.iter().copied()))
            .collect()
    }

    pub fn log_paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.processes.iter().map(|p| p.log_path.clone()).collect();
        paths.dedup();
        paths
    }
}

/// The state file's form of an `Endpoint`: its secrets in the clear, which is why the
/// file is private. Reading it back is `Endpoint`'s own `Deserialize`.
mod endpoint_in_state {
    use assay_core::Endpoint;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(endpoint: &Endpoint, s: S) -> Result<S::Ok, S::Error> {
        endpoint
            .to_state_json()
            .map_err(S::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
        Endpoint::deserialize(d)
    }
}

/// Hands a native run's processes and temp dir over to a `DetachedEmulator`.
pub(crate) fn detach(
    backend: LocalBackend,
    endpoint: &Endpoint,
    version: Option<String>,
    mut run: NativeRun,
) -> DetachedEmulator {
    let processes = std::mem::take(&mut run.processes)
        .into_iter()
        .map(|p| p.detach())
        .collect();
    let temp_dir = run.temp_dir.take().map(tempfile::TempDir::keep);
    if let Some(d) = &temp_dir {
        crate::reaper::forget_dir(d);
    }
    DetachedEmulator {
        backend,
        version,
        processes,
        temp_dir,
        endpoint: endpoint.clone(),
        note: None,
    }
}

/// The record `Emulator::detach` returns for a backend it had to stop: never alive.
pub(crate) fn refused(
    backend: LocalBackend,
    endpoint: &Endpoint,
    version: Option<String>,
    reason: String,
) -> DetachedEmulator {
    DetachedEmulator {
        backend,
        version,
        processes: Vec::new(),
        temp_dir: None,
        endpoint: endpoint.clone(),
        note: Some(reason),
    }
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    emulators: Vec<DetachedEmulator>,
}

fn state_error(path: &Path, detail: impl Into<String>) -> EmulatorError {
    EmulatorError::State {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Replaces the state file with `emulators` (atomically, mode 0600).
pub fn save(root: &Path, emulators: &[DetachedEmulator]) -> Result<(), EmulatorError> {
    let path = state_path(root);
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir)
        .map_err(|e| state_error(&path, format!("creating {}: {e}", dir.display())))?;
    let json = serde_json::to_string_pretty(&StateFile {
        version: STATE_VERSION,
        emulators: emulators.to_vec(),
    })
    .map_err(|e| state_error(&path, e.to_string()))?;
    let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(json.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        state_error(&path, format!("writing: {e}"))
    })
}

/// The backends recorded by `save`; none when the file does not exist.
pub fn load(root: &Path) -> Result<Vec<DetachedEmulator>, EmulatorError> {
    let path = state_path(root);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(state_error(&path, format!("reading: {e}"))),
    };
    let file: StateFile = serde_json::from_str(&text).map_err(|e| {
        state_error(
            &path,
            format!("not a state file ({e}); delete it after stopping the emulators by hand"),
        )
    })?;
    if file.version != STATE_VERSION {
        return Err(state_error(
            &path,
            format!("state version {} but this assay writes {STATE_VERSION}; run `assay emulators down` with the assay that wrote it", file.version),
        ));
    }
    Ok(file.emulators)
}

/// Stops a detached backend (only processes that are still the ones we started) and
/// removes its temp dir. Blocks for at most a few seconds per process.
pub fn stop_detached(emulator: &DetachedEmulator) {
    for p in emulator.processes.iter().rev() {
        p.stop(STOP_GRACE);
    }
    if let Some(dir) = &emulator.temp_dir {
        // Only ever our own temp dirs: created by tempfile with this prefix.
        let ours = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("assay-{}-", emulator.backend.name())));
        if ours {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::Secret;

    fn sample() -> DetachedEmulator {
        DetachedEmulator {
            backend: LocalBackend::Postgres,
            version: Some("PostgreSQL 15".into()),
            processes: vec![DetachedProcess {
                name: "postgres".into(),
                pid: 1,
                pgid: 1,
                start_time: 0,
                log_path: PathBuf::from("/tmp/postgres.log"),
                member_pids: Vec::new(),
            }],
            temp_dir: None,
            endpoint: Endpoint::Postgres {
                url: Secret::new("postgres://assay:hunter2@127.0.0.1:5555/assay"),
                replica_url: None,
            },
            note: None,
        }
    }

    #[test]
    fn state_round_trips_with_secrets_in_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        assert!(load(root.path()).unwrap().is_empty());
        let emu = sample();
        save(root.path(), std::slice::from_ref(&emu)).unwrap();
        let path = state_path(root.path());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The on-disk shape of version 1: the endpoint under `connection`, in the clear.
        let text: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let connection = &text["emulators"][0]["connection"];
        assert_eq!(connection["family"], "postgres");
        assert_eq!(
            connection["url"],
            "postgres://assay:hunter2@127.0.0.1:5555/assay"
        );
        let loaded = load(root.path()).unwrap();
        assert_eq!(loaded, vec![emu.clone()]);
        match loaded[0].endpoint() {
            Endpoint::Postgres { url, .. } => {
                assert_eq!(
                    url.expose(),
                    "postgres://assay:hunter2@127.0.0.1:5555/assay"
                )
            }
            other => panic!("wrong family: {other:?}"),
        }
        assert!(!format!("{emu:?}").contains("hunter2"));
    }

    #[test]
    fn a_reused_pid_is_not_ours() {
        let mut emu = sample();
        // pid 1 exists, but with another start time than recorded: not alive, not stopped.
        emu.processes[0].start_time = u64::MAX;
        assert!(!emu.is_alive());
    }

    #[test]
    fn a_corrupt_state_file_names_itself() {
        let root = tempfile::tempdir().unwrap();
        let path = state_path(root.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{not json").unwrap();
        let err = load(root.path()).unwrap_err().to_string();
        assert!(err.contains("emulators.json"), "{err}");
    }
}
