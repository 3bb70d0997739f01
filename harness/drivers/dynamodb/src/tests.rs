//! Failure classification against fake loopback servers that misbehave on purpose:
//! refused connections, dropped connections, silence, 5xx and throttling answers. The
//! real backends are exercised in `tests/`.

use super::*;
use assay_core::{ErrorClass, OpValue, Outcome, Secret};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Read the request, then close the connection without answering.
    CloseAfterRequest,
    /// Read the request and never answer.
    Silent,
    /// Answer every request with this status and DynamoDB error type.
    Error(u16, &'static str),
}

struct FakeServer {
    url: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return true;
            }
        }
    }
}

impl FakeServer {
    async fn start(behaviour: Behaviour) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    while read_request(&mut stream).await {
                        counter.fetch_add(1, Ordering::SeqCst);
                        match behaviour {
                            Behaviour::CloseAfterRequest => return,
                            Behaviour::Silent => {
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                return;
                            }
                            Behaviour::Error(status, kind) => {
                                let body = format!(
                                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"fake {kind}"}}"#
                                );
                                let response = format!(
                                    "HTTP/1.1 {status} Fake\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
                                    body.len()
                                );
                                if stream.write_all(response.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        FakeServer {
            url,
            requests,
            task,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn endpoint(url: &str) -> Endpoint {
    Endpoint::Dynamodb {
        url: Some(url.to_string()),
        region: "us-east-1".into(),
        access_key_id: Some(Secret::new("test")),
        secret_access_key: Some(Secret::new("test")),
    }
}

fn driver_config(op_timeout: Duration) -> DriverConfig {
    DriverConfig {
        namespace: "unit".into(),
        op_timeout,
    }
}

/// A driver without the connect-time probe, so it can point at a server that misbehaves.
async fn unprobed_driver(url: &str, op_timeout: Duration) -> DynamodbDriver {
    let plan = config::ClientPlan::for_endpoint(&endpoint(url), op_timeout).unwrap();
    let client = Client::from_conf(plan.sdk_config().await);
    DynamodbDriver::with_client(client, driver_config(op_timeout), plan.address())
}

/// A loopback port with nothing listening.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

fn write_op() -> Op {
    Op::Write {
        table: "kv".into(),
        key: "a".into(),
        value: "1".into(),
    }
}

fn read_op() -> Op {
    Op::Read {
        table: "kv".into(),
        key: "a".into(),
        consistency: assay_core::Consistency::Strong,
    }
}

#[tokio::test]
async fn refused_connection_is_unavailable_after_bounded_retries() {
    let url = closed_port_url().await;
    let driver = unprobed_driver(&url, Duration::from_secs(5)).await;
    let started = Instant::now();
    let result = driver.execute(&write_op()).await;
    assert!(started.elapsed() < Duration::from_secs(3), "{result:?}");
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    assert_eq!(result.error_class(), Some(ErrorClass::Unavailable));
    // Nothing was sent, so even a non-idempotent write may be retried.
    assert_eq!(result.meta.retries, config::MAX_ATTEMPTS - 1);
}

#[tokio::test]
async fn connect_reports_an_unreachable_endpoint_by_address() {
    let url = closed_port_url().await;
    let started = Instant::now();
    let err = DynamodbDriver::connect(&endpoint(&url), driver_config(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(6));
    assert_eq!(err.kind, assay_core::DriverErrorKind::Unavailable);
    assert!(err.message.contains(&url), "{err}");
    assert!(!err.message.contains('\n'), "{err}");
}

#[tokio::test]
async fn connect_gives_up_on_a_silent_endpoint_within_seconds() {
    let server = FakeServer::start(Behaviour::Silent).await;
    let started = Instant::now();
    let err = DynamodbDriver::connect(
        &endpoint(&server.url),
        driver_config(Duration::from_secs(60)),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(7));
    assert_eq!(err.kind, assay_core::DriverErrorKind::Unavailable);
    assert!(err.message.contains(&server.url), "{err}");
}

#[tokio::test]
async fn connect_rejects_a_bad_namespace_and_a_foreign_endpoint() {
    let err = DynamodbDriver::connect(
        &endpoint("http://127.0.0.1:1"),
        DriverConfig {
            namespace: "Run-1".into(),
            op_timeout: Duration::from_secs(1),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, assay_core::DriverErrorKind::Config);
    assert!(err.message.contains("Run-1"), "{err}");
    let postgres = Endpoint::Postgres {
        url: Secret::new("postgres://a:b@127.0.0.1:5432/x"),
        replica_url: None,
    };
    let err = DynamodbDriver::connect(&postgres, driver_config(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert_eq!(err.kind, assay_core::DriverErrorKind::Config);
}

#[test]
fn namespaces_follow_the_run_id_rule() {
    assert!(check_namespace("r1").is_ok());
    assert!(check_namespace("a_b_9").is_ok());
    assert!(check_namespace(&"a".repeat(31)).is_ok());
    assert!(check_namespace(&"a".repeat(32)).is_err());
    assert!(check_namespace("").is_err());
    assert!(check_namespace("1a").is_err());
    assert!(check_namespace("a-b").is_err());
}

#[tokio::test]
async fn dropped_connection_after_a_write_is_indeterminate_and_not_resent() {
    let server = FakeServer::start(Behaviour::CloseAfterRequest).await;
    let driver = unprobed_driver(&server.url, Duration::from_secs(5)).await;
    let result = driver.execute(&write_op()).await;
    assert_eq!(result.outcome, Outcome::Indeterminate, "{result:?}");
    assert_eq!(result.error_class(), Some(ErrorClass::ConnectionLost));
    // Re-sending would bump `ver` twice if the first attempt had been applied.
    assert_eq!(result.meta.retries, 0);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn dropped_connection_on_a_read_is_retried() {
    let server = FakeServer::start(Behaviour::CloseAfterRequest).await;
    let driver = unprobed_driver(&server.url, Duration::from_secs(5)).await;
    let result = driver.execute(&read_op()).await;
    assert_eq!(result.error_class(), Some(ErrorClass::ConnectionLost));
    assert_eq!(result.outcome, Outcome::Indeterminate);
    assert_eq!(result.meta.retries, config::MAX_ATTEMPTS - 1);
    assert_eq!(server.requests(), config::MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn silence_is_a_timeout_within_the_op_timeout() {
    let server = FakeServer::start(Behaviour::Silent).await;
    let op_timeout = Duration::from_millis(400);
    let driver = unprobed_driver(&server.url, op_timeout).await;
    for op in [write_op(), read_op()] {
        let started = Instant::now();
        let result = driver.execute(&op).await;
        assert!(started.elapsed() < op_timeout + Duration::from_millis(500));
        assert_eq!(result.outcome, Outcome::Indeterminate, "{result:?}");
        assert_eq!(result.error_class(), Some(ErrorClass::Timeout));
    }
}

#[tokio::test]
async fn server_errors_are_indeterminate_and_writes_are_not_resent() {
    let server = FakeServer::start(Behaviour::Error(500, "InternalServerError")).await;
    let driver = unprobed_driver(&server.url, Duration::from_secs(5)).await;
    let result = driver.execute(&write_op()).await;
    assert_eq!(result.outcome, Outcome::Indeterminate, "{result:?}");
    assert_eq!(result.error_class(), Some(ErrorClass::Other));
    assert!(
        result
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("InternalServerError"),
        "{result:?}"
    );
    assert_eq!(server.requests(), 1);

    let result = driver.execute(&read_op()).await;
    assert_eq!(result.outcome, Outcome::Indeterminate);
    assert_eq!(result.meta.retries, config::MAX_ATTEMPTS - 1);
}

#[tokio::test]
async fn throttling_is_retried_then_reported_as_throttled() {
    let server = FakeServer::start(Behaviour::Error(400, "ThrottlingException")).await;
    let driver = unprobed_driver(&server.url, Duration::from_secs(10)).await;
    let result = driver.execute(&write_op()).await;
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    assert_eq!(result.error_class(), Some(ErrorClass::Throttled));
    // Throttling is a definite rejection, so even a write is retried.
    assert_eq!(result.meta.retries, config::MAX_ATTEMPTS - 1);
}

#[tokio::test]
async fn condition_failures_are_definite_and_not_retried() {
    let server = FakeServer::start(Behaviour::Error(400, "ConditionalCheckFailedException")).await;
    let driver = unprobed_driver(&server.url, Duration::from_secs(5)).await;
    let result = driver
        .execute(&Op::InsertIfAbsent {
            table: "kv".into(),
            key: "a".into(),
            value: "1".into(),
        })
        .await;
    assert_eq!(result.outcome, Outcome::Fail);
    assert_eq!(result.error_class(), Some(ErrorClass::ConditionFailed));
    assert_eq!(result.meta.retries, 0);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_batch_against_a_dead_backend_fails_every_op() {
    let url = closed_port_url().await;
    let driver = unprobed_driver(&url, Duration::from_secs(5)).await;
    let result = driver
        .execute(&Op::Batch {
            ops: vec![
                read_op(),
                write_op(),
                Op::Delete {
                    table: "kv".into(),
                    key: "b".into(),
                },
            ],
        })
        .await;
    assert_eq!(result.outcome, Outcome::Fail, "{result:?}");
    let OpValue::Results(items) = &result.value else {
        panic!("a batch returns per-op results: {result:?}");
    };
    assert_eq!(items.len(), 3);
    for item in items {
        assert_eq!(
            item.error_class(),
            Some(ErrorClass::Unavailable),
            "{item:?}"
        );
    }
}
