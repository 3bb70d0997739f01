//! Loading scenario files: expanding directories, reading, parsing with located errors
//! (native steps checked against every driver's table of checks).

use crate::{error_line, EXIT_CANNOT_RUN, EXIT_PASS};
use assay_core::isolation::{is_isolation_test, IsolationTest};
use assay_core::Scenario;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub struct LoadedScenario {
    pub path: PathBuf,
    pub scenario: Scenario,
    pub sha256: String,
    /// The file's text, kept in the run record so the run can be judged again.
    pub source: String,
}

/// A Hermitage-style isolation test: SQL sessions in a fixed interleaving.
pub struct LoadedIsolationTest {
    pub path: PathBuf,
    pub test: IsolationTest,
}

/// Everything the given paths hold, by kind.
#[derive(Default)]
pub struct LoadedFiles {
    pub scenarios: Vec<LoadedScenario>,
    pub isolation_tests: Vec<LoadedIsolationTest>,
}

impl LoadedFiles {
    pub fn len(&self) -> usize {
        self.scenarios.len() + self.isolation_tests.len()
    }
}

/// Files named directly, and every `*.toml` below named directories, sorted.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            collect_toml(p, &mut found)
                .map_err(|e| format!("{}: cannot read directory: {e}", p.display()))?;
            if found.is_empty() {
                return Err(format!(
                    "{}: no *.toml scenario files in this directory",
                    p.display()
                ));
            }
            found.sort();
            out.extend(found);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!(
                "{}: no such file or directory; give a scenario file (e.g. scenarios/smoke.toml) or a directory of them",
                p.display()
            ));
        }
    }
    Ok(out)
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads one file into `into`, as a scenario or an isolation test by its content.
fn load(path: &Path, into: &mut LoadedFiles) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| {
        format!(
            "{}:1:1: not UTF-8 text; save the scenario as UTF-8",
            path.display()
        )
    })?;
    let label = path.display().to_string();
    if is_isolation_test(&text) {
        let test = IsolationTest::parse(&text, &label).map_err(|e| e.to_string())?;
        into.isolation_tests.push(LoadedIsolationTest {
            path: path.to_path_buf(),
            test,
        });
    } else {
        let scenario = Scenario::parse_with(&text, &label, crate::checks_cmd::REGISTRY)
            .map_err(|e| e.to_string())?;
        into.scenarios.push(LoadedScenario {
            path: path.to_path_buf(),
            scenario,
            sha256: hex::encode(Sha256::digest(&bytes)),
            source: text,
        });
    }
    Ok(())
}

/// Loads every file, reporting every bad one (not just the first).
pub fn load_all(paths: &[PathBuf]) -> Result<LoadedFiles, Vec<String>> {
    let files = expand(paths).map_err(|e| vec![e])?;
    let mut loaded = LoadedFiles::default();
    let mut errors = Vec::new();
    for f in files {
        if let Err(e) = load(&f, &mut loaded) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
    }
}

pub fn validate_command(paths: &[PathBuf]) -> u8 {
    match load_all(paths) {
        Ok(loaded) => {
            for l in &loaded.scenarios {
                println!("ok  {}  ({})", l.path.display(), l.scenario.name);
            }
            for l in &loaded.isolation_tests {
                println!(
                    "ok  {}  (isolation test {})",
                    l.path.display(),
                    l.test.anomaly
                );
            }
            println!("{} scenario file(s) valid", loaded.len());
            EXIT_PASS
        }
        Err(errors) => {
            for e in &errors {
                error_line(e);
            }
            EXIT_CANNOT_RUN
        }
    }
}
