//! The load phase of a workload (`load = true`, YCSB's load / `pgbench -i`): every key of
//! the keyspace written once before the timeline starts, through the driver's bulk path
//! (`Driver::bulk_load`: COPY, multi-row INSERT, BatchWriteItem, ... or one write per row).
//!
//! The keyspace is cut into chunks of `BulkLoadPath::rows_per_call` consecutive keys;
//! `BulkLoadPath::writers` tasks take chunks in order from a shared counter, each chunk one
//! bulk call. Values come from an RNG seeded by the chunk's index, so the rows do not
//! depend on which writer took which chunk. An abort stops writers taking new chunks; calls
//! in flight finish (each is bounded in time). Progress counts rows.

use crate::generate::{OpGenerator, ValueSource};
use crate::recorder::{complete_event, invoke_event};
use crate::shared::Shared;
use assay_core::record::LoadPhaseRecord;
use assay_core::scenario::Workload;
use assay_core::{
    BulkLoadError, ErrorClass, HistoryEvent, LoadRow, Op, OpResult, OpValue, Outcome,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows a bulk call may take per op timeout beyond the first: a call of `n` rows is bounded
/// by `op_timeout × (1 + n / ROWS_PER_EXTRA_TIMEOUT)`.
const ROWS_PER_EXTRA_TIMEOUT: u64 = 2_000;

/// The seed of the values of a load, the same one the workload's own value source uses.
pub(crate) const VALUE_SEED: u64 = 0x076a_10e5;

/// What one writer did.
#[derive(Default)]
struct WriterTally {
    written: u64,
    failed_rows: u64,
    failed_calls: u64,
    first_error: Option<(u64, String)>,
    last_end_ns: u64,
    events: Vec<HistoryEvent>,
}

/// Writes every key of the keyspace through the driver's bulk path; returns what the
/// phase did (for the record) and, when the workload keeps a history, one write per row.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    w: &Workload,
) -> (LoadPhaseRecord, Vec<HistoryEvent>) {
    if let Some(live) = &shared.opts.live {
        live.set_phase("load");
    }
    let path = shared.driver.bulk_load_path();
    let rows_per_call = u64::from(path.rows_per_call.max(1));
    let count = w.keys.count;
    let chunks = count.div_ceil(rows_per_call);
    let gen = Arc::new(OpGenerator::new(w));
    let mut rng = SmallRng::seed_from_u64(shared.opts.seed ^ VALUE_SEED);
    let values = Arc::new(ValueSource::new(w.value_size, &mut rng));
    let next_chunk = Arc::new(AtomicU64::new(0));
    let started_ns = shared.now_ns();
    let started = Instant::now();
    let prepared = shared.driver.bulk_load_prepare(gen.table()).await;
    let writers = u64::from(path.writers.max(1)).min(chunks.max(1));
    let mut handles = Vec::new();
    for writer in 0..writers {
        if prepared.is_err() {
            break;
        }
        let (shared, gen, values, next_chunk) = (
            shared.clone(),
            gen.clone(),
            values.clone(),
            next_chunk.clone(),
        );
        let history = w.history;
        handles.push(tokio::spawn(async move {
            let mut tally = WriterTally::default();
            loop {
                if shared.abort.is_aborted() {
                    break;
                }
                let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                if chunk >= chunks {
                    break;
                }
                let from = chunk * rows_per_call;
                let to = (from + rows_per_call).min(count);
                let mut rng = SmallRng::seed_from_u64(chunk_seed(shared.opts.seed, chunk));
                let rows: Vec<LoadRow> = (from..to)
                    .map(|i| gen.load_row(i, &values, &mut rng))
                    .collect();
                load_chunk(
                    &shared,
                    gen.table(),
                    writer as u32,
                    &rows,
                    history,
                    &mut tally,
                )
                .await;
            }
            tally
        }));
    }
    let mut written = 0;
    let mut failed_rows = 0;
    let mut failed_calls = 0;
    let mut first_error: Option<(u64, String)> = None;
    let mut last_end_ns = started_ns;
    let mut events = Vec::new();
    for h in handles {
        // A writer only panics on a bug in a driver; its chunks count as not loaded.
        if let Ok(t) = h.await {
            written += t.written;
            failed_rows += t.failed_rows;
            failed_calls += t.failed_calls;
            if let Some((at, e)) = t.first_error {
                if first_error.as_ref().is_none_or(|(first, _)| at < *first) {
                    first_error = Some((at, e));
                }
            }
            last_end_ns = last_end_ns.max(t.last_end_ns);
            events.extend(t.events);
        }
    }
    // The finish (e.g. an index build) is part of the load's time.
    let finished = if prepared.is_ok() {
        shared.driver.bulk_load_finish(gen.table()).await
    } else {
        prepared
    };
    if let Err(e) = finished {
        calls_failed_extra(&mut failed_calls, &mut first_error, started_ns, &e);
    }
    last_end_ns = last_end_ns.max(shared.now_ns());
    let elapsed = if last_end_ns > started_ns {
        Duration::from_nanos(last_end_ns - started_ns)
    } else {
        started.elapsed()
    };
    let secs = elapsed.as_secs_f64();
    let record = LoadPhaseRecord {
        table: gen.table().to_string(),
        method: path.method.to_string(),
        writers: writers as u32,
        rows_per_call: rows_per_call as u32,
        rows_planned: count,
        rows_written: written,
        rows_failed: failed_rows,
        calls_failed: failed_calls,
        first_error: first_error.map(|(_, e)| e),
        elapsed_ns: elapsed.as_nanos() as u64,
        rows_per_s: if secs > 0.0 {
            written as f64 / secs
        } else {
            0.0
        },
        interrupted: shared.abort.is_aborted() && written + failed_rows < count,
    };
    (record, events)
}

/// A failed prepare or finish counts as a failed call; its message leads.
fn calls_failed_extra(
    failed_calls: &mut u64,
    first_error: &mut Option<(u64, String)>,
    at_ns: u64,
    e: &BulkLoadError,
) {
    *failed_calls += 1;
    let message = format!("{}: {}", e.class, e.message);
    match first_error {
        Some((first, _)) if *first <= at_ns => {}
        _ => *first_error = Some((at_ns, message)),
    }
}

fn chunk_seed(seed: u64, chunk: u64) -> u64 {
    seed ^ VALUE_SEED ^ (chunk + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// One bulk call, bounded in time, recorded into `tally` (and the history when kept).
async fn load_chunk(
    shared: &Shared,
    table: &str,
    writer: u32,
    rows: &[LoadRow],
    history: bool,
    tally: &mut WriterTally,
) {
    let n = rows.len() as u64;
    let bound = shared.opts.op_timeout * (1 + (n / ROWS_PER_EXTRA_TIMEOUT) as u32);
    let start_ns = shared.now_ns();
    let first_op_id = shared.next_op_id.fetch_add(n, Ordering::Relaxed);
    let outcome = match tokio::time::timeout(bound, shared.driver.bulk_load(table, rows)).await {
        Ok(r) => r,
        Err(_) => Err(BulkLoadError::new(
            0,
            ErrorClass::Timeout,
            format!("a bulk load of {n} rows got no answer within {bound:?}"),
        )),
    };
    let end_ns = shared.now_ns();
    tally.last_end_ns = tally.last_end_ns.max(end_ns);
    let (written, error) = match outcome {
        Ok(written) => (written.min(n), None),
        Err(e) => (e.written.min(n), Some(e)),
    };
    tally.written += written;
    // The dead-backend watch sees one result per call.
    let watched = match &error {
        None => OpResult::ok(OpValue::None),
        Some(e) => OpResult::error(e.class, e.message.clone()),
    };
    shared.watch(&watched);
    if let Some(e) = &error {
        tally.failed_rows += n - written;
        tally.failed_calls += 1;
        if tally.first_error.is_none() {
            tally.first_error = Some((start_ns, format!("{}: {}", e.class, e.message)));
        }
    }
    if let Some(live) = &shared.opts.live {
        live.add(written, n - written);
    }
    if history {
        // Which rows of a failed call landed is unknown: each is a write that may have
        // been applied, so checkers treat it as possibly applied.
        for (i, row) in rows.iter().enumerate() {
            let op_id = first_op_id + i as u64;
            let op = Op::Write {
                table: table.to_string(),
                key: row.key.clone(),
                value: row.value.clone(),
            };
            tally
                .events
                .push(invoke_event(op_id, writer, "load", op, start_ns, start_ns));
            let result = match &error {
                None => OpResult::ok(OpValue::None),
                Some(e) => OpResult {
                    outcome: Outcome::Indeterminate,
                    ..OpResult::error(e.class, e.message.clone())
                },
            };
            tally
                .events
                .push(complete_event(op_id, writer, end_ns, result));
        }
    }
}
