//! The change feed check: writes from several clients to several partition keys, then the
//! feed read from the beginning, then read again from that read's continuation while more
//! writes land. Every acknowledged write's latest version must appear, in per-partition-key
//! commit order (judged from real time: a write acknowledged before another was sent must
//! come first), nothing from before the continuation may come back, and the lag from a
//! write's acknowledgement to its first sighting in the feed is measured.

use super::{quote, Scratch};
use crate::errors::status_of;
use assay_core::{Measurement, NativeOutcome, NativeParams};
use azure_data_cosmos::feed::ChangeFeedPageIterator;
use azure_data_cosmos::models::ChangeFeedItem;
use azure_data_cosmos::options::{ChangeFeedOptions, ChangeFeedStartFrom};
use azure_data_cosmos::{CosmosError, FeedScope, PartitionKey};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Items each client keeps rewriting, so the feed has several versions per item.
const ITEMS_PER_CLIENT: u64 = 3;
/// Sequence numbers of the second phase start here, so a re-delivered first-phase version
/// is recognisable.
const PHASE_TWO_BASE: u64 = 1_000_000;
/// Pause after a poll that brought nothing new.
const IDLE_POLL: Duration = Duration::from_millis(100);

type Pages = ChangeFeedPageIterator<ChangeFeedItem<serde_json::Value>>;

/// One acknowledged write.
#[derive(Clone, Debug)]
struct Write {
    id: String,
    pk: String,
    seq: u64,
    invoked: Instant,
    acked: Instant,
}

/// One version as the feed delivered it.
#[derive(Clone, Debug)]
struct Arrival {
    id: String,
    seq: u64,
    at: Instant,
}

#[derive(Default)]
struct PollStats {
    polls: u64,
    empty: u64,
}

struct Shape {
    clients: u64,
    partition_keys: u64,
    writes: u64,
}

pub(crate) async fn change_feed(s: &Scratch, params: &NativeParams<'_>) -> NativeOutcome {
    let shape = Shape {
        clients: params.count("clients"),
        partition_keys: params.count("partition_keys"),
        writes: params.count("writes_per_client"),
    };
    let poll_for = Duration::from_secs(params.count("poll_seconds"));
    let c = &s.container;

    // Phase 1: write, then read everything from the beginning.
    let phase_one = match write_phase(s, &shape, 0).await {
        Ok(w) => w,
        Err(e) => return NativeOutcome::error(format!("phase 1 writes: {}", quote(&e))),
    };
    let mut pages: Pages = match c
        .query_change_feed(
            FeedScope::full_container(),
            ChangeFeedStartFrom::Beginning,
            None,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    let mut stats = PollStats::default();
    let arrivals_one = Mutex::new(Vec::new());
    let expected_one = latest(&phase_one);
    let deadline_one = (Instant::now() + poll_for).min(s.deadline);
    if let Err(e) = poll(
        &mut pages,
        &arrivals_one,
        &mut stats,
        || all_seen(&expected_one, &arrivals_one),
        || deadline_one,
    )
    .await
    {
        return refused(&e);
    }
    let token = match pages.to_continuation_token() {
        Ok(t) => t,
        Err(e) => {
            return NativeOutcome::error(format!(
                "no continuation token after the first read: {}",
                quote(&e)
            ))
        }
    };
    drop(pages);

    // Phase 2: from the continuation, polling while the next writes land.
    let mut pages: Pages = match c
        .query_change_feed(
            FeedScope::full_container(),
            ChangeFeedStartFrom::Beginning,
            Some(ChangeFeedOptions::default().with_continuation_token(token)),
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    let arrivals_two = Mutex::new(Vec::new());
    let writers_done = AtomicBool::new(false);
    let done_at: Mutex<Option<Instant>> = Mutex::new(None);
    let phase_two_log: Mutex<Vec<Write>> = Mutex::new(Vec::new());
    let writers = async {
        let result = write_phase(s, &shape, PHASE_TWO_BASE).await;
        if let Ok(writes) = &result {
            if let Ok(mut log) = phase_two_log.lock() {
                *log = writes.clone();
            }
        }
        if let Ok(mut at) = done_at.lock() {
            *at = Some(Instant::now());
        }
        writers_done.store(true, Ordering::SeqCst);
        result
    };
    let mut stats_two = PollStats::default();
    let poller = poll(
        &mut pages,
        &arrivals_two,
        &mut stats_two,
        || {
            writers_done.load(Ordering::SeqCst)
                && phase_two_log
                    .lock()
                    .map(|log| all_seen(&latest(&log), &arrivals_two))
                    .unwrap_or(false)
        },
        || {
            let after_writes = done_at
                .lock()
                .ok()
                .and_then(|at| *at)
                .map(|at| at + poll_for)
                .unwrap_or(s.deadline);
            after_writes.min(s.deadline)
        },
    );
    let (written, polled) = futures::join!(writers, poller);
    let phase_two = match written {
        Ok(w) => w,
        Err(e) => return NativeOutcome::error(format!("phase 2 writes: {}", quote(&e))),
    };
    if let Err(e) = polled {
        return refused(&e);
    }
    stats.polls += stats_two.polls;
    stats.empty += stats_two.empty;

    let arrivals_one = arrivals_one.into_inner().unwrap_or_default();
    let arrivals_two = arrivals_two.into_inner().unwrap_or_default();
    let one = judge(&phase_one, &arrivals_one);
    let two = judge(&phase_two, &arrivals_two);
    let redelivered = arrivals_two
        .iter()
        .filter(|a| a.seq < PHASE_TWO_BASE)
        .count();
    let lags = lags(&phase_two, &arrivals_two);

    let ok = one.missing.is_empty()
        && one.order_violations.is_empty()
        && two.missing.is_empty()
        && two.order_violations.is_empty()
        && redelivered == 0;
    let observed = format!(
        "from the beginning: {}/{} latest versions, {} order violations; from the continuation (polled {:?} past the last write): {}/{} latest versions, {} order violations, {redelivered} earlier versions re-delivered; {} of {} polls brought no changes",
        one.expected - one.missing.len(),
        one.expected,
        one.order_violations.len(),
        poll_for,
        two.expected - two.missing.len(),
        two.expected,
        two.order_violations.len(),
        stats.empty,
        stats.polls,
    );
    let mut outcome = NativeOutcome::expect(ok, observed)
        .with_measurement(Measurement::from_durations("change_feed_lag", &lags))
        .with_counter("polls", stats.polls as f64)
        .with_counter("empty_polls", stats.empty as f64)
        .with_counter("writes", (phase_one.len() + phase_two.len()) as f64);
    for (phase, verdict) in [("beginning", &one), ("continuation", &two)] {
        if !verdict.missing.is_empty() {
            outcome = outcome.with_evidence(format!(
                "{phase}: never delivered (id@seq): {}",
                sample(&verdict.missing)
            ));
        }
        if !verdict.order_violations.is_empty() {
            outcome = outcome.with_evidence(format!(
                "{phase}: out of per-partition-key order: {}",
                sample(&verdict.order_violations)
            ));
        }
    }
    outcome
}

/// A refusal of the change feed itself is `unsupported`; anything else is an error.
fn refused(e: &CosmosError) -> NativeOutcome {
    if matches!(status_of(e), 400 | 404 | 405 | 501) {
        NativeOutcome::unsupported(format!("the change feed request was refused: {}", quote(e)))
    } else {
        NativeOutcome::error(format!("change feed read failed: {}", quote(e)))
    }
}

/// `clients` concurrent writers, each upserting its items in turn; returns the
/// acknowledged writes.
async fn write_phase(s: &Scratch, shape: &Shape, base: u64) -> Result<Vec<Write>, CosmosError> {
    let c = &s.container;
    let writer = |client: u64| async move {
        let mut log = Vec::new();
        for j in 0..shape.writes {
            let k = j % ITEMS_PER_CLIENT;
            let id = format!("w{client}-{k}");
            let pk = format!(
                "p{}",
                (client * ITEMS_PER_CLIENT + k) % shape.partition_keys
            );
            let seq = base + j;
            let doc =
                serde_json::json!({ "id": id, "customerId": pk, "seq": seq, "writer": client });
            let invoked = Instant::now();
            c.upsert_item(PartitionKey::from(pk.clone()), &id, doc, None)
                .await?;
            log.push(Write {
                id,
                pk,
                seq,
                invoked,
                acked: Instant::now(),
            });
        }
        Ok::<_, CosmosError>(log)
    };
    let mut all = Vec::new();
    for result in futures::future::join_all((0..shape.clients).map(writer)).await {
        all.extend(result?);
    }
    Ok(all)
}

/// Polls until `done()` or the deadline `until()` (re-read each round, it may move).
async fn poll(
    pages: &mut Pages,
    arrivals: &Mutex<Vec<Arrival>>,
    stats: &mut PollStats,
    done: impl Fn() -> bool,
    until: impl Fn() -> Instant,
) -> Result<(), CosmosError> {
    // Bounded by the deadline; the count bound guards against a zero-latency server.
    for _ in 0..100_000 {
        if done() || Instant::now() >= until() {
            break;
        }
        let left = until().saturating_duration_since(Instant::now());
        let page = match tokio::time::timeout(left, pages.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(page)) => page?,
        };
        stats.polls += 1;
        let now = Instant::now();
        let items = page.into_items();
        if items.is_empty() {
            stats.empty += 1;
            tokio::time::sleep(IDLE_POLL).await;
            continue;
        }
        if let Ok(mut log) = arrivals.lock() {
            for item in items {
                let Some(doc) = item.current() else { continue };
                let id = doc.get("id").and_then(|v| v.as_str());
                let seq = doc.get("seq").and_then(|v| v.as_u64());
                if let (Some(id), Some(seq)) = (id, seq) {
                    log.push(Arrival {
                        id: id.to_string(),
                        seq,
                        at: now,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The last acknowledged write of each item.
fn latest(writes: &[Write]) -> HashMap<String, Write> {
    let mut last: HashMap<String, Write> = HashMap::new();
    for w in writes {
        if last.get(&w.id).is_none_or(|l| l.seq < w.seq) {
            last.insert(w.id.clone(), w.clone());
        }
    }
    last
}

fn all_seen(expected: &HashMap<String, Write>, arrivals: &Mutex<Vec<Arrival>>) -> bool {
    let Ok(arrivals) = arrivals.lock() else {
        return false;
    };
    expected
        .values()
        .all(|w| arrivals.iter().any(|a| a.id == w.id && a.seq >= w.seq))
}

struct PhaseVerdict {
    expected: usize,
    missing: Vec<String>,
    order_violations: Vec<String>,
}

/// Every item's latest version delivered, and per partition key in real-time order.
fn judge(writes: &[Write], arrivals: &[Arrival]) -> PhaseVerdict {
    let last = latest(writes);
    let position = |w: &Write| arrivals.iter().position(|a| a.id == w.id && a.seq == w.seq);
    let mut missing: Vec<String> = last
        .values()
        .filter(|w| position(w).is_none())
        .map(|w| format!("{}@{}", w.id, w.seq))
        .collect();
    missing.sort();
    let mut order_violations = Vec::new();
    for x in last.values() {
        for y in last.values() {
            if x.pk != y.pk || x.acked >= y.invoked {
                continue;
            }
            if let (Some(px), Some(py)) = (position(x), position(y)) {
                if px > py {
                    order_violations.push(format!(
                        "{}@{} (acknowledged first) after {}@{} in {}",
                        x.id, x.seq, y.id, y.seq, x.pk
                    ));
                }
            }
        }
    }
    order_violations.sort();
    PhaseVerdict {
        expected: last.len(),
        missing,
        order_violations,
    }
}

/// Per acknowledged write: acknowledgement to the first delivery of that or a later version
/// of its item (zero when the feed had it before the client got the acknowledgement).
fn lags(writes: &[Write], arrivals: &[Arrival]) -> Vec<Duration> {
    writes
        .iter()
        .filter_map(|w| {
            arrivals
                .iter()
                .filter(|a| a.id == w.id && a.seq >= w.seq)
                .map(|a| a.at)
                .min()
                .map(|at| at.saturating_duration_since(w.acked))
        })
        .collect()
}

fn sample(lines: &[String]) -> String {
    let shown: Vec<&str> = lines.iter().take(8).map(String::as_str).collect();
    if lines.len() > shown.len() {
        format!("{} … ({} in all)", shown.join(", "), lines.len())
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(id: &str, pk: &str, seq: u64, invoked: Instant, acked: Instant) -> Write {
        Write {
            id: id.into(),
            pk: pk.into(),
            seq,
            invoked,
            acked,
        }
    }

    fn arrival(id: &str, seq: u64, at: Instant) -> Arrival {
        Arrival {
            id: id.into(),
            seq,
            at,
        }
    }

    #[test]
    fn judge_finds_missing_latest_versions_and_order_violations() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let writes = vec![
            write("a", "p0", 1, t0, t0 + ms(1)),
            write("a", "p0", 2, t0 + ms(2), t0 + ms(3)),
            write("b", "p0", 3, t0 + ms(4), t0 + ms(5)),
            write("c", "p1", 4, t0 + ms(4), t0 + ms(5)),
        ];
        // b before a in p0 although a's latest was acknowledged before b was sent.
        let arrivals = vec![
            arrival("b", 3, t0 + ms(10)),
            arrival("a", 2, t0 + ms(10)),
            arrival("a", 1, t0 + ms(9)),
        ];
        let v = judge(&writes, &arrivals);
        assert_eq!(v.expected, 3);
        assert_eq!(v.missing, vec!["c@4".to_string()]);
        assert_eq!(v.order_violations.len(), 1, "{:?}", v.order_violations);

        let lags = lags(&writes, &arrivals);
        // a@1 is covered by the earlier sighting of a@1, a@2 and b@3 by theirs; c never.
        assert_eq!(lags.len(), 3);
        assert_eq!(lags[0], ms(8));
    }

    #[test]
    fn in_order_complete_feed_is_clean() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let writes = vec![
            write("a", "p0", 1, t0, t0 + ms(1)),
            write("b", "p0", 2, t0 + ms(2), t0 + ms(3)),
        ];
        let arrivals = vec![arrival("a", 1, t0 + ms(4)), arrival("b", 2, t0 + ms(4))];
        let v = judge(&writes, &arrivals);
        assert!(v.missing.is_empty() && v.order_violations.is_empty());
    }
}
