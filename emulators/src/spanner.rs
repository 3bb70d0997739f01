//! The Cloud Spanner emulator from the Google Cloud CLI package: `gateway_main` serves the
//! REST admin API and spawns `emulator_main` (gRPC) into the same process group. Once REST
//! answers, the instance `assay` (config `emulator-config`) and database `assay` of project
//! `assay` are created through it and polled until READY.
//!
//! It also owns the emulator's fault knobs ([`SpannerFaults`]): how eagerly it aborts a
//! running read-write transaction when another one begins, and random commit aborts.

use crate::native::{self, NativeContext, NativeRun, Started, PORT_RACE_ATTEMPTS, READY_TIMEOUT};
use crate::net::{free_port, http_request, loopback, tcp_connect};
use crate::{Emulator, EmulatorError, Mode, Running, StartOptions};
use assay_core::{Endpoint, LocalBackend};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) const PROJECT: &str = "assay";
pub(crate) const INSTANCE: &str = "assay";
pub(crate) const DATABASE: &str = "assay";
const DEFAULT_BIN_DIR: &str = "/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator";
const BIN_DIR_ENV: &str = "SPANNER_EMULATOR_BIN_DIR";
const STOP_GRACE: Duration = Duration::from_secs(3);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// `$SPANNER_EMULATOR_BIN_DIR`, else the Debian package's directory, else `gateway_main`
/// on PATH; the directory must hold both `gateway_main` and `emulator_main`.
pub(crate) fn find_bin_dir() -> Result<PathBuf, String> {
    let has_both = |d: &Path| {
        native::is_executable(&d.join("gateway_main"))
            && native::is_executable(&d.join("emulator_main"))
    };
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        return if has_both(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "${BIN_DIR_ENV}={} lacks gateway_main and emulator_main: point it at the \
                 cloud_spanner_emulator directory",
                dir.display()
            ))
        };
    }
    let candidates = [
        Some(PathBuf::from(DEFAULT_BIN_DIR)),
        native::which("gateway_main")
            .and_then(|p| std::fs::canonicalize(p).ok())
            .and_then(|p| p.parent().map(Path::to_path_buf)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| has_both(d))
        .ok_or_else(|| {
            format!(
                "Cloud Spanner emulator not found in {DEFAULT_BIN_DIR} or on PATH: install it \
             (apt-get install google-cloud-cli-spanner-emulator) or set ${BIN_DIR_ENV}"
            )
        })
}

/// "cloud-spanner-emulator 1.5.28" from the SDK's component snapshot, when present.
fn version(bin_dir: &Path) -> Option<String> {
    let sdk = bin_dir.parent()?.parent()?;
    let text =
        std::fs::read_to_string(sdk.join(".install/cloud-spanner-emulator.snapshot.json")).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json.get("components")?
        .as_array()?
        .iter()
        .find(|c| c.get("id").and_then(|i| i.as_str()) == Some("cloud-spanner-emulator"))?
        .get("version")?
        .get("version_string")?
        .as_str()
        .map(|v| format!("cloud-spanner-emulator {v}"))
}

/// Faults the Cloud Spanner emulator injects itself, for testing abort-retry handling.
/// The default injects nothing beyond the emulator's own defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SpannerFaults {
    /// Probability (0.0 to 1.0, in whole percent) that the emulator aborts the read-write
    /// transaction it is running when another one begins
    /// (`--abort_current_transaction_probability`; the emulator's own default is 0.2).
    /// The emulator runs one read-write transaction at a time, so a higher value aborts
    /// more often under concurrency.
    pub abort_probability: Option<f64>,
    /// Randomly abort commits even without concurrency (`--enable_fault_injection`).
    pub inject_commit_aborts: bool,
}

impl SpannerFaults {
    /// The flag's value in whole percent, or why `abort_probability` is unusable.
    fn abort_percent(&self) -> Result<Option<u32>, String> {
        match self.abort_probability {
            None => Ok(None),
            Some(p) if (0.0..=1.0).contains(&p) => Ok(Some((p * 100.0).round() as u32)),
            Some(p) => Err(format!(
                "spanner abort probability {p} is outside 0.0..=1.0; give a probability such as 0.3"
            )),
        }
    }

    fn is_default(&self) -> bool {
        *self == SpannerFaults::default()
    }
}

impl Emulator {
    /// Starts the Cloud Spanner emulator with `faults`. Without faults this is
    /// `Emulator::start(LocalBackend::SpannerEmulator, opts)`; with faults it always runs
    /// natively, because the container image is started without extra flags.
    pub async fn start_spanner(
        opts: &StartOptions,
        faults: SpannerFaults,
    ) -> Result<Emulator, EmulatorError> {
        let backend = LocalBackend::SpannerEmulator;
        if faults.is_default() {
            return Emulator::start(backend, opts).await;
        }
        faults
            .abort_percent()
            .map_err(|reason| EmulatorError::Unavailable { backend, reason })?;
        if opts.mode == Mode::Containers {
            return Err(EmulatorError::NoContainer {
                backend,
                reason: "fault options are passed as emulator flags, which only the native \
                         emulator takes"
                    .to_string(),
            });
        }
        let mut attempt = 1;
        loop {
            let ctx = NativeContext::new(backend, &opts.run_dir, &opts.workspace_root)?;
            match start_with(&ctx, faults).await {
                Ok(started) => {
                    return Ok(Emulator {
                        backend,
                        endpoint: started.endpoint,
                        version: started.version,
                        running: Running::Native(started.run),
                    })
                }
                Err(EmulatorError::PortTaken { .. }) if attempt < PORT_RACE_ATTEMPTS => {
                    ctx.log.note(&format!(
                        "port taken by another process (attempt {attempt}); retrying with new ports"
                    ));
                    attempt += 1;
                }
                Err(EmulatorError::PortTaken { backend, log, .. }) => {
                    return Err(EmulatorError::PortTaken {
                        backend,
                        attempts: attempt,
                        log,
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }
}

pub(crate) async fn start(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    start_with(ctx, SpannerFaults::default()).await
}

/// `gateway_main` has no flag for the abort probability, so it is handed a wrapper that
/// starts `emulator_main` with the gateway's flags plus that one.
fn emulator_wrapper(dir: &Path, emulator_main: &Path, percent: u32) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let quoted = emulator_main.to_string_lossy().replace('\'', "'\\''");
    let script = format!(
        "#!/bin/sh\nexec '{quoted}' \"$@\" --abort_current_transaction_probability={percent}\n"
    );
    let path = dir.join("emulator_main_with_faults.sh");
    std::fs::write(&path, script)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

async fn start_with(ctx: &NativeContext, faults: SpannerFaults) -> Result<Started, EmulatorError> {
    let bin = find_bin_dir().map_err(|reason| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason,
    })?;
    let abort_percent = faults
        .abort_percent()
        .map_err(|reason| EmulatorError::Unavailable {
            backend: ctx.backend,
            reason,
        })?;
    let grpc_port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let http_port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let temp = ctx.temp_dir()?;
    let grpc_binary = match abort_percent {
        None => bin.join("emulator_main"),
        Some(percent) => emulator_wrapper(temp.path(), &bin.join("emulator_main"), percent)
            .map_err(|e| ctx.io_error("writing the emulator_main wrapper", e))?,
    };
    let mut cmd = Command::new(bin.join("gateway_main"));
    cmd.args(["--hostname", "127.0.0.1"])
        .args(["--grpc_port", &grpc_port.to_string()])
        .args(["--http_port", &http_port.to_string()])
        .arg("--grpc_binary")
        .arg(grpc_binary)
        .arg("--copy_emulator_stdout")
        .current_dir(temp.path());
    if faults.inject_commit_aborts {
        cmd.arg("--enable_fault_injection");
    }
    if let Some(percent) = abort_percent {
        ctx.log.note(&format!(
            "fault: abort_current_transaction_probability={percent}%"
        ));
    }
    let mut run = NativeRun::new(&ctx.log);
    run.temp_dir = Some(temp);
    run.processes
        .push(ctx.spawn("gateway_main", cmd, libc::SIGTERM, STOP_GRACE)?);

    let rest = loopback(http_port);
    let grpc = loopback(grpc_port);
    ctx.wait_ready(
        &format!("the Spanner REST admin API on {rest} and gRPC on {grpc}"),
        &run.processes,
        READY_TIMEOUT,
        || async move {
            admin(
                rest,
                "GET",
                &format!("/v1/projects/{PROJECT}/instances"),
                None,
            )
            .await?;
            tcp_connect(grpc, Duration::from_secs(1)).await.map(drop)
        },
    )
    .await?;
    // From here on the gateway's emulator_main exists; watch it too.
    if let Some(gateway) = run.processes.first_mut() {
        gateway.watch_group_members();
    }
    provision(ctx, &run, rest).await?;
    Ok(Started {
        run,
        endpoint: Endpoint::Spanner {
            emulator_host: Some(grpc.to_string()),
            project: PROJECT.to_string(),
            instance: INSTANCE.to_string(),
            database: DATABASE.to_string(),
        },
        version: version(&bin),
    })
}

/// Creates the instance and database (an existing one is fine) and waits for READY.
pub(crate) async fn provision_at(rest: SocketAddr) -> Result<(), String> {
    let instances = format!("/v1/projects/{PROJECT}/instances");
    let body = serde_json::json!({
        "instanceId": INSTANCE,
        "instance": {
            "config": format!("projects/{PROJECT}/instanceConfigs/emulator-config"),
            "displayName": "assay",
            "nodeCount": 1
        }
    });
    create(rest, &instances, body.to_string()).await?;
    let instance = format!("{instances}/{INSTANCE}");
    wait_state_ready(rest, &instance).await?;
    let body = serde_json::json!({ "createStatement": format!("CREATE DATABASE `{DATABASE}`") });
    create(rest, &format!("{instance}/databases"), body.to_string()).await?;
    wait_state_ready(rest, &format!("{instance}/databases/{DATABASE}")).await
}

async fn provision(
    ctx: &NativeContext,
    run: &NativeRun,
    rest: SocketAddr,
) -> Result<(), EmulatorError> {
    ctx.wait_ready_with(
        &format!("instance {INSTANCE} and database {DATABASE} READY via {rest}"),
        &run.processes,
        READY_TIMEOUT,
        4 * ADMIN_TIMEOUT,
        || provision_at(rest),
    )
    .await
}

async fn create(rest: SocketAddr, path: &str, body: String) -> Result<(), String> {
    match admin(rest, "POST", path, Some(body)).await {
        Ok(_) => Ok(()),
        // A retried provisioning finds what the first attempt made.
        Err(e) if e.contains("HTTP 409") || e.contains("ALREADY_EXISTS") => Ok(()),
        Err(e) => Err(e),
    }
}

async fn wait_state_ready(rest: SocketAddr, path: &str) -> Result<(), String> {
    let body = admin(rest, "GET", path, None).await?;
    let json: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}"))?;
    match json.get("state").and_then(|s| s.as_str()) {
        Some("READY") => Ok(()),
        other => Err(format!("GET {path}: state {}", other.unwrap_or("missing"))),
    }
}

/// One REST admin call; a non-2xx status is an error quoting the body.
async fn admin(
    rest: SocketAddr,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<String, String> {
    let resp = http_request(
        method,
        rest,
        path,
        &[("content-type", "application/json")],
        body,
        ADMIN_TIMEOUT,
    )
    .await?;
    if (200..300).contains(&resp.status) {
        Ok(resp.body)
    } else {
        Err(format!(
            "{method} {path}: HTTP {} {}",
            resp.status,
            resp.body.chars().take(300).collect::<String>()
        ))
    }
}
