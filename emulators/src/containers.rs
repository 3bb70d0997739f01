//! Container stand-ins (testcontainers) for machines with a Docker daemon: the image, tag,
//! ports, environment and wait condition of each, as plain data ([`ContainerDef`]) that is
//! tested without a daemon, plus the daemon check that `Mode::Auto` relies on.
//!
//! Which backend maps to which image: postgres → `postgres:15`, spanner-emulator → Google's
//! emulator image, cosmos-local → Microsoft's Linux emulator image. dynamodb-moto and
//! dynamodb-dynalite name their implementation, so they have no container: DynamoDB Local
//! ([`dynamodb_local`]) is defined for a future `dynamodb-local` target.

use crate::{cosmos, dynamodb, native, spanner, EmulatorError};
use assay_core::{Endpoint, LocalBackend, Secret};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use testcontainers::core::wait::LogWaitStrategy;
use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, ImageExt};

pub const DYNAMODB_LOCAL_PORT: u16 = 8000;
pub const SPANNER_GRPC_PORT: u16 = 9010;
pub const SPANNER_REST_PORT: u16 = 9020;
pub const COSMOS_PORT: u16 = 8081;
pub const POSTGRES_PORT: u16 = 5432;
pub const MYSQL_PORT: u16 = 3306;

const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
const DAEMON_PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Which output stream a wait message appears on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogSource {
    Stdout,
    Stderr,
    Either,
}

/// Ready once `message` has appeared `times` times on `source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitCondition {
    pub source: LogSource,
    pub message: &'static str,
    pub times: usize,
}

/// Everything needed to run one backend's container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerDef {
    pub image: &'static str,
    pub tag: &'static str,
    /// Container ports to publish on random host ports.
    pub ports: Vec<u16>,
    pub env: Vec<(&'static str, String)>,
    /// Replaces the image's CMD when not empty.
    pub cmd: Vec<&'static str>,
    pub wait: Vec<WaitCondition>,
    pub startup_timeout: Duration,
}

impl ContainerDef {
    /// `image:tag`, as reported in `Emulator::version`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.image, self.tag)
    }

    /// The testcontainers request for this definition.
    pub fn request(&self) -> ContainerRequest<GenericImage> {
        let mut image = GenericImage::new(self.image, self.tag);
        for port in &self.ports {
            image = image.with_exposed_port(ContainerPort::Tcp(*port));
        }
        for w in &self.wait {
            let strategy = match w.source {
                LogSource::Stdout => LogWaitStrategy::stdout(w.message),
                LogSource::Stderr => LogWaitStrategy::stderr(w.message),
                LogSource::Either => LogWaitStrategy::stdout_or_stderr(w.message),
            };
            image = image.with_wait_for(WaitFor::log(strategy.with_times(w.times)));
        }
        let mut request: ContainerRequest<GenericImage> = image.into();
        for (k, v) in &self.env {
            request = request.with_env_var(*k, v.clone());
        }
        if !self.cmd.is_empty() {
            request = request.with_cmd(self.cmd.iter().copied());
        }
        request.with_startup_timeout(self.startup_timeout)
    }
}

/// DynamoDB Local, in memory, one database for all credentials/regions (`-sharedDb`).
pub fn dynamodb_local() -> ContainerDef {
    ContainerDef {
        image: "amazon/dynamodb-local",
        tag: "2.5.2",
        ports: vec![DYNAMODB_LOCAL_PORT],
        env: Vec::new(),
        cmd: vec!["-jar", "DynamoDBLocal.jar", "-inMemory", "-sharedDb"],
        wait: vec![WaitCondition {
            source: LogSource::Stdout,
            message: "Initializing DynamoDB Local with the following configuration",
            times: 1,
        }],
        startup_timeout: Duration::from_secs(120),
    }
}

/// Google's Spanner emulator image, the same release as the CLI package used natively.
pub fn spanner_emulator() -> ContainerDef {
    ContainerDef {
        image: "gcr.io/cloud-spanner-emulator/emulator",
        tag: "1.5.28",
        ports: vec![SPANNER_GRPC_PORT, SPANNER_REST_PORT],
        env: Vec::new(),
        cmd: Vec::new(),
        wait: vec![WaitCondition {
            source: LogSource::Either,
            message: "Cloud Spanner emulator running",
            times: 1,
        }],
        startup_timeout: Duration::from_secs(120),
    }
}

/// Microsoft's Linux Cosmos DB emulator. It is slow to start (minutes) and advertises
/// port 8081 in its account metadata, so SDKs that follow that address need the host port
/// to be 8081 too; few partitions keep start-up shorter.
pub fn cosmos_emulator() -> ContainerDef {
    ContainerDef {
        image: "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator",
        tag: "latest",
        ports: vec![COSMOS_PORT],
        env: vec![
            ("AZURE_COSMOS_EMULATOR_PARTITION_COUNT", "3".to_string()),
            (
                "AZURE_COSMOS_EMULATOR_ENABLE_DATA_PERSISTENCE",
                "false".to_string(),
            ),
            (
                "AZURE_COSMOS_EMULATOR_IP_ADDRESS_OVERRIDE",
                "127.0.0.1".to_string(),
            ),
        ],
        cmd: Vec::new(),
        wait: vec![WaitCondition {
            source: LogSource::Stdout,
            message: "Started",
            times: 1,
        }],
        startup_timeout: Duration::from_secs(600),
    }
}

/// PostgreSQL 15 (the major version the native stand-in uses on Debian 12), fsync off.
pub fn postgres(password: &str) -> ContainerDef {
    ContainerDef {
        image: "postgres",
        tag: "15",
        ports: vec![POSTGRES_PORT],
        env: vec![
            ("POSTGRES_USER", crate::postgres::USER.to_string()),
            ("POSTGRES_PASSWORD", password.to_string()),
            ("POSTGRES_DB", crate::postgres::DATABASE.to_string()),
        ],
        cmd: vec![
            "postgres",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=512MB",
        ],
        // The entrypoint's temporary init server says it first; the real server second.
        wait: vec![WaitCondition {
            source: LogSource::Stderr,
            message: "database system is ready to accept connections",
            times: 2,
        }],
        startup_timeout: Duration::from_secs(120),
    }
}

/// MariaDB 10.11 (the LTS the native stand-in gets from Debian 12). The driver creates a
/// database per run, which the image's MARIADB_USER may not, so the endpoint logs in as root.
pub fn mariadb(root_password: &str) -> ContainerDef {
    ContainerDef {
        image: "mariadb",
        tag: "10.11",
        ports: vec![MYSQL_PORT],
        env: vec![
            ("MARIADB_ROOT_PASSWORD", root_password.to_string()),
            ("MARIADB_DATABASE", crate::mysql::DATABASE.to_string()),
        ],
        cmd: vec![],
        // The entrypoint's temporary init server says it first; the real server second.
        wait: vec![WaitCondition {
            source: LogSource::Stderr,
            message: "ready for connections",
            times: 2,
        }],
        startup_timeout: Duration::from_secs(120),
    }
}

/// The container for `backend`, if it has one.
pub fn definition(backend: LocalBackend, postgres_password: &str) -> Option<ContainerDef> {
    match backend {
        LocalBackend::Postgres => Some(postgres(postgres_password)),
        LocalBackend::SpannerEmulator => Some(spanner_emulator()),
        LocalBackend::CosmosLocal => Some(cosmos_emulator()),
        LocalBackend::Mysql => Some(mariadb(postgres_password)),
        LocalBackend::PostgresReplica
        | LocalBackend::PostgresTls
        | LocalBackend::DynamodbMoto
        | LocalBackend::DynamodbDynalite => None,
    }
}

pub(crate) fn why_no_container(backend: LocalBackend) -> String {
    match backend {
        LocalBackend::PostgresReplica => format!(
            "{backend} needs a primary and a replica container wired together, which is not \
             defined yet"
        ),
        LocalBackend::PostgresTls => format!(
            "{backend} makes its CA and TLS-only configuration at start, which no container \
             definition does yet"
        ),
        _ => format!(
            "{backend} names a native implementation; DynamoDB Local's container awaits a \
             `dynamodb-local` target"
        ),
    }
}

/// Where the Docker daemon should be, from `$DOCKER_HOST` or the default socket.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| format!("unix://{DEFAULT_DOCKER_SOCKET}"))
}

/// Pings the daemon (`GET /_ping`), bounded to 1 s. `Err((where, why))` when none answers.
pub async fn docker_daemon_answers() -> Result<(), (String, String)> {
    ping_docker(&docker_host()).await
}

async fn ping_docker(at: &str) -> Result<(), (String, String)> {
    let at = at.to_string();
    let ping = async {
        if let Some(path) = at.strip_prefix("unix://") {
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| e.to_string())?;
            ping_over(stream).await
        } else if let Some(addr) = at.strip_prefix("tcp://") {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            ping_over(stream).await
        } else {
            Err("unsupported DOCKER_HOST scheme (use unix:// or tcp://)".to_string())
        }
    };
    match tokio::time::timeout(DAEMON_PING_TIMEOUT, ping).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((at, e)),
        Err(_) => Err((at, format!("no answer within {DAEMON_PING_TIMEOUT:?}"))),
    }
}

async fn ping_over<S>(mut stream: S) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
    let head = String::from_utf8_lossy(&buf[..n]);
    if head.starts_with("HTTP/1.") && head.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer to /_ping: {}",
            head.lines().next().unwrap_or("")
        ))
    }
}

/// A running container; removed when dropped (testcontainers) or stopped.
pub(crate) struct RunningContainer {
    // Boxed: the handle is large and an `Emulator` is mostly native.
    container: Box<ContainerAsync<GenericImage>>,
}

impl RunningContainer {
    pub(crate) async fn stop(self) {
        let _ = self.container.rm().await;
    }
}

/// Starts `backend`'s container and readies it like the native stand-in.
pub(crate) async fn start(
    backend: LocalBackend,
) -> Result<(RunningContainer, Endpoint, Option<String>), EmulatorError> {
    let password = native::random_hex().map_err(|source| EmulatorError::Io {
        backend,
        what: "reading /dev/urandom".into(),
        source,
    })?;
    let def = definition(backend, &password).ok_or_else(|| EmulatorError::NoContainer {
        backend,
        reason: why_no_container(backend),
    })?;
    let image = def.reference();
    let fail = |detail: String| EmulatorError::Container {
        backend,
        image: image.clone(),
        detail,
    };
    let container = def
        .request()
        .start()
        .await
        .map_err(|e| fail(format!("start: {e}")))?;
    let host = container
        .get_host()
        .await
        .map_err(|e| fail(format!("host: {e}")))?
        .to_string();
    let mut mapped = Vec::new();
    for port in &def.ports {
        let p = container
            .get_host_port_ipv4(ContainerPort::Tcp(*port))
            .await
            .map_err(|e| fail(format!("host port for {port}: {e}")))?;
        mapped.push(p);
    }
    let first = mapped.first().copied().unwrap_or(0);
    let endpoint = match backend {
        // PostgresReplica and PostgresTls are unreachable through `definition`, kept
        // exhaustive.
        LocalBackend::Postgres | LocalBackend::PostgresReplica | LocalBackend::PostgresTls => {
            Endpoint::Postgres {
                url: Secret::new(format!(
                    "postgres://{}:{password}@{host}:{first}/{}",
                    crate::postgres::USER,
                    crate::postgres::DATABASE
                )),
                replica_url: None,
            }
        }
        LocalBackend::SpannerEmulator => {
            let rest_port = mapped.get(1).copied().unwrap_or(0);
            let rest = resolve(&host, rest_port).await.map_err(&fail)?;
            provision_spanner(rest).await.map_err(&fail)?;
            Endpoint::Spanner {
                emulator_host: Some(format!("{host}:{first}")),
                project: spanner::PROJECT.into(),
                instance: spanner::INSTANCE.into(),
                database: spanner::DATABASE.into(),
            }
        }
        LocalBackend::CosmosLocal => cosmos::endpoint(format!("https://{host}:{first}")),
        LocalBackend::Mysql => Endpoint::Mysql {
            url: Secret::new(format!(
                "mysql://root:{password}@{host}:{first}/{}",
                crate::mysql::DATABASE
            )),
        },
        LocalBackend::DynamodbMoto | LocalBackend::DynamodbDynalite => {
            // Unreachable through `definition`, kept exhaustive for a future dynamodb-local.
            dynamodb::endpoint(first)
        }
    };
    Ok((
        RunningContainer {
            container: Box::new(container),
        },
        endpoint,
        Some(image),
    ))
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolve {host}: no address"))
}

/// The container's REST port may lag its log line a little: retry, bounded.
async fn provision_spanner(rest: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + native::READY_TIMEOUT;
    loop {
        match spanner::provision_at(rest).await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(format!("provisioning: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testcontainers::Image;

    fn env_of(req: &ContainerRequest<GenericImage>) -> Vec<(String, String)> {
        req.env_vars()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn ports_of(req: &ContainerRequest<GenericImage>) -> Vec<u16> {
        req.expose_ports().iter().map(|p| p.as_u16()).collect()
    }

    #[test]
    fn dynamodb_local_is_in_memory_on_8000() {
        let def = dynamodb_local();
        assert_eq!(def.reference(), "amazon/dynamodb-local:2.5.2");
        let req = def.request();
        assert_eq!(req.image().name(), "amazon/dynamodb-local");
        assert_eq!(ports_of(&req), vec![8000]);
        let cmd: Vec<String> = req.cmd().map(|c| c.into_owned()).collect();
        assert_eq!(cmd, ["-jar", "DynamoDBLocal.jar", "-inMemory", "-sharedDb"]);
        assert_eq!(req.ready_conditions().len(), 1);
        assert!(def.wait[0]
            .message
            .starts_with("Initializing DynamoDB Local"));
    }

    #[test]
    fn spanner_publishes_grpc_and_rest() {
        let def = spanner_emulator();
        assert_eq!(
            def.reference(),
            "gcr.io/cloud-spanner-emulator/emulator:1.5.28"
        );
        assert_eq!(ports_of(&def.request()), vec![9010, 9020]);
        assert_eq!(def.wait[0].source, LogSource::Either);
        assert_eq!(def.wait[0].message, "Cloud Spanner emulator running");
    }

    #[test]
    fn cosmos_emulator_env_and_wait() {
        let def = cosmos_emulator();
        let req = def.request();
        assert_eq!(
            req.image().name(),
            "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator"
        );
        assert_eq!(ports_of(&req), vec![8081]);
        let env = env_of(&req);
        assert!(env.contains(&(
            "AZURE_COSMOS_EMULATOR_ENABLE_DATA_PERSISTENCE".into(),
            "false".into()
        )));
        assert!(env
            .iter()
            .any(|(k, _)| k == "AZURE_COSMOS_EMULATOR_PARTITION_COUNT"));
        assert_eq!(def.wait[0].message, "Started");
        assert!(def.startup_timeout >= Duration::from_secs(300));
    }

    #[test]
    fn postgres_gets_the_assay_role_and_waits_for_the_real_server() {
        let def = postgres("pw123");
        assert_eq!(def.reference(), "postgres:15");
        let req = def.request();
        assert_eq!(ports_of(&req), vec![5432]);
        let env = env_of(&req);
        assert!(env.contains(&("POSTGRES_USER".into(), "assay".into())));
        assert!(env.contains(&("POSTGRES_PASSWORD".into(), "pw123".into())));
        assert!(env.contains(&("POSTGRES_DB".into(), "assay".into())));
        assert_eq!(def.wait[0].source, LogSource::Stderr);
        assert_eq!(def.wait[0].times, 2);
        assert_eq!(req.startup_timeout(), Some(Duration::from_secs(120)));
    }

    #[test]
    fn mariadb_gets_the_root_password_and_waits_for_the_real_server() {
        let def = mariadb("pw123");
        assert_eq!(def.reference(), "mariadb:10.11");
        let req = def.request();
        assert_eq!(ports_of(&req), vec![3306]);
        let env = env_of(&req);
        assert!(env.contains(&("MARIADB_ROOT_PASSWORD".into(), "pw123".into())));
        assert!(env.contains(&("MARIADB_DATABASE".into(), "assay".into())));
        assert_eq!(def.wait[0].times, 2);
    }

    #[test]
    fn only_four_backends_have_containers() {
        let with: Vec<_> = LocalBackend::ALL
            .into_iter()
            .filter(|b| definition(*b, "x").is_some())
            .collect();
        assert_eq!(
            with,
            [
                LocalBackend::Postgres,
                LocalBackend::SpannerEmulator,
                LocalBackend::CosmosLocal,
                LocalBackend::Mysql
            ]
        );
        assert!(why_no_container(LocalBackend::DynamodbMoto).contains("dynamodb-local"));
    }

    #[tokio::test]
    async fn a_missing_daemon_is_reported_quickly_with_its_address() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("docker.sock");
        let started = Instant::now();
        let (at, detail) = ping_docker(&format!("unix://{}", sock.display()))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(at.contains("docker.sock"), "{at}");
        assert!(!detail.is_empty());
        // A listener that never answers hits the 1 s bound instead of hanging.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let at = format!("tcp://{}", listener.local_addr().unwrap());
        let started = Instant::now();
        let (_, detail) = ping_docker(&at).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{detail}");
        assert!(detail.contains("no answer"), "{detail}");
    }
}
