//! Test harness: a webhook over real HTTPS (rustls, certificates made by
//! rcgen), and a small Kubernetes API server that answers ServiceAccount
//! GET and list+watch as the real one does (metadata-only objects).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use webhook::cache::Cache;
use webhook::metrics::Metrics;
use webhook::server::Webhook;
use webhook::settings::Settings;

/// A self-signed certificate for 127.0.0.1 and localhost: (cert PEM, key PEM).
pub fn certificate() -> (String, String) {
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    (c.cert.pem(), c.signing_key.serialize_pem())
}

pub fn write_certificate(dir: &Path, pair: &(String, String)) -> (PathBuf, PathBuf) {
    let cert = dir.join("tls.crt");
    let key = dir.join("tls.key");
    // Replaced the way a Secret volume is: new files renamed into place.
    std::fs::write(dir.join("tls.crt.new"), &pair.0).unwrap();
    std::fs::write(dir.join("tls.key.new"), &pair.1).unwrap();
    std::fs::rename(dir.join("tls.key.new"), &key).unwrap();
    std::fs::rename(dir.join("tls.crt.new"), &cert).unwrap();
    (cert, key)
}

/// An HTTPS client trusting only `cert_pem`.
pub fn client(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub struct Running {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub cert: (String, String),
    pub webhook: Arc<Webhook>,
}

/// Starts a webhook over HTTPS on a free port.
pub async fn start(
    settings: Settings,
    cache: Arc<Cache>,
    client: Option<kube::Client>,
    wait: Duration,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let pair = certificate();
    let (cert, key) = write_certificate(dir.path(), &pair);
    let certificate = webhook::tls::Certificate::open(&cert, &key).unwrap();
    tokio::spawn(certificate.clone().follow());
    let hook = Arc::new(Webhook {
        settings,
        cache,
        client,
        lookup_wait: wait,
        metrics: Arc::new(Metrics::default()),
        inflight: Default::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(webhook::server::serve_tls(
        listener,
        certificate,
        webhook::server::router(hook.clone()),
        std::future::pending(),
    ));
    Running {
        url: format!("https://127.0.0.1:{}", addr.port()),
        dir,
        cert: pair,
        webhook: hook,
    }
}

/// An AdmissionReview of a pod creation.
pub fn review(api_version: &str, uid: &str, namespace: &str, pod: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "namespace": namespace,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
        },
    })
}

pub fn pod(service_account: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "app-"},
           "spec": {"serviceAccountName": service_account, "containers": [{"name": "app", "image": "amazon/aws-cli"}]}})
}

/// Applies the patch of an allowing answer to `pod`.
pub fn patched(pod: &Value, answer: &Value) -> Value {
    use base64::Engine;
    let mut out = pod.clone();
    if let Some(b64) = answer["response"]["patch"].as_str() {
        assert_eq!(answer["response"]["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let p: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        json_patch::patch(&mut out, &p).unwrap();
    }
    out
}

/// A ServiceAccount as the API stores it.
pub fn service_account(
    namespace: &str,
    name: &str,
    rv: u64,
    annotations: &[(&str, &str)],
) -> Value {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv.to_string(),
                        "uid": format!("uid-{namespace}-{name}"), "annotations": annotations}})
}

fn as_metadata(sa: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": sa["metadata"]})
}

/// The fake API server's state.
#[derive(Clone)]
pub struct FakeApi {
    /// ServiceAccounts the list answers with.
    pub listed: Arc<Mutex<Vec<Value>>>,
    /// ServiceAccounts a GET finds (a superset: created after the list).
    pub stored: Arc<Mutex<Vec<Value>>>,
    /// Delay before a GET answers.
    pub get_delay: Arc<Mutex<Duration>>,
    /// GETs served.
    pub gets: Arc<Mutex<Vec<String>>>,
    /// Watch events pushed to every open watch.
    pub events: broadcast::Sender<Value>,
    /// `data.config` of ConfigMap pod-identity-webhook, if it exists.
    pub config_map: Arc<Mutex<Option<String>>>,
}

impl FakeApi {
    pub fn new() -> FakeApi {
        FakeApi {
            listed: Arc::default(),
            stored: Arc::default(),
            get_delay: Arc::default(),
            gets: Arc::default(),
            events: broadcast::channel(64).0,
            config_map: Arc::default(),
        }
    }

    /// Serves the API on plain HTTP; returns a kubeconfig file for it.
    pub async fn serve(&self, dir: &Path) -> (SocketAddr, PathBuf) {
        let app = Router::new()
            .route("/api/v1/serviceaccounts", get(list_or_watch))
            .route(
                "/api/v1/namespaces/{ns}/serviceaccounts/{name}",
                get(get_one),
            )
            .route("/api/v1/namespaces/{ns}/configmaps", get(config_maps))
            .fallback(|uri: axum::http::Uri| async move {
                eprintln!("fake API: no route for {uri}");
                StatusCode::NOT_FOUND
            })
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
                 users:\n- name: tester\n  user:\n    token: test-token\n\
                 contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\ncurrent-context: fake\n"
            ),
        )
        .unwrap();
        (addr, kubeconfig)
    }
}

async fn list_or_watch(
    State(api): State<FakeApi>,
    headers: axum::http::HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    // The webhook asks for metadata only, never whole objects.
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        accept.contains("as=PartialObjectMetadata"),
        "Accept: {accept}"
    );
    if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
        let rx = api.events.subscribe();
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(event) => {
                    let mut line = serde_json::to_vec(&event).unwrap();
                    line.push(b'\n');
                    Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(line)), rx))
                }
                Err(_) => None,
            }
        });
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    let items: Vec<Value> = api.listed.lock().unwrap().iter().map(as_metadata).collect();
    axum::Json(
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                      "metadata": {"resourceVersion": "100"}, "items": items}),
    )
    .into_response()
}

async fn config_maps(
    State(api): State<FakeApi>,
    UrlPath(ns): UrlPath<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
        // A watch with nothing to say: held open.
        let stream = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    assert_eq!(
        q.get("fieldSelector").map(String::as_str),
        Some("metadata.name=pod-identity-webhook")
    );
    let items: Vec<Value> = api
        .config_map
        .lock()
        .unwrap()
        .iter()
        .map(|config| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "pod-identity-webhook", "namespace": ns, "resourceVersion": "7"},
                   "data": {"config": config}})
        })
        .collect();
    axum::Json(json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "7"}, "items": items}))
        .into_response()
}

async fn get_one(
    State(api): State<FakeApi>,
    UrlPath((ns, name)): UrlPath<(String, String)>,
) -> Response {
    api.gets.lock().unwrap().push(format!("{ns}/{name}"));
    let delay = *api.get_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let found = api
        .stored
        .lock()
        .unwrap()
        .iter()
        .find(|sa| {
            sa["metadata"]["namespace"] == ns.as_str() && sa["metadata"]["name"] == name.as_str()
        })
        .cloned();
    match found {
        Some(sa) => axum::Json(as_metadata(&sa)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": format!("serviceaccounts \"{name}\" not found"), "reason": "NotFound",
                              "details": {"name": name, "kind": "serviceaccounts"}, "code": 404})),
        )
            .into_response(),
    }
}

/// Polls `check` until it holds (at most 10 s).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
