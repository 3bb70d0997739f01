//! Loopback networking helpers: free ports for backends, a TCP connect probe and a tiny
//! HTTP/1.1 client (hyper) for readiness checks and REST admin calls. Everything here has
//! a deadline.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;

/// Ports handed out recently by this process, so two backends started at the same moment
/// never get the same one (the OS may offer a just-released port again).
static RECENT_PORTS: Mutex<VecDeque<u16>> = Mutex::new(VecDeque::new());
const RECENT_PORTS_KEPT: usize = 256;

/// A port on 127.0.0.1 that was free a moment ago. The backend binds it shortly after; a
/// lost race shows up as "address in use" in its log and the start is retried.
pub(crate) fn free_port() -> std::io::Result<u16> {
    let mut recent = RECENT_PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..50 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if !recent.contains(&port) {
            if recent.len() >= RECENT_PORTS_KEPT {
                recent.pop_front();
            }
            recent.push_back(port);
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "could not find a free loopback port in 50 tries",
    ))
}

pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Connects within `timeout`; the error says why not.
pub(crate) async fn tcp_connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
        Err(_) => Err(format!("connect {addr}: no answer within {timeout:?}")),
    }
}

#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// One HTTP/1.1 request on a fresh connection, bounded by `timeout` end to end.
pub(crate) async fn http_request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let what = format!("{method} http://{addr}{path}");
    match tokio::time::timeout(
        timeout,
        http_request_inner(method, addr, path, headers, body),
    )
    .await
    {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {timeout:?}")),
    }
}

async fn http_request_inner(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<HttpResponse, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(HttpResponse {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let a = free_port().unwrap();
        let b = free_port().unwrap();
        assert_ne!(a, b);
        assert!(
            TcpListener::bind(loopback(a)).is_ok(),
            "port {a} is bindable"
        );
    }

    #[tokio::test]
    async fn refused_connection_is_an_error_not_a_hang() {
        let port = free_port().unwrap();
        let err = http_request(
            "GET",
            loopback(port),
            "/",
            &[],
            None,
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    }
}
