//! The compare: digests of key-hash buckets on both sides, bisected only into the buckets
//! that differ, down to the rows of small differing buckets, which are diffed row by row
//! (missing on one side, or changed in named columns); then, on request, a recheck of
//! only the differing keys after a pause.
//!
//! Passes (each one call per side, both sides at once):
//! 1. level-1 digests of every row (4096 buckets); the counts of both sides come from it;
//! 2. for each differing bucket with more than `leaf_rows` rows on a side: digests of its
//!    4096 sub-buckets (at most `parents_per_pass` parents per pass), level by level;
//! 3. the rows of the differing small buckets, at most `rows_per_pass` per side per pass;
//! 4. with `recheck_after`: the differing keys again, read by key.
//!
//! Memory is bounded by the options, not by the table: digests of at most
//! `parents_per_pass × 4096` buckets, rows of one pass, and `keep` differences.

use assay_core::verify::digest::{Bucket, BucketSet, Digest, Digests, MAX_LEVEL};
use assay_core::verify::value::{decode_all, decode_one};
use assay_core::verify::{CanonicalRow, SidePlan, TableSource, Value, VerifyError};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Bounds and knobs of one compare.
#[derive(Clone, Debug)]
pub struct Options {
    /// A differing bucket with at most this many rows on each side is diffed row by row;
    /// a bigger one is split into its 4096 sub-buckets first.
    pub leaf_rows: u64,
    /// Rows per side one row pass may fetch (several small buckets share a pass).
    pub rows_per_pass: u64,
    /// Differing buckets one digest pass splits.
    pub parents_per_pass: usize,
    /// How many differences to show.
    pub first: usize,
    /// Re-read the differing keys after this pause and keep only those still different.
    pub recheck_after: Option<Duration>,
    /// Differences remembered for the recheck (beyond: counted, not rechecked).
    pub keep: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            leaf_rows: 4096,
            rows_per_pass: 200_000,
            parents_per_pass: 256,
            first: 10,
            recheck_after: None,
            keep: 100_000,
        }
    }
}

/// Keys per `rows_by_key` call during the recheck.
const RECHECK_BATCH: usize = 1000;

/// One side of the compare.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub source: &'a dyn TableSource,
    pub plan: &'a SidePlan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    MissingInTarget,
    MissingInSource,
    Changed,
}

impl DiffKind {
    pub fn text(self) -> &'static str {
        match self {
            DiffKind::MissingInTarget => "missing in target",
            DiffKind::MissingInSource => "missing in source",
            DiffKind::Changed => "changed",
        }
    }
}

/// One column that differs, with both values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnChange {
    pub column: String,
    pub source: Value,
    pub target: Value,
}

/// One row that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The key columns' values, key order.
    pub key: Vec<Value>,
    pub kind: DiffKind,
    /// For `Changed`: the columns that differ, canonical order.
    pub columns: Vec<ColumnChange>,
}

impl Difference {
    fn cmp_key(&self, other: &Difference) -> Ordering {
        cmp_keys(&self.key, &other.key)
    }
}

fn cmp_keys(a: &[Value], b: &[Value]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.cmp_canonical(y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| a.len().cmp(&b.len()))
}

/// How many rows differ, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub missing_in_target: u64,
    pub missing_in_source: u64,
    pub changed: u64,
}

impl Totals {
    pub fn total(&self) -> u64 {
        self.missing_in_target + self.missing_in_source + self.changed
    }

    fn add(&mut self, kind: DiffKind) {
        match kind {
            DiffKind::MissingInTarget => self.missing_in_target += 1,
            DiffKind::MissingInSource => self.missing_in_source += 1,
            DiffKind::Changed => self.changed += 1,
        }
    }
}

/// One level of the bisection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LevelStats {
    pub level: u8,
    /// Buckets with rows on either side.
    pub ranges_compared: u64,
    pub ranges_differing: u64,
}

/// What the recheck found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RecheckStats {
    #[serde(serialize_with = "seconds")]
    pub after: Duration,
    /// Differing keys read again.
    pub rechecked: u64,
    /// Of those, equal on the second look.
    pub cleared: u64,
    /// Differences beyond `keep`, counted as still different without a second look.
    pub not_rechecked: u64,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What a compare found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub source_rows: u64,
    pub target_rows: u64,
    pub levels: Vec<LevelStats>,
    /// Row passes, and the rows they fetched from both sides together.
    pub row_passes: u64,
    pub rows_compared: u64,
    pub totals: Totals,
    /// The first differences by key order (at most `Options::first`).
    pub first: Vec<Difference>,
    pub recheck: Option<RecheckStats>,
}

impl Outcome {
    pub fn equal(&self) -> bool {
        self.totals.total() == 0
    }
}

/// What the compare remembers of the differences it finds, within its bounds.
struct Found {
    totals: Totals,
    first: Vec<Difference>,
    kept: Vec<Difference>,
    first_limit: usize,
    keep: usize,
}

impl Found {
    fn new(opts: &Options, keep: usize) -> Found {
        Found {
            totals: Totals::default(),
            first: Vec::new(),
            kept: Vec::new(),
            first_limit: opts.first,
            keep,
        }
    }

    fn add(&mut self, d: Difference) {
        self.totals.add(d.kind);
        if self.kept.len() < self.keep {
            self.kept.push(d.clone());
        }
        let at = self
            .first
            .binary_search_by(|x| x.cmp_key(&d))
            .unwrap_or_else(|i| i);
        if at < self.first_limit {
            self.first.insert(at, d);
            self.first.truncate(self.first_limit);
        }
    }
}

/// Compares the table of `source` with that of `target`. `progress` gets a line per pass.
pub async fn compare(
    source: Side<'_>,
    target: Side<'_>,
    opts: &Options,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Outcome, VerifyError> {
    let names: Vec<String> = source.plan.columns.iter().map(|c| c.name.clone()).collect();
    futures::try_join!(
        source.source.prepare(source.plan),
        target.source.prepare(target.plan)
    )?;
    let all = BucketSet::all();
    let mut pass_started = std::time::Instant::now();
    let (a, b) = futures::try_join!(
        source.source.digests(source.plan, &all),
        target.source.digests(target.plan, &all)
    )?;
    let count = |d: &Digests| d.values().map(|x| x.rows).sum::<u64>();
    let (source_rows, target_rows) = (count(&a), count(&b));
    progress(format!(
        "rows: source {source_rows}, target {target_rows}; digests of 4096 key-hash ranges in {:.2} s",
        pass_started.elapsed().as_secs_f64()
    ));
    let mut levels = Vec::new();
    let mut leaves: Vec<(Bucket, u64)> = Vec::new();
    let mut split = classify(1, &a, &b, opts, &mut levels, &mut leaves);
    drop((a, b));
    // Bisect, a level at a time, only into the buckets that differ.
    while let Some(level) = split.first().map(|b| b.level + 1) {
        pass_started = std::time::Instant::now();
        let (mut da, mut db) = (Digests::new(), Digests::new());
        for parents in split.chunks(opts.parents_per_pass.max(1)) {
            let within = BucketSet::new(level - 1, parents.iter().copied());
            let (pa, pb) = futures::try_join!(
                source.source.digests(source.plan, &within),
                target.source.digests(target.plan, &within)
            )?;
            da.extend(pa);
            db.extend(pb);
        }
        progress(format!(
            "level {level}: {} range(s) split into {} sub-range(s) in {:.2} s",
            split.len(),
            da.keys().chain(db.keys()).collect::<HashSet<_>>().len(),
            pass_started.elapsed().as_secs_f64()
        ));
        split = classify(level, &da, &db, opts, &mut levels, &mut leaves);
    }
    // The rows of the small differing buckets, a pass at a time.
    let mut found = Found::new(
        opts,
        if opts.recheck_after.is_some() {
            opts.keep
        } else {
            0
        },
    );
    let (mut row_passes, mut rows_compared) = (0u64, 0u64);
    pass_started = std::time::Instant::now();
    for pass in row_passes_of(leaves, opts.rows_per_pass) {
        let (ra, rb) = futures::try_join!(
            source.source.rows(source.plan, &pass),
            target.source.rows(target.plan, &pass)
        )?;
        row_passes += 1;
        rows_compared += (ra.len() + rb.len()) as u64;
        for d in diff_rows(ra, rb, &names)? {
            found.add(d);
        }
    }
    if row_passes > 0 {
        progress(format!(
            "{rows_compared} row(s) diffed in {row_passes} pass(es) in {:.2} s: {} differ",
            pass_started.elapsed().as_secs_f64(),
            found.totals.total()
        ));
    }
    let mut outcome = Outcome {
        source_rows,
        target_rows,
        levels,
        row_passes,
        rows_compared,
        totals: found.totals,
        first: found.first.clone(),
        recheck: None,
    };
    if let (Some(after), false) = (opts.recheck_after, outcome.equal()) {
        recheck(
            source,
            target,
            opts,
            after,
            found,
            &names,
            &mut outcome,
            progress,
        )
        .await?;
    }
    Ok(outcome)
}

/// Sorts the differing buckets of one level into leaves (diffed row by row) and those to
/// split further; records the level's figures.
fn classify(
    level: u8,
    a: &Digests,
    b: &Digests,
    opts: &Options,
    levels: &mut Vec<LevelStats>,
    leaves: &mut Vec<(Bucket, u64)>,
) -> Vec<Bucket> {
    let mut buckets: Vec<Bucket> = a.keys().chain(b.keys()).copied().collect();
    buckets.sort_unstable();
    buckets.dedup();
    let mut split = Vec::new();
    let mut differing = 0u64;
    let none = Digest::default();
    for bucket in &buckets {
        let (x, y) = (
            a.get(bucket).unwrap_or(&none),
            b.get(bucket).unwrap_or(&none),
        );
        if x == y {
            continue;
        }
        differing += 1;
        let rows = x.rows.max(y.rows);
        if rows <= opts.leaf_rows || level >= MAX_LEVEL {
            leaves.push((*bucket, rows));
        } else {
            split.push(*bucket);
        }
    }
    levels.push(LevelStats {
        level,
        ranges_compared: buckets.len() as u64,
        ranges_differing: differing,
    });
    split
}

/// Leaf buckets grouped into passes of one level each, at most `budget` rows per side per
/// pass (a bucket bigger than the budget gets a pass of its own).
fn row_passes_of(mut leaves: Vec<(Bucket, u64)>, budget: u64) -> Vec<BucketSet> {
    leaves.sort_unstable();
    let mut passes = Vec::new();
    let mut current: Vec<Bucket> = Vec::new();
    let mut rows = 0u64;
    for (bucket, n) in leaves {
        let other_level = current.first().is_some_and(|b| b.level != bucket.level);
        if !current.is_empty() && (other_level || rows + n > budget) {
            let level = current[0].level;
            passes.push(BucketSet::new(level, std::mem::take(&mut current)));
            rows = 0;
        }
        current.push(bucket);
        rows += n;
    }
    if let Some(first) = current.first() {
        passes.push(BucketSet::new(first.level, current));
    }
    passes
}

fn decode_value(enc: &str) -> Value {
    match decode_one(enc) {
        Ok((v, "")) => v,
        _ => Value::Text(enc.to_string()),
    }
}

fn decode_key(enc: &str) -> Vec<Value> {
    decode_all(enc).unwrap_or_else(|_| vec![Value::Text(enc.to_string())])
}

fn duplicate(side: &str, key: &str) -> VerifyError {
    let shown: Vec<String> = decode_key(key).iter().map(Value::display).collect();
    VerifyError::input(format!(
        "--key: the key is not unique on the {side}: ({}) appears more than once; name a unique key with --key COL[,COL]",
        shown.join(", ")
    ))
}

/// The differences between the same buckets' rows of both sides.
pub fn diff_rows(
    source: Vec<CanonicalRow>,
    target: Vec<CanonicalRow>,
    names: &[String],
) -> Result<Vec<Difference>, VerifyError> {
    let mut by_key: HashMap<String, Vec<String>> = HashMap::with_capacity(target.len());
    for row in target {
        if by_key.contains_key(&row.key) {
            return Err(duplicate("target", &row.key));
        }
        by_key.insert(row.key, row.columns);
    }
    let mut seen: HashSet<String> = HashSet::with_capacity(source.len());
    let mut out = Vec::new();
    for row in source {
        if !seen.insert(row.key.clone()) {
            return Err(duplicate("source", &row.key));
        }
        match by_key.remove(&row.key) {
            None => out.push(Difference {
                key: decode_key(&row.key),
                kind: DiffKind::MissingInTarget,
                columns: Vec::new(),
            }),
            Some(theirs) if theirs != row.columns => {
                let columns = row
                    .columns
                    .iter()
                    .zip(&theirs)
                    .zip(names)
                    .filter(|((a, b), _)| a != b)
                    .map(|((a, b), name)| ColumnChange {
                        column: name.clone(),
                        source: decode_value(a),
                        target: decode_value(b),
                    })
                    .collect();
                out.push(Difference {
                    key: decode_key(&row.key),
                    kind: DiffKind::Changed,
                    columns,
                });
            }
            Some(_) => {}
        }
    }
    // What is left was only on the target; sorted so the output does not depend on hashing.
    let mut rest: BTreeMap<String, ()> = BTreeMap::new();
    rest.extend(by_key.into_keys().map(|k| (k, ())));
    out.extend(rest.into_keys().map(|k| Difference {
        key: decode_key(&k),
        kind: DiffKind::MissingInSource,
        columns: Vec::new(),
    }));
    Ok(out)
}

/// Reads the remembered differing keys again after `after` and keeps only those still
/// different; those beyond `keep` stay counted as they were.
#[allow(clippy::too_many_arguments)]
async fn recheck(
    source: Side<'_>,
    target: Side<'_>,
    opts: &Options,
    after: Duration,
    found: Found,
    names: &[String],
    outcome: &mut Outcome,
    progress: &(dyn Fn(String) + Sync),
) -> Result<(), VerifyError> {
    progress(format!(
        "{} difference(s); rechecking them in {:.1} s",
        found.totals.total(),
        after.as_secs_f64()
    ));
    tokio::time::sleep(after).await;
    let mut still = Found::new(opts, 0);
    let rechecked = found.kept.len() as u64;
    let not_rechecked = found.totals.total() - rechecked;
    // Those not rechecked keep their kind in the totals.
    let mut counted_kept = Totals::default();
    for d in &found.kept {
        counted_kept.add(d.kind);
    }
    let keys: Vec<Vec<Value>> = found.kept.iter().map(|d| d.key.clone()).collect();
    for batch in keys.chunks(RECHECK_BATCH) {
        let (ra, rb) = futures::try_join!(
            source.source.rows_by_key(source.plan, batch),
            target.source.rows_by_key(target.plan, batch)
        )?;
        for d in diff_rows(ra, rb, names)? {
            still.add(d);
        }
    }
    let mut totals = still.totals;
    totals.missing_in_target += found.totals.missing_in_target - counted_kept.missing_in_target;
    totals.missing_in_source += found.totals.missing_in_source - counted_kept.missing_in_source;
    totals.changed += found.totals.changed - counted_kept.changed;
    outcome.recheck = Some(RecheckStats {
        after,
        rechecked,
        cleared: rechecked - still.totals.total(),
        not_rechecked,
    });
    outcome.totals = totals;
    outcome.first = if not_rechecked == 0 {
        still.first
    } else {
        // The first still-different among those rechecked, and those never rechecked
        // that were among the first before.
        let mut merged = still.first;
        merged.extend(
            found
                .first
                .into_iter()
                .filter(|d| !found.kept.iter().any(|k| k.key == d.key)),
        );
        merged.sort_by(Difference::cmp_key);
        merged.truncate(opts.first);
        merged
    };
    Ok(())
}
