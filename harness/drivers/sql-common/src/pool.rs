//! The connections ops run on: at most `size` of them, checked out for one op and given back
//! without a round trip; generic over the connection type (any sqlx connection, or a
//! driver's own, see [`PoolConn`]), opened by the driver's `open` function (which may also
//! set session bounds).
//!
//! sqlx's own pool pings every connection when it is released (to find one left mid-query
//! by a cancelled future). That is one extra round trip and server wake-up per op, which
//! halved select-only throughput next to pgbench. Here a lease knows whether its op ended
//! cleanly: only then does the connection go back; a lease dropped mid-op (a timeout, a
//! cancelled future) closes its connection instead, which makes the server roll back
//! whatever it had open. Idle connections are pinged before reuse only after sitting idle,
//! so a server that went away meanwhile shows up as `Unavailable`, not as a lost connection.

use futures::future::BoxFuture;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Idle connections older than this are pinged before use.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Opens one new connection, ready for ops.
pub type Opener<C> = Box<dyn Fn() -> BoxFuture<'static, Result<C, sqlx::Error>> + Send + Sync>;

/// A connection the pool can hold: it must answer a ping (one round trip that runs nothing).
pub trait PoolConn: Send + 'static {
    fn ping(&mut self) -> BoxFuture<'_, Result<(), sqlx::Error>>;
}

impl<C: sqlx::Connection + 'static> PoolConn for C {
    fn ping(&mut self) -> BoxFuture<'_, Result<(), sqlx::Error>> {
        sqlx::Connection::ping(self)
    }
}

pub struct OpPool<C: PoolConn> {
    idle: Mutex<Vec<(C, Instant)>>,
    permits: Semaphore,
    open: Opener<C>,
    acquire_timeout: Duration,
}

/// One checked-out connection. Dropped without `release(true)`, it is closed.
pub struct Lease<'a, C: PoolConn> {
    pool: &'a OpPool<C>,
    conn: Option<C>,
    reusable: bool,
    _permit: SemaphorePermit<'a>,
}

impl<C: PoolConn> OpPool<C> {
    pub fn new(size: u32, acquire_timeout: Duration, open: Opener<C>) -> Self {
        OpPool {
            idle: Mutex::new(Vec::with_capacity(size as usize)),
            permits: Semaphore::new(size.max(1) as usize),
            open,
            acquire_timeout,
        }
    }

    /// A connection within the acquire timeout (waiting for a free one, or opening one);
    /// `PoolTimedOut` past it.
    pub async fn acquire(&self) -> Result<Lease<'_, C>, sqlx::Error> {
        tokio::time::timeout(self.acquire_timeout, self.acquire_unbounded())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn acquire_unbounded(&self) -> Result<Lease<'_, C>, sqlx::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // Each failed ping drops one idle connection, so this ends after at most `size`
        // rounds, with a fresh connection if none of the idle ones answered.
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match idle {
                Some((mut conn, since)) => {
                    if since.elapsed() >= PING_IF_IDLE_FOR && conn.ping().await.is_err() {
                        continue;
                    }
                    conn
                }
                None => (self.open)().await?,
            };
            return Ok(Lease {
                pool: self,
                conn: Some(conn),
                reusable: false,
                _permit: permit,
            });
        }
    }

    /// Connections waiting for an op.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl<C: PoolConn> Lease<'_, C> {
    pub fn conn(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }

    /// Ends the lease: `reusable` when the op finished and left no transaction or unread
    /// answer behind, so the connection may serve the next op.
    pub fn release(mut self, reusable: bool) {
        self.reusable = reusable;
    }
}

impl<C: PoolConn> Drop for Lease<'_, C> {
    fn drop(&mut self) {
        if let (true, Some(conn)) = (self.reusable, self.conn.take()) {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((conn, Instant::now()));
        }
        // Otherwise the connection is dropped here, which closes its socket; the server
        // ends the session and rolls back whatever it had open.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::Connection;
    use std::str::FromStr;

    #[tokio::test]
    async fn a_refused_connect_is_an_error_within_the_timeout() {
        // Port 1 on loopback: nothing listens there.
        let options = PgConnectOptions::from_str("postgres://u:p@127.0.0.1:1/db").unwrap();
        let pool: OpPool<PgConnection> = OpPool::new(
            2,
            Duration::from_secs(2),
            Box::new(move || {
                let options = options.clone();
                Box::pin(async move { PgConnection::connect_with(&options).await })
            }),
        );
        let started = Instant::now();
        let err = pool
            .acquire()
            .await
            .err()
            .expect("nothing listens on port 1");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(
            matches!(err, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut),
            "{err:?}"
        );
        assert_eq!(pool.idle_count(), 0);
    }
}
