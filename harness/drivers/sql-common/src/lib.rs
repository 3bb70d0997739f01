//! What the SQL drivers (PostgreSQL, MySQL wire) share: the pool their ops run on, and the
//! dialect-free part of error classification and of batch / transaction results.

pub mod classify;
pub mod pool;
pub mod txn;

pub use pool::{Lease, OpPool, PoolConn};
