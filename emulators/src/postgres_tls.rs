//! `postgres-tls`: a PostgreSQL stand-in that admits TCP clients only over TLS and only
//! with a SCRAM-SHA-256 password — the settings a managed service's "require TLS" switch
//! stands for — so the `security.*` steps have something to be refused by.
//!
//! At start, after `initdb` (as `postgres.rs` does it), the `openssl` command makes a
//! throw-away CA and a server certificate it signs (P-256, for `127.0.0.1`, `::1` and
//! `localhost`), in `tls/` beside the data dir; the CA's key is deleted once it has
//! signed. `postgresql.conf` gets `ssl = on` and `password_encryption = scram-sha-256`,
//! and `pg_hba.conf` is replaced by `hostssl … scram-sha-256` lines for TCP (no `host`
//! line, so a plaintext login finds no entry and is refused) and `local … trust` for the
//! private Unix socket the fault tools use.
//!
//! The endpoint is the usual URL plus `sslmode=verify-full&sslrootcert=<tls/ca.crt>`:
//! drivers get the CA the way they get the password, in the one connection string, and a
//! real endpoint's targets file says the same in its `url`.
//!
//! Ready means: a plaintext login is refused by `pg_hba.conf` (SQLSTATE 28000, which the
//! server only answers once it accepts connections), and an SSLRequest is answered `S`.

use crate::native::{self, NativeContext, Started};
use crate::net::tcp_connect;
use crate::postgres::{self, startup_reply, Cluster, StartupReply};
use crate::EmulatorError;
use assay_core::{Endpoint, Secret};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OPENSSL_HINT: &str = "install the openssl command (apt-get install openssl)";
/// One openssl run makes a P-256 key or signs a certificate: milliseconds.
const OPENSSL_TIMEOUT: Duration = Duration::from_secs(30);
/// Long enough for a stand-in kept up by `assay emulators up`; the key dies with it.
const CERT_DAYS: &str = "365";
const READY_MEANS: &str =
    "a plaintext login refused for want of TLS (SQLSTATE 28000) and TLS offered";
/// SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

const CA_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca_ext
[dn]
CN = Assay postgres-tls stand-in CA
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
";

const SERVER_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = localhost
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
authorityKeyIdentifier = keyid
";

/// Only TLS with a SCRAM password over TCP; the private socket stays open to trust.
const PG_HBA: &str = "\
# postgres-tls (Assay): TCP logins only over TLS, with a SCRAM-SHA-256 password.
# No `host` line: a plaintext TCP login finds no entry and is refused.
# TYPE   DATABASE  USER  ADDRESS       METHOD
local    all       all                 trust
hostssl  all       all   127.0.0.1/32  scram-sha-256
hostssl  all       all   ::1/128       scram-sha-256
";

/// The `openssl` command, and the PostgreSQL binaries `postgres.rs` needs.
pub(crate) fn find_binaries() -> Result<PathBuf, String> {
    postgres::find_bin_dir()?;
    native::which("openssl").ok_or_else(|| format!("openssl not found on PATH: {OPENSSL_HINT}"))
}

pub(crate) async fn start(ctx: &NativeContext) -> Result<Started, EmulatorError> {
    let openssl = find_binaries().map_err(|reason| EmulatorError::Unavailable {
        backend: ctx.backend,
        reason,
    })?;
    // Dropping `init` (or the run) on any error below removes the temp dir.
    let init = postgres::init_primary(ctx).await?;
    let tls = init.cluster.root.join("tls");
    let ca = make_certificates(ctx, &openssl, &tls, &init.cluster).await?;
    configure(ctx, &init.cluster, &tls)?;
    let primary = postgres::run_primary(ctx, init, READY_MEANS, probe_tls_only).await?;
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        primary.url(primary.port),
        query_value(&ca.to_string_lossy())
    );
    Ok(Started {
        endpoint: Endpoint::Postgres {
            url: Secret::new(url),
            replica_url: None,
        },
        version: postgres::version(&primary.bin).await,
        run: primary.run,
    })
}

/// Makes `tls/ca.crt` and `tls/server.{crt,key}` (the key owned by the server's user,
/// 0600, as PostgreSQL insists); returns the CA certificate's path.
async fn make_certificates(
    ctx: &NativeContext,
    openssl: &Path,
    dir: &Path,
    cluster: &Cluster,
) -> Result<PathBuf, EmulatorError> {
    std::fs::create_dir(dir).map_err(|e| ctx.io_error(format!("creating {}", dir.display()), e))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| ctx.io_error(format!("writing {name}"), e))
    };
    write("ca.cnf", CA_CONFIG)?;
    write("server.cnf", SERVER_CONFIG)?;
    let serial = native::random_hex().map_err(|e| ctx.io_error("reading /dev/urandom", e))?;
    let openssl_cmd = |args: &[&str]| {
        let mut cmd = Command::new(openssl);
        cmd.current_dir(dir).env("LC_ALL", "C").args(args);
        cmd
    };
    let serial = format!("0x{serial}");
    let new_key: &[&str] = &[
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let steps: [(&str, Vec<&str>); 3] = [
        (
            "openssl: the CA",
            [
                &["req", "-x509", "-new"],
                new_key,
                &["-keyout", "ca.key", "-out", "ca.crt", "-days", CERT_DAYS],
                &["-config", "ca.cnf"],
            ]
            .concat(),
        ),
        (
            "openssl: the server's key and request",
            [
                &["req", "-new"],
                new_key,
                &["-keyout", "server.key", "-out", "server.csr"],
                &["-config", "server.cnf"],
            ]
            .concat(),
        ),
        (
            "openssl: the CA signs the server's certificate",
            [
                &["x509", "-req", "-in", "server.csr", "-CA", "ca.crt"][..],
                &["-CAkey", "ca.key", "-set_serial", serial.as_str()],
                &["-out", "server.crt", "-days", CERT_DAYS],
                &["-extfile", "server.cnf", "-extensions", "server_ext"],
            ]
            .concat(),
        ),
    ];
    for (step, args) in steps {
        ctx.run_step(step, openssl_cmd(&args), None, OPENSSL_TIMEOUT)
            .await?;
    }
    // Nothing else is ever signed by this CA.
    for leftover in ["ca.key", "server.csr"] {
        let _ = std::fs::remove_file(dir.join(leftover));
    }
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| ctx.io_error("chmod server.key", e))?;
    if let Some(u) = &cluster.run_as {
        for file in [&key, &dir.join("server.crt")] {
            std::os::unix::fs::chown(file, Some(u.uid), Some(u.gid)).map_err(|e| {
                ctx.io_error(format!("chown {} to user {}", file.display(), u.name), e)
            })?;
        }
    }
    ctx.log.note(&format!(
        "made a throw-away CA and a server certificate for 127.0.0.1, ::1, localhost in {}",
        dir.display()
    ));
    Ok(dir.join("ca.crt"))
}

/// TLS on with the new certificate, SCRAM for new passwords, and TLS-only `pg_hba.conf`.
fn configure(ctx: &NativeContext, cluster: &Cluster, tls: &Path) -> Result<(), EmulatorError> {
    let conf = cluster.data.join("postgresql.conf");
    let settings = format!(
        "\n# postgres-tls (Assay)\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n\
         password_encryption = 'scram-sha-256'\n",
        tls.join("server.crt").display(),
        tls.join("server.key").display()
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut f| f.write_all(settings.as_bytes()))
        .map_err(|e| ctx.io_error(format!("appending to {}", conf.display()), e))?;
    // Rewriting keeps the file's owner (the server's user) and mode.
    let hba = cluster.data.join("pg_hba.conf");
    std::fs::write(&hba, PG_HBA).map_err(|e| ctx.io_error(format!("writing {}", hba.display()), e))
}

/// Ready, and as configured: a plaintext login is refused for want of a TLS entry
/// (SQLSTATE 28000 — the server answers that only once it takes connections; while it
/// starts up it answers 57P03), and TLS is offered.
async fn probe_tls_only(addr: SocketAddr) -> Result<(), String> {
    match startup_reply(addr).await? {
        StartupReply::Error { code, .. } if code == "28000" => {}
        StartupReply::Error { message, .. } => return Err(format!("{addr}: {message}")),
        StartupReply::AuthenticationRequest => {
            return Err(format!(
                "{addr} asked a plaintext login for a password: pg_hba.conf is not TLS-only"
            ))
        }
    }
    let mut stream = tcp_connect(addr, Duration::from_secs(2)).await?;
    stream
        .write_all(&SSL_REQUEST)
        .await
        .map_err(|e| format!("send SSLRequest to {addr}: {e}"))?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| format!("read SSLRequest answer from {addr}: {e}"))?;
    match answer[0] {
        b'S' => Ok(()),
        other => Err(format!(
            "{addr} answered {:?} to SSLRequest, not 'S': TLS is off",
            char::from(other)
        )),
    }
}

/// `s` as a URL query value: unreserved characters and `/` as they are, the rest
/// percent-encoded.
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_query_values() {
        assert_eq!(
            query_value("/tmp/assay-postgres-tls-Ab1/tls/ca.crt"),
            "/tmp/assay-postgres-tls-Ab1/tls/ca.crt"
        );
        assert_eq!(query_value("/a b&c=d"), "/a%20b%26c%3Dd");
    }

    #[test]
    fn tcp_logins_need_tls_and_scram() {
        let tcp: Vec<&str> = PG_HBA
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("local"))
            .collect();
        assert_eq!(tcp.len(), 2);
        for line in tcp {
            assert!(
                line.starts_with("hostssl") && line.ends_with("scram-sha-256"),
                "{line}"
            );
        }
    }
}
