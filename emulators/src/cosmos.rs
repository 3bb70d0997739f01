//! Cosmos DB (NoSQL API) stand-in: `@vercel/cosmosdb-server` (npm) with `--no-ssl` on
//! `127.0.0.1:<free port>`, behind Assay's in-process compatibility adapter
//! ([`crate::cosmos_adapter`]) that fixes the protocol shapes the official SDK trips over.
//! The SDK talks plain HTTP to the adapter, so no TLS is needed on either side.

use crate::native::{NativeContext, NativeRun, Started, READY_TIMEOUT};
use crate::net::{free_port, http_request, loopback};
use crate::{cosmos_adapter, node, EmulatorError};
use assay_core::{Endpoint, Secret};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// The Cosmos DB emulator's published, well-known account key (not a secret anywhere).
pub(crate) const EMULATOR_KEY: &str =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const PACKAGE: &str = "@vercel/cosmosdb-server";
const STOP_GRACE: Duration = Duration::from_secs(2);

pub(crate) fn endpoint(url: String) -> Endpoint {
    Endpoint::Cosmos {
        url,
        key: Secret::new(EMULATOR_KEY),
        emulator: true,
    }
}

pub(crate) async fn start(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    let node = node::ensure_installed(ctx).await?;
    let cli =
        node::node_dir(&ctx.workspace_root).join("node_modules/@vercel/cosmosdb-server/lib/cli.js");
    let port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let mut cmd = Command::new(node);
    cmd.arg(cli).args([
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--no-ssl",
    ]);
    let mut run = NativeRun::new(&ctx.log);
    run.processes
        .push(ctx.spawn("cosmosdb-server", cmd, libc::SIGTERM, STOP_GRACE)?);
    let upstream = loopback(port);
    ctx.wait_ready(
        &format!("cosmosdb-server answering GET / on {upstream}"),
        &run.processes,
        READY_TIMEOUT,
        || get_root(upstream),
    )
    .await?;

    let adapter = cosmos_adapter::start(upstream, false).await.map_err(|e| {
        ctx.io_error(
            format!("starting the Cosmos compatibility adapter for {upstream}"),
            e,
        )
    })?;
    let public = adapter.local_addr();
    ctx.log.note(&format!(
        "compatibility adapter on {public} in front of {upstream}"
    ));
    run.adapter = Some(adapter);
    ctx.wait_ready(
        &format!("the Cosmos adapter answering GET / on {public}"),
        &run.processes,
        READY_TIMEOUT,
        || get_root(public),
    )
    .await?;
    Ok(Started {
        run,
        endpoint: endpoint(format!("http://{public}")),
        version: node::package_version(&ctx.workspace_root, PACKAGE)
            .map(|v| format!("{PACKAGE} {v} (behind Assay's adapter)")),
    })
}

/// `GET /` is the account metadata read every SDK starts with; 2xx means serving.
pub(crate) async fn get_root(addr: SocketAddr) -> Result<(), String> {
    let resp = http_request("GET", addr, "/", &[], None, Duration::from_secs(2)).await?;
    if (200..300).contains(&resp.status) {
        Ok(())
    } else {
        Err(format!(
            "GET http://{addr}/ answered {}: {}",
            resp.status,
            resp.body.chars().take(200).collect::<String>()
        ))
    }
}
