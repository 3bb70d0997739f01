//! `Driver::leftovers` / `remove_leftover` on DynamoDB (moto): the run's table is listed
//! with its `CreationDateTime`; tables of any other name are neither listed nor removable
//! and still work after the cleanup (the check every such driver runs:
//! `assay_emulators::testing::leftovers`).

use assay_core::{LeftoverKind, LocalBackend};
use assay_driver_dynamodb::DynamodbDriver;
use assay_emulators::testing::leftovers::{
    only_run_shaped_leftovers_are_listed_and_removed, CreationTime, LeftoverShape,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_run_shaped_tables_are_listed_and_removed() {
    let shape = LeftoverShape {
        backend: LocalBackend::DynamodbMoto,
        kind: LeftoverKind::Table,
        physical: |namespace| format!("{namespace}_kv"),
        // The stand-in's clock is this machine's.
        created: CreationTime::Within(2_000),
    };
    only_run_shaped_leftovers_are_listed_and_removed(shape, |endpoint, config| async move {
        DynamodbDriver::connect(&endpoint, config).await
    })
    .await;
}
