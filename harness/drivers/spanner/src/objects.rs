//! What a native check leaves behind and what its transaction bodies fail with: the
//! schema objects registered for teardown (`NativeObject`) and `TxError`. A leaf beside
//! `classify`: `connection` keeps the run's objects, `schema` drops them, `native`
//! creates them and runs the transactions.

use crate::classify::{chain, describe};
use gcloud_gax::grpc::Status;
use gcloud_gax::retry::TryAs;
use gcloud_spanner::session::SessionError;

/// A table or index a native check created; teardown drops leftovers in reverse order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NativeObject {
    Table(String),
    Index(String),
}

impl NativeObject {
    pub(crate) fn name(&self) -> &str {
        match self {
            NativeObject::Table(n) | NativeObject::Index(n) => n,
        }
    }

    pub(crate) fn drop_ddl(&self) -> String {
        match self {
            NativeObject::Table(n) => format!("DROP TABLE `{n}`"),
            NativeObject::Index(n) => format!("DROP INDEX `{n}`"),
        }
    }
}

/// What a transaction body can fail with. The client retries bodies whose error shows
/// as ABORTED through `try_as`; showing it nothing keeps every retry in
/// [`Ctx::read_write`], where it is bounded and counted.
#[derive(Debug)]
pub(crate) enum TxError {
    Grpc(Status),
    Session(SessionError),
    Decode(String),
}

impl TxError {
    pub(crate) fn describe(&self, location: &str) -> String {
        match self {
            TxError::Grpc(s) => format!(
                "spanner read-write transaction on {location}: {}",
                describe(s)
            ),
            TxError::Session(e) => format!("spanner session on {location}: {}", chain(e)),
            TxError::Decode(m) => m.clone(),
        }
    }
}

impl From<Status> for TxError {
    fn from(s: Status) -> Self {
        TxError::Grpc(s)
    }
}

impl From<SessionError> for TxError {
    fn from(e: SessionError) -> Self {
        TxError::Session(e)
    }
}

impl TryAs<Status> for TxError {
    fn try_as(&self) -> Option<&Status> {
        None
    }
}
