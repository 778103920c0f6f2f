//! What every request handler shares: the store, AWS managed policies and a
//! cache of unsealed access keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use store::{AccessKey, Store};

use crate::aws_managed::{self, AwsPolicy};
use crate::error::ApiError;

/// Shared server state.
pub struct State {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) aws_policies: BTreeMap<String, AwsPolicy>,
    keys: RwLock<HashMap<String, AccessKey>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

impl State {
    /// State over a store.
    pub fn new(store: Arc<dyn Store>) -> State {
        State {
            store,
            aws_policies: aws_managed::load(),
            keys: RwLock::new(HashMap::new()),
        }
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
}
