//! `security.connect` on the PostgreSQL wire: one fresh sqlx connection, never one of the
//! pools, made from the target's own URL with the step's alteration — TLS off
//! (`sslmode=disable`), verify-full against another CA, no password, a wrong one — and
//! how it ended, as an [`Admission`] for the shared finding in `assay-core`.
//!
//! How an attempt ends is read from sqlx's error: an ErrorResponse during startup is the
//! server's refusal (with its SQLSTATE); a rustls certificate error inside the handshake's
//! I/O error is the client's rejection of the certificate; sqlx's "server does not support
//! TLS" is a server that answered `N` to the SSLRequest; anything else proves nothing.
//!
//! sqlx always trusts the public web PKI roots besides the CA file it is given, so an
//! untrusted-CA step that got in is tried once more with the public roots alone: when that
//! gets in too, the server's certificate is publicly trusted and the step cannot be shown
//! with this client (unsupported, with that reason).

use crate::PostgresDriver;
use assay_core::native::security::{
    self, Admission, ConnectStep, Credentials, Transport, SECURITY_CHECKS,
};
use assay_core::{Endpoint, NativeOutcome, NativeStep};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::time::Duration;

/// One attempt: connect, TLS handshake, authentication, one query.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The query that says what the session runs over, and the close after it.
const SESSION_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// sqlx's words when the server answers `N` to the SSLRequest (sqlx-postgres 0.8).
const TLS_NOT_OFFERED: &str = "server does not support TLS";

impl PostgresDriver {
    pub(crate) async fn native_security(&self, step: &NativeStep) -> NativeOutcome {
        let params = match step.params_in(&SECURITY_CHECKS) {
            Ok(p) => p,
            Err(e) => return NativeOutcome::error(format!("step `{}`: {e}", step.name)),
        };
        let connect = match ConnectStep::from_params(&params) {
            Ok(c) => c,
            Err(e) => return NativeOutcome::error(format!("step `{}`: {e}", step.name)),
        };
        let Endpoint::Postgres { url, .. } = &self.endpoint else {
            return NativeOutcome::error("the postgres driver holds no postgres endpoint");
        };
        let options = match attempt_options(url.expose(), &connect) {
            Ok(o) => o,
            Err(e) => return NativeOutcome::error(format!("step `{}`: {e}", step.name)),
        };
        let admission = attempt(&options).await;
        if connect.ca_file.is_some() && matches!(admission, Admission::Accepted { .. }) {
            if let Ok(public) = public_roots_only(url.expose(), &connect) {
                if let Admission::Accepted { .. } = attempt(&public).await {
                    return NativeOutcome::unsupported(format!(
                        "{}: accepted, and so it is with the public web PKI roots alone: the server's certificate chains to a public root, which this client (sqlx) always trusts besides a CA file, so a CA file cannot narrow it",
                        connect.describe()
                    ));
                }
            }
        }
        security::finding(&connect, &admission)
    }
}

/// The target's connection options with the step's alteration.
fn attempt_options(url: &str, step: &ConnectStep) -> Result<PgConnectOptions, String> {
    // sqlx's URL error does not echo the URL, so the password cannot leak through it.
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| format!("the target's URL does not parse: {e}"))?
        .application_name("assay-security");
    options = match step.transport {
        Transport::Plaintext => options.ssl_mode(PgSslMode::Disable),
        Transport::VerifiedTls => options.ssl_mode(PgSslMode::VerifyFull),
    };
    if let Some(ca) = &step.ca_file {
        if !ca.is_file() {
            return Err(format!(
                "params.ca_file: {} is not a file (it is resolved beside the scenario file)",
                ca.display()
            ));
        }
        options = options.ssl_root_cert(ca);
    }
    Ok(match step.credentials {
        Credentials::Target => options,
        // An empty password rather than none: with none, sqlx would fill one in from
        // PGPASSWORD or ~/.pgpass.
        Credentials::None => options.password(""),
        Credentials::Wrong => options.password(&wrong_password(url)),
    })
}

/// The step's options with no CA file: only the public roots sqlx always trusts.
fn public_roots_only(url: &str, step: &ConnectStep) -> Result<PgConnectOptions, String> {
    let without_ca = ConnectStep {
        ca_file: None,
        ..step.clone()
    };
    attempt_options(&url_without_ca(url)?, &without_ca)
}

/// `url` without its `sslrootcert` parameter.
fn url_without_ca(url: &str) -> Result<String, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != "sslrootcert")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(kept);
    Ok(parsed.into())
}

/// Why the CA file a URL names (`sslrootcert`) cannot be read, if it cannot: said before
/// connecting, since sqlx reports a missing one as a bare "No such file or directory".
pub(crate) fn unreadable_ca_file(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let (_, path) = parsed.query_pairs().find(|(k, _)| k == "sslrootcert")?;
    match std::fs::File::open(path.as_ref()) {
        Ok(_) => None,
        Err(e) => Some(format!(
            "the CA file the target's url names (sslrootcert={path}) cannot be read: {e}; fix the path, or drop sslrootcert to verify against the public roots"
        )),
    }
}

/// A password that is certainly not the target's.
fn wrong_password(url: &str) -> String {
    let real = url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .unwrap_or_default();
    let mut wrong = "assay-wrong-password".to_string();
    while percent_encoding::percent_decode_str(&real).decode_utf8_lossy() == wrong {
        wrong.push('x');
    }
    wrong
}

/// Connects once and says how it ended.
async fn attempt(options: &PgConnectOptions) -> Admission {
    match tokio::time::timeout(ATTEMPT_TIMEOUT, options.connect()).await {
        Err(_) => Admission::Failed {
            reason: format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        },
        Ok(Err(e)) => admission_of(&e),
        Ok(Ok(mut conn)) => {
            let session = session_transport(&mut conn).await;
            let _ = tokio::time::timeout(SESSION_QUERY_TIMEOUT, conn.close()).await;
            Admission::Accepted { session }
        }
    }
}

/// What the server says the session runs over (`pg_stat_ssl`); `None` where it has no
/// such view (a PostgreSQL-compatible service that is not PostgreSQL).
async fn session_transport(conn: &mut PgConnection) -> Option<String> {
    let query = sqlx::query(
        "SELECT ssl, coalesce(version, ''), coalesce(cipher, '') FROM pg_catalog.pg_stat_ssl WHERE pid = pg_catalog.pg_backend_pid()",
    )
    .fetch_one(&mut *conn);
    let row = tokio::time::timeout(SESSION_QUERY_TIMEOUT, query)
        .await
        .ok()?
        .ok()?;
    let ssl: bool = row.try_get(0).ok()?;
    if !ssl {
        return Some("no TLS".into());
    }
    let version: String = row.try_get(1).ok()?;
    let cipher: String = row.try_get(2).ok()?;
    Some(format!("{version} {cipher}"))
}

/// How a failed connect ended.
fn admission_of(e: &sqlx::Error) -> Admission {
    match e {
        sqlx::Error::Database(db) => Admission::RefusedByServer {
            code: db.code().map(|c| c.into_owned()),
            message: db.message().to_string(),
        },
        sqlx::Error::Tls(inner) if inner.to_string() == TLS_NOT_OFFERED => Admission::TlsNotOffered,
        sqlx::Error::Tls(inner) => match certificate_error(inner.as_ref()) {
            Some(reason) => Admission::CertificateRejected { reason },
            None => Admission::Failed {
                reason: format!("TLS: {inner}"),
            },
        },
        sqlx::Error::Io(io) => match io.get_ref().and_then(certificate_error) {
            Some(reason) => Admission::CertificateRejected { reason },
            None => Admission::Failed {
                reason: format!("I/O: {io}"),
            },
        },
        other => Admission::Failed {
            reason: other.to_string(),
        },
    }
}

/// The rustls certificate verdict inside an error, if that is what it is.
fn certificate_error(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<String> {
    match e.downcast_ref::<rustls::Error>()? {
        err @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) => {
            Some(err.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn step(transport: Transport, credentials: Credentials, ca: Option<&str>) -> ConnectStep {
        ConnectStep {
            transport,
            credentials,
            ca_file: ca.map(PathBuf::from),
            expect: security::Expectation::Accepted,
        }
    }

    const URL: &str =
        "postgres://assay:s3cret@127.0.0.1:5432/assay?sslmode=verify-full&sslrootcert=/ca.crt";

    #[test]
    fn a_wrong_password_is_never_the_right_one() {
        assert_eq!(wrong_password(URL), "assay-wrong-password");
        let tricky = "postgres://assay:assay-wrong-password@h/db";
        assert_eq!(wrong_password(tricky), "assay-wrong-passwordx");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let e = attempt_options(
            URL,
            &step(
                Transport::VerifiedTls,
                Credentials::Target,
                Some("/nope.pem"),
            ),
        )
        .unwrap_err();
        assert!(e.contains("/nope.pem") && e.contains("not a file"), "{e}");
        let e = PgConnectOptions::from_str("postgres://u:p@h/db?sslmode=bogus").unwrap_err();
        assert!(!e.to_string().contains(":p@"), "{e}");
    }

    #[test]
    fn an_unreadable_ca_file_is_named_before_connecting() {
        let why = unreadable_ca_file(URL).unwrap();
        assert!(
            why.contains("sslrootcert=/ca.crt") && why.contains("cannot be read"),
            "{why}"
        );
        assert!(!why.contains("s3cret"), "{why}");
        assert_eq!(
            unreadable_ca_file("postgres://u:p@h/db?sslmode=require"),
            None
        );
    }

    #[test]
    fn the_public_roots_url_drops_only_the_ca() {
        assert_eq!(
            url_without_ca(URL).unwrap(),
            "postgres://assay:s3cret@127.0.0.1:5432/assay?sslmode=verify-full"
        );
        let step = step(Transport::VerifiedTls, Credentials::Target, Some("/x.pem"));
        assert!(
            public_roots_only(URL, &step).is_ok(),
            "the CA file is not read"
        );
    }

    #[test]
    fn errors_are_sorted_by_who_refused() {
        let tls = sqlx::Error::Tls(TLS_NOT_OFFERED.into());
        assert_eq!(admission_of(&tls), Admission::TlsNotOffered);
        let cert = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert!(
            matches!(admission_of(&cert), Admission::CertificateRejected { ref reason } if reason.contains("UnknownIssuer")),
            "{:?}",
            admission_of(&cert)
        );
        let reset = sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert!(matches!(admission_of(&reset), Admission::Failed { .. }));
    }
}
