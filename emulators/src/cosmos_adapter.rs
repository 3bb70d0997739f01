//! Cosmos compatibility adapter: a small HTTP/1.1 reverse proxy on a free loopback port
//! that sits between the official Rust Cosmos SDK (`azure_data_cosmos` 1.0) and
//! `@vercel/cosmosdb-server`, and rewrites exactly the protocol shapes in which that server
//! differs from the Cosmos gateway so that the SDK's data plane works at all.
//!
//! It fixes wire *shapes*, never semantics: it does not invent session tokens, request
//! charges, consistency or conflict behaviour, and it never answers a data request itself
//! (except a 503 when the upstream server cannot be reached).
//!
//! FIDELITY_NOTES (kept equal to [`FIDELITY_NOTES`]; each rewrite was checked to be
//! necessary by switching it off: the SDK then fails as described):
//! 1. Account metadata (`GET /`) advertises `https://<host>:<port>/` as the only
//!    readable/writable location even under `--no-ssl`; the SDK routes every request there
//!    and fails with `503/20003` (TLS to a plain-HTTP port). The adapter rewrites each
//!    `databaseAccountEndpoint` to its own `http://127.0.0.1:<adapter-port>/`.
//! 2. The partition-key-ranges feed (`GET …/pkranges`) returns numeric range ids (`"id": 0`)
//!    where the gateway returns strings; the SDK cannot build its routing map and every
//!    container resolution fails with `503/20305 ClientTopologyResolutionFailed`. The
//!    adapter turns each numeric `id` (and numeric entry of `parents`) into its decimal string.
//! 3. The SDK sends a cross-partition query as one request per partition key range
//!    (`x-ms-documentdb-partitionkeyrangeid`) without `x-ms-documentdb-query-enablecrosspartition`;
//!    the server only knows partition-key-scoped and cross-partition queries and rejects
//!    such a request with `400 missing partition keys` unless the query text happens to
//!    mention the partition key path. The server has a single range covering the whole key
//!    space, so a range-scoped query *is* the cross-partition query: the adapter adds the
//!    header, only when a range id is present and no partition key header is.
//!
//! Not rewritten, because it works with this SDK: the pkranges change feed answers `304` to
//! any `If-None-Match` when `A-IM` is present (its etag is a constant `1`), which the SDK
//! sends, and the server's single range never splits.
//!
//! Deviations it deliberately does NOT paper over (findings about the local server,
//! reported by the driver and the fidelity report): no session tokens in responses;
//! `x-ms-consistency-level` / read-consistency-strategy ignored (one replica); `500` instead
//! of `404` for a point read of a missing item; a constant `x-ms-request-charge: 1`;
//! transactional batches that are not rolled back when an operation fails (and answer `200`
//! with per-operation statuses); a documents "change feed" that returns the current
//! documents once and then `304` for any `If-None-Match`, so no change is ever delivered.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Every deviation of `@vercel/cosmosdb-server` that this adapter papers over (see the module
/// docs for the details and the reason each rewrite is safe).
pub const FIDELITY_NOTES: &[&str] = &[
    "account metadata advertises https://<host>:<port>/ even with --no-ssl; the adapter rewrites every databaseAccountEndpoint to its own http://127.0.0.1:<adapter-port>/",
    "the partition-key-ranges feed returns numeric range ids; the adapter turns numeric `id`/`parents` entries into strings as the gateway sends them",
    "SDK range-scoped queries lack x-ms-documentdb-query-enablecrosspartition and the server rejects them (400 missing partition keys); the adapter adds the header, as the server's single range spans the whole key space",
];

/// Upper bound on connecting to the upstream server; it is on loopback, so anything slower
/// means it is gone.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound on one upstream exchange, so a hung server never pins a client forever.
const UPSTREAM_EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

const PKRANGES_SUFFIX: &str = "/pkranges";

/// A running adapter. It stops serving (and drops every open connection) when dropped.
pub struct CosmosAdapter {
    local_addr: SocketAddr,
    accept_task: JoinHandle<()>,
}

impl CosmosAdapter {
    /// The loopback address the SDK should talk to (`http://{local_addr}`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for CosmosAdapter {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        self.accept_task.abort();
    }
}

impl std::fmt::Debug for CosmosAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosAdapter")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// Starts the adapter on `127.0.0.1:<free port>` in front of the cosmosdb-server at
/// `upstream`. Must be called inside a Tokio runtime.
///
/// `upstream_tls = true` is refused: run the server with `--no-ssl` (the adapter has no TLS
/// client, and the SDK talks plain HTTP to the adapter anyway).
pub async fn start(
    upstream: SocketAddr,
    upstream_tls: bool,
) -> Result<CosmosAdapter, std::io::Error> {
    if upstream_tls {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the Cosmos adapter speaks plain HTTP to its upstream; start cosmosdb-server with --no-ssl",
        ));
    }
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let local_addr = listener.local_addr()?;
    let state = Arc::new(AdapterState {
        upstream,
        public_endpoint: format!("http://{local_addr}/"),
    });
    let accept_task = tokio::spawn(accept_loop(listener, state));
    Ok(CosmosAdapter {
        local_addr,
        accept_task,
    })
}

struct AdapterState {
    upstream: SocketAddr,
    /// What the account metadata should advertise: the adapter itself.
    public_endpoint: String,
}

async fn accept_loop(listener: TcpListener, state: Arc<AdapterState>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Reap finished connection tasks so the set does not grow for the adapter's lifetime.
        while connections.try_join_next().is_some() {}
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, std::convert::Infallible>(handle(&state, req).await) }
            });
            // A client that hangs up mid-request is not the adapter's problem.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What kind of request this is, as far as the rewrites are concerned.
#[derive(Debug, PartialEq)]
enum Route {
    AccountMetadata,
    PartitionKeyRanges,
    Query,
    Other,
}

fn classify(method: &Method, path: &str, headers: &hyper::HeaderMap) -> Route {
    let trimmed = path.trim_matches('/');
    if *method == Method::GET && trimmed.is_empty() {
        return Route::AccountMetadata;
    }
    if *method == Method::GET && path.trim_end_matches('/').ends_with(PKRANGES_SUFFIX) {
        return Route::PartitionKeyRanges;
    }
    let is_query = header_is_true(headers, "x-ms-documentdb-isquery")
        || headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/query+json"));
    if *method == Method::POST && is_query {
        return Route::Query;
    }
    Route::Other
}

fn header_is_true(headers: &hyper::HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

async fn handle(state: &AdapterState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (mut parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("assay cosmos adapter: could not read the request body: {e}"),
            )
        }
    };
    let route = classify(&parts.method, parts.uri.path(), &parts.headers);

    if route == Route::Query
        && parts
            .headers
            .contains_key("x-ms-documentdb-partitionkeyrangeid")
        && !parts.headers.contains_key("x-ms-documentdb-partitionkey")
        && !header_is_true(&parts.headers, "x-ms-documentdb-query-enablecrosspartition")
    {
        parts.headers.insert(
            "x-ms-documentdb-query-enablecrosspartition",
            HeaderValue::from_static("true"),
        );
    }
    // Advertise the address the client used: behind a fault proxy that is the proxy's,
    // so the SDK's endpoint discovery keeps its requests going through it.
    let advertised = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<std::net::SocketAddr>().ok())
        .filter(|a| a.ip().is_loopback())
        .map_or_else(|| state.public_endpoint.clone(), |a| format!("http://{a}/"));
    strip_hop_by_hop(&mut parts.headers);
    if let Ok(host) = HeaderValue::from_str(&state.upstream.to_string()) {
        parts.headers.insert(HOST, host);
    }

    let upstream_req = Request::from_parts(parts, Full::new(body));
    let (status, mut headers, body) = match forward(state.upstream, upstream_req).await {
        Ok(response) => response,
        Err(reason) => {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                &format!(
                    "assay cosmos adapter: upstream cosmosdb-server at {} {reason}",
                    state.upstream
                ),
            )
        }
    };

    let body = match &route {
        Route::AccountMetadata if status == StatusCode::OK => {
            rewrite_json(body, |v| rewrite_account_locations(v, &advertised))
        }
        Route::PartitionKeyRanges if status == StatusCode::OK => {
            rewrite_json(body, rewrite_pkrange_ids)
        }
        _ => body,
    };

    // The server sends `connection: close` on every response; passing it on would make the
    // SDK reconnect for every request. Keep-alive towards the SDK is the adapter's business.
    strip_hop_by_hop(&mut headers);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// One exchange with the upstream server on a fresh connection (the server closes every
/// connection after one response unless started with keep-alive).
async fn forward(
    upstream: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, hyper::HeaderMap, Bytes), String> {
    let stream =
        match tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(format!("refused the connection ({e})")),
            Err(_) => {
                return Err(format!(
                    "did not accept a connection within {UPSTREAM_CONNECT_TIMEOUT:?}"
                ))
            }
        };
    let exchange = async move {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| format!("failed the HTTP handshake ({e})"))?;
        // Aborted when this exchange ends or is dropped (timeout, adapter shut down), so no
        // upstream connection outlives its request.
        let _connection = AbortOnDrop(tokio::spawn(connection));
        let response = sender
            .send_request(req)
            .await
            .map_err(|e| format!("dropped the request ({e})"))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("broke off the response body ({e})"))?
            .to_bytes();
        Ok::<_, String>((parts.status, parts.headers, body))
    };
    match tokio::time::timeout(UPSTREAM_EXCHANGE_TIMEOUT, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "did not answer within {UPSTREAM_EXCHANGE_TIMEOUT:?}"
        )),
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); a proxy must
/// not forward them.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

fn rewrite_json(body: Bytes, rewrite: impl FnOnce(&mut serde_json::Value)) -> Bytes {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(mut value) => {
            rewrite(&mut value);
            serde_json::to_vec(&value).map(Bytes::from).unwrap_or(body)
        }
        // Not JSON: pass it through untouched, the SDK will report what it got.
        Err(_) => body,
    }
}

fn rewrite_account_locations(account: &mut serde_json::Value, endpoint: &str) {
    for field in ["writableLocations", "readableLocations"] {
        if let Some(locations) = account.get_mut(field).and_then(|l| l.as_array_mut()) {
            for location in locations {
                if let Some(obj) = location.as_object_mut() {
                    obj.insert(
                        "databaseAccountEndpoint".to_string(),
                        serde_json::Value::String(endpoint.to_string()),
                    );
                }
            }
        }
    }
}

fn rewrite_pkrange_ids(feed: &mut serde_json::Value) {
    let Some(ranges) = feed
        .get_mut("PartitionKeyRanges")
        .and_then(|r| r.as_array_mut())
    else {
        return;
    };
    for range in ranges {
        if let Some(id) = range.get_mut("id") {
            number_to_string(id);
        }
        if let Some(parents) = range.get_mut("parents").and_then(|p| p.as_array_mut()) {
            parents.iter_mut().for_each(number_to_string);
        }
    }
}

fn number_to_string(value: &mut serde_json::Value) {
    if let serde_json::Value::Number(n) = value {
        *value = serde_json::Value::String(n.to_string());
    }
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkrange_ids_become_strings() {
        let mut feed = serde_json::json!({
            "PartitionKeyRanges": [{"id": 0, "parents": [1, "2"], "minInclusive": "", "maxExclusive": "FF"}],
            "_count": 1
        });
        rewrite_pkrange_ids(&mut feed);
        assert_eq!(feed["PartitionKeyRanges"][0]["id"], "0");
        assert_eq!(
            feed["PartitionKeyRanges"][0]["parents"],
            serde_json::json!(["1", "2"])
        );
        assert_eq!(feed["PartitionKeyRanges"][0]["maxExclusive"], "FF");
    }

    #[test]
    fn account_locations_point_at_the_adapter() {
        let mut account = serde_json::json!({
            "writableLocations": [{"name": "South Central US", "databaseAccountEndpoint": "https://localhost:8082/"}],
            "readableLocations": [{"name": "South Central US", "databaseAccountEndpoint": "https://localhost:8082/"}],
        });
        rewrite_account_locations(&mut account, "http://127.0.0.1:4000/");
        assert_eq!(
            account["writableLocations"][0]["databaseAccountEndpoint"],
            "http://127.0.0.1:4000/"
        );
        assert_eq!(
            account["readableLocations"][0]["databaseAccountEndpoint"],
            "http://127.0.0.1:4000/"
        );
        assert_eq!(account["readableLocations"][0]["name"], "South Central US");
    }

    #[test]
    fn routes_are_classified_from_method_path_and_headers() {
        let empty = hyper::HeaderMap::new();
        assert_eq!(classify(&Method::GET, "/", &empty), Route::AccountMetadata);
        assert_eq!(
            classify(&Method::GET, "/dbs/d/colls/c/pkranges", &empty),
            Route::PartitionKeyRanges
        );
        let mut query = hyper::HeaderMap::new();
        query.insert("x-ms-documentdb-isquery", HeaderValue::from_static("True"));
        assert_eq!(
            classify(&Method::POST, "/dbs/d/colls/c/docs", &query),
            Route::Query
        );
        assert_eq!(
            classify(&Method::POST, "/dbs/d/colls/c/docs", &empty),
            Route::Other
        );
    }

    #[test]
    fn hop_by_hop_headers_are_not_forwarded() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("close"));
        headers.insert("x-ms-request-charge", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert!(headers.get("connection").is_none());
        assert_eq!(headers.get("x-ms-request-charge").unwrap(), "1");
    }

    #[test]
    fn notes_are_one_per_rewrite() {
        assert_eq!(FIDELITY_NOTES.len(), 3);
    }
}
