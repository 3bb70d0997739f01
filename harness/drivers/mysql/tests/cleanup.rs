//! `Driver::leftovers` / `remove_leftover` on MariaDB: the run's database is listed with
//! its oldest table's `CREATE_TIME`; databases of any other name are neither listed nor
//! removable and still work after the cleanup (the check every such driver runs:
//! `assay_emulators::testing::leftovers`).

use assay_core::{LeftoverKind, LocalBackend};
use assay_driver_mysql::MysqlDriver;
use assay_emulators::testing::leftovers::{
    only_run_shaped_leftovers_are_listed_and_removed, CreationTime, LeftoverShape,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_run_shaped_databases_are_listed_and_removed() {
    let shape = LeftoverShape {
        backend: LocalBackend::Mysql,
        kind: LeftoverKind::Database,
        physical: |namespace| namespace.to_string(),
        // CREATE_TIME has whole seconds.
        created: CreationTime::Within(2_000),
    };
    only_run_shaped_leftovers_are_listed_and_removed(shape, |endpoint, config| async move {
        MysqlDriver::connect(&endpoint, config).await
    })
    .await;
}
