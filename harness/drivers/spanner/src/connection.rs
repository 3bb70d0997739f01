//! Connecting to a Spanner endpoint (emulator or Google Cloud): the `SpannerDriver` value
//! every module of the driver works on (clients, database, the run's namespace and what
//! it created), the connection bounds and the namespace rule. A leaf beside `classify`:
//! `schema`, `txn` and `native` use it, and `driver` implements `Driver` on it.

use crate::classify::{chain, one_line};
use crate::objects::NativeObject;
use assay_core::{DriverConfig, DriverError, Endpoint};
use gcloud_gax::conn::Environment;
use gcloud_gax::grpc::Code;
use gcloud_spanner::admin::client::Client as AdminClient;
use gcloud_spanner::admin::AdminClientConfig;
use gcloud_spanner::client::{ChannelConfig, Client, ClientConfig, Error as ClientError};
use gcloud_spanner::session::SessionConfig;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::Mutex;

/// Upper bound on opening one gRPC connection: a dead backend is reported within it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Upper bound on the whole of `connect`: the data connection, the first sessions, the
/// admin connections and, for Google Cloud, the credential lookup.
const CONNECT_BUDGET: Duration = Duration::from_secs(10);

/// Staleness bound of reads at any `Consistency` weaker than strong (and not session):
/// Spanner serves them as single-use reads with `max_staleness`.
/// Fixed for now; later work makes it configurable per target.
pub const STALE_READ_BOUND: Duration = Duration::from_secs(10);

/// Per-RPC timeout of admin calls (DDL submission, operation polling).
pub(crate) const ADMIN_RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// Sessions opened eagerly by `connect`; the pool grows on demand up to its maximum.
const MIN_SESSIONS: usize = 4;

/// Cloud Spanner (or its emulator) behind the portable operation model.
pub struct SpannerDriver {
    pub(crate) client: Client,
    pub(crate) admin: AdminClient,
    /// `projects/P/instances/I/databases/D`.
    pub(crate) database: String,
    /// Where the backend is, for messages: `emulator 127.0.0.1:9010` or `Google Cloud`.
    pub(crate) location: String,
    pub(crate) emulator: bool,
    pub(crate) config: DriverConfig,
    /// Physical tables `setup` asked for, so `teardown` drops exactly those (and only
    /// those that exist, which also covers a partial setup).
    pub(crate) created: Mutex<BTreeSet<String>>,
    /// Tables and indexes native steps created, in creation order, until they are
    /// dropped; teardown drops whatever a step left behind.
    pub(crate) native_objects: Mutex<Vec<NativeObject>>,
}

impl SpannerDriver {
    /// Connects to `endpoint`'s database, which must already exist (the emulators crate
    /// creates instance and database for local runs).
    pub async fn connect(endpoint: &Endpoint, config: DriverConfig) -> Result<Self, DriverError> {
        let Endpoint::Spanner {
            emulator_host,
            project,
            instance,
            database,
        } = endpoint
        else {
            return Err(DriverError::config(format!(
                "the spanner driver cannot use a {} endpoint ({}); give it a spanner target",
                endpoint.family(),
                endpoint.display_safe()
            )));
        };
        validate_namespace(&config.namespace)?;
        for (field, value) in [
            ("project", project),
            ("instance", instance),
            ("database", database),
        ] {
            if value.trim().is_empty() || value.contains('/') {
                return Err(DriverError::config(format!(
                    "spanner target field `{field}` is `{value}`; it must be a non-empty id without `/`"
                )));
            }
        }
        let database_path = format!("projects/{project}/instances/{instance}/databases/{database}");
        let location = match emulator_host {
            Some(host) => format!("emulator {host}"),
            None => "Google Cloud".to_string(),
        };
        let budget = CONNECT_BUDGET.max(config.op_timeout);
        let connecting = open_clients(
            emulator_host.as_deref(),
            &database_path,
            &location,
            config.op_timeout,
        );
        let (client, admin) = tokio::time::timeout(budget, connecting)
            .await
            .map_err(|_| {
                DriverError::unavailable(format!(
                    "no answer from Spanner {location} within {budget:?} while opening sessions on \
                     {database_path}; check that the backend is up"
                ))
            })??;
        Ok(SpannerDriver {
            client,
            admin,
            database: database_path,
            location,
            emulator: emulator_host.is_some(),
            config,
            created: Mutex::new(BTreeSet::new()),
            native_objects: Mutex::new(Vec::new()),
        })
    }
}

async fn open_clients(
    emulator_host: Option<&str>,
    database_path: &str,
    location: &str,
    op_timeout: Duration,
) -> Result<(Client, AdminClient), DriverError> {
    // The emulator multiplexes everything over one connection whatever the pool size.
    let num_channels = if emulator_host.is_some() { 1 } else { 4 };
    // `SessionConfig` has a private field, so it is adjusted rather than built.
    let mut session_config = SessionConfig::default();
    session_config.min_opened = MIN_SESSIONS;
    session_config.max_opened = num_channels * 100;
    // Waiting for a session counts against the op; the engine's timeout is the same.
    session_config.session_get_timeout = op_timeout;
    let mut client_config = ClientConfig {
        channel_config: ChannelConfig {
            num_channels,
            connect_timeout: CONNECT_TIMEOUT,
            timeout: op_timeout,
            ..ChannelConfig::default()
        },
        session_config,
        environment: environment(emulator_host),
        ..ClientConfig::default()
    };
    let mut admin_config = AdminClientConfig {
        environment: environment(emulator_host),
        timeout: ADMIN_RPC_TIMEOUT,
        connect_timeout: CONNECT_TIMEOUT,
        ..AdminClientConfig::default()
    };
    if emulator_host.is_none() {
        let no_credentials = |e: gcloud_spanner::client::google_cloud_auth::error::Error| {
            DriverError::config(one_line(&format!(
                "no Google Cloud credentials for Spanner: {e}; set GOOGLE_APPLICATION_CREDENTIALS \
                 or run `gcloud auth application-default login`"
            )))
        };
        client_config = client_config.with_auth().await.map_err(no_credentials)?;
        admin_config = admin_config.with_auth().await.map_err(no_credentials)?;
    }
    let client = Client::new(database_path, client_config)
        .await
        .map_err(|e| connect_error(e, database_path, location))?;
    let admin = AdminClient::new(admin_config).await.map_err(|e| {
        DriverError::unavailable(format!(
            "cannot reach the Spanner admin API at {location}: {}; check that the backend is up",
            chain(&e)
        ))
    })?;
    Ok((client, admin))
}

fn environment(emulator_host: Option<&str>) -> Environment {
    match emulator_host {
        Some(host) => Environment::Emulator(host.to_string()),
        // Replaced by `with_auth` with the default credential chain.
        None => Environment::GoogleCloud(Box::new(token_source::NoopTokenSourceProvider {})),
    }
}

fn connect_error(err: ClientError, database_path: &str, location: &str) -> DriverError {
    match &err {
        ClientError::GRPC(status) if status.code() == Code::NotFound => {
            DriverError::config(one_line(&format!(
                "database {database_path} does not exist on Spanner {location}: create it (the \
                 emulators crate does for local runs) or fix the target's project/instance/database; \
                 {}",
                status.message()
            )))
        }
        ClientError::GRPC(status)
            if matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated) =>
        {
            DriverError::config(one_line(&format!(
                "Spanner {location} refused access to {database_path}: {}; check the credentials",
                status.message()
            )))
        }
        ClientError::InvalidConfig(e) => {
            DriverError::config(one_line(&format!("invalid Spanner client configuration: {e}")))
        }
        _ => DriverError::unavailable(format!(
            "cannot reach Spanner {location} for {database_path}: {}; check that the backend is up",
            chain(&err)
        )),
    }
}

/// The run namespace becomes a prefix of Spanner table names.
pub(crate) fn validate_namespace(ns: &str) -> Result<(), DriverError> {
    let mut chars = ns.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && ns.len() <= 31 {
        Ok(())
    } else {
        Err(DriverError::config(format!(
            "run namespace `{ns}` must match [a-z][a-z0-9_]{{0,30}}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_follow_the_run_id_rule() {
        assert!(validate_namespace("r1_abc").is_ok());
        for bad in ["", "1abc", "Abc", "a-b", &"a".repeat(32)] {
            assert!(validate_namespace(bad).is_err(), "{bad}");
        }
    }
}
