use super::*;
use std::time::Instant;

/// An echo server on loopback that prefixes every reply with `tag`.
async fn echo(tag: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let mut out = tag.to_vec();
                            out.extend_from_slice(&buf[..n]);
                            if s.write_all(&out).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Sends `msg` and reads until the tagged echo is complete, within `within`.
async fn round_trip(s: &mut TcpStream, msg: &[u8], within: Duration) -> std::io::Result<Vec<u8>> {
    s.write_all(msg).await?;
    let want = msg.len() + 1;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        while got.len() < want {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok(())
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(got)
}

#[tokio::test]
async fn passes_bytes_through_and_listens_on_loopback_only() {
    let proxy = FaultProxy::start(echo(b"A").await).await.unwrap();
    assert!(proxy.listen_addr().ip().is_loopback());
    let mut c = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    let got = round_trip(&mut c, b"hello", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got, b"Ahello");
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn latency_delays_each_way_and_heals() {
    let proxy = FaultProxy::start(echo(b"A").await).await.unwrap();
    let mut c = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    proxy.add(Toxic::new(
        "slow",
        ToxicKind::Latency {
            latency: Duration::from_millis(60),
            jitter: Duration::ZERO,
        },
        Direction::Both,
    ));
    let t = Instant::now();
    round_trip(&mut c, b"x", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t.elapsed()
    );
    proxy.heal("slow");
    let t = Instant::now();
    round_trip(&mut c, b"x", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(t.elapsed() < Duration::from_millis(60), "{:?}", t.elapsed());
}

#[tokio::test]
async fn a_timeout_toxic_is_a_partition_until_healed() {
    let proxy = FaultProxy::start(echo(b"A").await).await.unwrap();
    let mut c = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    round_trip(&mut c, b"before", Duration::from_secs(5))
        .await
        .unwrap();
    proxy.add(Toxic::new(
        "partition",
        ToxicKind::Timeout {
            close_after: Duration::ZERO,
        },
        Direction::Upstream,
    ));
    let e = round_trip(&mut c, b"during", Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "nothing came back");
    proxy.heal_all();
    // What was sent during the partition is lost; the connection works again.
    let got = round_trip(&mut c, b"after", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got, b"Aafter");
}

#[tokio::test]
async fn reset_peer_resets_open_connections_and_new_ones() {
    let proxy = FaultProxy::start(echo(b"A").await).await.unwrap();
    let mut c = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    round_trip(&mut c, b"x", Duration::from_secs(5))
        .await
        .unwrap();
    proxy.add(Toxic::new(
        "rst",
        ToxicKind::ResetPeer {
            after: Duration::ZERO,
        },
        Direction::Both,
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = round_trip(&mut c, b"y", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe
        ),
        "{e:?}"
    );
    let mut fresh = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    assert!(round_trip(&mut fresh, b"z", Duration::from_secs(5))
        .await
        .is_err());
}

#[tokio::test]
async fn retargeting_moves_new_connections_and_closes_old_ones() {
    let proxy = FaultProxy::start(echo(b"A").await).await.unwrap();
    let mut old = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    round_trip(&mut old, b"x", Duration::from_secs(5))
        .await
        .unwrap();
    let b = echo(b"B").await;
    proxy.retarget(b);
    assert_eq!(proxy.upstream(), b);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(round_trip(&mut old, b"y", Duration::from_secs(5))
        .await
        .is_err());
    let mut new = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    assert_eq!(
        round_trip(&mut new, b"y", Duration::from_secs(5))
            .await
            .unwrap(),
        b"By"
    );
}

#[tokio::test]
async fn limit_data_closes_after_the_budget_and_slicer_keeps_every_byte() {
    let proxy = FaultProxy::start(echo(b"A").await).await.unwrap();
    proxy.add(Toxic::new(
        "slices",
        ToxicKind::Slicer {
            average_size: 3,
            size_variation: 2,
            delay: Duration::from_millis(1),
        },
        Direction::Downstream,
    ));
    let mut c = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    let msg = b"0123456789abcdefghij";
    assert_eq!(
        round_trip(&mut c, msg, Duration::from_secs(5))
            .await
            .unwrap(),
        [b"A".as_slice(), msg].concat()
    );
    proxy.heal_all();
    proxy.add(Toxic::new(
        "limit",
        ToxicKind::LimitData { bytes: 10 },
        Direction::Upstream,
    ));
    let mut c = TcpStream::connect(proxy.listen_addr()).await.unwrap();
    assert!(round_trip(&mut c, msg, Duration::from_secs(5))
        .await
        .is_err());
}

#[test]
fn toxicity_picks_a_stable_share_of_connections() {
    let mut t = Toxic::new(
        "some",
        ToxicKind::Bandwidth { bytes_per_s: 1 },
        Direction::Both,
    );
    t.toxicity = 0.3;
    let hit = (0..10_000u64).filter(|i| t.hits(splitmix(*i))).count();
    assert!((2_700..3_300).contains(&hit), "{hit}");
    assert_eq!(t.hits(42), t.hits(42));
    t.toxicity = 0.0;
    assert!(!(0..1000u64).any(|i| t.hits(i)));
}
