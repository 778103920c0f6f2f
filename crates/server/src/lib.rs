//! irsa's AWS-compatible endpoint.
//!
//! One listener serves every service: a request's SigV4 credential scope names
//! the service (`iam`, `sts`, `eks`, `cloudtrail`), its `Action` (or path, or
//! `X-Amz-Target`) the operation. Each request is authenticated (`auth`),
//! authorized by the policy engine, answered in AWS's wire format (`protocol`)
//! with AWS's error codes, and — for IAM and STS — recorded in the audit trail
//! before the answer leaves (`audit`). The same listener publishes local
//! clusters' OIDC discovery and keys, `/healthz` and `/metrics`.

mod audit;
mod auth;
mod aws_managed;
mod cloudtrail;
pub mod clusters;
pub mod doctor;
mod eks;
mod error;
mod iam;
mod ids;
mod issuers;
mod metrics;
mod protocol;
mod s3_gate;
mod session;
pub mod setup;
mod state;
mod sts;
mod time;
mod validate;

/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing {
    /// Parses `query` and `body` as the Query protocol does, and reads every
    /// list and tag structure they name.
    pub fn query_protocol(query: &str, body: &[u8]) {
        let Ok(params) = crate::protocol::query::request_params(query, body) else {
            return;
        };
        for (name, _) in params.pairs() {
            let base = name.split(".member.").next().unwrap_or_default();
            let _ = params.list(base);
            let _ = params.tags(base);
            let _ = params.get(name);
        }
    }
}

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use audit::{AuditConfig, Auditor, expire as expire_audit_events};
pub use auth::Origin;
pub use error::ApiError;
pub use state::State;

use protocol::query::{Params, request_params};
use protocol::xml;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 1 << 20;
/// Longest a request may take before it is answered with an error. S3 is
/// exempt — a large upload may take long — and bounded instead by
/// [`s3::IDLE_TIMEOUT`] between pieces of its body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The router: `/healthz` and the AWS protocol endpoint on every other path.
pub fn app(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route(
            "/oidc/id/{id}/.well-known/openid-configuration",
            get(clusters::discovery),
        )
        .route("/oidc/id/{id}/keys", get(clusters::jwks))
        .route(
            "/metrics",
            get(
                |axum::extract::State(state): axum::extract::State<Arc<State>>| async move {
                    metrics::render(&state.issuers.ages(), state.gate.get().map(|g| &**g))
                },
            ),
        )
        .route_layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .fallback(aws_endpoint)
        .with_state(state)
}

/// `/readyz`: 200 when calls can be answered, else 503 naming why — the store
/// cannot be read, or the audit trail's
/// last commit failed (calls it cannot audit are refused). `/healthz` only
/// says the process runs.
async fn readyz(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
) -> (StatusCode, String) {
    let mut trouble = Vec::new();
    if let Err(e) = state.store.accounts() {
        trouble.push(format!("the store cannot be read: {e}"));
    }
    if let Some(why) = state.auditor.as_ref().and_then(audit::Auditor::trouble) {
        trouble.push(format!("the audit trail cannot be written: {why}"));
    }
    if trouble.is_empty() {
        (StatusCode::OK, "ok\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", trouble.join("\n")),
        )
    }
}

/// Creates an account with its root access key in `store`; returns the key id
/// and secret.
pub fn create_account(store: &dyn store::Store, id: &str) -> Result<(String, String), ApiError> {
    let key_id = ids::access_key_id("AKIA")?;
    let secret = ids::secret_access_key()?;
    let now = time::now();
    store
        .create_account(
            &store::Account {
                id: id.to_string(),
                created: now,
            },
            &store::AccessKey {
                id: key_id.clone(),
                account: id.to_string(),
                secret: secret.clone(),
                created: now,
            },
        )
        .map_err(|e| match e {
            store::StoreError::AlreadyExists => {
                ApiError::already_exists(format!("Account {id} already exists."))
            }
            other => ApiError::from(other),
        })?;
    Ok((key_id, secret))
}

/// The answer to "Action X does not exist in version V".
pub(crate) fn invalid_action(action: &str, version: &str) -> ApiError {
    ApiError::new(
        "InvalidAction",
        StatusCode::BAD_REQUEST,
        format!("Could not find operation {action} for version {version}"),
    )
}

/// What an AWS endpoint request is answered with.
enum Reply {
    /// Query protocol: XML in a service's namespace.
    Xml {
        namespace: &'static str,
        action: String,
        result: Result<Option<xml::Xml>, ApiError>,
    },
    /// REST-JSON (EKS).
    Json(eks::JsonReply),
}

fn xml_error(namespace: &'static str, action: &str, e: ApiError) -> Reply {
    Reply::Xml {
        namespace,
        action: action.to_string(),
        result: Err(e),
    }
}

async fn aws_endpoint(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    request: Request,
) -> Response {
    let request_id = ids::request_id();
    let started = std::time::Instant::now();
    let origin = Origin {
        source_ip: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        secure: false,
    };
    if s3_gate::is_s3(&state, &request) {
        let (response, outcome) =
            s3_gate::serve(Arc::clone(&state), request, origin, request_id.clone()).await;
        metrics::request("s3", outcome.operation, outcome.error, started.elapsed());
        return response;
    }
    match tokio::time::timeout(
        REQUEST_TIMEOUT,
        query_endpoint(&state, request, &origin, &request_id, started),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The Query-protocol and REST-JSON services, whose bodies are small.
async fn query_endpoint(
    state: &State,
    request: Request,
    origin: &Origin,
    request_id: &str,
    started: std::time::Instant,
) -> Response {
    let (parts, body) = request.into_parts();
    let reply = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => dispatch(state, &parts, &body, origin, request_id).await,
        Err(_) => xml_error(
            iam::NAMESPACE,
            "",
            ApiError::new(
                "RequestEntityTooLarge",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body must be at most {BODY_LIMIT} bytes."),
            ),
        ),
    };
    let service_label = match &reply {
        Reply::Xml { namespace, .. } if *namespace == sts::NAMESPACE => "sts",
        Reply::Xml { .. } => "iam",
        Reply::Json(j) => j.service,
    };
    let (status, body, content_type, error_type, action) = match reply {
        Reply::Xml {
            namespace,
            action,
            result: Ok(result),
        } => (
            StatusCode::OK,
            xml::response(namespace, &action, request_id, result),
            "text/xml",
            None,
            action,
        ),
        Reply::Xml {
            namespace,
            action,
            result: Err(e),
        } => (
            e.status(),
            xml::error(
                namespace,
                e.is_sender_fault(),
                e.code(),
                e.message(),
                request_id,
            ),
            "text/xml",
            Some(e.code()),
            action,
        ),
        Reply::Json(j) => (
            j.status,
            j.body,
            "application/json",
            j.error_type,
            String::new(),
        ),
    };
    metrics::request(service_label, &action, error_type, started.elapsed());
    tracing::debug!(
        request_id = %request_id,
        action = %action,
        status = status.as_u16(),
        error = error_type.unwrap_or(""),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    if let Some(t) = error_type.filter(|_| content_type == "application/json") {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(t));
    }
    response
}

async fn dispatch(
    state: &State,
    parts: &axum::http::request::Parts,
    body: &[u8],
    origin: &Origin,
    request_id: &str,
) -> Reply {
    let query = parts.uri.query().unwrap_or("");
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let path = parts.uri.path();
    let method = parts.method.as_str();
    let sig_request = sigv4::HttpRequest {
        method,
        path,
        query,
        headers: &headers,
        body,
    };
    let params = match request_params(query, body) {
        Ok(p) => p,
        Err(e) => return xml_error(iam::NAMESPACE, "", e),
    };
    let action = params.action().unwrap_or_default().to_string();
    let now = time::now();
    let signed =
        parts.headers.contains_key(header::AUTHORIZATION) || query.contains("X-Amz-Signature");
    if !signed && sts::is_unsigned(&action) {
        let result = match params.get("Version") {
            Some(sts::VERSION) => sts::handle(state, &action, &params, None, origin, now).await,
            other => Err(invalid_action(&action, other.unwrap_or_default())),
        };
        let result = audited(
            state, "sts", &action, &params, None, origin, request_id, now, result,
        )
        .await;
        return Reply::Xml {
            namespace: sts::NAMESPACE,
            action,
            result,
        };
    }
    let (caller, service) = match auth::authenticate(state, &sig_request, now) {
        Ok(found) => found,
        Err(e) => {
            let namespace = if params.get("Version") == Some(sts::VERSION) {
                sts::NAMESPACE
            } else {
                iam::NAMESPACE
            };
            return xml_error(namespace, &action, e);
        }
    };
    let (namespace, version) = match service.as_str() {
        "iam" => (iam::NAMESPACE, iam::VERSION),
        "sts" => (sts::NAMESPACE, sts::VERSION),
        "eks" => return Reply::Json(eks::handle(state, method, path, &caller, origin, now)),
        "cloudtrail" => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok());
            return Reply::Json(cloudtrail::handle(
                state, target, body, &caller, origin, now,
            ));
        }
        other => {
            return xml_error(
                iam::NAMESPACE,
                &action,
                ApiError::new(
                    "SignatureDoesNotMatch",
                    StatusCode::FORBIDDEN,
                    format!("Credential should be scoped to correct service: '{other}'. "),
                ),
            );
        }
    };
    let call = Signed {
        state,
        service: &service,
        action: &action,
        params: &params,
        caller: &caller,
        origin,
        request_id,
        now,
    };
    let result = if service == "iam"
        && params.get("Version") == Some(iam::VERSION)
        && params.action().is_some_and(iam::changes_state)
    {
        call.change().await
    } else {
        let result = run(state, &service, &params, &caller, origin, version, now).await;
        call.audited(result).await
    };
    Reply::Xml {
        namespace,
        action,
        result,
    }
}

/// A signed call, as its handler and the audit trail see it.
struct Signed<'a> {
    state: &'a State,
    service: &'a str,
    action: &'a str,
    params: &'a Params,
    caller: &'a auth::Caller,
    origin: &'a Origin,
    request_id: &'a str,
    now: i64,
}

impl Signed<'_> {
    /// The call's audit event, for its answer.
    fn event(&self, outcome: Result<&str, &ApiError>) -> store::AuditEvent {
        audit::event(&audit::Call {
            service: self.service,
            action: self.action,
            params: self.params,
            caller: Some(self.caller),
            origin: self.origin,
            request_id: self.request_id,
            now: self.now,
            outcome,
        })
    }

    /// [`audited`] for this call.
    async fn audited(
        &self,
        result: Result<Option<xml::Xml>, ApiError>,
    ) -> Result<Option<xml::Xml>, ApiError> {
        audited(
            self.state,
            self.service,
            self.action,
            self.params,
            Some(self.caller),
            self.origin,
            self.request_id,
            self.now,
            result,
        )
        .await
    }

    /// An IAM call that changes state, as one store transaction: it reads
    /// what it checks, decides, writes and stages its audit event together,
    /// so an acknowledged change is stored with its event whatever runs beside
    /// it, and a refused or failed one changes nothing (its event, a failure,
    /// goes to the trail as any other).
    async fn change(&self) -> Result<Option<xml::Xml>, ApiError> {
        let state = self.state;
        let mut answer = None;
        let mut staged = None;
        // Events of earlier changes that the trail now holds leave the outbox
        // in this transaction, which writes anyway.
        let appended = state
            .auditor
            .as_ref()
            .map(audit::Auditor::take_appended)
            .unwrap_or_default();
        let mut dropped = false;
        let written = state.store.write(&mut |tx| {
            staged = None;
            dropped = false;
            let result = iam::handle(
                state,
                tx,
                self.action,
                self.params,
                self.caller,
                self.origin,
                self.now,
            );
            let finish = match &result {
                Err(_) => store::Finish::Rollback,
                Ok(x) if state.auditor.is_some() => {
                    let event =
                        self.event(Ok(x.as_ref().map(xml::Xml::as_str).unwrap_or_default()));
                    tx.stage_event(&event)?;
                    tx.unstage_events(&appended)?;
                    dropped = true;
                    staged = Some(event);
                    store::Finish::Commit
                }
                Ok(_) => store::Finish::Commit,
            };
            answer = Some(result);
            Ok(finish)
        });
        if let (Some(auditor), false) = (&state.auditor, dropped && written.is_ok()) {
            auditor.give_back(appended);
        }
        let failed = match (written, answer) {
            (Ok(()), Some(Ok(x))) => {
                if let (Some(auditor), Some(event)) = (&state.auditor, staged) {
                    auditor.record_staged(event).await;
                }
                return Ok(x);
            }
            (Ok(()), Some(Err(e))) => e,
            (Err(e), _) => ApiError::from(e),
            (Ok(()), None) => ApiError::internal("a write transaction ran no work"),
        };
        self.audited(Err(failed)).await
    }
}

/// Records the call in the audit trail and waits for it to be durable; if
/// that fails, the answer becomes an internal failure (fail closed: nothing,
/// least of all credentials, is answered unrecorded).
#[allow(clippy::too_many_arguments)]
async fn audited(
    state: &State,
    service: &str,
    action: &str,
    params: &Params,
    caller: Option<&auth::Caller>,
    origin: &Origin,
    request_id: &str,
    now: i64,
    result: Result<Option<xml::Xml>, ApiError>,
) -> Result<Option<xml::Xml>, ApiError> {
    let Some(auditor) = &state.auditor else {
        return result;
    };
    let rendered = match &result {
        Ok(x) => Ok(x.as_ref().map(xml::Xml::as_str).unwrap_or_default()),
        Err(e) => Err(e),
    };
    let event = audit::event(&audit::Call {
        service,
        action,
        params,
        caller,
        origin,
        request_id,
        now,
        outcome: rendered,
    });
    match auditor.record(event).await {
        Ok(()) => result,
        Err(e) => Err(e),
    }
}

async fn run(
    state: &State,
    service: &str,
    params: &Params,
    caller: &auth::Caller,
    origin: &Origin,
    version: &str,
    now: i64,
) -> Result<Option<xml::Xml>, ApiError> {
    let Some(action) = params.action() else {
        return Err(ApiError::new(
            "MissingAction",
            StatusCode::BAD_REQUEST,
            "The request is missing an action or a required parameter.",
        ));
    };
    let given = params.get("Version").unwrap_or_default();
    if given != version {
        return Err(invalid_action(action, given));
    }
    match service {
        "iam" => iam::handle(
            state,
            state.store.as_ref(),
            action,
            params,
            caller,
            origin,
            now,
        ),
        _ => sts::handle(state, action, params, Some(caller), origin, now).await,
    }
}

/// Serves `app` on `listener` until ctrl-c or SIGTERM, within the default
/// connection limits fitted to the open-file limit.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) -> std::io::Result<()> {
    serve_within(
        listener,
        state,
        listen::Limits::default().fitted_to_file_limit(),
    )
    .await
}

/// Serves `app` on `listener` until ctrl-c or SIGTERM, within `limits`.
pub async fn serve_within(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    limits: listen::Limits,
) -> std::io::Result<()> {
    let gate = listen::Gate::new(limits);
    let _ = state.gate.set(Arc::clone(&gate));
    listen::serve(listener, gate, listen::Plain, app(state), shutdown_signal()).await
}

/// Completes on ctrl-c or SIGTERM (what Kubernetes sends before a kill).
pub async fn shutdown_signal() {
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
