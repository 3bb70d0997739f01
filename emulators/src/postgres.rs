//! PostgreSQL from the server binaries on this machine: `initdb` a throw-away cluster in a
//! temp dir, create the `assay` database in single-user mode, then run `postgres` in the
//! foreground on `127.0.0.1:<free port>` and wait until it asks a client to authenticate.
//!
//! `postgres` is run directly rather than through `pg_ctl start`: pg_ctl puts the server
//! in a new session (setsid), which would take it out of the process group we kill.
//! When Assay runs as root the cluster is owned by and run as the `postgres` system user
//! (else `nobody`): PostgreSQL refuses to run as root.
//!
//! The streaming replica (`postgres-replica`, in `postgres_replica.rs`) starts a primary
//! with [`start_primary`] and clones it with `pg_basebackup`; `Cluster::start_server` runs
//! either data dir. The TLS-only variant (`postgres-tls`, in `postgres_tls.rs`) changes the
//! configuration between [`init_primary`] and [`run_primary`].

use crate::native::{self, NativeContext, NativeRun, Started, READY_TIMEOUT};
use crate::net::{free_port, loopback, tcp_connect};
use crate::process::ManagedProcess;
use crate::EmulatorError;
use assay_core::{Endpoint, Secret};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const USER: &str = "assay";
pub(crate) const DATABASE: &str = "assay";
const INSTALL_HINT: &str = "install PostgreSQL server binaries (apt-get install postgresql)";
/// Fast shutdown; SIGTERM ("smart") would wait for every client to disconnect.
const STOP_SIGNAL: i32 = libc::SIGINT;
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The directory holding `initdb` and `postgres`: PATH first, then the newest
/// `/usr/lib/postgresql/<major>/bin` (Debian keeps them off PATH).
pub(crate) fn find_bin_dir() -> Result<PathBuf, String> {
    if let (Some(initdb), Some(_)) = (native::which("initdb"), native::which("postgres")) {
        // Follow symlinks so the sibling binaries of the same version are used.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent() {
            if native::is_executable(&dir.join("postgres")) {
                return Ok(dir.to_path_buf());
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, bin)| {
            native::is_executable(&bin.join("initdb"))
                && native::is_executable(&bin.join("postgres"))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        format!("initdb not found on PATH or in /usr/lib/postgresql/*/bin: {INSTALL_HINT}")
    })
}

/// The account the cluster belongs to when we are root.
#[derive(Clone, Debug)]
pub(crate) struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `None` when not root (run as ourselves); else `postgres`, falling back to `nobody`.
    pub(crate) fn decide() -> Result<Option<RunAs>, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(None);
        }
        ["postgres", "nobody"]
            .iter()
            .find_map(|name| lookup_user(name))
            .map(Some)
            .ok_or_else(|| {
                "running as root and neither a `postgres` nor a `nobody` user exists: create a \
                 non-root user named postgres (PostgreSQL refuses to run as root)"
                    .to_string()
            })
    }

    fn chown(&self, path: &Path) -> std::io::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
    }
}

pub(crate) fn lookup_user(name: &str) -> Option<RunAs> {
    let cname = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy out at once.
    // Starts run on few threads and nothing else here calls getpw*, so no overwrite race.
    unsafe {
        let pw = libc::getpwnam(cname.as_ptr());
        if pw.is_null() {
            return None;
        }
        Some(RunAs {
            name: name.to_string(),
            uid: (*pw).pw_uid,
            gid: (*pw).pw_gid,
        })
    }
}

pub(crate) fn command_as(program: PathBuf, run_as: &Option<RunAs>, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd).env("LC_ALL", "C");
    if let Some(u) = run_as {
        cmd.uid(u.uid).gid(u.gid);
    }
    cmd
}

pub(crate) async fn version(bin: &Path) -> Option<String> {
    native::command_output(
        &bin.join("postgres"),
        &["--version"],
        Duration::from_secs(10),
    )
    .await
    .ok()
}

pub(crate) async fn start(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    let primary = start_primary(ctx).await?;
    let url = primary.url(primary.port);
    Ok(Started {
        run: primary.run,
        endpoint: Endpoint::Postgres {
            url: Secret::new(url),
            replica_url: None,
        },
        version: version(&primary.bin).await,
    })
}

/// A running, ready primary and what a replica needs to clone it.
pub(crate) struct Primary {
    pub run: NativeRun,
    pub cluster: Cluster,
    pub bin: PathBuf,
    pub password: String,
    pub port: u16,
}

impl Primary {
    /// The URL of a server of this cluster (the primary or a clone) on `port`.
    pub(crate) fn url(&self, port: u16) -> String {
        format!(
            "postgres://{USER}:{}@{}/{DATABASE}",
            self.password,
            loopback(port)
        )
    }
}

pub(crate) async fn start_primary(ctx: &NativeContext) -> Result<Primary, EmulatorError> {
    let init = init_primary(ctx).await?;
    run_primary(
        ctx,
        init,
        "a PostgreSQL authentication request",
        probe_startup,
    )
    .await
}

/// A cluster `initdb` made, with the `assay` database, not started yet: a variant of the
/// stand-in (`postgres_tls.rs`) changes its configuration here.
pub(crate) struct Initialised {
    pub temp: tempfile::TempDir,
    pub cluster: Cluster,
    pub bin: PathBuf,
    pub password: String,
}

pub(crate) async fn init_primary(ctx: &NativeContext) -> Result<Initialised, EmulatorError> {
    let unavailable = |reason: String| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason,
    };
    let bin = find_bin_dir().map_err(unavailable)?;
    let run_as = RunAs::decide().map_err(unavailable)?;
    if let Some(u) = &run_as {
        ctx.log.note(&format!(
            "running as root: the cluster is owned by and runs as user `{}`",
            u.name
        ));
    }
    let temp = ctx.temp_dir()?;
    let cluster = Cluster::prepare(ctx, temp.path(), &run_as)?;
    let password = native::random_hex().map_err(|e| ctx.io_error("reading /dev/urandom", e))?;
    cluster.initdb(ctx, &bin, &password).await?;
    cluster.create_database(ctx, &bin).await?;
    Ok(Initialised {
        temp,
        cluster,
        bin,
        password,
    })
}

/// Starts the server of an initialised cluster on a free port and waits until `probe`
/// (given its address) says it is ready; `ready_means` says what it waits for, in words.
pub(crate) async fn run_primary<P, Fut>(
    ctx: &NativeContext,
    init: Initialised,
    ready_means: &str,
    probe: P,
) -> Result<Primary, EmulatorError>
where
    P: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let Initialised {
        temp,
        cluster,
        bin,
        password,
    } = init;
    let mut run = NativeRun::new(&ctx.log);
    run.temp_dir = Some(temp);
    let port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let server = cluster.start_server(ctx, &bin, port, "postgres")?;
    run.processes.push(server);
    let addr = loopback(port);
    ctx.wait_ready(
        &format!("{ready_means} on {addr}"),
        &run.processes,
        READY_TIMEOUT,
        || probe(addr),
    )
    .await?;
    Ok(Primary {
        run,
        cluster,
        bin,
        password,
        port,
    })
}

/// The directories of one cluster inside the backend's temp dir.
pub(crate) struct Cluster {
    pub data: PathBuf,
    pub sockets: PathBuf,
    pub root: PathBuf,
    pub run_as: Option<RunAs>,
}

impl Cluster {
    fn prepare(
        ctx: &NativeContext,
        root: &Path,
        run_as: &Option<RunAs>,
    ) -> Result<Cluster, EmulatorError> {
        Cluster::prepare_named(ctx, root, run_as, "data", "sockets")
    }

    /// Empty, owned data and socket dirs under `root` with the given names (a replica's
    /// sit beside the primary's).
    pub(crate) fn prepare_named(
        ctx: &NativeContext,
        root: &Path,
        run_as: &Option<RunAs>,
        data_name: &str,
        sockets_name: &str,
    ) -> Result<Cluster, EmulatorError> {
        let data = root.join(data_name);
        let sockets = root.join(sockets_name);
        for dir in [&data, &sockets] {
            std::fs::create_dir(dir)
                .map_err(|e| ctx.io_error(format!("creating {}", dir.display()), e))?;
            // initdb insists on 0700/0750 for the data dir.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| ctx.io_error(format!("chmod {}", dir.display()), e))?;
        }
        if let Some(u) = run_as {
            for dir in [root, &data, &sockets] {
                u.chown(dir).map_err(|e| {
                    ctx.io_error(format!("chown {} to user {}", dir.display(), u.name), e)
                })?;
            }
        }
        Ok(Cluster {
            data,
            sockets,
            root: root.to_path_buf(),
            run_as: run_as.clone(),
        })
    }

    async fn initdb(
        &self,
        ctx: &NativeContext,
        bin: &Path,
        password: &str,
    ) -> Result<(), EmulatorError> {
        // The password travels in a 0600 file, never on a command line.
        let pwfile = self.root.join("pwfile");
        std::fs::write(&pwfile, password)
            .map_err(|e| ctx.io_error("writing the initdb password file", e))?;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ctx.io_error("chmod the initdb password file", e))?;
        if let Some(u) = &self.run_as {
            u.chown(&pwfile)
                .map_err(|e| ctx.io_error("chown the initdb password file", e))?;
        }
        let mut cmd = command_as(bin.join("initdb"), &self.run_as, &self.root);
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-U", USER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.display()));
        let result = ctx
            .run_step("initdb", cmd, None, Duration::from_secs(120))
            .await;
        let _ = std::fs::remove_file(&pwfile);
        result
    }

    /// `CREATE DATABASE assay` through single-user mode: no server, client or auth needed.
    async fn create_database(&self, ctx: &NativeContext, bin: &Path) -> Result<(), EmulatorError> {
        let sql = self.root.join("create.sql");
        std::fs::write(&sql, format!("CREATE DATABASE {DATABASE};\n"))
            .map_err(|e| ctx.io_error("writing create.sql", e))?;
        let stdin = std::fs::File::open(&sql).map_err(|e| ctx.io_error("opening create.sql", e))?;
        let mut cmd = command_as(bin.join("postgres"), &self.run_as, &self.root);
        cmd.args(["--single", "-D"])
            .arg(&self.data)
            .args(["-c", "fsync=off", "postgres"]);
        let offset = ctx.log.len();
        ctx.run_step("create database", cmd, Some(stdin), Duration::from_secs(60))
            .await?;
        // Single-user mode reports a failed statement on its output yet exits 0.
        let output = ctx.log.text_since(offset);
        match output.lines().find(|l| l.contains("ERROR:")) {
            Some(line) => Err(ctx.step_error("create database", line.trim().to_string())),
            None => Ok(()),
        }
    }

    pub(crate) fn start_server(
        &self,
        ctx: &NativeContext,
        bin: &Path,
        port: u16,
        name: &str,
    ) -> Result<ManagedProcess, EmulatorError> {
        let mut cmd = command_as(bin.join("postgres"), &self.run_as, &self.root);
        cmd.arg("-D").arg(&self.data);
        for setting in [
            "listen_addresses=127.0.0.1".to_string(),
            format!("port={port}"),
            format!("unix_socket_directories={}", self.sockets.display()),
            // A test stand-in: durability across a machine crash is not needed.
            "fsync=off".to_string(),
            "full_page_writes=off".to_string(),
            "max_connections=200".to_string(),
            // Room for a benchmark's working set (`cargo xtask bench` loads a million rows on
            // each side); shared memory is only backed by RAM where it is used.
            "shared_buffers=512MB".to_string(),
        ] {
            cmd.arg("-c").arg(setting);
        }
        ctx.spawn(name, cmd, STOP_SIGNAL, STOP_GRACE)
    }
}

/// Sends a StartupMessage and reads the first reply: `R` (an authentication request)
/// means the server accepts connections; `E` carries why not yet ("starting up").
pub(crate) async fn probe_startup(addr: SocketAddr) -> Result<(), String> {
    match startup_reply(addr).await? {
        StartupReply::AuthenticationRequest => Ok(()),
        StartupReply::Error { message, .. } => Err(format!("{addr}: {message}")),
    }
}

/// The server's first answer to a plaintext StartupMessage.
pub(crate) enum StartupReply {
    AuthenticationRequest,
    /// An ErrorResponse: its SQLSTATE (`C` field) and human message (`M`).
    Error {
        code: String,
        message: String,
    },
}

pub(crate) async fn startup_reply(addr: SocketAddr) -> Result<StartupReply, String> {
    let mut stream = tcp_connect(addr, Duration::from_secs(2)).await?;
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    for s in ["user", USER, "database", DATABASE] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let len = u32::try_from(body.len() + 4).map_err(|e| e.to_string())?;
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    stream
        .write_all(&msg)
        .await
        .map_err(|e| format!("send startup to {addr}: {e}"))?;
    let mut head = [0u8; 5];
    stream
        .read_exact(&mut head)
        .await
        .map_err(|e| format!("read reply from {addr}: {e}"))?;
    match head[0] {
        b'R' => Ok(StartupReply::AuthenticationRequest),
        b'E' => {
            let n = u32::from_be_bytes([head[1], head[2], head[3], head[4]]).saturating_sub(4);
            let mut rest = vec![0u8; n.min(4096) as usize];
            let _ = stream.read_exact(&mut rest).await;
            // Fields are a type byte + C string; 'M' is the human message, 'C' the code.
            let field = |kind: u8| {
                rest.split(|b| *b == 0)
                    .find(|f| f.first() == Some(&kind))
                    .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
            };
            Ok(StartupReply::Error {
                code: field(b'C').unwrap_or_default(),
                message: field(b'M').unwrap_or_else(|| "error without message".to_string()),
            })
        }
        other => Err(format!("{addr}: unexpected reply byte {other:#04x}")),
    }
}
