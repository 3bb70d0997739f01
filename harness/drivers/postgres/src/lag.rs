//! Replica lag as a client sees it: write a marker row on the primary, then read the replica
//! until the marker shows, and record how long that took after the primary acknowledged the
//! commit. This is the staleness a "write to the writer endpoint, read from the reader
//! endpoint" application observes, including the replica's apply delay, not only WAL
//! shipping.
//!
//! Both the write and the reads go through the driver's own portable ops (`Op::Write` to the
//! primary, `Op::Read` at `Consistency::Eventual`, which routes to the replica), so the
//! measurement uses exactly the paths a scenario uses.

use crate::PostgresDriver;
use assay_core::scenario::TableSpec;
use assay_core::{
    Consistency, Driver, DriverError, LatencyHistograms, Op, OpKind, OpResult, OpValue, Outcome,
};
use serde::Serialize;
use std::fmt;
use std::time::{Duration, Instant};

/// The portable-layout table the markers go to, in the run's schema (removed by teardown).
pub const LAG_TABLE: &str = "assay_replica_lag";
/// Most samples one call takes, so a typo cannot start an hour-long loop.
pub const MAX_LAG_SAMPLES: u32 = 100_000;

/// Replica-lag samples of one measurement.
#[derive(Clone, Debug)]
pub struct ReplicaLag {
    /// Lag per sample in nanoseconds: `(Read, Ok)` for markers that showed on the replica;
    /// `(Read, Fail)` for those that did not within `max_wait`, recorded *as* `max_wait`
    /// (a lower bound), so percentiles are never flattered by leaving them out.
    pub histograms: LatencyHistograms,
    pub samples: u32,
    /// Markers not visible on the replica within `max_wait`.
    pub not_visible: u32,
    pub max_wait: Duration,
    /// Replica reads that failed (and were retried) while polling.
    pub read_errors: u32,
}

/// The numbers of a [`ReplicaLag`] for a report (microseconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaLagSummary {
    pub samples: u32,
    pub not_visible: u32,
    pub read_errors: u32,
    pub max_wait_ms: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl ReplicaLag {
    /// Every sample, visible or not (not-visible ones count as `max_wait`).
    pub fn all(&self) -> hdrhistogram::Histogram<u64> {
        self.histograms
            .combined(Some(OpKind::Read), &[Outcome::Ok, Outcome::Fail])
    }

    pub fn quantile(&self, q: f64) -> Duration {
        let h = self.all();
        if h.is_empty() {
            return Duration::ZERO;
        }
        Duration::from_nanos(h.value_at_quantile(q))
    }

    pub fn summary(&self) -> ReplicaLagSummary {
        let h = self.all();
        let us = |q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q) / 1_000
            }
        };
        ReplicaLagSummary {
            samples: self.samples,
            not_visible: self.not_visible,
            read_errors: self.read_errors,
            max_wait_ms: self.max_wait.as_millis() as u64,
            p50_us: us(0.5),
            p90_us: us(0.9),
            p99_us: us(0.99),
            max_us: h.max() / 1_000,
        }
    }
}

impl fmt::Display for ReplicaLag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary();
        write!(
            f,
            "replica lag over {} samples: p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
            s.samples, s.p50_us, s.p90_us, s.p99_us, s.max_us
        )?;
        if s.not_visible > 0 {
            write!(
                f,
                "; {} not visible within {} ms",
                s.not_visible, s.max_wait_ms
            )?;
        }
        Ok(())
    }
}

impl PostgresDriver {
    /// Measures replica lag as clients see it: `samples` times, write a marker on the
    /// primary and poll the replica until it shows, at most `max_wait` per sample.
    ///
    /// Creates [`LAG_TABLE`] in the run's schema (through `setup`, so `teardown` removes it;
    /// calling it before or after the scenario's own setup is fine). Fails when the endpoint
    /// has no `replica_url`, or when the primary refuses or loses a marker write.
    pub async fn measure_replica_lag(
        &self,
        samples: u32,
        max_wait: Duration,
    ) -> Result<ReplicaLag, DriverError> {
        if self.replica.is_none() {
            return Err(DriverError::config(
                "replica lag needs a replica: the endpoint has no replica_url (use the \
                 postgres-replica target or give the target a reader URL)",
            ));
        }
        if samples == 0 || samples > MAX_LAG_SAMPLES {
            return Err(DriverError::config(format!(
                "replica lag samples = {samples}; ask for 1 to {MAX_LAG_SAMPLES}"
            )));
        }
        if max_wait.is_zero() {
            return Err(DriverError::config(
                "replica lag max_wait is 0; give each sample time to show on the replica",
            ));
        }
        self.setup(&[TableSpec {
            name: LAG_TABLE.to_string(),
        }])
        .await?;

        let run_tag = format!("{}-{}", std::process::id(), nanos_since_epoch());
        let mut lag = ReplicaLag {
            histograms: LatencyHistograms::default(),
            samples,
            not_visible: 0,
            max_wait,
            read_errors: 0,
        };
        for i in 0..samples {
            let key = format!("lag-{}", i % 16);
            let marker = format!("{run_tag}-{i}");
            let write = Op::Write {
                table: LAG_TABLE.to_string(),
                key: key.clone(),
                value: marker.clone(),
            };
            let written = self.execute(&write).await;
            if written.outcome != Outcome::Ok {
                return Err(marker_write_error(&written, &self.primary.addr));
            }
            let acknowledged = Instant::now();
            let read = Op::Read {
                table: LAG_TABLE.to_string(),
                key,
                consistency: Consistency::Eventual,
            };
            let seen = loop {
                let r = self.execute(&read).await;
                if shows(&r, &marker) {
                    break Some(acknowledged.elapsed());
                }
                if r.outcome != Outcome::Ok {
                    lag.read_errors += 1;
                }
                if acknowledged.elapsed() >= max_wait {
                    break None;
                }
                // Reads are round trips of a few hundred µs on loopback, which already paces
                // the loop; the yield keeps it from starving other tasks on this worker.
                tokio::task::yield_now().await;
            };
            match seen {
                Some(d) => lag
                    .histograms
                    .record(OpKind::Read, Outcome::Ok, d.as_nanos() as u64),
                None => {
                    lag.not_visible += 1;
                    lag.histograms
                        .record(OpKind::Read, Outcome::Fail, max_wait.as_nanos() as u64);
                }
            }
        }
        Ok(lag)
    }
}

fn shows(result: &OpResult, marker: &str) -> bool {
    matches!(&result.value, OpValue::Record(Some(r)) if r.value.as_deref() == Some(marker))
}

fn marker_write_error(result: &OpResult, addr: &str) -> DriverError {
    let message = result
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.class, e.message))
        .unwrap_or_else(|| "no error recorded".to_string());
    let text = format!("replica lag: the marker write on the primary at {addr} failed ({message})");
    match result.outcome {
        Outcome::Indeterminate => DriverError::unavailable(text),
        _ => DriverError::backend(text),
    }
}

fn nanos_since_epoch() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag_of(visible_us: &[u64], not_visible: u32, max_wait: Duration) -> ReplicaLag {
        let mut histograms = LatencyHistograms::default();
        for us in visible_us {
            histograms.record(OpKind::Read, Outcome::Ok, us * 1_000);
        }
        for _ in 0..not_visible {
            histograms.record(OpKind::Read, Outcome::Fail, max_wait.as_nanos() as u64);
        }
        ReplicaLag {
            histograms,
            samples: visible_us.len() as u32 + not_visible,
            not_visible,
            max_wait,
            read_errors: 0,
        }
    }

    #[test]
    fn samples_that_never_showed_count_as_max_wait_in_the_percentiles() {
        let visible: Vec<u64> = (1..=98).collect();
        let lag = lag_of(&visible, 2, Duration::from_millis(500));
        let s = lag.summary();
        assert_eq!((s.samples, s.not_visible, s.max_wait_ms), (100, 2, 500));
        assert!((49..=51).contains(&s.p50_us), "{s:?}");
        // The two misses are the top 2 %, so p99 is the bound, not the slowest visible one.
        assert!((499_000..=500_500).contains(&s.p99_us), "{s:?}");
        assert_eq!(
            lag.to_string(),
            format!(
                "replica lag over 100 samples: p50 {} µs, p90 {} µs, p99 {} µs, max {} µs; \
                 2 not visible within 500 ms",
                s.p50_us, s.p90_us, s.p99_us, s.max_us
            )
        );
    }

    #[test]
    fn an_empty_measurement_reports_zeros_not_a_panic() {
        let lag = lag_of(&[], 0, Duration::from_secs(1));
        assert_eq!(lag.quantile(0.99), Duration::ZERO);
        assert_eq!(lag.summary().max_us, 0);
    }
}
