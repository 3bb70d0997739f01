//! Op generators for consistency workloads: histories built so the checkers can judge
//! them. List-append transactions append globally unique elements, so every read list
//! says exactly which appends it saw and in which order; register writes carry unique
//! values and compare-and-sets use the version the client last saw.

use crate::recorder::ClientRecorder;
use crate::shared::{gather, PhaseStats, Shared};
use assay_core::history::FINAL_READ_STEP;
use assay_core::scenario::{ConsistencyWorkload, ConsistencyWorkloadKind};
use assay_core::{Consistency, HistoryEvent, Op, OpResult, OpValue};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The step name consistency ops carry in the history.
pub const PHASE: &str = "consistency";

/// Runs the consistency workload: `clients` closed-loop clients until `ops` ops (or
/// transactions) are spent or `duration` has passed, whichever comes first.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    w: &ConsistencyWorkload,
) -> (PhaseStats, Vec<HistoryEvent>) {
    let started = Instant::now();
    let deadline = started + w.duration;
    let budget = Arc::new(AtomicU64::new(w.ops));
    // Elements start at 1: Elle-style checkers read 0 as nothing special, but a
    // positive start keeps EDN exports unambiguous.
    let next_element = Arc::new(AtomicI64::new(1));
    let mut handles = Vec::new();
    for c in 0..w.clients {
        let shared = shared.clone();
        let w = w.clone();
        let budget = budget.clone();
        let next_element = next_element.clone();
        handles.push(tokio::spawn(async move {
            let mut rec = ClientRecorder::new(c, shared.run_start);
            let mut rng = SmallRng::seed_from_u64(shared.opts.seed ^ (u64::from(c) << 24) ^ 0xc0);
            let mut gen = ConsistencyGenerator::new(&w, c, &next_element);
            while Instant::now() < deadline && !shared.abort.is_aborted() {
                if budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                    .is_err()
                {
                    break;
                }
                let op = gen.next_op(&mut rng);
                let op_id = shared.next_op_id.fetch_add(1, Ordering::Relaxed);
                let start = rec.now_ns();
                rec.invoke(op_id, PHASE, &op, start, start);
                let result = shared.execute(&op).await;
                shared.watch(&result);
                gen.observe(&op, &result);
                rec.complete(op_id, &op, start, result);
            }
            rec
        }));
    }
    let (mut stats, mut events) = gather(PHASE, started, handles).await;
    if !shared.abort.is_aborted() {
        let rec = final_reads(shared, w).await;
        stats.latencies.merge(&rec.latencies);
        stats.ops += rec
            .events
            .iter()
            .filter(|e| matches!(e, HistoryEvent::Complete { .. }))
            .count() as u64;
        events.extend(rec.events);
        stats.elapsed = started.elapsed();
    }
    (stats, events)
}

/// Tries per key of the final read before it gives up on that key.
const FINAL_READ_TRIES: u32 = 20;
/// Pause between tries: a backend recovering from a fault gets time to answer.
const FINAL_READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// After the workload quiesced: one more client reads every key until it gets an answer
/// (bounded), under the step `final-read`. Against these reads a missing acknowledged
/// write is lost, not merely not yet visible.
async fn final_reads(shared: &Arc<Shared>, w: &ConsistencyWorkload) -> ClientRecorder {
    let mut rec = ClientRecorder::new(w.clients, shared.run_start);
    for k in 0..w.keys.max(1) {
        let read = Op::Read {
            table: w.table.clone(),
            key: key_name(w.kind, k),
            consistency: Consistency::Strong,
        };
        let op = match w.kind {
            ConsistencyWorkloadKind::ListAppend if w.max_txn_ops > 1 => Op::Txn { ops: vec![read] },
            _ => read,
        };
        for attempt in 0..FINAL_READ_TRIES {
            if shared.abort.is_aborted() {
                return rec;
            }
            if attempt > 0 {
                tokio::time::sleep(FINAL_READ_PAUSE).await;
            }
            let op_id = shared.next_op_id.fetch_add(1, Ordering::Relaxed);
            let start = rec.now_ns();
            rec.invoke(op_id, FINAL_READ_STEP, &op, start, start);
            let result = shared.execute(&op).await;
            let ok = result.outcome == assay_core::Outcome::Ok;
            rec.complete(op_id, &op, start, result);
            if ok {
                break;
            }
        }
    }
    rec
}

/// One client's generator. Elements are unique across clients through `next_element`.
pub struct ConsistencyGenerator<'a> {
    w: &'a ConsistencyWorkload,
    client: u32,
    next_element: &'a AtomicI64,
    writes: u64,
    /// Register: the version this client last saw per key (for compare-and-set).
    seen_versions: HashMap<u32, Option<u64>>,
}

pub fn key_name(kind: ConsistencyWorkloadKind, k: u32) -> String {
    match kind {
        ConsistencyWorkloadKind::ListAppend => format!("list-{k}"),
        ConsistencyWorkloadKind::Register => format!("reg-{k}"),
    }
}

impl<'a> ConsistencyGenerator<'a> {
    pub fn new(w: &'a ConsistencyWorkload, client: u32, next_element: &'a AtomicI64) -> Self {
        ConsistencyGenerator {
            w,
            client,
            next_element,
            writes: 0,
            seen_versions: HashMap::new(),
        }
    }

    fn key(&self, rng: &mut SmallRng) -> (u32, String) {
        let k = rng.random_range(0..self.w.keys.max(1));
        (k, key_name(self.w.kind, k))
    }

    pub fn next_op(&mut self, rng: &mut SmallRng) -> Op {
        let table = self.w.table.clone();
        match self.w.kind {
            ConsistencyWorkloadKind::ListAppend => {
                let n = rng.random_range(1..=self.w.max_txn_ops.max(1));
                let ops = (0..n)
                    .map(|_| {
                        let (_, key) = self.key(rng);
                        if rng.random::<f64>() < self.w.read_ratio {
                            Op::Read {
                                table: table.clone(),
                                key,
                                consistency: Consistency::Strong,
                            }
                        } else {
                            Op::Append {
                                table: table.clone(),
                                key,
                                element: self.next_element.fetch_add(1, Ordering::Relaxed),
                            }
                        }
                    })
                    .collect::<Vec<Op>>();
                if self.w.max_txn_ops == 1 {
                    // A bare op: backends without transactions run it too.
                    ops.into_iter()
                        .next()
                        .unwrap_or(Op::Txn { ops: Vec::new() })
                } else {
                    Op::Txn { ops }
                }
            }
            ConsistencyWorkloadKind::Register => {
                let (k, key) = self.key(rng);
                let roll = rng.random::<f64>();
                if roll < self.w.read_ratio {
                    return Op::Read {
                        table,
                        key,
                        consistency: Consistency::Strong,
                    };
                }
                self.writes += 1;
                let value = format!("c{}-{}", self.client, self.writes);
                // Half the writes are compare-and-sets on the version last seen, so some
                // succeed and some fail: both are informative to the checker.
                if rng.random::<bool>() {
                    Op::CompareAndSet {
                        table,
                        key,
                        expected_version: self.seen_versions.get(&k).copied().flatten(),
                        value,
                    }
                } else {
                    Op::Write { table, key, value }
                }
            }
        }
    }

    /// Learns versions from reads, so later compare-and-sets have a fair chance.
    pub fn observe(&mut self, op: &Op, result: &OpResult) {
        if let (Op::Read { key, .. }, OpValue::Record(rec)) = (op, &result.value) {
            if let Some(k) = key.strip_prefix("reg-").and_then(|s| s.parse().ok()) {
                self.seen_versions
                    .insert(k, rec.as_ref().and_then(|r| r.version));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::time::Duration;

    fn workload(kind: ConsistencyWorkloadKind) -> ConsistencyWorkload {
        ConsistencyWorkload {
            kind,
            table: "t".into(),
            clients: 2,
            keys: 3,
            ops: 100,
            duration: Duration::from_secs(1),
            max_txn_ops: 4,
            read_ratio: 0.5,
        }
    }

    #[test]
    fn list_append_elements_are_unique_across_clients() {
        let w = workload(ConsistencyWorkloadKind::ListAppend);
        let next = AtomicI64::new(1);
        let mut a = ConsistencyGenerator::new(&w, 0, &next);
        let mut b = ConsistencyGenerator::new(&w, 1, &next);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut elements = Vec::new();
        for i in 0..200 {
            let op = if i % 2 == 0 {
                a.next_op(&mut rng)
            } else {
                b.next_op(&mut rng)
            };
            let Op::Txn { ops } = op else {
                panic!("list-append emits txns")
            };
            assert!((1..=4).contains(&ops.len()));
            for o in ops {
                if let Op::Append { element, key, .. } = o {
                    assert!(key.starts_with("list-"));
                    elements.push(element);
                }
            }
        }
        let n = elements.len();
        elements.sort_unstable();
        elements.dedup();
        assert_eq!(elements.len(), n);
        assert!(n > 100, "about half the micro-ops append");
    }

    #[test]
    fn register_cas_uses_the_last_seen_version() {
        let w = workload(ConsistencyWorkloadKind::Register);
        let next = AtomicI64::new(1);
        let mut g = ConsistencyGenerator::new(&w, 0, &next);
        let read = Op::Read {
            table: "t".into(),
            key: "reg-1".into(),
            consistency: Consistency::Strong,
        };
        let seen = OpResult::ok(OpValue::Record(Some(assay_core::Record {
            key: "reg-1".into(),
            version: Some(7),
            ..Default::default()
        })));
        g.observe(&read, &seen);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut saw_cas = false;
        for _ in 0..500 {
            if let Op::CompareAndSet {
                key,
                expected_version,
                ..
            } = g.next_op(&mut rng)
            {
                saw_cas = true;
                if key == "reg-1" {
                    assert_eq!(expected_version, Some(7));
                } else {
                    assert_eq!(expected_version, None);
                }
            }
        }
        assert!(saw_cas);
    }
}
