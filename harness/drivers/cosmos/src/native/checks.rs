//! The table of Cosmos DB's native checks (`native = "cosmos.<check>"`): every check this
//! driver implements, every parameter it reads with its type, default and range, and the
//! documentation it exercises. Scenario validation and `assay checks` read it; the checks
//! read their parameters through it ([`assay_core::NativeStep::params_in`]).

use assay_core::native::{CheckSpec, FamilyChecks, ParamSpec};

macro_rules! learn {
    ($path:literal) => {
        concat!("https://learn.microsoft.com/azure/cosmos-db", $path)
    };
}

pub const NATIVE_CHECKS: FamilyChecks = FamilyChecks {
    family: "cosmos",
    checks: &[
        CheckSpec {
            name: "container_partition_key",
            summary: "a container's partition key path reads back as created",
            params: &[],
            cite: learn!("/partitioning-overview"),
        },
        CheckSpec {
            name: "item_crud",
            summary: "create, read, upsert, replace and delete of an item behave as documented",
            params: &[],
            cite: learn!("/nosql/troubleshoot-not-found"),
        },
        CheckSpec {
            name: "create_conflict",
            summary: "a create of an existing id is refused with 409 Conflict",
            params: &[],
            cite: learn!("/nosql/conceptual-resilient-sdk-applications"),
        },
        CheckSpec {
            name: "etag_cas_counter",
            summary: "concurrent If-Match (etag) replaces lose no increment",
            params: &[
                ParamSpec::count("clients", 8, 1, 64, "concurrent clients"),
                ParamSpec::count("increments", 50, 1, 10_000, "increments per client"),
            ],
            cite: learn!("/nosql/database-transactions-optimistic-concurrency"),
        },
        CheckSpec {
            name: "parameterised_query",
            summary: "parameterised single- and cross-partition queries are exact",
            params: &[],
            cite: learn!("/nosql/query/parameterized-queries"),
        },
        CheckSpec {
            name: "transactional_batch",
            summary: "a transactional batch with a failing operation applies nothing",
            params: &[],
            cite: learn!("/nosql/transactional-batch"),
        },
        CheckSpec {
            name: "change_feed",
            summary: "the change feed delivers every acknowledged write's latest version in order",
            params: &[
                ParamSpec::count("clients", 4, 1, 32, "concurrent writers"),
                ParamSpec::count("partition_keys", 4, 1, 64, "partition key values written"),
                ParamSpec::count("writes_per_client", 12, 1, 1_000, "writes of each writer"),
                ParamSpec::count("poll_seconds", 10, 1, 600, "how long to read the feed"),
            ],
            cite: learn!("/change-feed"),
        },
        CheckSpec {
            name: "consistency_levels",
            summary: "five consistency levels per request; read-your-writes; monotonic reads",
            params: &[ParamSpec::count(
                "rounds",
                20,
                1,
                1_000,
                "write + read rounds per level",
            )],
            cite: learn!("/how-to-manage-consistency"),
        },
        CheckSpec {
            name: "request_charge",
            summary: "every op kind reports its request charge",
            params: &[],
            cite: learn!("/request-units"),
        },
    ],
};

/// Which check a table name is; `None` only for a name the table does not list (the
/// `every_listed_check_dispatches_once` test keeps the two in step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    ContainerPartitionKey,
    ItemCrud,
    CreateConflict,
    EtagCasCounter,
    ParameterisedQuery,
    TransactionalBatch,
    ChangeFeed,
    ConsistencyLevels,
    RequestCharge,
}

pub(crate) fn which(name: &str) -> Option<Which> {
    Some(match name {
        "container_partition_key" => Which::ContainerPartitionKey,
        "item_crud" => Which::ItemCrud,
        "create_conflict" => Which::CreateConflict,
        "etag_cas_counter" => Which::EtagCasCounter,
        "parameterised_query" => Which::ParameterisedQuery,
        "transactional_batch" => Which::TransactionalBatch,
        "change_feed" => Which::ChangeFeed,
        "consistency_levels" => Which::ConsistencyLevels,
        "request_charge" => Which::RequestCharge,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_check_dispatches_once() {
        assert_eq!(
            NATIVE_CHECKS.distinct_dispatch(which),
            Ok(9),
            "a Which variant is not in the table"
        );
    }
}
