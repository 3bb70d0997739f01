//! Python packages for the moto stand-in, pinned in `emulators/python/requirements.txt`:
//! use the machine's `moto_server` when `python3` has exactly the pinned moto, else a venv
//! under `<workspace>/target/assay/venv` that the project installs itself (pip, once, under
//! a file lock so parallel test processes do not race).

use crate::native::{self, FileLock, NativeContext};
use crate::EmulatorError;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const VERSION_QUERY: &str = "import moto; print(moto.__version__)";
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) fn requirements_path(root: &Path) -> PathBuf {
    root.join("emulators/python/requirements.txt")
}

fn venv_dir(root: &Path) -> PathBuf {
    root.join("target/assay/venv")
}

/// The moto version pinned by `moto==X` or `moto[extras]==X` in requirements.txt.
pub(crate) fn pinned_moto_version(root: &Path) -> Result<String, String> {
    let path = requirements_path(root);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_moto_pin(&text).ok_or_else(|| {
        format!(
            "{} has no `moto[server]==<version>` line: add one",
            path.display()
        )
    })
}

fn parse_moto_pin(text: &str) -> Option<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| l.starts_with("moto"))
        .find_map(|l| {
            let (name, version) = l.split_once("==")?;
            let name = name.split('[').next()?.trim();
            (name == "moto").then(|| version.trim().to_string())
        })
}

/// How to launch moto's server, and which moto that is.
#[derive(Debug)]
pub(crate) struct MotoCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub version: String,
}

impl MotoCommand {
    fn from_python(python: &Path, version: String) -> MotoCommand {
        // The entry point script sits next to the interpreter; `-m moto.server` is the same
        // program when it does not.
        let script = python.with_file_name("moto_server");
        if native::is_executable(&script) {
            MotoCommand {
                program: script,
                args: Vec::new(),
                version,
            }
        } else {
            MotoCommand {
                program: python.to_path_buf(),
                args: vec!["-m".into(), "moto.server".into()],
                version,
            }
        }
    }
}

async fn moto_version(python: &Path) -> Option<String> {
    native::command_output(python, &["-c", VERSION_QUERY], Duration::from_secs(30))
        .await
        .ok()
}

/// Finds (or installs) moto at the pinned version.
pub(crate) async fn resolve_moto(ctx: &NativeContext) -> Result<MotoCommand, EmulatorError> {
    let root = &ctx.workspace_root;
    let pin = pinned_moto_version(root).map_err(|reason| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason,
    })?;
    if let Some(python) = native::which("python3") {
        if moto_version(&python).await.as_deref() == Some(pin.as_str()) {
            let cmd = match native::which("moto_server") {
                Some(program) => MotoCommand {
                    program,
                    args: Vec::new(),
                    version: pin,
                },
                None => MotoCommand {
                    program: python,
                    args: vec!["-m".into(), "moto.server".into()],
                    version: pin,
                },
            };
            ctx.log
                .note(&format!("using the machine's moto {}", cmd.version));
            return Ok(cmd);
        }
    }
    let venv_python = venv_dir(root).join("bin/python");
    if let Some(cmd) = venv_moto(&venv_python, &pin).await {
        return Ok(cmd);
    }
    let lock_path = root.join("target/assay/venv.lock");
    let _lock = FileLock::acquire(&lock_path, INSTALL_TIMEOUT)
        .await
        .map_err(|e| ctx.step_error("waiting for another moto install", e))?;
    // Someone else may have installed it while we waited for the lock.
    if let Some(cmd) = venv_moto(&venv_python, &pin).await {
        return Ok(cmd);
    }
    install_venv(ctx, &pin).await?;
    venv_moto(&venv_python, &pin).await.ok_or_else(|| {
        ctx.step_error(
            "moto install",
            format!(
                "{} still lacks moto {pin} after pip install",
                venv_dir(root).display()
            ),
        )
    })
}

async fn venv_moto(venv_python: &Path, pin: &str) -> Option<MotoCommand> {
    if !native::is_executable(venv_python) {
        return None;
    }
    let version = moto_version(venv_python).await?;
    (version == pin).then(|| MotoCommand::from_python(venv_python, version))
}

async fn install_venv(ctx: &NativeContext, pin: &str) -> Result<(), EmulatorError> {
    let root = &ctx.workspace_root;
    let python = native::which("python3").ok_or_else(|| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason:
            "python3 not found on PATH: install Python 3 with venv (apt-get install python3-venv)"
                .into(),
    })?;
    let venv = venv_dir(root);
    ctx.log.note(&format!(
        "installing moto {pin} into {} (first use; later starts reuse it)",
        venv.display()
    ));
    let mut create = Command::new(&python);
    create.args(["-m", "venv", "--clear"]).arg(&venv);
    ctx.run_step(
        "creating the moto venv",
        create,
        None,
        Duration::from_secs(180),
    )
    .await?;
    let mut pip = Command::new(venv.join("bin/python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
    ])
    .arg(requirements_path(root));
    ctx.run_step(
        "pip install -r emulators/python/requirements.txt",
        pip,
        None,
        INSTALL_TIMEOUT,
    )
    .await
}

/// moto can run if the machine has the pinned moto, the venv has it, or python3 can build
/// the venv.
pub(crate) fn availability(root: &Path) -> Result<(), String> {
    let pin = pinned_moto_version(root)?;
    let query = |python: &Path| {
        native::command_output_blocking(python, &["-c", VERSION_QUERY], Duration::from_secs(30))
    };
    let venv_python = venv_dir(root).join("bin/python");
    if native::is_executable(&venv_python) && query(&venv_python).ok().as_deref() == Some(&pin) {
        return Ok(());
    }
    let python = native::which("python3").ok_or_else(|| {
        "python3 not found on PATH: install Python 3 (apt-get install python3 python3-venv)"
            .to_string()
    })?;
    if query(&python).ok().as_deref() == Some(&pin) {
        return Ok(());
    }
    native::command_output_blocking(
        &python,
        &["-c", "import venv, ensurepip"],
        Duration::from_secs(30),
    )
    .map(|_| ())
    .map_err(|e| {
        format!("python3 cannot create a venv to install moto {pin} ({e}): apt-get install python3-venv")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_is_read_from_requirements() {
        assert_eq!(
            parse_moto_pin("# comment\nmoto[server]==5.2.1  # the image's version\n").as_deref(),
            Some("5.2.1")
        );
        assert_eq!(parse_moto_pin("moto==4.0.0").as_deref(), Some("4.0.0"));
        assert_eq!(parse_moto_pin("motor==1.0\nboto3==1"), None);
    }

    #[test]
    fn the_checked_in_requirements_pin_moto() {
        let root = crate::workspace_root_of_this_checkout();
        assert_eq!(pinned_moto_version(&root).unwrap(), "5.2.1");
    }
}
