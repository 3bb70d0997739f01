//! What the SQL drivers (PostgreSQL, MySQL wire) share: the pool their ops run on, and the
//! dialect-free part of error classification and of batch / transaction results, the
//! `sql.*` native checks (`checks.rs`), the `.slt` runner's record loop and text
//! connection (`slt.rs`; each driver adds its dialect), and the Hermitage-style isolation
//! runner (`isolation.rs`; each driver adds its `IsolationDialect`).

pub mod checks;
pub mod classify;
pub mod isolation;
pub mod pool;
pub mod slt;
pub mod txn;

pub use checks::{sql_check, SqlCheck, SQL_CHECKS};
pub use pool::{Lease, OpPool, PoolConn};
