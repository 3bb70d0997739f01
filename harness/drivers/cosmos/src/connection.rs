//! Connecting to a Cosmos DB endpoint (account or local stand-in): the `CosmosDriver`
//! value every module of the driver works on (SDK client, the run's database and
//! containers, session tokens, what setup and native checks created), the per-request
//! read options, and the deadline helper `bounded`. A leaf beside `errors` and `session`:
//! `ops` and `native` use it, and `driver` implements `Driver` on it.

use crate::errors::{classify, status_of, Effect, Failure};
use crate::layout::PARTITION_KEY_PATH;
use crate::session::{SessionTokenCounts, SessionTokens};
use assay_core::{Consistency, DriverConfig, DriverError, Endpoint};
use azure_core::http::headers::{HeaderName, HeaderValue};
use azure_data_cosmos::clients::{ContainerClient, DatabaseClient};
use azure_data_cosmos::models::ContainerProperties;
use azure_data_cosmos::options::{
    BinaryEncodingOptions, ConnectionPoolOptions, CreateContainerOptions, CreateDatabaseOptions,
    DeleteDatabaseOptions, ItemReadOptions, OperationOptions, ReadConsistencyStrategy,
    ServerCertificateValidation, ThrottlingRetryOptionsBuilder,
};
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, CosmosClient, CosmosClientBuilder, CosmosError,
    CosmosRuntimeBuilder, RoutingStrategy,
};
use futures::TryStreamExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bound on opening one TCP connection; the SDK's default is 5 s.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound on `connect` (the SDK fetches the account metadata while building).
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// Upper bound on creating the database and containers and waiting until they answer.
pub(crate) const SETUP_DEADLINE: Duration = Duration::from_secs(60);
/// Bounds of the SDK's per-request timeouts (its own validation range).
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(65);

/// Driver for the Cosmos DB NoSQL API, on the official `azure_data_cosmos` SDK.
///
/// Layout: one database per run named by the namespace, one container per scenario table
/// (named by the table), partition key `/k`; see `layout.rs` for the item shape.
pub struct CosmosDriver {
    pub(crate) client: CosmosClient,
    pub(crate) config: DriverConfig,
    pub(crate) endpoint_display: String,
    /// The endpoint is a local stand-in (decides the fidelity wording of native steps).
    pub(crate) emulator: bool,
    pub(crate) sessions: SessionTokens,
    pub(crate) containers: Mutex<HashMap<String, Container>>,
    pub(crate) created: Mutex<Created>,
}

/// A scenario table's container, with the table name the session tokens are kept under.
#[derive(Clone)]
pub(crate) struct Container {
    pub table: String,
    pub client: ContainerClient,
}

/// What `setup` and native checks made, so `teardown` removes exactly that.
#[derive(Debug, Default)]
pub(crate) struct Created {
    pub(crate) database: bool,
    pub(crate) containers: Vec<String>,
    /// Databases of native checks still alive (a check removes its own when it ends;
    /// what is left here died half-way).
    pub(crate) native_databases: Vec<String>,
}

impl CosmosDriver {
    /// Builds the SDK client and checks the endpoint answers (the SDK reads the account
    /// metadata while building).
    pub async fn connect(endpoint: &Endpoint, config: DriverConfig) -> Result<Self, DriverError> {
        let Endpoint::Cosmos { url, key, emulator } = endpoint else {
            return Err(DriverError::config(format!(
                "the cosmos driver needs a cosmos endpoint, got {}; pick a cosmos target",
                endpoint.display_safe()
            )));
        };
        let account_endpoint: AccountEndpoint = url.parse().map_err(|e| {
            DriverError::config(format!(
                "cosmos endpoint url `{url}` is not valid ({e}); use e.g. https://ACCOUNT.documents.azure.com:443/"
            ))
        })?;
        let account =
            AccountReference::with_authentication_key(account_endpoint, key.expose().to_string());

        let request_timeout = config
            .op_timeout
            .clamp(MIN_REQUEST_TIMEOUT, MAX_REQUEST_TIMEOUT);
        let mut pool = ConnectionPoolOptions::builder()
            .with_max_connect_timeout(CONNECT_TIMEOUT)
            .with_max_dataplane_request_timeout(request_timeout)
            .with_max_metadata_request_timeout(request_timeout.max(CONNECT_DEADLINE));
        if *emulator {
            // Local stand-ins speak HTTP/1.1 only and present self-signed certificates.
            pool = pool
                .with_is_http2_allowed(false)
                .with_server_certificate_validation(
                    ServerCertificateValidation::RequiredUnlessEmulator,
                );
        }
        let pool = pool.build().map_err(|e| {
            DriverError::config(format!(
                "cosmos connection options rejected by the SDK: {e}"
            ))
        })?;

        let mut defaults = OperationOptions::default();
        defaults.end_to_end_latency_policy = Some(config.op_timeout.into());
        // A 429 is a result the harness measures (`Throttled`), not something to hide
        // behind the SDK's retry loop, which would also stretch latencies past the op
        // timeout.
        defaults.throttling_retry_options = Some(
            ThrottlingRetryOptionsBuilder::new()
                .with_max_retry_count(0)
                .build(),
        );

        let runtime = CosmosRuntimeBuilder::new()
            .with_connection_pool(pool)
            .build()
            .await
            .map_err(|e| DriverError::config(format!("cosmos SDK runtime did not start: {e}")))?;
        let build = CosmosClientBuilder::new()
            .with_runtime(runtime)
            // The local stand-in only speaks JSON; text JSON is also what real accounts
            // accept from every SDK.
            .with_binary_encoding_options(BinaryEncodingOptions::new().with_enabled(false))
            .with_default_operation_options(defaults)
            .build(account, RoutingStrategy::PreferredRegions(Vec::new()));
        let client = match tokio::time::timeout(CONNECT_DEADLINE, build).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(connect_error(url, &e)),
            Err(_) => {
                return Err(DriverError::unavailable(format!(
                    "cosmos endpoint {url} did not answer within {CONNECT_DEADLINE:?}; is the backend running?"
                )))
            }
        };
        Ok(CosmosDriver {
            client,
            endpoint_display: endpoint.display_safe(),
            emulator: *emulator,
            sessions: SessionTokens::default(),
            config,
            containers: Mutex::new(HashMap::new()),
            created: Mutex::new(Created::default()),
        })
    }

    pub(crate) fn database(&self) -> DatabaseClient {
        self.client.database_client(self.config.namespace.clone())
    }

    /// The container of a scenario table, resolved once and cached.
    pub(crate) async fn container(&self, table: &str) -> Result<Container, Failure> {
        if let Some(c) = self
            .containers
            .lock()
            .ok()
            .and_then(|m| m.get(table).cloned())
        {
            return Ok(c);
        }
        let container = self
            .database()
            .container_client(table.to_string(), None)
            .await
            .map_err(|e| {
                let mut failure = classify(&e, Effect::Read);
                if status_of(&e) == 404 {
                    failure.message = format!(
                        "table `{table}` does not exist in cosmos database `{}`; run setup first ({})",
                        self.config.namespace, failure.message
                    );
                }
                failure
            })?;
        let container = Container {
            table: table.to_string(),
            client: container,
        };
        if let Ok(mut m) = self.containers.lock() {
            m.insert(table.to_string(), container.clone());
        }
        Ok(container)
    }

    pub(crate) fn write_options(&self) -> OperationOptions {
        OperationOptions::default()
    }

    /// Per-request read consistency, in the strongest native form the SDK and every account
    /// accept:
    /// - `Strong` and `BoundedStaleness`: a quorum read of the serving region
    ///   (`LatestCommitted`). `GlobalStrong` is refused client-side unless the account itself
    ///   is Strong, and an `x-ms-consistency-level: BoundedStaleness` header is refused by
    ///   Session accounts (a request may only relax the account's level); a quorum read is
    ///   at least as strong as either bound.
    /// - `Session`: the `Session` strategy plus the newest session token this driver got
    ///   back from a write to that table (none when the backend returns none).
    /// - `ConsistentPrefix`: the classic `x-ms-consistency-level: ConsistentPrefix` request
    ///   header (the SDK has no strategy for it), which relaxes any Session or stronger account.
    /// - `Eventual`: the `Eventual` strategy.
    pub(crate) fn read_options(&self, table: &str, consistency: Consistency) -> ItemReadOptions {
        let mut operation = OperationOptions::default();
        let mut options = ItemReadOptions::default();
        match consistency {
            Consistency::Strong | Consistency::BoundedStaleness => {
                operation.read_consistency_strategy =
                    Some(ReadConsistencyStrategy::LatestCommitted);
            }
            Consistency::Session => {
                operation.read_consistency_strategy = Some(ReadConsistencyStrategy::Session);
                if let Some(token) = self.sessions.get(table) {
                    options = options.with_session_token(token);
                }
            }
            Consistency::ConsistentPrefix => {
                operation = with_consistency_level_header(operation, "ConsistentPrefix");
            }
            Consistency::Eventual => {
                operation.read_consistency_strategy = Some(ReadConsistencyStrategy::Eventual);
            }
        }
        options.with_operation_options(operation)
    }

    pub(crate) async fn create_database(&self, deadline: Instant) -> Result<(), DriverError> {
        let ns = &self.config.namespace;
        let result = bounded(
            deadline,
            self.client
                .create_database(ns, Some(CreateDatabaseOptions::default())),
        )
        .await?;
        match result {
            Ok(_) => {
                if let Ok(mut created) = self.created.lock() {
                    created.database = true;
                }
                Ok(())
            }
            // Already there (a rerun of setup, or someone else's): use it, never delete it.
            Err(e) if status_of(&e) == 409 => Ok(()),
            Err(e) => Err(self.setup_error(&format!("create database `{ns}`"), &e)),
        }
    }

    pub(crate) async fn create_container(
        &self,
        table: &str,
        deadline: Instant,
    ) -> Result<(), DriverError> {
        let properties = ContainerProperties::new(table.to_string(), PARTITION_KEY_PATH.into());
        let result = bounded(
            deadline,
            self.database()
                .create_container(properties, Some(CreateContainerOptions::default())),
        )
        .await?;
        match result {
            Ok(_) => {
                if let Ok(mut created) = self.created.lock() {
                    if !created.containers.iter().any(|c| c == table) {
                        created.containers.push(table.to_string());
                    }
                }
                Ok(())
            }
            Err(e) if status_of(&e) == 409 => Ok(()),
            Err(e) => Err(self.setup_error(&format!("create container `{table}`"), &e)),
        }
    }

    /// Polls until the container resolves (metadata and partition ranges readable).
    pub(crate) async fn wait_usable(
        &self,
        table: &str,
        deadline: Instant,
    ) -> Result<(), DriverError> {
        let mut last = String::new();
        while Instant::now() < deadline {
            match bounded(deadline, self.container(table)).await? {
                Ok(_) => return Ok(()),
                Err(failure) => last = failure.message,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(DriverError::unavailable(format!(
            "cosmos container `{table}` on {} was not usable within {SETUP_DEADLINE:?}: {last}",
            self.endpoint_display
        )))
    }

    pub(crate) fn setup_error(&self, what: &str, e: &CosmosError) -> DriverError {
        let failure = classify(e, Effect::Write);
        let message = format!(
            "{what} on {} failed: {}",
            self.endpoint_display, failure.message
        );
        match failure.class {
            assay_core::ErrorClass::Unavailable
            | assay_core::ErrorClass::Timeout
            | assay_core::ErrorClass::ConnectionLost => DriverError::unavailable(message),
            _ => DriverError::backend(message),
        }
    }

    /// How many write responses carried a session token, and how many did not.
    pub fn session_token_counts(&self) -> SessionTokenCounts {
        self.sessions.counts()
    }

    /// Remembers a native check's database so `teardown` drops it if the check dies.
    pub(crate) fn register_native_database(&self, name: &str) {
        if let Ok(mut created) = self.created.lock() {
            if !created.native_databases.iter().any(|d| d == name) {
                created.native_databases.push(name.to_string());
            }
        }
    }

    /// The check dropped its database itself.
    pub(crate) fn forget_native_database(&self, name: &str) {
        if let Ok(mut created) = self.created.lock() {
            created.native_databases.retain(|d| d != name);
        }
    }

    /// Drops a database; gone already is fine.
    pub(crate) async fn drop_database(
        &self,
        name: &str,
        deadline: Instant,
    ) -> Result<(), DriverError> {
        let result = bounded(
            deadline,
            self.client
                .database_client(name.to_string())
                .delete(Some(DeleteDatabaseOptions::default())),
        )
        .await?;
        match result {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == 404 => Ok(()),
            Err(e) => Err(self.setup_error(&format!("delete database `{name}`"), &e)),
        }
    }

    /// Names of the databases whose id starts with `prefix`; used by tests to prove that
    /// native checks leave nothing behind.
    pub async fn list_databases(&self, prefix: &str) -> Result<Vec<String>, DriverError> {
        let query =
            azure_data_cosmos::Query::from("SELECT * FROM root r WHERE STARTSWITH(r.id, @p)")
                .with_parameter("@p", prefix)
                .map_err(|e| {
                    DriverError::backend(format!("cosmos query could not be built: {e}"))
                })?;
        let databases: Vec<azure_data_cosmos::models::DatabaseProperties> = self
            .client
            .query_databases(query, None)
            .await
            .map_err(|e| self.setup_error("list databases", &e))?
            .try_collect()
            .await
            .map_err(|e| self.setup_error("list databases", &e))?;
        Ok(databases.into_iter().filter_map(|d| d.id).collect())
    }

    /// Names of the containers in the run's database (`None` when the database is gone);
    /// used by tests to prove teardown leaves nothing behind.
    pub async fn list_tables(&self) -> Result<Option<Vec<String>>, DriverError> {
        let query = azure_data_cosmos::Query::from("SELECT * FROM root r WHERE r.id = @id")
            .with_parameter("@id", &self.config.namespace)
            .map_err(|e| DriverError::backend(format!("cosmos query could not be built: {e}")))?;
        let databases: Vec<azure_data_cosmos::models::DatabaseProperties> = self
            .client
            .query_databases(query, None)
            .await
            .map_err(|e| self.setup_error("list databases", &e))?
            .try_collect()
            .await
            .map_err(|e| self.setup_error("list databases", &e))?;
        if databases.is_empty() {
            return Ok(None);
        }
        let containers: Vec<ContainerProperties> = self
            .database()
            .query_containers("SELECT * FROM root", None)
            .await
            .map_err(|e| self.setup_error("list containers", &e))?
            .try_collect()
            .await
            .map_err(|e| self.setup_error("list containers", &e))?;
        Ok(Some(
            containers.into_iter().map(|c| c.id.into_owned()).collect(),
        ))
    }
}

/// Options that send the classic per-request `x-ms-consistency-level` header. The read
/// consistency strategy stays unset, because the SDK strips that header whenever a
/// strategy is in effect.
pub(crate) fn with_consistency_level_header(
    mut operation: OperationOptions,
    level: &'static str,
) -> OperationOptions {
    operation.read_consistency_strategy = None;
    operation
        .custom_headers
        .get_or_insert_with(HashMap::new)
        .insert(
            HeaderName::from_static("x-ms-consistency-level"),
            HeaderValue::from_static(level),
        );
    operation
}

/// Runs a setup/teardown step, bounded by the step's deadline.
pub(crate) async fn bounded<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, DriverError> {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, fut).await.map_err(|_| {
        DriverError::unavailable("cosmos backend did not answer before the setup/teardown deadline")
    })
}

fn connect_error(url: &str, e: &CosmosError) -> DriverError {
    let failure = classify(e, Effect::Read);
    match failure.class {
        assay_core::ErrorClass::Unavailable
        | assay_core::ErrorClass::Timeout
        | assay_core::ErrorClass::ConnectionLost => DriverError::unavailable(format!(
            "cosmos endpoint {url} is unreachable: {}",
            failure.message
        )),
        _ => DriverError::config(format!(
            "cosmos endpoint {url} refused the client (check the url and key): {}",
            failure.message
        )),
    }
}
