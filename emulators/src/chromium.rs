//! Headless Chromium from the distribution's packages (Debian's `chromium`), which the
//! report's browser test loads `index.html` in: where the browser is, and
//! `assay emulators install chromium`. Not a stand-in: nothing here starts it.

use crate::native;
use crate::InstallOutcome;
use std::path::PathBuf;

/// The distribution package the installer puts on the machine.
pub const APT_PACKAGE: &str = "chromium";
/// What to do when no browser is found.
pub const INSTALL_HINT: &str =
    "no Chromium found; install it with `cargo xtask emulators install chromium` (as root)";
/// The names Chromium's binary goes by (Debian: `chromium`; Ubuntu's and others').
const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The browser binary: `ASSAY_CHROMIUM` when set, else the first of `NAMES` on `PATH` or
/// in /usr/bin.
pub fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ASSAY_CHROMIUM").map(PathBuf::from) {
        return native::is_executable(&p).then_some(p);
    }
    NAMES.iter().find_map(|n| {
        native::which(n).or_else(|| {
            let p = PathBuf::from("/usr/bin").join(n);
            native::is_executable(&p).then_some(p)
        })
    })
}

/// Installs Chromium with apt-get when no browser is found (root only).
pub async fn install() -> Result<InstallOutcome, String> {
    if let Some(browser) = find() {
        return Ok(InstallOutcome::AlreadyInstalled(browser));
    }
    crate::apt::install(
        APT_PACKAGE,
        "Chromium",
        "cargo xtask emulators install chromium",
    )
    .await?;
    find().map(InstallOutcome::Installed).ok_or_else(|| {
        format!(
            "`{}` succeeded but no {} is on PATH or in /usr/bin",
            crate::apt::command(APT_PACKAGE),
            NAMES.join(" / ")
        )
    })
}
