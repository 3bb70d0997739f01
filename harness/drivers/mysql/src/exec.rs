//! Runs portable ops as SQL on one checked-out connection: the SQL text of every op, batches
//! in sequence, transactions at the configured isolation level.
//!
//! Every single op is one autocommitted statement with binds (identifiers come from
//! `naming`), so it is atomic on its own. InnoDB may still abort such a statement with a
//! deadlock (two upserts of the same new key take gap locks); the statement was rolled back,
//! so it is retried a few times within the op's budget and the retries are counted in
//! `OpMeta::retries`.

use crate::classify::{self, Phase};
use crate::naming::{like_prefix_pattern, Database, LIKE_ESCAPE};
use crate::IsolationLevel;
use assay_core::{ErrorClass, Op, OpMeta, OpResult, OpValue, Outcome, Record};
use assay_sql_common::txn;
use sqlx::mysql::{MySqlConnection, MySqlRow};
use sqlx::{Executor, Row};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// Attempts at a single statement that InnoDB aborted with a deadlock.
const MAX_ATTEMPTS: u32 = 5;

/// One op's run on one connection. `poisoned` records that the connection saw an error after
/// which it must not go back to the pool.
pub(crate) struct Exec<'a> {
    pub(crate) conn: &'a mut MySqlConnection,
    pub(crate) db: &'a Database,
    pub(crate) addr: &'a str,
    pub(crate) isolation: IsolationLevel,
    /// Retries of aborted single statements stop once this passes.
    pub(crate) deadline: Instant,
    pub(crate) poisoned: bool,
}

impl Exec<'_> {
    /// Runs any op; batches may nest (boxed because the recursion is async).
    pub(crate) fn run<'s>(
        &'s mut self,
        op: &'s Op,
    ) -> Pin<Box<dyn Future<Output = OpResult> + Send + 's>> {
        Box::pin(async move {
            match op {
                Op::Batch { ops } => self.batch(ops).await,
                Op::Txn { ops } => self.txn(ops).await,
                single => self.single_with_retries(single).await,
            }
        })
    }

    async fn single_with_retries(&mut self, op: &Op) -> OpResult {
        let mut retries = 0u32;
        loop {
            let (result, retryable) = match single_statement(self.conn, self.db, op).await {
                Ok(r) => (r, false),
                Err(e) => (
                    failure(&mut self.poisoned, self.addr, &e),
                    is_immediate_conflict(&e),
                ),
            };
            let backoff = Duration::from_millis(2u64 << retries.min(6));
            if !retryable
                || self.poisoned
                || retries + 1 >= MAX_ATTEMPTS
                || Instant::now() + backoff >= self.deadline
            {
                return if retries > 0 {
                    result.with_meta(OpMeta {
                        retries,
                        ..OpMeta::default()
                    })
                } else {
                    result
                };
            }
            retries += 1;
            tokio::time::sleep(backoff).await;
        }
    }

    /// Ops in sequence, each committed on its own; a later op still runs after an earlier one
    /// failed, unless the connection broke, in which case the rest are reported as not sent.
    async fn batch(&mut self, ops: &[Op]) -> OpResult {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            if self.poisoned {
                results.push(txn::not_sent_after_lost_connection(self.addr));
                continue;
            }
            let result = self.run(op).await;
            results.push(result);
        }
        OpResult::ok(OpValue::Results(results))
    }

    /// All ops in one transaction at the configured isolation level. A failed op (condition
    /// or error) rolls the whole transaction back and becomes the transaction's result; a
    /// deadlock at any point is `Aborted` and is not retried here.
    async fn txn(&mut self, ops: &[Op]) -> OpResult {
        if let Some(refused) = txn::refuse_nested(ops) {
            return refused;
        }
        if ops.is_empty() {
            return txn::empty();
        }
        if let Err(e) = begin(self.conn, self.isolation).await {
            return failure(&mut self.poisoned, self.addr, &e);
        }
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let result = match single_statement(self.conn, self.db, op).await {
                Ok(r) => r,
                Err(e) => failure(&mut self.poisoned, self.addr, &e),
            };
            if result.outcome != Outcome::Ok {
                // MySQL keeps a transaction open after most statement errors (unlike
                // PostgreSQL), so the rollback is what undoes the earlier ops. One that fails
                // leaves the session state unknown: drop the connection, which also rolls back.
                if !self.poisoned && rollback(self.conn).await.is_err() {
                    self.poisoned = true;
                }
                return txn::rolled_back(i, op, result);
            }
            results.push(result);
        }
        match exec_text(self.conn, "COMMIT").await {
            Ok(_) => OpResult::ok(OpValue::Results(results)),
            Err(e) => {
                let result = failure(&mut self.poisoned, self.addr, &e);
                // A COMMIT the server refused (e.g. a deadlock) leaves nothing open; make sure.
                if !self.poisoned && rollback(self.conn).await.is_err() {
                    self.poisoned = true;
                }
                result
            }
        }
    }
}

/// Runs one statement over the text protocol: transaction control and session settings
/// are not all allowed as prepared statements.
pub(crate) async fn exec_text(conn: &mut MySqlConnection, sql: &str) -> Result<(), sqlx::Error> {
    conn.execute(sql).await.map(|_| ())
}

/// Starts a transaction at `level`. `SET TRANSACTION` without SESSION applies to exactly
/// the next transaction, so nothing leaks into later ops on this connection.
pub(crate) async fn begin(
    conn: &mut MySqlConnection,
    level: IsolationLevel,
) -> Result<(), sqlx::Error> {
    exec_text(
        conn,
        &format!("SET TRANSACTION ISOLATION LEVEL {}", level.sql()),
    )
    .await?;
    exec_text(conn, "START TRANSACTION").await?;
    Ok(())
}

async fn rollback(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    exec_text(conn, "ROLLBACK").await
}

/// A conflict InnoDB reports at once and has already rolled back (deadlock, MariaDB's
/// snapshot-isolation "record changed"). A lock wait timeout (1205) is aborted too, but it
/// has used up a whole lock wait, so it is reported rather than waited out again.
fn is_immediate_conflict(err: &sqlx::Error) -> bool {
    matches!(classify::error_number(err), Some(1213 | 1020))
}

/// The result for a backend error during an op, noting whether it broke the connection.
fn failure(poisoned: &mut bool, addr: &str, err: &sqlx::Error) -> OpResult {
    if classify::breaks_connection(err) {
        *poisoned = true;
    }
    classify::error_result(err, Phase::Running, addr)
}

/// `l` is read as text so MariaDB (JSON is LONGTEXT there) and MySQL (a JSON type) decode
/// the same way; `k` is VARBINARY, read as bytes.
const COLUMNS: &str = "k, v, ver, n, CAST(l AS CHAR) AS l";

/// One single-statement op. `Err` is a backend error still to classify; a failed condition
/// is an `Ok(OpResult)` with outcome `fail`.
async fn single_statement(
    conn: &mut MySqlConnection,
    db: &Database,
    op: &Op,
) -> Result<OpResult, sqlx::Error> {
    match op {
        Op::Read { table, key, .. } => {
            let sql = format!("SELECT {COLUMNS} FROM {} WHERE k = ?", db.table(table));
            let row = sqlx::query(&sql)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(OpResult::ok(OpValue::Record(
                row.as_ref().map(record_from_row).transpose()?,
            )))
        }
        Op::Write { table, key, value } => {
            // `ver` starts at 1 on insert because an absent row counts as version 0.
            let sql = format!(
                "INSERT INTO {} (k, v, ver) VALUES (?, ?, 1) \
                 ON DUPLICATE KEY UPDATE v = VALUES(v), ver = ver + 1",
                db.table(table)
            );
            sqlx::query(&sql)
                .bind(key)
                .bind(value)
                .execute(&mut *conn)
                .await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::InsertIfAbsent { table, key, value } => {
            insert_if_absent(conn, db, table, key, value).await
        }
        Op::CompareAndSet {
            table,
            key,
            expected_version,
            value,
        } => {
            let Some(expected) = expected_version else {
                return insert_if_absent(conn, db, table, key, value).await;
            };
            let Ok(expected) = i64::try_from(*expected) else {
                // `ver` is a BIGINT, so no stored row can carry this version.
                return Ok(condition_failed(format!(
                    "version {expected} is beyond any stored version of key `{key}`"
                )));
            };
            // The SET always changes `ver`, so the affected count is the matched count
            // whether or not the session reports found rows.
            let sql = format!(
                "UPDATE {} SET v = ?, ver = ver + 1 WHERE k = ? AND ver = ?",
                db.table(table)
            );
            let done = sqlx::query(&sql)
                .bind(value)
                .bind(key)
                .bind(expected)
                .execute(&mut *conn)
                .await?;
            Ok(if done.rows_affected() == 0 {
                condition_failed(format!(
                    "key `{key}` is absent or its version is not {expected}"
                ))
            } else {
                OpResult::ok(OpValue::None)
            })
        }
        Op::Delete { table, key } => {
            let sql = format!("DELETE FROM {} WHERE k = ?", db.table(table));
            sqlx::query(&sql).bind(key).execute(&mut *conn).await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::Increment { table, key, by } => {
            // MySQL has no RETURNING: LAST_INSERT_ID(expr) remembers the new `n` in this
            // session, evaluated under the row lock the upsert holds, so reading it back
            // right after gives exactly this op's result even under concurrency. It keeps
            // the value as unsigned, so each use is cast back to a signed BIGINT.
            let sql = format!(
                "INSERT INTO {} (k, n) VALUES (?, CAST(LAST_INSERT_ID(?) AS SIGNED)) \
                 ON DUPLICATE KEY UPDATE n = CAST(LAST_INSERT_ID(n + VALUES(n)) AS SIGNED)",
                db.table(table)
            );
            sqlx::query(&sql)
                .bind(key)
                .bind(*by)
                .execute(&mut *conn)
                .await?;
            // LAST_INSERT_ID is unsigned; CAST(.. AS SIGNED) gives back a negative counter.
            let row = sqlx::query("SELECT CAST(LAST_INSERT_ID() AS SIGNED)")
                .fetch_one(&mut *conn)
                .await?;
            Ok(OpResult::ok(OpValue::Counter(row.try_get::<i64, _>(0)?)))
        }
        Op::Append {
            table,
            key,
            element,
        } => {
            let sql = format!(
                "INSERT INTO {} (k, l) VALUES (?, JSON_ARRAY(?)) \
                 ON DUPLICATE KEY UPDATE l = JSON_ARRAY_APPEND(COALESCE(l, JSON_ARRAY()), '$', ?)",
                db.table(table)
            );
            sqlx::query(&sql)
                .bind(key)
                .bind(*element)
                .bind(*element)
                .execute(&mut *conn)
                .await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::Query {
            table,
            prefix,
            limit,
        } => {
            // `k` is VARBINARY, so ORDER BY is byte order (the portable key order) and the
            // LIKE prefix can use the primary-key index.
            let mut sql = format!(
                "SELECT {COLUMNS} FROM {} WHERE k LIKE ? ESCAPE '{LIKE_ESCAPE}' ORDER BY k",
                db.table(table)
            );
            if limit.is_some() {
                sql.push_str(" LIMIT ?");
            }
            let mut query = sqlx::query(&sql).bind(like_prefix_pattern(prefix));
            if let Some(limit) = limit {
                query = query.bind(i64::from(*limit));
            }
            let rows = query.fetch_all(&mut *conn).await?;
            let records = rows
                .iter()
                .map(record_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(OpResult::ok(OpValue::Records(records)))
        }
        Op::Batch { .. } | Op::Txn { .. } => Ok(OpResult::error(
            ErrorClass::InvalidRequest,
            format!("a {} cannot run as a single statement", op.kind()),
        )),
    }
}

/// A plain INSERT whose duplicate-key error (1062) is the failed condition. Not INSERT
/// IGNORE: that would also turn real errors (a value too long) into silent warnings.
async fn insert_if_absent(
    conn: &mut MySqlConnection,
    db: &Database,
    table: &str,
    key: &str,
    value: &str,
) -> Result<OpResult, sqlx::Error> {
    let sql = format!(
        "INSERT INTO {} (k, v, ver) VALUES (?, ?, 1)",
        db.table(table)
    );
    let done = sqlx::query(&sql)
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await;
    match done {
        Ok(_) => Ok(OpResult::ok(OpValue::None)),
        Err(e) if classify::error_number(&e) == Some(1062) => {
            Ok(condition_failed(format!("key `{key}` already exists")))
        }
        Err(e) => Err(e),
    }
}

fn condition_failed(message: String) -> OpResult {
    OpResult::error(ErrorClass::ConditionFailed, message)
}

/// A text column read as bytes: sqlx refuses `String` for columns flagged BINARY, which a
/// `_bin` collation (a server or database default) sets on plain text columns too.
fn text_column(row: &MySqlRow, name: &str) -> Result<Option<String>, sqlx::Error> {
    let bytes: Option<Vec<u8>> = row.try_get(name)?;
    bytes
        .map(String::from_utf8)
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: name.to_string(),
            source: Box::new(e),
        })
}

/// Every column of the layout is present on a row: `n` has a default and a NULL `l` reads as
/// empty, so a row that was only written reads back `counter: Some(0)` and `list: Some([])`.
fn record_from_row(row: &MySqlRow) -> Result<Record, sqlx::Error> {
    let key = text_column(row, "k")?.unwrap_or_default();
    let version: i64 = row.try_get("ver")?;
    let list = match text_column(row, "l")? {
        None => Vec::new(),
        Some(text) => {
            serde_json::from_str::<Vec<i64>>(&text).map_err(|e| sqlx::Error::ColumnDecode {
                index: "l".to_string(),
                source: Box::new(e),
            })?
        }
    };
    Ok(Record {
        key,
        value: text_column(row, "v")?,
        version: u64::try_from(version).ok(),
        counter: Some(row.try_get("n")?),
        list: Some(list),
    })
}
