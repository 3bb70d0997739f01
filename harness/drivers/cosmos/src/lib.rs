//! assay-driver-cosmos
