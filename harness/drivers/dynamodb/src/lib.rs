//! The DynamoDB driver: Assay's portable ops on the DynamoDB API (Amazon DynamoDB, or a local
//! stand-in such as moto or dynalite), through the AWS SDK for Rust.
//!
//! Layout: `config` builds the SDK client for an endpoint, `item` maps the portable table
//! layout to items and expressions, `ops` executes single ops and `multi` batches and
//! transactions, `schema` creates and removes the run's tables, `classify` and `attempts`
//! decide what a failure means (definitely not applied, or maybe applied), `bulk` loads rows
//! with BatchWriteItem, `cleanup` finds and removes what killed runs left. `native` runs the
//! DynamoDB-specific conformance checks (`native = "dynamodb.<check>"` scenario steps).

mod attempts;
mod bulk;
mod classify;
mod cleanup;
mod config;
mod item;
mod multi;
mod native;
mod ops;
mod schema;
mod verify;

/// The native checks this driver runs, with their parameters (`assay checks` lists them).
pub use native::NATIVE_CHECKS;
/// `assay verify`'s DynamoDB side.
pub use verify::DynamoTableSource;

use assay_core::scenario::TableSpec;
use assay_core::{
    BulkLoadError, BulkLoadPath, Capabilities, Capability, Driver, DriverConfig, DriverError,
    Endpoint, Leftover, LoadRow, NativeOutcome, NativeStep, Op, OpResult,
};
use async_trait::async_trait;
use attempts::{error_chain, AttemptLog};
use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::Client;
use classify::classify_sdk_error;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `connect` gives up on an endpoint that has not answered within this long, whatever the
/// op timeout, so a wrong address is reported within seconds.
const CONNECT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The DynamoDB API version every backend here speaks.
const API_VERSION: &str = "2012-08-10";

/// Sends a fluent request with an attempt log attached. A request that is not idempotent
/// also gets the rule that forbids re-sending after an attempt that may have been applied.
macro_rules! send {
    ($log:expr, $idempotent:expr, $request:expr) => {{
        let op = $request.customize().interceptor($log.interceptor());
        if $idempotent {
            op.send().await
        } else {
            op.config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_classifier(crate::attempts::ForbidAmbiguousRetry),
            )
            .send()
            .await
        }
    }};
}
pub(crate) use send;

/// A `Driver` for the DynamoDB API. Build it with [`DynamodbDriver::connect`].
pub struct DynamodbDriver {
    client: Client,
    /// The DynamoDB Streams API of the same endpoint; `None` on a driver built without a
    /// plan (unit tests), where the streams check reports an error.
    streams: Option<aws_sdk_dynamodbstreams::Client>,
    config: DriverConfig,
    address: String,
    /// The HTTP `Server` header seen when connecting, for `backend_version`.
    server: Option<String>,
    /// Why transactions cannot run on this backend, when it said so at connect time.
    txn_unsupported: Option<String>,
    /// Physical tables this driver created and has not removed yet.
    created: Mutex<Vec<String>>,
    /// Numbers the tables native checks create, so two steps never share one.
    native_tables: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for DynamodbDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamodbDriver")
            .field("address", &self.address)
            .field("namespace", &self.config.namespace)
            .finish_non_exhaustive()
    }
}

impl DynamodbDriver {
    /// Connects to a DynamoDB endpoint and checks, within a few seconds, that it answers.
    ///
    /// A non-DynamoDB endpoint, an invalid namespace or rejected credentials are
    /// `DriverError::config`; an endpoint that does not answer is `DriverError::unavailable`.
    pub async fn connect(endpoint: &Endpoint, config: DriverConfig) -> Result<Self, DriverError> {
        let plan = config::ClientPlan::for_endpoint(endpoint, config.op_timeout)?;
        check_namespace(&config.namespace)?;
        let client = Client::from_conf(plan.sdk_config().await);
        let mut driver = DynamodbDriver::with_client(client, config, plan.address());
        driver.streams = Some(aws_sdk_dynamodbstreams::Client::from_conf(
            plan.streams_config().await,
        ));
        driver.server = driver.probe().await?;
        driver.txn_unsupported = driver.probe_transactions().await;
        Ok(driver)
    }

    /// A driver on an existing client, without the connect-time probes.
    pub(crate) fn with_client(client: Client, config: DriverConfig, address: String) -> Self {
        DynamodbDriver {
            client,
            streams: None,
            config,
            address,
            server: None,
            txn_unsupported: None,
            created: Mutex::new(Vec::new()),
            native_tables: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The endpoint this driver talks to, for messages.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Every table on the endpoint (not only this run's), e.g. to check that teardown left
    /// nothing behind.
    pub async fn table_names(&self) -> Result<Vec<String>, DriverError> {
        schema::list_tables(self).await
    }

    /// Tables created and not yet removed. Never held across an await.
    pub(crate) fn created_tables(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.created
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One cheap request; returns the HTTP `Server` header if the backend sent one.
    async fn probe(&self) -> Result<Option<String>, DriverError> {
        let server = ServerHeader::default();
        let log = AttemptLog::default();
        let request = self
            .client
            .list_tables()
            .limit(1)
            .customize()
            .interceptor(server.clone())
            .interceptor(log.interceptor())
            .send();
        let answer = tokio::time::timeout(CONNECT_PROBE_TIMEOUT, request).await;
        let unreachable = |why: String| {
            DriverError::unavailable(format!(
                "DynamoDB endpoint {} is unreachable: {why}; check that the backend is running and the target's url/region",
                self.address
            ))
        };
        match answer {
            Err(_) => Err(unreachable(format!(
                "no answer within {}s",
                CONNECT_PROBE_TIMEOUT.as_secs()
            ))),
            Ok(Ok(_)) => Ok(server.get()),
            Ok(Err(err)) => {
                let code = err.code().map(str::to_string);
                match code.as_deref() {
                    Some(
                        "UnrecognizedClientException"
                        | "InvalidSignatureException"
                        | "MissingAuthenticationTokenException"
                        | "AccessDeniedException"
                        | "ExpiredTokenException",
                    ) => Err(DriverError::config(format!(
                        "DynamoDB endpoint {} rejected the credentials: {}; check the target's keys or the AWS credential chain",
                        self.address,
                        classify_sdk_error("ListTables", &err).message
                    ))),
                    Some(_) => Err(DriverError::backend(format!(
                        "DynamoDB endpoint {} answered ListTables with an error: {}",
                        self.address,
                        classify_sdk_error("ListTables", &err).message
                    ))),
                    None => Err(unreachable(error_chain(&err))),
                }
            }
        }
    }

    /// Transactions are part of the DynamoDB API, but not every stand-in implements them;
    /// an empty `TransactGetItems` costs nothing and tells the two apart.
    async fn probe_transactions(&self) -> Option<String> {
        let request = self
            .client
            .transact_get_items()
            .set_transact_items(Some(Vec::new()))
            .send();
        match tokio::time::timeout(CONNECT_PROBE_TIMEOUT, request).await {
            Ok(Err(err)) if err.code() == Some("UnknownOperationException") => Some(format!(
                "the backend at {} does not implement TransactWriteItems/TransactGetItems (it answers UnknownOperationException)",
                self.address
            )),
            _ => None,
        }
    }
}

/// Namespaces come from run ids; DynamoDB table names allow more, but a name that is not
/// of this form did not come from Assay and could collide with someone's tables.
fn check_namespace(namespace: &str) -> Result<(), DriverError> {
    let mut chars = namespace.chars();
    let valid = matches!(chars.next(), Some('a'..='z'))
        && namespace.len() <= 31
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
    if valid {
        Ok(())
    } else {
        Err(DriverError::config(format!(
            "namespace `{namespace}` must match [a-z][a-z0-9_]{{0,30}}; use the run id Assay generates"
        )))
    }
}

#[async_trait]
impl Driver for DynamodbDriver {
    fn family(&self) -> &'static str {
        "dynamodb"
    }

    fn capabilities(&self) -> Capabilities {
        let caps = Capabilities::none("not part of the DynamoDB driver").support(&Capability::ALL);
        match &self.txn_unsupported {
            Some(reason) => caps.unsupported_because(Capability::Txn, reason.clone()),
            None => caps,
        }
    }

    async fn backend_version(&self) -> Option<String> {
        Some(match &self.server {
            Some(server) => format!("DynamoDB API {API_VERSION} (server: {server})"),
            None => format!("DynamoDB API {API_VERSION}"),
        })
    }

    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        schema::setup(self, tables).await
    }

    /// Single ops are `ops`', batches and transactions `multi`'s (which runs its parts
    /// through `ops`): the dispatch sits above both, so they form a one-way pair.
    async fn execute(&self, op: &Op) -> OpResult {
        match op {
            Op::Batch { ops: parts } => {
                ops::within_op_timeout(self, "batch", multi::batch(self, parts)).await
            }
            Op::Txn { ops: parts } => multi::txn(self, parts).await,
            single => ops::execute_single(self, single).await,
        }
    }

    fn bulk_load_path(&self) -> BulkLoadPath {
        bulk::PATH
    }

    async fn bulk_load(&self, table: &str, rows: &[LoadRow]) -> Result<u64, BulkLoadError> {
        bulk::load(self, table, rows).await
    }

    async fn native(&self, step: &NativeStep) -> NativeOutcome {
        native::run(self, step).await
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        schema::teardown(self).await
    }

    async fn leftovers(&self, prefix: &str) -> Result<Vec<Leftover>, DriverError> {
        cleanup::leftovers(self, prefix).await
    }

    async fn remove_leftover(&self, leftover: &Leftover) -> Result<(), DriverError> {
        cleanup::remove(self, leftover).await
    }
}

/// Captures the HTTP `Server` header of a response (the probe's), naming the software
/// behind the endpoint when it says.
#[derive(Clone, Debug, Default)]
struct ServerHeader(Arc<Mutex<Option<String>>>);

impl ServerHeader {
    fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Intercept for ServerHeader {
    fn name(&self) -> &'static str {
        "AssayServerHeader"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(server) = context.response().headers().get("server") {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(server.to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
