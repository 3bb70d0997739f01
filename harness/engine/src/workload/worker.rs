//! The worker loops of the workload phase: closed loop (a share of the clients, each
//! issuing its next op when the previous one ended) and open loop (due ops from the shared
//! schedule into free in-flight slots), and running one unit of work.

use super::recording::{Completed, WorkerRecorder};
use super::{client_seed, Ctx, ABORT_POLL};
use crate::generate::Work;
use crate::schedule::wait_until;
use assay_core::Outcome;
use futures::stream::{FuturesUnordered, StreamExt};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::sync::atomic::Ordering;

pub(super) struct Done {
    pub(super) client: u32,
    pub(super) first: Option<Completed>,
    pub(super) second: Option<Completed>,
    /// An insert that succeeded: `latest` may now pick its key.
    pub(super) inserted: bool,
}

/// Runs one unit of work. Closed loop: waits `not_before` (ramp activation, think time)
/// first and measures from the actual start; open loop: `intended_ns` is the schedule's.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_work(
    ctx: &Ctx,
    client: u32,
    work: Work,
    op_id: u64,
    intended_ns: Option<u64>,
    start_ns: u64,
    not_before_ns: Option<u64>,
    history: bool,
) -> Done {
    let shared = &*ctx.shared;
    let mut start_ns = start_ns;
    if let Some(t) = not_before_ns {
        ctx.wait_until_or_abort(t).await;
        start_ns = shared.now_ns();
        if ctx.should_stop(start_ns) {
            return Done {
                client,
                first: None,
                second: None,
                inserted: false,
            };
        }
    }
    let intended_ns = intended_ns.unwrap_or(start_ns);
    // An insert also extends the keyspace the `latest` distribution draws from.
    let is_insert = matches!(work, Work::Insert(_));
    match work {
        Work::One(op) | Work::Insert(op) => {
            let result = shared.execute(&op).await;
            let end_ns = shared.now_ns();
            let inserted = is_insert && result.outcome == Outcome::Ok;
            Done {
                client,
                first: Some(Completed {
                    op_id,
                    kind: op.kind(),
                    intended_ns,
                    start_ns,
                    end_ns,
                    result,
                    invoke: (not_before_ns.is_some() && history).then_some(op),
                }),
                second: None,
                inserted,
            }
        }
        Work::ReadModifyWrite { read, write } => {
            let result = shared.execute(&read).await;
            let read_end = shared.now_ns();
            let read_ok = result.outcome == Outcome::Ok;
            let first = Completed {
                op_id,
                kind: read.kind(),
                intended_ns,
                start_ns,
                end_ns: read_end,
                result,
                invoke: (not_before_ns.is_some() && history).then_some(read),
            };
            // The write follows at once, so its latency is its service time.
            let second = if read_ok {
                let write_id = if history {
                    shared.next_op_id.fetch_add(1, Ordering::Relaxed)
                } else {
                    0
                };
                let start = shared.now_ns();
                let result = shared.execute(&write).await;
                Some(Completed {
                    op_id: write_id,
                    kind: write.kind(),
                    intended_ns: start,
                    start_ns: start,
                    end_ns: shared.now_ns(),
                    result,
                    invoke: history.then_some(write),
                })
            } else {
                None
            };
            Done {
                client,
                first: Some(first),
                second,
                inserted: false,
            }
        }
    }
}

/// Waits for in-flight ops after an abort, at most the drain grace; returns how many
/// were abandoned.
async fn drain<F>(ctx: &Ctx, rec: &mut WorkerRecorder, in_flight: &mut FuturesUnordered<F>) -> u64
where
    F: std::future::Future<Output = Done>,
{
    let grace = tokio::time::sleep(ctx.shared.opts.drain_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            done = in_flight.next() => match done {
                Some(done) => record_done(ctx, rec, done),
                None => return 0,
            },
            _ = &mut grace => return in_flight.len() as u64,
        }
    }
}

fn record_done(ctx: &Ctx, rec: &mut WorkerRecorder, done: Done) {
    if done.inserted {
        ctx.gen.keys().insert_done();
    }
    if let Some(c) = done.first {
        rec.complete(ctx, done.client, c);
    }
    if let Some(c) = done.second {
        rec.complete(ctx, done.client, c);
    }
}

/// Closed loop: clients `wi, wi + workers, …`, each issuing its next op when the previous
/// one ended (after the think time), while the ramp keeps it active.
pub(super) async fn closed_worker(ctx: &Ctx, wi: u32, workers: u32) -> (WorkerRecorder, u64) {
    let history = ctx.w.history;
    let mut rec = WorkerRecorder::new(ctx, history);
    let clients: Vec<u32> = (wi..ctx.w.max_clients())
        .step_by(workers as usize)
        .collect();
    let mut rngs: Vec<SmallRng> = clients
        .iter()
        .map(|c| SmallRng::seed_from_u64(client_seed(ctx.shared.opts.seed, u64::from(*c))))
        .collect();
    let think = ctx.w.think_time;
    let mut in_flight = FuturesUnordered::new();

    // The next op of client `c` (local index `li`), or None when it is done for the run.
    let next = |c: u32, rng: &mut SmallRng, after_op: bool| {
        let now = ctx.now_ns();
        if ctx.should_stop(now) {
            return None;
        }
        let mut not_before = if after_op && !think.is_zero() {
            now + think.as_nanos() as u64
        } else {
            now
        };
        let rel = not_before.saturating_sub(ctx.origin_ns);
        if !ctx.w.stages.is_empty() && !ctx.ramp.active(c, rel) {
            not_before = ctx.origin_ns + ctx.ramp.next_active(c, rel)?;
        }
        if not_before >= ctx.measure_from_ns && !ctx.take_budget() {
            return None;
        }
        let work = ctx.gen.next(&ctx.values, rng);
        let op_id = if history {
            ctx.shared.next_op_id.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        Some(run_work(
            ctx,
            c,
            work,
            op_id,
            None,
            now,
            Some(not_before),
            history,
        ))
    };

    for (li, c) in clients.iter().enumerate() {
        if let Some(f) = next(*c, &mut rngs[li], false) {
            in_flight.push(f);
        }
    }
    // One timer for the whole loop: an abort must be seen even when every client is
    // stuck in a hung op, and re-arming one timer is cheaper than a new one per op.
    let poll = tokio::time::sleep(ABORT_POLL);
    tokio::pin!(poll);
    while !in_flight.is_empty() {
        tokio::select! {
            biased;
            Some(done) = in_flight.next() => {
                let c = done.client;
                let li = ((c - wi) / workers) as usize;
                record_done(ctx, &mut rec, done);
                if !ctx.shared.abort.is_aborted() {
                    if let Some(f) = next(c, &mut rngs[li], true) {
                        in_flight.push(f);
                    }
                }
            }
            _ = &mut poll => {
                poll.as_mut().reset(tokio::time::Instant::now() + ABORT_POLL);
            }
        }
        if ctx.shared.abort.is_aborted() {
            let abandoned = drain(ctx, &mut rec, &mut in_flight).await;
            rec.flush_live();
            return (rec, abandoned);
        }
    }
    rec.flush_live();
    (rec, 0)
}

/// Open loop: claims due ops from the shared schedule while it has free slots.
pub(super) async fn open_worker(ctx: &Ctx, wi: u32, workers: u32) -> (WorkerRecorder, u64) {
    let history = ctx.w.history;
    let mut rec = WorkerRecorder::new(ctx, history);
    let cap = ctx.w.max_in_flight.div_ceil(workers);
    // Slot ids double as client ids: each has at most one op in flight.
    let mut free: Vec<u32> = (0..cap).rev().map(|s| wi * cap + s).collect();
    let mut in_flight = FuturesUnordered::new();
    let mut pending: Option<(u64, u64)> = None;
    let mut issuing = true;
    let poll = tokio::time::sleep(ABORT_POLL);
    tokio::pin!(poll);
    loop {
        let now = ctx.now_ns();
        if issuing && ctx.should_stop(now) {
            issuing = false;
        }
        while issuing && !free.is_empty() {
            let (k, t) = match pending.take() {
                Some(p) => p,
                None => {
                    let k = ctx.next_arrival.fetch_add(1, Ordering::Relaxed);
                    match ctx.schedule.intended_ns(k) {
                        Some(t) => (k, ctx.origin_ns + t),
                        None => {
                            // The schedule is done for this worker; others may still hold
                            // earlier ops waiting for their time.
                            issuing = false;
                            break;
                        }
                    }
                }
            };
            if t > ctx.now_ns() {
                pending = Some((k, t));
                break;
            }
            let measured = t >= ctx.measure_from_ns;
            if measured {
                if !ctx.take_budget() {
                    issuing = false;
                    break;
                }
                rec.issued += 1;
            }
            let slot = free.pop().unwrap_or(wi * cap);
            // Op k's content depends only on the seed and k, whichever worker runs it.
            let mut rng = SmallRng::seed_from_u64(client_seed(ctx.shared.opts.seed, k));
            let work = ctx.gen.next(&ctx.values, &mut rng);
            let op_id = if history {
                ctx.shared.next_op_id.fetch_add(1, Ordering::Relaxed)
            } else {
                0
            };
            let start = ctx.now_ns();
            rec.started(t, start);
            if history {
                let op = match &work {
                    Work::One(op) | Work::Insert(op) => op,
                    Work::ReadModifyWrite { read, .. } => read,
                };
                rec.invoke(ctx, op_id, slot, op, t, start);
            }
            in_flight.push(run_work(
                ctx,
                slot,
                work,
                op_id,
                Some(t),
                start,
                None,
                history,
            ));
        }
        if !issuing {
            let abandoned = if ctx.shared.abort.is_aborted() {
                drain(ctx, &mut rec, &mut in_flight).await
            } else {
                while let Some(done) = in_flight.next().await {
                    record_done(ctx, &mut rec, done);
                }
                0
            };
            rec.flush_live();
            return (rec, abandoned);
        }
        // The next due op, if a slot is free for it and it is due within one poll period.
        let poll_end = ctx.now_ns() + ABORT_POLL.as_nanos() as u64;
        let due = pending
            .filter(|(_, t)| !free.is_empty() && *t <= poll_end)
            .map(|(_, t)| t);
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let slot = done.client;
                record_done(ctx, &mut rec, done);
                free.push(slot);
            }
            _ = wait_until(ctx.origin(), due.unwrap_or(0)), if due.is_some() => {}
            _ = &mut poll, if due.is_none() => {
                poll.as_mut().reset(tokio::time::Instant::now() + ABORT_POLL);
            }
        }
    }
}
