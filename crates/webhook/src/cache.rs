//! What the webhook knows of ServiceAccounts: per `namespace/name`, only the
//! resourceVersion and the parsed prefixed annotations (never the object),
//! plus the ConfigMap-mode roles and the EKS Pod Identity associations.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::annotations::AccountConfig;
use crate::mutate::Method;

/// One cached ServiceAccount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `metadata.resourceVersion`.
    pub resource_version: Box<str>,
    /// Its prefixed annotations, parsed.
    pub config: Arc<AccountConfig>,
}

/// The cache, shared by the request path and the sources that fill it.
#[derive(Debug, Default)]
pub struct Cache {
    accounts: RwLock<HashMap<Box<str>, Account>>,
    config_map: RwLock<HashMap<Box<str>, Arc<AccountConfig>>>,
    pod_identity: RwLock<HashSet<Box<str>>>,
    /// Sources that must have loaded once before `/readyz` says ready
    /// (besides the ServiceAccounts), and those that have.
    needed: AtomicU8,
    loaded: AtomicU8,
    /// While a (re)list runs: ServiceAccounts fetched meanwhile, which the
    /// list's snapshot may predate.
    listing: AtomicBool,
    fetched: Mutex<Accounts>,
}

/// A source of the cache, for readiness.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// The ServiceAccount list (always needed).
    ServiceAccounts = 1,
    /// ConfigMap mode's roles.
    ConfigMap = 2,
    /// The EKS Pod Identity associations file.
    PodIdentity = 4,
}

/// What applies to a pod of `namespace` running as ServiceAccount `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The ServiceAccount is not cached (and no other source decides).
    Unknown,
    /// Nothing to inject.
    Nothing,
    /// IRSA with this configuration.
    WebIdentity(Arc<AccountConfig>),
    /// EKS Pod Identity (with the ServiceAccount's settings, if cached).
    PodIdentity(Option<Arc<AccountConfig>>),
}

impl Resolution {
    /// The mutation method, if any.
    pub fn method(&self) -> Option<Method<'_>> {
        match self {
            Resolution::WebIdentity(c) => Some(Method::WebIdentity(c)),
            Resolution::PodIdentity(c) => Some(Method::PodIdentity(c.as_deref())),
            Resolution::Unknown | Resolution::Nothing => None,
        }
    }
}

/// The cache key of a ServiceAccount: `namespace/name`.
pub fn key(namespace: &str, name: &str) -> Box<str> {
    format!("{namespace}/{name}").into()
}

/// A full set of ServiceAccounts, by [`key`].
pub type Accounts = HashMap<Box<str>, Account>;

impl Cache {
    /// Decides for a pod. Precedence as upstream: Pod Identity, then the
    /// ServiceAccount's `role-arn`, then the ConfigMap.
    pub fn resolve(&self, namespace: &str, name: &str) -> Resolution {
        let k = key(namespace, name);
        let account = read(&self.accounts).get(&k).map(|a| a.config.clone());
        if read(&self.pod_identity).contains(&k) {
            return Resolution::PodIdentity(account);
        }
        if let Some(c) = &account
            && c.role_arn.is_some()
        {
            return Resolution::WebIdentity(c.clone());
        }
        if let Some(c) = read(&self.config_map).get(&k) {
            return Resolution::WebIdentity(c.clone());
        }
        match account {
            Some(_) => Resolution::Nothing,
            None => Resolution::Unknown,
        }
    }

    /// Adds or replaces one ServiceAccount (an older resourceVersion never
    /// replaces a newer one — a fetched copy can race the watch).
    pub fn upsert(&self, namespace: &str, name: &str, account: Account) {
        let k = key(namespace, name);
        if self.listing.load(Ordering::Acquire) {
            lock(&self.fetched).insert(k.clone(), account.clone());
        }
        let mut accounts = write(&self.accounts);
        if let Some(old) = accounts.get(&k)
            && newer(&old.resource_version, &account.resource_version)
        {
            return;
        }
        accounts.insert(k, account);
    }

    /// A (re)list starts: remember what is fetched until it is installed.
    pub fn begin_list(&self) {
        lock(&self.fetched).clear();
        self.listing.store(true, Ordering::Release);
    }

    /// Forgets one ServiceAccount.
    pub fn remove(&self, namespace: &str, name: &str) {
        write(&self.accounts).remove(&key(namespace, name));
    }

    /// Replaces every ServiceAccount at once (a full list) and marks the
    /// cache synced.
    pub fn replace_all(&self, all: impl IntoIterator<Item = (String, String, Account)>) {
        self.install(
            all.into_iter()
                .map(|(ns, name, a)| (key(&ns, &name), a))
                .collect(),
        );
    }

    /// Replaces every ServiceAccount with `accounts` and marks them loaded.
    /// What was fetched during the list and is newer than (or missing from)
    /// its snapshot is kept.
    pub fn install(&self, mut accounts: Accounts) {
        self.listing.store(false, Ordering::Release);
        for (k, fetched) in lock(&self.fetched).drain() {
            let stale = accounts
                .get(&k)
                .is_some_and(|listed| !newer(&fetched.resource_version, &listed.resource_version));
            if !stale {
                accounts.insert(k, fetched);
            }
        }
        *write(&self.accounts) = accounts;
        self.mark(Source::ServiceAccounts);
    }

    /// `/readyz` also waits for `source` to load once.
    pub fn require(&self, source: Source) {
        self.needed.fetch_or(source as u8, Ordering::AcqRel);
    }

    fn mark(&self, source: Source) {
        self.loaded.fetch_or(source as u8, Ordering::AcqRel);
    }

    /// Replaces the ConfigMap-mode roles (`namespace/name` keys).
    pub fn set_config_map(&self, roles: HashMap<String, AccountConfig>) {
        *write(&self.config_map) = roles
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), Arc::new(v)))
            .collect();
        self.mark(Source::ConfigMap);
    }

    /// Replaces the EKS Pod Identity associations (`namespace/name` keys).
    pub fn set_pod_identity(&self, identities: HashSet<String>) {
        *write(&self.pod_identity) = identities.into_iter().map(String::into_boxed_str).collect();
        self.mark(Source::PodIdentity);
    }

    /// Whether the ServiceAccounts and every required source have loaded
    /// (`/readyz`).
    pub fn synced(&self) -> bool {
        let needed = self.needed.load(Ordering::Acquire) | Source::ServiceAccounts as u8;
        self.loaded.load(Ordering::Acquire) & needed == needed
    }

    /// Whether the ServiceAccount is cached.
    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        read(&self.accounts).contains_key(&key(namespace, name))
    }

    /// How many ServiceAccounts are cached.
    pub fn len(&self) -> usize {
        read(&self.accounts).len()
    }

    /// Whether no ServiceAccount is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether resourceVersion `a` is newer than `b`. Kubernetes calls them
/// opaque, but etcd's are integers; anything else is taken as "not newer".
fn newer(a: &str, b: &str) -> bool {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(rv: &str, role: Option<&str>) -> Account {
        Account {
            resource_version: rv.into(),
            config: Arc::new(AccountConfig {
                role_arn: role.map(Into::into),
                ..AccountConfig::default()
            }),
        }
    }

    #[test]
    fn precedence_pod_identity_then_annotation_then_config_map() {
        let c = Cache::default();
        assert_eq!(c.resolve("ns", "sa"), Resolution::Unknown);
        c.set_config_map(HashMap::from([(
            "ns/sa".to_string(),
            AccountConfig {
                role_arn: Some("arn:aws:iam::1:role/from-cm".into()),
                ..AccountConfig::default()
            },
        )]));
        let Resolution::WebIdentity(cm) = c.resolve("ns", "sa") else {
            panic!("config map decides for an uncached account");
        };
        assert_eq!(cm.role_arn.as_deref(), Some("arn:aws:iam::1:role/from-cm"));
        c.upsert(
            "ns",
            "sa",
            account("5", Some("arn:aws:iam::1:role/annotated")),
        );
        let Resolution::WebIdentity(a) = c.resolve("ns", "sa") else {
            panic!()
        };
        assert_eq!(a.role_arn.as_deref(), Some("arn:aws:iam::1:role/annotated"));
        c.set_pod_identity(HashSet::from(["ns/sa".to_string()]));
        assert!(matches!(
            c.resolve("ns", "sa"),
            Resolution::PodIdentity(Some(_))
        ));
        assert_eq!(c.resolve("ns", "other"), Resolution::Unknown);
        c.upsert("ns", "plain", account("1", None));
        assert_eq!(c.resolve("ns", "plain"), Resolution::Nothing);
    }

    #[test]
    fn an_older_copy_never_replaces_a_newer_one() {
        let c = Cache::default();
        c.upsert("ns", "sa", account("10", Some("arn:aws:iam::1:role/new")));
        c.upsert("ns", "sa", account("9", Some("arn:aws:iam::1:role/old")));
        let Resolution::WebIdentity(a) = c.resolve("ns", "sa") else {
            panic!()
        };
        assert_eq!(a.role_arn.as_deref(), Some("arn:aws:iam::1:role/new"));
        c.remove("ns", "sa");
        assert_eq!(c.resolve("ns", "sa"), Resolution::Unknown);
        assert!(!c.synced());
        c.replace_all([("a".into(), "b".into(), account("1", None))]);
        assert!(c.synced());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_relist_keeps_what_was_fetched_meanwhile() {
        let c = Cache::default();
        c.begin_list();
        // Fetched on a miss while the list is running: created after the
        // list's snapshot, or changed since.
        c.upsert("ns", "new", account("20", Some("arn:aws:iam::1:role/new")));
        c.upsert(
            "ns",
            "changed",
            account("21", Some("arn:aws:iam::1:role/v2")),
        );
        c.upsert("ns", "same", account("5", None));
        let listed: Accounts = [
            (
                key("ns", "changed"),
                account("15", Some("arn:aws:iam::1:role/v1")),
            ),
            (key("ns", "same"), account("5", None)),
            (key("ns", "other"), account("6", None)),
        ]
        .into_iter()
        .collect();
        c.install(listed);
        assert_eq!(c.len(), 4);
        let Resolution::WebIdentity(a) = c.resolve("ns", "changed") else {
            panic!()
        };
        assert_eq!(a.role_arn.as_deref(), Some("arn:aws:iam::1:role/v2"));
        assert!(matches!(c.resolve("ns", "new"), Resolution::WebIdentity(_)));
        // After the install, fetches are no longer remembered for the next list.
        c.upsert("ns", "later", account("30", None));
        c.begin_list();
        c.install(Accounts::new());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn readiness_waits_for_every_required_source() {
        let c = Cache::default();
        c.require(Source::ConfigMap);
        c.require(Source::PodIdentity);
        c.install(Accounts::new());
        assert!(!c.synced());
        c.set_config_map(HashMap::new());
        assert!(!c.synced());
        c.set_pod_identity(HashSet::new());
        assert!(c.synced());
    }
}
