//! Installing a distribution package with apt-get, as root, bounded in time: what
//! `assay emulators install mysql|chromium` share. apt-get's output goes to our stdout /
//! stderr so the user sees its progress; a failed install is retried once after
//! `apt-get update` (a fresh image's package lists are usually empty or stale).

use crate::native;
use std::time::{Duration, Instant};

/// apt-get may download and configure for a while on a slow mirror, but not forever: the
/// bound on the whole install, a refresh and retry included.
const APT_TIMEOUT: Duration = Duration::from_secs(600);
const APT_UPDATE_TIMEOUT: Duration = Duration::from_secs(300);

/// The command a user would run themselves.
pub(crate) fn command(package: &str) -> String {
    format!("DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {package}")
}

/// Installs `package` (`what` names it for people, and `for_hint` is the `cargo xtask`
/// command to rerun). `Err` says what failed and what to run by hand.
pub(crate) async fn install(package: &str, what: &str, for_hint: &str) -> Result<(), String> {
    let apt_command = command(package);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "installing needs root; run `{apt_command}` as root (or `sudo {for_hint}`)"
        ));
    }
    let Some(apt) = native::which("apt-get") else {
        return Err(format!(
            "apt-get not found; install {what} ({package}) with this system's package manager"
        ));
    };
    let apt_install = || {
        let mut cmd = tokio::process::Command::new(&apt);
        cmd.args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    };
    // One overall bound for everything apt does here, retry included.
    let deadline = Instant::now() + APT_TIMEOUT;
    let left = || deadline.saturating_duration_since(Instant::now());
    let step = |what: &str, e: String| {
        format!(
            "{what} failed: {e}; run `apt-get update && {apt_command}` as root and read its output"
        )
    };
    if let Err(first_error) = run_bounded(apt_install(), left()).await {
        if left() < Duration::from_secs(30) {
            return Err(step("apt-get install", first_error));
        }
        eprintln!("{package}: `apt-get install` failed ({first_error}); running `apt-get update` and retrying once");
        let mut update = tokio::process::Command::new(&apt);
        update
            .arg("update")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        run_bounded(update, APT_UPDATE_TIMEOUT.min(left()))
            .await
            .map_err(|e| step("apt-get update", e))?;
        run_bounded(apt_install(), left())
            .await
            .map_err(|e| step("apt-get install", e))?;
    }
    Ok(())
}

/// Runs `cmd` to its end within `timeout`; killed when it takes longer.
pub(crate) async fn run_bounded(
    mut cmd: tokio::process::Command,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("ended with {status}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("did not finish within {timeout:?} and was killed"))
        }
    }
}
