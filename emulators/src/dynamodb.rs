//! DynamoDB API stand-ins: moto's server (PyPI) and dynalite (npm), each on
//! `127.0.0.1:<free port>`, ready once a `ListTables` call answers with a table list.
//!
//! dynalite keeps its default `--createTableMs 500`: tables sit in CREATING for half a
//! second, as on the real service, so drivers must wait for ACTIVE.

use crate::native::{NativeContext, NativeRun, Started, READY_TIMEOUT};
use crate::net::{free_port, http_request, loopback};
use crate::{node, python, EmulatorError};
use assay_core::{Endpoint, Secret};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

pub(crate) const REGION: &str = "us-east-1";
/// Static dummy credentials: local stand-ins accept any signature.
pub(crate) const ACCESS_KEY_ID: &str = "assay";
pub(crate) const SECRET_ACCESS_KEY: &str = "assay";
const STOP_GRACE: Duration = Duration::from_secs(2);

pub(crate) fn endpoint(port: u16) -> Endpoint {
    Endpoint::Dynamodb {
        url: Some(format!("http://{}", loopback(port))),
        region: REGION.to_string(),
        access_key_id: Some(Secret::new(ACCESS_KEY_ID)),
        secret_access_key: Some(Secret::new(SECRET_ACCESS_KEY)),
    }
}

pub(crate) async fn start_moto(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    let moto = python::resolve_moto(ctx).await?;
    let port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let mut cmd = Command::new(&moto.program);
    cmd.args(&moto.args)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        // Unbuffered, so the log shows requests as they happen.
        .env("PYTHONUNBUFFERED", "1");
    let mut run = NativeRun::new(&ctx.log);
    run.processes
        .push(ctx.spawn("moto_server", cmd, libc::SIGTERM, STOP_GRACE)?);
    wait_list_tables(ctx, &run, port).await?;
    Ok(Started {
        run,
        endpoint: endpoint(port),
        version: Some(format!("moto {}", moto.version)),
    })
}

pub(crate) async fn start_dynalite(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    let node = node::ensure_installed(ctx).await?;
    let cli = node::node_dir(&ctx.workspace_root).join("node_modules/dynalite/cli.js");
    let port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let mut cmd = Command::new(node);
    cmd.arg(cli)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
    let mut run = NativeRun::new(&ctx.log);
    run.processes
        .push(ctx.spawn("dynalite", cmd, libc::SIGTERM, STOP_GRACE)?);
    wait_list_tables(ctx, &run, port).await?;
    Ok(Started {
        run,
        endpoint: endpoint(port),
        version: node::package_version(&ctx.workspace_root, "dynalite")
            .map(|v| format!("dynalite {v}")),
    })
}

async fn wait_list_tables(
    ctx: &NativeContext,
    run: &NativeRun,
    port: u16,
) -> Result<(), EmulatorError> {
    let addr = loopback(port);
    ctx.wait_ready(
        &format!("a DynamoDB ListTables answer on {addr}"),
        &run.processes,
        READY_TIMEOUT,
        || list_tables(addr),
    )
    .await
    .map(drop)
}

/// A signed-looking `ListTables` request: the stand-ins check the header's shape only.
pub(crate) async fn list_tables(addr: SocketAddr) -> Result<String, String> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20240101/{REGION}/dynamodb/aws4_request, \
         SignedHeaders=host;x-amz-date;x-amz-target, Signature=00"
    );
    let resp = http_request(
        "POST",
        addr,
        "/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.ListTables"),
            ("x-amz-date", "20240101T000000Z"),
            ("authorization", &auth),
        ],
        Some("{}".to_string()),
        Duration::from_secs(2),
    )
    .await?;
    if resp.status == 200 && resp.body.contains("TableNames") {
        Ok(resp.body)
    } else {
        Err(format!(
            "ListTables on {addr} answered {}: {}",
            resp.status,
            resp.body.chars().take(200).collect::<String>()
        ))
    }
}
