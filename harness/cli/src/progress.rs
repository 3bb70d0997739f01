//! Progress while a scenario runs: on a terminal, one line redrawn in place (phase, elapsed,
//! ops/s, last 1 s interval's p99, errors); otherwise a plain line every 10 s, so CI logs
//! show a long run is alive without drowning in redraws. Both go to stderr.

use assay_engine::{LiveSnapshot, LiveStats};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Redraw period on a terminal.
const TERMINAL_TICK: Duration = Duration::from_millis(500);
/// Period of plain lines when stderr is not a terminal.
const PLAIN_TICK: Duration = Duration::from_secs(10);

pub struct Progress {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts reporting `live` under `label` (e.g. `postgres: ycsb-a`).
    pub fn start(label: String, live: Arc<LiveStats>) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let (tx, mut rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let tick = if terminal { TERMINAL_TICK } else { PLAIN_TICK };
            let started = Instant::now();
            let mut last = (Instant::now(), 0u64);
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
            // Ends when the scenario does (the sender is dropped or fires).
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    _ = interval.tick() => {
                        let snap = live.snapshot();
                        let now = Instant::now();
                        let secs = now.duration_since(last.0).as_secs_f64();
                        let rate = if secs > 0.0 { snap.ops.saturating_sub(last.1) as f64 / secs } else { 0.0 };
                        last = (now, snap.ops);
                        let line = render(&label, &snap, started.elapsed(), rate);
                        let mut err = std::io::stderr().lock();
                        if terminal {
                            let _ = write!(err, "\r\x1b[2K{line}");
                        } else {
                            let _ = writeln!(err, "assay: {line}");
                        }
                        let _ = err.flush();
                    }
                }
            }
            if terminal {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
        });
        Progress {
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops and clears the line; waits for the reporter so nothing prints after.
    pub async fn finish(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn render(label: &str, snap: &LiveSnapshot, elapsed: Duration, rate: f64) -> String {
    let p99 = snap.last_interval_p99_ns.map_or("-".to_string(), |ns| {
        assay_check::thresholds::format_ns(ns as f64)
    });
    if snap.phase == "load" {
        // The load phase counts rows (bulk calls are not ops) and has no op latency.
        return format!(
            "{label} [load] {:>4}s  {:>9.0} rows/s  {} rows  failed {}",
            elapsed.as_secs(),
            rate,
            snap.ops,
            snap.errors
        );
    }
    format!(
        "{label} [{}] {:>4}s  {:>9.0} ops/s  p99(last 1s) {:>8}  errors {}",
        if snap.phase.is_empty() {
            "steps"
        } else {
            &snap.phase
        },
        elapsed.as_secs(),
        rate,
        p99,
        snap.errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_has_rate_p99_and_errors() {
        let snap = LiveSnapshot {
            phase: "workload".into(),
            ops: 1000,
            errors: 3,
            last_interval_p99_ns: Some(12_340_000),
        };
        let line = render("postgres: ycsb-a", &snap, Duration::from_secs(12), 5321.4);
        assert_eq!(
            line,
            "postgres: ycsb-a [workload]   12s       5321 ops/s  p99(last 1s)  12.34ms  errors 3"
        );
    }

    #[test]
    fn the_load_phase_shows_rows_per_second() {
        let snap = LiveSnapshot {
            phase: "load".into(),
            ops: 250_000,
            errors: 0,
            last_interval_p99_ns: None,
        };
        let line = render("postgres: tpcb", &snap, Duration::from_secs(2), 480_000.0);
        assert_eq!(
            line,
            "postgres: tpcb [load]    2s     480000 rows/s  250000 rows  failed 0"
        );
    }
}
