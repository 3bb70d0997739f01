//! The fault injector of a local target: a fault proxy in front of each of its servers
//! (clients connect to the proxy), plus the stand-in's processes. Network faults become
//! proxy toxics; kill, stop, pause and resume signal the server's process group; restart
//! starts a fresh stand-in behind the same proxy address; promote promotes the
//! PostgreSQL replica and points the primary's proxy at it.

use crate::targets::{connect, LiveTarget};
use assay_core::fault::FaultInjector;
use assay_core::isolation::IsolationLevel;
use assay_core::scenario::TableSpec;
use assay_core::scenario::{FaultDirection, FaultKind, FaultOn, FaultSpec, Replication};
use assay_core::{DriverConfig, DriverError};
use assay_core::{Endpoint, LocalBackend, Scenario};
use assay_emulators::{Emulator, PgControl, ServerRole, StartOptions};
use assay_engine::proxy::{Direction, FaultProxy, Toxic, ToxicKind};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tries at creating a fresh stand-in's tables.
const SETUP_TRIES: u32 = 5;

#[derive(Clone)]
struct FreshSetup {
    config: DriverConfig,
    isolation: Option<IsolationLevel>,
    tables: Vec<TableSpec>,
}

pub struct FaultRig {
    backend: LocalBackend,
    original: Arc<Mutex<Emulator>>,
    /// The stand-in started by a restart, in the original's place.
    replacement: tokio::sync::Mutex<Option<Emulator>>,
    start: StartOptions,
    primary: FaultProxy,
    replica: Option<FaultProxy>,
    replica_addr: Option<SocketAddr>,
    endpoint: Endpoint,
    pg: Option<PgControl>,
    /// Set once the scenario's driver is connected: how to create the scenario's tables
    /// in a fresh stand-in (with a driver of its own, under the same namespace).
    fresh_setup: Mutex<Option<FreshSetup>>,
    /// What setting the scenario's replication mode showed, for the record's notes.
    pub replication: Option<String>,
}

/// Durable servers keep their data across a restart; this version can only start a
/// fresh, empty stand-in, which would misstate what a restart of one does.
fn durable(b: LocalBackend) -> bool {
    matches!(
        b,
        LocalBackend::Postgres
            | LocalBackend::PostgresReplica
            | LocalBackend::PostgresTls
            | LocalBackend::Mysql
    )
}

impl FaultRig {
    /// Sets the rig up for `scenario` on `live`; `Err` is why the scenario's faults
    /// cannot be carried out on this target (reported as unsupported).
    pub async fn start(
        live: &LiveTarget,
        scenario: &Scenario,
        start: StartOptions,
    ) -> Result<FaultRig, String> {
        let name = &live.spec.name;
        let original = live.started_emulator().ok_or_else(|| {
            format!("{name} was started by `assay emulators up`; faults need a stand-in this run starts (run `assay emulators down {name}` first)")
        })?;
        let backend = live
            .spec
            .local
            .ok_or_else(|| format!("{name} is not a local target"))?;
        let pg = original
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pg_control()
            .ok();
        for f in &scenario.faults {
            let kind = f.kind;
            if kind == FaultKind::Command {
                return Err("a `command` fault runs a program against a real endpoint; this target is a local stand-in".into());
            }
            if (kind == FaultKind::Promote || f.on == FaultOn::Replica) && pg.is_none() {
                return Err(format!(
                    "`{}` needs a replica; {name} has none (use postgres-replica)",
                    f.describe()
                ));
            }
            let starts_again = kind == FaultKind::Restart
                || kind == FaultKind::Start
                || (matches!(kind, FaultKind::Kill | FaultKind::Stop) && f.duration.is_some());
            if starts_again && durable(backend) {
                return Err(format!("`{}`: starting {name} again would start an empty server, not restart this one; promote the replica instead (postgres-replica)", f.describe()));
            }
        }
        let primary_addr = live
            .endpoint
            .address()
            .ok_or_else(|| format!("{name}: no local address to put a fault proxy in front of"))?;
        let proxy_err = |e: std::io::Error| format!("starting a fault proxy on 127.0.0.1: {e}");
        let primary = FaultProxy::start(primary_addr).await.map_err(proxy_err)?;
        let replica_addr = live.endpoint.replica_address();
        let replica = match replica_addr {
            Some(a) => Some(FaultProxy::start(a).await.map_err(proxy_err)?),
            None => None,
        };
        let replication = match scenario.replication {
            Some(mode) => {
                let control = pg.as_ref().ok_or_else(|| {
                    format!("`replication` needs a primary + replica target; {name} has no replica")
                })?;
                Some(
                    control
                        .set_synchronous_replication(mode == Replication::Synchronous)
                        .await?,
                )
            }
            None => None,
        };
        let endpoint = live.endpoint.with_addresses(
            primary.listen_addr(),
            replica.as_ref().map(FaultProxy::listen_addr),
        );
        Ok(FaultRig {
            backend,
            original,
            replacement: tokio::sync::Mutex::new(None),
            start,
            primary,
            replica,
            replica_addr,
            endpoint,
            pg,
            fresh_setup: Mutex::new(None),
            replication,
        })
    }

    /// The target's endpoint through the proxies: what the scenario's driver connects to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// How the scenario's driver was made, to set up the tables of a restarted (empty)
    /// stand-in the same way.
    pub fn use_setup(
        &self,
        config: DriverConfig,
        isolation: Option<IsolationLevel>,
        tables: &[TableSpec],
    ) {
        *self.fresh_setup.lock().unwrap_or_else(|p| p.into_inner()) = Some(FreshSetup {
            config,
            isolation,
            tables: tables.to_vec(),
        });
    }

    /// Stops a restarted stand-in; the proxies go with the rig.
    pub async fn finish(self) {
        if let Some(e) = self.replacement.lock().await.take() {
            e.stop().await;
        }
    }

    fn proxy(&self, on: FaultOn) -> Result<&FaultProxy, String> {
        match on {
            FaultOn::Primary => Ok(&self.primary),
            FaultOn::Replica => self
                .replica
                .as_ref()
                .ok_or_else(|| "this target has no replica".into()),
        }
    }

    async fn signal(&self, on: FaultOn, signal: i32) -> Result<String, String> {
        let role = match on {
            FaultOn::Primary => ServerRole::Primary,
            FaultOn::Replica => ServerRole::Replica,
        };
        if let Some(e) = self.replacement.lock().await.as_ref() {
            return e.signal(role, signal);
        }
        self.original
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .signal(role, signal)
    }

    /// A fresh stand-in behind the primary's proxy, with the scenario's tables.
    async fn start_fresh(&self) -> Result<String, String> {
        let fresh = Emulator::start(self.backend, &self.start)
            .await
            .map_err(|e| e.to_string())?;
        let addr = fresh
            .endpoint()
            .address()
            .ok_or("the fresh stand-in has no local address")?;
        self.primary.retarget(addr);
        if let Some(old) = self.replacement.lock().await.replace(fresh) {
            old.stop().await;
        }
        let setup = self
            .fresh_setup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(s) = setup {
            let failed = |e: DriverError| {
                format!("a fresh stand-in at {addr}, but creating its tables failed: {e}")
            };
            // A driver of its own: the scenario's still holds connections to the old one,
            // and remembers the tables it made there.
            // A fresh Spanner emulator numbers sessions from 0 again, so the scenario's
            // client, still holding the old instance's session names, can end a session
            // of this one ("Session not found"); a later try with new sessions succeeds.
            let mut last = None;
            for attempt in 0..SETUP_TRIES {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let made = match connect(&self.endpoint, s.config.clone(), s.isolation).await {
                    Ok(driver) => driver.setup(&s.tables).await,
                    Err(e) => Err(e),
                };
                match made {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                return Err(failed(e));
            }
        }
        Ok(format!("a fresh, empty stand-in at {addr} behind the proxy (an in-memory stand-in loses its data: a property of the emulator, not of the service)"))
    }
}

fn direction(d: FaultDirection) -> Direction {
    match d {
        FaultDirection::Upstream => Direction::Upstream,
        FaultDirection::Downstream => Direction::Downstream,
        FaultDirection::Both => Direction::Both,
    }
}

#[async_trait::async_trait]
impl FaultInjector for FaultRig {
    async fn apply(&self, action: FaultKind, f: &FaultSpec) -> Result<String, String> {
        let toxic = |kind: ToxicKind| {
            let mut t = Toxic::new(action.as_str(), kind, direction(f.direction));
            t.toxicity = f.toxicity;
            t
        };
        match action {
            FaultKind::Partition => {
                let p = self.proxy(f.on)?;
                p.add(toxic(ToxicKind::Timeout {
                    close_after: Duration::ZERO,
                }));
                Ok(format!(
                    "nothing passes the proxy at {} ({} open connection(s) so far)",
                    p.listen_addr(),
                    p.connections()
                ))
            }
            FaultKind::Latency => {
                self.proxy(f.on)?.add(toxic(ToxicKind::Latency {
                    latency: f.latency,
                    jitter: f.jitter,
                }));
                Ok(format!(
                    "{:?} ± {:?} added by the proxy",
                    f.latency, f.jitter
                ))
            }
            FaultKind::ResetPeer => {
                self.proxy(f.on)?.add(toxic(ToxicKind::ResetPeer {
                    after: Duration::ZERO,
                }));
                Ok("every connection through the proxy is reset".into())
            }
            FaultKind::Bandwidth => {
                self.proxy(f.on)?.add(toxic(ToxicKind::Bandwidth {
                    bytes_per_s: f.bytes_per_s,
                }));
                Ok(format!(
                    "at most {} bytes/s through the proxy",
                    f.bytes_per_s
                ))
            }
            FaultKind::Heal => {
                let p = self.proxy(f.on)?;
                let n = p.toxics().len();
                p.heal_all();
                Ok(format!("{n} toxic(s) removed"))
            }
            FaultKind::Kill => self.signal(f.on, libc::SIGKILL).await,
            FaultKind::Stop => self.signal(f.on, libc::SIGTERM).await,
            FaultKind::Pause => self.signal(f.on, libc::SIGSTOP).await,
            FaultKind::Resume => self.signal(f.on, libc::SIGCONT).await,
            FaultKind::Start => self.start_fresh().await,
            FaultKind::Restart => {
                let killed = self.signal(f.on, libc::SIGKILL).await?;
                Ok(format!("{killed}; then {}", self.start_fresh().await?))
            }
            FaultKind::Promote => {
                let pg = self.pg.as_ref().ok_or("this target has no replica")?;
                let promoted = pg.promote().await?;
                let to = self
                    .replica_addr
                    .ok_or("this target has no replica address")?;
                self.primary.retarget(to);
                Ok(format!(
                    "{promoted}; the primary's proxy now forwards to {to}"
                ))
            }
            FaultKind::Command => Err("`command` faults run only against real endpoints".into()),
        }
    }
}
