//! Read-write transactions under concurrency: an exact read-modify-write counter with
//! ABORTED retries counted, and commit timestamps that respect real-time order.

use super::{column, CheckResult, Ctx, Failed, TxError};
use assay_core::{Measurement, NativeOutcome};
use gcloud_spanner::key::Key;
use gcloud_spanner::mutation::{insert, insert_or_update};
use gcloud_spanner::statement::Statement;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const COUNTER_ID: &str = "counter";

/// `clients` concurrent clients each run `increments` read-write transactions that read
/// the counter and write it plus one. Serializable read-write transactions lose none.
///
/// Params: `ddl`, `table` (columns `id STRING`, `n INT64`, key `id`), `clients` (8),
/// `increments` (25).
pub(super) async fn rmw_counter(ctx: &Ctx<'_>) -> CheckResult {
    let table = ctx.name_param("table")?;
    let clients = ctx.params.count("clients");
    let increments = ctx.params.count("increments");
    ctx.create_schema().await?;
    let t = table.clone();
    ctx.read_write(move |tx| {
        let m = insert_or_update(&t, &["id", "n"], &[&COUNTER_ID.to_string(), &0i64]);
        Box::pin(async move {
            tx.buffer_write(vec![m]);
            Ok::<_, TxError>(())
        })
    })
    .await?;
    let aborts_before = ctx.aborts.load(Ordering::Relaxed);

    let started = Instant::now();
    let client = |_: u64| {
        let table = table.clone();
        async move {
            let mut latencies = Vec::with_capacity(increments as usize);
            for _ in 0..increments {
                let began = Instant::now();
                let t = table.clone();
                ctx.read_write(move |tx| {
                    let t = t.clone();
                    Box::pin(async move {
                        let row = tx
                            .read_row_with_option(
                                &t,
                                &["n"],
                                Key::new(&COUNTER_ID.to_string()),
                                crate::options::read_options(),
                            )
                            .await?;
                        let n: i64 = match row {
                            Some(row) => column(&row, 0, "n").map_err(TxError::Decode)?,
                            None => {
                                return Err(TxError::Decode(format!(
                                    "the counter row of `{t}` vanished"
                                )))
                            }
                        };
                        let next = n.checked_add(1).ok_or_else(|| {
                            TxError::Decode(format!("the counter of `{t}` is at INT64 max"))
                        })?;
                        tx.buffer_write(vec![insert_or_update(
                            &t,
                            &["id", "n"],
                            &[&COUNTER_ID.to_string(), &next],
                        )]);
                        Ok(())
                    })
                })
                .await?;
                latencies.push(began.elapsed());
            }
            Ok::<_, Failed>(latencies)
        }
    };
    let results = futures::future::join_all((0..clients).map(client)).await;
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    for r in results {
        latencies.extend(r?);
    }
    let committed = latencies.len() as u64;
    let aborts = ctx.aborts.load(Ordering::Relaxed) - aborts_before;

    let mut stmt = Statement::new(format!("SELECT n FROM `{table}` WHERE id = @id"));
    stmt.add_param("id", &COUNTER_ID.to_string());
    let rows = ctx.query(stmt).await?;
    let last: Option<i64> = match rows.first() {
        Some(row) => Some(column(row, 0, "n")?),
        None => None,
    };
    let expected = clients * increments;
    let why = if aborts == 0 {
        String::new()
    } else if ctx.driver.emulator {
        format!(
            "; emulator limitation: {aborts} aborts (it runs one read-write transaction at a \
             time and aborts the others; each was retried)"
        )
    } else {
        format!("; {aborts} ABORTED retries (lock contention on the counter row)")
    };
    let final_text = last.map_or("no row".to_string(), |n| n.to_string());
    let exact = last == Some(expected as i64) && committed == expected;
    let observed = if exact {
        format!(
            "{clients} clients x {increments} read-modify-write transactions in {:.1} s: final \
             counter {final_text} = {expected} expected, no lost update{why}",
            elapsed.as_secs_f64()
        )
    } else {
        format!(
            "{clients} clients x {increments} read-modify-write transactions: final counter \
             {final_text}, {committed} commits acknowledged, {expected} expected (documented: \
             read-write transactions are serializable, no increment is lost){why}"
        )
    };
    Ok(NativeOutcome::expect(exact, observed)
        .with_counter("aborts", aborts as f64)
        .with_counter("retries", aborts as f64)
        .with_counter("commits", committed as f64)
        .with_measurement(Measurement::from_durations("txn_latency", &latencies)))
}

/// One committed transaction of the commit-timestamps check.
#[derive(Clone, Copy, Debug)]
struct Committed {
    client: u64,
    seq: u64,
    invoked: Instant,
    completed: Instant,
    ts_us: i64,
}

/// `clients` concurrent clients each commit `txns` transactions one after another and
/// record each commit timestamp with the wall-clock interval of the call. Commit
/// timestamps must grow per client and, for every pair where A completed before B was
/// invoked, ts(A) < ts(B) (external consistency).
///
/// Params: `ddl`, `table` (columns `client INT64`, `seq INT64`, key `(client, seq)`),
/// `clients` (4), `txns` (20).
pub(super) async fn commit_timestamps(ctx: &Ctx<'_>) -> CheckResult {
    let table = ctx.name_param("table")?;
    let clients = ctx.params.count("clients");
    let txns = ctx.params.count("txns");
    ctx.create_schema().await?;

    let client = |c: u64| {
        let table = table.clone();
        async move {
            let mut out = Vec::with_capacity(txns as usize);
            for seq in 0..txns {
                let t = table.clone();
                let (client_id, seq_id) = (c as i64, seq as i64);
                let invoked = Instant::now();
                let (ts_us, ()) = ctx
                    .read_write(move |tx| {
                        let m = insert(&t, &["client", "seq"], &[&client_id, &seq_id]);
                        Box::pin(async move {
                            tx.buffer_write(vec![m]);
                            Ok::<_, TxError>(())
                        })
                    })
                    .await?;
                out.push(Committed {
                    client: c,
                    seq,
                    invoked,
                    completed: Instant::now(),
                    ts_us,
                });
            }
            Ok::<_, Failed>(out)
        }
    };
    let results = futures::future::join_all((0..clients).map(client)).await;
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }

    let mut problems = Vec::new();
    let mut per_client_pairs = 0u64;
    let mut per_client_violations = 0u64;
    for c in 0..clients {
        let mine: Vec<&Committed> = all.iter().filter(|t| t.client == c).collect();
        for w in mine.windows(2) {
            per_client_pairs += 1;
            if w[1].ts_us <= w[0].ts_us {
                per_client_violations += 1;
                problems.push(format!(
                    "client {c}: txn {} committed at {} us, the next one ({}) at {} us",
                    w[0].seq, w[0].ts_us, w[1].seq, w[1].ts_us
                ));
            }
        }
    }
    let mut ordered_pairs = 0u64;
    let mut violations = 0u64;
    for a in &all {
        for b in &all {
            if a.completed < b.invoked {
                ordered_pairs += 1;
                if a.ts_us >= b.ts_us {
                    violations += 1;
                    if problems.len() < 20 {
                        problems.push(format!(
                            "client {} txn {} completed before client {} txn {} began, yet its \
                             commit timestamp {} us is not earlier than {} us",
                            a.client, a.seq, b.client, b.seq, a.ts_us, b.ts_us
                        ));
                    }
                }
            }
        }
    }
    let durations: Vec<Duration> = all.iter().map(|t| t.completed - t.invoked).collect();
    let ok = problems.is_empty();
    let observed = format!(
        "{} commits from {clients} clients: {per_client_violations} of {per_client_pairs} \
         consecutive per-client pairs without a growing commit timestamp; {ordered_pairs} \
         real-time-ordered pairs (A completed before B began), {violations} with ts(A) >= ts(B)",
        all.len()
    );
    let mut outcome = NativeOutcome::expect(ok, observed)
        .with_counter("real_time_ordered_pairs", ordered_pairs as f64)
        .with_counter("violations", violations as f64)
        .with_measurement(Measurement::from_durations("commit_latency", &durations));
    for p in problems.into_iter().take(20) {
        outcome = outcome.with_evidence(p);
    }
    Ok(outcome)
}
