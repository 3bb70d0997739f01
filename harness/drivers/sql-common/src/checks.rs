//! The native checks every SQL driver shares (`native = "sql.<check>"`), declared once:
//! `.slt` files through the sqllogictest runner, and replica lag as clients see it. Each
//! SQL driver lists the ones it runs in its own table (the `postgres` and `mysql` families
//! reuse these specs), so a parameter's default and range are written only here.

use assay_core::native::{CheckSpec, FamilyChecks, ParamSpec};

/// A sqllogictest file, beside the scenario.
pub const SLT: CheckSpec = CheckSpec {
    name: "slt",
    summary: "every record of a sqllogictest (.slt) file gives the expected result",
    params: &[ParamSpec::required_path(
        "file",
        "the .slt file, relative to the scenario file",
    )],
    cite: "https://sqlite.org/sqllogictest/doc/trunk/about.wiki",
};

/// Markers written on the primary, each polled for on the replica.
pub const REPLICA_LAG: CheckSpec = CheckSpec {
    name: "replica_lag",
    summary: "how long a committed write takes to show on the replica",
    params: &[
        ParamSpec::count("samples", 200, 1, 100_000, "markers written on the primary"),
        ParamSpec::count(
            "max_wait_ms",
            5_000,
            1,
            3_600_000,
            "longest wait for one marker on the replica",
        ),
    ],
    cite: "https://www.postgresql.org/docs/current/warm-standby.html#STREAMING-REPLICATION",
};

/// The shared `sql` family: what any SQL target may be asked to run.
pub const SQL_CHECKS: FamilyChecks = FamilyChecks {
    family: "sql",
    checks: &[SLT, REPLICA_LAG],
};

/// Which shared check a table name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlCheck {
    Slt,
    ReplicaLag,
}

/// The shared check called `name`; `None` for a name no SQL table lists.
pub fn sql_check(name: &str) -> Option<SqlCheck> {
    match name {
        "slt" => Some(SqlCheck::Slt),
        "replica_lag" => Some(SqlCheck::ReplicaLag),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shared_check_dispatches_once() {
        let found: Vec<_> = SQL_CHECKS
            .checks
            .iter()
            .map(|c| sql_check(c.name).unwrap_or_else(|| panic!("`{}` has no code", c.name)))
            .collect();
        assert_eq!(found, vec![SqlCheck::Slt, SqlCheck::ReplicaLag]);
    }
}
