//! A TCP fault proxy between clients and a backend, with Toxiproxy's toxics as the
//! reference: latency + jitter, a bandwidth cap, `reset_peer`, `timeout` (a blackhole: a
//! partition), `slicer`, `limit_data` — each per direction and with a toxicity (the share
//! of connections it applies to). Toxics are added and healed at run time and act on open
//! connections too; the upstream can be retargeted at run time, which is how a cluster
//! endpoint moves after a failover.
//!
//! The proxy listens on loopback only: fault traffic never leaves the machine's own
//! addresses.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which way the bytes a toxic acts on travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client → backend.
    Upstream,
    /// Backend → client.
    Downstream,
    Both,
}

impl Direction {
    fn covers(self, upstream: bool) -> bool {
        match self {
            Direction::Both => true,
            Direction::Upstream => upstream,
            Direction::Downstream => !upstream,
        }
    }
}

/// What a toxic does to the bytes it covers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Each chunk waits `latency` ± up to `jitter` before it is passed on.
    Latency { latency: Duration, jitter: Duration },
    /// At most this many bytes per second.
    Bandwidth { bytes_per_s: u64 },
    /// Connections are reset (TCP RST) — open ones at once, new ones after `after`.
    ResetPeer { after: Duration },
    /// Nothing passes (a partition); with a non-zero `close_after` the connection is
    /// closed that long after data first stopped, as Toxiproxy's `timeout` does.
    Timeout { close_after: Duration },
    /// Chunks are cut into slices of about `average_size` bytes (± `size_variation`),
    /// `delay` apart.
    Slicer {
        average_size: usize,
        size_variation: usize,
        delay: Duration,
    },
    /// The connection is closed once this many bytes have passed.
    LimitData { bytes: u64 },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Toxic {
    pub name: String,
    #[serde(flatten)]
    pub kind: ToxicKind,
    pub direction: Direction,
    /// Share of connections it applies to, 0–1 (1: every connection).
    pub toxicity: f64,
}

impl Toxic {
    pub fn new(name: &str, kind: ToxicKind, direction: Direction) -> Self {
        Toxic {
            name: name.to_string(),
            kind,
            direction,
            toxicity: 1.0,
        }
    }

    /// Whether this toxic applies to the connection with `seed` (each connection draws
    /// its seed once, so a toxicity of 0.3 hits about 30 % of connections, consistently).
    fn hits(&self, seed: u64) -> bool {
        if self.toxicity >= 1.0 {
            return true;
        }
        let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in self.name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        (splitmix(h) as f64 / u64::MAX as f64) < self.toxicity
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What every connection reads: the upstream and the toxics, and a version that changes
/// with them so idle connections notice.
#[derive(Clone, Debug)]
struct Config {
    upstream: SocketAddr,
    toxics: Vec<Toxic>,
}

/// A running proxy. Dropping it stops accepting and ends every connection.
pub struct FaultProxy {
    listen: SocketAddr,
    config: watch::Sender<Config>,
    accept: JoinHandle<()>,
    connections: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let listen = listener.local_addr()?;
        let (config, rx) = watch::channel(Config {
            upstream,
            toxics: Vec::new(),
        });
        let connections = Arc::new(AtomicU64::new(0));
        let counter = connections.clone();
        let accept = tokio::spawn(async move {
            let mut seq = 0u64;
            while let Ok((client, _)) = listener.accept().await {
                seq += 1;
                counter.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, rx.clone(), splitmix(seq)));
            }
        });
        Ok(FaultProxy {
            listen,
            config,
            accept,
            connections,
        })
    }

    /// Where clients connect.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn upstream(&self) -> SocketAddr {
        self.config.borrow().upstream
    }

    /// New connections go to `upstream`; open ones are reset (their backend is the old
    /// one), as clients of a moved cluster endpoint see it.
    pub fn retarget(&self, upstream: SocketAddr) {
        self.config.send_modify(|c| c.upstream = upstream);
    }

    /// Adds a toxic (replacing one of the same name).
    pub fn add(&self, toxic: Toxic) {
        self.config.send_modify(|c| {
            c.toxics.retain(|t| t.name != toxic.name);
            c.toxics.push(toxic);
        });
    }

    /// Removes the named toxic; `heal_all` removes every one.
    pub fn heal(&self, name: &str) {
        self.config
            .send_modify(|c| c.toxics.retain(|t| t.name != name));
    }

    pub fn heal_all(&self) {
        self.config.send_modify(|c| c.toxics.clear());
    }

    pub fn toxics(&self) -> Vec<Toxic> {
        self.config.borrow().toxics.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Closing the channel ends every connection's pumps.
        self.config.send_modify(|c| c.toxics.clear());
    }
}

/// One client connection: connect upstream, then pump both ways until either side ends,
/// a toxic closes or resets it, or the upstream moves.
async fn serve(client: TcpStream, mut config: watch::Receiver<Config>, seed: u64) {
    let start = config.borrow_and_update().clone();
    if let Some(after) = reset_after(&start.toxics, seed) {
        tokio::time::sleep(after).await;
        reset(client);
        return;
    }
    let Ok(server) = TcpStream::connect(start.upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let ending = {
        let up = pump(
            &mut client_read,
            &mut server_write,
            config.clone(),
            seed,
            true,
        );
        let down = pump(
            &mut server_read,
            &mut client_write,
            config.clone(),
            seed,
            false,
        );
        let moved = async {
            loop {
                if config.changed().await.is_err() {
                    return Ending::Closed;
                }
                let c = config.borrow_and_update().clone();
                if c.upstream != start.upstream {
                    return Ending::Reset;
                }
                if reset_after(&c.toxics, seed).is_some() {
                    return Ending::Reset;
                }
            }
        };
        tokio::select! {
            e = up => e,
            e = down => e,
            e = moved => e,
        }
    };
    if ending == Ending::Reset {
        if let Ok(c) = client_read.reunite(client_write) {
            reset(c);
        }
        if let Ok(s) = server_read.reunite(server_write) {
            reset(s);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    Closed,
    Reset,
}

/// The shortest `after` of the reset toxics that hit this connection.
fn reset_after(toxics: &[Toxic], seed: u64) -> Option<Duration> {
    toxics
        .iter()
        .filter(|t| t.hits(seed))
        .filter_map(|t| match t.kind {
            ToxicKind::ResetPeer { after } => Some(after),
            _ => None,
        })
        .min()
}

/// Closes with a TCP RST (linger 0), as a crashed peer's kernel would answer.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

const CHUNK: usize = 16 * 1024;

/// Copies one direction, applying the toxics that cover it as they are now.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut config: watch::Receiver<Config>,
    seed: u64,
    upstream: bool,
) -> Ending {
    let mut buf = vec![0u8; CHUNK];
    let mut passed: u64 = 0;
    let mut rng = seed ^ u64::from(upstream);
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return Ending::Closed,
            Ok(n) => n,
        };
        let toxics: Vec<Toxic> = config
            .borrow_and_update()
            .toxics
            .iter()
            .filter(|t| t.direction.covers(upstream) && t.hits(seed))
            .cloned()
            .collect();
        let mut slices: Vec<&[u8]> = vec![&buf[..n]];
        let mut slice_delay = Duration::ZERO;
        for t in &toxics {
            match &t.kind {
                ToxicKind::Timeout { close_after } => {
                    // Swallow this and everything until healed (or the close).
                    if blackhole(from, &mut config, upstream, seed, *close_after).await {
                        return Ending::Closed;
                    }
                    slices.clear();
                    break;
                }
                ToxicKind::Latency { latency, jitter } => {
                    rng = splitmix(rng);
                    let j = jitter.as_nanos() as u64;
                    let wait = if j == 0 {
                        *latency
                    } else {
                        let offset = rng % (2 * j + 1);
                        (*latency + Duration::from_nanos(offset)).saturating_sub(*jitter)
                    };
                    tokio::time::sleep(wait).await;
                }
                ToxicKind::Bandwidth { bytes_per_s } if *bytes_per_s > 0 => {
                    let secs = n as f64 / *bytes_per_s as f64;
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                } => {
                    let mut cut = Vec::new();
                    let mut rest = &buf[..n];
                    while !rest.is_empty() {
                        rng = splitmix(rng);
                        let var = *size_variation as u64;
                        let size = (*average_size as u64 + rng % (2 * var + 1))
                            .saturating_sub(var)
                            .max(1) as usize;
                        let (head, tail) = rest.split_at(size.min(rest.len()));
                        cut.push(head);
                        rest = tail;
                    }
                    slices = cut;
                    slice_delay = *delay;
                }
                ToxicKind::LimitData { bytes } => {
                    let room = bytes.saturating_sub(passed) as usize;
                    if room < n {
                        let _ = to.write_all(&buf[..room]).await;
                        return Ending::Closed;
                    }
                }
                ToxicKind::Bandwidth { .. } | ToxicKind::ResetPeer { .. } => {}
            }
        }
        for (i, s) in slices.iter().enumerate() {
            if i > 0 && !slice_delay.is_zero() {
                tokio::time::sleep(slice_delay).await;
            }
            if to.write_all(s).await.is_err() {
                return Ending::Closed;
            }
        }
        passed += n as u64;
    }
}

/// Reads and drops what arrives while a `timeout` toxic covers this direction. Returns
/// true when the connection is to be closed (the toxic's `close_after` passed, or the
/// peer went), false once the toxic is healed.
async fn blackhole(
    from: &mut OwnedReadHalf,
    config: &mut watch::Receiver<Config>,
    upstream: bool,
    seed: u64,
    close_after: Duration,
) -> bool {
    let deadline = (!close_after.is_zero()).then(|| tokio::time::Instant::now() + close_after);
    let mut sink = vec![0u8; CHUNK];
    loop {
        let still = config.borrow_and_update().toxics.iter().any(|t| {
            matches!(t.kind, ToxicKind::Timeout { .. })
                && t.direction.covers(upstream)
                && t.hits(seed)
        });
        if !still {
            return false;
        }
        let close = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = from.read(&mut sink) => if matches!(r, Ok(0) | Err(_)) { return true },
            changed = config.changed() => if changed.is_err() { return true },
            () = close => return true,
        }
    }
}

#[cfg(test)]
mod tests;
