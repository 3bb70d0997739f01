//! Assay's Cloud Spanner driver: the portable operation model on Google Cloud Spanner or
//! the Cloud Spanner emulator, through the community `gcloud-spanner` client.
//!
//! The crate owns the mapping from portable ops to Spanner: every scenario table is a
//! Spanner table `<namespace>_<table>` in the target's database (`schema`), reads are
//! single-use read-only transactions, and everything that writes runs in one read-write
//! transaction with a bounded ABORTED retry loop (`txn`). Errors are classified into the
//! core's `ErrorClass` in `classify`. Backend-specific conformance steps (`native =
//! "spanner.<check>"`) are run by `native`; bulk loads are batched mutations (`bulk`); what killed runs left behind is found and
//! dropped by `cleanup`.

mod bulk;
mod classify;
mod cleanup;
mod connection;
mod driver;
mod layout;
mod native;
mod objects;
mod options;
mod schema;
mod txn;

pub use driver::{SpannerDriver, CONNECT_TIMEOUT, STALE_READ_BOUND};
pub use native::NATIVE_CHECKS;
