//! Runs portable ops as SQL on one checked-out connection: the SQL text of every op, batches
//! in sequence, transactions at the configured isolation level.
//!
//! Every op is one statement with binds (identifiers come from `naming`), so a single op is
//! atomic on its own and needs no explicit transaction.

use crate::classify::{self, Phase};
use crate::naming::{like_prefix_pattern, Schema};
use crate::IsolationLevel;
use assay_core::{ErrorClass, Op, OpResult, OpValue, Outcome, Record};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Connection, Row};
use std::future::Future;
use std::pin::Pin;

/// One op's run on one connection. `poisoned` records that the connection saw an error after
/// which it must not go back to the pool.
pub(crate) struct Exec<'a> {
    pub(crate) conn: &'a mut PgConnection,
    pub(crate) schema: &'a Schema,
    pub(crate) addr: &'a str,
    pub(crate) isolation: IsolationLevel,
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
                single => single_statement(self.conn, self.schema, single)
                    .await
                    .unwrap_or_else(|e| self.fail(&e)),
            }
        })
    }

    fn fail(&mut self, err: &sqlx::Error) -> OpResult {
        failure(&mut self.poisoned, self.addr, err)
    }

    /// Ops in sequence, each committed on its own; a later op still runs after an earlier one
    /// failed, unless the connection broke, in which case the rest are reported as not sent.
    async fn batch(&mut self, ops: &[Op]) -> OpResult {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            if self.poisoned {
                results.push(OpResult::error(
                    ErrorClass::Unavailable,
                    format!(
                        "not sent: an earlier op of this batch lost the connection to {}",
                        self.addr
                    ),
                ));
                continue;
            }
            let result = self.run(op).await;
            results.push(result);
        }
        OpResult::ok(OpValue::Results(results))
    }

    /// All ops in one transaction at the configured isolation level. A failed op (condition
    /// or error) rolls the whole transaction back and becomes the transaction's result; a
    /// serialization failure at any point is `Aborted` and is not retried here.
    async fn txn(&mut self, ops: &[Op]) -> OpResult {
        if let Some((i, nested)) = ops
            .iter()
            .enumerate()
            .find(|(_, op)| matches!(op, Op::Batch { .. } | Op::Txn { .. }))
        {
            return OpResult::error(
                ErrorClass::InvalidRequest,
                format!(
                    "txn op {i} is a {}: a transaction holds only single ops; list them directly",
                    nested.kind()
                ),
            );
        }
        if ops.is_empty() {
            return OpResult::ok(OpValue::Results(Vec::new()));
        }
        let begin = crate::begin_statement(self.isolation);
        let mut tx = match self.conn.begin_with(begin).await {
            Ok(tx) => tx,
            Err(e) => return failure(&mut self.poisoned, self.addr, &e),
        };
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let result = match single_statement(&mut tx, self.schema, op).await {
                Ok(r) => r,
                Err(e) => failure(&mut self.poisoned, self.addr, &e),
            };
            if result.outcome != Outcome::Ok {
                let (class, message) = result
                    .error
                    .map(|e| (e.class, e.message))
                    .unwrap_or((ErrorClass::Other, "no error recorded".to_string()));
                // The verdict does not depend on the rollback: nothing was committed. A
                // rollback that fails leaves the session state unknown, so drop the connection.
                if !self.poisoned && tx.rollback().await.is_err() {
                    self.poisoned = true;
                }
                return OpResult::error(
                    class,
                    format!(
                        "txn op {i} ({}) failed, transaction rolled back: {message}",
                        op.kind()
                    ),
                );
            }
            results.push(result);
        }
        match tx.commit().await {
            Ok(()) => OpResult::ok(OpValue::Results(results)),
            Err(e) => self.fail(&e),
        }
    }
}

/// The result for a backend error during an op, noting whether it broke the connection.
fn failure(poisoned: &mut bool, addr: &str, err: &sqlx::Error) -> OpResult {
    if classify::breaks_connection(err) {
        *poisoned = true;
    }
    classify::error_result(err, Phase::Running, addr)
}

const COLUMNS: &str = "k, v, ver, n, l";

/// One single-statement op. `Err` is a backend error still to classify; a failed condition
/// is an `Ok(OpResult)` with outcome `fail`.
async fn single_statement(
    conn: &mut PgConnection,
    schema: &Schema,
    op: &Op,
) -> Result<OpResult, sqlx::Error> {
    match op {
        Op::Read { table, key, .. } => {
            let sql = format!("SELECT {COLUMNS} FROM {} WHERE k = $1", schema.table(table));
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
                "INSERT INTO {} AS t (k, v, ver) VALUES ($1, $2, 1) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, ver = t.ver + 1",
                schema.table(table)
            );
            sqlx::query(&sql)
                .bind(key)
                .bind(value)
                .execute(&mut *conn)
                .await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::InsertIfAbsent { table, key, value } => {
            insert_if_absent(conn, schema, table, key, value).await
        }
        Op::CompareAndSet {
            table,
            key,
            expected_version,
            value,
        } => {
            let Some(expected) = expected_version else {
                return insert_if_absent(conn, schema, table, key, value).await;
            };
            let Ok(expected) = i64::try_from(*expected) else {
                // `ver` is a BIGINT, so no stored row can carry this version.
                return Ok(condition_failed(format!(
                    "version {expected} is beyond any stored version of key `{key}`"
                )));
            };
            let sql = format!(
                "UPDATE {} SET v = $3, ver = ver + 1 WHERE k = $1 AND ver = $2",
                schema.table(table)
            );
            let done = sqlx::query(&sql)
                .bind(key)
                .bind(expected)
                .bind(value)
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
            let sql = format!("DELETE FROM {} WHERE k = $1", schema.table(table));
            sqlx::query(&sql).bind(key).execute(&mut *conn).await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::Increment { table, key, by } => {
            let sql = format!(
                "INSERT INTO {} AS t (k, n) VALUES ($1, $2) \
                 ON CONFLICT (k) DO UPDATE SET n = t.n + EXCLUDED.n RETURNING n",
                schema.table(table)
            );
            let row = sqlx::query(&sql)
                .bind(key)
                .bind(*by)
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
                "INSERT INTO {} AS t (k, l) VALUES ($1, ARRAY[$2::BIGINT]) \
                 ON CONFLICT (k) DO UPDATE SET l = array_append(t.l, $2::BIGINT)",
                schema.table(table)
            );
            sqlx::query(&sql)
                .bind(key)
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
            // `k` is declared COLLATE "C", so ORDER BY is byte order (the portable key order)
            // and the LIKE prefix can use the primary-key index.
            let sql = format!(
                "SELECT {COLUMNS} FROM {} WHERE k LIKE $1 ESCAPE '\\' ORDER BY k LIMIT $2",
                schema.table(table)
            );
            let rows = sqlx::query(&sql)
                .bind(like_prefix_pattern(prefix))
                .bind(limit.map(i64::from))
                .fetch_all(&mut *conn)
                .await?;
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

async fn insert_if_absent(
    conn: &mut PgConnection,
    schema: &Schema,
    table: &str,
    key: &str,
    value: &str,
) -> Result<OpResult, sqlx::Error> {
    let sql = format!(
        "INSERT INTO {} (k, v, ver) VALUES ($1, $2, 1) ON CONFLICT (k) DO NOTHING",
        schema.table(table)
    );
    let done = sqlx::query(&sql)
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    Ok(if done.rows_affected() == 0 {
        condition_failed(format!("key `{key}` already exists"))
    } else {
        OpResult::ok(OpValue::None)
    })
}

fn condition_failed(message: String) -> OpResult {
    OpResult::error(ErrorClass::ConditionFailed, message)
}

/// Every column of the layout is present on a row: `n` and `l` have defaults, so a row that
/// was only written reads back `counter: Some(0)` and `list: Some([])`.
fn record_from_row(row: &PgRow) -> Result<Record, sqlx::Error> {
    let version: i64 = row.try_get("ver")?;
    Ok(Record {
        key: row.try_get("k")?,
        value: row.try_get("v")?,
        version: u64::try_from(version).ok(),
        counter: Some(row.try_get("n")?),
        list: Some(row.try_get("l")?),
    })
}
