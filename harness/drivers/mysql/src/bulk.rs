//! The bulk load (`Driver::bulk_load`) as multi-row upserts: `INSERT INTO t (k, v, ver)
//! VALUES (?, ?, 1), ... ON DUPLICATE KEY UPDATE ...`, [`ROWS_PER_INSERT`] rows per
//! statement, autocommitted, on a pooled op connection; the engine keeps [`INSERT_WRITERS`]
//! calls in flight. Each statement is atomic, and ends each row as `Op::Write` would (an
//! existing key is overwritten and its `ver` bumped). `LOAD DATA LOCAL INFILE` would be
//! faster still but needs `local_infile` on both ends, which servers ship switched off.

use crate::classify::{self, Phase};
use crate::MysqlDriver;
use assay_core::{BulkLoadError, BulkLoadPath, ErrorClass, LoadRow};

/// Statements in flight at once (the server's cores do the work).
pub(crate) const INSERT_WRITERS: u32 = 4;
/// Rows per INSERT: 2 placeholders each, far below the protocol's 65,535, and a statement
/// of ~100 KiB at YCSB's value size, well inside `max_allowed_packet`'s default.
pub(crate) const ROWS_PER_INSERT: u32 = 1_000;
/// Attempts at a statement InnoDB aborted with a deadlock (it was rolled back whole).
const MAX_ATTEMPTS: u32 = 5;

pub(crate) fn path(pool_size: u32) -> BulkLoadPath {
    BulkLoadPath {
        method: "multi-row insert",
        writers: INSERT_WRITERS.min(pool_size.max(1)),
        rows_per_call: ROWS_PER_INSERT,
    }
}

/// The statement for `rows` rows.
fn insert_sql(table: &str, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table} (k, v, ver) VALUES ");
    for i in 0..rows {
        sql.push_str(if i == 0 { "(?, ?, 1)" } else { ", (?, ?, 1)" });
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE v = VALUES(v), ver = ver + 1");
    sql
}

impl MysqlDriver {
    pub(crate) async fn insert_rows(
        &self,
        table: &str,
        rows: &[LoadRow],
    ) -> Result<u64, BulkLoadError> {
        let physical = self.db.table(table).to_string();
        let mut written = 0;
        for chunk in rows.chunks(ROWS_PER_INSERT as usize) {
            let sql = insert_sql(&physical, chunk.len());
            let mut attempt = 1;
            loop {
                match self.insert_chunk(&sql, chunk).await {
                    Ok(()) => break,
                    Err((ErrorClass::Aborted, _)) if attempt < MAX_ATTEMPTS => attempt += 1,
                    Err((class, message)) => {
                        return Err(BulkLoadError::new(
                            written,
                            class,
                            format!("multi-row INSERT into {table}: {message}"),
                        ))
                    }
                }
            }
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    async fn insert_chunk(&self, sql: &str, rows: &[LoadRow]) -> Result<(), (ErrorClass, String)> {
        let mut lease = self
            .ops
            .acquire()
            .await
            .map_err(|e| classify::classify(&e, Phase::Acquire, &self.addr))?;
        let mut query = sqlx::query(sql);
        for row in rows {
            query = query.bind(&row.key).bind(&row.value);
        }
        let done = query.execute(&mut *lease.conn()).await;
        match done {
            Ok(_) => {
                lease.release(true);
                Ok(())
            }
            Err(e) => {
                lease.release(!classify::breaks_connection(&e));
                Err(classify::classify(&e, Phase::Running, &self.addr))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_statement_holds_every_row() {
        assert_eq!(
            super::insert_sql("`db`.`kv`", 2),
            "INSERT INTO `db`.`kv` (k, v, ver) VALUES (?, ?, 1), (?, ?, 1) ON DUPLICATE KEY UPDATE v = VALUES(v), ver = ver + 1"
        );
    }
}
