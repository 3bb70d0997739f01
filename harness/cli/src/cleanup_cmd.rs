//! `assay cleanup --target T [--older-than DUR] [--dry-run]`: what runs that never reached
//! teardown (Assay killed with SIGKILL, a machine lost mid-run) left on a target, and
//! removing what is old enough. The target is resolved as `assay run` resolves it (the
//! real-endpoint guard first; a stand-in left up by `assay emulators up` is reused, any
//! other is started and, being fresh, holds nothing); each driver lists and drops its own
//! leftovers (`Driver::leftovers` / `remove_leftover`), only ever names of a run
//! namespace's shape (`assay_core::cleanup`).

use crate::faults::Faults;
use crate::run::duration_arg;
use crate::targets::{bring_up, connect, connect_file_target, guard, LiveTarget};
use crate::{
    error_line, status, stdout_is_terminal, workspace_root, EmulatorMode, EXIT_CANNOT_RUN,
    EXIT_PASS,
};
use assay_core::cleanup::{unix_ms_now, Age, LEFTOVER_PREFIX};
use assay_core::target_file::FileTarget;
use assay_core::{DriverConfig, Leftover, TargetSpec};
use std::time::Duration;

#[derive(clap::Args)]
pub struct CleanupArgs {
    /// Target names, repeated or comma-separated (see `assay targets`).
    #[arg(long = "target", short = 't', required = true, value_delimiter = ',')]
    targets: Vec<String>,
    /// Remove only what is at least this old (e.g. 30m, 2h). `0s` removes everything
    /// found, also what the backend keeps no creation time for — and the tables of a run
    /// still going, so only when none is.
    #[arg(long, default_value = "1h", value_name = "DUR")]
    older_than: String,
    /// List what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// How to start a local stand-in that is not up.
    #[arg(long, value_enum, default_value = "auto")]
    emulators: EmulatorMode,
    /// Allow targets whose endpoint is not on this machine (a real service).
    #[arg(long)]
    allow_real: bool,
    /// With --allow-real: go on without asking to confirm (needed without a terminal).
    #[arg(long)]
    yes: bool,
}

/// Bound on each listing and drop request; drivers bound DDL on their own as well.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The namespace the cleanup driver is built with. It creates nothing; the name has no
/// run shape, so nothing can mistake it for a leftover.
const CLEANUP_NAMESPACE: &str = "assay_cleanup";

/// What happened to one leftover.
enum Action {
    Removed,
    WouldRemove,
    KeptYounger,
    KeptUnknownAge,
    Failed(String),
}

impl Action {
    fn text(&self, older_than: &str) -> String {
        match self {
            Action::Removed => "removed".into(),
            Action::WouldRemove => "would remove (dry run)".into(),
            Action::KeptYounger => format!("kept: younger than {older_than}"),
            Action::KeptUnknownAge => "kept: age unknown (--older-than 0s removes it)".into(),
            Action::Failed(e) => format!("FAILED: {e}"),
        }
    }
}

struct Row {
    target: String,
    leftover: Leftover,
    age: Age,
    action: Action,
}

pub async fn cleanup_command(args: &CleanupArgs, file_targets: &[FileTarget]) -> u8 {
    let older_than = match duration_arg("--older-than", &args.older_than, 0.0) {
        Ok(d) => d,
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    let mut specs: Vec<TargetSpec> = Vec::new();
    for name in &args.targets {
        match TargetSpec::resolve(name.trim(), file_targets) {
            Ok(s) if !specs.contains(&s) => specs.push(s),
            Ok(_) => {}
            Err(e) => {
                error_line(format!("--target: {e}"));
                return EXIT_CANNOT_RUN;
            }
        }
    }
    let plan = format!(
        "cleanup: list what earlier runs left ({LEFTOVER_PREFIX}<run>_…){}",
        if args.dry_run {
            ", remove nothing (dry run)".to_string()
        } else {
            format!(" and drop what is older than {}", args.older_than)
        }
    );
    if let Err(e) = guard(&specs, args.allow_real, args.yes, &plan) {
        error_line(e);
        return EXIT_CANNOT_RUN;
    }
    let older_than_ms = u64::try_from(older_than.as_millis()).unwrap_or(u64::MAX);
    let mut rows = Vec::new();
    let mut clean = Vec::new();
    let mut code = EXIT_PASS;
    for spec in &specs {
        match cleanup_target(spec, args, older_than_ms).await {
            Ok(r) if r.is_empty() => clean.push(spec.name.as_str()),
            Ok(mut r) => {
                if r.iter().any(|row| matches!(row.action, Action::Failed(_))) {
                    code = EXIT_CANNOT_RUN;
                }
                rows.append(&mut r);
            }
            Err(e) => {
                error_line(format!("{}: {e}", spec.name));
                code = EXIT_CANNOT_RUN;
            }
        }
    }
    print_rows(&rows, &args.older_than, stdout_is_terminal());
    for name in clean {
        println!("{name}: nothing left behind by earlier runs");
    }
    code
}

/// Brings the target up, lists its leftovers, removes what is old enough (unless a dry
/// run), and stops what it started.
async fn cleanup_target(
    spec: &TargetSpec,
    args: &CleanupArgs,
    older_than_ms: u64,
) -> Result<Vec<Row>, String> {
    let live = match spec.local {
        Some(backend) => {
            let run_dir = workspace_root().join("target/assay/cleanup");
            std::fs::create_dir_all(&run_dir)
                .map_err(|e| format!("cannot create {}: {e}", run_dir.display()))?;
            let live =
                bring_up(spec, backend, args.emulators, &run_dir, &Faults::default()).await?;
            if live.started_emulator().is_some() {
                status(&format!(
                    "{}: no stand-in was up (`assay emulators up` keeps one); started a fresh one, which holds nothing from earlier runs",
                    spec.name
                ));
            }
            live
        }
        None => {
            let file = spec
                .remote
                .as_ref()
                .expect("a target is local or from a file");
            connect_file_target(spec, file)?
        }
    };
    status(&format!(
        "{}: looking for what earlier runs left at {}",
        spec.name,
        live.endpoint.display_safe()
    ));
    let rows = list_and_remove(&live, args.dry_run, older_than_ms).await;
    live.stop().await;
    rows
}

async fn list_and_remove(
    live: &LiveTarget,
    dry_run: bool,
    older_than_ms: u64,
) -> Result<Vec<Row>, String> {
    let config = DriverConfig {
        namespace: CLEANUP_NAMESPACE.to_string(),
        op_timeout: REQUEST_TIMEOUT,
    };
    let driver = connect(&live.endpoint, config, None)
        .await
        .map_err(|e| e.to_string())?;
    let found = driver
        .leftovers(LEFTOVER_PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    let now = unix_ms_now();
    let mut rows = Vec::new();
    for leftover in found {
        let age = leftover.age(now);
        let action = if !age.at_least(older_than_ms) {
            match age {
                Age::Unknown => Action::KeptUnknownAge,
                Age::Known(_) => Action::KeptYounger,
            }
        } else if dry_run {
            Action::WouldRemove
        } else {
            match driver.remove_leftover(&leftover).await {
                Ok(()) => Action::Removed,
                Err(e) => Action::Failed(e.to_string()),
            }
        };
        rows.push(Row {
            target: live.spec.name.clone(),
            leftover,
            age,
            action,
        });
    }
    Ok(rows)
}

/// `45s`, `12m`, `3h 5m`, `2d 4h`.
fn format_age(age: Age) -> String {
    let Age::Known(ms) = age else {
        return "unknown".into();
    };
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One aligned row per leftover, then a one-line tally; colour only on a terminal.
fn print_rows(rows: &[Row], older_than: &str, color: bool) {
    if rows.is_empty() {
        return;
    }
    let header = ["TARGET", "NAME", "KIND", "AGE", "ACTION"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.target.clone(),
                r.leftover.name.clone(),
                r.leftover.kind.to_string(),
                format_age(r.age),
                r.action.text(older_than),
            ]
        })
        .collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2, w3) = (width(0), width(1), width(2), width(3));
    println!(
        "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
        header[0], header[1], header[2], header[3], header[4]
    );
    for (c, r) in cells.iter().zip(rows) {
        let action = match (&r.action, color) {
            (Action::Removed, true) => format!("\x1b[32m{}\x1b[0m", c[4]),
            (Action::Failed(_), true) => format!("\x1b[31m{}\x1b[0m", c[4]),
            _ => c[4].clone(),
        };
        println!(
            "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {action}",
            c[0], c[1], c[2], c[3]
        );
    }
    let count = |f: fn(&Action) -> bool| rows.iter().filter(|r| f(&r.action)).count();
    println!(
        "{} found: {} removed, {} would be removed, {} kept, {} failed",
        rows.len(),
        count(|a| matches!(a, Action::Removed)),
        count(|a| matches!(a, Action::WouldRemove)),
        count(|a| matches!(a, Action::KeptYounger | Action::KeptUnknownAge)),
        count(|a| matches!(a, Action::Failed(_))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(format_age(Age::Known(999)), "0s");
        assert_eq!(format_age(Age::Known(59_000)), "59s");
        assert_eq!(format_age(Age::Known(61_000)), "1m");
        assert_eq!(format_age(Age::Known(3_600_000 + 5 * 60_000)), "1h 5m");
        assert_eq!(
            format_age(Age::Known(2 * 86_400_000 + 4 * 3_600_000)),
            "2d 4h"
        );
        assert_eq!(format_age(Age::Unknown), "unknown");
    }
}
