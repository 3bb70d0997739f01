//! Maps sqlx / MySQL errors onto the portable `ErrorClass`, and connect-time errors onto
//! `DriverError`.
//!
//! The split that matters for checkers: an error raised while *getting* a connection means
//! the op was never sent (`Unavailable`, a definite failure); the same I/O error while the
//! op runs means it may have been applied (`ConnectionLost`, indeterminate).

use assay_core::{DriverError, ErrorClass, OpResult};
use assay_sql_common::classify as common;
pub(crate) use assay_sql_common::classify::{one_line, Phase};
use sqlx::error::DatabaseError;
use sqlx::mysql::MySqlDatabaseError;
use std::time::Duration;

/// The server's error number (e.g. 1062) of a server error.
fn number_of(db: &dyn DatabaseError) -> u16 {
    db.try_downcast_ref::<MySqlDatabaseError>()
        .map_or(0, MySqlDatabaseError::number)
}

/// The server's error number (e.g. 1062), when the error came from the server.
pub(crate) fn error_number(err: &sqlx::Error) -> Option<u16> {
    match err {
        sqlx::Error::Database(db) => Some(number_of(db.as_ref())),
        _ => None,
    }
}

/// The portable class of an error and a one-line message for the history.
pub(crate) fn classify(err: &sqlx::Error, phase: Phase, addr: &str) -> (ErrorClass, String) {
    common::classify(err, phase, addr, |db| {
        let number = number_of(db);
        (
            classify_error_number(number),
            format!("MySQL error {number}: {}", db.message()),
        )
    })
}

/// MySQL / MariaDB server error numbers (the server error reference) → portable class.
pub(crate) fn classify_error_number(number: u16) -> ErrorClass {
    match number {
        // ER_DUP_ENTRY: the only constraint the portable ops can trip.
        1062 => ErrorClass::ConditionFailed,
        // ER_LOCK_DEADLOCK (the transaction was rolled back), ER_LOCK_WAIT_TIMEOUT (bounded by
        // innodb_lock_wait_timeout), ER_CHECKREAD (MariaDB snapshot isolation: record changed
        // since it was read): a conflict, definitely not applied, worth retrying.
        1213 | 1205 | 1020 => ErrorClass::Aborted,
        // ER_QUERY_TIMEOUT (MySQL max_execution_time), ER_STATEMENT_TIMEOUT (MariaDB
        // max_statement_time), ER_QUERY_INTERRUPTED (KILL QUERY).
        3024 | 1969 | 1317 => ErrorClass::Timeout,
        // ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS, ER_TOO_MANY_CONCURRENT_TRXS:
        // load-shedding by the server.
        1040 | 1203 | 1637 => ErrorClass::Throttled,
        // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, ER_NEW_ABORTING_CONNECTION, client-side
        // CR_SERVER_GONE_ERROR / CR_SERVER_LOST: the session ended, possibly after the commit.
        1053 | 1927 | 1184 | 2006 | 2013 => ErrorClass::ConnectionLost,
        // Access denied, unknown database / table / column, syntax, data too long, out of
        // range, bad string or JSON value, a bad isolation level name.
        1044 | 1045 | 1049 | 1054 | 1064 | 1146 | 1264 | 1292 | 1366 | 1406 | 1690 | 3140
        | 1231 | 1232 => ErrorClass::InvalidRequest,
        _ => ErrorClass::Other,
    }
}

/// The `OpResult` for an error.
pub(crate) fn error_result(err: &sqlx::Error, phase: Phase, addr: &str) -> OpResult {
    let (class, message) = classify(err, phase, addr);
    OpResult::error(class, message)
}

/// The error for a connect that failed while building the driver.
pub(crate) fn connect_error(err: &sqlx::Error, addr: &str) -> DriverError {
    if let sqlx::Error::Database(db) = err {
        let number = error_number(err).unwrap_or(0);
        let message = one_line(db.message());
        return match number {
            1044 | 1045 | 1698 => DriverError::config(format!(
                "mysql at {addr} rejected the login (error {number}: {message}); fix the user and password in the target's url"
            )),
            1049 => DriverError::config(format!(
                "mysql at {addr}: {message}; create the database or fix the database name in the target's url"
            )),
            1040 | 1203 => DriverError::unavailable(format!(
                "mysql at {addr} is not accepting connections (error {number}: {message}); free connections or raise max_connections"
            )),
            _ => DriverError::backend(format!(
                "mysql at {addr} refused the connection (error {number}: {message})"
            )),
        };
    }
    common::connect_failure(err, "mysql", addr, "ssl-mode")
}

pub(crate) fn connect_timeout_error(addr: &str, after: Duration) -> DriverError {
    DriverError::unavailable(format!(
        "mysql at {addr} did not answer within {after:?}; is the server running and listening there?"
    ))
}

/// Whether the connection that produced this error must not go back to the pool.
pub(crate) fn breaks_connection(err: &sqlx::Error) -> bool {
    common::breaks_connection(err, |db| classify_error_number(number_of(db)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::Outcome;

    #[test]
    fn error_numbers_map_to_the_portable_classes() {
        assert_eq!(classify_error_number(1062), ErrorClass::ConditionFailed);
        assert_eq!(classify_error_number(1213), ErrorClass::Aborted);
        assert_eq!(classify_error_number(1205), ErrorClass::Aborted);
        assert_eq!(classify_error_number(1969), ErrorClass::Timeout);
        assert_eq!(classify_error_number(3024), ErrorClass::Timeout);
        assert_eq!(classify_error_number(1927), ErrorClass::ConnectionLost);
        assert_eq!(classify_error_number(1040), ErrorClass::Throttled);
        assert_eq!(classify_error_number(1146), ErrorClass::InvalidRequest);
        assert_eq!(classify_error_number(1064), ErrorClass::InvalidRequest);
        assert_eq!(classify_error_number(9999), ErrorClass::Other);
        assert_eq!(classify_error_number(0), ErrorClass::Other);
        assert_eq!(
            classify_error_number(1969).outcome(),
            Outcome::Indeterminate
        );
        assert_eq!(classify_error_number(1213).outcome(), Outcome::Fail);
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
        assert!(breaks_connection(&refused()));
        let (class, _) = classify(&sqlx::Error::PoolTimedOut, Phase::Acquire, "h:1");
        assert_eq!(class, ErrorClass::Unavailable);
        assert!(!breaks_connection(&sqlx::Error::PoolTimedOut));
    }

    #[test]
    fn refused_connect_names_the_address_on_one_line() {
        let err = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection\nrefused",
        ));
        let e = connect_error(&err, "127.0.0.1:9");
        assert_eq!(e.kind, assay_core::DriverErrorKind::Unavailable);
        assert!(e.message.contains("127.0.0.1:9"), "{}", e.message);
        assert!(!e.message.contains('\n'));
    }
}
