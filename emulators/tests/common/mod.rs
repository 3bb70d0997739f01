//! Helpers shared by the emulators integration tests: start-or-skip (only when the backend's
//! binaries are genuinely absent), and the assertion that a stop leaves no process behind.

#![allow(dead_code)] // each test binary uses a different subset

use assay_core::LocalBackend;
use assay_emulators::{group_members, process_is_alive, Emulator, StartOptions};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts `backend` natively, or returns `None` (printing why) when it cannot run here.
pub async fn start_or_skip(backend: LocalBackend) -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return None;
    }
    let started = Instant::now();
    match Emulator::start(backend, &opts).await {
        Ok(emu) => {
            eprintln!("{backend} ready in {} ms", started.elapsed().as_millis());
            Some(emu)
        }
        Err(e) => panic!("starting {backend}: {e}"),
    }
}

/// Stops `emu` and asserts that none of its processes or process groups survive.
pub async fn stop_and_assert_gone(emu: Emulator) {
    let pids = emu.pids();
    let groups = emu.process_groups();
    assert!(!pids.is_empty(), "{emu:?} has no processes");
    for pid in &pids {
        assert!(process_is_alive(*pid), "pid {pid} should run before stop");
    }
    for log in emu.log_paths() {
        assert!(log.is_file(), "log {} exists", log.display());
    }
    let started = Instant::now();
    emu.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "stop is bounded"
    );
    assert_gone(&pids, &groups);
}

pub fn assert_gone(pids: &[u32], groups: &[u32]) {
    for pid in pids {
        assert!(!process_is_alive(*pid), "pid {pid} survived the stop");
    }
    for g in groups {
        let left = group_members(*g);
        assert!(left.is_empty(), "process group {g} still has {left:?}");
    }
}

/// "http://127.0.0.1:1234" → its socket address.
pub fn addr_of_url(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url} is not http://ip:port: {e}"))
}

/// A raw HTTP/1.1 request on a fresh connection; returns (status, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .expect("connect within 5 s")
            .expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("answer within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// DynamoDB `ListTables` as the SDK would send it (the stand-ins do not verify signatures).
pub async fn list_tables(addr: SocketAddr) -> (u16, String) {
    http(
        addr,
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.ListTables"),
            ("x-amz-date", "20240101T000000Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=assay/20240101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
            ),
        ],
        "{}",
    )
    .await
}

/// Polls `f` for up to 10 s.
pub async fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn kill(pid: u32, signal: i32) {
    // SAFETY: plain kill(2) on a pid the test just got from the emulator.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill {pid}");
}
