//! The bulk load (`Driver::bulk_load`) as `COPY "<ns>"."<table>" (k, v, ver) FROM STDIN`
//! in the text format, one COPY per call on a pooled op connection; the engine keeps
//! [`COPY_WRITERS`] calls in flight, so a load runs over that many connections.
//!
//! Into an empty table the load defers the primary key, as `pgbench -i` and `pg_restore`
//! do: `bulk_load_prepare` drops it, `bulk_load_finish` builds it again in one sorted pass
//! (`ALTER TABLE … ADD PRIMARY KEY`), which costs far less than maintaining it row by row.
//! The keys of a load are distinct, so the build cannot fail on them; a table that already
//! holds rows keeps its key (and COPY then meets existing keys as below).
//!
//! A COPY is atomic: it lands whole or not at all. A key that already exists (a step wrote
//! it before the load) fails the COPY with a unique violation; that call is then written
//! row by row as `Op::Write` upserts, so it ends as the trait says (existing keys
//! overwritten, `ver` bumped).

use crate::classify::{self, Phase};
use crate::naming::quote_identifier;
use crate::PostgresDriver;
use assay_core::{BulkLoadError, BulkLoadPath, ErrorClass, LoadRow};
use bytes::{BufMut, BytesMut};
use sqlx::Row;
use std::time::Duration;

/// COPYs in flight at once. The server does the work (parsing, heap and index inserts), so
/// more connections than its cores only contend; measured on 2 cores, see docs/decisions.md.
pub(crate) const COPY_WRITERS: u32 = 4;
/// Rows per COPY: large enough that the round trip and the statement are noise, small
/// enough that one call stays well inside the statement timeout.
pub(crate) const COPY_ROWS: u32 = 20_000;

pub(crate) fn path(pool_size: u32) -> BulkLoadPath {
    BulkLoadPath {
        method: "copy from stdin",
        writers: COPY_WRITERS.min(pool_size.max(1)),
        rows_per_call: COPY_ROWS,
    }
}

/// One text-format field: `\`, tab, newline and carriage return escaped; NUL refused
/// (PostgreSQL text cannot hold it).
fn put_field(s: &str, out: &mut BytesMut) -> Result<(), String> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < b' ' || b == b'\\') {
        out.put_slice(bytes);
        return Ok(());
    }
    for &b in bytes {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\t' => out.put_slice(b"\\t"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            0 => return Err("it holds a NUL byte, which PostgreSQL text cannot store".into()),
            other => out.put_u8(other),
        }
    }
    Ok(())
}

/// `k \t v \t 1 \n`: a row as a write of an absent key leaves it (`n`, `l` by default).
pub(crate) fn encode_row(row: &LoadRow, out: &mut BytesMut) -> Result<(), String> {
    put_field(&row.key, out).map_err(|e| format!("key {:?}: {e}", row.key))?;
    out.put_u8(b'\t');
    put_field(&row.value, out).map_err(|e| format!("the value of key {:?}: {e}", row.key))?;
    out.put_slice(b"\t1\n");
    Ok(())
}

/// Bound on building a deferred primary key (a sort of every key loaded).
const KEY_BUILD_TIMEOUT: Duration = Duration::from_secs(600);

impl PostgresDriver {
    /// Drops the primary key of `table` when it is empty (see the module docs).
    pub(crate) async fn defer_primary_key(&self, table: &str) -> Result<(), BulkLoadError> {
        let qualified = self.schema.table(table).to_string();
        let addr = &self.primary.addr;
        let failed = |e: sqlx::Error| {
            let (class, message) = classify::classify(&e, Phase::Running, addr);
            BulkLoadError::new(
                0,
                class,
                format!("deferring the primary key of {table}: {message}"),
            )
        };
        let mut tx = self.primary.pool.begin().await.map_err(failed)?;
        let empty: bool = sqlx::query(&format!("SELECT NOT EXISTS (SELECT 1 FROM {qualified})"))
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(failed)?;
        if !empty {
            return Ok(());
        }
        let name: Option<String> = sqlx::query(
            "SELECT conname::text FROM pg_catalog.pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'",
        )
        .bind(&qualified)
        .fetch_optional(&mut *tx)
        .await
        .and_then(|r| r.map(|r| r.try_get(0)).transpose())
        .map_err(failed)?;
        let Some(name) = name else {
            return Ok(());
        };
        sqlx::query(&format!(
            "ALTER TABLE {qualified} DROP CONSTRAINT {}",
            quote_identifier(&name)
        ))
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        self.deferred_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(table.to_string());
        Ok(())
    }

    /// Builds the primary key `defer_primary_key` dropped, if it did.
    pub(crate) async fn restore_primary_key(&self, table: &str) -> Result<(), BulkLoadError> {
        let deferred = {
            let mut d = self.deferred_keys.lock().unwrap_or_else(|p| p.into_inner());
            let before = d.len();
            d.retain(|t| t != table);
            d.len() != before
        };
        if !deferred {
            return Ok(());
        }
        let qualified = self.schema.table(table).to_string();
        let addr = &self.primary.addr;
        let failed = |e: sqlx::Error| {
            let (class, message) = classify::classify(&e, Phase::Running, addr);
            BulkLoadError::new(
                0,
                class,
                format!("building the primary key of {table}: {message}"),
            )
        };
        let mut tx = self.primary.pool.begin().await.map_err(failed)?;
        sqlx::query(&format!(
            "SET LOCAL statement_timeout = '{}ms'",
            KEY_BUILD_TIMEOUT.as_millis()
        ))
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        sqlx::query(&format!("ALTER TABLE {qualified} ADD PRIMARY KEY (k)"))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)
    }

    pub(crate) async fn copy_rows(
        &self,
        table: &str,
        rows: &[LoadRow],
    ) -> Result<u64, BulkLoadError> {
        let target = &self.primary;
        let mut lease = target.ops.acquire().await.map_err(|e| {
            let (class, message) = classify::classify(&e, Phase::Acquire, &target.addr);
            BulkLoadError::new(0, class, message)
        })?;
        let sql = &self.statements.of(table).copy;
        let mut refused = None;
        let copied = lease
            .conn()
            .copy_in(sql, rows, |row, out| {
                encode_row(row, out).inspect_err(|why| refused = Some(why.clone()))
            })
            .await;
        let err = match copied {
            Ok(n) => {
                lease.release(true);
                return Ok(n);
            }
            Err(e) => e,
        };
        let keep = !classify::breaks_connection(&err);
        lease.release(keep);
        if let Some(why) = refused {
            return Err(BulkLoadError::new(
                0,
                ErrorClass::InvalidRequest,
                format!("COPY into {table} at {} refused a row: {why}", target.addr),
            ));
        }
        let (class, message) = classify::classify(&err, Phase::Running, &target.addr);
        if class == ErrorClass::ConditionFailed {
            // A key exists already; nothing of this COPY landed.
            // Upserts row by row (the trait's default path) after a COPY met an existing key.
            return assay_core::driver::write_each(self, table, rows).await;
        }
        // The COPY either committed or not; without its answer it may have.
        Err(BulkLoadError::new(
            0,
            class,
            format!("COPY into {table}: {message}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(k: &str, v: &str) -> LoadRow {
        LoadRow {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn rows_are_text_format_lines_with_escapes() {
        let mut out = BytesMut::new();
        encode_row(&row("user1", "abc"), &mut out).unwrap();
        encode_row(&row("a\tb", "x\\y\nz\r"), &mut out).unwrap();
        assert_eq!(&out[..], b"user1\tabc\t1\na\\tb\tx\\\\y\\nz\\r\t1\n");
    }

    #[test]
    fn a_nul_byte_is_refused_with_the_key() {
        let mut out = BytesMut::new();
        let err = encode_row(&row("k1", "a\0b"), &mut out).unwrap_err();
        assert!(err.contains("k1") && err.contains("NUL"), "{err}");
    }
}
