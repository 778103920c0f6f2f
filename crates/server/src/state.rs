//! What every request handler shares: the store, AWS managed policies, the
//! session key ring, issuer keys, and caches of what is expensive to rebuild
//! (unsealed access keys, compiled policies).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use policy::CompiledPolicy;
use store::{AccessKey, Store};

use crate::aws_managed::{self, AwsPolicy};
use crate::error::ApiError;
use crate::issuers::IssuerKeys;
use crate::session::KeyRing;

/// Most compiled policies kept; the cache is cleared when it grows past this.
const POLICY_CACHE_LIMIT: usize = 10_000;

/// Shared server state.
pub struct State {
    pub(crate) store: Arc<dyn Store + Send + Sync>,
    pub(crate) aws_policies: BTreeMap<String, AwsPolicy>,
    /// `http://HOST:PORT` clients reach this server at; local issuers live under it.
    pub(crate) public_url: String,
    pub(crate) ring: KeyRing,
    pub(crate) issuers: IssuerKeys,
    keys: RwLock<HashMap<String, AccessKey>>,
    compiled: Mutex<HashMap<String, CompiledPolicy>>,
    pub(crate) auditor: Option<crate::audit::Auditor>,
    /// The listener's connection gate, once serving (for `/metrics`).
    pub(crate) gate: std::sync::OnceLock<Arc<listen::Gate>>,
    /// S3, when served.
    pub(crate) s3: Option<Arc<s3::Service>>,
    /// Whether successful object-level S3 calls are audited (data events).
    pub(crate) s3_data_events: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

impl State {
    /// State over a store, reached by clients at `public_url`. `ca_pem` adds
    /// trusted roots (PEM) for fetching issuers' keys from private CAs. Creates
    /// the session key ring on first use.
    pub fn new(
        store: Arc<dyn Store + Send + Sync>,
        public_url: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<State, String> {
        let mut keys = store.session_keys().map_err(|e| e.to_string())?;
        if keys.is_empty() {
            let key: [u8; 32] = store::random_bytes().map_err(|e| e.to_string())?;
            match store.add_session_key(1, &key, crate::time::now()) {
                Ok(()) | Err(store::StoreError::AlreadyExists) => {}
                Err(e) => return Err(e.to_string()),
            }
            keys = store.session_keys().map_err(|e| e.to_string())?;
        }
        Ok(State {
            aws_policies: aws_managed::load(),
            public_url: public_url.trim_end_matches('/').to_string(),
            ring: KeyRing::new(&keys)?,
            issuers: IssuerKeys::new(ca_pem)?,
            store,
            keys: RwLock::new(HashMap::new()),
            compiled: Mutex::new(HashMap::new()),
            auditor: None,
            gate: std::sync::OnceLock::new(),
            s3: None,
            s3_data_events: false,
        })
    }

    /// Serves S3 with `service`; `data_events` audits successful
    /// object-level calls too.
    pub fn with_s3(mut self, service: s3::Service, data_events: bool) -> State {
        self.s3 = Some(Arc::new(service));
        self.s3_data_events = data_events;
        self
    }

    /// Records every IAM and STS call with `auditor` (audit off without one).
    pub fn with_auditor(mut self, auditor: crate::audit::Auditor) -> State {
        self.auditor = Some(auditor);
        self
    }

    /// An access key by id: from the cache, else from the store (so that keys
    /// created by `irsa account create` while the server runs work at once).
    /// Long-term keys never change, so a cached key stays right.
    pub(crate) fn access_key(&self, id: &str) -> Result<Option<AccessKey>, ApiError> {
        if let Some(k) = self.keys.read().ok().and_then(|m| m.get(id).cloned()) {
            return Ok(Some(k));
        }
        let found = self.store.access_key(id)?;
        if let (Some(k), Ok(mut m)) = (&found, self.keys.write()) {
            m.insert(id.to_string(), k.clone());
        }
        Ok(found)
    }

    /// A policy document compiled once per distinct text.
    pub(crate) fn compile(&self, id: &str, document: &str) -> Result<CompiledPolicy, ApiError> {
        let key = format!("{id}\u{0}{document}");
        if let Some(p) = self.compiled.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(p);
        }
        let parsed = policy::parse(document).map_err(|e| {
            ApiError::internal(format!("stored policy `{id}` no longer parses: {e}"))
        })?;
        let compiled = CompiledPolicy::new(id, parsed);
        if let Ok(mut m) = self.compiled.lock() {
            if m.len() >= POLICY_CACHE_LIMIT {
                m.clear();
            }
            m.insert(key, compiled.clone());
        }
        Ok(compiled)
    }
}
