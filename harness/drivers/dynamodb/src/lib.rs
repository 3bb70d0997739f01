//! assay-driver-dynamodb
