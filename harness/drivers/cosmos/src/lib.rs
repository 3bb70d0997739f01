//! Assay's driver for the Azure Cosmos DB NoSQL API, on the official `azure_data_cosmos`
//! SDK (key auth, gateway mode over HTTP/1.1 for local stand-ins, text JSON).
//!
//! Layout: one database per run named by the run's namespace, one container per scenario
//! table with partition key `/k`, one item per row
//! `{ "id": k, "k": k, "v": …, "ver": …, "n": …, "l": [...] }`.
//!
//! Op mapping: `read` is a point read at the op's consistency, passed per request (see
//! `CosmosDriver::read_options`; `Session` reads carry the driver's session token);
//! `write`, `compare_and_set`, `increment` and `append` are etag-guarded
//! read-modify-write loops (bounded); `insert_if_absent` is a create (409 →
//! `condition_failed`); `delete` treats 404 as done; `query` is a cross-partition
//! `STARTSWITH(c.k, @prefix) ORDER BY c.k`; `batch` runs its ops one by one; `txn` is
//! atomic on one key (a Cosmos transaction cannot leave its partition, and every key is
//! its own partition here). Request charges and SDK/driver retries land in `OpMeta`.
//!
//! Local stand-in findings the driver deals with rather than hides: `@vercel/cosmosdb-server`
//! answers a point read of a missing item with a 500 (recognised exactly, see
//! `errors::is_local_server_missing_item`), returns no session tokens (counted, see
//! `CosmosDriver::session_token_counts`), ignores read consistency and charges a constant
//! 1 RU per request.
//!
//! Backend-specific conformance checks (`native = "cosmos.<check>"`) live in `native/`.

mod cleanup;
mod connection;
mod driver;
mod errors;
mod layout;
mod native;
mod ops;
mod session;

pub use driver::CosmosDriver;
pub use native::NATIVE_CHECKS;
pub use session::SessionTokenCounts;
