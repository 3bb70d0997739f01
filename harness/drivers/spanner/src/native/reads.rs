//! Read visibility: a strong read after a commit, and reads at a timestamp or with a
//! staleness bound, each judged against the commit timestamps of the versions written.

use super::{column, timestamp_of_us, CheckResult, Ctx, Failed, TxError};
use assay_core::NativeOutcome;
use gcloud_spanner::mutation::insert_or_update;
use gcloud_spanner::statement::Statement;
use gcloud_spanner::value::TimestampBound;
use std::time::{Duration, Instant};

/// Commits `writes` overwrites of a few keys; after each, a strong single-use read of
/// that key must return the value just committed.
///
/// Params: `ddl`, `table` (columns `k STRING`, `v STRING`, key `k`), `writes` (20).
pub(super) async fn strong_read_after_commit(ctx: &Ctx<'_>) -> CheckResult {
    let table = ctx.name_param("table")?;
    let writes = ctx.params.count("writes");
    ctx.create_schema().await?;
    let mut stale = Vec::new();
    for i in 0..writes {
        // Few keys, many overwrites: an older committed version would also be "found".
        let key = format!("k{}", i % 4);
        let value = format!("v{i}");
        let (t, (k, v)) = (table.clone(), (key.clone(), value.clone()));
        ctx.read_write(move |tx| {
            let m = insert_or_update(&t, &["k", "v"], &[&k, &v]);
            Box::pin(async move {
                tx.buffer_write(vec![m]);
                Ok::<_, TxError>(())
            })
        })
        .await?;
        let seen = read_value(ctx, &table, &key, TimestampBound::strong_read()).await?;
        if seen.0.as_deref() != Some(value.as_str()) {
            stale.push(format!(
                "write {i}: committed {key}={value}, the strong read right after returned {}",
                seen.0.as_deref().unwrap_or("no row")
            ));
        }
    }
    let observed = if stale.is_empty() {
        format!("{writes} commits, each strong read right after returned the value just committed")
    } else {
        format!(
            "{} of {writes} strong reads right after a commit did not return the committed value \
             (documented: a strong read sees every transaction committed before it started)",
            stale.len()
        )
    };
    let mut outcome =
        NativeOutcome::expect(stale.is_empty(), observed).with_counter("reads", writes as f64);
    for line in stale.into_iter().take(10) {
        outcome = outcome.with_evidence(line);
    }
    Ok(outcome)
}

/// One version of the row: both columns carry the version's name, so a torn read
/// (columns from different commits) shows as a mismatch.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Absent,
    Version(String),
    Torn(String, String),
}

impl Seen {
    fn show(&self) -> String {
        match self {
            Seen::Absent => "absent".to_string(),
            Seen::Version(v) => v.clone(),
            Seen::Torn(a, b) => format!("TORN a={a} b={b}"),
        }
    }
}

/// One read of the stale-reads check: what it asked for, saw, and at which timestamp.
struct StaleRead {
    label: String,
    seen: Seen,
    read_ts_us: Option<i64>,
    /// What the documentation promises for this read, when it pins one version.
    expected: Option<Seen>,
}

/// Commits v1, waits `gap_ms`, commits v2; then reads strong, at v1's commit timestamp,
/// just before it, with exact staleness `gap_ms / 2` and with max staleness
/// `max_staleness_s`. Each read must return the version committed at or before its read
/// timestamp — never a torn row — and the exact-staleness read must be stale (before v2).
///
/// Params: `ddl`, `table` (columns `k STRING`, `a STRING`, `b STRING`, key `k`),
/// `gap_ms` (1500), `max_staleness_s` (10).
pub(super) async fn stale_reads(ctx: &Ctx<'_>) -> CheckResult {
    let table = ctx.name_param("table")?;
    let gap = Duration::from_millis(ctx.params.count("gap_ms"));
    let max_staleness = Duration::from_secs(ctx.params.count("max_staleness_s"));
    ctx.create_schema().await?;
    // The schema change must be in the past of "just before v1" or that read would be
    // reading a table that did not exist yet.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ts1 = write_version(ctx, &table, "v1").await?;
    tokio::time::sleep(gap).await;
    let v2_sent = Instant::now();
    let ts2 = write_version(ctx, &table, "v2").await?;

    // The exact-staleness read goes first: its read timestamp (server now - exact) is
    // before v2's commit whenever less than `exact` passed since the v2 commit was sent.
    let exact = gap / 2;
    let v1 = || Some(Seen::Version("v1".into()));
    let v2 = || Some(Seen::Version("v2".into()));
    let plan = [
        (
            format!("exact_staleness({exact:?})"),
            TimestampBound::exact_staleness(exact),
            v1(),
        ),
        ("strong".to_string(), TimestampBound::strong_read(), v2()),
        (
            "read_timestamp(v2 commit)".to_string(),
            TimestampBound::read_timestamp(timestamp_of_us(ts2)),
            v2(),
        ),
        (
            "read_timestamp(v1 commit)".to_string(),
            TimestampBound::read_timestamp(timestamp_of_us(ts1)),
            v1(),
        ),
        (
            "read_timestamp(v1 commit - 1us)".to_string(),
            TimestampBound::read_timestamp(timestamp_of_us(ts1 - 1)),
            Some(Seen::Absent),
        ),
        // Max staleness may serve either version; only consistency is promised.
        (
            format!("max_staleness({max_staleness:?})"),
            TimestampBound::max_staleness(max_staleness),
            None,
        ),
    ];
    let mut reads = Vec::new();
    let mut notes = Vec::new();
    for (label, bound, mut expected) in plan {
        let (value, read_ts_us) = read_row(ctx, &table, bound).await.map_err(|e| match e {
            Failed::Unsupported(m) => Failed::Unsupported(format!("{label}: {m}")),
            Failed::Error(m) => Failed::Error(format!("{label}: {m}")),
        })?;
        if reads.is_empty() && v2_sent.elapsed() >= exact {
            // Too slow to pin the read between the commits: only consistency is judged.
            notes.push(format!(
                "{label}: {:?} passed between sending v2 and the read's answer, so either \
                 version is allowed",
                v2_sent.elapsed()
            ));
            expected = None;
        }
        reads.push(StaleRead {
            label,
            seen: value,
            read_ts_us,
            expected,
        });
    }

    let committed_at = |ts: i64| -> Seen {
        if ts >= ts2 {
            Seen::Version("v2".into())
        } else if ts >= ts1 {
            Seen::Version("v1".into())
        } else {
            Seen::Absent
        }
    };
    let mut problems = Vec::new();
    for r in &reads {
        if matches!(r.seen, Seen::Torn(..)) {
            problems.push(format!(
                "{} returned a torn row: {}",
                r.label,
                r.seen.show()
            ));
            continue;
        }
        if let Some(ts) = r.read_ts_us {
            let at_ts = committed_at(ts);
            if at_ts != r.seen {
                problems.push(format!(
                    "{} read at {} returned {} but {} was committed then",
                    r.label,
                    relative(ts, ts1),
                    r.seen.show(),
                    at_ts.show()
                ));
                continue;
            }
        }
        if let Some(expected) = &r.expected {
            if *expected != r.seen {
                problems.push(format!(
                    "{} returned {}, documented {}",
                    r.label,
                    r.seen.show(),
                    expected.show()
                ));
            }
        } else if !matches!(&r.seen, Seen::Version(v) if v == "v1" || v == "v2") {
            problems.push(format!(
                "{} returned {}, documented v1 or v2",
                r.label,
                r.seen.show()
            ));
        }
    }
    let summary: Vec<String> = reads
        .iter()
        .map(|r| {
            let at = r
                .read_ts_us
                .map(|ts| format!(" @ {}", relative(ts, ts1)))
                .unwrap_or_default();
            format!("{}->{}{at}", r.label, r.seen.show())
        })
        .collect();
    let observed = format!(
        "v1 then v2 committed {:.1} ms apart; {}",
        (ts2 - ts1) as f64 / 1_000.0,
        summary.join("; ")
    );
    let mut outcome = NativeOutcome::expect(problems.is_empty(), observed);
    for p in problems.into_iter().chain(notes) {
        outcome = outcome.with_evidence(p);
    }
    Ok(outcome)
}

/// A read timestamp relative to v1's commit, e.g. `ts(v1)+749.9ms`.
fn relative(ts: i64, ts1: i64) -> String {
    let ms = (ts - ts1) as f64 / 1_000.0;
    if ms >= 0.0 {
        format!("ts(v1)+{ms:.1}ms")
    } else {
        format!("ts(v1){ms:.3}ms")
    }
}

async fn write_version(ctx: &Ctx<'_>, table: &str, version: &str) -> Result<i64, Failed> {
    let (t, v) = (table.to_string(), version.to_string());
    let (ts, ()) = ctx
        .read_write(move |tx| {
            let m = insert_or_update(&t, &["k", "a", "b"], &[&"row".to_string(), &v, &v]);
            Box::pin(async move {
                tx.buffer_write(vec![m]);
                Ok::<_, TxError>(())
            })
        })
        .await?;
    Ok(ts)
}

async fn read_row(
    ctx: &Ctx<'_>,
    table: &str,
    bound: TimestampBound,
) -> Result<(Seen, Option<i64>), Failed> {
    let mut stmt = Statement::new(format!("SELECT a, b FROM `{table}` WHERE k = @k"));
    stmt.add_param("k", &"row".to_string());
    let (rows, read_ts) = ctx.query_at(bound, stmt).await?;
    let seen = match rows.first() {
        None => Seen::Absent,
        Some(row) => {
            let a: String = column(row, 0, "a")?;
            let b: String = column(row, 1, "b")?;
            if a == b {
                Seen::Version(a)
            } else {
                Seen::Torn(a, b)
            }
        }
    };
    Ok((seen, read_ts))
}

/// The `v` of `key`, and the read timestamp when reported.
async fn read_value(
    ctx: &Ctx<'_>,
    table: &str,
    key: &str,
    bound: TimestampBound,
) -> Result<(Option<String>, Option<i64>), Failed> {
    let mut stmt = Statement::new(format!("SELECT v FROM `{table}` WHERE k = @k"));
    stmt.add_param("k", &key.to_string());
    let (rows, read_ts) = ctx.query_at(bound, stmt).await?;
    let value = match rows.first() {
        None => None,
        Some(row) => column::<Option<String>>(row, 0, "v")?,
    };
    Ok((value, read_ts))
}
