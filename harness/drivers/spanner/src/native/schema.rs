//! Schema features: interleaved tables with `ON DELETE CASCADE`, and secondary indexes
//! that answer exactly like a scan of the base table.

use super::{column, CheckResult, Ctx, Failed, TxError};
use assay_core::NativeOutcome;
use gcloud_spanner::key::Key;
use gcloud_spanner::mutation::{delete, insert};
use gcloud_spanner::statement::Statement;

/// Inserts parents `p1`, `p2` with `children` interleaved rows each, deletes `p1`, and
/// expects its children gone from the child table and from the child's index while
/// `p2`'s stay.
///
/// Params: `ddl`, `parent` (columns `pid STRING`, `name STRING`, key `pid`), `child`
/// (columns `pid STRING`, `cid INT64`, `tag STRING`, key `(pid, cid)`, interleaved in
/// `parent` with `ON DELETE CASCADE`), `index` (on `child(tag)`), `children` (5).
pub(super) async fn interleave_cascade(ctx: &Ctx<'_>) -> CheckResult {
    let parent = ctx.name_param("parent")?;
    let child = ctx.name_param("child")?;
    let index = ctx.name_param("index")?;
    let children = ctx.params.count("children");
    ctx.create_schema().await?;

    let (p, c) = (parent.clone(), child.clone());
    ctx.read_write(move |tx| {
        let mut ms = Vec::new();
        for pid in ["p1", "p2"] {
            let pid = pid.to_string();
            ms.push(insert(
                &p,
                &["pid", "name"],
                &[&pid, &format!("parent {pid}")],
            ));
            for cid in 0..children as i64 {
                ms.push(insert(
                    &c,
                    &["pid", "cid", "tag"],
                    &[&pid, &cid, &format!("t{}", cid % 3)],
                ));
            }
        }
        Box::pin(async move {
            tx.buffer_write(ms);
            Ok::<_, TxError>(())
        })
    })
    .await?;
    let before = count_children(ctx, &child, "p1").await?;

    let p = parent.clone();
    ctx.read_write(move |tx| {
        let m = delete(&p, Key::new(&"p1".to_string()));
        Box::pin(async move {
            tx.buffer_write(vec![m]);
            Ok::<_, TxError>(())
        })
    })
    .await?;

    let left = count_children(ctx, &child, "p1").await?;
    let kept = count_children(ctx, &child, "p2").await?;
    let mut through_index = Vec::new();
    for tag in ["t0", "t1", "t2"] {
        let mut stmt = Statement::new(format!(
            "SELECT pid, cid FROM `{child}`@{{FORCE_INDEX=`{index}`}} WHERE tag = @tag"
        ));
        stmt.add_param("tag", &tag.to_string());
        for row in ctx.query(stmt).await? {
            let pid: String = column(&row, 0, "pid")?;
            let cid: i64 = column(&row, 1, "cid")?;
            through_index.push((pid, cid));
        }
    }
    let left_in_index = through_index.iter().filter(|(p, _)| p == "p1").count() as i64;
    let kept_in_index = through_index.iter().filter(|(p, _)| p == "p2").count() as i64;
    let n = children as i64;
    let ok = before == n && left == 0 && left_in_index == 0 && kept == n && kept_in_index == n;
    let observed = format!(
        "deleting parent p1 (which had {before} interleaved children) left {left} of its children \
         in the child table and {left_in_index} in index `{index}`; the other parent kept {kept} \
         (index: {kept_in_index}) of {n}"
    );
    Ok(NativeOutcome::expect(ok, observed))
}

async fn count_children(ctx: &Ctx<'_>, child: &str, pid: &str) -> Result<i64, Failed> {
    let mut stmt = Statement::new(format!("SELECT COUNT(*) FROM `{child}` WHERE pid = @pid"));
    stmt.add_param("pid", &pid.to_string());
    let rows = ctx.query(stmt).await?;
    match rows.first() {
        Some(row) => Ok(column(row, 0, "COUNT(*)")?),
        None => Err(Failed::Error("COUNT(*) returned no row".to_string())),
    }
}

/// A filtered row of the index-vs-scan check.
type Scored = (i64, String, i64);

/// Writes `rows` rows, then runs the same predicates through the secondary index
/// (`FORCE_INDEX`) and as a base-table scan (`FORCE_INDEX=_BASE_TABLE`): the results
/// must be identical.
///
/// Params: `ddl`, `table` (columns `id INT64`, `cat STRING`, `score INT64`, key `id`),
/// `index` (on `table(cat)`), `rows` (200).
pub(super) async fn index_vs_scan(ctx: &Ctx<'_>) -> CheckResult {
    let table = ctx.name_param("table")?;
    let index = ctx.name_param("index")?;
    let rows = ctx.params.count("rows");
    ctx.create_schema().await?;

    let t = table.clone();
    ctx.read_write(move |tx| {
        let ms = (0..rows as i64)
            .map(|id| {
                insert(
                    &t,
                    &["id", "cat", "score"],
                    &[&id, &format!("c{}", (id * 7) % 5), &((id * 37) % 101)],
                )
            })
            .collect();
        Box::pin(async move {
            tx.buffer_write(ms);
            Ok::<_, TxError>(())
        })
    })
    .await?;

    // Equality on each category, one that matches nothing, and a range.
    let predicates: Vec<(String, Vec<(&str, String)>)> = ["c0", "c1", "c2", "c3", "c4", "c9"]
        .iter()
        .map(|c| ("cat = @a".to_string(), vec![("a", c.to_string())]))
        .chain(std::iter::once((
            "cat >= @a AND cat < @b".to_string(),
            vec![("a", "c1".to_string()), ("b", "c3".to_string())],
        )))
        .collect();
    let mut mismatches = Vec::new();
    let mut compared_rows = 0usize;
    for (predicate, params) in &predicates {
        let via_index = filtered(ctx, &table, &format!("`{index}`"), predicate, params).await?;
        let via_scan = filtered(ctx, &table, "_BASE_TABLE", predicate, params).await?;
        compared_rows += via_scan.len();
        if via_index != via_scan {
            let shown: Vec<String> = params.iter().map(|(k, v)| format!("@{k}={v}")).collect();
            mismatches.push(format!(
                "WHERE {predicate} ({}): index returned {} rows, scan {} rows",
                shown.join(", "),
                via_index.len(),
                via_scan.len()
            ));
        }
    }
    let observed = if mismatches.is_empty() {
        format!(
            "{} predicates over {rows} rows: index `{index}` and the base-table scan returned the \
             same {compared_rows} rows",
            predicates.len()
        )
    } else {
        format!(
            "{} of {} predicates returned different rows through index `{index}` than through a \
             base-table scan",
            mismatches.len(),
            predicates.len()
        )
    };
    let mut outcome = NativeOutcome::expect(mismatches.is_empty(), observed)
        .with_counter("rows_compared", compared_rows as f64);
    for m in mismatches {
        outcome = outcome.with_evidence(m);
    }
    Ok(outcome)
}

async fn filtered(
    ctx: &Ctx<'_>,
    table: &str,
    force_index: &str,
    predicate: &str,
    params: &[(&str, String)],
) -> Result<Vec<Scored>, Failed> {
    let mut stmt = Statement::new(format!(
        "SELECT id, cat, score FROM `{table}`@{{FORCE_INDEX={force_index}}} WHERE {predicate} \
         ORDER BY id"
    ));
    for (k, v) in params {
        stmt.add_param(k, v);
    }
    let mut out = Vec::new();
    for row in ctx.query(stmt).await? {
        out.push((
            column(&row, 0, "id")?,
            column(&row, 1, "cat")?,
            column(&row, 2, "score")?,
        ));
    }
    Ok(out)
}
