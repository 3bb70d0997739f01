//! What happened on the wire inside one SDK call: how many attempts the SDK made, and
//! whether an attempt may have reached the backend without an answer (an *ambiguous*
//! attempt). Also the retry rule that keeps the SDK from re-sending a non-idempotent write
//! after such an attempt, which would apply it twice.

use aws_sdk_dynamodb::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_sdk_dynamodb::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use std::error::Error;
use std::sync::{Arc, Mutex, MutexGuard};

type BoxError = Box<dyn Error + Send + Sync>;

/// Counts of one SDK call, read after it returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Attempts {
    pub started: u32,
    /// Why the first ambiguous attempt may have been applied, if there was one.
    pub ambiguous: Option<String>,
}

impl Attempts {
    pub fn retries(&self) -> u32 {
        self.started.saturating_sub(1)
    }
}

/// Shared between the driver and the interceptor attached to one SDK call.
#[derive(Clone, Debug, Default)]
pub(crate) struct AttemptLog(Arc<Mutex<Attempts>>);

impl AttemptLog {
    pub fn interceptor(&self) -> AttemptInterceptor {
        AttemptInterceptor(self.clone())
    }

    pub fn snapshot(&self) -> Attempts {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Attempts> {
        // The guarded data is plain counters: a poisoned lock still holds usable values.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug)]
pub(crate) struct AttemptInterceptor(AttemptLog);

impl Intercept for AttemptInterceptor {
    fn name(&self) -> &'static str {
        "AssayAttemptLog"
    }

    // Counted before the attempt, not after: when the operation timeout cancels an attempt
    // midway, no after-attempt hook runs, and that attempt still happened.
    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.lock().started += 1;
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(reason) = ambiguity(context.inner()) {
            let mut log = self.0.lock();
            if log.ambiguous.is_none() {
                log.ambiguous = Some(reason);
            }
        }
        Ok(())
    }
}

/// For writes that must not be applied twice: the SDK may retry what was definitely not
/// applied (refused connection, throttling, 4xx) but not an attempt that may have been.
#[derive(Debug)]
pub(crate) struct ForbidAmbiguousRetry;

impl ClassifyRetry for ForbidAmbiguousRetry {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        if ambiguity(ctx).is_some() {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "AssayForbidAmbiguousRetry"
    }
}

/// `Some(reason)` when the finished attempt may have been applied by the backend although
/// the client did not get a definite answer: a timeout, a connection that broke after the
/// request could have been sent, an unreadable response, or a 5xx.
pub(crate) fn ambiguity(ctx: &InterceptorContext) -> Option<String> {
    let Some(Err(err)) = ctx.output_or_error() else {
        return None;
    };
    if let Some(connector) = err.as_connector_error() {
        if never_sent(connector) {
            return None;
        }
        return Some(error_chain(connector));
    }
    if err.is_timeout_error() {
        return Some("the attempt timed out".to_string());
    }
    if err.is_response_error() {
        return Some("the response could not be read".to_string());
    }
    let status = ctx.response().map(|r| r.status().as_u16())?;
    (status >= 500).then(|| format!("the backend answered HTTP {status}"))
}

/// True when the request cannot have reached the backend: the connection was refused or
/// never established, or the name did not resolve.
pub(crate) fn never_sent(err: &(dyn Error + 'static)) -> bool {
    use std::io::ErrorKind;
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::HostUnreachable
            ) {
                return true;
            }
        }
        // The SDK's connect-timeout and DNS errors are private types; their text is the
        // only stable handle on them.
        let text = e.to_string();
        if text.contains("HTTP connect timeout") || text.starts_with("dns error") {
            return true;
        }
        current = e.source();
    }
    false
}

/// The error and its sources as one line, without the repeats SDK wrappers add.
pub(crate) fn error_chain(err: &(dyn Error + 'static)) -> String {
    const MAX_LEN: usize = 400;
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    let mut line = parts.join(": ").replace('\n', " ");
    if line.len() > MAX_LEN {
        let mut cut = MAX_LEN;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Wrapper(&'static str, Option<std::io::Error>);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_ref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn refused_connections_were_never_sent_but_resets_may_have_been() {
        let refused = Wrapper(
            "client error (Connect)",
            Some(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        );
        assert!(never_sent(&refused));
        let reset = Wrapper(
            "connection error",
            Some(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        );
        assert!(!never_sent(&reset));
        assert!(never_sent(&Wrapper(
            "HTTP connect timeout occurred after 2s",
            None
        )));
    }

    #[test]
    fn error_chain_is_one_line_without_repeats() {
        let e = Wrapper(
            "io error",
            Some(std::io::Error::other("broken pipe\nsecond line")),
        );
        assert_eq!(error_chain(&e), "io error: broken pipe second line");
        let same = Wrapper("broken pipe", Some(std::io::Error::other("broken pipe")));
        assert_eq!(error_chain(&same), "broken pipe");
    }

    #[test]
    fn retries_are_attempts_after_the_first() {
        let log = AttemptLog::default();
        assert_eq!(log.snapshot().retries(), 0);
        log.lock().started = 3;
        assert_eq!(log.snapshot().retries(), 2);
    }
}
