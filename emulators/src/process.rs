//! Native processes: spawning each backend in its own process group with its output in a
//! log file, the process-wide registry of live groups (`kill_all_started`), non-reaping exit
//! checks, and group shutdown (polite signal, short grace, then SIGKILL).
//!
//! Pids stay reserved while we hold an unreaped child, so a group is only ever signalled
//! while its leader is ours and unreaped: the registry entry is removed before the reap.

pub(crate) use crate::os::{proc_stat, signal_group};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pgids of the live process groups started by this process.
static REGISTRY: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Set by `kill_all_started`: nothing new may start after the user asked to stop.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

const KILL_ALL_GRACE: Duration = Duration::from_millis(1500);

fn registry() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Kills every process group this process started that is still alive: SIGTERM, up to
/// 1.5 s of grace, then SIGKILL. Meant for Ctrl-C handlers and fatal-error paths; later
/// `Emulator` drops find their groups gone and only reap. Blocks for at most the grace.
pub fn kill_all_started() {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    let pgids: Vec<u32> = {
        let reg = registry();
        for &pgid in reg.iter() {
            signal_group(pgid, libc::SIGTERM);
            signal_group(pgid, libc::SIGCONT);
        }
        reg.iter().copied().collect()
    };
    let deadline = Instant::now() + KILL_ALL_GRACE;
    while Instant::now() < deadline && pgids.iter().any(|&g| group_has_live_member(g)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let reg = registry();
    for &pgid in reg.iter() {
        signal_group(pgid, libc::SIGKILL);
    }
}

/// Whether `kill_all_started` ran; starts refuse to spawn afterwards.
pub(crate) fn shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::SeqCst)
}

/// Pgids of every group currently registered (for tests and diagnostics).
pub fn started_process_groups() -> Vec<u32> {
    registry().iter().copied().collect()
}

/// A log file a backend's stdout and stderr go to. Several processes of one backend
/// (initdb, then the server) share it so the log tells the whole story.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
}

impl LogFile {
    /// Creates `<dir>/<stem>.log`, or `<stem>-2.log`, ... when that name is taken (tests
    /// start the same backend many times into one run dir).
    pub(crate) fn create(dir: &Path, stem: &str) -> io::Result<LogFile> {
        std::fs::create_dir_all(dir)?;
        for n in 1..=1000u32 {
            let name = if n == 1 {
                format!("{stem}.log")
            } else {
                format!("{stem}-{n}.log")
            };
            let path = dir.join(name);
            match OpenOptions::new().append(true).create_new(true).open(&path) {
                Ok(file) => return Ok(LogFile { path, file }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "more than 1000 {stem}*.log files in {}: clean the directory",
            dir.display()
        )))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a line of Assay's own (commands run, steps taken) so the log reads in order.
    pub(crate) fn note(&self, line: &str) {
        let mut f = &self.file;
        let _ = writeln!(f, "[assay] {line}");
    }

    fn stdio(&self) -> io::Result<(Stdio, Stdio)> {
        Ok((
            Stdio::from(self.file.try_clone()?),
            Stdio::from(self.file.try_clone()?),
        ))
    }

    /// The last non-empty line the backend wrote, to quote in error messages.
    pub(crate) fn last_line(&self) -> Option<String> {
        last_log_line(&self.path)
    }

    /// Current length, to look at only what a later step wrote (`text_since`).
    pub(crate) fn len(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// What was written after `offset` (at most 64 KiB of it).
    pub(crate) fn text_since(&self, offset: u64) -> String {
        let Ok(mut f) = File::open(&self.path) else {
            return String::new();
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.take(64 * 1024).read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Whether the log mentions `needle` (case-insensitive) in its last 64 KiB.
    pub(crate) fn tail_contains(&self, needle: &str) -> bool {
        read_tail(&self.path, 64 * 1024)
            .map(|t| t.to_lowercase().contains(&needle.to_lowercase()))
            .unwrap_or(false)
    }
}

fn read_tail(path: &Path, max: u64) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

pub(crate) fn last_log_line(path: &Path) -> Option<String> {
    let tail = read_tail(path, 8 * 1024)?;
    tail.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("[assay]"))
        .map(|l| l.chars().take(300).collect())
}

/// How a process of a backend ended, as people read it.
fn describe_wait_status(code: i32, status: i32) -> String {
    match code {
        libc::CLD_EXITED => format!("exit code {status}"),
        libc::CLD_KILLED | libc::CLD_DUMPED => format!("killed by signal {status}"),
        _ => format!("wait code {code}, status {status}"),
    }
}

/// Whether our child `pid` has ended, without reaping it (WNOWAIT keeps the zombie, and with
/// it the pid and pgid, reserved until `Child::wait`).
fn child_exit_nowait(pid: u32) -> Option<String> {
    let pid = libc::id_t::try_from(pid).ok()?;
    // SAFETY: siginfo_t is plain data; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a zeroed siginfo_t; WNOHANG makes this non-blocking.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid/si_status read the SIGCHLD union member waitid filled in.
    let (si_pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if rc != 0 || si_pid == 0 {
        return None;
    }
    Some(describe_wait_status(info.si_code, status))
}

/// Whether `pid` is a running (not zombie, not dead) process.
pub fn process_is_alive(pid: u32) -> bool {
    matches!(proc_stat(pid), Some(s) if s.state != 'Z' && s.state != 'X')
}

/// Live (non-zombie) members of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            matches!(proc_stat(pid), Some(s) if s.pgrp == pgid && s.state != 'Z' && s.state != 'X')
        })
        .collect()
}

fn group_has_live_member(pgid: u32) -> bool {
    !group_members(pgid).is_empty()
}

/// One native process we spawned, leader of its own process group.
#[derive(Debug)]
pub(crate) struct ManagedProcess {
    name: String,
    child: Child,
    pgid: u32,
    log_path: PathBuf,
    stop_signal: i32,
    grace: Duration,
    /// Other processes of the group worth watching (e.g. the Spanner gateway's emulator_main).
    members: Vec<(u32, String)>,
    reaped: bool,
}

impl ManagedProcess {
    /// Spawns `cmd` as the leader of a new process group with stdout+stderr appended to
    /// `log` and stdin from `stdin` (single-user PostgreSQL reads its SQL there).
    /// `stop_signal` is what asks it to shut down (SIGTERM for most, SIGINT for
    /// PostgreSQL's fast shutdown).
    pub(crate) fn spawn_with_stdin(
        name: &str,
        mut cmd: Command,
        log: &LogFile,
        stop_signal: i32,
        grace: Duration,
        stdin: Stdio,
    ) -> io::Result<ManagedProcess> {
        let (out, err) = log.stdio()?;
        cmd.process_group(0).stdin(stdin).stdout(out).stderr(err);
        log.note(&format!("spawn {}", render_command(&cmd)));
        // Held across the fork so `kill_all_started` can never miss a group being born.
        let mut reg = registry();
        if shutting_down() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "emulators are shutting down (Ctrl-C); not starting new processes",
            ));
        }
        let child = cmd.spawn()?;
        let pgid = child.id();
        reg.insert(pgid);
        drop(reg);
        crate::reaper::watch_group(pgid);
        Ok(ManagedProcess {
            name: name.to_string(),
            child,
            pgid,
            log_path: log.path().to_path_buf(),
            stop_signal,
            grace,
            members: Vec::new(),
            reaped: false,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn pgid(&self) -> u32 {
        self.pgid
    }

    /// Leader pid first, then watched members.
    pub(crate) fn pids(&self) -> Vec<u32> {
        std::iter::once(self.pid())
            .chain(self.members.iter().map(|(p, _)| *p))
            .collect()
    }

    /// Records the group's other current members (by their command name) so their death
    /// is reported too. Call once the backend is ready and its helpers exist.
    pub(crate) fn watch_group_members(&mut self) {
        let leader = self.pid();
        self.members = group_members(self.pgid)
            .into_iter()
            .filter(|&p| p != leader)
            .filter_map(|p| proc_stat(p).map(|s| (p, s.comm)))
            .collect();
    }

    /// Non-blocking: `Some("moto_server exited (killed by signal 9); log: …")` once the
    /// leader or a watched member has ended.
    pub(crate) fn exit_reason(&self) -> Option<String> {
        // Every dead process is named: a helper's death often makes the leader exit too
        // (the Spanner gateway quits when its emulator_main dies), and both matter.
        let mut dead: Vec<String> = self
            .members
            .iter()
            .filter(|(pid, _)| !process_is_alive(*pid))
            .map(|(pid, comm)| format!("{comm} (pid {pid}) exited"))
            .collect();
        if let Some(how) = child_exit_nowait(self.pid()) {
            dead.push(format!("{} exited ({how})", self.name));
        }
        if dead.is_empty() {
            None
        } else {
            Some(format!(
                "{}; log: {}",
                dead.join(", "),
                self.log_path.display()
            ))
        }
    }

    /// Stops the whole group: the polite signal, up to `grace` for the leader to go, then
    /// SIGKILL to whatever of the group remains; reaps the leader. Blocking, bounded.
    pub(crate) fn stop_blocking(&mut self) {
        if self.reaped {
            return;
        }
        self.begin_stop();
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline && child_exit_nowait(self.pid()).is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.finish_stop();
    }

    /// Async twin of `stop_blocking` that sleeps on the runtime instead of the thread.
    pub(crate) async fn stop(&mut self) {
        if self.reaped {
            return;
        }
        self.begin_stop();
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline && child_exit_nowait(self.pid()).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.finish_stop();
    }

    fn begin_stop(&self) {
        signal_group(self.pgid, self.stop_signal);
        // Stopped (SIGSTOP-paused) processes only act on signals once continued.
        signal_group(self.pgid, libc::SIGCONT);
    }

    fn finish_stop(&mut self) {
        {
            let mut reg = registry();
            signal_group(self.pgid, libc::SIGKILL);
            reg.remove(&self.pgid);
        }
        crate::reaper::forget_group(self.pgid);
        // The leader got SIGKILL at the latest, so this wait is short.
        let _ = self.child.wait();
        self.reaped = true;
        // Members outside our reach (reparented helpers) had SIGKILL too; give them a moment
        // to vanish so callers can assert a clean stop.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && group_has_live_member(self.pgid) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Hands the process over to outlive us (`assay emulators up`): no stop on drop, no
    /// registry entry. Returns (pid, pgid, start time, name).
    pub(crate) fn detach(mut self) -> DetachedProcess {
        registry().remove(&self.pgid);
        crate::reaper::forget_group(self.pgid);
        self.reaped = true; // suppress the stop in Drop; the child handle is just dropped
        let start_time = proc_stat(self.pid()).map(|s| s.start_time).unwrap_or(0);
        DetachedProcess {
            name: self.name.clone(),
            pid: self.pid(),
            pgid: self.pgid,
            start_time,
            log_path: self.log_path.clone(),
            member_pids: self.members.iter().map(|(p, _)| *p).collect(),
        }
    }

    /// Waits (bounded) for a short-lived helper such as initdb and returns its exit status.
    pub(crate) async fn wait_exit(
        &mut self,
        timeout: Duration,
    ) -> Result<std::process::ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if child_exit_nowait(self.pid()).is_some() {
                {
                    let mut reg = registry();
                    // The leader is a zombie still holding the pgid: finish off any helper it
                    // left in the group before the reap frees the id.
                    signal_group(self.pgid, libc::SIGKILL);
                    reg.remove(&self.pgid);
                }
                let status = self
                    .child
                    .wait()
                    .map_err(|e| format!("waiting for {}: {e}", self.name))?;
                self.reaped = true;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.stop().await;
                return Err(format!(
                    "{} did not finish within {} s (killed)",
                    self.name,
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

/// What a detached process leaves behind for a later `assay emulators down`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DetachedProcess {
    pub name: String,
    pub pid: u32,
    pub pgid: u32,
    /// `/proc/<pid>/stat` start time, so a reused pid is never mistaken for ours.
    pub start_time: u64,
    pub log_path: PathBuf,
    #[serde(default)]
    pub member_pids: Vec<u32>,
}

impl DetachedProcess {
    /// The very process we started is still running (same pid and start time, not a zombie).
    pub fn is_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some(s)
            if s.state != 'Z' && s.state != 'X' && s.start_time == self.start_time && s.pgrp == self.pgid)
    }

    /// Stops the group if it is still ours: SIGTERM, `grace`, SIGKILL. Returns whether
    /// anything was signalled.
    pub fn stop(&self, grace: Duration) -> bool {
        if !self.is_alive() {
            return false;
        }
        signal_group(self.pgid, libc::SIGTERM);
        signal_group(self.pgid, libc::SIGCONT);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && self.is_alive() {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Only kill the group if its leader is still the one we started (or has just gone
        // and the group lingers): a reused pgid would belong to a new leader.
        if self.is_alive() || proc_stat(self.pgid).is_none() {
            signal_group(self.pgid, libc::SIGKILL);
        }
        true
    }
}

/// `prog arg arg` for logs. Secrets are never passed on command lines, so this is safe.
pub(crate) fn render_command(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_reads_this_process() {
        let me = proc_stat(std::process::id()).expect("own /proc entry");
        assert!(me.start_time > 0);
        assert!(process_is_alive(std::process::id()));
    }

    #[test]
    fn log_names_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let a = LogFile::create(dir.path(), "moto").unwrap();
        let b = LogFile::create(dir.path(), "moto").unwrap();
        assert_eq!(a.path().file_name().unwrap(), "moto.log");
        assert_eq!(b.path().file_name().unwrap(), "moto-2.log");
    }

    #[tokio::test]
    async fn spawned_group_is_stopped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::create(dir.path(), "sleeper").unwrap();
        let mut cmd = Command::new("sh");
        // The child sleeper shares the group: stopping must take it down too.
        cmd.args(["-c", "sleep 30 & echo started; wait"]);
        let mut p = ManagedProcess::spawn_with_stdin(
            "sh",
            cmd,
            &log,
            libc::SIGTERM,
            Duration::from_secs(1),
            Stdio::null(),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while group_members(p.pgid()).len() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        p.watch_group_members();
        let pids = p.pids();
        assert_eq!(pids.len(), 2, "leader + sleep: {pids:?}");
        assert!(p.exit_reason().is_none());
        assert!(started_process_groups().contains(&p.pgid()));

        // Killing the watched member is noticed without reaping the leader.
        let member = pids[1];
        // SAFETY: plain signal to a pid we just observed in our own group.
        unsafe { libc::kill(member as i32, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.exit_reason().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reason = p.exit_reason().expect("member death reported");
        assert!(reason.contains("sleep"), "{reason}");

        let pgid = p.pgid();
        p.stop().await;
        assert!(group_members(pgid).is_empty());
        assert!(!started_process_groups().contains(&pgid));
        assert!(std::fs::read_to_string(log.path())
            .unwrap()
            .contains("started"));
    }

    #[tokio::test]
    async fn killed_leader_is_reported_with_its_signal() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogFile::create(dir.path(), "sleeper").unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut p = ManagedProcess::spawn_with_stdin(
            "sleep",
            cmd,
            &log,
            libc::SIGTERM,
            Duration::from_secs(1),
            Stdio::null(),
        )
        .unwrap();
        // SAFETY: plain signal to our own child.
        unsafe { libc::kill(p.pid() as i32, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while p.exit_reason().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reason = p.exit_reason().expect("reported");
        assert!(
            reason.starts_with("sleep exited (killed by signal 9); log: "),
            "{reason}"
        );
        // Still unreaped, so asking again gives the same answer.
        assert_eq!(p.exit_reason().as_deref(), Some(reason.as_str()));
        p.stop().await;
    }
}
