//! `assay verify`'s PostgreSQL side: [`PgTableSource`], one table read for a compare.
//!
//! Digests are computed server-side: each row's canonical encoding is built in SQL
//! (`verify_sql.rs`), hashed with the server's `md5()`, and summed per key-hash bucket
//! (`GROUP BY left(md5(key), 3·level)`), so a pass sends back at most one row per bucket,
//! never the table. A pass is cut into ranges of the first key column, by its order
//! (an integer key: `min`..`max` in equal steps; any other: boundaries from a
//! `TABLESAMPLE` of keys), run on `parallel` connections at once; their digests add up.
//! Rows of small differing buckets are filtered server-side by the same bucket test.
//!
//! Sessions are read-only (`default_transaction_read_only`), in UTC, with shortest exact
//! float text (`extra_float_digits = 1`) and ISO dates, since the encodings depend on it.

use crate::classify::{self, Phase};
use crate::verify_sql::{concat, key_literal, natural_kind, quote_ident, quote_table, Dialect};
use assay_core::verify::digest::{Bucket, BucketSet, Digest, Digests};
use assay_core::verify::{
    CanonicalRow, ShapeColumn, SidePlan, SourceStats, TableShape, TableSource, Value, VerifyError,
};
use assay_core::Endpoint;
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bound on the first connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on one query (one range of one pass); a table so big that a sixteenth of it
/// takes longer wants more `--parallel`.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Ranges per connection in a pass, so a slow range does not leave the others idle (more
/// cost more: each range is an index range scan and its own aggregate).
const RANGES_PER_CONNECTION: usize = 2;
/// Pages a key sample reads (text keys' range boundaries).
const SAMPLE_PAGES: f64 = 64.0;
/// Keys a sample keeps at most.
const SAMPLE_LIMIT: i64 = 100_000;

/// A range of the first key column: `lo <= k < hi` (`None`: unbounded), as text the
/// column's type reads.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Range {
    lo: Option<String>,
    hi: Option<String>,
}

pub struct PgTableSource {
    pool: PgPool,
    addr: String,
    parallel: usize,
    dialect: Dialect,
    ranges: tokio::sync::Mutex<Option<Arc<Vec<Range>>>>,
    /// Rows in the table, once the first pass has counted them.
    table_rows: AtomicU64,
    stats: Mutex<SourceStats>,
}

impl PgTableSource {
    /// Connects to a PostgreSQL endpoint with up to `parallel` connections.
    pub async fn connect(endpoint: &Endpoint, parallel: usize) -> Result<Self, VerifyError> {
        let Endpoint::Postgres { url, .. } = endpoint else {
            return Err(VerifyError::input(format!(
                "the postgres side cannot read a {} endpoint ({})",
                endpoint.family(),
                endpoint.display_safe()
            )));
        };
        if let Some(why) = crate::security::unreadable_ca_file(url.expose()) {
            return Err(VerifyError::input(format!("postgres: {why}")));
        }
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|e| {
                VerifyError::input(format!("postgres: the target's url does not parse: {e}"))
            })?
            .application_name("assay-verify")
            .options([
                ("default_transaction_read_only", "on".to_string()),
                ("TimeZone", "UTC".to_string()),
                ("extra_float_digits", "1".to_string()),
                ("DateStyle", "ISO".to_string()),
                (
                    "statement_timeout",
                    format!("{}ms", STATEMENT_TIMEOUT.as_millis()),
                ),
                // Assay runs the ranges in parallel itself; the server's own workers on
                // top only crowd the CPUs. Room to hash-aggregate 4096 buckets in memory.
                ("max_parallel_workers_per_gather", "0".to_string()),
                ("work_mem", "64MB".to_string()),
            ]);
        let addr = format!("{}:{}", options.get_host(), options.get_port());
        let mut first = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(VerifyError::backend(
                    classify::connect_error(&e, "server", &addr).message,
                ))
            }
            Err(_) => {
                return Err(VerifyError::backend(
                    classify::connect_timeout_error("server", &addr, CONNECT_TIMEOUT).message,
                ))
            }
        };
        let facts = sqlx::query(
            "SELECT current_setting('server_encoding'), current_setting('server_version_num')::int",
        )
        .fetch_one(&mut first)
        .await
        .map_err(|e| backend(&e, &addr))?;
        let encoding: String = facts.try_get(0).map_err(|e| backend(&e, &addr))?;
        let version: i32 = facts.try_get(1).map_err(|e| backend(&e, &addr))?;
        let _ = first.close().await;
        let parallel = parallel.max(1);
        let pool = PgPoolOptions::new()
            .max_connections(u32::try_from(parallel).unwrap_or(u32::MAX))
            .acquire_timeout(Duration::from_secs(60))
            .connect_lazy_with(options);
        Ok(PgTableSource {
            pool,
            addr,
            parallel,
            dialect: Dialect {
                utf8: encoding.eq_ignore_ascii_case("UTF8"),
                trim_scale: version >= 130_000,
                exact_extract: version >= 140_000,
            },
            ranges: tokio::sync::Mutex::new(None),
            table_rows: AtomicU64::new(0),
            stats: Mutex::new(SourceStats::default()),
        })
    }

    fn account(&self, started: Instant, requests: u64, scanned: u64, fetched: u64) {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        s.busy += started.elapsed();
        s.requests += requests;
        s.rows_scanned += scanned;
        s.rows_fetched += fetched;
    }

    /// The ranges a pass is cut into (found once per table).
    async fn ranges(&self, plan: &SidePlan) -> Result<(Arc<Vec<Range>>, u64), VerifyError> {
        let mut cached = self.ranges.lock().await;
        if let Some(r) = cached.as_ref() {
            return Ok((r.clone(), 0));
        }
        let wanted = self.parallel * RANGES_PER_CONNECTION;
        let key = &plan.key[0];
        let k = quote_ident(&key.path[0]);
        let table = quote_table(&plan.table);
        let typname = key.native_type.as_deref().unwrap_or("text");
        let mut bounds: Vec<String> = Vec::new();
        let mut requests = 1;
        if wanted > 1 && matches!(typname, "int2" | "int4" | "int8") {
            let row = sqlx::query(&format!(
                "SELECT min({k})::int8, max({k})::int8 FROM {table}"
            ))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| backend(&e, &self.addr))?;
            let (lo, hi): (Option<i64>, Option<i64>) =
                (row.try_get(0).ok().flatten(), row.try_get(1).ok().flatten());
            if let (Some(lo), Some(hi)) = (lo, hi) {
                let span = i128::from(hi) - i128::from(lo) + 1;
                let step = (span / wanted as i128).max(1);
                bounds = (1..wanted as i128)
                    .map(|i| i128::from(lo) + i * step)
                    .filter(|b| *b <= i128::from(hi))
                    .map(|b| b.to_string())
                    .collect();
            }
        } else if wanted > 1 {
            requests += 1;
            let pages: Option<i64> = sqlx::query_scalar(
                "SELECT pg_relation_size(to_regclass($1)) / current_setting('block_size')::int8",
            )
            .bind(&table)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| backend(&e, &self.addr))?;
            let percent = match pages {
                Some(p) if p as f64 > SAMPLE_PAGES => SAMPLE_PAGES * 100.0 / p as f64,
                Some(0) | None => 1.0,
                Some(_) => 100.0,
            };
            // A view or a foreign table cannot be sampled: one range then.
            let sample: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT {k}::text FROM {table} TABLESAMPLE SYSTEM ({percent:.6}) ORDER BY {k} LIMIT {SAMPLE_LIMIT}"
            ))
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
            if sample.len() >= wanted {
                bounds = (1..wanted)
                    .map(|i| sample[i * sample.len() / wanted].clone())
                    .collect();
                bounds.dedup();
            }
        }
        let mut ranges = Vec::with_capacity(bounds.len() + 1);
        let mut lo = None;
        for b in bounds {
            ranges.push(Range {
                lo: lo.take(),
                hi: Some(b.clone()),
            });
            lo = Some(b);
        }
        ranges.push(Range { lo, hi: None });
        let ranges = Arc::new(ranges);
        *cached = Some(ranges.clone());
        Ok((ranges, requests))
    }

    /// `WHERE` of one range, its bounds as parameters `$first`, `$first+1`; and the
    /// values to bind.
    fn range_sql(plan: &SidePlan, r: &Range, first: usize) -> (String, Vec<String>) {
        let key = &plan.key[0];
        let k = quote_ident(&key.path[0]);
        let ty = quote_ident(key.native_type.as_deref().unwrap_or("text"));
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        if let Some(lo) = &r.lo {
            conds.push(format!("{k} >= ${}::text::{ty}", first + binds.len()));
            binds.push(lo.clone());
        }
        if let Some(hi) = &r.hi {
            conds.push(format!("{k} < ${}::text::{ty}", first + binds.len()));
            binds.push(hi.clone());
        }
        if conds.is_empty() {
            ("TRUE".into(), binds)
        } else {
            (conds.join(" AND "), binds)
        }
    }

    /// Runs the query `build` makes for every range (`$1`: `hexes` when given, then the
    /// range's bounds), `parallel` at a time; each result row through `each`.
    async fn each_range<T: Send>(
        &self,
        plan: &SidePlan,
        build: impl Fn(&str) -> String,
        hexes: Option<&[String]>,
        each: fn(&PgRow, usize) -> Result<T, VerifyError>,
        arg: usize,
    ) -> Result<(Vec<T>, u64), VerifyError> {
        let (ranges, extra) = self.ranges(plan).await?;
        let first_param = if hexes.is_some() { 2 } else { 1 };
        let queries: Vec<(String, Vec<String>)> = ranges
            .iter()
            .map(|r| {
                let (cond, binds) = Self::range_sql(plan, r, first_param);
                (build(&cond), binds)
            })
            .collect();
        let parts: Vec<Vec<T>> = futures::stream::iter(queries)
            .map(|(sql, binds)| self.run_range(sql, binds, hexes, each, arg))
            .buffer_unordered(self.parallel)
            .try_collect()
            .await?;
        Ok((
            parts.into_iter().flatten().collect(),
            ranges.len() as u64 + extra,
        ))
    }

    async fn run_range<T>(
        &self,
        sql: String,
        binds: Vec<String>,
        hexes: Option<&[String]>,
        each: fn(&PgRow, usize) -> Result<T, VerifyError>,
        arg: usize,
    ) -> Result<Vec<T>, VerifyError> {
        let mut q = sqlx::query(&sql);
        if let Some(h) = hexes {
            q = q.bind(h);
        }
        for b in &binds {
            q = q.bind(b);
        }
        let mut out = Vec::new();
        let mut rows = q.fetch(&self.pool);
        while let Some(row) = rows.try_next().await.map_err(|e| backend(&e, &self.addr))? {
            out.push(each(&row, arg)?);
        }
        Ok(out)
    }
}

fn backend(e: &sqlx::Error, addr: &str) -> VerifyError {
    let (_, message) = classify::classify(e, Phase::Running, addr);
    // A value that does not convert (data exception) is the mapping's to fix.
    if let sqlx::Error::Database(db) = e {
        if db.code().is_some_and(|c| c.starts_with("22")) {
            return VerifyError::input(format!(
                "postgres {addr}: {message}; a column holds values that do not convert to its compared type — set `type` / `*_format` for it in the --map file"
            ));
        }
    }
    VerifyError::backend(format!("postgres {addr}: {message}"))
}

fn decode_err(e: sqlx::Error) -> VerifyError {
    VerifyError::backend(format!("postgres: unexpected result shape: {e}"))
}

#[async_trait]
impl TableSource for PgTableSource {
    fn family(&self) -> &'static str {
        "postgres"
    }

    async fn describe(&self, table: &str) -> Result<TableShape, VerifyError> {
        let started = Instant::now();
        let quoted = quote_table(table);
        let found = sqlx::query(
            "SELECT c.oid::int8, n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
        )
        .bind(&quoted)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend(&e, &self.addr))?;
        let Some(found) = found else {
            return Err(VerifyError::input(format!(
                "--table {table}: no such table at postgres {} (names are case-sensitive; write schema.table for one outside the search path)",
                self.addr
            )));
        };
        let oid: i64 = found.try_get(0).map_err(decode_err)?;
        let name = format!(
            "{}.{}",
            found.try_get::<String, _>(1).map_err(decode_err)?,
            found.try_get::<String, _>(2).map_err(decode_err)?
        );
        let columns: Vec<ShapeColumn> = sqlx::query(
            "SELECT a.attname::text, b.typname::text FROM pg_attribute a \
             JOIN pg_type t ON t.oid = a.atttypid \
             JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
             WHERE a.attrelid = $1::int8::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(oid)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e, &self.addr))?
        .iter()
        .map(|r| {
            let typname: String = r.try_get(1).map_err(decode_err)?;
            Ok(ShapeColumn {
                name: r.try_get(0).map_err(decode_err)?,
                kind: natural_kind(&typname),
                native_type: typname,
            })
        })
        .collect::<Result<_, VerifyError>>()?;
        let key: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1::int8::oid AND i.indisprimary ORDER BY k.ord",
        )
        .bind(oid)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend(&e, &self.addr))?;
        self.account(started, 3, 0, 0);
        Ok(TableShape {
            table: name,
            columns,
            key,
            schemaless: false,
        })
    }

    async fn prepare(&self, plan: &SidePlan) -> Result<(), VerifyError> {
        self.dialect.row(plan).map(|_| ())
    }

    async fn digests(&self, plan: &SidePlan, within: &BucketSet) -> Result<Digests, VerifyError> {
        let started = Instant::now();
        let (key, cols) = self.dialect.row(plan)?;
        let d = self.dialect;
        let width = (usize::from(within.level()) + 1) * 3;
        let filter = if within.is_all() {
            String::new()
        } else {
            format!(
                " WHERE left({}, {}) = ANY($1::text[])",
                d.md5("ke"),
                width - 3
            )
        };
        let build = |cond: &str| {
            format!(
                "SELECT left({kh}, {width}), count(*)::int8, \
                 sum(('x' || left({rh}, 16))::bit(64)::int8)::text \
                 FROM (SELECT {key} AS ke, {ce} AS ce FROM {table} WHERE {cond}) r{filter} GROUP BY 1",
                kh = d.md5("ke"),
                rh = d.md5("ke || ce"),
                ce = concat(&cols),
                table = quote_table(&plan.table),
            )
        };
        let hexes = (!within.is_all()).then(|| within.hexes());
        let (parts, requests) = self
            .each_range(plan, build, hexes.as_deref(), digest_row, 0)
            .await?;
        let mut out = Digests::new();
        for (bucket, digest) in parts {
            out.entry(bucket).or_default().merge(digest);
        }
        if within.is_all() {
            let n = out.values().map(|d| d.rows).sum();
            self.table_rows.store(n, Ordering::Relaxed);
        }
        self.account(
            started,
            requests,
            self.table_rows.load(Ordering::Relaxed),
            0,
        );
        Ok(out)
    }

    async fn rows(
        &self,
        plan: &SidePlan,
        buckets: &BucketSet,
    ) -> Result<Vec<CanonicalRow>, VerifyError> {
        let started = Instant::now();
        let (key, cols) = self.dialect.row(plan)?;
        let d = self.dialect;
        let named: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", {c} AS c{i}"))
            .collect();
        let outer: Vec<String> = (0..cols.len()).map(|i| format!(", c{i}")).collect();
        let build = |cond: &str| {
            format!(
                "SELECT ke{outer} FROM (SELECT {key} AS ke{named} FROM {table} WHERE {cond}) r \
                 WHERE left({kh}, {width}) = ANY($1::text[])",
                outer = outer.concat(),
                named = named.concat(),
                table = quote_table(&plan.table),
                kh = d.md5("ke"),
                width = usize::from(buckets.level()) * 3,
            )
        };
        let hexes = buckets.hexes();
        let n = cols.len();
        let (rows, requests) = self
            .each_range(plan, build, Some(&hexes), canonical, n)
            .await?;
        self.account(
            started,
            requests,
            self.table_rows.load(Ordering::Relaxed),
            rows.len() as u64,
        );
        Ok(rows)
    }

    async fn rows_by_key(
        &self,
        plan: &SidePlan,
        keys: &[Vec<Value>],
    ) -> Result<Vec<CanonicalRow>, VerifyError> {
        let started = Instant::now();
        let (key, cols) = self.dialect.row(plan)?;
        let mut columns: Vec<Vec<Option<String>>> =
            vec![Vec::with_capacity(keys.len()); plan.key.len()];
        for k in keys {
            for (i, v) in k.iter().enumerate().take(plan.key.len()) {
                columns[i].push(key_literal(v));
            }
        }
        let names: Vec<String> = (0..plan.key.len()).map(|i| format!("u{i}")).collect();
        let casts: Vec<String> = plan
            .key
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "u{i}::{}",
                    quote_ident(c.native_type.as_deref().unwrap_or("text"))
                )
            })
            .collect();
        let key_cols: Vec<String> = plan.key.iter().map(|c| quote_ident(&c.path[0])).collect();
        let params: Vec<String> = (1..=plan.key.len())
            .map(|i| format!("${i}::text[]"))
            .collect();
        let named: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", {c} AS c{i}"))
            .collect();
        let sql = format!(
            "SELECT {key} AS ke{named} FROM {table} WHERE ({kc}) IN \
             (SELECT {casts} FROM unnest({params}) AS u({names}))",
            named = named.concat(),
            table = quote_table(&plan.table),
            kc = key_cols.join(", "),
            casts = casts.join(", "),
            params = params.join(", "),
            names = names.join(", "),
        );
        let mut q = sqlx::query(&sql);
        for c in &columns {
            q = q.bind(c);
        }
        let n = cols.len();
        let rows: Vec<CanonicalRow> = q
            .fetch_all(&self.pool)
            .await
            .map_err(|e| backend(&e, &self.addr))?
            .iter()
            .map(|r| canonical(r, n))
            .collect::<Result<_, _>>()?;
        self.account(started, 1, keys.len() as u64, rows.len() as u64);
        Ok(rows)
    }

    fn stats(&self) -> SourceStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A digest result row `bucket hex, rows, sum`.
fn digest_row(row: &PgRow, _: usize) -> Result<(Bucket, Digest), VerifyError> {
    let hex: String = row.try_get(0).map_err(decode_err)?;
    let rows: i64 = row.try_get(1).map_err(decode_err)?;
    let sum: String = row.try_get(2).map_err(decode_err)?;
    let bucket = Bucket::from_hex(&hex).ok_or_else(|| {
        VerifyError::backend(format!("postgres: bucket {hex:?} is no md5 prefix"))
    })?;
    let sum: i128 = sum
        .parse()
        .map_err(|_| VerifyError::backend(format!("postgres: digest sum {sum:?} is no integer")))?;
    Ok((
        bucket,
        Digest {
            rows: rows as u64,
            sum,
        },
    ))
}

/// A result row `ke, c0, c1, …` as a canonical row.
fn canonical(row: &PgRow, columns: usize) -> Result<CanonicalRow, VerifyError> {
    Ok(CanonicalRow {
        key: row.try_get(0).map_err(decode_err)?,
        columns: (1..=columns)
            .map(|i| row.try_get(i).map_err(decode_err))
            .collect::<Result<_, _>>()?,
    })
}
