//! The connection an op runs on: Assay's wire client on plaintext connections, sqlx where
//! TLS (or anything else `wire` leaves out) is needed. Both answer the same four calls, so
//! `exec` states each op's SQL once.

use crate::wire::{self, Connected, Param, WireConfig, WireConn};
use assay_core::Record;
use assay_sql_common::PoolConn;
use bytes::BytesMut;
use futures::future::BoxFuture;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgRow};
use sqlx::{Connection, Postgres, Row};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub(crate) enum OpConn {
    Wire(WireConn),
    Sqlx(PgConnection),
}

/// How a target's op connections are opened.
#[derive(Clone)]
pub(crate) struct OpConnector {
    wire: Option<WireConfig>,
    sqlx: PgConnectOptions,
    /// Set once the server has accepted a TLS request: from then on sqlx opens them all.
    server_wants_tls: Arc<AtomicBool>,
}

impl OpConnector {
    pub(crate) fn new(wire: Option<WireConfig>, sqlx: PgConnectOptions) -> Self {
        OpConnector {
            wire,
            sqlx,
            server_wants_tls: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Which client the op connections use: `wire`, or `sqlx` (TLS, or a URL `wire` leaves
    /// to sqlx).
    pub(crate) fn client(&self) -> &'static str {
        if self.wire.is_some() && !self.server_wants_tls.load(Ordering::Relaxed) {
            "wire"
        } else {
            "sqlx"
        }
    }

    pub(crate) async fn open(&self) -> Result<OpConn, sqlx::Error> {
        if let Some(cfg) = &self.wire {
            if !self.server_wants_tls.load(Ordering::Relaxed) {
                match WireConn::connect(cfg).await? {
                    Connected::Ready(conn) => return Ok(OpConn::Wire(conn)),
                    Connected::WantsTls => self.server_wants_tls.store(true, Ordering::Relaxed),
                }
            }
        }
        Ok(OpConn::Sqlx(PgConnection::connect_with(&self.sqlx).await?))
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Postgres, PgArguments>,
    params: &[Param<'q>],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    for p in params {
        query = match *p {
            Param::Text(s) => query.bind(s),
            Param::Int8(i) => query.bind(i),
            Param::NullInt8 => query.bind(None::<i64>),
        };
    }
    query
}

impl OpConn {
    /// Rows of `k, v, ver, n, l`.
    pub(crate) async fn records(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Record>, sqlx::Error> {
        match self {
            OpConn::Wire(c) => {
                let mut records = Vec::new();
                c.extended(sql, params, |row| {
                    records.push(wire::record_from_data_row(row)?);
                    Ok(())
                })
                .await?;
                Ok(records)
            }
            OpConn::Sqlx(c) => bind_all(sqlx::query(sql), params)
                .fetch_all(&mut *c)
                .await?
                .iter()
                .map(record_from_row)
                .collect(),
        }
    }

    /// The single BIGINT a statement returns (`RETURNING n`).
    pub(crate) async fn int8(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<i64, sqlx::Error> {
        match self {
            OpConn::Wire(c) => {
                let mut value = None;
                c.extended(sql, params, |row| {
                    value = Some(wire::int8_from_data_row(row)?);
                    Ok(())
                })
                .await?;
                value.ok_or(sqlx::Error::RowNotFound)
            }
            OpConn::Sqlx(c) => bind_all(sqlx::query(sql), params)
                .fetch_one(&mut *c)
                .await?
                .try_get::<i64, _>(0),
        }
    }

    /// Rows affected.
    pub(crate) async fn execute(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<u64, sqlx::Error> {
        match self {
            OpConn::Wire(c) => c.extended(sql, params, |_| Ok(())).await,
            OpConn::Sqlx(c) => Ok(bind_all(sqlx::query(sql), params)
                .execute(&mut *c)
                .await?
                .rows_affected()),
        }
    }

    /// `COPY ... FROM STDIN` of `rows` in the text format `encode` writes; a row it refuses
    /// aborts the COPY (nothing of it is applied). Returns the rows copied.
    pub(crate) async fn copy_in<R>(
        &mut self,
        sql: &str,
        rows: &[R],
        mut encode: impl FnMut(&R, &mut BytesMut) -> Result<(), String>,
    ) -> Result<u64, sqlx::Error> {
        match self {
            OpConn::Wire(c) => c.copy_in(sql, rows, encode).await,
            OpConn::Sqlx(c) => {
                let mut data = BytesMut::new();
                let mut refused = None;
                for (i, row) in rows.iter().enumerate() {
                    if let Err(why) = encode(row, &mut data) {
                        refused = Some(format!("row {i}: {why}"));
                        break;
                    }
                }
                let mut copy = c.copy_in_raw(sql).await?;
                match refused {
                    Some(why) => {
                        copy.abort(why.clone()).await?;
                        Err(sqlx::Error::InvalidArgument(format!("COPY aborted: {why}")))
                    }
                    None => {
                        copy.send(data.freeze()).await?;
                        copy.finish().await
                    }
                }
            }
        }
    }

    /// Starts a transaction: on the wire client the BEGIN travels with the first statement.
    pub(crate) async fn begin(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            OpConn::Wire(c) => {
                c.begin_with_next(sql);
                Ok(())
            }
            OpConn::Sqlx(_) => self.simple(sql).await,
        }
    }

    /// A statement without parameters (`BEGIN ...`, `COMMIT`, `ROLLBACK`).
    pub(crate) async fn simple(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            OpConn::Wire(c) => c.simple(sql).await,
            OpConn::Sqlx(c) => sqlx::Executor::execute(&mut *c, sql).await.map(|_| ()),
        }
    }
}

impl PoolConn for OpConn {
    fn ping(&mut self) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        match self {
            OpConn::Wire(c) => Box::pin(c.ping()),
            OpConn::Sqlx(c) => sqlx::Connection::ping(c),
        }
    }
}

/// Every column of the layout is present on a row: `n` and `l` have defaults, so a row that
/// was only written reads back `counter: Some(0)` and `list: Some([])`.
fn record_from_row(row: &PgRow) -> Result<Record, sqlx::Error> {
    let version: i64 = row.try_get(2)?;
    Ok(Record {
        key: row.try_get(0)?,
        value: row.try_get(1)?,
        version: u64::try_from(version).ok(),
        counter: Some(row.try_get(3)?),
        list: Some(row.try_get(4)?),
    })
}
