//! Named targets — what `--target NAME` resolves to: a local stand-in, or an entry of
//! the targets file (`assay.toml`, or `--targets FILE`): named targets beyond the local
//! stand-ins — a real service, or a server of one's own. The file never holds a secret:
//! it names where each credential comes from (an environment variable, the provider's
//! standard chain), and the secret is read only when the run connects.
//!
//! ```toml
//! [targets.aurora]
//! family = "postgres"
//! url = "postgres://bench@db.cluster-1.eu-west-1.rds.amazonaws.com:5432/bench?sslmode=require"
//! password_env = "AURORA_PASSWORD"
//!
//! [targets.ddb]
//! family = "dynamodb"
//! region = "eu-west-1"          # credentials: the AWS chain (env, profile, SSO, roles)
//! # profile = "bench"
//! # endpoint = "https://dynamodb.eu-west-1.amazonaws.com"
//!
//! [targets.spanner-prod]
//! family = "spanner"            # credentials: Application Default Credentials
//! project = "p"
//! instance = "i"
//! database = "d"
//!
//! [targets.cosmos]
//! family = "cosmos"
//! url = "https://acct.documents.azure.com:443/"
//! key_env = "COSMOS_KEY"
//! ```

use crate::scenario::ScenarioError;
use crate::target::{Endpoint, Family, LocalBackend, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use toml::Spanned;

/// A target named in a targets file. Holds no secret: only where each one comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileTarget {
    pub name: String,
    /// `file:line:col` of its table, for errors that come up later (a missing variable).
    pub defined_at: String,
    pub how: Connection,
}

/// How to reach a file target, per family.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Connection {
    Postgres {
        /// Without a password; it comes from `password_env`.
        url: String,
        password_env: Option<String>,
        replica_url: Option<String>,
    },
    Mysql {
        url: String,
        password_env: Option<String>,
    },
    Dynamodb {
        region: String,
        endpoint: Option<String>,
        /// An AWS shared-config profile; `None`: the default chain.
        profile: Option<String>,
    },
    Spanner {
        project: String,
        instance: String,
        database: String,
        /// `host:port` of an emulator someone else runs.
        emulator_host: Option<String>,
    },
    Cosmos {
        url: String,
        key_env: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    targets: BTreeMap<String, Spanned<RawTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    family: Spanned<Family>,
    url: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    replica_url: Option<Spanned<String>>,
    region: Option<Spanned<String>>,
    endpoint: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    project: Option<Spanned<String>>,
    instance: Option<Spanned<String>>,
    database: Option<Spanned<String>>,
    emulator_host: Option<Spanned<String>>,
    key_env: Option<Spanned<String>>,
}

/// Every field name a family accepts, for the "does not take" error.
fn accepted(family: Family) -> &'static [&'static str] {
    match family {
        Family::Postgres => &["url", "password_env", "replica_url"],
        Family::Mysql => &["url", "password_env"],
        Family::Dynamodb => &["region", "endpoint", "profile"],
        Family::Spanner => &["project", "instance", "database", "emulator_host"],
        Family::Cosmos => &["url", "key_env"],
    }
}

/// Parses a targets file; every error is `file:line:col: message` with the fix.
pub fn parse(src: &str, file: &str) -> Result<Vec<FileTarget>, ScenarioError> {
    let raw: RawFile = crate::scenario::from_toml(src, file)?;
    let at =
        |span: std::ops::Range<usize>, message: String| ScenarioError::at(src, file, span, message);
    let mut out = Vec::new();
    for (name, t) in raw.targets {
        let span = t.span();
        let t = t.into_inner();
        if LocalBackend::by_name(&name).is_some() {
            return Err(at(
                span,
                format!("target `{name}` has the name of a local stand-in; rename it (e.g. `{name}-real`)"),
            ));
        }
        let family = *t.family.get_ref();
        let given: [(&str, &Option<Spanned<String>>); 11] = [
            ("url", &t.url),
            ("password_env", &t.password_env),
            ("replica_url", &t.replica_url),
            ("region", &t.region),
            ("endpoint", &t.endpoint),
            ("profile", &t.profile),
            ("project", &t.project),
            ("instance", &t.instance),
            ("database", &t.database),
            ("emulator_host", &t.emulator_host),
            ("key_env", &t.key_env),
        ];
        for (field, value) in given {
            if let Some(v) = value {
                if !accepted(family).contains(&field) {
                    return Err(at(
                        v.span(),
                        format!(
                            "target `{name}`: a {family} target does not take `{field}`; it takes {}",
                            accepted(family).join(", ")
                        ),
                    ));
                }
            }
        }
        let need = |v: &Option<Spanned<String>>, field: &str, example: &str| {
            match v {
                Some(s) if !s.get_ref().trim().is_empty() => Ok(s.get_ref().trim().to_string()),
                Some(s) => Err(at(s.span(), format!("target `{name}`: `{field}` is empty; write e.g. {field} = \"{example}\""))),
                None => Err(at(span.clone(), format!("target `{name}`: a {family} target needs `{field}`, e.g. {field} = \"{example}\""))),
            }
        };
        let opt = |v: &Option<Spanned<String>>| v.as_ref().map(|s| s.get_ref().trim().to_string());
        let env_name = |v: &Option<Spanned<String>>| -> Result<Option<String>, ScenarioError> {
            match v {
                Some(s) if is_env_name(s.get_ref()) => Ok(Some(s.get_ref().clone())),
                Some(s) => Err(at(s.span(), format!("target `{name}`: `{}` is not an environment variable name; write e.g. \"DB_PASSWORD\"", s.get_ref()))),
                None => Ok(None),
            }
        };
        let sql_url = |field: &str,
                       v: &Option<Spanned<String>>,
                       scheme: &str|
         -> Result<Option<String>, ScenarioError> {
            let Some(s) = v else { return Ok(None) };
            let url = s.get_ref().trim();
            if !url.starts_with(&format!("{scheme}://")) {
                return Err(at(
                    s.span(),
                    format!("target `{name}`: `{field}` must start with {scheme}://"),
                ));
            }
            if userinfo(url).is_some_and(|u| u.contains(':')) {
                return Err(at(s.span(), format!("target `{name}`: `{field}` holds a password; remove it from the URL and name the variable that holds it with password_env = \"…\"")));
            }
            if host_of_url(url).is_none() {
                return Err(at(s.span(), format!("target `{name}`: `{field}` names no host; write {scheme}://user@host:port/db")));
            }
            Ok(Some(url.to_string()))
        };
        // TLS is the URL's business, as libpq's: `sslmode`, and `sslrootcert` for the CA.
        let pg_tls = |field: &str, v: &Option<Spanned<String>>| -> Result<(), ScenarioError> {
            let Some(s) = v else { return Ok(()) };
            for (key, value) in query_pairs(s.get_ref()) {
                let problem = match (key, value) {
                    ("sslmode", mode) if !PG_SSLMODES.contains(&mode) => format!(
                        "sslmode={mode} is not one of {} (verify-full checks the server's certificate and host name)",
                        PG_SSLMODES.join(", ")
                    ),
                    ("sslrootcert", "") => "sslrootcert is empty; name the CA certificate file (PEM), or drop it to verify against the public roots".into(),
                    ("sslrootcert", "system") => "sslrootcert=system is not understood by Assay's client; drop sslrootcert, and the server is verified against the public roots".into(),
                    _ => continue,
                };
                return Err(at(
                    s.span(),
                    format!("target `{name}`: `{field}`: {problem}"),
                ));
            }
            Ok(())
        };
        let how = match family {
            Family::Postgres => {
                need(&t.url, "url", "postgres://user@host:5432/db")?;
                pg_tls("url", &t.url)?;
                pg_tls("replica_url", &t.replica_url)?;
                Connection::Postgres {
                    url: sql_url("url", &t.url, "postgres")?.unwrap_or_default(),
                    password_env: env_name(&t.password_env)?,
                    replica_url: sql_url("replica_url", &t.replica_url, "postgres")?,
                }
            }
            Family::Mysql => {
                need(&t.url, "url", "mysql://user@host:3306/db")?;
                Connection::Mysql {
                    url: sql_url("url", &t.url, "mysql")?.unwrap_or_default(),
                    password_env: env_name(&t.password_env)?,
                }
            }
            Family::Dynamodb => {
                if let Some(e) = &t.endpoint {
                    let u = e.get_ref();
                    if !(u.starts_with("http://") || u.starts_with("https://"))
                        || host_of_url(u).is_none()
                    {
                        return Err(at(e.span(), format!("target `{name}`: `endpoint` must be an http:// or https:// URL with a host")));
                    }
                }
                Connection::Dynamodb {
                    region: need(&t.region, "region", "eu-west-1")?,
                    endpoint: opt(&t.endpoint),
                    profile: opt(&t.profile),
                }
            }
            Family::Spanner => Connection::Spanner {
                project: need(&t.project, "project", "my-project")?,
                instance: need(&t.instance, "instance", "my-instance")?,
                database: need(&t.database, "database", "my-database")?,
                emulator_host: opt(&t.emulator_host),
            },
            Family::Cosmos => {
                let url = need(&t.url, "url", "https://account.documents.azure.com:443/")?;
                if host_of_url(&url).is_none() {
                    return Err(at(
                        t.url.as_ref().map_or(span.clone(), |u| u.span()),
                        format!("target `{name}`: `url` names no host"),
                    ));
                }
                need(&t.key_env, "key_env", "COSMOS_KEY")?;
                Connection::Cosmos {
                    url,
                    key_env: env_name(&t.key_env)?.unwrap_or_default(),
                }
            }
        };
        let (line, col) = crate::scenario::line_col(src, span.start);
        out.push(FileTarget {
            name,
            defined_at: format!("{file}:{line}:{col}"),
            how,
        });
    }
    Ok(out)
}

/// libpq's `sslmode` values, which the PostgreSQL driver reads from a target's URL.
const PG_SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// The `name=value` pairs of a URL's query, as written.
fn query_pairs(url: &str) -> impl Iterator<Item = (&str, &str)> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split('#').next().unwrap_or("");
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `user[:password]` part of a URL, if it has one.
fn userinfo(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority.rfind('@').map(|i| &authority[..i])
}

/// The host of `scheme://[user@]host[:port][/…]`, as written (no lookup).
fn host_of_url(url: &str) -> Option<String> {
    let (a, b) = crate::endpoint_address::authority_span(url)?;
    host_of_authority(&url[a..b])
}

/// The host of `host[:port]` or `[v6]:port`.
fn host_of_authority(hostport: &str) -> Option<String> {
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        &v6[..v6.find(']')?]
    } else if hostport.matches(':').count() > 1 {
        hostport // a bare IPv6 address
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Loopback by its text alone — `localhost`, 127.0.0.0/8, `::1` — so that deciding
/// never sends a packet or asks a resolver.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    h == "localhost"
        || h.ends_with(".localhost")
        || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl FileTarget {
    pub fn family(&self) -> Family {
        match self.how {
            Connection::Postgres { .. } => Family::Postgres,
            Connection::Mysql { .. } => Family::Mysql,
            Connection::Dynamodb { .. } => Family::Dynamodb,
            Connection::Spanner { .. } => Family::Spanner,
            Connection::Cosmos { .. } => Family::Cosmos,
        }
    }

    /// Every host the target's clients would connect to, as written. A DynamoDB or
    /// Spanner target without an endpoint reaches the provider's public service.
    pub fn hosts(&self) -> Vec<String> {
        let provider = |what: &str| vec![what.to_string()];
        match &self.how {
            Connection::Postgres {
                url, replica_url, ..
            } => [Some(url), replica_url.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|u| host_of_url(u))
                .collect(),
            Connection::Mysql { url, .. } | Connection::Cosmos { url, .. } => {
                host_of_url(url).into_iter().collect()
            }
            Connection::Dynamodb {
                endpoint: Some(e), ..
            } => host_of_url(e).into_iter().collect(),
            Connection::Dynamodb { region, .. } => {
                provider(&format!("dynamodb.{region}.amazonaws.com"))
            }
            Connection::Spanner {
                emulator_host: Some(h),
                ..
            } => host_of_authority(h).into_iter().collect(),
            Connection::Spanner { .. } => provider("spanner.googleapis.com"),
        }
    }

    /// Whether every connection stays on this machine.
    pub fn is_loopback(&self) -> bool {
        let hosts = self.hosts();
        !hosts.is_empty() && hosts.iter().all(|h| is_loopback_host(h))
    }

    /// Where the target's credentials come from, for `assay targets` (never a value).
    pub fn credential_source(&self, env_set: &dyn Fn(&str) -> bool) -> String {
        let var = |v: &str| format!("${v} ({})", if env_set(v) { "set" } else { "not set" });
        match &self.how {
            Connection::Postgres { password_env, .. } | Connection::Mysql { password_env, .. } => {
                password_env.as_deref().map_or(
                    "no password (trust, peer or certificate authentication)".to_string(),
                    |v| format!("password from {}", var(v)),
                )
            }
            Connection::Dynamodb { profile, .. } => match profile {
                Some(p) => format!("AWS credential chain, profile `{p}`"),
                None => "AWS credential chain (environment, shared config and SSO, web identity, container and instance roles)".into(),
            },
            Connection::Spanner {
                emulator_host: Some(_),
                ..
            } => "none (emulator)".into(),
            Connection::Spanner { .. } => {
                "Google Application Default Credentials ($GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, or the metadata server)".into()
            }
            Connection::Cosmos { key_env, .. } => format!("account key from {}", var(key_env)),
        }
    }

    /// The endpoint, with its secrets read from the environment through `env`. Called
    /// when the run connects, never before the real-endpoint guard has passed.
    pub fn endpoint(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Endpoint, String> {
        let secret = |v: &str, what: &str| {
            env(v).filter(|s| !s.is_empty()).ok_or_else(|| {
                format!(
                    "target `{}` ({}): the environment variable {v} holding its {what} is not set; export it and rerun",
                    self.name, self.defined_at
                )
            })
        };
        let with_password = |url: &str, password_env: &Option<String>| -> Result<Secret, String> {
            Ok(Secret::new(match password_env {
                Some(v) => insert_password(url, &secret(v, "password")?),
                None => url.to_string(),
            }))
        };
        Ok(match &self.how {
            Connection::Postgres {
                url,
                password_env,
                replica_url,
            } => Endpoint::Postgres {
                url: with_password(url, password_env)?,
                replica_url: replica_url
                    .as_deref()
                    .map(|r| with_password(r, password_env))
                    .transpose()?,
            },
            Connection::Mysql { url, password_env } => Endpoint::Mysql {
                url: with_password(url, password_env)?,
            },
            Connection::Dynamodb {
                region,
                endpoint,
                profile,
            } => {
                if profile.is_some() {
                    return Err(format!(
                        "target `{}` ({}): `profile` is not supported by this version's DynamoDB driver; set AWS_PROFILE in the environment instead",
                        self.name, self.defined_at
                    ));
                }
                Endpoint::Dynamodb {
                    url: endpoint.clone(),
                    region: region.clone(),
                    access_key_id: None,
                    secret_access_key: None,
                }
            }
            Connection::Spanner {
                project,
                instance,
                database,
                emulator_host,
            } => Endpoint::Spanner {
                emulator_host: emulator_host.clone(),
                project: project.clone(),
                instance: instance.clone(),
                database: database.clone(),
            },
            Connection::Cosmos { url, key_env } => Endpoint::Cosmos {
                url: url.clone(),
                key: Secret::new(secret(key_env, "account key")?),
                // Cosmos DB on loopback is an emulator or a local stand-in (the official
                // emulator, @vercel/cosmosdb-server): HTTP/1.1, a self-signed certificate.
                emulator: self.is_loopback(),
            },
        })
    }
}

/// `scheme://user@host/db` + password → `scheme://user:password@host/db`, the password
/// percent-encoded.
fn insert_password(url: &str, password: &str) -> String {
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}{}:{encoded}{}", &url[..start], &rest[..at], &rest[at..]),
        None => url.to_string(),
    }
}

/// A named target: what `--target NAME` resolves to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetSpec {
    pub name: String,
    pub family: Family,
    /// Set when the target is a local stand-in the run starts itself.
    pub local: Option<LocalBackend>,
    /// Set when the target comes from a targets file (a real service, or a server of
    /// one's own); it holds no secret.
    pub remote: Option<FileTarget>,
}

impl TargetSpec {
    pub fn local(backend: LocalBackend) -> Self {
        TargetSpec {
            name: backend.name().to_string(),
            family: backend.family(),
            local: Some(backend),
            remote: None,
        }
    }

    pub fn from_file(t: &FileTarget) -> Self {
        TargetSpec {
            name: t.name.clone(),
            family: t.family(),
            local: None,
            remote: Some(t.clone()),
        }
    }

    /// Resolves a target name among the local stand-ins and the targets file's entries;
    /// the error lists the names that exist.
    pub fn resolve(name: &str, file: &[FileTarget]) -> Result<TargetSpec, String> {
        if let Some(b) = LocalBackend::by_name(name) {
            return Ok(TargetSpec::local(b));
        }
        if let Some(t) = file.iter().find(|t| t.name == name) {
            return Ok(TargetSpec::from_file(t));
        }
        let known: Vec<_> = LocalBackend::ALL
            .iter()
            .map(|b| b.name())
            .chain(file.iter().map(|t| t.name.as_str()))
            .collect();
        Err(format!(
            "unknown target `{name}`; known targets: {} (see `assay targets`)",
            known.join(", ")
        ))
    }

    /// Whether any connection of this target leaves the machine (decided from the
    /// text of its endpoint, without a lookup).
    pub fn is_real(&self) -> bool {
        self.remote.as_ref().is_some_and(|t| !t.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[targets.aurora]
family = "postgres"
url = "postgres://bench@db.example.invalid:5432/bench?sslmode=require"
password_env = "AURORA_PASSWORD"

[targets.mine]
family = "postgres"
url = "postgres://assay@127.0.0.1:5432/assay"

[targets.ddb]
family = "dynamodb"
region = "eu-west-1"

[targets.cosmos]
family = "cosmos"
url = "https://acct.documents.azure.com:443/"
key_env = "COSMOS_KEY"
"#;

    #[test]
    fn unknown_target_lists_known_ones() {
        let err = TargetSpec::resolve("dynamo", &[]).unwrap_err();
        assert!(err.contains("dynamodb-moto"), "{err}");
        assert_eq!(
            TargetSpec::resolve("cosmos-local", &[]).unwrap().family,
            Family::Cosmos
        );
        let spec = TargetSpec::resolve("postgres-replica", &[]).unwrap();
        assert_eq!(spec.local, Some(LocalBackend::PostgresReplica));
        let file = parse(FILE, "assay.toml").unwrap();
        let spec = TargetSpec::resolve("aurora", &file).unwrap();
        assert!(spec.is_real() && spec.local.is_none());
        assert!(!TargetSpec::resolve("mine", &file).unwrap().is_real());
        let err = TargetSpec::resolve("nope", &file).unwrap_err();
        assert!(
            err.contains("aurora") && err.contains("postgres-replica"),
            "{err}"
        );
    }

    #[test]
    fn a_file_parses_into_targets_without_secrets() {
        let t = parse(FILE, "assay.toml").unwrap();
        let names: Vec<_> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["aurora", "cosmos", "ddb", "mine"]);
        assert_eq!(t[0].defined_at, "assay.toml:2:1");
        let aurora = &t[0];
        assert_eq!(aurora.hosts(), ["db.example.invalid"]);
        assert!(!aurora.is_loopback());
        assert!(t[3].is_loopback());
        assert_eq!(t[2].hosts(), ["dynamodb.eu-west-1.amazonaws.com"]);
        assert!(!t[2].is_loopback());
        let ep = aurora
            .endpoint(&|v| (v == "AURORA_PASSWORD").then(|| "p@ss w/rd".to_string()))
            .unwrap();
        let Endpoint::Postgres { url, .. } = &ep else {
            unreachable!()
        };
        assert_eq!(
            url.expose(),
            "postgres://bench:p%40ss%20w%2Frd@db.example.invalid:5432/bench?sslmode=require"
        );
        assert!(!serde_json::to_string(&ep).unwrap().contains("p%40ss"));
        let missing = t[1].endpoint(&|_| None).unwrap_err();
        assert!(
            missing.contains("COSMOS_KEY") && missing.contains("assay.toml:"),
            "{missing}"
        );
        assert_eq!(
            t[1].credential_source(&|_| false),
            "account key from $COSMOS_KEY (not set)"
        );
    }

    #[test]
    fn a_loopback_cosmos_target_is_an_emulator_and_a_real_one_is_not() {
        let src = "[targets.local]\nfamily = \"cosmos\"\nurl = \"http://127.0.0.1:8081/\"\nkey_env = \"K\"\n\
                   [targets.real]\nfamily = \"cosmos\"\nurl = \"https://acct.documents.azure.com:443/\"\nkey_env = \"K\"\n";
        let t = parse(src, "assay.toml").unwrap();
        let emulator = |t: &FileTarget| match t.endpoint(&|_| Some("a2V5".into())).unwrap() {
            Endpoint::Cosmos { emulator, .. } => emulator,
            other => panic!("{other:?}"),
        };
        assert_eq!(t[0].name, "local");
        assert!(emulator(&t[0]));
        assert!(!emulator(&t[1]));
    }

    #[test]
    fn loopback_is_decided_from_text() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "api.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "db.example.invalid",
            "localhost.example.invalid",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert_eq!(
            host_of_url("postgres://u@[::1]:5432/db").as_deref(),
            Some("::1")
        );
    }

    #[test]
    fn tls_settings_ride_in_the_url_and_are_checked() {
        let src = "[targets.tls]\nfamily = \"postgres\"\nurl = \"postgres://u@db.example.invalid/db?sslmode=verify-full&sslrootcert=/etc/ca.pem\"\npassword_env = \"PW\"\n";
        let t = parse(src, "assay.toml").unwrap();
        let ep = t[0].endpoint(&|_| Some("pw".into())).unwrap();
        let Endpoint::Postgres { url, .. } = &ep else {
            unreachable!()
        };
        assert_eq!(
            url.expose(),
            "postgres://u:pw@db.example.invalid/db?sslmode=verify-full&sslrootcert=/etc/ca.pem"
        );
        let e = error(
            "[targets.x]\nfamily = \"postgres\"\nurl = \"postgres://u@h/db?sslmode=verify_full\"\n",
        );
        assert!(
            e.starts_with("assay.toml:3:7: ") && e.contains("sslmode=verify_full is not one of"),
            "{e}"
        );
        let e = error("[targets.x]\nfamily = \"postgres\"\nurl = \"postgres://u@h/db\"\nreplica_url = \"postgres://u@r/db?sslrootcert=\"\n");
        assert!(e.contains("`replica_url`: sslrootcert is empty"), "{e}");
        let e = error(
            "[targets.x]\nfamily = \"postgres\"\nurl = \"postgres://u@h/db?sslrootcert=system\"\n",
        );
        assert!(e.contains("sslrootcert=system"), "{e}");
        assert_eq!(
            query_pairs("postgres://h/db?a=1&b&c=x#f").collect::<Vec<_>>(),
            [("a", "1"), ("b", ""), ("c", "x")]
        );
    }

    fn error(src: &str) -> String {
        parse(src, "assay.toml").unwrap_err().to_string()
    }

    #[test]
    fn bad_files_are_located_with_the_fix() {
        let e = error("[targets.x]\nfamily = \"postgres\"\nurl = \"postgres://u:hunter2@h/db\"\n");
        assert!(
            e.starts_with("assay.toml:3:7: ") && e.contains("password_env"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = error("[targets.x]\nfamily = \"dynamodb\"\nurl = \"http://h\"\n");
        assert!(
            e.starts_with("assay.toml:3:7: ") && e.contains("does not take `url`"),
            "{e}"
        );
        let e = error("[targets.x]\nfamily = \"spanner\"\nproject = \"p\"\n");
        assert!(e.contains("needs `instance`"), "{e}");
        let e = error("[targets.postgres]\nfamily = \"postgres\"\nurl = \"postgres://u@h/db\"\n");
        assert!(e.contains("name of a local stand-in"), "{e}");
        let e = error("[targets.x]\nfamily = \"oracle\"\n");
        assert!(e.starts_with("assay.toml:2:10: "), "{e}");
        let e =
            error("[targets.x]\nfamily = \"cosmos\"\nurl = \"https://h\"\nkey_env = \"my key\"\n");
        assert!(e.contains("not an environment variable name"), "{e}");
    }
}
