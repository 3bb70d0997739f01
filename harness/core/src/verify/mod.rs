//! Pre-migration data verification's vocabulary (`assay verify`): the canonical typed
//! value every column is reduced to and its encoding (`value`), the key-hash buckets and
//! row digests both sides compute the same way (`digest`), what a side of a compare is
//! (`plan`), the mapping file (`mapping`) and the [`TableSource`] seam a driver implements
//! to take part (`source`). The compare itself lives in `assay-verify`.

pub mod digest;
pub mod mapping;
pub mod plan;
pub mod source;
pub mod value;

pub use digest::{Bucket, BucketSet, Digest, Digests};
pub use plan::{PlanColumn, ShapeColumn, SidePlan, StoredAs, TableShape};
pub use source::{CanonicalRow, SourceStats, TableSource, VerifyError, VerifyErrorKind};
pub use value::{EpochUnit, Kind, Value};
