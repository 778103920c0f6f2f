//! The HTTPS server: `/mutate`, `/healthz`, `/readyz` (cache synced),
//! `/metrics`; bounded bodies, handshake and request timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::cache::Cache;
use crate::kube_source::{FetchError, Inflight};
use crate::metrics::Metrics;
use crate::review::{self, Parsed, Rejected};
use crate::settings::Settings;
use crate::tls::Certificate;

/// Largest review accepted: a pod and its old copy fit many times over
/// (etcd stores objects of at most 1.5 MiB).
pub const MAX_BODY: usize = 4 << 20;
/// Review bytes decided at once: many small reviews (a pod's is typically
/// 5–20 KB), or one large one alone (its weight is capped at the budget).
/// Decoded JSON of tiny values takes up to ~36 times its text, so this bounds
/// decoding to about 36 MB; a large review is bounded by
/// [`crate::review::MAX_VALUES`] instead. Both fit the shipped 128Mi limit.
pub const DECODE_BUDGET: usize = 1 << 20;
static DECODING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(DECODE_BUDGET);

/// Longest a TLS handshake or a request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Requests handled at once (the rest wait).
pub const MAX_IN_FLIGHT: usize = 64;
/// Connections open at once (the rest wait in the listen backlog).
pub const MAX_CONNECTIONS: usize = 1024;
/// The handshake time while more than half the connections are open.
pub const PRESSURED_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a shutdown waits for requests in flight.
pub const DRAIN: Duration = Duration::from_secs(10);

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
    /// Fetches in progress (shared by concurrent misses).
    pub inflight: Inflight,
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
            Err(r) => return rejected(&r, "rejected"),
        };
        let request = match parsed {
            Parsed::Ignore {
                api_version,
                uid,
                reason,
            } => {
                tracing::debug!(uid = %uid, reason = %reason, "review ignored");
                return Answer {
                    status: 200,
                    body: review::allow(&api_version, &uid, &[], &[]),
                    outcome: "ignored",
                };
            }
            Parsed::Pod(r) => r,
        };
        let (ns, sa) = (request.namespace.as_str(), request.service_account.as_str());
        let mut warnings = Vec::new();
        // Not cached: fetch before deciding, so that precedence (Pod
        // Identity, annotation, ConfigMap) sees the ServiceAccount's own
        // annotations, as it would had the watch been faster.
        if !self.cache.contains(ns, sa) {
            self.metrics.miss();
            if let Some(client) = &self.client {
                let prefix = &self.settings.annotation_prefix;
                let fetched = self
                    .inflight
                    .fetch(client, &self.cache, ns, sa, prefix, self.lookup_wait)
                    .await;
                match fetched {
                    Ok(Some(_)) => self.metrics.fetch("found"),
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
                            api_version: request.api_version.clone(),
                            uid: request.uid.clone(),
                            message: format!(
                                "ServiceAccount {ns}/{sa} is not cached yet and could not be fetched: {why}"
                            ),
                        };
                        tracing::warn!(namespace = ns, service_account = sa, error = %r.message, "cache miss");
                        return rejected(&r, "unavailable");
                    }
                }
            }
        }
        let resolution = self.cache.resolve(ns, sa);
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

fn rejected(r: &Rejected, outcome: &'static str) -> Answer {
    Answer {
        status: r.http_status(),
        body: review::reject(r),
        outcome,
    }
}

async fn mutate(
    State(w): State<Arc<Webhook>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let started = Instant::now();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let answer = match body {
        Ok(body) => {
            // Decoded JSON takes several times its text: bound the bytes
            // being decided at once, whatever the number of requests.
            let weight = u32::try_from(body.len().clamp(1, DECODE_BUDGET)).unwrap_or(u32::MAX);
            let _budget = DECODING.acquire_many(weight).await;
            w.admit(content_type, &body).await
        }
        Err(e) => rejected(
            &Rejected {
                status: e.status().as_u16(),
                api_version: review::VERSIONS[0].to_string(),
                uid: String::new(),
                message: format!("cannot read the body ({MAX_BODY} bytes at most): {e}"),
            },
            "rejected",
        ),
    };
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

/// The plain-HTTP routes of upstream's `--metrics-port`: `/metrics`,
/// `/healthz`, `/readyz`.
pub fn metrics_router(webhook: Arc<Webhook>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(webhook)
}

/// Serves [`metrics_router`] over plain HTTP on `listener`.
pub async fn serve_metrics(listener: tokio::net::TcpListener, webhook: Arc<Webhook>) {
    if let Err(e) = axum::serve(listener, metrics_router(webhook)).await {
        tracing::error!(error = %e, "metrics port");
    }
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
        // Bodies in memory at once: at most MAX_IN_FLIGHT × MAX_BODY.
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            MAX_IN_FLIGHT,
        ))
        .with_state(webhook)
}

/// TLS as [`listen`]'s handshake: the protocol is the one ALPN settled on,
/// with no sniffing of the first bytes.
#[derive(Clone)]
struct Tls(tokio_rustls::TlsAcceptor);

impl listen::Handshake for Tls {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    async fn handshake(
        &self,
        tcp: tokio::net::TcpStream,
    ) -> std::io::Result<(Self::Io, listen::Protocol)> {
        let tls = self.0.accept(tcp).await?;
        let protocol = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
            listen::Protocol::Http2
        } else {
            listen::Protocol::Http1
        };
        Ok((tls, protocol))
    }
}

/// The webhook's connection limits: the API server is its only client, from
/// a handful of addresses, so one address may hold a quarter of the budget.
pub fn limits() -> listen::Limits {
    listen::Limits {
        max_connections: MAX_CONNECTIONS,
        per_address: MAX_CONNECTIONS / 4,
        handshake_timeout: TIMEOUT,
        pressured_timeout: PRESSURED_TIMEOUT,
        header_timeout: TIMEOUT,
        drain: DRAIN,
    }
    .fitted_to_file_limit()
}

/// Serves `app` over TLS on `listener` until `shutdown` completes (ctrl-c
/// or SIGTERM in `irsa webhook`), then stops accepting and lets requests in
/// flight finish (at most [`DRAIN`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    certificate: Arc<Certificate>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(certificate.server_config()?));
    let gate = listen::Gate::new(limits());
    listen::serve(listener, gate, Tls(acceptor), app, shutdown)
        .await
        .map_err(|e| e.to_string())
}
