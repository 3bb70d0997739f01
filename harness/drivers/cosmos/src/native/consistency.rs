//! Per-request consistency levels (acceptance, read-your-writes under Session, monotonic
//! reads under ConsistentPrefix and stronger) and request charges per operation kind.

use super::{n_of, order, quote, Scratch};
use crate::connection::with_consistency_level_header;
use crate::errors::status_of;
use assay_core::{NativeOutcome, NativeParams};
use azure_data_cosmos::models::ResponseHeaders;
use azure_data_cosmos::options::{
    ChangeFeedStartFrom, ItemReadOptions, OperationOptions, ReadConsistencyStrategy,
};
use azure_data_cosmos::{FeedScope, PartitionKey, Query, TransactionalBatch};
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// The five levels, strongest first, as `x-ms-consistency-level` spells them.
const LEVELS: [&str; 5] = [
    "Strong",
    "BoundedStaleness",
    "Session",
    "ConsistentPrefix",
    "Eventual",
];

fn session_token(headers: &ResponseHeaders) -> Option<String> {
    headers
        .session_token()
        .map(|t| t.as_str().to_string())
        .filter(|t| !t.is_empty())
}

/// A read at `level` through the per-request header, with `token` for Session.
fn level_options(level: &'static str, token: Option<&str>) -> ItemReadOptions {
    let options = ItemReadOptions::default().with_operation_options(with_consistency_level_header(
        OperationOptions::default(),
        level,
    ));
    match token {
        Some(t) if level == "Session" => options.with_session_token(t.to_string()),
        _ => options,
    }
}

pub(crate) async fn consistency_levels(s: &Scratch, params: &NativeParams<'_>) -> NativeOutcome {
    let rounds = params.count("rounds") as i64;
    let c = &s.container;
    let pk = || PartitionKey::from("s1".to_string());
    let mut tokens_returned = 0u64;
    let mut writes = 0u64;

    let created = match c
        .create_item(pk(), "ryw", order("ryw", "s1", 0), None)
        .await
    {
        Ok(r) => r,
        Err(e) => return NativeOutcome::error(format!("create: {}", quote(&e))),
    };
    writes += 1;
    let mut token = session_token(created.headers());
    tokens_returned += u64::from(token.is_some());

    // 1. Each level per request: accepted, or refused as stronger than the account's.
    let mut accepted = Vec::new();
    let mut refused_stronger = Vec::new();
    let mut deviations = Vec::new();
    for level in LEVELS {
        match c
            .read_item(pk(), "ryw", Some(level_options(level, token.as_deref())))
            .await
        {
            Ok(_) => accepted.push(level),
            // The service refuses a level stronger than the account's default with 400.
            Err(e) if status_of(&e) == 400 => {
                refused_stronger.push(format!("{level} ({})", quote(&e)))
            }
            Err(e) => deviations.push(format!("a read at {level} answered {}", quote(&e))),
        }
    }

    // 2. Read-your-writes: a Session read with the write's token sees the write.
    let mut ryw_held = 0i64;
    for i in 1..=rounds {
        let written = match c
            .upsert_item(pk(), "ryw", order("ryw", "s1", i), None)
            .await
        {
            Ok(r) => r,
            Err(e) => return NativeOutcome::error(format!("upsert #{i}: {}", quote(&e))),
        };
        writes += 1;
        if let Some(t) = session_token(written.headers()) {
            tokens_returned += 1;
            token = Some(t);
        }
        let mut operation = OperationOptions::default();
        operation.read_consistency_strategy = Some(ReadConsistencyStrategy::Session);
        let mut options = ItemReadOptions::default().with_operation_options(operation);
        if let Some(t) = &token {
            options = options.with_session_token(t.clone());
        }
        match c.read_item(pk(), "ryw", Some(options)).await {
            Ok(r) => match r.into_model::<serde_json::Value>() {
                Ok(item) if n_of(&item) == Some(i) => ryw_held += 1,
                Ok(item) => deviations.push(format!(
                    "read-your-writes: wrote n={i}, a Session read with its token returned n={:?}",
                    n_of(&item)
                )),
                Err(e) => return NativeOutcome::error(format!("decode read #{i}: {}", quote(&e))),
            },
            Err(e) => return NativeOutcome::error(format!("Session read #{i}: {}", quote(&e))),
        }
    }

    // 3. Monotonic reads: while one client bumps n, a reader per accepted level (weakest
    //    checked: ConsistentPrefix) never sees n go backwards.
    if let Err(e) = c
        .create_item(pk(), "mono", order("mono", "s1", 0), None)
        .await
    {
        return NativeOutcome::error(format!("create `mono`: {}", quote(&e)));
    }
    let writing = AtomicBool::new(true);
    let writer = async {
        let mut result = Ok(());
        for i in 1..=rounds {
            if let Err(e) = c
                .upsert_item(pk(), "mono", order("mono", "s1", i), None)
                .await
            {
                result = Err(format!("upsert `mono` #{i}: {}", quote(&e)));
                break;
            }
        }
        writing.store(false, Ordering::SeqCst);
        result
    };
    let monotonic_levels: Vec<&'static str> = accepted
        .iter()
        .copied()
        .filter(|l| *l != "Eventual")
        .collect();
    let reader = |level: &'static str| {
        let writing = &writing;
        async move {
            let mut last = i64::MIN;
            let mut reads = 0u64;
            let mut backwards = Vec::new();
            let mut my_token: Option<String> = None;
            // Bounded by the writer (which ends) and by a count.
            for _ in 0..(rounds as u64 * 20 + 100) {
                let still_writing = writing.load(Ordering::SeqCst);
                let r = c
                    .read_item(
                        pk(),
                        "mono",
                        Some(level_options(level, my_token.as_deref())),
                    )
                    .await
                    .map_err(|e| format!("read `mono` at {level}: {}", quote(&e)))?;
                if let Some(t) = session_token(r.headers()) {
                    my_token = Some(t);
                }
                let n = r
                    .into_model::<serde_json::Value>()
                    .ok()
                    .and_then(|i| n_of(&i))
                    .unwrap_or(i64::MIN);
                reads += 1;
                if n < last {
                    backwards.push(format!("{level}: read n={n} after n={last}"));
                }
                last = last.max(n);
                if !still_writing {
                    break;
                }
            }
            Ok::<_, String>((level, reads, backwards))
        }
    };
    let (written, read) = futures::join!(
        writer,
        futures::future::join_all(monotonic_levels.iter().map(|l| reader(l)))
    );
    if let Err(reason) = written {
        return NativeOutcome::error(reason);
    }
    let mut monotonic_reads = BTreeMap::new();
    for r in read {
        match r {
            Ok((level, reads, backwards)) => {
                monotonic_reads.insert(level, reads);
                deviations.extend(backwards);
            }
            Err(reason) => return NativeOutcome::error(reason),
        }
    }

    let levels_line = if refused_stronger.is_empty() {
        format!("all {} levels accepted per request", accepted.len())
    } else {
        format!(
            "accepted per request: {}; refused as stronger than the account default: {}",
            accepted.join(", "),
            refused_stronger.join(", ")
        )
    };
    let reads: u64 = monotonic_reads.values().sum();
    let facts = format!(
        "{levels_line}; read-your-writes held {ryw_held}/{rounds} Session reads; monotonic reads held over {reads} reads at {}; {tokens_returned} of {writes} writes returned a session token",
        monotonic_levels.join("/")
    );
    let mut outcome = if !deviations.is_empty() {
        NativeOutcome::deviates(format!("{facts}; deviations: {}", deviations.join("; ")))
    } else if tokens_returned == 0 {
        // Without session tokens and with one replica, every level reads the one copy:
        // the guarantees hold trivially and the levels cannot be told apart.
        NativeOutcome::unverified(format!(
            "{facts}; no session token and a single replica, so the levels are accepted but cannot be shown to do anything (read-your-writes and monotonic reads observed, trivially)"
        ))
    } else {
        NativeOutcome::pass(facts)
    };
    outcome = outcome
        .with_counter("session_tokens_returned", tokens_returned as f64)
        .with_counter("writes", writes as f64)
        .with_counter("ryw_held", ryw_held as f64);
    for (level, reads) in monotonic_reads {
        outcome = outcome.with_counter(&format!("reads_{}", level.to_lowercase()), reads as f64);
    }
    outcome
}

pub(crate) async fn request_charge(s: &Scratch) -> NativeOutcome {
    let c = &s.container;
    let pk = || PartitionKey::from("r1".to_string());
    let mut charges: Vec<(&'static str, Option<f64>)> = Vec::new();
    let charge = |h: &ResponseHeaders| h.request_charge().map(|rc| f64::from(*rc));
    macro_rules! record {
        ($kind:expr, $call:expr) => {
            match $call.await {
                Ok(r) => charges.push(($kind, charge(r.headers()))),
                Err(e) => return NativeOutcome::error(format!("{}: {}", $kind, quote(&e))),
            }
        };
    }
    // A ~1 KB item, the size the documented 1 RU point read refers to.
    let padded = |id: &str, n: i64| {
        let mut item = order(id, "r1", n);
        item["pad"] = serde_json::Value::String("x".repeat(900));
        item
    };
    record!("create", c.create_item(pk(), "a", padded("a", 1), None));
    record!("read", c.read_item(pk(), "a", None));
    record!("upsert", c.upsert_item(pk(), "a", padded("a", 2), None));
    record!("replace", c.replace_item(pk(), "a", padded("a", 3), None));
    match c
        .query_items::<serde_json::Value>(
            Query::from("SELECT * FROM c WHERE c.n > 0"),
            FeedScope::Partition(pk()),
            None,
        )
        .await
    {
        Ok(items) => match items.into_pages().try_next().await {
            Ok(Some(page)) => charges.push(("query", charge(page.headers()))),
            Ok(None) => charges.push(("query", None)),
            Err(e) => return NativeOutcome::error(format!("query page: {}", quote(&e))),
        },
        Err(e) => return NativeOutcome::error(format!("query: {}", quote(&e))),
    }
    match TransactionalBatch::new("r1").create_item(padded("b", 1)) {
        Ok(batch) => match c.execute_transactional_batch(batch, None).await {
            Ok(r) => charges.push(("batch", charge(r.headers()))),
            Err(e) => return NativeOutcome::error(format!("batch: {}", quote(&e))),
        },
        Err(e) => return NativeOutcome::error(format!("build batch: {}", quote(&e))),
    }
    match c
        .query_change_feed::<serde_json::Value>(
            FeedScope::full_container(),
            ChangeFeedStartFrom::Beginning,
            None,
        )
        .await
    {
        Ok(mut pages) => match pages.next().await {
            Some(Ok(page)) => charges.push(("change_feed", charge(page.headers()))),
            Some(Err(e)) => return NativeOutcome::error(format!("change feed: {}", quote(&e))),
            None => charges.push(("change_feed", None)),
        },
        Err(e) => return NativeOutcome::error(format!("change feed: {}", quote(&e))),
    }
    record!("delete", c.delete_item(pk(), "a", None));

    let missing: Vec<&str> = charges
        .iter()
        .filter(|(_, ru)| ru.is_none())
        .map(|(k, _)| *k)
        .collect();
    let values: Vec<f64> = charges.iter().filter_map(|(_, ru)| *ru).collect();
    let listing = charges
        .iter()
        .map(|(k, ru)| match ru {
            Some(ru) => format!("{k}={ru}"),
            None => format!("{k}=none"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let read = charges
        .iter()
        .find(|(k, _)| *k == "read")
        .and_then(|(_, r)| *r);
    let create = charges
        .iter()
        .find(|(k, _)| *k == "create")
        .and_then(|(_, r)| *r);
    let constant = values.windows(2).all(|w| w[0] == w[1]);
    let mut outcome = if !missing.is_empty() {
        NativeOutcome::deviates(format!(
            "x-ms-request-charge missing on: {}; RU per op kind: {listing}",
            missing.join(", ")
        ))
    } else if constant {
        NativeOutcome::unverified(format!(
            "every op kind reported x-ms-request-charge, but the same {} RU for all ({listing}): a constant charge, not the RUs consumed",
            values.first().copied().unwrap_or_default()
        ))
    } else {
        NativeOutcome::expect(
            matches!((read, create), (Some(r), Some(w)) if w > r),
            format!("every op kind reported x-ms-request-charge; a ~1 KB write cost more than its point read; RU per op kind: {listing}"),
        )
    };
    for (kind, ru) in &charges {
        if let Some(ru) = ru {
            outcome = outcome.with_counter(&format!("ru_{kind}"), *ru);
        }
    }
    outcome
}
