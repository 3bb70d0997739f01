//! `SpannerDriver`: connecting to a Spanner endpoint (emulator or Google Cloud) and the
//! `Driver` implementation, which bounds every op by the run's op timeout.

use crate::classify::{chain, one_line};
use crate::native::NativeObject;
use crate::txn::Progress;
use assay_core::scenario::TableSpec;
use assay_core::{
    Capabilities, Capability, Driver, DriverConfig, DriverError, Endpoint, ErrorClass,
    NativeOutcome, NativeStep, Op, OpMeta, OpResult,
};
use async_trait::async_trait;
use gcloud_gax::conn::Environment;
use gcloud_gax::grpc::Code;
use gcloud_spanner::admin::client::Client as AdminClient;
use gcloud_spanner::admin::AdminClientConfig;
use gcloud_spanner::client::{ChannelConfig, Client, ClientConfig, Error as ClientError};
use gcloud_spanner::session::SessionConfig;
use std::collections::BTreeSet;
use std::sync::Arc;
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
        crate::schema::validate_namespace(&config.namespace)?;
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

    /// Every user table in the target database, sorted; tests use it to check that
    /// teardown left nothing behind.
    pub async fn list_tables(&self) -> Result<Vec<String>, DriverError> {
        crate::schema::list_tables(self).await
    }

    /// An op that did not finish within the op timeout. Whether it may have applied
    /// depends on whether the commit had been sent.
    fn timed_out(&self, op: &Op, progress: &Progress) -> OpResult {
        let budget = self.config.op_timeout;
        let read_only = matches!(op, Op::Read { .. } | Op::Query { .. });
        let (class, message) = if read_only {
            (
                ErrorClass::Timeout,
                format!(
                    "no answer from Spanner {} within the op timeout {budget:?}",
                    self.location
                ),
            )
        } else if progress.commit_sent() {
            (
                ErrorClass::Timeout,
                format!(
                    "commit sent to Spanner {} but no answer within the op timeout {budget:?}; \
                     it may have been applied",
                    self.location
                ),
            )
        } else {
            (
                ErrorClass::Unavailable,
                format!(
                    "no answer from Spanner {} within the op timeout {budget:?} before the commit \
                     was sent; nothing was applied",
                    self.location
                ),
            )
        };
        OpResult::error(class, message).with_meta(OpMeta {
            retries: progress.retries(),
            ..OpMeta::default()
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

#[async_trait]
impl Driver for SpannerDriver {
    fn family(&self) -> &'static str {
        "spanner"
    }

    fn notes(&self) -> Vec<String> {
        if self.emulator {
            vec!["Cloud Spanner emulator: it runs one read-write transaction at a time and aborts the others (ABORTED, retried and counted as retries); a real instance would not abort them for that reason, so retries and their latency here are an emulator limitation".into()]
        } else {
            Vec::new()
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none("not expressible on Spanner").support(&Capability::ALL)
    }

    /// Neither Spanner nor its emulator reports a version over the API; the emulators
    /// crate knows the emulator's version from its install.
    async fn backend_version(&self) -> Option<String> {
        Some(if self.emulator {
            "cloud-spanner-emulator (version not reported over gRPC)".to_string()
        } else {
            "cloud-spanner (managed service, unversioned)".to_string()
        })
    }

    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        crate::schema::setup(self, tables).await
    }

    async fn execute(&self, op: &Op) -> OpResult {
        let progress = Arc::new(Progress::default());
        let running = crate::txn::run(self, op, Arc::clone(&progress));
        match tokio::time::timeout(self.config.op_timeout, running).await {
            Ok(result) => result,
            Err(_) => self.timed_out(op, &progress),
        }
    }

    /// Spanner's backend-specific checks (see `native`): strong and stale reads,
    /// concurrent read-modify-write, commit timestamps, interleaving, indexes.
    async fn native(&self, step: &NativeStep) -> NativeOutcome {
        crate::native::run(self, step).await
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        crate::schema::teardown(self).await
    }
}
