//! The table of Spanner's native checks (`native = "spanner.<check>"`): every check this
//! driver implements, every parameter it reads with its type, default and range, and the
//! documentation it exercises. Scenario validation and `assay checks` read it; the checks
//! read their parameters through it ([`assay_core::NativeStep::params_in`]).

use assay_core::native::{CheckSpec, FamilyChecks, ParamSpec};

const DDL: ParamSpec = ParamSpec::required_list(
    "ddl",
    "the CREATE TABLE / CREATE INDEX statements, with {ns} in every name",
);
const TABLE: ParamSpec =
    ParamSpec::required_text("table", "the table the check uses, e.g. \"{ns}_counter\"");

pub const NATIVE_CHECKS: FamilyChecks = FamilyChecks {
    family: "spanner",
    checks: &[
        CheckSpec {
            name: "strong_read_after_commit",
            summary: "a strong read right after a commit sees it",
            params: &[
                TABLE,
                ParamSpec::count("writes", 20, 1, 10_000, "commits, each read back"),
                DDL,
            ],
            cite: "https://cloud.google.com/spanner/docs/timestamp-bounds",
        },
        CheckSpec {
            name: "stale_reads",
            summary: "exact-staleness and bounded-staleness reads see the data as of their bound",
            params: &[
                TABLE,
                ParamSpec::count("gap_ms", 1_500, 1, 60_000, "time between the two versions"),
                ParamSpec::count(
                    "max_staleness_s",
                    10,
                    1,
                    3_600,
                    "bound of the bounded-staleness read",
                ),
                DDL,
            ],
            cite: "https://cloud.google.com/spanner/docs/timestamp-bounds",
        },
        CheckSpec {
            name: "rmw_counter",
            summary: "concurrent read-modify-write transactions lose no increment",
            params: &[
                TABLE,
                ParamSpec::count("clients", 8, 1, 256, "concurrent clients"),
                ParamSpec::count("increments", 25, 1, 100_000, "increments per client"),
                DDL,
            ],
            cite: "https://cloud.google.com/spanner/docs/transactions",
        },
        CheckSpec {
            name: "commit_timestamps",
            summary: "commit timestamps increase with real-time order (external consistency)",
            params: &[
                TABLE,
                ParamSpec::count("clients", 4, 1, 64, "concurrent clients"),
                ParamSpec::count("txns", 20, 1, 2_000, "transactions per client"),
                DDL,
            ],
            cite: "https://cloud.google.com/spanner/docs/true-time-external-consistency",
        },
        CheckSpec {
            name: "interleave_cascade",
            summary: "deleting an interleaved parent deletes its children and their index entries",
            params: &[
                ParamSpec::required_text("parent", "the parent table, e.g. \"{ns}_parent\""),
                ParamSpec::required_text("child", "the interleaved child table"),
                ParamSpec::required_text("index", "the index on the child table"),
                ParamSpec::count("children", 5, 1, 1_000, "children per parent"),
                DDL,
            ],
            cite: "https://cloud.google.com/spanner/docs/schema-and-data-model",
        },
        CheckSpec {
            name: "index_vs_scan",
            summary: "a query through a secondary index returns what a base-table scan returns",
            params: &[
                TABLE,
                ParamSpec::required_text("index", "the secondary index, e.g. \"{ns}_by_cat\""),
                ParamSpec::count("rows", 200, 1, 10_000, "rows written"),
                DDL,
            ],
            cite: "https://cloud.google.com/spanner/docs/secondary-indexes",
        },
    ],
};

/// Which check a table name is; `None` only for a name the table does not list (the
/// `every_listed_check_dispatches_once` test keeps the two in step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    StrongReadAfterCommit,
    StaleReads,
    RmwCounter,
    CommitTimestamps,
    InterleaveCascade,
    IndexVsScan,
}

pub(crate) fn which(name: &str) -> Option<Which> {
    Some(match name {
        "strong_read_after_commit" => Which::StrongReadAfterCommit,
        "stale_reads" => Which::StaleReads,
        "rmw_counter" => Which::RmwCounter,
        "commit_timestamps" => Which::CommitTimestamps,
        "interleave_cascade" => Which::InterleaveCascade,
        "index_vs_scan" => Which::IndexVsScan,
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
            Ok(6),
            "a Which variant is not in the table"
        );
        for spec in NATIVE_CHECKS.checks {
            assert!(
                spec.param("ddl").is_some(),
                "{} creates its schema",
                spec.name
            );
        }
    }
}
