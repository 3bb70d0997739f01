//! assay-driver-postgres
