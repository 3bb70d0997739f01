//! Item-level checks: the container's partition key definition, item CRUD and its status
//! codes, create conflicts, etag optimistic concurrency under contention, parameterised
//! single- and cross-partition queries, and transactional batch atomicity.

use super::{n_of, order, quote, Scratch, PARTITION_KEY_PATH};
use crate::errors::status_of;
use assay_core::{NativeOutcome, NativeParams};
use azure_core::http::Etag;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{ItemWriteOptions, Precondition};
use azure_data_cosmos::{FeedScope, PartitionKey, Query, TransactionalBatch};
use futures::TryStreamExt;
use std::collections::BTreeSet;

pub(crate) async fn container_partition_key(s: &Scratch) -> NativeOutcome {
    let properties: ContainerProperties = match s.container.read(None).await {
        Ok(response) => match response.into_model() {
            Ok(p) => p,
            Err(e) => {
                return NativeOutcome::error(format!(
                    "container properties could not be decoded: {}",
                    quote(&e)
                ))
            }
        },
        Err(e) => return NativeOutcome::error(format!("read container properties: {}", quote(&e))),
    };
    let paths: Vec<String> = properties
        .partition_key
        .paths()
        .iter()
        .map(|p| p.to_string())
        .collect();
    NativeOutcome::expect(
        paths == [PARTITION_KEY_PATH],
        format!(
            "container created with partition key {PARTITION_KEY_PATH}; its properties read back paths {paths:?}"
        ),
    )
    .with_evidence(format!("container id read back: `{}`", properties.id))
}

/// Point read as raw JSON: `Ok(None)` only on a real 404.
async fn read_json(
    c: &ContainerClient,
    customer: &str,
    id: &str,
) -> Result<Option<(serde_json::Value, Option<String>)>, azure_data_cosmos::CosmosError> {
    match c
        .read_item(PartitionKey::from(customer.to_string()), id, None)
        .await
    {
        Ok(response) => {
            let etag = response.headers().etag().map(|e| e.to_string());
            Ok(Some((response.into_model()?, etag)))
        }
        Err(e) if status_of(&e) == 404 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Ids of the items of one partition, by a partition-scoped query (never a point read, so a
/// server's odd answer to a read of a missing item cannot blur what is there).
async fn ids_in(
    c: &ContainerClient,
    customer: &str,
) -> Result<BTreeSet<String>, azure_data_cosmos::CosmosError> {
    // The filter repeats the scope: cosmos-local refuses a partition-scoped query whose text
    // does not name the partition key path (400 "missing partition keys"), and the filter
    // changes nothing on a real account.
    let query =
        Query::from("SELECT * FROM c WHERE c.customerId = @c").with_parameter("@c", customer)?;
    let items: Vec<serde_json::Value> = c
        .query_items(
            query,
            FeedScope::Partition(PartitionKey::from(customer.to_string())),
            None,
        )
        .await?
        .try_collect()
        .await?;
    Ok(items
        .iter()
        .filter_map(|i| i.get("id").and_then(|v| v.as_str()).map(str::to_string))
        .collect())
}

/// One sub-step of a multi-step check.
struct Finding {
    ok: bool,
    line: String,
}

fn summarise(what: &str, findings: Vec<Finding>) -> NativeOutcome {
    let bad: Vec<&Finding> = findings.iter().filter(|f| !f.ok).collect();
    let observed = if bad.is_empty() {
        format!("{what}: all {} steps behaved as documented", findings.len())
    } else {
        format!(
            "{what}: {} of {} steps deviated: {}",
            bad.len(),
            findings.len(),
            bad.iter()
                .map(|f| f.line.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let mut outcome = NativeOutcome::expect(bad.is_empty(), observed);
    for f in &findings {
        outcome = outcome.with_evidence(format!(
            "{} {}",
            if f.ok { "ok:" } else { "DEVIATES:" },
            f.line
        ));
    }
    outcome
}

pub(crate) async fn item_crud(s: &Scratch) -> NativeOutcome {
    let c = &s.container;
    let pk = || PartitionKey::from("c1".to_string());
    let mut findings = Vec::new();
    macro_rules! step_err {
        ($what:expr, $e:expr) => {
            return NativeOutcome::error(format!("{}: {}", $what, quote(&$e)))
        };
    }

    match c.create_item(pk(), "o1", order("o1", "c1", 1), None).await {
        Ok(r) => {
            let code = u16::from(r.status().status_code());
            findings.push(Finding {
                ok: code == 201,
                line: format!("create answered {code} (documented 201 Created)"),
            });
        }
        Err(e) => step_err!("create of a new item", e),
    }
    match read_json(c, "c1", "o1").await {
        Ok(Some((item, _))) => findings.push(Finding {
            ok: n_of(&item) == Some(1) && item["customerId"] == "c1",
            line: format!("read after create returned n={:?}", n_of(&item)),
        }),
        Ok(None) => findings.push(Finding {
            ok: false,
            line: "read after create answered 404".into(),
        }),
        Err(e) => step_err!("read of a created item", e),
    }
    match c.upsert_item(pk(), "o1", order("o1", "c1", 2), None).await {
        Ok(r) => {
            let code = u16::from(r.status().status_code());
            findings.push(Finding {
                ok: code == 200,
                line: format!("upsert of an existing item answered {code} (documented 200 OK)"),
            });
        }
        Err(e) => step_err!("upsert of an existing item", e),
    }
    match c.upsert_item(pk(), "o2", order("o2", "c1", 7), None).await {
        Ok(r) => {
            let code = u16::from(r.status().status_code());
            findings.push(Finding {
                ok: code == 201,
                line: format!("upsert of a new item answered {code} (documented 201 Created)"),
            });
        }
        Err(e) => step_err!("upsert of a new item", e),
    }
    match read_json(c, "c1", "o1").await {
        Ok(found) => {
            let n = found.as_ref().and_then(|(i, _)| n_of(i));
            findings.push(Finding {
                ok: n == Some(2),
                line: format!("read after upsert returned n={n:?} (expected 2)"),
            });
        }
        Err(e) => step_err!("read after upsert", e),
    }
    match c.replace_item(pk(), "o1", order("o1", "c1", 3), None).await {
        Ok(r) => {
            let code = u16::from(r.status().status_code());
            findings.push(Finding {
                ok: code == 200,
                line: format!("replace answered {code} (documented 200 OK)"),
            });
        }
        Err(e) => step_err!("replace of an existing item", e),
    }
    match read_json(c, "c1", "o1").await {
        Ok(found) => {
            let n = found.as_ref().and_then(|(i, _)| n_of(i));
            findings.push(Finding {
                ok: n == Some(3),
                line: format!("read after replace returned n={n:?} (expected 3)"),
            });
        }
        Err(e) => step_err!("read after replace", e),
    }
    match c
        .replace_item(pk(), "never", order("never", "c1", 1), None)
        .await
    {
        Ok(r) => findings.push(Finding {
            ok: false,
            line: format!(
                "replace of a missing item answered {} instead of 404",
                u16::from(r.status().status_code())
            ),
        }),
        Err(e) => findings.push(Finding {
            ok: status_of(&e) == 404,
            line: format!(
                "replace of a missing item answered {} (documented 404)",
                quote(&e)
            ),
        }),
    }
    match c.delete_item(pk(), "o1", None).await {
        Ok(r) => {
            let code = u16::from(r.status().status_code());
            findings.push(Finding {
                ok: code == 204,
                line: format!("delete answered {code} (documented 204 No Content)"),
            });
        }
        Err(e) => step_err!("delete of an existing item", e),
    }
    match ids_in(c, "c1").await {
        Ok(ids) => findings.push(Finding {
            ok: ids == BTreeSet::from(["o2".to_string()]),
            line: format!("after delete the partition holds {ids:?} (expected [\"o2\"])"),
        }),
        Err(e) => step_err!("query of the partition after delete", e),
    }
    match c
        .read_item(PartitionKey::from("c1".to_string()), "o1", None)
        .await
    {
        Ok(_) => findings.push(Finding {
            ok: false,
            line: "read of the deleted item still returned it".into(),
        }),
        Err(e) => findings.push(Finding {
            ok: status_of(&e) == 404,
            line: format!(
                "read of a missing item answered {} (documented 404 Not Found)",
                quote(&e)
            ),
        }),
    }
    match c.delete_item(pk(), "o1", None).await {
        Ok(r) => findings.push(Finding {
            ok: false,
            line: format!(
                "delete of a missing item answered {} instead of 404",
                u16::from(r.status().status_code())
            ),
        }),
        Err(e) => findings.push(Finding {
            ok: status_of(&e) == 404,
            line: format!(
                "delete of a missing item answered {} (documented 404)",
                quote(&e)
            ),
        }),
    }
    summarise("item CRUD", findings)
}

pub(crate) async fn create_conflict(s: &Scratch) -> NativeOutcome {
    let c = &s.container;
    let pk = || PartitionKey::from("c1".to_string());
    if let Err(e) = c
        .create_item(pk(), "dup", order("dup", "c1", 1), None)
        .await
    {
        return NativeOutcome::error(format!("first create: {}", quote(&e)));
    }
    let second = c
        .create_item(pk(), "dup", order("dup", "c1", 2), None)
        .await;
    let kept = match read_json(c, "c1", "dup").await {
        Ok(found) => found.and_then(|(i, _)| n_of(&i)),
        Err(e) => return NativeOutcome::error(format!("read back: {}", quote(&e))),
    };
    match second {
        Ok(r) => NativeOutcome::deviates(format!(
            "a second create with an existing id answered {} (documented 409 Conflict); stored n={kept:?}",
            u16::from(r.status().status_code())
        )),
        Err(e) => NativeOutcome::expect(
            status_of(&e) == 409 && kept == Some(1),
            format!(
                "a second create with an existing id answered {}; the stored item kept n={kept:?} (expected 1)",
                quote(&e)
            ),
        ),
    }
}

pub(crate) async fn etag_cas_counter(s: &Scratch, params: &NativeParams<'_>) -> NativeOutcome {
    let clients = params.count("clients");
    let increments = params.count("increments");
    let c = &s.container;
    let pk = || PartitionKey::from("counter".to_string());
    if let Err(e) = c
        .create_item(pk(), "counter", order("counter", "counter", 0), None)
        .await
    {
        return NativeOutcome::error(format!("create the counter: {}", quote(&e)));
    }
    // Each increment retries only on a lost race (412), at most this often; a backend that
    // never lets a client win shows up as gave-up increments, not as a hang.
    let max_attempts = 64 + clients * 4;
    let worker = |_: u64| async move {
        let (mut conflicts, mut gave_up) = (0u64, 0u64);
        for _ in 0..increments {
            let mut done = false;
            for _ in 0..max_attempts {
                let (item, etag) = match read_json(c, "counter", "counter").await {
                    Ok(Some((item, Some(etag)))) => (item, etag),
                    Ok(Some((_, None))) => return Err("a read returned no etag".to_string()),
                    Ok(None) => return Err("the counter vanished".to_string()),
                    Err(e) => return Err(format!("read: {}", quote(&e))),
                };
                let next = n_of(&item).unwrap_or(0) + 1;
                let options = ItemWriteOptions::default()
                    .with_precondition(Precondition::IfMatch(Etag::from(etag)));
                match c
                    .replace_item(
                        pk(),
                        "counter",
                        order("counter", "counter", next),
                        Some(options),
                    )
                    .await
                {
                    Ok(_) => {
                        done = true;
                        break;
                    }
                    Err(e) if status_of(&e) == 412 => conflicts += 1,
                    Err(e) => return Err(format!("replace with If-Match: {}", quote(&e))),
                }
            }
            if !done {
                gave_up += 1;
            }
        }
        Ok((conflicts, gave_up))
    };
    let results = futures::future::join_all((0..clients).map(worker)).await;
    let (mut conflicts, mut gave_up) = (0u64, 0u64);
    for r in results {
        match r {
            Ok((c, g)) => {
                conflicts += c;
                gave_up += g;
            }
            Err(reason) => return NativeOutcome::error(format!("a client failed: {reason}")),
        }
    }
    let final_n = match read_json(c, "counter", "counter").await {
        Ok(found) => found.and_then(|(i, _)| n_of(&i)),
        Err(e) => return NativeOutcome::error(format!("final read: {}", quote(&e))),
    };
    let expected = (clients * increments - gave_up) as i64;
    let observed = format!(
        "{clients} clients x {increments} read/replace-If-Match increments: final counter {final_n:?}, expected {expected}; {conflicts} lost races answered 412{}",
        if gave_up > 0 {
            format!(", {gave_up} increments gave up after {max_attempts} attempts")
        } else {
            String::new()
        }
    );
    let outcome = if final_n != Some(expected) {
        NativeOutcome::deviates(observed)
    } else if conflicts == 0 && clients > 1 {
        // Exact, but no race was ever lost: the If-Match precondition was not exercised.
        NativeOutcome::unverified(format!(
            "{observed}; no client ever lost a race, so If-Match was not exercised"
        ))
    } else {
        NativeOutcome::pass(observed)
    };
    outcome
        .with_counter("conflicts", conflicts as f64)
        .with_counter("gave_up", gave_up as f64)
}

pub(crate) async fn parameterised_query(s: &Scratch) -> NativeOutcome {
    let c = &s.container;
    for customer in ["c1", "c2", "c3"] {
        for n in 1..=5 {
            let id = format!("{customer}-{n}");
            if let Err(e) = c
                .create_item(
                    PartitionKey::from(customer.to_string()),
                    &id,
                    order(&id, customer, n),
                    None,
                )
                .await
            {
                return NativeOutcome::error(format!("create `{id}`: {}", quote(&e)));
            }
        }
    }
    let by_customer = "SELECT * FROM c WHERE c.customerId = @c AND c.n > @n";
    let run = |text: &'static str,
               scope: FeedScope,
               params: Vec<(&'static str, serde_json::Value)>| async move {
        let mut query = Query::from(text);
        for (name, value) in params {
            query = query.with_parameter(name, value)?;
        }
        let items: Vec<serde_json::Value> = c
            .query_items(query, scope, None)
            .await?
            .try_collect()
            .await?;
        Ok::<_, azure_data_cosmos::CosmosError>(
            items
                .iter()
                .filter_map(|i| i.get("id").and_then(|v| v.as_str()).map(str::to_string))
                .collect::<Vec<_>>(),
        )
    };
    let expect = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let cases = [
        (
            "single-partition (scoped to customerId c2)",
            run(
                by_customer,
                FeedScope::Partition(PartitionKey::from("c2".to_string())),
                vec![("@c", "c2".into()), ("@n", 2.into())],
            )
            .await,
            expect(&["c2-3", "c2-4", "c2-5"]),
        ),
        (
            "same query cross-partition (whole container)",
            run(
                by_customer,
                FeedScope::full_container(),
                vec![("@c", "c2".into()), ("@n", 2.into())],
            )
            .await,
            expect(&["c2-3", "c2-4", "c2-5"]),
        ),
        (
            "cross-partition `c.n > @n`",
            run(
                "SELECT * FROM c WHERE c.n > @n",
                FeedScope::full_container(),
                vec![("@n", 3.into())],
            )
            .await,
            expect(&["c1-4", "c1-5", "c2-4", "c2-5", "c3-4", "c3-5"]),
        ),
    ];
    let mut findings = Vec::new();
    for (what, result, expected) in cases {
        match result {
            Ok(ids) => {
                let got: BTreeSet<String> = ids.iter().cloned().collect();
                let exact = got == expected && ids.len() == expected.len();
                findings.push(Finding {
                    ok: exact,
                    line: format!("{what}: returned {ids:?}, expected {expected:?}"),
                });
            }
            Err(e) => findings.push(Finding {
                ok: false,
                line: format!("{what}: refused with {}", quote(&e)),
            }),
        }
    }
    summarise("parameterised queries", findings)
}

pub(crate) async fn transactional_batch(s: &Scratch) -> NativeOutcome {
    let c = &s.container;
    let pk = "b1";
    if let Err(e) = c
        .create_item(
            PartitionKey::from(pk.to_string()),
            "exists",
            order("exists", pk, 0),
            None,
        )
        .await
    {
        return NativeOutcome::error(format!("create `exists`: {}", quote(&e)));
    }

    // A batch that succeeds: both creates land.
    let good = TransactionalBatch::new(pk)
        .create_item(order("ok1", pk, 1))
        .and_then(|b| b.create_item(order("ok2", pk, 2)));
    let good = match good {
        Ok(b) => b,
        Err(e) => return NativeOutcome::error(format!("build a batch: {}", quote(&e))),
    };
    match c.execute_transactional_batch(good, None).await {
        Ok(_) => {}
        Err(e) if matches!(status_of(&e), 400 | 404 | 405 | 501) => {
            return NativeOutcome::unsupported(format!(
                "the backend refused a valid transactional batch: {}",
                quote(&e)
            ))
        }
        Err(e) => return NativeOutcome::error(format!("valid batch: {}", quote(&e))),
    }

    // A batch whose third op fails (create of an existing id): nothing may land.
    let failing = TransactionalBatch::new(pk)
        .create_item(order("t1", pk, 1))
        .and_then(|b| b.upsert_item(order("t2", pk, 2), None))
        .and_then(|b| b.create_item(order("exists", pk, 9)))
        .and_then(|b| b.create_item(order("t3", pk, 3)));
    let failing = match failing {
        Ok(b) => b,
        Err(e) => return NativeOutcome::error(format!("build a batch: {}", quote(&e))),
    };
    let mut evidence = Vec::new();
    match c.execute_transactional_batch(failing, None).await {
        Ok(response) => {
            let status = u16::from(response.status().status_code());
            let attempts = response.diagnostics().request_count();
            evidence.push(format!(
                "failing batch answered HTTP {status} after {attempts} request attempt(s) by the SDK"
            ));
            if attempts > 1 {
                evidence.push(
                    "the SDK retried the batch, so the per-op statuses below are the last attempt's; what an earlier attempt applied stays applied unless the server rolled it back".to_string(),
                );
            }
            match response.into_model() {
                Ok(body) => {
                    for (i, r) in body.results().iter().enumerate() {
                        evidence.push(format!("op #{i}: status {}", r.status_code()));
                    }
                }
                Err(e) => evidence.push(format!("per-op results not decodable: {}", quote(&e))),
            }
        }
        Err(e) => evidence.push(format!(
            "failing batch answered {} after {} request attempt(s) by the SDK",
            quote(&e),
            e.diagnostics().map(|d| d.request_count()).unwrap_or(1)
        )),
    }
    let ids = match ids_in(c, pk).await {
        Ok(ids) => ids,
        Err(e) => return NativeOutcome::error(format!("list the partition: {}", quote(&e))),
    };
    let expected: BTreeSet<String> = ["exists", "ok1", "ok2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let leaked: Vec<&String> = ids.difference(&expected).collect();
    let missing: Vec<&String> = expected.difference(&ids).collect();
    let stored_exists = match read_json(c, pk, "exists").await {
        Ok(found) => found.and_then(|(i, _)| n_of(&i)),
        Err(e) => return NativeOutcome::error(format!("read `exists`: {}", quote(&e))),
    };
    let observed = if leaked.is_empty() && missing.is_empty() && stored_exists == Some(0) {
        "a valid batch applied both creates; a batch whose 3rd op conflicted (409) applied none of its 4 ops".to_string()
    } else {
        format!(
            "a batch whose 3rd op conflicted left {leaked:?} applied (documented: none){}; the valid batch's items missing: {missing:?}; `exists` n={stored_exists:?}",
            if leaked.is_empty() { "" } else { " — the server does not roll back" }
        )
    };
    let mut outcome = NativeOutcome::expect(
        leaked.is_empty() && missing.is_empty() && stored_exists == Some(0),
        observed,
    );
    for line in evidence {
        outcome = outcome.with_evidence(line);
    }
    outcome
}
