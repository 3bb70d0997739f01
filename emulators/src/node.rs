//! npm packages for the Node stand-ins (dynalite, @vercel/cosmosdb-server), pinned by
//! `emulators/node/package-lock.json`. On first use, or when `node_modules` no longer
//! matches the lockfile, the project runs `npm ci` itself (bounded, under a file lock).

use crate::native::{self, FileLock, NativeContext};
use crate::EmulatorError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NPM_TIMEOUT: Duration = Duration::from_secs(300);
const NODE_HINT: &str = "install Node.js 18+ with npm (apt-get install nodejs npm)";

pub(crate) fn node_dir(root: &Path) -> PathBuf {
    root.join("emulators/node")
}

pub(crate) fn find_node() -> Result<PathBuf, String> {
    native::which("node").ok_or_else(|| format!("node not found on PATH: {NODE_HINT}"))
}

/// Packages whose installed version differs from the lockfile (or are missing), at most
/// a few, for the log. Empty means `node_modules` is current.
pub(crate) fn stale_packages(dir: &Path) -> Result<Vec<String>, String> {
    let lock_path = dir.join("package-lock.json");
    let text = std::fs::read_to_string(&lock_path)
        .map_err(|e| format!("cannot read {}: {e}", lock_path.display()))?;
    let lock: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", lock_path.display()))?;
    let packages = lock
        .get("packages")
        .and_then(|p| p.as_object())
        .ok_or_else(|| {
            format!(
                "{} has no `packages` map (lockfileVersion 2+ needed): regenerate it with npm 7+",
                lock_path.display()
            )
        })?;
    let mut stale = Vec::new();
    for (key, entry) in packages {
        if !key.starts_with("node_modules/") || entry.get("link").is_some() {
            continue;
        }
        let Some(want) = entry.get("version").and_then(|v| v.as_str()) else {
            continue;
        };
        let optional = entry.get("optional").and_then(|v| v.as_bool()) == Some(true);
        match installed_version(&dir.join(key)) {
            Some(have) if have == want => {}
            None if optional => {}
            have => {
                stale.push(format!(
                    "{key}: locked {want}, installed {}",
                    have.as_deref().unwrap_or("nothing")
                ));
                if stale.len() >= 5 {
                    break;
                }
            }
        }
    }
    Ok(stale)
}

fn installed_version(package_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(package_dir.join("package.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("version")?.as_str().map(str::to_string)
}

/// `<node>/node_modules/<package>`'s version, for `Emulator::version`.
pub(crate) fn package_version(root: &Path, package: &str) -> Option<String> {
    installed_version(&node_dir(root).join("node_modules").join(package))
}

/// Makes sure `node_modules` matches the lockfile (running `npm ci` if not) and returns
/// the `node` binary to run the servers with.
pub(crate) async fn ensure_installed(ctx: &NativeContext) -> Result<PathBuf, EmulatorError> {
    let unavailable = |reason: String| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason,
    };
    let node = find_node().map_err(unavailable)?;
    let dir = node_dir(&ctx.workspace_root);
    let stale = stale_packages(&dir).map_err(unavailable)?;
    if stale.is_empty() {
        return Ok(node);
    }
    let npm = native::which("npm").ok_or_else(|| {
        unavailable(format!(
            "npm not found on PATH, needed to install {}: {NODE_HINT}",
            dir.display()
        ))
    })?;
    let lock_path = ctx.workspace_root.join("target/assay/npm.lock");
    let _lock = FileLock::acquire(&lock_path, NPM_TIMEOUT)
        .await
        .map_err(|e| ctx.step_error("waiting for another npm ci", e))?;
    // Another process may have finished the install while we waited.
    let stale = stale_packages(&dir).map_err(unavailable)?;
    if stale.is_empty() {
        return Ok(node);
    }
    ctx.log.note(&format!(
        "node_modules does not match package-lock.json ({}); running npm ci",
        stale.join("; ")
    ));
    let mut cmd = Command::new(npm);
    cmd.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir);
    ctx.run_step("npm ci in emulators/node", cmd, None, NPM_TIMEOUT)
        .await?;
    let stale = stale_packages(&dir).map_err(unavailable)?;
    if stale.is_empty() {
        Ok(node)
    } else {
        Err(ctx.step_error(
            "npm ci in emulators/node",
            format!(
                "node_modules still differs from the lockfile: {}",
                stale.join("; ")
            ),
        ))
    }
}

pub(crate) fn availability(root: &Path) -> Result<(), String> {
    find_node()?;
    let dir = node_dir(root);
    if stale_packages(&dir)?.is_empty() || native::which("npm").is_some() {
        Ok(())
    } else {
        Err(format!(
            "{}/node_modules is missing or stale and npm is not on PATH: {NODE_HINT}",
            dir.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_detection_compares_versions_with_the_lockfile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("package-lock.json"),
            r#"{"lockfileVersion":3,"packages":{"":{"name":"x"},
                "node_modules/a":{"version":"1.0.0"},
                "node_modules/b":{"version":"2.0.0"},
                "node_modules/opt":{"version":"1.0.0","optional":true}}}"#,
        )
        .unwrap();
        let install = |name: &str, version: &str| {
            let p = dir.path().join("node_modules").join(name);
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(
                p.join("package.json"),
                format!(r#"{{"version":"{version}"}}"#),
            )
            .unwrap();
        };
        assert_eq!(stale_packages(dir.path()).unwrap().len(), 2);
        install("a", "1.0.0");
        install("b", "1.9.0");
        let stale = stale_packages(dir.path()).unwrap();
        assert_eq!(
            stale,
            vec!["node_modules/b: locked 2.0.0, installed 1.9.0".to_string()]
        );
        install("b", "2.0.0");
        assert!(stale_packages(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn the_checked_in_node_modules_match_when_installed() {
        let root = crate::workspace_root_of_this_checkout();
        let dir = node_dir(&root);
        if !dir.join("node_modules").is_dir() {
            eprintln!(
                "skipped: {} not installed yet",
                dir.join("node_modules").display()
            );
            return;
        }
        assert_eq!(stale_packages(&dir).unwrap(), Vec::<String>::new());
        assert_eq!(package_version(&root, "dynalite").as_deref(), Some("4.0.0"));
    }
}
