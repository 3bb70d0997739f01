//! assay-engine
