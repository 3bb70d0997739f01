//! `assay compare BASE NEW`: a run against a baseline, with a noise-aware verdict per
//! figure; exit 1 on a regression. `assay run --baseline DIR` ends with the same.

use crate::{error_line, EXIT_CANNOT_RUN, EXIT_FAIL, EXIT_PASS};
use assay_check::judge::compare::{compare, Figure, Tolerance};
use assay_core::record::RunRecord;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The baseline: a run directory (or its record.json).
    base: PathBuf,
    /// The run to judge against it.
    new: PathBuf,
    #[command(flatten)]
    tolerance: ToleranceArgs,
    /// Also write the comparison as Markdown (e.g. for a CI job summary).
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(clap::Args, Clone)]
pub struct ToleranceArgs {
    /// Changes within this are no change, for every figure, e.g. 5% or 0.05. Default:
    /// throughput and p50 40%, p99 and p999 70% — wide enough for the run-to-run noise
    /// of a shared machine; use 5% on a quiet, dedicated one.
    #[arg(long)]
    tolerance: Option<String>,
    /// Per-figure tolerance, e.g. `p999=20%` (repeatable; figures: throughput, p50, p99,
    /// p999).
    #[arg(long = "tolerance-for", value_name = "FIGURE=TOL")]
    per_figure: Vec<String>,
}

fn parse_share(text: &str) -> Option<f64> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => t.parse::<f64>().ok()?,
    };
    (v.is_finite() && v >= 0.0).then_some(v)
}

impl ToleranceArgs {
    pub fn parse(&self) -> Result<Tolerance, String> {
        let mut tolerance = match &self.tolerance {
            None => Tolerance::default(),
            Some(t) => Tolerance::uniform(parse_share(t).ok_or_else(|| {
                format!("--tolerance `{t}` is not a share; write e.g. 5% or 0.05")
            })?),
        };
        let mut per_figure = Vec::new();
        for p in &self.per_figure {
            let (name, tol) = p.split_once('=').ok_or_else(|| {
                format!("--tolerance-for `{p}`: write FIGURE=TOLERANCE, e.g. p999=20%")
            })?;
            let figure = Figure::ALL
                .into_iter()
                .find(|f| f.as_str() == name.trim())
                .ok_or_else(|| {
                    format!("--tolerance-for `{p}`: unknown figure `{name}`; use throughput, p50, p99 or p999")
                })?;
            let tol = parse_share(tol)
                .ok_or_else(|| format!("--tolerance-for `{p}`: `{tol}` is not a share like 20%"))?;
            per_figure.push((figure, tol));
        }
        // Overrides first: the first entry for a figure wins.
        per_figure.append(&mut tolerance.per_figure);
        tolerance.per_figure = per_figure;
        Ok(tolerance)
    }
}

/// Compares the run in `new` against `base`, prints the table (and writes Markdown),
/// returns 1 on a regression.
pub fn compare_runs(base: &Path, new: &Path, tolerance: &Tolerance, markdown: Option<&Path>) -> u8 {
    let load = |p: &Path| RunRecord::load(p).map_err(|e| e.to_string());
    let (base, new) = match (load(base), load(new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    let c = compare(&base, &new, tolerance);
    print!("{}", assay_reports::render_comparison_table(&c));
    if let Some(path) = markdown {
        if let Err(e) = std::fs::write(path, assay_reports::render_comparison_markdown(&c)) {
            error_line(format!("cannot write {}: {e}", path.display()));
            return EXIT_CANNOT_RUN;
        }
    }
    if c.rows.is_empty() {
        error_line("nothing to compare: no target × scenario with measured ops is in both runs");
        return EXIT_CANNOT_RUN;
    }
    if c.regressed {
        EXIT_FAIL
    } else {
        EXIT_PASS
    }
}

pub fn compare_command(args: CompareArgs) -> u8 {
    match args.tolerance.parse() {
        Ok(t) => compare_runs(&args.base, &args.new, &t, args.markdown.as_deref()),
        Err(e) => {
            error_line(e);
            EXIT_CANNOT_RUN
        }
    }
}
