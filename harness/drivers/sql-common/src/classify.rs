//! The part of error classification every SQL driver shares: everything sqlx reports that is
//! not a server error, where the op was when it happened, and which errors break the
//! connection. Each driver maps its own server errors (SQLSTATE, MySQL error numbers).
//!
//! The split that matters for checkers: an error raised while *getting* a connection means
//! the op was never sent (`Unavailable`, a definite failure); the same I/O error while the
//! op runs means it may have been applied (`ConnectionLost`, indeterminate).

use assay_core::{DriverError, ErrorClass};
use sqlx::error::DatabaseError;

/// Where an op was when the error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Getting a connection from the pool (which may open one): nothing was sent yet.
    Acquire,
    /// The op's statements were being sent or answered.
    Running,
}

/// The portable class of an error and a one-line message for the history. `server` gives
/// the class and message of an error the server answered (the dialect's part); a
/// session-ending server error while connecting still means nothing was sent.
pub fn classify(
    err: &sqlx::Error,
    phase: Phase,
    addr: &str,
    server: impl FnOnce(&dyn DatabaseError) -> (ErrorClass, String),
) -> (ErrorClass, String) {
    match err {
        sqlx::Error::Database(db) => {
            let (class, message) = server(db.as_ref());
            let class = match class {
                ErrorClass::ConnectionLost if phase == Phase::Acquire => ErrorClass::Unavailable,
                class => class,
            };
            (class, one_line(&message))
        }
        sqlx::Error::PoolTimedOut => (
            ErrorClass::Unavailable,
            format!("no connection to {addr} became available in time: the server refused, did not answer, or every pooled connection was busy"),
        ),
        sqlx::Error::PoolClosed => (
            ErrorClass::Unavailable,
            "the driver's connection pool is closed".to_string(),
        ),
        sqlx::Error::Tls(e) => (
            ErrorClass::Unavailable,
            one_line(&format!("TLS with {addr} failed: {e}")),
        ),
        // An I/O or protocol error, or a crashed connection worker, leaves the stream in an
        // unknown state, so whatever was in flight may have been applied.
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
            let detail = match err {
                sqlx::Error::Io(io) => io.to_string(),
                other => other.to_string(),
            };
            match phase {
                Phase::Acquire => (
                    ErrorClass::Unavailable,
                    one_line(&format!("could not connect to {addr}: {detail}")),
                ),
                Phase::Running => (
                    ErrorClass::ConnectionLost,
                    one_line(&format!("connection to {addr} broke mid-request: {detail}")),
                ),
            }
        }
        sqlx::Error::Configuration(_) => (ErrorClass::InvalidRequest, one_line(&err.to_string())),
        other => (ErrorClass::Other, one_line(&other.to_string())),
    }
}

/// Whether the connection that produced this error must not go back to the pool: the
/// stream broke or may still carry an answer nobody waits for. An error the server answered
/// in order leaves it reusable unless `server_class` says it ended the session.
pub fn breaks_connection(
    err: &sqlx::Error,
    server_class: impl FnOnce(&dyn DatabaseError) -> ErrorClass,
) -> bool {
    match err {
        sqlx::Error::Database(db) => server_class(db.as_ref()) == ErrorClass::ConnectionLost,
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// The error for a connect that failed without a server error: `who` names the server
/// (`postgres primary`, `mysql`), `tls_setting` the URL parameter that controls TLS.
pub fn connect_failure(err: &sqlx::Error, who: &str, addr: &str, tls_setting: &str) -> DriverError {
    match err {
        sqlx::Error::Configuration(e) => DriverError::config(one_line(&format!(
            "{who} url is not usable: {e}; fix the target's url"
        ))),
        sqlx::Error::Tls(e) => DriverError::config(one_line(&format!(
            "TLS with {who} at {addr} failed: {e}; check {tls_setting} and certificates in the target's url"
        ))),
        other => DriverError::unavailable(one_line(&format!(
            "{who} at {addr} is unreachable: {other}; is the server running and listening there?"
        ))),
    }
}

/// Server messages may span lines (DETAIL, HINT); history lines must not.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ))
    }

    fn no_server(_: &dyn DatabaseError) -> (ErrorClass, String) {
        unreachable!("not a server error")
    }

    #[test]
    fn io_errors_are_unavailable_before_sending_and_indeterminate_after() {
        let (class, msg) = classify(&refused(), Phase::Acquire, "127.0.0.1:1", no_server);
        assert_eq!(class, ErrorClass::Unavailable);
        assert!(msg.contains("could not connect to 127.0.0.1:1"), "{msg}");
        let (class, msg) = classify(&refused(), Phase::Running, "127.0.0.1:1", no_server);
        assert_eq!(class, ErrorClass::ConnectionLost);
        assert!(msg.contains("broke mid-request"), "{msg}");
        assert!(breaks_connection(&refused(), |_| ErrorClass::Other));
        assert!(!breaks_connection(&sqlx::Error::PoolTimedOut, |_| {
            ErrorClass::Other
        }));
    }

    #[test]
    fn messages_are_one_line() {
        assert_eq!(one_line("a\n  DETAIL:\tb "), "a DETAIL: b");
    }
}
