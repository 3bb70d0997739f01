//! What every native backend shares: its context (run dir, workspace root, log file, temp
//! dir), the bounded readiness loop that also notices a backend dying while starting, the
//! running set of processes that is torn down in reverse order, and small helpers for
//! finding binaries and running short commands.

use crate::process::{LogFile, ManagedProcess};
use crate::EmulatorError;
use assay_core::{Endpoint, LocalBackend};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Readiness waits are bounded by this; Spanner and PostgreSQL need a few seconds at most.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// One readiness probe may take this long before it counts as a failed attempt.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a start is retried when the backend lost its port to another process.
pub(crate) const PORT_RACE_ATTEMPTS: u32 = 3;

/// Where one native start happens.
pub(crate) struct NativeContext {
    pub backend: LocalBackend,
    pub workspace_root: PathBuf,
    pub log: LogFile,
}

impl NativeContext {
    pub(crate) fn new(
        backend: LocalBackend,
        run_dir: &Path,
        workspace_root: &Path,
    ) -> Result<NativeContext, EmulatorError> {
        let logs = run_dir.join("logs");
        let log = LogFile::create(&logs, backend.name()).map_err(|source| EmulatorError::Io {
            backend,
            what: format!("creating a log file in {}", logs.display()),
            source,
        })?;
        Ok(NativeContext {
            backend,
            workspace_root: workspace_root.to_path_buf(),
            log,
        })
    }

    pub(crate) fn io_error(
        &self,
        what: impl Into<String>,
        source: std::io::Error,
    ) -> EmulatorError {
        EmulatorError::Io {
            backend: self.backend,
            what: what.into(),
            source,
        }
    }

    pub(crate) fn step_error(
        &self,
        step: impl Into<String>,
        detail: impl Into<String>,
    ) -> EmulatorError {
        EmulatorError::Step {
            backend: self.backend,
            step: step.into(),
            detail: detail.into(),
            log: self.log.path().to_path_buf(),
        }
    }

    /// A private temp dir for this backend instance (data, sockets), removed on stop.
    pub(crate) fn temp_dir(&self) -> Result<TempDir, EmulatorError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("assay-{}-", self.backend.name()))
            .tempdir()
            .map_err(|e| self.io_error("creating a temp dir", e))?;
        crate::reaper::watch_dir(dir.path());
        Ok(dir)
    }

    /// Spawns a long-running process of this backend into its log.
    pub(crate) fn spawn(
        &self,
        name: &str,
        cmd: Command,
        stop_signal: i32,
        grace: Duration,
    ) -> Result<ManagedProcess, EmulatorError> {
        self.spawn_with_stdin(name, cmd, stop_signal, grace, None)
    }

    fn spawn_with_stdin(
        &self,
        name: &str,
        cmd: Command,
        stop_signal: i32,
        grace: Duration,
        stdin: Option<std::fs::File>,
    ) -> Result<ManagedProcess, EmulatorError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let stdin = stdin.map_or_else(std::process::Stdio::null, std::process::Stdio::from);
        ManagedProcess::spawn_with_stdin(name, cmd, &self.log, stop_signal, grace, stdin)
            .map_err(|e| self.io_error(format!("starting `{program}`"), e))
    }

    /// Runs a helper to completion (initdb, npm ci, pip) with its output in the log and
    /// stdin from `stdin` (or closed).
    pub(crate) async fn run_step(
        &self,
        step: &str,
        cmd: Command,
        stdin: Option<std::fs::File>,
        timeout: Duration,
    ) -> Result<(), EmulatorError> {
        let name = cmd
            .get_program()
            .to_string_lossy()
            .rsplit('/')
            .next()
            .unwrap_or("helper")
            .to_string();
        let mut p =
            self.spawn_with_stdin(&name, cmd, libc::SIGTERM, Duration::from_secs(2), stdin)?;
        let status = p
            .wait_exit(timeout)
            .await
            .map_err(|e| self.step_error(step, e))?;
        if status.success() {
            Ok(())
        } else {
            let last = self
                .log
                .last_line()
                .map(|l| format!(": {l}"))
                .unwrap_or_default();
            Err(self.step_error(step, format!("{name} ended with {status}{last}")))
        }
    }

    /// Polls `probe` until it succeeds, a process of the backend dies, or `timeout` passes.
    /// `waited_for` says in words what readiness means, for the error message.
    pub(crate) async fn wait_ready<T, F, Fut>(
        &self,
        waited_for: &str,
        processes: &[ManagedProcess],
        timeout: Duration,
        probe: F,
    ) -> Result<T, EmulatorError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        self.wait_ready_with(waited_for, processes, timeout, PROBE_TIMEOUT, probe)
            .await
    }

    /// `wait_ready` for probes that make several calls and need longer than 2 s each.
    pub(crate) async fn wait_ready_with<T, F, Fut>(
        &self,
        waited_for: &str,
        processes: &[ManagedProcess],
        timeout: Duration,
        probe_timeout: Duration,
        mut probe: F,
    ) -> Result<T, EmulatorError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut last_error;
        loop {
            if let Some(reason) = processes.iter().find_map(ManagedProcess::exit_reason) {
                return Err(self.exited_error(reason));
            }
            match tokio::time::timeout(probe_timeout, probe()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => last_error = e,
                Err(_) => last_error = format!("probe took longer than {probe_timeout:?}"),
            }
            if started.elapsed() >= timeout {
                return Err(EmulatorError::NotReady {
                    backend: self.backend,
                    waited_for: waited_for.to_string(),
                    timeout,
                    last_error,
                    log: self.log.path().to_path_buf(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// A backend died while starting: a lost port race (retried) or a real failure.
    fn exited_error(&self, reason: String) -> EmulatorError {
        let port_race = [
            "address already in use",
            "eaddrinuse",
            "could not create listen socket",
            "failed to bind",
        ]
        .iter()
        .any(|needle| self.log.tail_contains(needle));
        let last = self
            .log
            .last_line()
            .map(|l| format!(" — last log line: {l}"))
            .unwrap_or_default();
        if port_race {
            EmulatorError::PortTaken {
                backend: self.backend,
                attempts: 1,
                log: self.log.path().to_path_buf(),
            }
        } else {
            EmulatorError::Exited {
                backend: self.backend,
                reason: format!("{reason}{last}"),
            }
        }
    }
}

/// A started native backend: processes (stopped in reverse start order), an optional
/// in-process adapter (stopped first), and the temp dir (removed last).
/// What a PostgreSQL primary + replica stand-in needs for promote and replication mode:
/// both servers' socket directories and ports, and the client binaries.
#[derive(Clone, Debug)]
pub(crate) struct PgPair {
    pub bin: PathBuf,
    pub primary_sockets: PathBuf,
    pub primary_port: u16,
    pub replica_sockets: PathBuf,
    pub replica_port: u16,
}

pub(crate) struct NativeRun {
    pub processes: Vec<ManagedProcess>,
    pub adapter: Option<crate::cosmos_adapter::CosmosAdapter>,
    pub temp_dir: Option<TempDir>,
    pub log_path: PathBuf,
    /// A PostgreSQL primary + replica: what promote and replication mode need.
    pub pg_pair: Option<PgPair>,
}

impl NativeRun {
    pub(crate) fn new(log: &LogFile) -> NativeRun {
        NativeRun {
            processes: Vec::new(),
            adapter: None,
            temp_dir: None,
            log_path: log.path().to_path_buf(),
            pg_pair: None,
        }
    }

    pub(crate) async fn stop(mut self) {
        drop(self.adapter.take());
        while let Some(mut p) = self.processes.pop() {
            p.stop().await;
        }
    }
}

impl Drop for NativeRun {
    fn drop(&mut self) {
        drop(self.adapter.take());
        while let Some(mut p) = self.processes.pop() {
            p.stop_blocking();
        }
        // temp_dir is dropped (removed) after this, once nothing writes into it any more.
    }
}

/// What a backend module hands back to `Emulator::start`.
pub(crate) struct Started {
    pub run: NativeRun,
    pub endpoint: Endpoint,
    pub version: Option<String>,
}

/// `name` on `PATH`, as an absolute path.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs a short query command (`--version` and the like) and returns its trimmed stdout.
pub(crate) async fn command_output(
    program: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let shown = format!("{} {}", program.display(), args.join(" "));
    match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => Err(format!("`{shown}` did not finish within {timeout:?}")),
        Ok(Err(e)) => Err(format!("`{shown}`: {e}")),
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(Ok(out)) => Err(format!(
            "`{shown}` ended with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// Blocking twin of `command_output` for the synchronous `availability` checks.
pub(crate) fn command_output_blocking(
    program: &Path,
    args: &[&str],
    timeout: Duration,
) -> Result<String, String> {
    use std::io::Read;
    let shown = format!("{} {}", program.display(), args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{shown}` did not finish within {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("`{shown}`: {e}")),
        }
    };
    // Short outputs only (versions): the pipe buffer holds them until we read.
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if status.success() {
        Ok(out.trim().to_string())
    } else {
        Err(format!("`{shown}` ended with {status}"))
    }
}

/// 16 random bytes from the kernel as 32 hex characters (passwords for local backends).
pub(crate) fn random_hex() -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// An exclusive advisory lock on a file, so concurrent test processes install packages one
/// at a time. Waits at most `timeout`.
pub(crate) struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    pub(crate) async fn acquire(path: &Path, timeout: Duration) -> Result<FileLock, String> {
        use std::os::fd::AsRawFd;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: flock on a descriptor we own; LOCK_NB keeps it non-blocking.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} is still locked by another process after {timeout:?}",
                    path.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(dir: &Path) -> NativeContext {
        NativeContext::new(LocalBackend::DynamodbMoto, dir, dir).unwrap()
    }

    async fn wait_on_script(ctx: &NativeContext, script: &str) -> EmulatorError {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        let p = ctx
            .spawn("moto_server", cmd, libc::SIGTERM, Duration::from_secs(1))
            .unwrap();
        let procs = [p];
        ctx.wait_ready(
            "a probe that never succeeds",
            &procs,
            Duration::from_millis(700),
            || async { Err::<(), _>("refused".to_string()) },
        )
        .await
        .unwrap_err()
    }

    #[tokio::test]
    async fn a_lost_port_race_is_told_apart_from_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let err = wait_on_script(
            &ctx,
            "echo 'OSError: [Errno 98] Address already in use'; exit 1",
        )
        .await;
        assert!(matches!(err, EmulatorError::PortTaken { .. }), "{err}");

        let ctx = context(dir.path());
        let err = wait_on_script(&ctx, "echo 'ImportError: no module named flask'; exit 3").await;
        let text = err.to_string();
        assert!(matches!(err, EmulatorError::Exited { .. }), "{text}");
        assert!(text.contains("moto_server exited (exit code 3)"), "{text}");
        assert!(
            text.contains("last log line: ImportError: no module named flask"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn readiness_is_bounded_and_names_what_it_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path());
        let started = Instant::now();
        let err = wait_on_script(&ctx, "sleep 30").await;
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = err.to_string();
        assert!(
            text.starts_with("dynamodb-moto was not ready within 700ms: waited for a probe that never succeeds; last attempt: refused; log: "),
            "{text}"
        );
        assert!(text.ends_with("dynamodb-moto.log"), "{text}");
    }
}
