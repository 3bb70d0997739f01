//! The `assay` binary: argument parsing and wiring only. Each subcommand lives in its
//! own module; the work itself is done by the library crates.

mod check_cmd;
mod checks_cmd;
mod cleanup_cmd;
mod compare_cmd;
mod emulators_cmd;
mod fault_rig;
mod faults;
mod load;
mod merge_cmd;
mod report_cmd;
mod run;
mod run_setup;
mod scenario_run;
mod targets;
mod verify_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes: 0 pass, 1 a check or threshold failed, 2 the run could not be done.
pub const EXIT_PASS: u8 = 0;
pub const EXIT_FAIL: u8 = 1;
pub const EXIT_CANNOT_RUN: u8 = 2;

#[derive(Parser)]
#[command(
    name = "assay",
    version,
    about = "Conformance and load tests for cloud databases",
    after_help = "Exit codes: 0 pass, 1 a check or threshold failed, 2 the run could not be done."
)]
struct Cli {
    /// The targets file naming real services (default: ./assay.toml when it exists).
    #[arg(long = "targets", global = true, value_name = "FILE")]
    targets_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `--emulators auto|native|containers`: the emulators crate's `Mode` as a command-line
/// value. The modes are defined once, there; this only teaches clap to parse them, so the
/// emulators crate needs no clap.
#[derive(Clone, Copy, Debug)]
pub struct EmulatorMode(pub assay_emulators::Mode);

impl ValueEnum for EmulatorMode {
    fn value_variants<'a>() -> &'a [Self] {
        use assay_emulators::Mode;
        &[
            EmulatorMode(Mode::Auto),
            EmulatorMode(Mode::Native),
            EmulatorMode(Mode::Containers),
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.as_str()).help(self.0.describe()))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against targets and write the report.
    Run(run::RunArgs),
    /// Check scenario files without running them.
    Validate {
        /// Scenario files or directories (searched for *.toml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Start, stop or list local stand-ins that stay up between commands.
    Emulators {
        #[command(subcommand)]
        action: emulators_cmd::Action,
    },
    /// List the targets this Assay knows and whether each can run here.
    Targets {
        /// List every family's native checks instead (as `assay checks` does).
        #[arg(long)]
        checks: bool,
    },
    /// List every driver family's native checks with their parameters and citations.
    Checks {
        /// Print versioned JSON instead of the aligned listing.
        #[arg(long)]
        json: bool,
    },
    /// Check a recorded history (Assay JSONL or Jepsen EDN) against a consistency model.
    Check(check_cmd::CheckArgs),
    /// Judge a stored run again and re-render its report files (report.json, summary.md,
    /// junit.xml, fidelity.md, .hlog) from its record.json and history.jsonl.
    Report(report_cmd::ReportArgs),
    /// Merge shard runs (histograms added exactly, histories kept per shard) into one run
    /// directory, judged and rendered like any other.
    Merge(merge_cmd::MergeArgs),
    /// Compare a run against a baseline: per target × scenario × op, throughput and
    /// p50 / p99 / p999 with a noise-aware verdict; exit 1 on a regression.
    Compare(compare_cmd::CompareArgs),
    /// List what runs that never reached teardown (e.g. killed) left on a target —
    /// schemas, databases, tables named assay_<run>_… — and remove what is old enough.
    Cleanup(cleanup_cmd::CleanupArgs),
    /// Compare a table's rows between two targets (before or during a migration): counts,
    /// digests of key ranges bisected down to the rows and columns that differ.
    Verify(verify_cmd::VerifyArgs),
}

fn main() -> ExitCode {
    // Behave like other Unix tools when the reader goes away (`assay targets | head`):
    // end quietly instead of panicking on a broken pipe.
    // SAFETY: called before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_CANNOT_RUN
            } else {
                EXIT_PASS
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Only the commands that name targets read the targets file.
    let file_targets = || targets::load_file_targets(cli.targets_file.as_deref());
    let with_targets =
        |then: &dyn Fn(&[assay_core::target_file::FileTarget]) -> u8| match file_targets() {
            Ok(t) => then(&t),
            Err(e) => {
                error_line(e);
                EXIT_CANNOT_RUN
            }
        };
    let code = match cli.command {
        Command::Validate { paths } => load::validate_command(&paths),
        Command::Targets { checks: false } => with_targets(&targets::targets_command),
        Command::Targets { checks: true } => checks_cmd::checks_command(false),
        Command::Checks { json } => checks_cmd::checks_command(json),
        Command::Check(args) => check_cmd::check_command(args),
        Command::Report(args) => report_cmd::report_command(args),
        Command::Merge(args) => merge_cmd::merge_command(args),
        Command::Compare(args) => compare_cmd::compare_command(args),
        Command::Run(args) => with_targets(&|t| {
            runtime(usize::from(args.threads)).block_on(run::run_command(&args, t))
        }),
        Command::Emulators { action } => runtime(0).block_on(emulators_cmd::run(action)),
        Command::Cleanup(args) => {
            with_targets(&|t| runtime(0).block_on(cleanup_cmd::cleanup_command(&args, t)))
        }
        Command::Verify(args) => {
            with_targets(&|t| runtime(0).block_on(verify_cmd::verify_command(&args, t)))
        }
    };
    ExitCode::from(code)
}

/// The async runtime: `threads` worker threads, or one per CPU when 0.
fn runtime(threads: usize) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if threads > 0 {
        builder.worker_threads(threads);
    }
    builder.enable_all().build().unwrap_or_else(|e| {
        eprintln!("assay: cannot start the async runtime: {e}");
        std::process::exit(i32::from(EXIT_CANNOT_RUN))
    })
}

/// Prints a one-line error in the house style.
pub fn error_line(msg: impl std::fmt::Display) {
    eprintln!("assay: error: {msg}");
}

/// A progress line on stderr.
pub fn status(line: &str) {
    eprintln!("assay: {line}");
}

/// The workspace root: `$ASSAY_ROOT`, else the first ancestor of the current directory
/// holding `emulators/node/package.json`, else where this binary was built from.
pub fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("ASSAY_ROOT") {
        return PathBuf::from(root);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            if dir.join("emulators/node/package.json").is_file() {
                return dir.to_path_buf();
            }
        }
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Whether stdout is a terminal (colours, progress) or a pipe / CI log (plain lines).
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
