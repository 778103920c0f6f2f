//! The HTTPS server: `/mutate`, `/healthz`, `/readyz` (cache synced),
//! `/metrics`; bounded bodies, handshake and request timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::cache::{Cache, Resolution};
use crate::kube_source::{FetchError, fetch};
use crate::metrics::Metrics;
use crate::review::{self, Parsed, Rejected};
use crate::settings::Settings;
use crate::tls::Certificate;

/// Largest review accepted: a pod and its old copy fit many times over
/// (etcd stores objects of at most 1.5 MiB).
pub const MAX_BODY: usize = 4 << 20;
/// Longest a TLS handshake or a request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One webhook: its settings, cache and where to fetch from on a miss.
pub struct Webhook {
    /// Flags.
    pub settings: Settings,
    /// ServiceAccounts, ConfigMap roles, Pod Identity associations.
    pub cache: Arc<Cache>,
    /// The API, when ServiceAccounts come from it (fetches on a miss).
    pub client: Option<kube::Client>,
    /// How long a miss may wait for the API.
    pub lookup_wait: Duration,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("settings", &self.settings)
            .field("api", &self.client.is_some())
            .field("lookup_wait", &self.lookup_wait)
            .finish_non_exhaustive()
    }
}

/// An answer: HTTP status, AdmissionReview body, metrics outcome.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The AdmissionReview.
    pub body: Value,
    /// `mutated`, `unchanged`, `ignored`, `rejected` or `unavailable`.
    pub outcome: &'static str,
}

impl Webhook {
    /// Decides one review: the code path of `/mutate` and `irsa webhook mutate`.
    pub async fn admit(&self, content_type: Option<&str>, body: &[u8]) -> Answer {
        let parsed = match review::parse(content_type, body) {
            Ok(p) => p,
            Err(r) => {
                return Answer {
                    status: r.status,
                    body: review::reject(&r),
                    outcome: "rejected",
                };
            }
        };
        let request = match parsed {
            Parsed::Ignore {
                api_version,
                uid,
                warning,
            } => {
                return Answer {
                    status: 200,
                    body: review::allow(&api_version, &uid, &[], &[warning]),
                    outcome: "ignored",
                };
            }
            Parsed::Pod(r) => r,
        };
        let (ns, sa) = (request.namespace.as_str(), request.service_account.as_str());
        let mut resolution = self.cache.resolve(ns, sa);
        let mut warnings = Vec::new();
        if resolution == Resolution::Unknown {
            self.metrics.miss();
            if let Some(client) = &self.client {
                let prefix = &self.settings.annotation_prefix;
                match fetch(client, &self.cache, ns, sa, prefix, self.lookup_wait).await {
                    Ok(Some(_)) => {
                        self.metrics.fetch("found");
                        resolution = self.cache.resolve(ns, sa);
                    }
                    Ok(None) => {
                        self.metrics.fetch("not_found");
                        warnings.push(format!(
                            "irsa webhook: ServiceAccount {ns}/{sa} does not exist; the pod gets no AWS credentials"
                        ));
                    }
                    Err(e) => {
                        let (outcome, why) = match e {
                            FetchError::Timeout => (
                                "timeout",
                                format!("no answer within {:?}", self.lookup_wait),
                            ),
                            FetchError::Api(e) => ("error", e),
                        };
                        self.metrics.fetch(outcome);
                        // Not a decision: the API server applies the
                        // webhook's failurePolicy (Ignore: created
                        // unmutated; Fail: refused, and retried by its
                        // controller).
                        let r = Rejected {
                            status: 503,
                            uid: request.uid.clone(),
                            message: format!(
                                "ServiceAccount {ns}/{sa} is not cached yet and could not be fetched: {why}"
                            ),
                        };
                        tracing::warn!(namespace = ns, service_account = sa, error = %r.message, "cache miss");
                        return Answer {
                            status: 503,
                            body: review::reject(&r),
                            outcome: "unavailable",
                        };
                    }
                }
            }
        }
        let ops = match resolution.method() {
            Some(method) => {
                let ops = crate::mutate::patch(&request.pod, method, &self.settings);
                if !ops.is_empty() {
                    self.metrics.mutation(method.label());
                }
                ops
            }
            None => Vec::new(),
        };
        Answer {
            status: 200,
            body: review::allow(&request.api_version, &request.uid, &ops, &warnings),
            outcome: if ops.is_empty() {
                "unchanged"
            } else {
                "mutated"
            },
        }
    }
}

async fn mutate(State(w): State<Arc<Webhook>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let answer = w.admit(content_type, &body).await;
    w.metrics.request(answer.outcome, started.elapsed());
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&answer.body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn readyz(State(w): State<Arc<Webhook>>) -> Response {
    if w.cache.synced() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceAccount cache not synced yet\n",
        )
            .into_response()
    }
}

async fn metrics(State(w): State<Arc<Webhook>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        w.metrics.render(w.cache.len()),
    )
        .into_response()
}

/// The routes.
pub fn router(webhook: Arc<Webhook>) -> Router {
    Router::new()
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            TIMEOUT,
        ))
        .with_state(webhook)
}

/// Serves `app` over TLS on `listener` until ctrl-c or SIGTERM.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    certificate: Arc<Certificate>,
    app: Router,
) -> Result<(), String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(certificate.server_config()?));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move { connection(acceptor, tcp, peer, app).await });
    }
}

async fn connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
) {
    let tls = match tokio::time::timeout(TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let service = hyper_util::service::TowerToHyperService::new(app);
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(TIMEOUT);
    if let Err(e) = builder
        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
        .await
    {
        tracing::debug!(%peer, error = %e, "connection");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
