//! The bulk load (`Driver::bulk_load`) as batched mutations: [`ROWS_PER_COMMIT`] rows of
//! `insert_or_update(k, v, ver = 1)` per commit, inside Spanner's commit limits (80,000
//! mutated cells per commit; an earlier limit was 20,000, which 3 cells × 2,000 rows also
//! keeps). Each commit is atomic; ABORTED commits are retried by the client library.
//!
//! The emulator runs one read-write transaction at a time and aborts the others, so on it
//! the engine keeps one commit in flight; on Spanner itself, [`SPANNER_WRITERS`].
//!
//! `insert_or_update` of three columns leaves a new row exactly as `Op::Write` does (`n`
//! and `l` NULL); an existing key gets the value and `ver` 1, its `n` and `l` untouched.

use crate::classify::{client_error, Phase};
use crate::connection::SpannerDriver;
use crate::schema::physical_table;
use assay_core::{BulkLoadError, BulkLoadPath, ErrorClass, LoadRow};
use gcloud_spanner::mutation::insert_or_update;

/// Rows per commit: 3 mutated cells each.
pub(crate) const ROWS_PER_COMMIT: usize = 2_000;
/// Commits in flight at once on Spanner itself.
pub(crate) const SPANNER_WRITERS: u32 = 8;

pub(crate) fn path(emulator: bool) -> BulkLoadPath {
    BulkLoadPath {
        method: "batched mutations",
        writers: if emulator { 1 } else { SPANNER_WRITERS },
        rows_per_call: ROWS_PER_COMMIT as u32,
    }
}

pub(crate) async fn load(
    driver: &SpannerDriver,
    table: &str,
    rows: &[LoadRow],
) -> Result<u64, BulkLoadError> {
    let physical = physical_table(driver, table)
        .map_err(|e| BulkLoadError::new(0, ErrorClass::InvalidRequest, e))?;
    let mut written = 0;
    for chunk in rows.chunks(ROWS_PER_COMMIT) {
        let mutations = chunk
            .iter()
            .map(|r| insert_or_update(&physical, &["k", "v", "ver"], &[&r.key, &r.value, &1i64]))
            .collect();
        if let Err(e) = driver.client.apply(mutations).await {
            let (class, message) = client_error(&e, Phase::Commit);
            return Err(BulkLoadError::new(
                written,
                class,
                format!(
                    "commit of {} mutations into {physical}: {message}",
                    chunk.len()
                ),
            ));
        }
        written += chunk.len() as u64;
    }
    Ok(written)
}
