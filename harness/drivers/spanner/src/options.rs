//! The SDK call options every Spanner call of the driver uses: no SDK-level retries (the
//! driver bounds and counts its own) and the backoff between the driver's retries.

use gcloud_gax::retry::RetrySetting;
use gcloud_spanner::transaction::{CallOptions, QueryOptions, ReadOptions};
use gcloud_spanner::transaction_rw::CommitOptions;
use std::time::Duration;

/// No SDK-level retries: the driver counts and bounds its own, and a replayed commit
/// could report ALREADY_EXISTS for its own insert.
pub(crate) fn no_retry() -> CallOptions {
    CallOptions {
        priority: None,
        retry: Some(RetrySetting {
            take: 0,
            codes: vec![],
            ..RetrySetting::default()
        }),
    }
}

pub(crate) fn read_options() -> ReadOptions {
    ReadOptions {
        call_options: no_retry(),
        ..ReadOptions::default()
    }
}

pub(crate) fn query_options() -> QueryOptions {
    QueryOptions {
        call_options: no_retry(),
        ..QueryOptions::default()
    }
}

pub(crate) fn commit_options() -> CommitOptions {
    CommitOptions {
        call_options: no_retry(),
        ..CommitOptions::default()
    }
}

/// 10 ms doubling up to 320 ms, plus up to as much again as jitter so aborted clients
/// do not retry in lockstep (the emulator aborts all but one concurrent transaction).
pub(crate) fn backoff(retry: u32) -> Duration {
    let base = 10u64 << retry.saturating_sub(1).min(5);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(base + u64::from(nanos) % (base + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::MAX_ABORT_RETRIES;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) >= Duration::from_millis(10));
        assert!(backoff(1) <= Duration::from_millis(21));
        for r in 1..=MAX_ABORT_RETRIES {
            assert!(backoff(r) <= Duration::from_millis(641), "{r}");
        }
    }
}
