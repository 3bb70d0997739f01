//! Mapping DynamoDB and SDK failures onto Assay's `ErrorClass` and `Outcome`: which
//! failures are definite rejections (`fail`) and which may have been applied
//! (`indeterminate`).

use crate::attempts::{error_chain, never_sent, Attempts};
use assay_core::{ErrorClass, OpError, OpResult, OpValue, Outcome};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::CancellationReason;
use std::error::Error;

/// A classified failure, turned into an `OpResult` by `into_result`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Failure {
    pub class: ErrorClass,
    pub outcome: Outcome,
    pub message: String,
}

impl Failure {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Failure {
            class,
            outcome: class.outcome(),
            message: message.into(),
        }
    }

    /// A write whose final answer is a definite rejection is still indeterminate when an
    /// earlier attempt of the same call may have been applied (e.g. a transaction retried
    /// after a dropped connection, then refused because the backend went away).
    pub fn after_attempts(mut self, attempts: &Attempts, mutates: bool) -> Self {
        if mutates && self.outcome == Outcome::Fail {
            if let Some(reason) = &attempts.ambiguous {
                self.outcome = Outcome::Indeterminate;
                self.message = format!(
                    "{}; an earlier attempt may have been applied ({reason})",
                    self.message
                );
            }
        }
        self
    }

    pub fn into_result(self) -> OpResult {
        OpResult {
            outcome: self.outcome,
            value: OpValue::None,
            error: Some(OpError {
                class: self.class,
                message: self.message,
            }),
            meta: Default::default(),
        }
    }
}

/// Classifies an SDK error from the DynamoDB operation `what` (e.g. `UpdateItem`).
pub(crate) fn classify_sdk_error<E>(what: &str, err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let code = err.code().unwrap_or("UnknownError");
            let status = ctx.raw().status().as_u16();
            let detail = err.message().unwrap_or("no message");
            let (class, outcome) = class_for_code(code, status);
            Failure {
                class,
                outcome,
                message: format!("{what}: {code} (HTTP {status}): {detail}"),
            }
        }
        SdkError::TimeoutError(_) => Failure::new(
            ErrorClass::Timeout,
            format!("{what}: no answer within the op timeout"),
        ),
        SdkError::DispatchFailure(dispatch) => {
            let chain = dispatch
                .as_connector_error()
                .map(|c| error_chain(c))
                .unwrap_or_else(|| "dispatch failure".to_string());
            let class = match dispatch.as_connector_error() {
                Some(c) if never_sent(c) => ErrorClass::Unavailable,
                Some(c) if c.is_timeout() => ErrorClass::Timeout,
                Some(c) if c.is_user() => ErrorClass::InvalidRequest,
                // An I/O error or an unclassified one once a connection existed: the
                // request may have been sent and applied.
                _ => ErrorClass::ConnectionLost,
            };
            Failure::new(class, format!("{what}: {chain}"))
        }
        SdkError::ResponseError(_) => Failure::new(
            ErrorClass::ConnectionLost,
            format!(
                "{what}: the response could not be read: {}",
                error_chain(err)
            ),
        ),
        SdkError::ConstructionFailure(_) => Failure::new(
            ErrorClass::InvalidRequest,
            format!("{what}: request not built: {}", error_chain(err)),
        ),
        _ => Failure {
            class: ErrorClass::Other,
            outcome: Outcome::Indeterminate,
            message: format!("{what}: {}", error_chain(err)),
        },
    }
}

/// DynamoDB error codes (the `__type` suffix) to a class and outcome.
pub(crate) fn class_for_code(code: &str, status: u16) -> (ErrorClass, Outcome) {
    let class = match code {
        "ConditionalCheckFailedException" => ErrorClass::ConditionFailed,
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "LimitExceededException" => ErrorClass::Throttled,
        "TransactionConflictException" | "TransactionCanceledException" => ErrorClass::Aborted,
        // The same client token is still being processed: its outcome is not known yet.
        "TransactionInProgressException" => {
            return (ErrorClass::Other, Outcome::Indeterminate);
        }
        "UnknownOperationException" => ErrorClass::Unsupported,
        "ValidationException"
        | "ResourceNotFoundException"
        | "ResourceInUseException"
        | "SerializationException"
        | "IdempotentParameterMismatchException"
        | "ItemCollectionSizeLimitExceededException" => ErrorClass::InvalidRequest,
        // InternalServerError and friends: AWS documents that the request may have
        // succeeded.
        _ if status >= 500 => return (ErrorClass::Other, Outcome::Indeterminate),
        _ => ErrorClass::Other,
    };
    (class, class.outcome())
}

/// A cancelled transaction: the class comes from the per-item reasons (a failed condition
/// wins, then a conflict, then throttling), the message lists every item's reason.
pub(crate) fn cancelled_transaction(what: &str, reasons: &[CancellationReason]) -> Failure {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    let has = |wanted: &[&str]| codes.iter().any(|c| wanted.contains(c));
    let class = if has(&["ConditionalCheckFailed"]) {
        ErrorClass::ConditionFailed
    } else if has(&["TransactionConflict"]) {
        ErrorClass::Aborted
    } else if has(&[
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    ]) {
        ErrorClass::Throttled
    } else if has(&["ValidationError", "ItemCollectionSizeLimitExceeded"]) {
        ErrorClass::InvalidRequest
    } else {
        ErrorClass::Aborted
    };
    let items: Vec<String> = reasons
        .iter()
        .enumerate()
        .map(|(i, r)| match r.message() {
            Some(m) => format!("#{i} {} ({m})", r.code().unwrap_or("None")),
            None => format!("#{i} {}", r.code().unwrap_or("None")),
        })
        .collect();
    let detail = if items.is_empty() {
        "no cancellation reasons given".to_string()
    } else {
        items.join("; ")
    };
    Failure::new(class, format!("{what}: transaction cancelled: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_classes() {
        assert_eq!(
            class_for_code("ConditionalCheckFailedException", 400),
            (ErrorClass::ConditionFailed, Outcome::Fail)
        );
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
        ] {
            assert_eq!(class_for_code(code, 400).0, ErrorClass::Throttled, "{code}");
        }
        assert_eq!(
            class_for_code("TransactionConflictException", 400).0,
            ErrorClass::Aborted
        );
        assert_eq!(
            class_for_code("ResourceNotFoundException", 400),
            (ErrorClass::InvalidRequest, Outcome::Fail)
        );
        assert_eq!(
            class_for_code("UnknownOperationException", 400).0,
            ErrorClass::Unsupported
        );
        assert_eq!(
            class_for_code("InternalServerError", 500),
            (ErrorClass::Other, Outcome::Indeterminate)
        );
        assert_eq!(
            class_for_code("TransactionInProgressException", 400).1,
            Outcome::Indeterminate
        );
    }

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    #[test]
    fn cancellation_reasons_pick_the_class_and_name_every_item() {
        let f = cancelled_transaction(
            "TransactWriteItems",
            &[
                reason("None"),
                reason("TransactionConflict"),
                CancellationReason::builder()
                    .code("ConditionalCheckFailed")
                    .message("The conditional request failed")
                    .build(),
            ],
        );
        assert_eq!(f.class, ErrorClass::ConditionFailed);
        assert_eq!(f.outcome, Outcome::Fail);
        assert!(
            f.message.contains(
                "#0 None; #1 TransactionConflict; #2 ConditionalCheckFailed (The conditional request failed)"
            ),
            "{}",
            f.message
        );
        let f = cancelled_transaction("x", &[reason("None"), reason("TransactionConflict")]);
        assert_eq!(f.class, ErrorClass::Aborted);
        let f = cancelled_transaction("x", &[reason("ThrottlingError")]);
        assert_eq!(f.class, ErrorClass::Throttled);
    }

    #[test]
    fn a_definite_failure_after_an_ambiguous_attempt_is_indeterminate_for_writes_only() {
        let attempts = Attempts {
            started: 2,
            ambiguous: Some("connection reset".into()),
        };
        let refused = Failure::new(ErrorClass::Unavailable, "refused");
        let write = refused.clone().after_attempts(&attempts, true);
        assert_eq!(write.outcome, Outcome::Indeterminate);
        assert_eq!(write.class, ErrorClass::Unavailable);
        assert!(write.message.contains("connection reset"));
        let read = refused.after_attempts(&attempts, false);
        assert_eq!(read.outcome, Outcome::Fail);
    }
}
