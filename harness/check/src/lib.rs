//! assay-check
