//! Assay's driver for the Azure Cosmos DB NoSQL API, on the official `azure_data_cosmos`
//! SDK (key auth, gateway mode over HTTP/1.1 for local stand-ins, text JSON).
//!
//! Layout: one database per run named by the run's namespace, one container per scenario
//! table with partition key `/k`, one item per row
//! `{ "id": k, "k": k, "v": …, "ver": …, "n": …, "l": [...] }`.
//!
//! Op mapping: `read` is a point read with the op's consistency as the SDK's per-request
//! read consistency strategy; `write`, `compare_and_set`, `increment` and `append` are
//! etag-guarded read-modify-write loops (bounded); `insert_if_absent` is a create (409 →
//! `condition_failed`); `delete` treats 404 as done; `query` is a cross-partition
//! `STARTSWITH(c.k, @prefix) ORDER BY c.k`; `batch` runs its ops one by one; `txn` is
//! atomic on one key (a Cosmos transaction cannot leave its partition, and every key is
//! its own partition here). Request charges and SDK/driver retries land in `OpMeta`.
//!
//! Local stand-in findings the driver deals with rather than hides: `@vercel/cosmosdb-server`
//! answers a point read of a missing item with a 500 (recognised exactly, see
//! `errors::is_local_server_missing_item`), returns no session tokens, ignores read
//! consistency and charges a constant 1 RU per request.

mod driver;
mod errors;
mod layout;
mod ops;

pub use driver::CosmosDriver;
