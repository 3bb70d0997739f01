//! Maps Cosmos SDK errors and responses onto the portable outcome model: `ErrorClass`,
//! `Outcome` and the `OpMeta` facts (request units, retries).

use assay_core::{ErrorClass, OpError, OpMeta, OpResult, OpValue, Outcome};
use azure_data_cosmos::diagnostics::DiagnosticsContext;
use azure_data_cosmos::CosmosError;
use std::time::Duration;

/// Whether the failed request could have changed data. It decides whether an ambiguous
/// failure (5xx, a connection lost after sending) is `Indeterminate` or a plain `Fail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    Read,
    Write,
}

/// A classified failure, before it becomes an `OpResult`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Failure {
    pub class: ErrorClass,
    pub outcome: Outcome,
    pub message: String,
}

impl Failure {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            outcome: class.outcome(),
            message: message.into(),
        }
    }

    pub fn timeout(limit: Duration) -> Failure {
        Failure::new(
            ErrorClass::Timeout,
            format!("no answer within the op timeout of {limit:?}; the op may have been applied"),
        )
    }

    pub fn into_result(self, meta: OpMeta) -> OpResult {
        OpResult {
            outcome: self.outcome,
            value: OpValue::None,
            error: Some(OpError {
                class: self.class,
                message: self.message,
            }),
            meta,
        }
    }
}

/// HTTP status of an SDK error (synthetic client/transport statuses included).
pub(crate) fn status_of(err: &CosmosError) -> u16 {
    u16::from(err.status().status_code())
}

/// `@vercel/cosmosdb-server` answers a point read of a missing item with `500` and the
/// JavaScript `TypeError` its read handler throws when it dereferences the missing item
/// (`Cannot read properties of undefined (reading '<partition key field>')`). A Cosmos
/// gateway never sends that text, and the handler raises it only on that path (a missing
/// collection is a 404 earlier on), so this exact shape safely means "not found".
pub(crate) fn is_local_server_missing_item(err: &CosmosError, partition_field: &str) -> bool {
    status_of(err) == 500
        && err.to_string().contains(&format!(
            "Cannot read properties of undefined (reading '{partition_field}')"
        ))
}

/// Classifies an error of one SDK call.
pub(crate) fn classify(err: &CosmosError, effect: Effect) -> Failure {
    let status = err.status();
    let code = status_of(err);
    let sub = status.sub_status().map(u16::from).unwrap_or(0);
    let text = err.to_string();
    let class = match code {
        409 | 412 => ErrorClass::ConditionFailed,
        429 => ErrorClass::Throttled,
        // 449 RetryWith: a concurrent update of the same item; not applied.
        449 => ErrorClass::Aborted,
        408 => ErrorClass::Timeout,
        400 | 404 | 405 | 413 | 414 | 415 | 422 => ErrorClass::InvalidRequest,
        503 if is_transport_failure(sub) => {
            if nothing_was_sent(err.diagnostics().as_deref()) {
                ErrorClass::Unavailable
            } else {
                ErrorClass::ConnectionLost
            }
        }
        503 => ErrorClass::Unavailable,
        _ => ErrorClass::Other,
    };
    let mut failure = Failure::new(class, format!("cosmos {text}"));
    // A server-side 5xx answered after the request reached the service does not say
    // whether a write was applied (Cosmos documents 503/500 as possibly-applied for
    // writes), so those writes are indeterminate even though the class alone implies
    // `fail`. Transport failures before sending stay `fail`/`unavailable`.
    if effect == Effect::Write
        && code >= 500
        && !(is_transport_failure(sub) && nothing_was_sent(err.diagnostics().as_deref()))
    {
        failure.outcome = Outcome::Indeterminate;
        failure
            .message
            .push_str(" (the write may have been applied)");
    }
    failure
}

/// Sub-statuses the SDK attaches to 503s it generates itself for transport failures.
fn is_transport_failure(sub: u16) -> bool {
    matches!(sub, 20003 | 20010 | 20011 | 20012 | 20014 | 20015)
}

/// True only when every attempt is known not to have reached the wire (connection refused,
/// DNS failure): then the op definitely did not happen.
fn nothing_was_sent(diagnostics: Option<&DiagnosticsContext>) -> bool {
    let Some(diagnostics) = diagnostics else {
        return false;
    };
    let requests = diagnostics.requests();
    !requests.is_empty()
        && requests
            .iter()
            .all(|r| r.request_sent().definitely_not_sent())
}

/// Request units and SDK-level retries accumulated over the SDK calls of one op.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    request_units: Option<f64>,
    retries: u32,
}

impl Tally {
    pub fn add(&mut self, diagnostics: &DiagnosticsContext) {
        let charge = f64::from(diagnostics.total_request_charge());
        if charge > 0.0 || self.request_units.is_some() {
            *self.request_units.get_or_insert(0.0) += charge;
        }
        let attempts = u32::try_from(diagnostics.request_count()).unwrap_or(u32::MAX);
        self.retries = self.retries.saturating_add(attempts.saturating_sub(1));
    }

    pub fn add_error(&mut self, err: &CosmosError) {
        if let Some(diagnostics) = err.diagnostics() {
            self.add(&diagnostics);
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        if let Some(ru) = other.request_units {
            *self.request_units.get_or_insert(0.0) += ru;
        }
        self.retries = self.retries.saturating_add(other.retries);
    }

    /// A retry the driver itself made (an optimistic-concurrency conflict).
    pub fn add_driver_retry(&mut self) {
        self.retries = self.retries.saturating_add(1);
    }

    pub fn meta(&self) -> OpMeta {
        OpMeta {
            request_units: self.request_units,
            retries: self.retries,
            commit_ts_us: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_data_cosmos::CosmosStatus;

    fn error(code: u16, sub: Option<u16>, message: &'static str) -> CosmosError {
        let mut status = CosmosStatus::new(code.into());
        if let Some(sub) = sub {
            status = status.with_sub_status(sub);
        }
        CosmosError::builder()
            .with_status(status)
            .with_message(message)
            .build()
    }

    #[test]
    fn definite_rejections_fail() {
        for (code, class) in [
            (409, ErrorClass::ConditionFailed),
            (412, ErrorClass::ConditionFailed),
            (429, ErrorClass::Throttled),
            (400, ErrorClass::InvalidRequest),
        ] {
            let f = classify(&error(code, None, "x"), Effect::Write);
            assert_eq!((f.class, f.outcome), (class, Outcome::Fail), "{code}");
        }
    }

    #[test]
    fn timeouts_are_indeterminate() {
        let f = classify(&error(408, Some(20008), "timed out"), Effect::Read);
        assert_eq!(
            (f.class, f.outcome),
            (ErrorClass::Timeout, Outcome::Indeterminate)
        );
    }

    #[test]
    fn server_errors_make_writes_indeterminate_but_not_reads() {
        let w = classify(&error(500, None, "boom"), Effect::Write);
        assert_eq!(
            (w.class, w.outcome),
            (ErrorClass::Other, Outcome::Indeterminate)
        );
        let r = classify(&error(500, None, "boom"), Effect::Read);
        assert_eq!((r.class, r.outcome), (ErrorClass::Other, Outcome::Fail));
        let u = classify(&error(503, None, "busy"), Effect::Write);
        assert_eq!(
            (u.class, u.outcome),
            (ErrorClass::Unavailable, Outcome::Indeterminate)
        );
    }

    #[test]
    fn transport_failure_without_diagnostics_is_treated_as_possibly_sent() {
        let f = classify(&error(503, Some(20011), "io"), Effect::Write);
        assert_eq!(
            (f.class, f.outcome),
            (ErrorClass::ConnectionLost, Outcome::Indeterminate)
        );
    }

    #[test]
    fn local_server_missing_item_shape_is_recognised_exactly() {
        let missing = error(
            500,
            None,
            "Cannot read properties of undefined (reading 'k')",
        );
        assert!(is_local_server_missing_item(&missing, "k"));
        assert!(!is_local_server_missing_item(&missing, "other"));
        assert!(!is_local_server_missing_item(
            &error(500, None, "boom"),
            "k"
        ));
    }
}
