//! The table of DynamoDB's native checks (`native = "dynamodb.<check>"`): every check this
//! driver implements, every parameter it reads with its type, default and range, and the
//! documentation it exercises. Scenario validation and `assay checks` read it; the checks
//! read their parameters through it ([`assay_core::NativeStep::params_in`]).

use assay_core::native::{CheckSpec, FamilyChecks, ParamSpec};

/// The longest any check waits for the backend to show a write (one hour).
const MAX_WAIT_MS: u64 = 3_600_000;

macro_rules! aws {
    ($path:literal) => {
        concat!("https://docs.aws.amazon.com/amazondynamodb/latest", $path)
    };
}

pub const NATIVE_CHECKS: FamilyChecks = FamilyChecks {
    family: "dynamodb",
    checks: &[
        CheckSpec {
            name: "table_modes",
            summary: "an on-demand and a provisioned table each describe their capacity mode",
            params: &[
                ParamSpec::count("read_capacity", 5, 1, 40_000, "RCUs of the provisioned table"),
                ParamSpec::count("write_capacity", 5, 1, 40_000, "WCUs of the provisioned table"),
            ],
            cite: aws!("/developerguide/HowItWorks.ReadWriteCapacityMode.html"),
        },
        CheckSpec {
            name: "conditional_put",
            summary: "PutItem with attribute_not_exists on existing keys fails and changes nothing",
            params: &[
                ParamSpec::count("keys", 10, 1, 1_000, "existing keys to put again"),
                ParamSpec::flag(
                    "return_values_on_failure",
                    false,
                    "ask for the old item (ReturnValuesOnConditionCheckFailure=ALL_OLD)",
                ),
            ],
            cite: aws!("/developerguide/Expressions.ConditionExpressions.html"),
        },
        CheckSpec {
            name: "consistent_get",
            summary: "a ConsistentRead GetItem right after a PutItem returns it",
            params: &[
                ParamSpec::count("writes", 200, 1, 100_000, "write + read rounds"),
                ParamSpec::count("keys", 10, 1, 100_000, "keys written (at most `writes`)"),
            ],
            cite: aws!("/developerguide/HowItWorks.ReadConsistency.html"),
        },
        CheckSpec {
            name: "query_sort_key",
            summary: "Query with a sort-key BETWEEN returns the range in order, both directions",
            params: &[
                ParamSpec::choice("sort_key", "N", &["N", "S"], "sort key type: number or string"),
                ParamSpec::count("items", 20, 2, 1_000, "items in the partition"),
                ParamSpec::count("page_size", 4, 1, 1_000, "Limit of each Query page"),
                ParamSpec::required_list("between", "the two BETWEEN bounds, e.g. [\"1\", \"3\"]"),
            ],
            cite: aws!("/developerguide/Query.KeyConditionExpressions.html"),
        },
        CheckSpec {
            name: "scan_filter",
            summary: "a filtered Scan returns exactly the matching items; Limit applies before the filter",
            params: &[
                ParamSpec::count("items", 60, 4, 10_000, "items in the table"),
                ParamSpec::count("limit", 7, 1, 10_000, "Limit of each Scan page"),
            ],
            cite: aws!("/APIReference/API_Scan.html"),
        },
        CheckSpec {
            name: "atomic_counter",
            summary: "concurrent UpdateItem ADD increments sum exactly",
            params: &[
                ParamSpec::count("clients", 16, 1, 256, "concurrent clients"),
                ParamSpec::count("increments", 1_000, 1, 1_000_000, "increments per client"),
            ],
            cite: aws!("/developerguide/WorkingWithItems.html#WorkingWithItems.AtomicCounters"),
        },
        CheckSpec {
            name: "batch_limits",
            summary: "a batch over the documented item limit is refused with ValidationException",
            params: &[ParamSpec::choice(
                "api",
                "BatchWriteItem",
                &["BatchWriteItem", "BatchGetItem"],
                "the batch API to probe",
            )],
            cite: aws!("/APIReference/API_BatchWriteItem.html"),
        },
        CheckSpec {
            name: "txn_all_or_nothing",
            summary: "a TransactWriteItems with a failing condition applies nothing",
            params: &[],
            cite: aws!("/APIReference/API_TransactWriteItems.html"),
        },
        CheckSpec {
            name: "gsi_query",
            summary: "a GSI query returns the matching items with the index's projection",
            params: &[
                ParamSpec::count("items", 20, 2, 1_000, "items written"),
                ParamSpec::count("max_wait_ms", 10_000, 1, MAX_WAIT_MS, "wait for the index to show them"),
            ],
            cite: aws!("/developerguide/GSI.html"),
        },
        CheckSpec {
            name: "gsi_propagation_lag",
            summary: "how long an acknowledged write takes to show in a GSI",
            params: &[
                ParamSpec::count("samples", 50, 1, 10_000, "writes measured"),
                ParamSpec::count("max_wait_ms", 10_000, 1, MAX_WAIT_MS, "wait per write"),
                ParamSpec::count("poll_interval_ms", 10, 1, 60_000, "pause between index queries"),
            ],
            cite: aws!("/developerguide/GSI.html#GSI.Writes"),
        },
        CheckSpec {
            name: "streams",
            summary: "the stream shows every acknowledged write in per-key order with old and new images",
            params: &[
                ParamSpec::count("clients", 4, 1, 64, "concurrent writers"),
                ParamSpec::count("keys_per_client", 2, 1, 64, "keys each writer changes"),
                ParamSpec::count("max_wait_ms", 10_000, 1, MAX_WAIT_MS, "wait for the stream to show them"),
            ],
            cite: aws!("/developerguide/Streams.html"),
        },
    ],
};

/// Which check a table name is; `None` only for a name the table does not list (the
/// `every_listed_check_dispatches` test keeps the two in step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    TableModes,
    ConditionalPut,
    ConsistentGet,
    QuerySortKey,
    ScanFilter,
    AtomicCounter,
    BatchLimits,
    TxnAllOrNothing,
    GsiQuery,
    GsiPropagationLag,
    Streams,
}

pub(crate) fn which(name: &str) -> Option<Which> {
    Some(match name {
        "table_modes" => Which::TableModes,
        "conditional_put" => Which::ConditionalPut,
        "consistent_get" => Which::ConsistentGet,
        "query_sort_key" => Which::QuerySortKey,
        "scan_filter" => Which::ScanFilter,
        "atomic_counter" => Which::AtomicCounter,
        "batch_limits" => Which::BatchLimits,
        "txn_all_or_nothing" => Which::TxnAllOrNothing,
        "gsi_query" => Which::GsiQuery,
        "gsi_propagation_lag" => Which::GsiPropagationLag,
        "streams" => Which::Streams,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS: &str = "https://docs.aws.amazon.com/amazondynamodb/latest";

    #[test]
    fn every_listed_check_dispatches_and_each_once() {
        assert_eq!(
            NATIVE_CHECKS.distinct_dispatch(which),
            Ok(11),
            "a Which variant is not in the table"
        );
        for spec in NATIVE_CHECKS.checks {
            assert!(spec.cite.starts_with(AWS), "{}", spec.cite);
        }
    }
}
