//! `assay verify --source T1 --target T2 --table NAME [--map FILE] [--key COL] [--recheck]`:
//! compares one table's rows between two targets (docs/verify.md). Wiring only: targets
//! are resolved as `assay run` resolves them (the real-endpoint guard first; a stand-in
//! must already be up — `assay emulators up` — since a fresh one holds no data), each side
//! is its driver's `TableSource`, and `assay-verify` matches them up, compares and renders.
//! Exit 0 equal, 1 different, 2 bad input or could not run.

use crate::run::duration_arg;
use crate::targets::guard;
use crate::{
    error_line, status, stdout_is_terminal, workspace_root, EXIT_CANNOT_RUN, EXIT_FAIL, EXIT_PASS,
};
use assay_core::target_file::FileTarget;
use assay_core::verify::{mapping, TableSource};
use assay_core::{Endpoint, Family, TargetSpec};
use assay_verify::{compare, Options, Request, Side, SideInfo};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The target holding the data as it should be (a stand-in that is up, or a targets-file entry).
    #[arg(long)]
    source: String,
    /// The target to check against it.
    #[arg(long)]
    target: String,
    /// The table on both sides (PostgreSQL: schema.table); a --map file may name each side's.
    #[arg(long)]
    table: Option<String>,
    /// A mapping file (TOML, docs/verify.md): the key, columns ↔ attribute paths, how each side stores them.
    #[arg(long = "map", value_name = "FILE")]
    map: Option<PathBuf>,
    /// The key column(s) in key order, comma-separated (default: the mapping's, else the primary key).
    #[arg(long, value_delimiter = ',', value_name = "COL")]
    key: Vec<String>,
    /// Once differences are found, read only the differing keys again after a pause and report those still different.
    #[arg(long)]
    recheck: bool,
    /// The pause before the recheck (at most 5m).
    #[arg(long, default_value = "2s", value_name = "DUR")]
    recheck_after: String,
    /// Connections per PostgreSQL side, scan segments per DynamoDB side.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
    /// Also write the report as JSON (schema assay.verify/1).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Allow targets whose endpoint is not on this machine (a real service).
    #[arg(long)]
    allow_real: bool,
    /// With --allow-real: go on without asking to confirm (needed without a terminal).
    #[arg(long)]
    yes: bool,
}

/// The longest recheck pause: catching up longer than this is a finding, not a wait.
const MAX_RECHECK_PAUSE: Duration = Duration::from_secs(300);

pub async fn verify_command(args: &VerifyArgs, file_targets: &[FileTarget]) -> u8 {
    match verify(args, file_targets).await {
        Ok(code) => code,
        Err(e) => {
            error_line(e);
            EXIT_CANNOT_RUN
        }
    }
}

async fn verify(args: &VerifyArgs, file_targets: &[FileTarget]) -> Result<u8, String> {
    let recheck_after = match args.recheck {
        false => None,
        true => match duration_arg("--recheck-after", &args.recheck_after, 0.0)? {
            d if d > MAX_RECHECK_PAUSE => {
                return Err(format!(
                    "--recheck-after `{}` is longer than {}s; give it at most 5m",
                    args.recheck_after,
                    MAX_RECHECK_PAUSE.as_secs()
                ))
            }
            d => Some(d),
        },
    };
    let mapping = match &args.map {
        None => None,
        Some(path) => {
            let src = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "--map {}: cannot read it ({e}); check the path",
                    path.display()
                )
            })?;
            Some(mapping::parse(&src, &path.display().to_string()).map_err(|e| e.to_string())?)
        }
    };
    let resolve = |flag: &str, name: &str| {
        TargetSpec::resolve(name.trim(), file_targets).map_err(|e| format!("{flag}: {e}"))
    };
    let (source_spec, target_spec) = (
        resolve("--source", &args.source)?,
        resolve("--target", &args.target)?,
    );
    for (flag, spec) in [("--source", &source_spec), ("--target", &target_spec)] {
        if !matches!(spec.family, Family::Postgres | Family::Dynamodb) {
            return Err(format!(
                "{flag} {}: verify reads postgres and dynamodb targets, not {} yet; pick a target of those families",
                spec.name, spec.family
            ));
        }
    }
    let key: Vec<String> = args
        .key
        .iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let request = Request {
        table: args.table.as_deref(),
        key: &key,
        mapping: mapping.as_ref(),
    };
    let (source_table, target_table) =
        assay_verify::table_names(&request).map_err(|e| e.message)?;
    let plan = format!(
        "verify: read {source_table} on {} and {target_table} on {} (read-only)",
        source_spec.name, target_spec.name
    );
    guard(
        &[source_spec.clone(), target_spec.clone()],
        args.allow_real,
        args.yes,
        &plan,
    )?;
    let parallel = usize::from(args.parallel);
    let started = Instant::now();
    let (source_ep, target_ep) = (
        endpoint("--source", &source_spec)?,
        endpoint("--target", &target_spec)?,
    );
    let (source, target) =
        futures::try_join!(open(&source_ep, parallel), open(&target_ep, parallel))?;
    let (source_shape, target_shape) = futures::try_join!(
        source.describe(&source_table),
        target.describe(&target_table)
    )
    .map_err(|e| e.message)?;
    let plans =
        assay_verify::resolve(&request, &source_shape, &target_shape).map_err(|e| e.message)?;
    status(&format!(
        "verify {} ({}) → {} ({}): key ({}), {} column(s)",
        source_spec.name,
        source_shape.table,
        target_spec.name,
        target_shape.table,
        plans.key.join(", "),
        plans.columns.len()
    ));
    let opts = Options {
        recheck_after,
        ..Options::default()
    };
    let outcome = compare(
        Side {
            source: &*source,
            plan: &plans.source,
        },
        Side {
            source: &*target,
            plan: &plans.target,
        },
        &opts,
        &|line| status(&line),
    )
    .await
    .map_err(|e| e.message)?;
    let info = |spec: &TargetSpec, ep: &Endpoint, table: &str| SideInfo {
        target: spec.name.clone(),
        family: spec.family.as_str().to_string(),
        endpoint: ep.display_safe(),
        table: table.to_string(),
    };
    let report = assay_verify::build_report(
        (
            info(&source_spec, &source_ep, &source_shape.table),
            info(&target_spec, &target_ep, &target_shape.table),
        ),
        (source.stats(), target.stats()),
        &plans,
        &outcome,
        started.elapsed(),
    );
    print!(
        "{}",
        assay_verify::render_text(&report, stdout_is_terminal())
    );
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report).map_err(|e| format!("--out: {e}"))?;
        std::fs::write(path, json + "\n").map_err(|e| {
            format!(
                "--out {}: cannot write it ({e}); check the directory",
                path.display()
            )
        })?;
    }
    Ok(if outcome.equal() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    })
}

/// Where a target's data is: a stand-in left up by `assay emulators up`, or a
/// targets-file endpoint (its secrets read now, after the guard).
fn endpoint(flag: &str, spec: &TargetSpec) -> Result<Endpoint, String> {
    match (spec.local, &spec.remote) {
        (Some(backend), _) => assay_emulators::state::load(&workspace_root())
            .unwrap_or_default()
            .into_iter()
            .find(|d| d.backend() == backend && d.is_alive())
            .map(|d| d.endpoint())
            .ok_or_else(|| {
                format!(
                    "{flag} {}: no {0} stand-in is up, and a fresh one would hold no data; start it with `assay emulators up {0}` and load the table, or name a targets-file entry (docs/targets.md)",
                    spec.name
                )
            }),
        (None, Some(file)) => file.endpoint(&|v| std::env::var(v).ok()),
        (None, None) => Err(format!("{flag} {}: not a known target", spec.name)),
    }
}

/// The driver side that reads a table on this endpoint.
async fn open(endpoint: &Endpoint, parallel: usize) -> Result<Box<dyn TableSource>, String> {
    let source: Box<dyn TableSource> = match endpoint.family() {
        Family::Postgres => Box::new(
            assay_driver_postgres::PgTableSource::connect(endpoint, parallel)
                .await
                .map_err(|e| e.message)?,
        ),
        Family::Dynamodb => Box::new(
            assay_driver_dynamodb::DynamoTableSource::connect(endpoint, parallel)
                .await
                .map_err(|e| e.message)?,
        ),
        other => return Err(format!("verify cannot read a {other} endpoint yet")),
    };
    Ok(source)
}
