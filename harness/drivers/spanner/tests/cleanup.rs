//! `Driver::leftovers` / `remove_leftover` on the Spanner emulator: the run's table is
//! listed, of unknown age (Spanner keeps no creation time); tables of any other name are
//! neither listed nor removable and still work after the cleanup (the check every such
//! driver runs: `assay_emulators::testing::leftovers`).

use assay_core::{LeftoverKind, LocalBackend};
use assay_driver_spanner::SpannerDriver;
use assay_emulators::testing::leftovers::{
    only_run_shaped_leftovers_are_listed_and_removed, CreationTime, LeftoverShape,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_run_shaped_tables_are_listed_and_removed() {
    let shape = LeftoverShape {
        backend: LocalBackend::SpannerEmulator,
        kind: LeftoverKind::Table,
        physical: |namespace| format!("{namespace}_kv"),
        created: CreationTime::Unknown,
    };
    only_run_shaped_leftovers_are_listed_and_removed(shape, |endpoint, config| async move {
        SpannerDriver::connect(&endpoint, config).await
    })
    .await;
}
