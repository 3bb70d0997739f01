//! Runs portable ops as SQL on one checked-out connection: the SQL text of every op, batches
//! in sequence, transactions at the configured isolation level.
//!
//! Every op is one statement with binds (identifiers come from `naming`), so a single op is
//! atomic on its own and needs no explicit transaction. The statements of a table are built
//! once ([`Statements`]), not per op.

use crate::classify::{self, Phase};
use crate::naming::{like_prefix_pattern, Schema};
use crate::session::OpConn;
use crate::wire::Param;
use crate::IsolationLevel;
use assay_core::{ErrorClass, Op, OpResult, OpValue, Outcome};
use assay_sql_common::txn;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

/// One op's run on one connection. `poisoned` records that the connection saw an error after
/// which it must not go back to the pool.
pub(crate) struct Exec<'a> {
    pub(crate) conn: &'a mut OpConn,
    pub(crate) statements: &'a Statements,
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
                single => single_statement(self.conn, self.statements, single)
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
    /// serialization failure at any point is `Aborted` and is not retried here.
    async fn txn(&mut self, ops: &[Op]) -> OpResult {
        if let Some(refused) = txn::refuse_nested(ops) {
            return refused;
        }
        if ops.is_empty() {
            return txn::empty();
        }
        let begin = crate::begin_statement(self.isolation);
        if let Err(e) = self.conn.begin(&begin).await {
            return failure(&mut self.poisoned, self.addr, &e);
        }
        let mut results = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let result = match single_statement(self.conn, self.statements, op).await {
                Ok(r) => r,
                Err(e) => failure(&mut self.poisoned, self.addr, &e),
            };
            if result.outcome != Outcome::Ok {
                // The verdict does not depend on the rollback: nothing was committed. A
                // rollback that fails leaves the session state unknown, so drop the connection.
                if !self.poisoned && self.conn.simple("ROLLBACK").await.is_err() {
                    self.poisoned = true;
                }
                return txn::rolled_back(i, op, result);
            }
            results.push(result);
        }
        match self.conn.simple("COMMIT").await {
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

/// The SQL text of every single-statement op on one table.
pub(crate) struct TableSql {
    read: String,
    write: String,
    insert_if_absent: String,
    compare_and_set: String,
    delete: String,
    increment: String,
    append: String,
    query: String,
    /// The bulk load's `COPY ... FROM STDIN` (text format) of `k, v, ver`.
    pub(crate) copy: String,
}

impl TableSql {
    fn new(t: &str) -> TableSql {
        TableSql {
            read: format!("SELECT {COLUMNS} FROM {t} WHERE k = $1"),
            // `ver` starts at 1 on insert because an absent row counts as version 0.
            write: format!(
                "INSERT INTO {t} AS t (k, v, ver) VALUES ($1, $2, 1) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v, ver = t.ver + 1"
            ),
            insert_if_absent: format!(
                "INSERT INTO {t} (k, v, ver) VALUES ($1, $2, 1) ON CONFLICT (k) DO NOTHING"
            ),
            compare_and_set: format!(
                "UPDATE {t} SET v = $3, ver = ver + 1 WHERE k = $1 AND ver = $2"
            ),
            delete: format!("DELETE FROM {t} WHERE k = $1"),
            increment: format!(
                "INSERT INTO {t} AS t (k, n) VALUES ($1, $2) \
                 ON CONFLICT (k) DO UPDATE SET n = t.n + EXCLUDED.n RETURNING n"
            ),
            append: format!(
                "INSERT INTO {t} AS t (k, l) VALUES ($1, ARRAY[$2::BIGINT]) \
                 ON CONFLICT (k) DO UPDATE SET l = array_append(t.l, $2::BIGINT)"
            ),
            // `k` is declared COLLATE "C", so ORDER BY is byte order (the portable key order)
            // and the LIKE prefix can use the primary-key index.
            query: format!(
                "SELECT {COLUMNS} FROM {t} WHERE k LIKE $1 ESCAPE '\\' ORDER BY k LIMIT $2"
            ),
            copy: format!("COPY {t} (k, v, ver) FROM STDIN"),
        }
    }
}

/// The statements of every table ops have named, in the run's schema.
pub(crate) struct Statements {
    schema: Schema,
    by_table: RwLock<HashMap<String, Arc<TableSql>>>,
}

impl Statements {
    pub(crate) fn new(schema: Schema) -> Statements {
        Statements {
            schema,
            by_table: RwLock::new(HashMap::new()),
        }
    }

    /// Built on first use; a table that was never set up gets statements too, and the
    /// server's "relation does not exist" becomes the op's error.
    pub(crate) fn of(&self, table: &str) -> Arc<TableSql> {
        if let Some(t) = self
            .by_table
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(table)
        {
            return Arc::clone(t);
        }
        let built = Arc::new(TableSql::new(&self.schema.table(table).to_string()));
        self.by_table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(table.to_string())
            .or_insert(built)
            .clone()
    }
}

/// One single-statement op. `Err` is a backend error still to classify; a failed condition
/// is an `Ok(OpResult)` with outcome `fail`.
async fn single_statement(
    conn: &mut OpConn,
    statements: &Statements,
    op: &Op,
) -> Result<OpResult, sqlx::Error> {
    match op {
        Op::Read { table, key, .. } => {
            let sql = &statements.of(table).read;
            let mut rows = conn.records(sql, &[Param::Text(key)]).await?;
            Ok(OpResult::ok(OpValue::Record(rows.pop())))
        }
        Op::Write { table, key, value } => {
            let sql = &statements.of(table).write;
            conn.execute(sql, &[Param::Text(key), Param::Text(value)])
                .await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::InsertIfAbsent { table, key, value } => {
            insert_if_absent(conn, statements, table, key, value).await
        }
        Op::CompareAndSet {
            table,
            key,
            expected_version,
            value,
        } => {
            let Some(expected) = expected_version else {
                return insert_if_absent(conn, statements, table, key, value).await;
            };
            let Ok(expected) = i64::try_from(*expected) else {
                // `ver` is a BIGINT, so no stored row can carry this version.
                return Ok(condition_failed(format!(
                    "version {expected} is beyond any stored version of key `{key}`"
                )));
            };
            let sql = &statements.of(table).compare_and_set;
            let updated = conn
                .execute(
                    sql,
                    &[Param::Text(key), Param::Int8(expected), Param::Text(value)],
                )
                .await?;
            Ok(if updated == 0 {
                condition_failed(format!(
                    "key `{key}` is absent or its version is not {expected}"
                ))
            } else {
                OpResult::ok(OpValue::None)
            })
        }
        Op::Delete { table, key } => {
            let sql = &statements.of(table).delete;
            conn.execute(sql, &[Param::Text(key)]).await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::Increment { table, key, by } => {
            let sql = &statements.of(table).increment;
            let n = conn
                .int8(sql, &[Param::Text(key), Param::Int8(*by)])
                .await?;
            Ok(OpResult::ok(OpValue::Counter(n)))
        }
        Op::Append {
            table,
            key,
            element,
        } => {
            let sql = &statements.of(table).append;
            conn.execute(sql, &[Param::Text(key), Param::Int8(*element)])
                .await?;
            Ok(OpResult::ok(OpValue::None))
        }
        Op::Query {
            table,
            prefix,
            limit,
        } => {
            let sql = &statements.of(table).query;
            let pattern = like_prefix_pattern(prefix);
            let limit = limit.map_or(Param::NullInt8, |l| Param::Int8(i64::from(l)));
            let records = conn.records(sql, &[Param::Text(&pattern), limit]).await?;
            Ok(OpResult::ok(OpValue::Records(records)))
        }
        Op::Batch { .. } | Op::Txn { .. } => Ok(OpResult::error(
            ErrorClass::InvalidRequest,
            format!("a {} cannot run as a single statement", op.kind()),
        )),
    }
}

async fn insert_if_absent(
    conn: &mut OpConn,
    statements: &Statements,
    table: &str,
    key: &str,
    value: &str,
) -> Result<OpResult, sqlx::Error> {
    let sql = &statements.of(table).insert_if_absent;
    let inserted = conn
        .execute(sql, &[Param::Text(key), Param::Text(value)])
        .await?;
    Ok(if inserted == 0 {
        condition_failed(format!("key `{key}` already exists"))
    } else {
        OpResult::ok(OpValue::None)
    })
}

fn condition_failed(message: String) -> OpResult {
    OpResult::error(ErrorClass::ConditionFailed, message)
}
