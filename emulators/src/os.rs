//! What this process asks of the OS about processes: `/proc/<pid>/stat` and signalling a
//! process group. A leaf: the process registry and the reaper both build on it.

/// Facts from `/proc/<pid>/stat`: state letter, process group, start time (clock ticks
/// since boot, which tells a pid apart from a later process that reuses it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub state: char,
    pub pgrp: u32,
    pub start_time: u64,
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
