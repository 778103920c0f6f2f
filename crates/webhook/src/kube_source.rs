//! ServiceAccounts (and the ConfigMap) from the Kubernetes API with kube-rs:
//! a metadata-only list+watch of ServiceAccounts (the API server sends
//! `PartialObjectMetadata`, not whole objects), and a GET of a single
//! ServiceAccount when a pod names one the cache has not seen yet.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{Api, ObjectMeta, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use crate::annotations::AccountConfig;
use crate::cache::{Account, Cache};

/// The ConfigMap ConfigMap mode reads, as upstream.
pub const CONFIG_MAP: &str = "pod-identity-webhook";

/// Where the API is: `--kubeconfig` (else in-cluster, else the default
/// kubeconfig), and upstream's `--kube-api` to override its URL.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    /// `--kubeconfig`.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `--kube-api`.
    pub api: Option<String>,
}

/// A client for the API `connect` names.
pub async fn client(connect: &Connect) -> Result<kube::Client, String> {
    let mut config = match connect.kubeconfig.as_deref() {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("--kubeconfig `{}`: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| format!("--kubeconfig `{}`: {e}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("no Kubernetes API configuration: {e}"))?,
    };
    if let Some(api) = &connect.api {
        config.cluster_url = api
            .parse()
            .map_err(|e| format!("--kube-api `{api}`: {e}"))?;
    }
    kube::Client::try_from(config).map_err(|e| format!("Kubernetes client: {e}"))
}

fn account(meta: &ObjectMeta, prefix: &str) -> Option<(String, String, Account)> {
    let annotations = meta
        .annotations
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    Some((
        meta.namespace.clone()?,
        meta.name.clone()?,
        Account {
            resource_version: meta.resource_version.as_deref().unwrap_or_default().into(),
            config: Arc::new(AccountConfig::from_annotations(prefix, annotations)),
        },
    ))
}

/// Lists and watches every ServiceAccount into `cache`, forever (with the
/// watcher's backoff on errors; a relist replaces the cache when complete).
pub async fn watch_service_accounts(
    client: kube::Client,
    cache: Arc<Cache>,
    prefix: String,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let api: Api<PartialObjectMeta<ServiceAccount>> = Api::all(client);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
    futures_util::pin_mut!(stream);
    // A (re)list builds a new set, installed whole when complete.
    let mut listing = crate::cache::Accounts::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => {
                listing = crate::cache::Accounts::new();
                cache.begin_list();
            }
            Ok(Event::InitApply(o)) => {
                if let Some((ns, name, a)) = account(&o.metadata, &prefix) {
                    listing.insert(crate::cache::key(&ns, &name), a);
                }
            }
            Ok(Event::InitDone) => {
                let n = listing.len();
                cache.install(std::mem::take(&mut listing));
                tracing::info!(service_accounts = n, "ServiceAccount cache synced");
            }
            Ok(Event::Apply(o)) => {
                if let Some((ns, name, a)) = account(&o.metadata, &prefix) {
                    cache.upsert(&ns, &name, a);
                }
            }
            Ok(Event::Delete(o)) => {
                if let (Some(ns), Some(name)) = (&o.metadata.namespace, &o.metadata.name) {
                    cache.remove(ns, name);
                }
            }
            Err(e) => {
                metrics.watch_error();
                tracing::warn!(error = %e, "ServiceAccount watch");
            }
        }
    }
}

/// Runs [`watch_service_accounts`] on a thread of its own, with its own
/// client and single-threaded runtime. The initial list allocates and frees
/// a few hundred bytes per ServiceAccount; on one thread the allocator
/// reuses that memory page after page, where spread over the server's
/// workers it was kept (measured: 96.8 MB peak RSS with 50,000
/// ServiceAccounts, see bench/RESULTS.md).
pub fn spawn_watch_thread(
    connect: Connect,
    cache: Arc<Cache>,
    prefix: String,
    metrics: Arc<crate::metrics::Metrics>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the watch runtime: {e}"))?;
    std::thread::Builder::new()
        .name("irsa-sa-watch".into())
        .spawn(move || {
            runtime.block_on(async move {
                // The server already made a client from the same settings;
                // a failure here is transient (say, an unreadable token file
                // mid-rotation): retry, never give up on the watch.
                let mut wait = std::time::Duration::from_millis(500);
                loop {
                    match client(&connect).await {
                        Ok(c) => return watch_service_accounts(c, cache, prefix, metrics).await,
                        Err(e) => {
                            metrics.watch_error();
                            tracing::error!(error = %e, "ServiceAccount watch: no client yet");
                        }
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(30));
                }
            });
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the watch thread: {e}"))
}

/// Why a ServiceAccount could not be fetched.
#[derive(Debug, Clone)]
pub enum FetchError {
    /// No answer within the wait.
    Timeout,
    /// The API answered with an error.
    Api(String),
}

/// GETs one ServiceAccount (metadata only) within `wait`; `Ok(None)` when
/// it does not exist. A found one is cached.
async fn fetch(
    client: &kube::Client,
    cache: &Cache,
    namespace: &str,
    name: &str,
    prefix: &str,
    wait: Duration,
) -> Result<Option<Arc<AccountConfig>>, FetchError> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let found = tokio::time::timeout(wait, api.get_metadata_opt(name))
        .await
        .map_err(|_| FetchError::Timeout)?
        .map_err(|e| FetchError::Api(e.to_string()))?;
    let Some(meta) = found else { return Ok(None) };
    let Some((ns, n, a)) = account(&meta.metadata, prefix) else {
        return Err(FetchError::Api(
            "the ServiceAccount has no name or namespace".into(),
        ));
    };
    let config = a.config.clone();
    cache.upsert(&ns, &n, a);
    Ok(Some(config))
}

type Fetched = Result<Option<Arc<AccountConfig>>, FetchError>;

/// Fetches in progress, by ServiceAccount: a burst of pods for a new
/// ServiceAccount (a Deployment scaled up just after it was created) makes
/// one GET, not one per pod.
#[derive(Debug, Default)]
pub struct Inflight(std::sync::Mutex<Waiters>);

type Waiters = std::collections::HashMap<Box<str>, tokio::sync::broadcast::Sender<Fetched>>;

impl Inflight {
    fn map(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`fetch`], shared with every concurrent request for the same
    /// ServiceAccount.
    pub async fn fetch(
        &self,
        client: &kube::Client,
        cache: &Cache,
        namespace: &str,
        name: &str,
        prefix: &str,
        wait: Duration,
    ) -> Fetched {
        let key = crate::cache::key(namespace, name);
        let waiting = {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match map.get(&key) {
                Some(tx) => Some(tx.subscribe()),
                None => {
                    map.insert(key.clone(), tokio::sync::broadcast::channel(1).0);
                    None
                }
            }
        };
        if let Some(mut rx) = waiting {
            return match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) | Err(_) => Err(FetchError::Timeout),
            };
        }
        let result = fetch(client, cache, namespace, name, prefix, wait).await;
        let tx = self.map().remove(&key);
        if let Some(tx) = tx {
            let _ = tx.send(result.clone());
        }
        result
    }
}

/// Watches ConfigMap `pod-identity-webhook` in `namespace` (ConfigMap
/// mode): its `data.config` roles replace the cache's on every change; a
/// deleted ConfigMap means none.
pub async fn watch_config_map(client: kube::Client, namespace: String, cache: Arc<Cache>) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP}"));
    let stream = watcher::watcher(api, config).default_backoff();
    futures_util::pin_mut!(stream);
    // A (re)list that finds no ConfigMap means it was deleted meanwhile.
    let mut listed = false;
    while let Some(event) = stream.next().await {
        let apply = |cm: &ConfigMap| {
            let text = cm
                .data
                .as_ref()
                .and_then(|d| d.get("config"))
                .map_or("{}", String::as_str);
            match crate::sources::parse_config_map(text) {
                Ok(roles) => cache.set_config_map(roles),
                Err(e) => tracing::error!(
                    error = %e,
                    "ConfigMap {namespace}/{CONFIG_MAP}: keeping the previous roles"
                ),
            }
        };
        match event {
            Ok(Event::Init) => listed = false,
            Ok(Event::InitApply(cm)) => {
                listed = true;
                apply(&cm);
            }
            Ok(Event::InitDone) if !listed => cache.set_config_map(Default::default()),
            Ok(Event::Apply(cm)) => apply(&cm),
            Ok(Event::Delete(_)) => cache.set_config_map(Default::default()),
            Ok(Event::InitDone) => {}
            Err(e) => tracing::warn!(error = %e, "ConfigMap watch"),
        }
    }
}
