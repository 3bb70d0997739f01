//! The reaper: a small watchdog process that outlives us only to clean up after us.
//!
//! Everything this process starts runs in its own process group, stopped on drop, on
//! error and on Ctrl-C — but a SIGKILL of Assay itself runs none of that. So the first
//! start also spawns a reaper (a short Perl program: perl-base is Essential on Debian and
//! on every machine Assay runs on) in a process group of its own, holding the read end of
//! a pipe. We tell it each group we start (`+pgid`) and stop or hand over (`-pgid`), and
//! each temp directory (`d+path` / `d-path`). When the pipe reaches end-of-file — we
//! exited, however we died — it sends SIGTERM to every group still listed, gives them a
//! moment, sends SIGKILL, and removes the listed directories. Unlike `PR_SET_PDEATHSIG`,
//! end-of-file does not depend on which thread spawned the child, and it covers whole
//! groups, not only the direct child.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// The reaper's program. Reads lines until EOF, then cleans up what is still listed.
const PROGRAM: &str = r#"
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = 'IGNORE';
my (%groups, %dirs);
while (my $line = <STDIN>) {
    chomp $line;
    if ($line =~ /^\+(\d+)$/) { $groups{$1} = 1 }
    elsif ($line =~ /^-(\d+)$/) { delete $groups{$1} }
    elsif ($line =~ /^d\+(.+)$/) { $dirs{$1} = 1 }
    elsif ($line =~ /^d-(.+)$/) { delete $dirs{$1} }
}
if (%groups) {
    kill 'TERM', -$_ for keys %groups;
    kill 'CONT', -$_ for keys %groups;
    for (1 .. 30) { last unless grep { kill 0, -$_ } keys %groups; select(undef, undef, undef, 0.05) }
    kill 'KILL', -$_ for keys %groups;
    for (1 .. 40) { last unless grep { kill 0, -$_ } keys %groups; select(undef, undef, undef, 0.05) }
}
if (%dirs) { require File::Path; File::Path::rmtree([keys %dirs]) }
"#;

/// The pipe to the reaper; `None` until the first start, or when it could not be spawned
/// (then cleanup after a SIGKILL of Assay is not guaranteed, and nothing else changes).
static PIPE: Mutex<Option<ChildStdin>> = Mutex::new(None);
static STARTED: std::sync::Once = std::sync::Once::new();

fn send(line: &str) {
    STARTED.call_once(|| {
        let child = Command::new("perl")
            .args(["-e", PROGRAM])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = child {
            // Never waited for: it ends when we do, and init reaps it.
            *PIPE.lock().unwrap_or_else(|p| p.into_inner()) = child.stdin.take();
        }
    });
    let mut pipe = PIPE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(stdin) = pipe.as_mut() {
        if writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .is_err()
        {
            *pipe = None;
        }
    }
}

/// A process group this process started: killed if we die without stopping it.
pub(crate) fn watch_group(pgid: u32) {
    send(&format!("+{pgid}"));
}

/// The group was stopped, or handed over to outlive us (`assay emulators up`).
pub(crate) fn forget_group(pgid: u32) {
    send(&format!("-{pgid}"));
}

/// A temp directory of ours: removed if we die without removing it.
pub(crate) fn watch_dir(dir: &Path) {
    if let Some(d) = dir.to_str().filter(|d| !d.contains('\n')) {
        send(&format!("d+{d}"));
    }
}

pub(crate) fn forget_dir(dir: &Path) {
    if let Some(d) = dir.to_str().filter(|d| !d.contains('\n')) {
        send(&format!("d-{d}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The program itself, driven through a pipe we then close: a listed group and
    /// directory are gone afterwards; a forgotten group lives on.
    #[test]
    fn at_end_of_input_the_reaper_kills_listed_groups_and_removes_listed_dirs() {
        let spawn_sleeper = || {
            Command::new("sleep")
                .arg("30")
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let mut doomed = spawn_sleeper();
        let mut kept = spawn_sleeper();
        let dir = tempfile::tempdir().unwrap().keep();
        std::fs::write(dir.join("data"), "x").unwrap();
        let mut reaper = Command::new("perl")
            .args(["-e", PROGRAM])
            .process_group(0)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = reaper.stdin.take().unwrap();
        writeln!(stdin, "+{}", doomed.id()).unwrap();
        writeln!(stdin, "+{}", kept.id()).unwrap();
        writeln!(stdin, "-{}", kept.id()).unwrap();
        writeln!(stdin, "d+{}", dir.display()).unwrap();
        drop(stdin);
        let status = reaper.wait().unwrap();
        assert!(status.success(), "{status}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let gone = loop {
            if let Some(s) = doomed.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(gone.is_some(), "the listed group was not stopped");
        assert!(
            kept.try_wait().unwrap().is_none(),
            "a forgotten group lives on"
        );
        assert!(!dir.exists(), "the listed directory is removed");
        let _ = kept.kill();
        let _ = kept.wait();
    }
}
