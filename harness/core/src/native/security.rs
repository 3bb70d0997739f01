//! The `security` family of native steps (`native = "security.connect"`), shared by every
//! backend family as `sql.*` is by the SQL drivers: one fresh connection, outside the
//! driver's pools, with the target's settings altered — TLS off, the server verified
//! against another CA, no password, a wrong one — and whether the server let it in. The
//! target supplies endpoint, CA and credentials, so one scenario file runs against a local
//! stand-in and a real service unchanged.
//!
//! This module owns the vocabulary (what a step asks for: [`ConnectStep`]; how an attempt
//! ended: [`Admission`]) and the finding from the two ([`finding`]; the verdict is still the
//! judge's, in `assay-check`, like every native finding's). A driver opens the
//! connection and says how it ended; a driver that cannot open such connections leaves
//! [`Capability::ConnectionSecurity`](crate::Capability::ConnectionSecurity) unsupported,
//! with its reason, and scenarios with `security.*` steps are reported unsupported there.

use super::registry::{CheckSpec, FamilyChecks, NativeParams, ParamDefault, ParamKind, ParamSpec};
use super::NativeOutcome;
use std::fmt;
use std::path::PathBuf;

/// The family name in `native = "security.<check>"`.
pub const SECURITY_FAMILY: &str = "security";

const TRANSPORTS: &[&str] = &["plaintext", "verified_tls"];
const CREDENTIALS: &[&str] = &["target", "none", "wrong"];
const EXPECTATIONS: &[&str] = &["accepted", "refused_by_server", "certificate_rejected"];

/// One connection attempt with altered settings.
pub const CONNECT: CheckSpec = CheckSpec {
    name: "connect",
    summary: "a fresh connection with the target's TLS or credentials altered is accepted or refused as documented",
    params: &[
        ParamSpec::choice(
            "transport",
            "verified_tls",
            TRANSPORTS,
            "plaintext: no TLS at all; verified_tls: TLS, the server's certificate verified against the CA (ca_file, else the target's) and its name checked",
        ),
        ParamSpec::choice(
            "credentials",
            "target",
            CREDENTIALS,
            "target: the target's user and password; none: the target's user, no password; wrong: the target's user, a password that is not its own",
        ),
        ParamSpec {
            name: "ca_file",
            kind: ParamKind::Path,
            default: ParamDefault::Absent,
            doc: "a CA certificate (PEM), relative to the scenario file, to verify the server against instead of the target's CA; only with transport = \"verified_tls\"",
        },
        ParamSpec {
            name: "expect",
            kind: ParamKind::Text {
                allowed: EXPECTATIONS,
            },
            default: ParamDefault::Required,
            doc: "accepted: logged in; refused_by_server: the server ended the login with an error; certificate_rejected: the client refused the server's certificate",
        },
        ParamSpec {
            name: "sqlstate",
            kind: ParamKind::Text { allowed: &[] },
            default: ParamDefault::Absent,
            doc: "with expect = \"refused_by_server\": the server's error code must start with this (\"28\": invalid authorization); absent: any refusal",
        },
    ],
    cite: "https://www.postgresql.org/docs/current/auth-pg-hba-conf.html",
};

/// The `security` family: what any target may be asked to show about who it lets in.
pub const SECURITY_CHECKS: FamilyChecks = FamilyChecks {
    family: SECURITY_FAMILY,
    checks: &[CONNECT],
};

/// How the attempt reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// No TLS: libpq's `sslmode=disable`.
    Plaintext,
    /// TLS with the certificate chain verified and the host name checked (`verify-full`).
    VerifiedTls,
}

/// Whom the attempt logs in as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// The target's user and password, as its endpoint gives them.
    Target,
    /// The target's user without a password.
    None,
    /// The target's user with a password that is not its own.
    Wrong,
}

/// What the step's documentation says the server does with the attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    Accepted,
    /// Ended by the server with an error whose code starts with `sqlstate`, when given.
    RefusedByServer {
        sqlstate: Option<String>,
    },
    /// The client refuses the server's certificate (it does not chain to the CA, or does
    /// not name the host).
    CertificateRejected,
}

/// A `security.connect` step's parameters, read and checked together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectStep {
    pub transport: Transport,
    pub credentials: Credentials,
    /// A CA to verify against instead of the target's, resolved beside the scenario.
    pub ca_file: Option<PathBuf>,
    pub expect: Expectation,
}

impl ConnectStep {
    /// Reads the parameters of a `security.connect` step (validated against [`CONNECT`]);
    /// `Err` names a combination that cannot be carried out, with the fix.
    pub fn from_params(params: &NativeParams<'_>) -> Result<ConnectStep, String> {
        let transport = match params.text("transport") {
            Some("plaintext") => Transport::Plaintext,
            _ => Transport::VerifiedTls,
        };
        let credentials = match params.text("credentials") {
            Some("none") => Credentials::None,
            Some("wrong") => Credentials::Wrong,
            _ => Credentials::Target,
        };
        let sqlstate = params.text("sqlstate").map(str::to_string);
        let expect = match params.text("expect") {
            Some("accepted") => Expectation::Accepted,
            Some("refused_by_server") => Expectation::RefusedByServer { sqlstate },
            Some("certificate_rejected") => Expectation::CertificateRejected,
            other => {
                return Err(format!(
                    "params.expect = {other:?}; give one of {}",
                    EXPECTATIONS.join(", ")
                ))
            }
        };
        let ca_file = params.path("ca_file");
        if ca_file.is_some() && transport == Transport::Plaintext {
            return Err(
                "params.ca_file only goes with transport = \"verified_tls\"; remove one of them"
                    .into(),
            );
        }
        if params.text("sqlstate").is_some()
            && !matches!(expect, Expectation::RefusedByServer { .. })
        {
            return Err(
                "params.sqlstate only goes with expect = \"refused_by_server\"; remove it".into(),
            );
        }
        Ok(ConnectStep {
            transport,
            credentials,
            ca_file,
            expect,
        })
    }

    /// What the attempt was, in words: "plaintext, no password".
    pub fn describe(&self) -> String {
        let transport = match (&self.transport, &self.ca_file) {
            (Transport::Plaintext, _) => "plaintext".to_string(),
            (Transport::VerifiedTls, None) => "verified TLS (the target's CA)".to_string(),
            (Transport::VerifiedTls, Some(ca)) => format!("verified TLS against {}", ca.display()),
        };
        let credentials = match self.credentials {
            Credentials::Target => "the target's credentials",
            Credentials::None => "no password",
            Credentials::Wrong => "a wrong password",
        };
        format!("{transport}, {credentials}")
    }
}

/// How one connection attempt ended, as the driver saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Logged in. `session` is what the server reports of the session's transport, e.g.
    /// "TLSv1.3 TLS_AES_256_GCM_SHA384" or "no TLS" (`None`: the server does not say).
    Accepted { session: Option<String> },
    /// The server ended the login with an error (its code, e.g. SQLSTATE 28P01).
    RefusedByServer {
        code: Option<String>,
        message: String,
    },
    /// The client refused the server's certificate.
    CertificateRejected { reason: String },
    /// TLS was asked for and the server does not offer it.
    TlsNotOffered,
    /// Nothing conclusive: unreachable, timed out, a protocol or configuration error.
    Failed { reason: String },
}

impl fmt::Display for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admission::Accepted { session: Some(s) } => write!(f, "accepted ({s})"),
            Admission::Accepted { session: None } => f.write_str("accepted"),
            Admission::RefusedByServer {
                code: Some(code),
                message,
            } => write!(f, "refused by the server with {code}: {message}"),
            Admission::RefusedByServer {
                code: None,
                message,
            } => write!(f, "refused by the server: {message}"),
            Admission::CertificateRejected { reason } => {
                write!(f, "the server's certificate was rejected: {reason}")
            }
            Admission::TlsNotOffered => f.write_str("the server does not offer TLS"),
            Admission::Failed { reason } => write!(f, "no conclusive answer: {reason}"),
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expectation::Accepted => f.write_str("accepted"),
            Expectation::RefusedByServer { sqlstate: Some(s) } => {
                write!(f, "refused by the server with a code starting {s}")
            }
            Expectation::RefusedByServer { sqlstate: None } => f.write_str("refused by the server"),
            Expectation::CertificateRejected => {
                f.write_str("the server's certificate rejected by the client")
            }
        }
    }
}

/// The finding of one attempt: `pass` when it ended as the step expects, `deviates` when
/// it ended another way, `error` when it proves nothing either way (never a pass).
pub fn finding(step: &ConnectStep, admission: &Admission) -> NativeOutcome {
    let observed = format!("{}: {admission}", step.describe());
    let expected = format!("expected: {}", step.expect);
    let outcome = match (&step.expect, admission) {
        (_, Admission::Failed { .. }) => NativeOutcome::error(observed),
        (Expectation::Accepted, Admission::Accepted { .. }) => NativeOutcome::pass(observed),
        (Expectation::RefusedByServer { sqlstate }, Admission::RefusedByServer { code, .. }) => {
            let matches = match (sqlstate, code) {
                (None, _) => true,
                (Some(want), Some(code)) => code.starts_with(want.as_str()),
                (Some(_), None) => false,
            };
            NativeOutcome::expect(matches, observed)
        }
        (Expectation::CertificateRejected, Admission::CertificateRejected { .. }) => {
            NativeOutcome::pass(observed)
        }
        _ => NativeOutcome::deviates(observed),
    };
    outcome.with_evidence(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{NativeStep, NativeVerdict};
    use serde_json::json;
    use std::time::Duration;

    fn step(params: serde_json::Value) -> NativeStep {
        NativeStep {
            name: "s".into(),
            family: SECURITY_FAMILY.into(),
            check: "connect".into(),
            params,
            documented: String::new(),
            cite: String::new(),
            timeout: Duration::from_secs(10),
            after: 0,
            scenario_file: "scenarios/security/tls.toml".into(),
        }
    }

    fn connect_step(params: serde_json::Value) -> Result<ConnectStep, String> {
        let s = step(params);
        let p = s.params_in(&SECURITY_CHECKS).map_err(|e| e.to_string())?;
        ConnectStep::from_params(&p)
    }

    #[test]
    fn params_read_with_their_defaults() {
        let s = connect_step(json!({"expect": "accepted"})).unwrap();
        assert_eq!(s.transport, Transport::VerifiedTls);
        assert_eq!(s.credentials, Credentials::Target);
        assert_eq!(s.ca_file, None);
        let s = connect_step(json!({
            "transport": "verified_tls", "ca_file": "untrusted-ca.pem",
            "expect": "certificate_rejected"
        }))
        .unwrap();
        assert_eq!(
            s.ca_file.as_deref(),
            Some(std::path::Path::new("scenarios/security/untrusted-ca.pem"))
        );
        let s = connect_step(json!({
            "transport": "plaintext", "credentials": "wrong",
            "expect": "refused_by_server", "sqlstate": "28"
        }))
        .unwrap();
        assert_eq!(
            s.expect,
            Expectation::RefusedByServer {
                sqlstate: Some("28".into())
            }
        );
        assert_eq!(s.describe(), "plaintext, a wrong password");
    }

    #[test]
    fn combinations_that_cannot_be_carried_out_name_the_fix() {
        let e = connect_step(
            json!({"transport": "plaintext", "ca_file": "x.pem", "expect": "accepted"}),
        )
        .unwrap_err();
        assert!(e.contains("ca_file only goes with"), "{e}");
        let e = connect_step(json!({"expect": "accepted", "sqlstate": "28"})).unwrap_err();
        assert!(e.contains("sqlstate only goes with"), "{e}");
        let e = connect_step(json!({})).unwrap_err();
        assert!(e.contains("needs params.expect"), "{e}");
        let e = connect_step(json!({"expect": "refused"})).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
    }

    fn verdict(params: serde_json::Value, admission: Admission) -> NativeOutcome {
        finding(&connect_step(params).unwrap(), &admission)
    }

    fn refused(code: &str) -> Admission {
        Admission::RefusedByServer {
            code: Some(code.into()),
            message: "no pg_hba.conf entry".into(),
        }
    }

    #[test]
    fn a_refusal_passes_only_with_the_expected_code() {
        let plaintext =
            json!({"transport": "plaintext", "expect": "refused_by_server", "sqlstate": "28"});
        let o = verdict(plaintext.clone(), refused("28000"));
        assert_eq!(o.verdict, NativeVerdict::Pass, "{o:?}");
        assert!(
            o.observed.starts_with(
                "plaintext, the target's credentials: refused by the server with 28000"
            ),
            "{}",
            o.observed
        );
        assert_eq!(
            verdict(plaintext.clone(), refused("08P01")).verdict,
            NativeVerdict::Deviates
        );
        let no_code = Admission::RefusedByServer {
            code: None,
            message: "closed".into(),
        };
        assert_eq!(
            verdict(plaintext.clone(), no_code.clone()).verdict,
            NativeVerdict::Deviates
        );
        let any = json!({"transport": "plaintext", "expect": "refused_by_server"});
        assert_eq!(verdict(any, no_code).verdict, NativeVerdict::Pass);
        // Let in: the check can fail.
        let o = verdict(
            plaintext,
            Admission::Accepted {
                session: Some("no TLS".into()),
            },
        );
        assert_eq!(o.verdict, NativeVerdict::Deviates);
        assert!(
            o.evidence
                .iter()
                .any(|e| e.contains("expected: refused by the server")),
            "{o:?}"
        );
    }

    #[test]
    fn a_refusal_for_another_reason_is_no_pass() {
        let wrong =
            json!({"credentials": "wrong", "expect": "refused_by_server", "sqlstate": "28"});
        assert_eq!(
            verdict(wrong.clone(), Admission::TlsNotOffered).verdict,
            NativeVerdict::Deviates
        );
        let cert = Admission::CertificateRejected {
            reason: "UnknownIssuer".into(),
        };
        assert_eq!(
            verdict(wrong, cert.clone()).verdict,
            NativeVerdict::Deviates
        );
        let untrusted = json!({"ca_file": "u.pem", "expect": "certificate_rejected"});
        assert_eq!(
            verdict(untrusted.clone(), cert).verdict,
            NativeVerdict::Pass
        );
        assert_eq!(
            verdict(untrusted, Admission::Accepted { session: None }).verdict,
            NativeVerdict::Deviates
        );
    }

    #[test]
    fn an_inconclusive_attempt_is_an_error_whatever_was_expected() {
        for expect in EXPECTATIONS {
            let o = verdict(
                json!({"expect": expect}),
                Admission::Failed {
                    reason: "timed out".into(),
                },
            );
            assert_eq!(o.verdict, NativeVerdict::Error, "{expect}");
        }
        let o = verdict(
            json!({"expect": "accepted"}),
            Admission::Accepted {
                session: Some("TLSv1.3".into()),
            },
        );
        assert_eq!(o.verdict, NativeVerdict::Pass);
        assert_eq!(
            o.observed,
            "verified TLS (the target's CA), the target's credentials: accepted (TLSv1.3)"
        );
    }
}
