//! Accepting HTTP connections within limits, for `irsa serve` and
//! `irsa webhook` alike.
//!
//! What one client can take is bounded: connections open at once (total and
//! per client address), time to say something (the TLS handshake, or the first
//! byte of plain HTTP), time to send each request head, and time to drain at
//! shutdown. When more than half the connections are in use, new ones get a
//! shorter handshake time, so a flood of silent connections turns over fast
//! while real clients, which speak at once, are unaffected.
//!
//! Each request carries `ConnectInfo<SocketAddr>` of its peer, as with
//! `axum::serve(…into_make_service_with_connect_info…)`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; the next wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections open at once from one client address; more are closed
    /// at once.
    pub per_address: usize,
    /// Time to complete the TLS handshake, or to send the first byte.
    pub handshake_timeout: Duration,
    /// [`Limits::handshake_timeout`] while more than half of
    /// [`Limits::max_connections`] are open.
    pub pressured_timeout: Duration,
    /// Time to send each request's head, idle keep-alive time included.
    pub header_timeout: Duration,
    /// Longest a shutdown waits for requests in flight.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4096,
            per_address: 512,
            handshake_timeout: Duration::from_secs(10),
            pressured_timeout: Duration::from_secs(2),
            header_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

/// File descriptors kept free of connections: the listener, the stores'
/// files, outbound fetches, logs.
const RESERVED_FILES: u64 = 128;

impl Limits {
    /// These limits with [`Limits::max_connections`] lowered, if need be, to
    /// what the process may open: the soft open-file limit is first raised to
    /// the hard one (as Go's runtime does), then the connection cap leaves
    /// [`RESERVED_FILES`] below it. Without this a flood ends in `EMFILE`,
    /// and then not even `/healthz` can be accepted.
    pub fn fitted_to_file_limit(mut self) -> Limits {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let mut soft = limit.current;
        if limit.current < limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                soft = limit.maximum;
            }
        }
        if let Some(soft) = soft {
            let room = soft.saturating_sub(RESERVED_FILES).max(16);
            let room = usize::try_from(room).unwrap_or(usize::MAX);
            if room < self.max_connections {
                tracing::warn!(
                    open_files = soft,
                    connections = room,
                    "the open-file limit caps connections below the configured {}",
                    self.max_connections
                );
                self.max_connections = room;
            }
        }
        self.per_address = self.per_address.min(self.max_connections);
        self
    }
}

/// How a connection's bytes are spoken once [`Handshake`] is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, or HTTP/2 with prior knowledge (told apart by the preface).
    Auto,
    /// HTTP/1.1 only (TLS without ALPN `h2`).
    Http1,
    /// HTTP/2 only (TLS with ALPN `h2`).
    Http2,
}

/// What happens on a new connection before HTTP: TLS, or nothing.
pub trait Handshake: Clone + Send + Sync + 'static {
    /// The stream HTTP is spoken over.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Completes the handshake; the caller bounds its time.
    fn handshake(
        &self,
        tcp: TcpStream,
    ) -> impl Future<Output = io::Result<(Self::Io, Protocol)>> + Send;
}

/// Plain HTTP: the handshake is the client's first byte, so a connection
/// that says nothing is closed after the handshake timeout.
#[derive(Debug, Clone, Copy)]
pub struct Plain;

impl Handshake for Plain {
    type Io = TcpStream;
    async fn handshake(&self, tcp: TcpStream) -> io::Result<(TcpStream, Protocol)> {
        let mut first = [0u8; 1];
        if tcp.peek(&mut first).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok((tcp, Protocol::Auto))
    }
}

/// Counts of what a listener refused, for metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections closed at once: their address had [`Limits::per_address`].
    pub refused_per_address: AtomicU64,
    /// Connections closed for not completing the handshake in time.
    pub handshake_timeouts: AtomicU64,
}

/// The open connections: a total budget and a count per client address.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    room: Arc<Semaphore>,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
    /// What was refused.
    pub counters: Counters,
    last_warning: Mutex<Option<Instant>>,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Pass {
    gate: Arc<Gate>,
    address: IpAddr,
    _room: OwnedSemaphorePermit,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut by) = self.gate.by_address.lock()
            && let Some(n) = by.get_mut(&self.address)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by.remove(&self.address);
            }
        }
    }
}

impl Gate {
    /// A gate with these limits.
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            room: Arc::new(Semaphore::new(limits.max_connections)),
            by_address: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            counters: Counters::default(),
            last_warning: Mutex::new(None),
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Waits until a connection may be accepted.
    async fn room(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.room).acquire_owned().await.ok()
    }

    /// Admits a connection from `address` into the `room` waited for, unless
    /// that address already has its share.
    fn enter(self: &Arc<Gate>, room: OwnedSemaphorePermit, address: IpAddr) -> Option<Pass> {
        let mut by = self.by_address.lock().ok()?;
        let n = by.entry(address).or_insert(0);
        if *n >= self.limits.per_address {
            drop(by);
            self.counters
                .refused_per_address
                .fetch_add(1, Ordering::Relaxed);
            self.warn_now_and_then(address);
            return None;
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Some(Pass {
            gate: Arc::clone(self),
            address,
            _room: room,
        })
    }

    /// One warning per 10 s at most, however hard a client pushes.
    fn warn_now_and_then(&self, address: IpAddr) {
        let Ok(mut last) = self.last_warning.lock() else {
            return;
        };
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            return;
        }
        *last = Some(Instant::now());
        tracing::warn!(
            %address,
            per_address = self.limits.per_address,
            refused_so_far = self.counters.refused_per_address.load(Ordering::Relaxed),
            "closing connections beyond the per-address cap"
        );
    }

    /// The handshake time for a connection accepted now.
    fn handshake_timeout(&self) -> Duration {
        if self.open() * 2 > self.limits.max_connections {
            self.limits.pressured_timeout
        } else {
            self.limits.handshake_timeout
        }
    }
}

/// Serves `app` on `listener` within `gate`'s limits until `shutdown`
/// completes; then stops accepting and lets requests in flight finish (at
/// most [`Limits::drain`]).
pub async fn serve<H: Handshake>(
    listener: TcpListener,
    gate: Arc<Gate>,
    handshake: H,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let room = tokio::select! {
            room = gate.room() => match room {
                Some(room) => room,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(pass) = gate.enter(room, peer.ip()) else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let limit = gate.handshake_timeout();
        let handshake = handshake.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        let limits = gate.limits;
        tokio::spawn(async move {
            let (io, protocol) = match tokio::time::timeout(limit, handshake.handshake(tcp)).await {
                Ok(Ok(done)) => done,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "handshake");
                    return;
                }
                Err(_) => {
                    pass.gate
                        .counters
                        .handshake_timeouts
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |mut request: Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), request)
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(Duration::from_secs(30)))
                .keep_alive_timeout(limits.header_timeout)
                .max_concurrent_streams(128);
            let builder = match protocol {
                Protocol::Auto => builder,
                Protocol::Http1 => builder.http1_only(),
                Protocol::Http2 => builder.http2_only(),
            };
            let connection = builder.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "connection");
            }
            drop(pass);
        });
    }
    drop(listener);
    if tokio::time::timeout(gate.limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown: requests still in flight after {:?}, closing",
            gate.limits.drain
        );
    }
    Ok(())
}

/// The peer address of a request served by [`serve`].
pub fn peer(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permit(gate: &Arc<Gate>) -> OwnedSemaphorePermit {
        Arc::clone(&gate.room)
            .try_acquire_owned()
            .unwrap_or_else(|_| unreachable!("room"))
    }

    #[test]
    fn one_address_gets_its_share_and_gives_it_back() {
        let gate = Gate::new(Limits {
            max_connections: 10,
            per_address: 3,
            ..Limits::default()
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let passes: Vec<Pass> = (0..3)
            .filter_map(|_| gate.enter(permit(&gate), a))
            .collect();
        assert_eq!(passes.len(), 3);
        assert!(gate.enter(permit(&gate), a).is_none());
        assert_eq!(gate.counters.refused_per_address.load(Ordering::Relaxed), 1);
        // The refused connection's room came back; another address is served.
        assert_eq!(gate.open(), 3);
        let other = gate.enter(permit(&gate), b);
        assert!(other.is_some());
        drop(passes);
        assert_eq!(gate.open(), 1);
        assert!(gate.enter(permit(&gate), a).is_some());
        assert!(gate.by_address.lock().map(|m| m.len()).unwrap_or(0) <= 2);
    }

    #[test]
    fn the_handshake_time_shortens_under_pressure() {
        let limits = Limits {
            max_connections: 4,
            per_address: 4,
            ..Limits::default()
        };
        let gate = Gate::new(limits);
        let a: IpAddr = [10, 0, 0, 1].into();
        assert_eq!(gate.handshake_timeout(), limits.handshake_timeout);
        let p1 = gate.enter(permit(&gate), a);
        let p2 = gate.enter(permit(&gate), a);
        assert_eq!(gate.handshake_timeout(), limits.handshake_timeout);
        let p3 = gate.enter(permit(&gate), a);
        assert_eq!(gate.handshake_timeout(), limits.pressured_timeout);
        drop((p1, p2, p3));
        assert_eq!(gate.handshake_timeout(), limits.handshake_timeout);
    }

    #[test]
    fn the_connection_cap_fits_the_open_file_limit() {
        let fitted = Limits {
            max_connections: usize::MAX / 2,
            per_address: usize::MAX,
            ..Limits::default()
        }
        .fitted_to_file_limit();
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(soft) = soft {
            assert!(fitted.max_connections as u64 <= soft.saturating_sub(RESERVED_FILES).max(16));
        }
        assert!(fitted.per_address <= fitted.max_connections);
    }
}
