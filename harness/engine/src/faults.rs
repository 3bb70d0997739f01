//! The fault schedule at run time: each `[[faults]]` entry fires at its time after the
//! run starts (again every `every`, `times` times) and is undone after its duration. When
//! the run ends first, every fault still in force is undone at once, so teardown meets a
//! healed target. Each action is bounded in time and becomes a `FaultEvent`.

use assay_core::fault::FaultInjector;
use assay_core::record::FaultEvent;
use assay_core::scenario::{FaultKind, FaultSpec};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Bound on one fault action (a stand-in restart included).
const ACTION_BOUND: Duration = Duration::from_secs(120);

/// A running schedule; `finish` ends it and returns what it did.
pub(crate) struct Schedule {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<FaultEvent>>,
}

#[derive(Clone, Copy)]
struct Planned {
    at: Duration,
    fault: usize,
    action: FaultKind,
    /// An undo of a start (heal, resume, start): due however the run ends.
    undo: bool,
}

fn plan(faults: &[FaultSpec]) -> Vec<Planned> {
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        for t in f.firings() {
            out.push(Planned {
                at: t,
                fault: i,
                action: f.kind,
                undo: false,
            });
            if let (Some(d), Some(undo)) = (f.duration, f.kind.undo()) {
                out.push(Planned {
                    at: t + d,
                    fault: i,
                    action: undo,
                    undo: true,
                });
            }
        }
    }
    // At the same instant an undo goes first: a repeated fault heals before it fires again.
    out.sort_by_key(|p| (p.at, !p.undo));
    out
}

impl Schedule {
    pub(crate) fn start(
        faults: Vec<FaultSpec>,
        injector: Arc<dyn FaultInjector>,
        run_start: Instant,
    ) -> Schedule {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut events = Vec::new();
            let mut pending = plan(&faults).into_iter().peekable();
            // Undos owed for starts already done (by fault index).
            let mut owed: Vec<Planned> = Vec::new();
            while let Some(next) = pending.peek().copied() {
                let due = tokio::time::Instant::from_std(run_start + next.at);
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    _ = stopped.changed() => break,
                }
                pending.next();
                if next.undo {
                    if let Some(i) = owed.iter().position(|o| o.fault == next.fault) {
                        owed.remove(i);
                    }
                } else if let (Some(_), Some(undo)) =
                    (faults[next.fault].duration, faults[next.fault].kind.undo())
                {
                    owed.push(Planned {
                        action: undo,
                        undo: true,
                        ..next
                    });
                }
                events.push(act(&*injector, &faults[next.fault], next.action, run_start).await);
            }
            for o in owed {
                events.push(act(&*injector, &faults[o.fault], o.action, run_start).await);
            }
            events
        });
        Schedule { stop, task }
    }

    /// Stops firing, undoes what is still in force, and returns every event.
    pub(crate) async fn finish(self) -> Vec<FaultEvent> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

async fn act(
    injector: &dyn FaultInjector,
    fault: &FaultSpec,
    action: FaultKind,
    run_start: Instant,
) -> FaultEvent {
    let at_ns = run_start.elapsed().as_nanos() as u64;
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (ok, detail) = match tokio::time::timeout(ACTION_BOUND, injector.apply(action, fault)).await
    {
        Ok(Ok(d)) => (true, d),
        Ok(Err(e)) => (false, e),
        Err(_) => (false, format!("did not finish within {ACTION_BOUND:?}")),
    };
    FaultEvent {
        unix_ms,
        at_ns,
        action,
        fault: fault.describe(),
        ok,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Log(Mutex<Vec<(FaultKind, Duration)>>, Instant);

    #[async_trait::async_trait]
    impl FaultInjector for Log {
        async fn apply(&self, action: FaultKind, _: &FaultSpec) -> Result<String, String> {
            self.0.lock().unwrap().push((action, self.1.elapsed()));
            if action == FaultKind::Heal {
                Err("proxy gone".into())
            } else {
                Ok(format!("{} done", action.as_str()))
            }
        }
    }

    fn spec(kind: FaultKind, at_ms: u64, duration_ms: Option<u64>) -> FaultSpec {
        FaultSpec {
            kind,
            at: Duration::from_millis(at_ms),
            duration: duration_ms.map(Duration::from_millis),
            every: None,
            times: 1,
            on: Default::default(),
            direction: Default::default(),
            toxicity: 1.0,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            bytes_per_s: 0,
            command: vec![],
        }
    }

    #[tokio::test]
    async fn faults_fire_in_order_and_what_is_in_force_is_undone_at_the_end() {
        let start = Instant::now();
        let log = Arc::new(Log(Mutex::new(Vec::new()), start));
        let mut repeated = spec(FaultKind::Pause, 10, Some(20));
        repeated.every = Some(Duration::from_millis(50));
        repeated.times = 2;
        let faults = vec![
            spec(FaultKind::Partition, 30, Some(10_000)),
            repeated,
            spec(FaultKind::Kill, 5_000, None),
        ];
        let s = Schedule::start(faults, log.clone(), start);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let events = s.finish().await;
        let actions: Vec<FaultKind> = events.iter().map(|e| e.action).collect();
        use FaultKind::*;
        assert_eq!(
            actions,
            vec![Pause, Resume, Partition, Pause, Resume, Heal],
            "the kill at 5 s never came; the partition was healed at the end"
        );
        let times: Vec<Duration> = log.0.lock().unwrap().iter().map(|(_, t)| *t).collect();
        assert!(times[0] >= Duration::from_millis(10), "{times:?}");
        assert!(times[3] >= Duration::from_millis(60), "{times:?}");
        assert!(events[..5].iter().all(|e| e.ok));
        assert!(!events[5].ok && events[5].detail == "proxy gone");
    }
}
