//! assay-emulators
