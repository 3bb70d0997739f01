//! What a fault schedule may do to a running stand-in: signal the process group of one
//! of its servers (kill, stop, pause, resume), promote a PostgreSQL replica, switch
//! PostgreSQL replication between asynchronous and synchronous.

use crate::native::{command_output, PgPair};
use crate::{Emulator, Running};
use assay_core::LocalBackend;
use std::time::{Duration, Instant};

/// Which server of a stand-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerRole {
    Primary,
    Replica,
}

const SQL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long promote and the switch to synchronous replication may take to show.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

async fn psql(
    pair: &PgPair,
    sockets: &std::path::Path,
    port: u16,
    sql: &[&str],
) -> Result<String, String> {
    let sockets = sockets
        .to_str()
        .ok_or_else(|| format!("socket dir {} is not UTF-8", sockets.display()))?;
    let port = port.to_string();
    let mut args = vec![
        "-h",
        sockets,
        "-p",
        &port,
        "-U",
        crate::postgres::USER,
        "-d",
        crate::postgres::DATABASE,
        "-XAt",
    ];
    for s in sql {
        args.extend(["-c", s]);
    }
    command_output(&pair.bin.join("psql"), &args, SQL_TIMEOUT).await
}

impl Emulator {
    /// The process groups of one server: a primary + replica stand-in has one each;
    /// every other stand-in's processes are all its primary.
    fn groups(&self, role: ServerRole) -> Result<Vec<u32>, String> {
        let Running::Native(run) = &self.running else {
            return Err("faults on containers are not supported in this version".into());
        };
        let all: Vec<u32> = run.processes.iter().map(|p| p.pgid()).collect();
        match (self.backend, role) {
            (LocalBackend::PostgresReplica, ServerRole::Primary) => Ok(all[..1].to_vec()),
            (LocalBackend::PostgresReplica, ServerRole::Replica) => Ok(all[1..].to_vec()),
            (_, ServerRole::Primary) => Ok(all),
            (b, ServerRole::Replica) => Err(format!("{} has no replica", b.name())),
        }
    }

    /// Sends `signal` to every process of the server's group(s).
    pub fn signal(&self, role: ServerRole, signal: i32) -> Result<String, String> {
        let groups = self.groups(role)?;
        for g in &groups {
            crate::os::signal_group(*g, signal);
            if signal == libc::SIGTERM || signal == libc::SIGINT {
                // A paused group acts on the signal only once continued.
                crate::os::signal_group(*g, libc::SIGCONT);
            }
        }
        Ok(format!("signal {signal} to process group(s) {groups:?}"))
    }

    /// The controls of a PostgreSQL primary + replica (promote, replication mode),
    /// usable without holding the emulator.
    pub fn pg_control(&self) -> Result<PgControl, String> {
        match &self.running {
            Running::Native(run) => run
                .pg_pair
                .clone()
                .map(PgControl)
                .ok_or_else(|| format!("{} has no replica", self.backend.name())),
            Running::Container(_) => {
                Err("faults on containers are not supported in this version".into())
            }
        }
    }
}

/// Promote and replication mode of a PostgreSQL primary + replica stand-in.
#[derive(Clone, Debug)]
pub struct PgControl(PgPair);

impl PgControl {
    /// Promotes the replica to primary and waits until it accepts writes.
    pub async fn promote(&self) -> Result<String, String> {
        let pair = self.0.clone();
        let started = Instant::now();
        let answer = psql(
            &pair,
            &pair.replica_sockets,
            pair.replica_port,
            &["SELECT pg_promote(true, 30)"],
        )
        .await?;
        if answer != "t" {
            return Err(format!("pg_promote() answered {answer:?}"));
        }
        while started.elapsed() < SETTLE_TIMEOUT {
            let r = psql(
                &pair,
                &pair.replica_sockets,
                pair.replica_port,
                &["SELECT pg_is_in_recovery()"],
            )
            .await;
            if r.as_deref() == Ok("f") {
                return Ok(format!(
                    "replica on port {} promoted in {} ms",
                    pair.replica_port,
                    started.elapsed().as_millis()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "the replica was still in recovery after {SETTLE_TIMEOUT:?}"
        ))
    }

    /// Makes commits wait for the standby (`synchronous_standby_names = '*'`,
    /// `synchronous_commit = on`) or not, and waits until the primary reports the
    /// standby in that state.
    pub async fn set_synchronous_replication(&self, synchronous: bool) -> Result<String, String> {
        let pair = self.0.clone();
        let names = if synchronous { "'*'" } else { "''" };
        let set = format!("ALTER SYSTEM SET synchronous_standby_names = {names}");
        psql(
            &pair,
            &pair.primary_sockets,
            pair.primary_port,
            &[
                &set,
                "ALTER SYSTEM SET synchronous_commit = on",
                "SELECT pg_reload_conf()",
            ],
        )
        .await?;
        let want = if synchronous { "sync" } else { "async" };
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < SETTLE_TIMEOUT {
            last = psql(
                &pair,
                &pair.primary_sockets,
                pair.primary_port,
                &["SELECT coalesce(string_agg(sync_state, ','), 'none') FROM pg_stat_replication"],
            )
            .await
            .unwrap_or_else(|e| e);
            if last == want {
                return Ok(format!(
                    "replication is {want}: the standby reports sync_state {last}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "the standby's sync_state stayed {last:?}, not {want}, for {SETTLE_TIMEOUT:?}"
        ))
    }
}
