//! Local clusters: issuers of ServiceAccount tokens that irsa runs itself, for
//! development and CI. Each has an RSA-2048 signing key and the issuer URL
//! `PUBLIC_URL/oidc/id/<32 upper-hex>`, whose discovery document and JWKS this
//! server publishes.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use oidc::{Jwks, ServiceAccountToken, SigningKey};
use store::{Cluster, ClusterKey, OidcProvider, Store, StoreError};

use crate::error::ApiError;
use crate::state::State;

/// The audience a ServiceAccount token for IRSA carries, and the client id
/// `associate-oidc-provider` registers.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// The cluster a fresh data dir starts with.
pub const DEFAULT_CLUSTER: &str = "my-cluster";
/// Longest lifetime `irsa token` mints (7 days), so retired keys stay published
/// as long as any of their tokens lives.
pub const MAX_TOKEN_SECONDS: i64 = 7 * 86_400;

/// The issuer URL of a cluster.
pub fn issuer_url(public_url: &str, cluster: &Cluster) -> String {
    format!(
        "{}/oidc/id/{}",
        public_url.trim_end_matches('/'),
        cluster.issuer_id
    )
}

/// Whether `name` is a valid cluster name (EKS: 1–100 of `[0-9A-Za-z][A-Za-z0-9\-_]*`).
pub fn valid_name(name: &str) -> bool {
    name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn key_record(key: &SigningKey, now: i64) -> Result<ClusterKey, String> {
    Ok(ClusterKey {
        kid: key.kid().to_string(),
        pkcs8: key.to_pkcs8()?,
        created: now,
        retired: None,
    })
}

/// Creates a cluster with a new signing key.
pub fn create_cluster(
    store: &dyn Store,
    name: &str,
    account: &str,
    region: &str,
) -> Result<Cluster, String> {
    if !valid_name(name) {
        return Err(format!(
            "cluster name `{name}` is not valid: 1-100 letters, digits, `-` or `_`, starting with a letter or digit"
        ));
    }
    let id: [u8; 16] = store::random_bytes().map_err(|e| e.to_string())?;
    let cluster = Cluster {
        name: name.to_string(),
        issuer_id: id.iter().map(|b| format!("{b:02X}")).collect(),
        account: account.to_string(),
        region: region.to_string(),
        created: crate::time::now(),
    };
    let key = SigningKey::generate()?;
    match store.insert_cluster(&cluster, &key_record(&key, cluster.created)?) {
        Ok(()) => Ok(cluster),
        Err(StoreError::AlreadyExists) => Err(format!("cluster `{name}` already exists")),
        Err(e) => Err(e.to_string()),
    }
}

/// A cluster by name, or an error that says which exist.
pub fn find_cluster(store: &dyn Store, name: &str) -> Result<Cluster, String> {
    match store.cluster(name).map_err(|e| e.to_string())? {
        Some(c) => Ok(c),
        None => {
            let names: Vec<String> = store
                .clusters()
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|c| c.name)
                .collect();
            Err(format!(
                "no cluster named `{name}` (clusters: {})",
                names.join(", ")
            ))
        }
    }
}

/// Replaces the signing key; the old one stays published until its tokens
/// expire, or, with `revoke_previous` (a key compromise), is deleted at once:
/// `irsa serve` stops accepting its tokens within a second (how long it
/// caches a local cluster's keys).
pub fn rotate_key(store: &dyn Store, name: &str, revoke_previous: bool) -> Result<String, String> {
    find_cluster(store, name)?;
    let key = SigningKey::generate()?;
    store
        .rotate_cluster_key(
            name,
            &key_record(&key, crate::time::now())?,
            revoke_previous,
        )
        .map_err(|e| e.to_string())?;
    Ok(key.kid().to_string())
}

/// The current signing key of a cluster.
pub fn current_key(store: &dyn Store, name: &str) -> Result<SigningKey, String> {
    let keys = store.cluster_keys(name).map_err(|e| e.to_string())?;
    let current = keys
        .iter()
        .find(|k| k.retired.is_none())
        .ok_or_else(|| format!("cluster `{name}` has no current key"))?;
    SigningKey::from_pkcs8(&current.pkcs8)
}

/// Registers the cluster's issuer as an IAM OIDC provider of `account` with
/// client id `sts.amazonaws.com` (what `eksctl utils associate-iam-oidc-provider`
/// does). Idempotent: returns the ARN and whether anything changed.
pub fn associate_provider(
    store: &dyn Store,
    public_url: &str,
    cluster: &Cluster,
    account: &str,
) -> Result<(String, bool), String> {
    let url = issuer_url(public_url, cluster);
    let key = crate::iam::provider_key(&url).map_err(|e| e.message().to_string())?;
    let arn = format!("arn:aws:iam::{account}:oidc-provider/{key}");
    match store.oidc_provider(&arn).map_err(|e| e.to_string())? {
        Some(mut p) => {
            if p.client_ids.iter().any(|c| c == STS_AUDIENCE) {
                return Ok((arn, false));
            }
            p.client_ids.push(STS_AUDIENCE.to_string());
            store.update_oidc_provider(&p).map_err(|e| e.to_string())?;
            Ok((arn, true))
        }
        None => {
            store
                .insert_oidc_provider(&OidcProvider {
                    arn: arn.clone(),
                    account: account.to_string(),
                    url,
                    client_ids: vec![STS_AUDIENCE.to_string()],
                    thumbprints: Vec::new(),
                    tags: Vec::new(),
                    created: crate::time::now(),
                })
                .map_err(|e| e.to_string())?;
            Ok((arn, true))
        }
    }
}

/// What `irsa token` asks for.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// ServiceAccount.
    pub service_account: &'a str,
    /// Audiences.
    pub audiences: &'a [String],
    /// Lifetime in seconds (600 to 7 days).
    pub expiration_seconds: i64,
    /// Pod name, if the token is bound to one.
    pub pod: Option<&'a str>,
}

/// Mints a ServiceAccount token of a local cluster.
pub fn mint_token(
    store: &dyn Store,
    public_url: &str,
    cluster: &Cluster,
    req: &TokenRequest<'_>,
) -> Result<String, String> {
    if !(600..=MAX_TOKEN_SECONDS).contains(&req.expiration_seconds) {
        return Err(format!(
            "--expiration-seconds must be between 600 and {MAX_TOKEN_SECONDS}, not {}",
            req.expiration_seconds
        ));
    }
    let key = current_key(store, &cluster.name)?;
    key.service_account_token(&ServiceAccountToken {
        issuer: &issuer_url(public_url, cluster),
        namespace: req.namespace,
        service_account: req.service_account,
        audiences: req.audiences,
        issued_at: crate::time::now(),
        expiration_seconds: req.expiration_seconds,
        pod: req.pod,
    })
}

fn json(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=60"),
    );
    r
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such issuer\n").into_response()
}

/// `GET /oidc/id/{id}/.well-known/openid-configuration`.
pub(crate) async fn discovery(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    Path(id): Path<String>,
) -> Response {
    match state.store.cluster_by_issuer(&id) {
        Ok(Some(c)) => {
            let issuer = issuer_url(&state.public_url, &c);
            json(oidc::discovery_document(&issuer, &format!("{issuer}/keys")))
        }
        Ok(None) => not_found(),
        Err(e) => {
            let _ = ApiError::internal(e);
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /oidc/id/{id}/keys`: the JWKS.
pub(crate) async fn jwks(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    Path(id): Path<String>,
) -> Response {
    match crate::issuers::local_keys(&state, &id, crate::time::now()) {
        Ok(keys) => json(Jwks { keys }.to_json()),
        Err(_) => not_found(),
    }
}
