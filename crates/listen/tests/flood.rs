//! Issue 11, findings 3 and 12: silent connections are closed in bounded
//! time, one address cannot take the budget, and a client that speaks is
//! served through a flood.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use listen::{Gate, Limits, Plain};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn start(limits: Limits) -> (SocketAddr, Arc<Gate>) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gate = Gate::new(limits);
    tokio::spawn(listen::serve(
        listener,
        Arc::clone(&gate),
        Plain,
        app,
        std::future::pending(),
    ));
    (addr, gate)
}

/// A connection to `addr` from the loopback address `from` (any of 127/8).
async fn connect_from(from: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// GET `path` on a new connection from `from`; the body, if answered within 5 s.
async fn get_from(from: [u8; 4], addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = connect_from(from, addr).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.ok()?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .ok()?
        .ok()?;
    out.starts_with("HTTP/1.1 200")
        .then(|| out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

/// How long until the server closes `s` (reads 0 bytes or fails), at most `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), s.read(&mut buf)).await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

fn limits() -> Limits {
    Limits {
        max_connections: 64,
        per_address: 8,
        handshake_timeout: Duration::from_millis(800),
        pressured_timeout: Duration::from_millis(200),
        header_timeout: Duration::from_millis(800),
        drain: Duration::from_secs(1),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_slow_connections_are_closed_in_bounded_time() {
    let (addr, gate) = start(limits()).await;
    // Says nothing at all.
    let mut silent = connect_from([127, 0, 0, 1], addr).await;
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(took.is_some(), "a silent connection stayed open");
    // Starts a request head and never finishes it (slowloris).
    let mut slow = connect_from([127, 0, 0, 1], addr).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let took = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(took.is_some(), "a half-sent request head stayed open");
    // Idle keep-alive is bounded too.
    let mut idle = connect_from([127, 0, 0, 1], addr).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(
        gate.counters
            .handshake_timeouts
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // Every place was given back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(gate.open(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_cannot_take_the_budget() {
    let (addr, gate) = start(Limits {
        handshake_timeout: Duration::from_secs(30),
        pressured_timeout: Duration::from_secs(30),
        ..limits()
    })
    .await;
    // An attacker at 127.0.0.2 opens 200 silent connections: 8 are held,
    // the rest closed at once.
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(connect_from([127, 0, 0, 2], addr).await);
    }
    let mut closed_at_once = 0;
    for s in &mut held {
        if closed_within(s, Duration::from_millis(300)).await.is_some() {
            closed_at_once += 1;
        }
    }
    assert_eq!(closed_at_once, 192, "beyond the per-address cap");
    assert_eq!(gate.open(), 8);
    assert_eq!(
        gate.counters
            .refused_per_address
            .load(std::sync::atomic::Ordering::Relaxed),
        192
    );
    // Another client is served at once, and sees its own address.
    assert_eq!(
        get_from([127, 0, 0, 1], addr, "/healthz").await.as_deref(),
        Some("ok\n")
    );
    assert_eq!(
        get_from([127, 0, 0, 3], addr, "/peer").await.as_deref(),
        Some("127.0.0.3")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_speaks_is_served_through_a_flood_from_many_addresses() {
    let (addr, gate) = start(limits()).await;
    // 16 addresses × 8 silent connections = twice the total budget.
    let mut flood = Vec::new();
    for a in 10..26u8 {
        for _ in 0..8 {
            flood.push(connect_from([127, 0, 1, a], addr).await);
        }
    }
    // Under pressure silent connections turn over within the short timeout,
    // so a real request gets a place within a few of them.
    let started = Instant::now();
    let answer = get_from([127, 0, 0, 1], addr, "/healthz").await;
    assert_eq!(answer.as_deref(), Some("ok\n"));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(gate.open() <= 64);
    drop(flood);
}
