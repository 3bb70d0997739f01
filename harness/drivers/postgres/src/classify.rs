//! Maps sqlx / PostgreSQL errors onto the portable `ErrorClass`, and connect-time errors onto
//! `DriverError`.
//!
//! The split that matters for checkers: an error raised while *getting* a connection means
//! the op was never sent (`Unavailable`, a definite failure); the same I/O error while the
//! op runs means it may have been applied (`ConnectionLost`, indeterminate).

use assay_core::{DriverError, ErrorClass, OpResult};
use assay_sql_common::classify as common;
pub(crate) use assay_sql_common::classify::{one_line, Phase};
use std::time::Duration;

/// The portable class of an error and a one-line message for the history.
pub(crate) fn classify(err: &sqlx::Error, phase: Phase, addr: &str) -> (ErrorClass, String) {
    common::classify(err, phase, addr, |db| {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        (
            classify_sqlstate(&code),
            format!("SQLSTATE {code}: {}", db.message()),
        )
    })
}

/// PostgreSQL error codes (Appendix A of the PostgreSQL manual) → portable class.
pub(crate) fn classify_sqlstate(code: &str) -> ErrorClass {
    match code {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => ErrorClass::Aborted,
        // statement_completion_unknown: the server itself cannot say whether it applied.
        "40003" => ErrorClass::ConnectionLost,
        // unique_violation: the only constraint the portable ops can trip.
        "23505" => ErrorClass::ConditionFailed,
        // query_canceled: raised by `statement_timeout`, which the driver sets to the op timeout.
        "57014" => ErrorClass::Timeout,
        // admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped: the server ended
        // the session, possibly after the op's commit.
        "57P01" | "57P02" | "57P03" | "57P04" => ErrorClass::ConnectionLost,
        // too_many_connections: load-shedding by the server.
        "53300" => ErrorClass::Throttled,
        _ => match code.get(..2) {
            // connection_exception
            Some("08") => ErrorClass::ConnectionLost,
            // transaction_rollback (other than the codes above)
            Some("40") => ErrorClass::Aborted,
            // data_exception (e.g. counter overflow, NUL in text), syntax or access rule
            // violation (e.g. a table that was not set up), invalid authorization
            Some("22") | Some("42") | Some("28") => ErrorClass::InvalidRequest,
            _ => ErrorClass::Other,
        },
    }
}

/// The `OpResult` for an error.
pub(crate) fn error_result(err: &sqlx::Error, phase: Phase, addr: &str) -> OpResult {
    let (class, message) = classify(err, phase, addr);
    OpResult::error(class, message)
}

/// The error for a connect that failed while building the driver.
pub(crate) fn connect_error(err: &sqlx::Error, role: &str, addr: &str) -> DriverError {
    if let sqlx::Error::Database(db) = err {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let message = one_line(db.message());
        return match code.as_str() {
            "28P01" | "28000" => DriverError::config(format!(
                "postgres {role} at {addr} rejected the login (SQLSTATE {code}: {message}); fix the user and password in the target's url"
            )),
            "3D000" => DriverError::config(format!(
                "postgres {role} at {addr}: {message}; create the database or fix the database name in the target's url"
            )),
            "57P03" | "53300" => DriverError::unavailable(format!(
                "postgres {role} at {addr} is not accepting connections (SQLSTATE {code}: {message}); wait for it to finish starting or free connections"
            )),
            _ => DriverError::backend(format!(
                "postgres {role} at {addr} refused the connection (SQLSTATE {code}: {message})"
            )),
        };
    }
    common::connect_failure(err, &format!("postgres {role}"), addr, "sslmode")
}

pub(crate) fn connect_timeout_error(role: &str, addr: &str, after: Duration) -> DriverError {
    DriverError::unavailable(format!(
        "postgres {role} at {addr} did not answer within {after:?}; is the server running and listening there?"
    ))
}

/// Whether the connection that produced this error must not go back to the pool.
pub(crate) fn breaks_connection(err: &sqlx::Error) -> bool {
    common::breaks_connection(err, |db| classify_sqlstate(&db.code().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::Outcome;

    #[test]
    fn sqlstates_map_to_the_portable_classes() {
        assert_eq!(classify_sqlstate("40001"), ErrorClass::Aborted);
        assert_eq!(classify_sqlstate("40P01"), ErrorClass::Aborted);
        assert_eq!(classify_sqlstate("23505"), ErrorClass::ConditionFailed);
        assert_eq!(classify_sqlstate("57014"), ErrorClass::Timeout);
        assert_eq!(classify_sqlstate("57P01"), ErrorClass::ConnectionLost);
        assert_eq!(classify_sqlstate("08006"), ErrorClass::ConnectionLost);
        assert_eq!(classify_sqlstate("42P01"), ErrorClass::InvalidRequest);
        assert_eq!(classify_sqlstate("22003"), ErrorClass::InvalidRequest);
        assert_eq!(classify_sqlstate("53300"), ErrorClass::Throttled);
        assert_eq!(classify_sqlstate("XX000"), ErrorClass::Other);
        assert_eq!(classify_sqlstate(""), ErrorClass::Other);
    }

    #[test]
    fn io_errors_are_unavailable_before_sending_and_indeterminate_after() {
        let refused = || {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))
        };
        let (class, msg) = classify(&refused(), Phase::Acquire, "127.0.0.1:1");
        assert_eq!(class, ErrorClass::Unavailable);
        assert!(msg.contains("127.0.0.1:1"), "{msg}");
        let (class, _) = classify(&refused(), Phase::Running, "127.0.0.1:1");
        assert_eq!(class, ErrorClass::ConnectionLost);
        assert_eq!(class.outcome(), Outcome::Indeterminate);
        let (class, _) = classify(&sqlx::Error::PoolTimedOut, Phase::Acquire, "h:1");
        assert_eq!(class, ErrorClass::Unavailable);
        assert_eq!(class.outcome(), Outcome::Fail);
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\n  DETAIL: b\tc"), "a DETAIL: b c");
    }

    #[test]
    fn refused_connect_names_the_address() {
        let err = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        let e = connect_error(&err, "primary", "127.0.0.1:9");
        assert_eq!(e.kind, assay_core::DriverErrorKind::Unavailable);
        assert!(e.message.contains("127.0.0.1:9"), "{}", e.message);
        assert!(!e.message.contains('\n'));
    }
}
