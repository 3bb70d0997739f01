//! assay-reports
