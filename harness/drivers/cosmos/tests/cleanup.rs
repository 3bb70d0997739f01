//! `Driver::leftovers` / `remove_leftover` on cosmos-local: the run's database is listed
//! with its `_ts`; databases of any other name are neither listed nor removable and still
//! work after the cleanup (the check every such driver runs:
//! `assay_emulators::testing::leftovers`).

use assay_core::{LeftoverKind, LocalBackend};
use assay_driver_cosmos::CosmosDriver;
use assay_emulators::testing::leftovers::{
    only_run_shaped_leftovers_are_listed_and_removed, CreationTime, LeftoverShape,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_run_shaped_databases_are_listed_and_removed() {
    let shape = LeftoverShape {
        backend: LocalBackend::CosmosLocal,
        kind: LeftoverKind::Database,
        physical: |namespace| namespace.to_string(),
        // `_ts` has whole seconds.
        created: CreationTime::Within(2_000),
    };
    only_run_shaped_leftovers_are_listed_and_removed(shape, |endpoint, config| async move {
        CosmosDriver::connect(&endpoint, config).await
    })
    .await;
}
