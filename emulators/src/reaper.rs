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
//!
//! Should the reaper itself have died too (the whole session killed), a ledger in the
//! temp directory (`assay-started/<pid>`) still lists what we started; the next start
//! and `assay emulators status` sweep the ledgers of processes that are gone
//! (`sweep_stale`).

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

/// What this process has started and not yet stopped: (pgid, leader start time) and
/// temp dirs, mirrored into its ledger file on every change.
type Ledger = (Vec<(u32, u64)>, Vec<String>);
static LEDGER: Mutex<Ledger> = Mutex::new((Vec::new(), Vec::new()));

fn ledger_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("assay-started")
}

fn own_ledger() -> std::path::PathBuf {
    let me = std::process::id();
    let since = crate::os::proc_stat(me).map_or(0, |s| s.start_time);
    ledger_dir().join(format!("{me}-{since}"))
}

/// Applies one line to the ledger and writes it out (best effort: the ledger is the
/// second line of defence, the reaper the first).
fn record(line: &str) {
    let mut ledger = LEDGER.lock().unwrap_or_else(|p| p.into_inner());
    let (groups, dirs) = &mut *ledger;
    if let Some(g) = line.strip_prefix('+').and_then(|g| g.parse::<u32>().ok()) {
        let since = crate::os::proc_stat(g).map_or(0, |s| s.start_time);
        groups.push((g, since));
    } else if let Some(g) = line.strip_prefix('-').and_then(|g| g.parse::<u32>().ok()) {
        groups.retain(|(x, _)| *x != g);
    } else if let Some(d) = line.strip_prefix("d+") {
        dirs.push(d.to_string());
    } else if let Some(d) = line.strip_prefix("d-") {
        dirs.retain(|x| x != d);
    }
    let path = own_ledger();
    if groups.is_empty() && dirs.is_empty() {
        let _ = std::fs::remove_file(&path);
        return;
    }
    let text: String = groups
        .iter()
        .map(|(g, t)| format!("g {g} {t}\n"))
        .chain(dirs.iter().map(|d| format!("d {d}\n")))
        .collect();
    let _ = std::fs::create_dir_all(ledger_dir());
    let _ = std::fs::write(&path, text);
}

/// Removes what processes that are gone left behind: for every ledger whose owner (pid
/// and start time) no longer runs, SIGKILL each listed group whose leader is still the
/// process we started (same pid and start time), remove the listed temp dirs, then the
/// ledger. Returns one line per thing removed.
pub fn sweep_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(ledger_dir()) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((pid, since)) = name
            .split_once('-')
            .and_then(|(p, t)| Some((p.parse::<u32>().ok()?, t.parse::<u64>().ok()?)))
        else {
            continue;
        };
        let owner_alive =
            crate::os::proc_stat(pid).is_some_and(|s| s.start_time == since && s.state != 'Z');
        if owner_alive {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("g"), Some(g), Some(t)) => {
                    let (Ok(g), Ok(t)) = (g.parse::<u32>(), t.parse::<u64>()) else {
                        continue;
                    };
                    let ours = crate::os::proc_stat(g)
                        .is_some_and(|s| s.start_time == t && s.state != 'Z');
                    if ours {
                        crate::os::signal_group(g, libc::SIGKILL);
                        removed.push(format!("process group {g} left by assay pid {pid}: killed"));
                    }
                }
                (Some("d"), Some(first), rest) => {
                    let dir = match rest {
                        Some(r) => format!("{first} {r}"),
                        None => first.to_string(),
                    };
                    let dir = std::path::Path::new(&dir);
                    // Only our own temp dirs (tempfile with the `assay-` prefix).
                    let ours = dir.starts_with(std::env::temp_dir())
                        && dir
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("assay-"));
                    if ours && dir.exists() && std::fs::remove_dir_all(dir).is_ok() {
                        removed.push(format!(
                            "{} left by assay pid {pid}: removed",
                            dir.display()
                        ));
                    }
                }
                _ => {}
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    removed
}

fn send(line: &str) {
    record(line);
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

    /// A ledger whose owner is gone: its group is killed (only while its leader is the
    /// process that was started), its temp dir removed, the ledger itself too.
    #[test]
    fn a_stale_ledger_is_swept_and_a_live_owners_is_kept() {
        let mut sleeper = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = sleeper.id();
        let since = crate::os::proc_stat(pid).unwrap().start_time;
        let dir = tempfile::Builder::new()
            .prefix("assay-sweep-")
            .tempdir()
            .unwrap()
            .keep();
        std::fs::create_dir_all(ledger_dir()).unwrap();
        // Owner pid 1 with a start time it does not have: gone.
        let stale = ledger_dir().join("1-999999999999");
        std::fs::write(&stale, format!("g {pid} {since}\nd {}\n", dir.display())).unwrap();
        let removed = sweep_stale();
        assert!(
            removed
                .iter()
                .any(|l| l.contains(&format!("process group {pid}"))),
            "{removed:?}"
        );
        assert!(!dir.exists());
        assert!(!stale.exists());
        let deadline = Instant::now() + Duration::from_secs(5);
        while sleeper.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            sleeper.try_wait().unwrap().is_some(),
            "the stale group was killed"
        );
    }

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
