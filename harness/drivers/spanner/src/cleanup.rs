//! What runs left behind (`Driver::leftovers` / `remove_leftover`): tables of the target
//! database named `<namespace>_<table>` (also native steps' `<namespace>_…`), interleaved
//! children listed before their parents so they can be dropped in list order.
//!
//! Neither Spanner's `information_schema` nor the emulator keeps a table's creation time,
//! so every Spanner leftover is of unknown age (`assay cleanup` removes those only with
//! `--older-than 0s`).

use crate::connection::SpannerDriver;
use crate::layout;
use crate::objects::NativeObject;
use crate::schema::{list_tables, query_strings, update_ddl};
use assay_core::cleanup::{check_removable, is_leftover_name};
use assay_core::{DriverError, Leftover, LeftoverKind};
use gcloud_spanner::statement::Statement;
use std::collections::BTreeMap;

pub(crate) async fn leftovers(
    driver: &SpannerDriver,
    prefix: &str,
) -> Result<Vec<Leftover>, DriverError> {
    let names: Vec<String> = list_tables(driver)
        .await?
        .into_iter()
        .filter(|n| is_leftover_name(n, prefix))
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    // `child parent` pairs (table names hold no spaces).
    let pairs = query_strings(
        driver,
        Statement::new(
            "SELECT CONCAT(table_name, ' ', parent_table_name) FROM information_schema.tables \
             WHERE table_catalog = '' AND table_schema = '' AND parent_table_name IS NOT NULL",
        ),
        "interleaved tables",
    )
    .await?;
    let parents: BTreeMap<String, String> = pairs
        .iter()
        .filter_map(|p| p.split_once(' '))
        .map(|(c, p)| (c.to_string(), p.to_string()))
        .collect();
    // Depth in the interleaving tree, bounded by the number of tables (no cycles exist,
    // but a bad answer must not loop).
    let depth = |name: &str| {
        let mut d = 0;
        let mut at = name;
        while let Some(parent) = parents.get(at) {
            d += 1;
            at = parent;
            if d > parents.len() {
                break;
            }
        }
        d
    };
    let mut ordered: Vec<(usize, String)> = names.into_iter().map(|n| (depth(&n), n)).collect();
    ordered.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(ordered
        .into_iter()
        .map(|(_, n)| Leftover::new(n, LeftoverKind::Table, None))
        .collect())
}

/// Drops the table's secondary indexes and then the table, in one schema change; gone
/// already is fine.
pub(crate) async fn remove(driver: &SpannerDriver, leftover: &Leftover) -> Result<(), DriverError> {
    check_removable(leftover).map_err(DriverError::config)?;
    if leftover.kind != LeftoverKind::Table {
        return Err(DriverError::config(format!(
            "`{}` is a {}; the spanner driver leaves only tables behind",
            leftover.name, leftover.kind
        )));
    }
    let exists = list_tables(driver)
        .await?
        .iter()
        .any(|t| t.eq_ignore_ascii_case(&leftover.name));
    if !exists {
        return Ok(());
    }
    let mut indexes = Statement::new(
        "SELECT index_name FROM information_schema.indexes \
         WHERE table_catalog = '' AND table_schema = '' AND index_type = 'INDEX' \
         AND table_name = @table",
    );
    indexes.add_param("table", &leftover.name);
    let mut statements: Vec<String> = query_strings(driver, indexes, "indexes")
        .await?
        .into_iter()
        .map(|i| NativeObject::Index(i).drop_ddl())
        .collect();
    statements.push(layout::drop_table_ddl(&leftover.name));
    update_ddl(driver, statements, &format!("drop `{}`", leftover.name)).await
}
