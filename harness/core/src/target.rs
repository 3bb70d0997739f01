//! Targets: where a run sends its ops. A target names a backend family and an endpoint,
//! either a local stand-in started by the emulators crate or a real service.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Backend families, one driver crate each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Dynamodb,
    Spanner,
    Cosmos,
    Postgres,
    Mysql,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Dynamodb => "dynamodb",
            Family::Spanner => "spanner",
            Family::Cosmos => "cosmos",
            Family::Postgres => "postgres",
            Family::Mysql => "mysql",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Local stand-ins the emulators crate can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalBackend {
    Postgres,
    /// A PostgreSQL primary plus a streaming replica (the endpoint's `replica_url`).
    PostgresReplica,
    /// PostgreSQL that admits TCP clients only over TLS with SCRAM passwords, with a
    /// self-signed CA made at start (the endpoint URL names it: `sslrootcert`).
    PostgresTls,
    SpannerEmulator,
    DynamodbMoto,
    DynamodbDynalite,
    CosmosLocal,
    /// A MySQL-compatible server (MariaDB or MySQL) from the binaries on this machine.
    Mysql,
}

impl LocalBackend {
    pub const ALL: [LocalBackend; 8] = [
        LocalBackend::Postgres,
        LocalBackend::PostgresReplica,
        LocalBackend::PostgresTls,
        LocalBackend::SpannerEmulator,
        LocalBackend::DynamodbMoto,
        LocalBackend::DynamodbDynalite,
        LocalBackend::CosmosLocal,
        LocalBackend::Mysql,
    ];

    /// The target name users type (`--target dynamodb-moto`).
    pub fn name(self) -> &'static str {
        match self {
            LocalBackend::Postgres => "postgres",
            LocalBackend::PostgresReplica => "postgres-replica",
            LocalBackend::PostgresTls => "postgres-tls",
            LocalBackend::SpannerEmulator => "spanner-emulator",
            LocalBackend::DynamodbMoto => "dynamodb-moto",
            LocalBackend::DynamodbDynalite => "dynamodb-dynalite",
            LocalBackend::CosmosLocal => "cosmos-local",
            LocalBackend::Mysql => "mysql",
        }
    }

    pub fn family(self) -> Family {
        match self {
            LocalBackend::Postgres | LocalBackend::PostgresReplica | LocalBackend::PostgresTls => {
                Family::Postgres
            }
            LocalBackend::SpannerEmulator => Family::Spanner,
            LocalBackend::DynamodbMoto | LocalBackend::DynamodbDynalite => Family::Dynamodb,
            LocalBackend::CosmosLocal => Family::Cosmos,
            LocalBackend::Mysql => Family::Mysql,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            LocalBackend::Postgres => "PostgreSQL (initdb + pg_ctl on PATH)",
            LocalBackend::PostgresReplica => {
                "PostgreSQL primary + streaming replica (initdb + pg_basebackup on PATH)"
            }
            LocalBackend::PostgresTls => {
                "PostgreSQL admitting only TLS + SCRAM on TCP, self-signed CA (initdb + openssl on PATH)"
            }
            LocalBackend::SpannerEmulator => "Cloud Spanner emulator (Google Cloud CLI)",
            LocalBackend::DynamodbMoto => "DynamoDB API on moto_server (PyPI moto)",
            LocalBackend::DynamodbDynalite => "DynamoDB API on dynalite (npm)",
            LocalBackend::CosmosLocal => {
                "Cosmos DB NoSQL API on @vercel/cosmosdb-server (npm) behind Assay's adapter"
            }
            LocalBackend::Mysql => "MySQL wire on MariaDB (mariadbd or mysqld on this machine)",
        }
    }

    pub fn by_name(name: &str) -> Option<LocalBackend> {
        LocalBackend::ALL.into_iter().find(|b| b.name() == name)
    }
}

impl fmt::Display for LocalBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A credential or connection string that must never reach a report or a log.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// How to reach one backend. Built by the emulators crate for local stand-ins, or from a
/// targets file for real services.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum Endpoint {
    Dynamodb {
        /// `None` means the SDK's default AWS endpoint for `region`.
        url: Option<String>,
        region: String,
        /// Static credentials for local stand-ins; `None` uses the AWS credential chain.
        access_key_id: Option<Secret>,
        secret_access_key: Option<Secret>,
    },
    Spanner {
        /// `host:port` of an emulator's gRPC port; `None` means Google Cloud.
        emulator_host: Option<String>,
        project: String,
        instance: String,
        database: String,
    },
    Cosmos {
        url: String,
        key: Secret,
        /// Accept the local server's self-signed certificate.
        emulator: bool,
    },
    Postgres {
        /// `postgres://user:password@host:port/db`
        url: Secret,
        /// A read replica's URL, when the target has one.
        replica_url: Option<Secret>,
    },
    Mysql {
        /// `mysql://user:password@host:port/db`
        url: Secret,
    },
}

impl Endpoint {
    pub fn family(&self) -> Family {
        match self {
            Endpoint::Dynamodb { .. } => Family::Dynamodb,
            Endpoint::Spanner { .. } => Family::Spanner,
            Endpoint::Cosmos { .. } => Family::Cosmos,
            Endpoint::Postgres { .. } => Family::Postgres,
            Endpoint::Mysql { .. } => Family::Mysql,
        }
    }

    /// A one-line description safe to print (no secrets).
    pub fn display_safe(&self) -> String {
        match self {
            Endpoint::Dynamodb { url, region, .. } => format!(
                "dynamodb {} ({region})",
                url.as_deref().unwrap_or("aws default endpoint")
            ),
            Endpoint::Spanner {
                emulator_host,
                project,
                instance,
                database,
            } => format!(
                "spanner projects/{project}/instances/{instance}/databases/{database}{}",
                emulator_host
                    .as_ref()
                    .map(|h| format!(" on emulator {h}"))
                    .unwrap_or_default()
            ),
            Endpoint::Cosmos { url, .. } => format!("cosmos {url}"),
            Endpoint::Postgres { url, .. } => format!("postgres {}", redact_url(url.expose())),
            Endpoint::Mysql { url } => format!("mysql {}", redact_url(url.expose())),
        }
    }

    /// The endpoint for the private state file of `assay emulators up` (mode 0600), and
    /// only for it: the `Serialize` form with every secret in the clear, so a later
    /// invocation can reconnect. Reports and logs use `Serialize` (secrets as `***`) or
    /// [`Endpoint::display_safe`]; `Deserialize` reads both files back.
    pub fn to_state_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        if let serde_json::Value::Object(fields) = &mut value {
            for (name, secret) in self.secret_fields() {
                let plain = secret.map_or(serde_json::Value::Null, |s| {
                    serde_json::Value::String(s.expose().to_string())
                });
                fields.insert(name.to_string(), plain);
            }
        }
        Ok(value)
    }

    /// Every `Secret` field of this variant by its serde name (`None`: not set).
    fn secret_fields(&self) -> Vec<(&'static str, Option<&Secret>)> {
        match self {
            Endpoint::Dynamodb {
                access_key_id,
                secret_access_key,
                ..
            } => vec![
                ("access_key_id", access_key_id.as_ref()),
                ("secret_access_key", secret_access_key.as_ref()),
            ],
            Endpoint::Spanner { .. } => Vec::new(),
            Endpoint::Cosmos { key, .. } => vec![("key", Some(key))],
            Endpoint::Postgres { url, replica_url } => {
                vec![("url", Some(url)), ("replica_url", replica_url.as_ref())]
            }
            Endpoint::Mysql { url } => vec![("url", Some(url))],
        }
    }
}

/// `scheme://user:password@host/db` → `scheme://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let user = userinfo.split(':').next().unwrap_or("");
    format!("{}://{}:***@{}", &url[..scheme_end], user, &rest[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_serialise() {
        let ep = Endpoint::Postgres {
            url: Secret::new("postgres://assay:hunter2@127.0.0.1:5432/assay"),
            replica_url: None,
        };
        let json = serde_json::to_string(&ep).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(!format!("{ep:?}").contains("hunter2"));
        assert_eq!(
            ep.display_safe(),
            "postgres postgres://assay:***@127.0.0.1:5432/assay"
        );
    }

    #[test]
    fn mysql_secrets_never_serialise() {
        let ep = Endpoint::Mysql {
            url: Secret::new("mysql://assay:hunter2@127.0.0.1:3306/assay"),
        };
        let json = serde_json::to_string(&ep).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains(r#""family":"mysql""#), "{json}");
        assert!(!format!("{ep:?}").contains("hunter2"));
        assert_eq!(
            ep.display_safe(),
            "mysql mysql://assay:***@127.0.0.1:3306/assay"
        );
        assert_eq!(ep.family(), Family::Mysql);
    }

    /// One endpoint of every family, every secret set (a new `Secret` field must be
    /// added here, and then fails `state_json_…` until `secret_fields` knows it).
    fn every_family() -> Vec<Endpoint> {
        vec![
            Endpoint::Dynamodb {
                url: Some("http://127.0.0.1:5000".into()),
                region: "us-east-1".into(),
                access_key_id: Some(Secret::new("hunter2-id")),
                secret_access_key: Some(Secret::new("hunter2-key")),
            },
            Endpoint::Spanner {
                emulator_host: Some("127.0.0.1:9010".into()),
                project: "p".into(),
                instance: "i".into(),
                database: "d".into(),
            },
            Endpoint::Cosmos {
                url: "https://127.0.0.1:8081/".into(),
                key: Secret::new("hunter2-cosmos"),
                emulator: true,
            },
            Endpoint::Postgres {
                url: Secret::new("postgres://assay:hunter2@127.0.0.1:5432/assay"),
                replica_url: Some(Secret::new("postgres://assay:hunter2@127.0.0.1:5433/assay")),
            },
            Endpoint::Mysql {
                url: Secret::new("mysql://assay:hunter2@127.0.0.1:3306/assay"),
            },
        ]
    }

    #[test]
    fn report_serialisation_of_every_endpoint_hides_secrets() {
        for ep in every_family() {
            // What a report or a log embeds: the `Serialize` form.
            let json = serde_json::to_string(&ep).unwrap();
            assert!(!json.contains("hunter2"), "{json}");
            let value = serde_json::to_value(&ep).unwrap();
            for (name, secret) in ep.secret_fields() {
                assert!(secret.is_some(), "{name} unset in the sample");
                assert_eq!(value[name], "***", "{json}");
            }
        }
    }

    #[test]
    fn state_json_exposes_every_secret_and_reads_back() {
        for ep in every_family() {
            let state = ep.to_state_json().unwrap();
            let text = state.to_string();
            assert!(
                !text.contains("***"),
                "a secret field is missing from secret_fields: {text}"
            );
            let back: Endpoint = serde_json::from_value(state).unwrap();
            assert_eq!(back, ep);
            // Writing the state file changes nothing about the report form.
            assert!(!serde_json::to_string(&back).unwrap().contains("hunter2"));
        }
    }

    #[test]
    fn local_backend_names_are_unique_and_round_trip() {
        for b in LocalBackend::ALL {
            assert_eq!(LocalBackend::by_name(b.name()), Some(b));
            // The serde name is the target name users type.
            assert_eq!(
                serde_json::to_string(&b).unwrap(),
                format!("\"{}\"", b.name())
            );
        }
        assert_eq!(LocalBackend::PostgresReplica.family(), Family::Postgres);
        assert_eq!(LocalBackend::PostgresTls.family(), Family::Postgres);
        assert_eq!(
            LocalBackend::by_name("postgres-tls"),
            Some(LocalBackend::PostgresTls)
        );
        assert_eq!(LocalBackend::Mysql.family(), Family::Mysql);
    }
}
