//! Maps gRPC statuses and `gcloud-spanner` client errors to the core's `ErrorClass`,
//! keeping what is known about whether a write may have been applied.

use assay_core::ErrorClass;
use gcloud_gax::grpc::{Code, Status};
use gcloud_spanner::client::Error as ClientError;
use gcloud_spanner::session::SessionError;

/// How far a request got; decides whether an ambiguous error can have applied a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A single-use read or query: nothing to apply, timeouts stay `Timeout`.
    Read,
    /// A read-write transaction before its commit was sent: whatever went wrong, nothing
    /// was applied, so transport failures are `Unavailable` (a definite `fail`).
    BeforeCommit,
    /// The commit was sent: a lost answer may hide a successful commit.
    Commit,
}

/// The class of a gRPC failure at `phase`.
pub(crate) fn class_of(status: &Status, phase: Phase) -> ErrorClass {
    match status.code() {
        // Only the `insert` mutation of insert-if-absent produces it.
        Code::AlreadyExists => ErrorClass::ConditionFailed,
        // Spanner guarantees an aborted transaction modified nothing, even at commit.
        Code::Aborted => ErrorClass::Aborted,
        Code::ResourceExhausted => ErrorClass::Throttled,
        Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition | Code::OutOfRange => {
            ErrorClass::InvalidRequest
        }
        Code::Unimplemented => ErrorClass::Unsupported,
        Code::PermissionDenied | Code::Unauthenticated => ErrorClass::Other,
        Code::Unavailable if never_sent(status) => ErrorClass::Unavailable,
        Code::DeadlineExceeded | Code::Cancelled => match phase {
            Phase::Read | Phase::Commit => ErrorClass::Timeout,
            Phase::BeforeCommit => ErrorClass::Unavailable,
        },
        Code::Unavailable | Code::Unknown | Code::Internal | Code::DataLoss => match phase {
            Phase::Read => transport_class(status),
            Phase::BeforeCommit => ErrorClass::Unavailable,
            Phase::Commit => ErrorClass::ConnectionLost,
        },
        Code::Ok => ErrorClass::Other,
    }
}

/// A read that failed in transport: refused connections are `Unavailable`, the rest
/// lost the connection mid-request.
fn transport_class(status: &Status) -> ErrorClass {
    match status.code() {
        Code::Unavailable => ErrorClass::Unavailable,
        Code::Internal if !looks_like_transport(status) => ErrorClass::Other,
        _ => ErrorClass::ConnectionLost,
    }
}

/// tonic reports a failed (re)connect as UNAVAILABLE before any byte of the request
/// left the client; that request cannot have been applied.
fn never_sent(status: &Status) -> bool {
    let m = status.message().to_ascii_lowercase();
    m.contains("tcp connect error")
        || m.contains("connection refused")
        || m.contains("error trying to connect")
        || m.contains("client error (connect)")
}

fn looks_like_transport(status: &Status) -> bool {
    let m = status.message().to_ascii_lowercase();
    [
        "rst_stream",
        "http/2",
        "h2 protocol",
        "connection",
        "broken pipe",
        "eos",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// `CODE: message` on one line.
pub(crate) fn describe(status: &Status) -> String {
    one_line(&format!("{:?}: {}", status.code(), status.message()))
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its sources (`transport error: tcp connect error: Connection refused`):
/// client errors often put the useful part in a source.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    // Bounded: source chains are short, but a cyclic one must not loop forever.
    for _ in 0..8 {
        let Some(s) = source else { break };
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    one_line(&out)
}

/// The class and a one-line description of a client error.
pub(crate) fn client_error(err: &ClientError, phase: Phase) -> (ErrorClass, String) {
    match err {
        ClientError::GRPC(status) => (class_of(status, phase), describe(status)),
        ClientError::InvalidSession(e) => session_error(e, phase),
        ClientError::ParseError(e) => (
            ErrorClass::Other,
            one_line(&format!("cannot decode a row: {e}")),
        ),
        ClientError::Connection(e) => (
            ErrorClass::Unavailable,
            format!("cannot connect: {}", chain(e)),
        ),
        ClientError::InvalidConfig(e) => (
            ErrorClass::InvalidRequest,
            one_line(&format!("invalid client configuration: {e}")),
        ),
    }
}

pub(crate) fn session_error(err: &SessionError, phase: Phase) -> (ErrorClass, String) {
    match err {
        SessionError::GRPC(status) => (class_of(status, phase), describe(status)),
        // No request was sent without a session.
        SessionError::SessionGetTimeout => (
            ErrorClass::Unavailable,
            "no Spanner session became free in time (pool exhausted by concurrent ops, or the \
             backend stopped answering session creation)"
                .to_string(),
        ),
        SessionError::FailedToCreateSession => (
            ErrorClass::Unavailable,
            "the client could not create a Spanner session".to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::Outcome;

    #[test]
    fn already_exists_is_a_failed_condition() {
        let s = Status::new(Code::AlreadyExists, "Row [k1] in table r_kv already exists");
        assert_eq!(class_of(&s, Phase::Commit), ErrorClass::ConditionFailed);
    }

    #[test]
    fn ambiguous_commit_failures_are_indeterminate() {
        for code in [Code::Unavailable, Code::Unknown, Code::DeadlineExceeded] {
            let s = Status::new(code, "connection reset by peer");
            assert_eq!(
                class_of(&s, Phase::Commit).outcome(),
                Outcome::Indeterminate,
                "{code:?}"
            );
        }
    }

    #[test]
    fn nothing_before_the_commit_can_have_applied() {
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::Internal] {
            let s = Status::new(code, "stream closed");
            assert_eq!(class_of(&s, Phase::BeforeCommit), ErrorClass::Unavailable);
        }
    }

    #[test]
    fn a_refused_connection_is_unavailable_even_at_commit() {
        let s = Status::new(
            Code::Unavailable,
            "error trying to connect: tcp connect error: Connection refused (os error 111)",
        );
        assert_eq!(class_of(&s, Phase::Commit), ErrorClass::Unavailable);
        assert_eq!(class_of(&s, Phase::Read), ErrorClass::Unavailable);
    }

    #[test]
    fn descriptions_are_one_line() {
        let s = Status::new(Code::NotFound, "Table not found:\n  r_kv");
        assert_eq!(describe(&s), "NotFound: Table not found: r_kv");
    }
}
