//! assay-driver-spanner
