//! `cargo xtask tidy`: the boundaries ARCHITECTURE.md states, checked on the source tree.
//!
//! Three rules, each violation printed as one line `file: what — fix: how`:
//!
//! 1. **Crate graph.** Every member's `[dependencies]` (also `[build-dependencies]` and
//!    `[target.*.dependencies]`) on another workspace crate must be an arrow of
//!    [`ALLOWED`]. `[dev-dependencies]` may use those arrows plus the ones in
//!    [`DEV_ONLY`]: a crate's tests may start the backend they need through
//!    `assay-emulators`, and the engine's `bench` example drives PostgreSQL and DynamoDB's
//!    stand-ins. Nothing else
//!    — a dev-dependency is still an arrow a reader has to know about.
//! 2. **No import cycles between modules of one crate.** A module is a file (inline
//!    modules are part of their file; `#[cfg(test)]` items and the files they declare are
//!    left out, as are tests/, benches/ and examples/). A file depends on the module that
//!    *defines* what it names: `use crate::a::X`, `crate::a::f()`, `super::…`, `self::…`
//!    resolved to a file, following `pub use` re-exports to where the item lives. A
//!    module owns its children: arrows between a module and its own descendants (a parent
//!    declaring `mod child;` and re-exporting `pub use child::X`, the child using
//!    `super::Y`) are not dependencies between peers and never form a cycle. Every other
//!    arrow `a::… → b::…` counts between the two siblings under their closest common
//!    parent (`a` and `b`); a cycle is a circle among the siblings of one parent, so a
//!    module and its subtree stand or fall together.
//! 3. **File size.** No file under a member's `src/` has more than [`MAX_LINES`] lines
//!    outside its `#[cfg(test)]` items (files that are test modules themselves are
//!    skipped).

mod modules;
mod scan;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The crate graph ARCHITECTURE.md states: each crate and the workspace crates its
/// normal dependencies may name. `reports → check`: reports render check's verdicts.
/// `postgres / mysql → sql-common`: the SQL drivers' shared helper crate.
pub const ALLOWED: &[(&str, &[&str])] = &[
    ("assay-core", &[]),
    ("assay-engine", &["assay-core"]),
    ("assay-check", &["assay-core"]),
    ("assay-verify", &["assay-core"]),
    ("assay-reports", &["assay-core", "assay-check"]),
    ("assay-emulators", &["assay-core"]),
    ("assay-sql-common", &["assay-core"]),
    ("assay-driver-dynamodb", &["assay-core"]),
    ("assay-driver-spanner", &["assay-core"]),
    ("assay-driver-cosmos", &["assay-core"]),
    ("assay-driver-postgres", &["assay-core", "assay-sql-common"]),
    ("assay-driver-mysql", &["assay-core", "assay-sql-common"]),
    (
        "assay-cli",
        &[
            "assay-core",
            "assay-engine",
            "assay-check",
            "assay-reports",
            "assay-emulators",
            "assay-driver-dynamodb",
            "assay-driver-spanner",
            "assay-driver-cosmos",
            "assay-driver-postgres",
            "assay-driver-mysql",
            "assay-verify",
        ],
    ),
    ("xtask", &[]),
];

/// Arrows allowed in `[dev-dependencies]` only, on top of [`ALLOWED`].
pub const DEV_ONLY: &[(&str, &[&str])] = &[
    ("assay-driver-dynamodb", &["assay-emulators"]),
    ("assay-driver-spanner", &["assay-emulators"]),
    ("assay-driver-cosmos", &["assay-emulators"]),
    ("assay-driver-postgres", &["assay-emulators"]),
    ("assay-driver-mysql", &["assay-emulators"]),
    ("assay-sql-common", &["assay-emulators"]),
    // The `bench` example compares the engine with pgbench on a local PostgreSQL, and the
    // load phase batched vs one write per row on the DynamoDB stand-ins.
    (
        "assay-engine",
        &[
            "assay-emulators",
            "assay-driver-postgres",
            "assay-driver-dynamodb",
        ],
    ),
];

/// Longest a source file may be outside its `#[cfg(test)]` items.
pub const MAX_LINES: usize = 800;

/// One broken rule: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Relative to the workspace root.
    pub file: String,
    pub what: String,
    pub fix: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} — fix: {}", self.file, self.what, self.fix)
    }
}

/// What `tidy` found in one workspace.
#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    /// Import cycles among them (for the summary line).
    pub cycles: usize,
}

/// `cargo xtask tidy [ROOT]`: prints every violation; 0 when there is none, 1 otherwise,
/// 2 when the workspace cannot be read.
pub fn run(root: &Path) -> u8 {
    match check(root) {
        Ok(report) if report.violations.is_empty() => {
            eprintln!("xtask tidy: ok (crate graph, module cycles, file sizes)");
            0
        }
        Ok(report) => {
            for v in &report.violations {
                println!("{v}");
            }
            eprintln!(
                "xtask tidy: {} violation(s), {} of them import cycles",
                report.violations.len(),
                report.cycles
            );
            1
        }
        Err(e) => {
            eprintln!("xtask tidy: error: {e}");
            2
        }
    }
}

/// Checks the workspace at `root` against all three rules.
pub fn check(root: &Path) -> Result<Report, String> {
    let members = members(root)?;
    let mut report = Report::default();
    check_crate_graph(root, &members, &mut report)?;
    for m in &members {
        modules::check_modules(root, &m.dir, &mut report)?;
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// Rule 1: the crate graph

pub(crate) struct Member {
    pub(crate) name: String,
    /// Relative to the root.
    pub(crate) dir: PathBuf,
}

fn read_toml(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("{}: not valid TOML: {e}", path.display()))
}

/// The workspace members (also what `ci-check` accepts after `cargo … -p`).
pub(crate) fn members(root: &Path) -> Result<Vec<Member>, String> {
    let ws = read_toml(&root.join("Cargo.toml"))?;
    let list = ws
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .ok_or_else(|| "Cargo.toml: no [workspace] members".to_string())?;
    let mut out = Vec::new();
    for m in list {
        let Some(dir) = m.as_str() else { continue };
        let manifest = read_toml(&root.join(dir).join("Cargo.toml"))?;
        let name = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| format!("{dir}/Cargo.toml: no [package] name"))?;
        out.push(Member {
            name: name.to_string(),
            dir: PathBuf::from(dir),
        });
    }
    Ok(out)
}

/// The workspace crates one dependency table names (a renamed dependency by its package).
fn workspace_deps(table: Option<&toml::Value>, names: &BTreeSet<&str>) -> Vec<String> {
    let Some(table) = table.and_then(|t| t.as_table()) else {
        return Vec::new();
    };
    table
        .iter()
        .map(|(key, spec)| {
            spec.get("package")
                .and_then(|p| p.as_str())
                .unwrap_or(key)
                .to_string()
        })
        .filter(|n| names.contains(n.as_str()))
        .collect()
}

fn lookup<'a>(table: &'a [(&str, &'a [&'a str])], name: &str) -> Option<&'a [&'a str]> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, deps)| *deps)
}

fn check_crate_graph(root: &Path, members: &[Member], report: &mut Report) -> Result<(), String> {
    let names: BTreeSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
    for m in members {
        let file = m.dir.join("Cargo.toml");
        let manifest = read_toml(&root.join(&file))?;
        let file = display(&file);
        let Some(allowed) = lookup(ALLOWED, &m.name) else {
            report.violations.push(Violation {
                file,
                what: format!("crate `{}` is not in the crate graph", m.name),
                fix: "add it with its allowed dependencies to ALLOWED in xtask/src/tidy.rs \
                      and to the crate table in ARCHITECTURE.md"
                    .into(),
            });
            continue;
        };
        let dev_only = lookup(DEV_ONLY, &m.name).unwrap_or(&[]);
        let mut normal = Vec::new();
        for key in ["dependencies", "build-dependencies"] {
            normal.extend(workspace_deps(manifest.get(key), &names));
        }
        if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
            for t in targets.values() {
                for key in ["dependencies", "build-dependencies"] {
                    normal.extend(workspace_deps(t.get(key), &names));
                }
            }
        }
        for dep in normal {
            if !allowed.contains(&dep.as_str()) {
                report.violations.push(Violation {
                    file: file.clone(),
                    what: format!(
                        "`{}` depends on `{dep}`, an arrow ARCHITECTURE.md does not allow \
                         (allowed: {})",
                        m.name,
                        list_or_none(allowed)
                    ),
                    fix: format!(
                        "remove the dependency (move what `{}` needs from `{dep}` into a crate \
                         both may use), or allow the arrow in ALLOWED (xtask/src/tidy.rs) and \
                         ARCHITECTURE.md with the reason",
                        m.name
                    ),
                });
            }
        }
        for dep in workspace_deps(manifest.get("dev-dependencies"), &names) {
            if !allowed.contains(&dep.as_str()) && !dev_only.contains(&dep.as_str()) {
                report.violations.push(Violation {
                    file: file.clone(),
                    what: format!(
                        "`{}` has a dev-dependency on `{dep}`, which its tests may not use \
                         (allowed: {}{}{})",
                        m.name,
                        list_or_none(allowed),
                        if dev_only.is_empty() {
                            ""
                        } else {
                            "; in tests also "
                        },
                        dev_only.join(", ")
                    ),
                    fix:
                        "test through `assay-emulators` and the crate's own API, or allow the \
                          arrow in DEV_ONLY (xtask/src/tidy.rs) and ARCHITECTURE.md with the reason"
                            .into(),
                });
            }
        }
    }
    Ok(())
}

fn list_or_none(deps: &[&str]) -> String {
    if deps.is_empty() {
        "none".into()
    } else {
        deps.join(", ")
    }
}

fn display(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests;
