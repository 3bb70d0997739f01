//! What runs left behind (`Driver::leftovers` / `remove_leftover`). A run's tables all
//! live in its database (and a native check's in a sibling `<ns>_<suffix>`), so a leftover
//! is a database.
//!
//! MySQL and MariaDB keep no creation time for a database; its age is that of its oldest
//! table (`information_schema.TABLES.CREATE_TIME`, converted by the server from its session
//! time zone with `UNIX_TIMESTAMP`). A database without tables (a run killed between
//! `CREATE DATABASE` and its first table) is of unknown age.

use crate::classify::{self, Phase};
use crate::naming::{quote_identifier, LIKE_ESCAPE};
use crate::{ddl_error, MysqlDriver, ACQUIRE_TIMEOUT, DDL_TIMEOUT};
use assay_core::cleanup::{check_removable, is_leftover_name};
use assay_core::{DriverError, Leftover, LeftoverKind};
use sqlx::Row;

pub(crate) async fn leftovers(
    driver: &MysqlDriver,
    prefix: &str,
) -> Result<Vec<Leftover>, DriverError> {
    let addr = &driver.addr;
    let sql = format!(
        "SELECT CAST(s.SCHEMA_NAME AS CHAR), CAST(UNIX_TIMESTAMP(MIN(t.CREATE_TIME)) AS SIGNED) \
         FROM information_schema.SCHEMATA s \
         LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME \
         WHERE s.SCHEMA_NAME LIKE ? ESCAPE '{LIKE_ESCAPE}' \
         GROUP BY s.SCHEMA_NAME ORDER BY 1"
    );
    let work = async {
        let mut lease = driver.admin.acquire().await.map_err(|e| {
            DriverError::unavailable(classify::classify(&e, Phase::Acquire, addr).1)
        })?;
        let rows = sqlx::query(&sql)
            .bind(crate::naming::like_prefix_pattern(prefix))
            .fetch_all(&mut *lease.conn())
            .await
            .map_err(|e| ddl_error(&e, "listing the databases", addr))?;
        lease.release(true);
        let mut found = Vec::new();
        for row in rows {
            let name: String = row
                .try_get(0)
                .map_err(|e| ddl_error(&e, "listing the databases", addr))?;
            let created_s: Option<i64> = row
                .try_get(1)
                .map_err(|e| ddl_error(&e, "listing the databases", addr))?;
            if is_leftover_name(&name, prefix) {
                let created = created_s
                    .and_then(|s| u64::try_from(s).ok())
                    .map(|s| s * 1000);
                found.push(Leftover::new(name, LeftoverKind::Database, created));
            }
        }
        Ok(found)
    };
    let bound = ACQUIRE_TIMEOUT + DDL_TIMEOUT;
    tokio::time::timeout(bound, work).await.map_err(|_| {
        DriverError::unavailable(format!(
            "listing the databases at {addr} did not finish within {bound:?}"
        ))
    })?
}

pub(crate) async fn remove(driver: &MysqlDriver, leftover: &Leftover) -> Result<(), DriverError> {
    check_removable(leftover).map_err(DriverError::config)?;
    if leftover.kind != LeftoverKind::Database {
        return Err(DriverError::config(format!(
            "`{}` is a {}; the mysql driver leaves only databases behind",
            leftover.name, leftover.kind
        )));
    }
    driver
        .admin_sql(
            "cleanup",
            &[format!(
                "DROP DATABASE IF EXISTS {}",
                quote_identifier(&leftover.name)
            )],
        )
        .await
        .map_err(|e| e.error)
}
