//! What this process asks of the OS about processes: `/proc/<pid>/stat` and signalling a
//! process group. A leaf: the process registry and the reaper both build on it.

/// Facts from `/proc/<pid>/stat`: state letter, process group, start time (clock ticks
/// since boot, which tells a pid apart from a later process that reuses it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub state: char,
    pub pgrp: u32,
    pub start_time: u64,
    /// User + system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    pub comm: String,
}

pub(crate) fn proc_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses: the fields start after the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state); pgrp is field 5, starttime field 22.
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
        // utime and stime are fields 14 and 15.
        cpu_ticks: fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?,
        comm,
    })
}

/// Sends `signal` to process group `pgid` (never to group 0 or 1).
pub(crate) fn signal_group(pgid: u32, signal: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions; a stale group just gives ESRCH.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// The machine's CPU counters at one moment, in clock ticks: all CPUs' time, the part
/// spent in processes, and the part this process and the stand-ins it started used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSample {
    total: u64,
    busy: u64,
    ours: u64,
    steal: u64,
}

/// Samples the counters, counting this process and the process groups `ours` as this
/// run's (`None` where there is no `/proc`).
pub(crate) fn cpu_sample_of(groups: &[u32]) -> Option<CpuSample> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    // cpu  user nice system idle iowait irq softirq steal …
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let total: u64 = ticks.iter().sum();
    // Busy is time spent in processes (user, nice, system). Interrupt and softirq time
    // belongs to no process — on loopback it is mostly this run's own network traffic —
    // so it counts neither as ours nor as others'.
    let busy = ticks.iter().take(3).sum();
    let steal = ticks.get(7).copied().unwrap_or(0);
    let me = std::process::id();
    let ours = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| proc_stat(pid).map(|s| (pid, s)))
        .filter(|(pid, s)| *pid == me || groups.contains(&s.pgrp))
        .map(|(_, s)| s.cpu_ticks)
        .sum();
    Some(CpuSample {
        total,
        busy,
        ours,
        steal,
    })
}

impl CpuSample {
    /// The load between two samples, in cores averaged over the interval: busy, and
    /// used outside this run. `None` when no time passed.
    pub fn load_since(&self, before: &CpuSample) -> Option<assay_core::record::HostLoad> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let total = self.total.checked_sub(before.total).filter(|t| *t > 0)? as f64;
        let busy = self.busy.saturating_sub(before.busy) as f64;
        let ours = self.ours.saturating_sub(before.ours) as f64;
        let steal = self.steal.saturating_sub(before.steal) as f64;
        // A stand-in that exited between the samples takes its ticks with it; never
        // report negative load.
        let cores = |ticks: f64| (ticks / total * cpus as f64).max(0.0);
        Some(assay_core::record::HostLoad {
            cpus,
            busy_cores: cores(busy),
            other_cores: cores(busy - ours),
            stolen_cores: cores(steal),
        })
    }
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn a_busy_loop_here_is_ours_and_not_the_machines_other_load() {
        let before = cpu_sample_of(&[]).expect("/proc/stat");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(600) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let load = cpu_sample_of(&[]).unwrap().load_since(&before).unwrap();
        assert!(load.busy_cores >= 0.5, "{load:?}");
        // This process used about one core; "other" is what else ran meanwhile, so it
        // is well below the busy total.
        assert!(load.other_cores < load.busy_cores - 0.4, "{load:?}");
    }
}
