//! assay-verify: `assay verify`'s compare of one table between two targets, before (or
//! during) a migration. Owns how the two sides are matched up (`resolve`: key, columns,
//! where each lives and how it is stored), the compare (`compare`: digests of key-hash
//! ranges bisected into the ones that differ, down to rows; the recheck) and what it
//! shows (`report`: the versioned JSON and the text). It sees each side only as an
//! `assay_core::verify::TableSource`, which the drivers implement; the canonical values
//! and hashes both sides share are `assay_core::verify`'s. docs/verify.md tells users.

pub mod compare;
pub mod report;
pub mod resolve;

pub use compare::{compare, DiffKind, Difference, Options, Outcome, Side};
pub use report::{build as build_report, render_text, Report, SideInfo, REPORT_SCHEMA};
pub use resolve::{resolve, table_names, Plans, Request};
