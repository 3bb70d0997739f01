//! `postgres-replica`: a PostgreSQL primary (started as `postgres.rs` starts one) plus a
//! streaming replica cloned from it, the local analogue of an Aurora reader endpoint or a
//! cross-region read replica.
//!
//! The replica is `pg_basebackup -R -X stream` over the primary's Unix socket (trust auth
//! there, so no password reaches a command line), with a physical replication slot so the
//! primary keeps the WAL the replica has not received yet. It runs as a second `postgres`
//! process on its own port, in its own process group, and is ready once it accepts
//! connections, reports `pg_is_in_recovery()` and its WAL receiver is streaming. Both servers
//! log into the same `postgres-replica.log`; the replica is stopped before the primary.

use crate::native::{self, NativeContext, Started, READY_TIMEOUT};
use crate::net::{free_port, loopback};
use crate::postgres::{self, command_as, probe_startup, Cluster, DATABASE, USER};
use crate::EmulatorError;
use assay_core::{Endpoint, Secret};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The primary keeps WAL for this slot until the replica has it.
const SLOT: &str = "assay_replica";
/// A base backup of a fresh cluster takes about a second; a busy machine gets some slack.
const BASEBACKUP_TIMEOUT: Duration = Duration::from_secs(120);
/// One readiness probe runs `psql` once; it answers in tens of milliseconds.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
const CLIENT_HINT: &str =
    "install the PostgreSQL client binaries next to the server (apt-get install postgresql)";

/// The directory with `initdb`, `postgres`, `pg_basebackup` and `psql`.
pub(crate) fn find_bin_dir() -> Result<PathBuf, String> {
    let bin = postgres::find_bin_dir()?;
    for tool in ["pg_basebackup", "psql"] {
        if !native::is_executable(&bin.join(tool)) {
            return Err(format!(
                "{tool} not found in {} (beside initdb): {CLIENT_HINT}",
                bin.display()
            ));
        }
    }
    Ok(bin)
}

pub(crate) async fn start(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    let bin = find_bin_dir().map_err(|reason| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason,
    })?;
    // Dropping `primary.run` on any error below stops the primary (and a started replica).
    let mut primary = postgres::start_primary(ctx).await?;
    let replica = Cluster::prepare_named(
        ctx,
        &primary.cluster.root,
        &primary.cluster.run_as,
        "replica",
        "replica-sockets",
    )?;
    base_backup(ctx, &bin, &primary.cluster, primary.port, &replica.data).await?;

    let port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let server = replica.start_server(ctx, &bin, port, "postgres-replica")?;
    primary.run.processes.push(server);
    let addr = loopback(port);
    let sockets = replica.sockets.clone();
    ctx.wait_ready_with(
        &format!("a streaming replica in recovery on {addr}"),
        &primary.run.processes,
        READY_TIMEOUT,
        PROBE_TIMEOUT,
        || probe_replica(&bin, &sockets, port, addr),
    )
    .await?;

    let url = primary.url(primary.port);
    let replica_url = primary.url(port);
    primary.run.pg_pair = Some(crate::native::PgPair {
        bin: bin.clone(),
        primary_sockets: primary.cluster.sockets.clone(),
        primary_port: primary.port,
        replica_sockets: sockets.clone(),
        replica_port: port,
    });
    Ok(Started {
        endpoint: Endpoint::Postgres {
            url: Secret::new(url),
            replica_url: Some(Secret::new(replica_url)),
        },
        version: postgres::version(&bin).await,
        run: primary.run,
    })
}

/// Clones the primary into `data`, writing `standby.signal` and `primary_conninfo` (-R).
async fn base_backup(
    ctx: &NativeContext,
    bin: &Path,
    primary: &Cluster,
    port: u16,
    data: &Path,
) -> Result<(), EmulatorError> {
    let mut cmd = command_as(bin.join("pg_basebackup"), &primary.run_as, &primary.root);
    cmd.arg("--host")
        .arg(&primary.sockets)
        .arg(format!("--port={port}"))
        .args(["--username", USER, "--no-password", "--pgdata"])
        .arg(data)
        .args([
            "--write-recovery-conf",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--no-sync",
            "--create-slot",
        ])
        .arg(format!("--slot={SLOT}"));
    ctx.log.note(&format!(
        "pg_basebackup from the primary's socket into {}",
        data.display()
    ));
    ctx.run_step("pg_basebackup", cmd, None, BASEBACKUP_TIMEOUT)
        .await
}

/// Ready means: accepts TCP logins, is a standby, and its WAL receiver streams from the
/// primary (so a write on the primary will show up without further setup).
async fn probe_replica(
    bin: &Path,
    sockets: &Path,
    port: u16,
    addr: std::net::SocketAddr,
) -> Result<(), String> {
    probe_startup(addr).await?;
    let sockets = sockets
        .to_str()
        .ok_or_else(|| format!("socket dir {} is not UTF-8", sockets.display()))?;
    let port = port.to_string();
    let answer = native::command_output(
        &bin.join("psql"),
        &[
            "-h",
            sockets,
            "-p",
            &port,
            "-U",
            USER,
            "-d",
            DATABASE,
            "-XAt",
            "-c",
            "SELECT pg_is_in_recovery()::text || ' ' || \
             coalesce((SELECT status FROM pg_stat_wal_receiver), 'no-wal-receiver')",
        ],
        PROBE_TIMEOUT,
    )
    .await?;
    match answer.as_str() {
        "true streaming" => Ok(()),
        "false streaming" | "false no-wal-receiver" => Err(format!(
            "{addr} is not in recovery ({answer}): the base backup did not make it a standby"
        )),
        other => Err(format!("{addr}: recovery and WAL receiver: {other}")),
    }
}
