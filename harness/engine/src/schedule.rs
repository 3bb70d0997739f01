//! When ops should start: the open loop's arrival schedule (op `k`'s intended start, from a
//! constant rate or linear rate stages), the closed loop's client ramp (when client `c`
//! is active), and a precise wait for an intended time.
//!
//! Times are nanoseconds since the workload's timeline started; the schedule is a pure
//! function of the scenario, so op `k` has the same intended start in every run.

use assay_core::scenario::{LoadMode, Workload};
use std::time::{Duration, Instant};

/// One linear piece of a level over time (rate in ops/s, or clients).
#[derive(Clone, Debug)]
struct Segment {
    start_s: f64,
    dur_s: f64,
    from: f64,
    to: f64,
    /// Ops due before this segment starts (open loop).
    ops_before: f64,
}

impl Segment {
    fn level_at(&self, t_s: f64) -> f64 {
        if self.dur_s <= 0.0 {
            return self.to;
        }
        self.from + (self.to - self.from) * ((t_s - self.start_s) / self.dur_s).clamp(0.0, 1.0)
    }

    fn ops(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.dur_s
    }
}

fn segments(w: &Workload, start_level: f64) -> Vec<Segment> {
    let mut out = Vec::new();
    if w.stages.is_empty() {
        out.push(Segment {
            start_s: 0.0,
            dur_s: w.timeline().as_secs_f64(),
            from: start_level,
            to: start_level,
            ops_before: 0.0,
        });
        return out;
    }
    let (mut t, mut level, mut ops) = (0.0, start_level, 0.0);
    for s in &w.stages {
        let seg = Segment {
            start_s: t,
            dur_s: s.duration.as_secs_f64(),
            from: level,
            to: s.target,
            ops_before: ops,
        };
        t += seg.dur_s;
        ops += seg.ops();
        level = s.target;
        out.push(seg);
    }
    out
}

/// The open loop's intended start of every op.
#[derive(Clone, Debug)]
pub struct ArrivalSchedule {
    segments: Vec<Segment>,
    end_ns: u64,
    total_ops: f64,
}

impl ArrivalSchedule {
    pub fn new(w: &Workload) -> Self {
        let segments = segments(
            w,
            if w.mode == LoadMode::Open {
                w.rate
            } else {
                0.0
            },
        );
        let total_ops = segments.last().map_or(0.0, |s| s.ops_before + s.ops());
        ArrivalSchedule {
            segments,
            end_ns: w.timeline().as_nanos() as u64,
            total_ops,
        }
    }

    pub fn end_ns(&self) -> u64 {
        self.end_ns
    }

    /// Intended start of op `k` (the k-th arrival, from 0), or `None` past the timeline.
    pub fn intended_ns(&self, k: u64) -> Option<u64> {
        let x = k as f64;
        if x >= self.total_ops {
            return None;
        }
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.ops_before <= x)
            .unwrap_or(&self.segments[0]);
        let n = x - seg.ops_before;
        // Arrivals in the segment up to t: from·t + (to−from)/(2·dur)·t²; solve for t.
        let a = if seg.dur_s > 0.0 {
            (seg.to - seg.from) / (2.0 * seg.dur_s)
        } else {
            0.0
        };
        let b = seg.from;
        let t = if a.abs() < 1e-12 {
            if b <= 0.0 {
                return None;
            }
            n / b
        } else {
            let disc = (b * b + 4.0 * a * n).max(0.0);
            (-b + disc.sqrt()) / (2.0 * a)
        };
        let ns = ((seg.start_s + t.clamp(0.0, seg.dur_s)) * 1e9) as u64;
        (ns < self.end_ns).then_some(ns)
    }

    /// How many ops are due before `t_ns` (the number of k with intended < t).
    pub fn due_before(&self, t_ns: u64) -> u64 {
        let t_s = t_ns.min(self.end_ns) as f64 / 1e9;
        let mut due = 0.0;
        for s in &self.segments {
            if t_s <= s.start_s {
                break;
            }
            let dt = (t_s - s.start_s).min(s.dur_s);
            due = s.ops_before + (s.from + s.level_at(s.start_s + dt)) / 2.0 * dt;
        }
        (due.ceil() as u64).min(self.total_ops.ceil() as u64)
    }

    /// Mean planned rate over `[from_ns, to_ns)`, in ops/s.
    pub fn mean_rate(&self, from_ns: u64, to_ns: u64) -> f64 {
        let secs = to_ns.saturating_sub(from_ns) as f64 / 1e9;
        if secs <= 0.0 {
            return 0.0;
        }
        self.due_before(to_ns)
            .saturating_sub(self.due_before(from_ns)) as f64
            / secs
    }
}

/// The closed loop's number of active clients over time.
#[derive(Clone, Debug)]
pub struct ClientRamp {
    segments: Vec<Segment>,
    end_ns: u64,
}

impl ClientRamp {
    pub fn new(w: &Workload) -> Self {
        ClientRamp {
            segments: segments(w, f64::from(w.clients)),
            end_ns: w.timeline().as_nanos() as u64,
        }
    }

    /// Whether client `c` (from 0) may issue at `t_ns`.
    pub fn active(&self, c: u32, t_ns: u64) -> bool {
        let t_s = t_ns as f64 / 1e9;
        let seg = self
            .segments
            .iter()
            .rev()
            .find(|s| s.start_s <= t_s)
            .unwrap_or(&self.segments[0]);
        seg.level_at(t_s) > f64::from(c)
    }

    /// The first time at or after `t_ns` when client `c` is active, or `None` if it never
    /// is again before the timeline ends.
    pub fn next_active(&self, c: u32, t_ns: u64) -> Option<u64> {
        if self.active(c, t_ns) {
            return Some(t_ns);
        }
        let c = f64::from(c);
        let t_s = t_ns as f64 / 1e9;
        for s in &self.segments {
            let end = s.start_s + s.dur_s;
            if end <= t_s || s.to <= c {
                continue;
            }
            // Rising through level c inside this segment (or already above at its start).
            let at = if s.from > c || s.dur_s <= 0.0 {
                s.start_s
            } else {
                s.start_s + s.dur_s * (c - s.from) / (s.to - s.from)
            };
            // Just past the crossing, where level > c holds strictly.
            let ns = ((at.max(t_s)) * 1e9) as u64 + 1_000;
            return (ns < self.end_ns).then_some(ns);
        }
        None
    }
}

/// Below this much time to go, a wait spins (yielding to the runtime) instead of sleeping
/// on tokio's 1 ms timer wheel, so an op starts within microseconds of its intended time.
const SPIN_WINDOW: Duration = Duration::from_micros(1500);

/// Waits until `t_ns` after `origin`: a coarse sleep, then yields until the time.
pub async fn wait_until(origin: Instant, t_ns: u64) {
    let target = origin + Duration::from_nanos(t_ns);
    loop {
        let now = Instant::now();
        if now >= target {
            return;
        }
        let left = target - now;
        if left > SPIN_WINDOW {
            tokio::time::sleep_until((target - SPIN_WINDOW).into()).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::Scenario;

    fn workload(body: &str) -> Workload {
        let src = format!(
            "format = 1\nname = \"s\"\nkind = \"throughput\"\n[[setup.tables]]\nname = \"kv\"\n[workload]\nkeys = {{ prefix = \"k\", count = 10 }}\nmix = {{ read = 1 }}\n{body}"
        );
        Scenario::parse(&src, "s.toml").unwrap().workload.unwrap()
    }

    #[test]
    fn constant_rate_spaces_ops_evenly() {
        let s = ArrivalSchedule::new(&workload("rate = 1000\nduration = \"2s\""));
        assert_eq!(s.intended_ns(0), Some(0));
        assert_eq!(s.intended_ns(1), Some(1_000_000));
        assert_eq!(s.intended_ns(1999), Some(1_999_000_000));
        assert_eq!(s.intended_ns(2000), None);
        assert_eq!(s.due_before(500_000_000), 500);
        assert!((s.mean_rate(0, 2_000_000_000) - 1000.0).abs() < 1.0);
    }

    #[test]
    fn rate_stages_ramp_linearly() {
        // 0 → 1000/s over 2 s (1000 ops), then 1000/s for 1 s (1000 ops).
        let s = ArrivalSchedule::new(&workload(
            "mode = \"open\"\nstages = [{ duration = \"2s\", target = 1000 }, { duration = \"1s\", target = 1000 }]",
        ));
        // Arrivals by t in the ramp: 250·t², so op 250 is due at 1 s.
        let t = s.intended_ns(250).unwrap();
        assert!((999_000_000..=1_001_000_000).contains(&t), "{t}");
        let t = s.intended_ns(1500).unwrap();
        assert!((2_499_000_000..=2_501_000_000).contains(&t), "{t}");
        assert_eq!(s.intended_ns(2000), None);
        assert_eq!(s.due_before(3_000_000_000), 2000);
    }

    #[test]
    fn client_ramp_activates_clients_in_turn() {
        // 0 → 10 clients over 10 s, then 10 → 0 over 10 s.
        let r = ClientRamp::new(&workload(
            "stages = [{ duration = \"10s\", target = 10 }, { duration = \"10s\", target = 0 }]",
        ));
        assert!(!r.active(0, 0));
        assert!(r.active(0, 1_500_000_000));
        assert!(!r.active(5, 4_000_000_000));
        let t = r.next_active(5, 0).unwrap();
        assert!((5_000_000_000..5_001_000_000).contains(&t), "{t}");
        assert!(r.active(5, t));
        assert!(!r.active(5, 16_000_000_000));
        assert_eq!(r.next_active(5, 16_000_000_000), None);
    }
}
