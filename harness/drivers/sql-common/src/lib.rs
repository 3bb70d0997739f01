//! What the SQL drivers (PostgreSQL, MySQL wire) share: the pool their ops run on.

pub mod pool;

pub use pool::{Lease, OpPool, PoolConn};
