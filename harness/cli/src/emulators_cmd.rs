//! `assay emulators up|down|status|install`: local stand-ins that outlive one command, so a
//! developer can run many scenarios without paying start-up each time (`assay run` reuses
//! any that are up), and installing the server binaries a stand-in needs.

use crate::{error_line, workspace_root, EmulatorMode, EXIT_CANNOT_RUN, EXIT_PASS};
use assay_core::LocalBackend;
use assay_emulators::{state, Emulator, InstallOutcome, StartOptions};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Action {
    /// Start local stand-ins and leave them running (all when none are named).
    Up {
        /// Target names, e.g. postgres dynamodb-moto.
        names: Vec<String>,
        #[arg(long, value_enum, default_value = "auto")]
        emulators: EmulatorMode,
    },
    /// Stop every stand-in started by `assay emulators up`.
    Down,
    /// Show which stand-ins are up and where.
    Status,
    /// Install a stand-in's server binaries on this machine (mysql: MariaDB via apt-get,
    /// as root), or the headless browser of the report's test (chromium, the same way).
    Install {
        /// What to install: mysql or chromium.
        name: String,
    },
}

fn parse_backends(names: &[String]) -> Result<Vec<LocalBackend>, String> {
    if names.is_empty() {
        return Ok(LocalBackend::ALL.to_vec());
    }
    names
        .iter()
        .flat_map(|n| n.split(','))
        .map(|n| {
            LocalBackend::by_name(n.trim()).ok_or_else(|| {
                let known: Vec<_> = LocalBackend::ALL.iter().map(|b| b.name()).collect();
                format!(
                    "unknown target `{n}`; known local targets: {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

pub async fn run(action: Action) -> u8 {
    let root = workspace_root();
    match action {
        Action::Install { name } => install(&name).await,
        Action::Up { names, emulators } => {
            let named = !names.is_empty();
            let backends = match parse_backends(&names) {
                Ok(b) => b,
                Err(e) => {
                    error_line(e);
                    return EXIT_CANNOT_RUN;
                }
            };
            let mut kept: Vec<state::DetachedEmulator> = state::load(&root)
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d.is_alive())
                .collect();
            let opts = StartOptions {
                run_dir: root.join("target/assay/emulators"),
                mode: emulators.into(),
                workspace_root: root.clone(),
            };
            let mut code = EXIT_PASS;
            for b in backends {
                if kept.iter().any(|d| d.backend() == b) {
                    println!("{:18} already up", b.name());
                    continue;
                }
                // Unnamed, a stand-in this machine cannot run (e.g. mysql before
                // `assay emulators install mysql`) is reported and left out.
                if !named {
                    if let Err(why) = assay_emulators::availability(b, &root) {
                        println!("{:18} not started: {why}", b.name());
                        continue;
                    }
                }
                match Emulator::start(b, &opts).await {
                    Ok(emu) => {
                        let endpoint = emu.endpoint().display_safe();
                        match emu.try_detach() {
                            Ok(d) => {
                                println!("{:18} up at {endpoint}", b.name());
                                kept.push(d);
                            }
                            // Only an explicit request for it is an error.
                            Err(e) if named => {
                                error_line(e);
                                code = EXIT_CANNOT_RUN;
                            }
                            Err(e) => println!("{:18} not kept up: {e}", b.name()),
                        }
                    }
                    Err(e) => {
                        error_line(format!("{}: {e}", b.name()));
                        code = EXIT_CANNOT_RUN;
                    }
                }
            }
            if let Err(e) = state::save(&root, &kept) {
                error_line(format!(
                    "cannot save emulator state: {e}; stopping what was started"
                ));
                for d in &kept {
                    state::stop_detached(d);
                }
                return EXIT_CANNOT_RUN;
            }
            code
        }
        Action::Down => {
            let all = state::load(&root).unwrap_or_default();
            for d in &all {
                state::stop_detached(d);
                println!("{:18} stopped", d.backend().name());
            }
            if let Err(e) = state::save(&root, &[]) {
                error_line(format!("cannot clear emulator state: {e}"));
                return EXIT_CANNOT_RUN;
            }
            if all.is_empty() {
                println!("nothing was up");
            }
            EXIT_PASS
        }
        Action::Status => {
            // What an Assay that died without cleaning up (and whose reaper died too)
            // left running.
            for line in assay_emulators::sweep_stale() {
                println!("cleanup: {line}");
            }
            let all = state::load(&root).unwrap_or_default();
            if all.is_empty() {
                println!("nothing is up (start with `assay emulators up`)");
            }
            for d in &all {
                let status = if d.is_alive() { "up" } else { "dead" };
                println!(
                    "{:18} {:5} {}",
                    d.backend().name(),
                    status,
                    d.endpoint().display_safe()
                );
            }
            EXIT_PASS
        }
    }
}

/// Prints what an install did; `what` names it.
fn installed(what: &str, outcome: InstallOutcome, started: std::time::Instant, after: &str) -> u8 {
    match outcome {
        InstallOutcome::AlreadyInstalled(path) => {
            println!(
                "{what}: already installed ({}); nothing to do",
                path.display()
            );
        }
        InstallOutcome::Installed(path) => {
            println!(
                "{what}: installed {} in {:.0?}{after}",
                path.display(),
                started.elapsed()
            );
        }
    }
    EXIT_PASS
}

async fn install(name: &str) -> u8 {
    let started = std::time::Instant::now();
    if name.trim() == "chromium" {
        return match assay_emulators::chromium::install().await {
            Ok(outcome) => installed("chromium", outcome, started, ""),
            Err(e) => {
                error_line(format!("chromium: {e}"));
                EXIT_CANNOT_RUN
            }
        };
    }
    let backend = match parse_backends(&[name.to_string()]) {
        Ok(b) if b.len() == 1 => b[0],
        Ok(_) => {
            error_line("name exactly one target to install, e.g. `assay emulators install mysql`");
            return EXIT_CANNOT_RUN;
        }
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    match assay_emulators::install(backend).await {
        Ok(outcome) => installed(
            backend.name(),
            outcome,
            started,
            "; its system service is stopped (Assay starts its own)",
        ),
        Err(e) => {
            error_line(e);
            EXIT_CANNOT_RUN
        }
    }
}
