//! Turning an `Endpoint` into an AWS SDK client configuration: a local stand-in (explicit
//! URL, static credentials) or a real AWS region (the standard credential chain), both with
//! bounded connect/operation timeouts and a bounded retry budget.

use assay_core::{DriverError, Endpoint, Secret};
use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::Region;
use std::time::Duration;

/// TCP connect bound: a dead loopback port refuses at once, so this only matters for
/// black-holed addresses, where it keeps a dead backend from eating the whole op timeout.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// First attempt plus two retries; the operation timeout bounds the total either way.
pub(crate) const MAX_ATTEMPTS: u32 = 3;
// Short backoffs: the engine measures latency, and a long SDK backoff hidden inside one op
// would look like backend latency. Throttling still backs off exponentially up to 1 s.
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Where credentials come from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum CredentialSource {
    /// Fixed keys from the target (local stand-ins accept any).
    Static {
        access_key_id: Secret,
        secret_access_key: Secret,
    },
    /// Environment, profile, SSO, web identity, ECS/IMDS — resolved lazily by the SDK.
    Chain,
}

/// Everything the driver decided about the client before any SDK object exists, so the
/// decisions are testable without a network.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClientPlan {
    /// `None`: the SDK's regional AWS endpoint.
    pub endpoint_url: Option<String>,
    pub region: String,
    pub credentials: CredentialSource,
    pub timeouts: TimeoutConfig,
    pub retry: RetryConfig,
}

impl ClientPlan {
    pub fn for_endpoint(endpoint: &Endpoint, op_timeout: Duration) -> Result<Self, DriverError> {
        let Endpoint::Dynamodb {
            url,
            region,
            access_key_id,
            secret_access_key,
        } = endpoint
        else {
            return Err(DriverError::config(format!(
                "the DynamoDB driver cannot connect to a {} endpoint ({}); pick a dynamodb target",
                endpoint.family(),
                endpoint.display_safe()
            )));
        };
        if region.trim().is_empty() {
            return Err(DriverError::config(
                "DynamoDB endpoint has an empty region; set `region` (e.g. us-east-1) in the target",
            ));
        }
        if let Some(url) = url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(DriverError::config(format!(
                    "DynamoDB endpoint url `{url}` must start with http:// or https://"
                )));
            }
        }
        if op_timeout.is_zero() {
            return Err(DriverError::config(
                "op timeout is 0; give the run a positive op timeout",
            ));
        }
        let credentials = match (access_key_id, secret_access_key) {
            (Some(id), Some(secret)) => CredentialSource::Static {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
            },
            (None, None) => CredentialSource::Chain,
            _ => {
                return Err(DriverError::config(
                    "DynamoDB endpoint sets only one of access_key_id / secret_access_key; set both, or neither to use the AWS credential chain",
                ))
            }
        };
        Ok(ClientPlan {
            endpoint_url: url.clone(),
            region: region.clone(),
            credentials,
            timeouts: TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT.min(op_timeout))
                .operation_timeout(op_timeout)
                .build(),
            retry: RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF)
                .with_max_backoff(MAX_BACKOFF),
        })
    }

    /// The address for messages: the URL, or the regional AWS endpoint it stands for.
    pub fn address(&self) -> String {
        match &self.endpoint_url {
            Some(url) => url.clone(),
            None => format!("https://dynamodb.{}.amazonaws.com", self.region),
        }
    }

    /// The endpoint, credentials, region, timeouts and retries both clients share. With
    /// static credentials nothing is read from the environment, so a stray
    /// `AWS_ENDPOINT_URL` or profile cannot redirect a local run.
    async fn shared_config(&self) -> aws_config::SdkConfig {
        let mut builder = match &self.credentials {
            CredentialSource::Static {
                access_key_id,
                secret_access_key,
            } => aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                    access_key_id.expose(),
                    secret_access_key.expose(),
                    None,
                    None,
                    "assay-target",
                ))),
            CredentialSource::Chain => self.chain_config().await.into_builder(),
        };
        builder = builder
            .region(Region::new(self.region.clone()))
            .timeout_config(self.timeouts.clone())
            .retry_config(self.retry.clone());
        if let Some(url) = &self.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        builder.build()
    }

    /// The DynamoDB client's configuration.
    pub async fn sdk_config(&self) -> aws_sdk_dynamodb::Config {
        aws_sdk_dynamodb::Config::from(&self.shared_config().await)
    }

    /// The same for the DynamoDB Streams API, which the stand-ins serve on the DynamoDB
    /// port and AWS on its own regional host.
    pub async fn streams_config(&self) -> aws_sdk_dynamodbstreams::Config {
        aws_sdk_dynamodbstreams::Config::from(&self.shared_config().await)
    }

    /// The shared AWS configuration with the standard credential chain, which the SDK
    /// resolves lazily on the first request.
    async fn chain_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .load()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(url: &str) -> Endpoint {
        Endpoint::Dynamodb {
            url: Some(url.to_string()),
            region: "us-east-1".into(),
            access_key_id: Some(Secret::new("test-key")),
            secret_access_key: Some(Secret::new("test-secret")),
        }
    }

    fn real() -> Endpoint {
        Endpoint::Dynamodb {
            url: None,
            region: "eu-west-1".into(),
            access_key_id: None,
            secret_access_key: None,
        }
    }

    #[test]
    fn local_endpoint_uses_static_credentials_and_bounded_timeouts() {
        let plan =
            ClientPlan::for_endpoint(&local("http://127.0.0.1:4567"), Duration::from_secs(5))
                .unwrap();
        assert_eq!(plan.endpoint_url.as_deref(), Some("http://127.0.0.1:4567"));
        assert_eq!(plan.address(), "http://127.0.0.1:4567");
        assert!(matches!(plan.credentials, CredentialSource::Static { .. }));
        assert_eq!(plan.timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(
            plan.timeouts.operation_timeout(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(plan.retry.max_attempts(), MAX_ATTEMPTS);
        // A secret must not leak through the plan's Debug output into a log.
        assert!(!format!("{plan:?}").contains("test-secret"));
    }

    #[test]
    fn connect_timeout_never_exceeds_the_op_timeout() {
        let plan =
            ClientPlan::for_endpoint(&local("http://127.0.0.1:1"), Duration::from_millis(300))
                .unwrap();
        assert_eq!(
            plan.timeouts.connect_timeout(),
            Some(Duration::from_millis(300))
        );
    }

    #[test]
    fn real_endpoint_uses_the_credential_chain_and_the_regional_address() {
        let plan = ClientPlan::for_endpoint(&real(), Duration::from_secs(10)).unwrap();
        assert_eq!(plan.endpoint_url, None);
        assert_eq!(plan.credentials, CredentialSource::Chain);
        assert_eq!(plan.address(), "https://dynamodb.eu-west-1.amazonaws.com");
    }

    #[test]
    fn bad_targets_are_config_errors_that_say_the_fix() {
        let wrong_family = Endpoint::Cosmos {
            url: "https://127.0.0.1:8081".into(),
            key: Secret::new("k"),
            emulator: true,
        };
        let err = ClientPlan::for_endpoint(&wrong_family, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind, assay_core::DriverErrorKind::Config);
        assert!(err.message.contains("cosmos"), "{err}");

        let half_credentials = Endpoint::Dynamodb {
            url: None,
            region: "us-east-1".into(),
            access_key_id: Some(Secret::new("id")),
            secret_access_key: None,
        };
        let err = ClientPlan::for_endpoint(&half_credentials, Duration::from_secs(1)).unwrap_err();
        assert!(err.message.contains("set both"), "{err}");

        let err =
            ClientPlan::for_endpoint(&local("127.0.0.1:8000"), Duration::from_secs(1)).unwrap_err();
        assert!(err.message.contains("http://"), "{err}");

        let err =
            ClientPlan::for_endpoint(&local("http://127.0.0.1:1"), Duration::ZERO).unwrap_err();
        assert!(err.message.contains("op timeout"), "{err}");
    }

    #[tokio::test]
    async fn static_sdk_config_carries_region_timeouts_retries_and_keys() {
        let plan =
            ClientPlan::for_endpoint(&local("http://127.0.0.1:4567"), Duration::from_secs(4))
                .unwrap();
        let conf = plan.sdk_config().await;
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(
            conf.timeout_config().and_then(|t| t.operation_timeout()),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            conf.retry_config().map(|r| r.max_attempts()),
            Some(MAX_ATTEMPTS)
        );
    }

    #[tokio::test]
    async fn streams_config_matches_the_dynamodb_one() {
        let plan =
            ClientPlan::for_endpoint(&local("http://127.0.0.1:4567"), Duration::from_secs(4))
                .unwrap();
        let conf = plan.streams_config().await;
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(
            conf.timeout_config().and_then(|t| t.operation_timeout()),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            conf.retry_config().map(|r| r.max_attempts()),
            Some(MAX_ATTEMPTS)
        );
    }

    #[tokio::test]
    async fn chain_sdk_config_builds_without_touching_the_network() {
        let plan = ClientPlan::for_endpoint(&real(), Duration::from_secs(10)).unwrap();
        // The chain is resolved lazily on the first request; building must not need it.
        let shared = plan.chain_config().await;
        assert!(shared.credentials_provider().is_some());
        let conf = plan.sdk_config().await;
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(
            conf.timeout_config().and_then(|t| t.connect_timeout()),
            Some(CONNECT_TIMEOUT)
        );
        assert_eq!(
            conf.retry_config().map(|r| r.max_attempts()),
            Some(MAX_ATTEMPTS)
        );
    }
}
