//! What runs left behind (`Driver::leftovers` / `remove_leftover`) and dropping a schema
//! (also `teardown`'s). A run's objects all live in its schema, so a leftover is a schema.
//!
//! PostgreSQL keeps no creation time for a schema; `setup` writes one as the schema's
//! comment (`COMMENT ON SCHEMA … IS 'assay created <unix ms>'`, `assay_core::cleanup`'s
//! mark) and this reads it back. A schema without the mark (made by an Assay before the
//! mark, or by the `.slt` and isolation runners' per-file schemas) is of unknown age.

use crate::classify::{self, Phase};
use crate::naming::{like_prefix_pattern, quote_identifier};
use crate::{ddl_error, PostgresDriver, ACQUIRE_TIMEOUT, DDL_TIMEOUT};
use assay_core::cleanup::{check_removable, is_leftover_name, parse_creation_mark};
use assay_core::{DriverError, Leftover, LeftoverKind};
use sqlx::{Connection, Row};

/// Schemas starting with `prefix` of a run namespace's shape, with the creation time
/// setup wrote on each.
pub(crate) async fn leftovers(
    driver: &PostgresDriver,
    prefix: &str,
) -> Result<Vec<Leftover>, DriverError> {
    let addr = &driver.primary.addr;
    let listing = sqlx::query(
        "SELECT n.nspname::text, pg_catalog.obj_description(n.oid, 'pg_namespace') \
         FROM pg_catalog.pg_namespace n WHERE n.nspname LIKE $1 ESCAPE '\\' ORDER BY 1",
    )
    .bind(like_prefix_pattern(prefix))
    .fetch_all(&driver.primary.pool);
    let bound = ACQUIRE_TIMEOUT + DDL_TIMEOUT;
    let rows = tokio::time::timeout(bound, listing)
        .await
        .map_err(|_| {
            DriverError::unavailable(format!(
                "listing the schemas at {addr} did not finish within {bound:?}"
            ))
        })?
        .map_err(|e| ddl_error(&e, "listing the schemas", addr))?;
    let mut found = Vec::new();
    for row in rows {
        let name: String = row
            .try_get(0)
            .map_err(|e| ddl_error(&e, "listing the schemas", addr))?;
        let comment: Option<String> = row
            .try_get(1)
            .map_err(|e| ddl_error(&e, "listing the schemas", addr))?;
        if is_leftover_name(&name, prefix) {
            let created = comment.as_deref().and_then(parse_creation_mark);
            found.push(Leftover::new(name, LeftoverKind::Schema, created));
        }
    }
    Ok(found)
}

pub(crate) async fn remove(
    driver: &PostgresDriver,
    leftover: &Leftover,
) -> Result<(), DriverError> {
    check_removable(leftover).map_err(DriverError::config)?;
    if leftover.kind != LeftoverKind::Schema {
        return Err(DriverError::config(format!(
            "`{}` is a {}; the postgres driver leaves only schemas behind",
            leftover.name, leftover.kind
        )));
    }
    drop_schema(driver, &leftover.name, "cleanup").await
}

/// `DROP SCHEMA IF EXISTS … CASCADE` in a transaction with the DDL statement bound, the
/// whole bounded by the acquire wait plus that bound.
pub(crate) async fn drop_schema(
    driver: &PostgresDriver,
    schema: &str,
    what: &str,
) -> Result<(), DriverError> {
    let addr = &driver.primary.addr;
    let drop_schema = async {
        let mut conn = driver.primary.pool.acquire().await.map_err(|e| {
            DriverError::unavailable(classify::classify(&e, Phase::Acquire, addr).1)
        })?;
        let failed = |e: sqlx::Error| ddl_error(&e, what, addr);
        let mut tx = conn.begin().await.map_err(failed)?;
        sqlx::query(&format!(
            "SET LOCAL statement_timeout = '{}ms'",
            DDL_TIMEOUT.as_millis()
        ))
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        sqlx::query(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_identifier(schema)
        ))
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)
    };
    let bound = ACQUIRE_TIMEOUT + DDL_TIMEOUT;
    tokio::time::timeout(bound, drop_schema)
        .await
        .map_err(|_| {
            DriverError::unavailable(format!("{what} at {addr} did not finish within {bound:?}"))
        })?
}
