//! `assay report RUN_DIR`: load a stored run (record.json + history.jsonl), judge it
//! again, and render every file and the terminal output as the run did. `assay run` ends
//! here too, so both give the same bytes (with the same `--baseline`, index.html's
//! comparison section too).

use crate::{error_line, stdout_is_terminal, EXIT_CANNOT_RUN};
use assay_check::judge;
use assay_check::judge::compare::{compare, Tolerance};
use assay_check::Verdict;
use assay_core::record::{RecordKind, RunRecord};
use assay_reports::{read_history, render_fidelity, render_run_with, render_table, RunReport};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A run directory written by `assay run` (holding record.json).
    run_dir: PathBuf,
    /// The baseline the run was compared with (`assay run --baseline`): index.html gets
    /// the comparison section. The exit code stays the run's; `assay compare` gates.
    #[arg(long)]
    baseline: Option<PathBuf>,
    #[command(flatten)]
    tolerance: crate::compare_cmd::ToleranceArgs,
}

pub fn report_command(args: ReportArgs) -> u8 {
    let tolerance = match args.tolerance.parse() {
        Ok(t) => t,
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    finish(
        &args.run_dir,
        args.baseline.as_deref().map(|b| (b, &tolerance)),
    )
}

/// Judges the run stored in `dir`, writes its report files (index.html with the
/// comparison against `baseline` when there is one), prints the terminal view, and
/// returns the exit code the verdicts ask for.
pub fn finish(dir: &Path, baseline: Option<(&Path, &Tolerance)>) -> u8 {
    let record = match RunRecord::load(dir) {
        Ok(r) => r,
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    let histories = match read_history(dir) {
        Ok(h) => h,
        Err(e) => {
            error_line(format!("{e}; the run directory's history is damaged"));
            return EXIT_CANNOT_RUN;
        }
    };
    let verdicts = judge(&record, &histories);
    let comparison = match baseline {
        Some((base, tolerance)) => match RunRecord::load(base) {
            Ok(base) => Some(compare(&base, &record, tolerance)),
            Err(e) => {
                error_line(format!("--baseline: {e}"));
                return EXIT_CANNOT_RUN;
            }
        },
        None => None,
    };
    let artifacts = match render_run_with(dir, &record, &verdicts, comparison.as_ref()) {
        Ok(a) => a,
        Err(e) => {
            error_line(format!("cannot write the report to {}: {e}", dir.display()));
            return EXIT_CANNOT_RUN;
        }
    };
    let report = RunReport::of(&record, &verdicts);
    print_run(&record, &report);
    if let Some(f) = &artifacts.fidelity_md {
        println!("fidelity: {}", f.display());
    }
    println!("report: {}", artifacts.report_json.display());
    println!("page: {}", artifacts.index_html.display());
    if let Some(reason) = &report.aborted {
        error_line(format!("run stopped early: {reason}"));
    }
    for t in &report.targets {
        if let Some(e) = &t.error {
            error_line(format!("{}: {e}", t.name));
        }
        for s in t.scenarios.iter().filter(|s| s.verdict == Verdict::Error) {
            error_line(format!(
                "{}: {}: {}",
                t.name,
                s.name,
                s.reason.as_deref().unwrap_or("could not run")
            ));
        }
    }
    report.verdict.exit_code() as u8
}

/// The terminal view: isolation matrices (several targets' side by side), the run table,
/// stand-in notes, the fidelity matrix.
fn print_run(record: &RunRecord, report: &RunReport) {
    let matrices: Vec<(&str, &assay_core::isolation::IsolationMatrix)> = record
        .targets
        .iter()
        .flat_map(|t| {
            t.scenarios
                .iter()
                .filter(|s| s.kind == RecordKind::Isolation)
                .filter_map(move |s| Some((t.name.as_str(), s.isolation.as_ref()?)))
        })
        .collect();
    match matrices.as_slice() {
        [] => {}
        [(target, m)] => println!("isolation matrix on {target}:\n{m}"),
        several => println!(
            "isolation matrix, side by side:\n{}",
            assay_core::isolation::side_by_side(several)
        ),
    }
    print!("{}", render_table(report, stdout_is_terminal()));
    for t in &report.targets {
        let mut seen = HashSet::new();
        for n in t.scenarios.iter().flat_map(|s| &s.notes) {
            if seen.insert(n) {
                println!("note ({}): {n}", t.name);
            }
        }
    }
    print!(
        "{}",
        render_fidelity(&report.fidelity, stdout_is_terminal())
    );
}
