//! A MySQL-compatible server (MariaDB, or MySQL's `mysqld`) from the binaries on this
//! machine: `mariadb-install-db` a throw-away data dir in a temp dir, run the server in the
//! foreground on `127.0.0.1:<free port>` with a private unix socket, create the `assay` user
//! and database through that socket as root, and call it ready once `SELECT 1` works over
//! TCP as `assay`.
//!
//! The server runs as a child in our process group (never the distribution's service, which
//! the installer stops), as the `mysql` system user when Assay runs as root: mariadbd refuses
//! to run as root. Also owns `assay emulators install mysql` ([`install`]).

use crate::native::{self, NativeContext, NativeRun, Started, READY_TIMEOUT};
use crate::net::{free_port, loopback, tcp_connect};
use crate::postgres::RunAs;
use crate::EmulatorError;
use assay_core::{Endpoint, LocalBackend, Secret};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

pub(crate) const USER: &str = "assay";
pub(crate) const DATABASE: &str = "assay";
/// What to do when no server binary is found; also the `Unavailable` reason.
pub(crate) const INSTALL_HINT: &str =
    "no MySQL-compatible server installed; run `cargo xtask emulators install mysql` (as root)";
/// The distribution package the installer puts on the machine.
pub const APT_PACKAGE: &str = "mariadb-server";
const SERVICE_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// mariadbd shuts down cleanly on SIGTERM; InnoDB's fast shutdown takes well under this.
const STOP_GRACE: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The binaries one native start needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Binaries {
    pub server: PathBuf,
    pub install_db: PathBuf,
    pub client: PathBuf,
}

/// Debian keeps the server in /usr/sbin, which a non-root PATH often lacks.
const EXTRA_DIRS: [&str; 3] = ["/usr/sbin", "/usr/bin", "/usr/local/mysql/bin"];

fn find_one(names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| {
        native::which(name).or_else(|| {
            EXTRA_DIRS
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| native::is_executable(p))
        })
    })
}

/// The server binary alone.
pub(crate) fn find_server() -> Option<PathBuf> {
    find_one(&["mariadbd", "mysqld"])
}

pub(crate) fn find_binaries() -> Result<Binaries, String> {
    let server = find_server().ok_or_else(|| INSTALL_HINT.to_string())?;
    let install_db = find_one(&["mariadb-install-db", "mysql_install_db"]).ok_or_else(|| {
        format!(
            "{} is installed but neither mariadb-install-db nor mysql_install_db was found; {INSTALL_HINT}",
            server.display()
        )
    })?;
    let client = find_one(&["mariadb", "mysql"]).ok_or_else(|| {
        format!(
            "{} is installed but no `mariadb` or `mysql` client was found; install mariadb-client",
            server.display()
        )
    })?;
    Ok(Binaries {
        server,
        install_db,
        client,
    })
}

/// The account the server runs as when we are root; `None` runs it as ourselves.
fn run_as() -> Result<Option<RunAs>, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    crate::postgres::lookup_user("mysql")
        .map(Some)
        .ok_or_else(|| {
            "running as root and no `mysql` system user exists (mariadbd refuses to run as root): \
         reinstall the server with `cargo xtask emulators install mysql` or create the user"
                .to_string()
        })
}

pub(crate) async fn version(server: &Path) -> Option<String> {
    native::command_output(server, &["--version"], Duration::from_secs(10))
        .await
        .ok()
}

pub(crate) async fn start(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    let unavailable = |reason: String| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason,
    };
    let bins = find_binaries().map_err(unavailable)?;
    let run_as = run_as().map_err(unavailable)?;
    let temp = ctx.temp_dir()?;
    let root = temp.path().to_path_buf();
    let data = root.join("mysql-data");
    let socket = root.join("mysql.sock");
    // The server's own temp dir: with the shared /tmp, concurrent bootstraps collided on
    // internal temporary table names and failed ("Unknown table 'mysql.tmp_user_sys'").
    let tmp = root.join("tmp");
    std::fs::create_dir(&tmp)
        .map_err(|e| ctx.io_error(format!("creating {}", tmp.display()), e))?;
    // The server (as `mysql`) creates its socket and pid file here and reads the data dir.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| ctx.io_error(format!("chmod {}", root.display()), e))?;
    if let Some(u) = &run_as {
        for dir in [&root, &tmp] {
            std::os::unix::fs::chown(dir, Some(u.uid), Some(u.gid))
                .map_err(|e| ctx.io_error(format!("chown {} to {}", dir.display(), u.name), e))?;
        }
    }

    let mut cmd = Command::new(&bins.install_db);
    // --no-defaults must come first: the machine's my.cnf must not leak into our instance.
    cmd.current_dir(&root)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve")
        .arg(format!("--tmpdir={}", tmp.display()));
    if let Some(u) = &run_as {
        cmd.arg(format!("--user={}", u.name));
    }
    ctx.run_step("mariadb-install-db", cmd, None, Duration::from_secs(120))
        .await?;

    let password = native::random_hex().map_err(|e| ctx.io_error("reading /dev/urandom", e))?;
    let mut run = NativeRun::new(&ctx.log);
    run.temp_dir = Some(temp);
    let port = free_port().map_err(|e| ctx.io_error("finding a free port", e))?;
    let mut cmd = Command::new(&bins.server);
    cmd.current_dir(&root)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", socket.display()))
        .arg(format!("--pid-file={}", root.join("mysql.pid").display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .args([
            "--skip-name-resolve",
            "--max-connections=500",
            // A test stand-in: durability across a machine crash is not needed.
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--performance-schema=OFF",
        ]);
    if let Some(u) = &run_as {
        cmd.arg(format!("--user={}", u.name));
    }
    let server = ctx.spawn("mariadbd", cmd, libc::SIGTERM, STOP_GRACE)?;
    run.processes.push(server);

    let addr = loopback(port);
    ctx.wait_ready(
        &format!("a MySQL server greeting on {addr}"),
        &run.processes,
        READY_TIMEOUT,
        || probe_greeting(addr),
    )
    .await?;
    create_user(ctx, &bins.client, &socket, &root, &password).await?;
    ctx.wait_ready_with(
        &format!("`SELECT 1` as {USER} over TCP on {addr}"),
        &run.processes,
        Duration::from_secs(20),
        CLIENT_TIMEOUT,
        || select_one(&bins.client, port, &password),
    )
    .await?;
    Ok(Started {
        run,
        endpoint: Endpoint::Mysql {
            url: Secret::new(format!("mysql://{USER}:{password}@{addr}/{DATABASE}")),
        },
        version: version(&bins.server).await,
    })
}

/// Creates the `assay` user (all privileges: the driver makes a database per run) and the
/// `assay` database, as root through the unix socket. The SQL travels in a 0600 file on stdin
/// so the password is never on a command line.
async fn create_user(
    ctx: &NativeContext,
    client: &Path,
    socket: &Path,
    root: &Path,
    password: &str,
) -> Result<(), EmulatorError> {
    let sql_path = root.join("create-user.sql");
    let sql = format!(
        "CREATE USER '{USER}'@'%' IDENTIFIED BY '{password}';\n\
         GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%';\n\
         CREATE DATABASE {DATABASE};\n"
    );
    std::fs::write(&sql_path, sql).map_err(|e| ctx.io_error("writing create-user.sql", e))?;
    std::fs::set_permissions(&sql_path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| ctx.io_error("chmod create-user.sql", e))?;
    let stdin =
        std::fs::File::open(&sql_path).map_err(|e| ctx.io_error("opening create-user.sql", e))?;
    let mut cmd = Command::new(client);
    cmd.current_dir(root)
        .arg("--no-defaults")
        .arg("--protocol=socket")
        .arg(format!("--socket={}", socket.display()))
        .args(["--user=root", "--batch"]);
    // install-db made root@localhost passwordless (authentication method "normal"), and only
    // the private socket reaches it.
    let result = ctx
        .run_step("create user and database", cmd, Some(stdin), CLIENT_TIMEOUT)
        .await;
    let _ = std::fs::remove_file(&sql_path);
    result
}

/// `SELECT 1` over TCP as `assay`: proves the user, the password and the TCP listener.
async fn select_one(client: &Path, port: u16, password: &str) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(client);
    cmd.arg("--no-defaults")
        .arg("--protocol=tcp")
        .args(["--host=127.0.0.1", &format!("--port={port}")])
        .args([&format!("--user={USER}"), "--batch", "--skip-column-names"])
        .args(["-e", "SELECT 1", DATABASE])
        // The client reads the password from here, keeping it off the command line.
        .env("MYSQL_PWD", password)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(CLIENT_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("`SELECT 1` did not finish within {CLIENT_TIMEOUT:?}"))?
        .map_err(|e| format!("running {}: {e}", client.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout.trim() == "1" {
        Ok(())
    } else {
        Err(format!(
            "`SELECT 1` ended with {}: {}{}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Reads the server's first packet: protocol 10 is a greeting (accepting connections); an
/// error packet (0xff) carries why not yet.
pub(crate) async fn probe_greeting(addr: SocketAddr) -> Result<(), String> {
    let mut stream = tcp_connect(addr, Duration::from_secs(2)).await?;
    let mut head = [0u8; 5];
    stream
        .read_exact(&mut head)
        .await
        .map_err(|e| format!("read greeting from {addr}: {e}"))?;
    match head[4] {
        10 => Ok(()),
        0xff => {
            let len = u32::from_le_bytes([head[0], head[1], head[2], 0]).saturating_sub(1);
            let mut rest = vec![0u8; len.min(4096) as usize];
            let _ = stream.read_exact(&mut rest).await;
            // Error packet: 2-byte code, then the message.
            let message = String::from_utf8_lossy(rest.get(2..).unwrap_or_default());
            Err(format!("{addr}: {}", message.trim()))
        }
        other => Err(format!("{addr}: unexpected first byte {other:#04x}")),
    }
}

/// What `assay emulators install` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallOutcome {
    /// A server binary was already there; nothing was changed.
    AlreadyInstalled(PathBuf),
    /// The package was installed; the server binary is now at this path.
    Installed(PathBuf),
}

/// Installs MariaDB with apt-get when no MySQL-compatible server is found (root only), then
/// stops whatever service the package started: Assay always runs its own instance.
pub async fn install() -> Result<InstallOutcome, EmulatorError> {
    let backend = LocalBackend::Mysql;
    // The server alone is not enough (a stock runner may ship mysqld without
    // mysql_install_db): installed means everything a start needs is there.
    if let Ok(bins) = find_binaries() {
        return Ok(InstallOutcome::AlreadyInstalled(bins.server));
    }
    crate::apt::install(
        APT_PACKAGE,
        "MariaDB or MySQL server",
        "cargo xtask emulators install mysql",
    )
    .await
    .map_err(|reason| EmulatorError::Unavailable { backend, reason })?;
    stop_system_service().await;
    find_binaries()
        .map(|bins| InstallOutcome::Installed(bins.server))
        .map_err(|missing| EmulatorError::Unavailable {
            backend,
            reason: format!(
                "`{}` succeeded but {missing}",
                crate::apt::command(APT_PACKAGE)
            ),
        })
}

/// The package's postinst may start the distribution's service; stop it through the service
/// manager, and if its server (named by its own pid file) still runs, end that pid.
async fn stop_system_service() {
    if let Some(service) = native::which("service") {
        for name in ["mariadb", "mysql"] {
            let mut cmd = tokio::process::Command::new(&service);
            cmd.args([name, "stop"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            if crate::apt::run_bounded(cmd, SERVICE_STOP_TIMEOUT)
                .await
                .is_ok()
            {
                break;
            }
        }
    }
    for pid_file in ["/run/mysqld/mysqld.pid", "/var/run/mysqld/mysqld.pid"] {
        let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let is_server = crate::process::proc_stat(pid as u32)
            .is_some_and(|s| s.comm == "mariadbd" || s.comm == "mysqld");
        if !is_server {
            continue;
        }
        eprintln!("{APT_PACKAGE}: stopping the service's server (pid {pid} from {pid_file}); Assay runs its own instances");
        // SAFETY: kill with a pid read from the service's own pid file, checked to be the server.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + SERVICE_STOP_TIMEOUT;
        while crate::process::process_is_alive(pid as u32) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_port_is_not_ready_and_says_why() {
        // A listener that accepts but never greets: the probe must fail, not hang.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let probe = tokio::time::timeout(Duration::from_millis(300), probe_greeting(addr)).await;
        assert!(probe.is_err(), "a silent server must not count as ready");
        drop(listener);
        let err = probe_greeting(addr).await.unwrap_err();
        assert!(err.contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn the_install_hint_names_the_command() {
        assert!(INSTALL_HINT.contains("cargo xtask emulators install mysql"));
        assert!(!INSTALL_HINT.contains('\n'));
    }
}
