//! Cosmos-specific conformance checks (`native = "cosmos.<check>"`): what the portable op
//! model cannot express (partition key definitions, etag concurrency, parameterised and
//! cross-partition queries, transactional batches, the change feed, per-request
//! consistency levels, request charges).
//!
//! Every check runs in its own scratch database, named from the run's namespace
//! (`<namespace>_native_<check>`) with one container `items` partitioned by
//! `/customerId`. The database is registered with the driver before it is created, so
//! `teardown` drops it when a check dies half-way, and the check drops it when it ends.
//!
//! The same code runs on every local stand-in and on the real service; each outcome's
//! observed line ends with the fidelity of the verdict (verified locally, or only
//! verifiable against real Cosmos DB).

mod checks;
mod consistency;
mod feed;
mod items;

use crate::connection::{bounded, CosmosDriver};
use crate::errors::status_of;
use assay_core::{NativeOutcome, NativeSpecError, NativeStep, NativeVerdict};
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{CreateContainerOptions, CreateDatabaseOptions};
use azure_data_cosmos::CosmosError;
use checks::Which;
use std::time::{Duration, Instant};

/// The partition key path every check's container uses.
pub(crate) const PARTITION_KEY_PATH: &str = "/customerId";
const CONTAINER: &str = "items";
/// Upper bound on creating the scratch database and container.
const SCRATCH_SETUP: Duration = Duration::from_secs(30);
/// Upper bound on dropping it again.
const SCRATCH_DROP: Duration = Duration::from_secs(30);

pub use checks::NATIVE_CHECKS;

/// A check's scratch container.
pub(crate) struct Scratch {
    pub container: ContainerClient,
    /// Overall deadline of the step.
    pub deadline: Instant,
}

impl Scratch {
    /// Time left before the step's deadline.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

pub(crate) async fn run(driver: &CosmosDriver, step: &NativeStep) -> NativeOutcome {
    // Scenario validation refused unknown checks and bad params already; a step built
    // another way is refused here, by the same table.
    let params = match step.params_in(&NATIVE_CHECKS) {
        Ok(p) => p,
        Err(e @ NativeSpecError::UnknownCheck { .. }) => {
            return NativeOutcome::unsupported(format!("the cosmos driver cannot run it: {e}"))
        }
        Err(e) => return NativeOutcome::error(format!("step `{}`: {e}", step.name)),
    };
    let Some(which) = checks::which(params.spec().name) else {
        return NativeOutcome::error(format!(
            "cosmos.{} is in the table but has no code; this is a bug in the driver",
            step.check
        ));
    };
    let started = Instant::now();
    let deadline = started + step.timeout;
    let database = driver
        .config
        .physical_table(&format!("native_{}", step.check));
    driver.register_native_database(&database);
    let container = match create_scratch(driver, &database, deadline).await {
        Ok(container) => container,
        Err(reason) => {
            let outcome = NativeOutcome::error(reason);
            return finish(driver, &database, outcome).await;
        }
    };
    let scratch = Scratch {
        container,
        deadline,
    };
    let body = async {
        match which {
            Which::ContainerPartitionKey => items::container_partition_key(&scratch).await,
            Which::ItemCrud => items::item_crud(&scratch).await,
            Which::CreateConflict => items::create_conflict(&scratch).await,
            Which::EtagCasCounter => items::etag_cas_counter(&scratch, &params).await,
            Which::ParameterisedQuery => items::parameterised_query(&scratch).await,
            Which::TransactionalBatch => items::transactional_batch(&scratch).await,
            Which::ChangeFeed => feed::change_feed(&scratch, &params).await,
            Which::ConsistencyLevels => consistency::consistency_levels(&scratch, &params).await,
            Which::RequestCharge => consistency::request_charge(&scratch).await,
        }
    };
    let outcome = match tokio::time::timeout(scratch.left(), body).await {
        Ok(outcome) => outcome,
        Err(_) => NativeOutcome::error(format!(
            "the check did not finish within its timeout of {:?}; raise `timeout` or lower the step's params",
            step.timeout
        )),
    };
    let outcome = with_fidelity(outcome, driver.emulator);
    finish(driver, &database, outcome).await
}

/// Drops the scratch database; a failure to do so is added to the evidence (teardown
/// tries again, since the database stays registered).
async fn finish(driver: &CosmosDriver, database: &str, outcome: NativeOutcome) -> NativeOutcome {
    match driver
        .drop_database(database, Instant::now() + SCRATCH_DROP)
        .await
    {
        Ok(()) => {
            driver.forget_native_database(database);
            outcome
        }
        Err(e) => outcome.with_evidence(format!(
            "scratch database `{database}` could not be dropped now ({e}); teardown retries"
        )),
    }
}

async fn create_scratch(
    driver: &CosmosDriver,
    database: &str,
    step_deadline: Instant,
) -> Result<ContainerClient, String> {
    let deadline = step_deadline.min(Instant::now() + SCRATCH_SETUP);
    let created = bounded(
        deadline,
        driver
            .client
            .create_database(database, Some(CreateDatabaseOptions::default())),
    )
    .await
    .map_err(|e| e.to_string())?;
    match created {
        Ok(_) => {}
        // A leftover of an earlier attempt of this run: reuse it (it is ours by name).
        Err(e) if status_of(&e) == 409 => {}
        Err(e) => return Err(format!("create database `{database}`: {}", quote(&e))),
    }
    let db = driver.client.database_client(database.to_string());
    let properties = ContainerProperties::new(CONTAINER, PARTITION_KEY_PATH.into());
    let created = bounded(
        deadline,
        db.create_container(properties, Some(CreateContainerOptions::default())),
    )
    .await
    .map_err(|e| e.to_string())?;
    match created {
        Ok(_) => {}
        Err(e) if status_of(&e) == 409 => {}
        Err(e) => {
            return Err(format!(
                "create container `{CONTAINER}` in `{database}`: {}",
                quote(&e)
            ))
        }
    }
    // The container answers once its metadata and partition key ranges resolve.
    let mut last = String::new();
    while Instant::now() < deadline {
        match bounded(deadline, db.container_client(CONTAINER.to_string(), None)).await {
            Ok(Ok(container)) => return Ok(container),
            Ok(Err(e)) => last = quote(&e),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "container `{CONTAINER}` in `{database}` was not usable in time: {last}"
    ))
}

/// Appends where the verdict holds: verified on this backend, or only on real Cosmos DB.
fn with_fidelity(mut outcome: NativeOutcome, emulator: bool) -> NativeOutcome {
    let fidelity = match (outcome.verdict, emulator) {
        (NativeVerdict::Pass, true) => "verified locally",
        (NativeVerdict::Pass, false) => "verified against this Cosmos DB account",
        (NativeVerdict::Error, _) => "not run",
        (_, true) => "only on real Cosmos DB (not verifiable on this local server)",
        (_, false) => "not verified on this Cosmos DB account",
    };
    outcome.observed = format!("{} [fidelity: {fidelity}]", outcome.observed);
    outcome
}

/// An SDK error in one line: status, sub-status and the server's message (bounded).
pub(crate) fn quote(e: &CosmosError) -> String {
    let text = e.to_string().replace(['\n', '\r'], " ");
    let text: String = text.chars().take(300).collect();
    format!("{} `{text}`", status_of(e))
}

/// An item of the checks' containers.
pub(crate) fn order(id: &str, customer: &str, n: i64) -> serde_json::Value {
    serde_json::json!({ "id": id, "customerId": customer, "n": n })
}

/// `n` of an item read back as JSON.
pub(crate) fn n_of(item: &serde_json::Value) -> Option<i64> {
    item.get("n").and_then(|v| v.as_i64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fidelity_is_appended_to_the_observed_line() {
        let pass = with_fidelity(NativeOutcome::pass("saw it"), true);
        assert_eq!(pass.observed, "saw it [fidelity: verified locally]");
        let dev = with_fidelity(NativeOutcome::deviates("500"), true);
        assert!(
            dev.observed.contains("only on real Cosmos DB"),
            "{}",
            dev.observed
        );
        let real = with_fidelity(NativeOutcome::pass("ok"), false);
        assert!(
            real.observed.contains("verified against"),
            "{}",
            real.observed
        );
    }

    #[test]
    fn orders_carry_the_partition_key_field() {
        let o = order("a", "c1", 3);
        assert_eq!(o["customerId"], "c1");
        assert_eq!(n_of(&o), Some(3));
        assert_eq!(&PARTITION_KEY_PATH[1..], "customerId");
    }
}
