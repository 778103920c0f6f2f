//! irsa's persistent state: accounts, access keys, roles, managed policies and
//! OIDC providers.
//!
//! Services never write SQL: they call the [`Store`] trait. [`SqliteStore`] is
//! the default backend, a SQLite file in WAL mode with versioned migrations; the
//! trait leaves room for a PostgreSQL backend shared by several replicas.
//! Secret access keys are sealed with the data dir's master key ([`seal`]) and
//! never stored in plain text.

pub mod objects;
pub mod seal;
mod sqlite;

use std::fmt;

pub use objects::ObjectIndex;
pub use seal::{MasterKey, random_bytes};
pub use sqlite::SqliteStore;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The entity does not exist.
    NotFound,
    /// An entity with that name already exists.
    AlreadyExists,
    /// The backend cannot take the call now (busy past its wait, disk full);
    /// nothing was written. The detail is for logs.
    Unavailable(String),
    /// The backend failed (I/O, corruption, sealing); the detail is for logs.
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("not found"),
            StoreError::AlreadyExists => f.write_str("already exists"),
            StoreError::Unavailable(e) => write!(f, "store unavailable: {e}"),
            StoreError::Backend(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Shorthand for store results.
pub type Result<T> = std::result::Result<T, StoreError>;

/// [`Store::write`] for work that returns a value: commits when `work`
/// returns `Ok`, keeps nothing when it returns an error.
pub fn write<T>(store: &dyn Store, mut work: impl FnMut(&dyn Store) -> Result<T>) -> Result<T> {
    let mut out = None;
    store.write(&mut |tx| {
        out = Some(work(tx)?);
        Ok(Finish::Commit)
    })?;
    out.ok_or_else(|| StoreError::Backend("a committed transaction left no result".into()))
}

/// An AWS account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// 12-digit id.
    pub id: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// A long-term access key of an account's root.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// `AKIA…`.
    pub id: String,
    /// Owning account.
    pub account: String,
    /// The secret, unsealed.
    pub secret: String,
    /// Creation time.
    pub created: i64,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("account", &self.account)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// An IAM role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Owning account.
    pub account: String,
    /// Name, unique case-insensitively in the account.
    pub name: String,
    /// `AROA…`.
    pub id: String,
    /// Path, `/` or `/a/b/`.
    pub path: String,
    /// Trust policy text as given.
    pub trust_policy: String,
    /// Description.
    pub description: Option<String>,
    /// Maximum session duration in seconds.
    pub max_session_duration: i64,
    /// Permissions boundary policy ARN.
    pub boundary: Option<String>,
    /// Tags in order.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created: i64,
}

impl Role {
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:role{}{}",
            self.account, self.path, self.name
        )
    }
}

/// A customer managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// `arn:aws:iam::ACCOUNT:policy/PATH/NAME`.
    pub arn: String,
    /// Owning account.
    pub account: String,
    /// Name.
    pub name: String,
    /// `ANPA…`.
    pub id: String,
    /// Path.
    pub path: String,
    /// Description.
    pub description: Option<String>,
    /// The default version's id, `v1`…
    pub default_version: String,
    /// The next version number to hand out.
    pub next_version: i64,
    /// Tags in order.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created: i64,
    /// Last change of the default version.
    pub updated: i64,
}

/// A version of a managed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// `v1`, `v2`, …
    pub id: String,
    /// Document text as given.
    pub document: String,
    /// Creation time.
    pub created: i64,
}

/// An IAM OIDC identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`.
    pub arn: String,
    /// Owning account.
    pub account: String,
    /// The issuer URL as registered (with scheme).
    pub url: String,
    /// Audiences.
    pub client_ids: Vec<String>,
    /// Certificate thumbprints (hex).
    pub thumbprints: Vec<String>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Creation time.
    pub created: i64,
}

/// A role that a managed policy is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The role's account.
    pub account: String,
    /// Role name.
    pub role: String,
    /// Role id.
    pub role_id: String,
}

/// A local cluster: an issuer irsa signs ServiceAccount tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Name, unique.
    pub name: String,
    /// The 32 upper-hex characters of its issuer path `/oidc/id/<ID>`.
    pub issuer_id: String,
    /// The account whose EKS API lists it.
    pub account: String,
    /// Region it is reported in.
    pub region: String,
    /// Creation time.
    pub created: i64,
}

/// A signing key of a local cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    /// Key id (`kid`).
    pub kid: String,
    /// PKCS#8 DER of the private key, unsealed.
    pub pkcs8: Vec<u8>,
    /// Creation time.
    pub created: i64,
    /// When a newer key replaced it for signing; `None` for the current key.
    pub retired: Option<i64>,
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterKey")
            .field("kid", &self.kid)
            .field("created", &self.created)
            .field("retired", &self.retired)
            .finish()
    }
}

/// One audit event (a CloudTrail record with the fields lookups filter on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// `eventID`, a UUID.
    pub id: String,
    /// The account whose trail holds it (`recipientAccountId`).
    pub account: String,
    /// Milliseconds since the epoch.
    pub time_ms: i64,
    /// `eventName`, e.g. `AssumeRoleWithWebIdentity`.
    pub name: String,
    /// `eventSource`, e.g. `sts.amazonaws.com`.
    pub source: String,
    /// The user name lookups match (`Username`).
    pub username: String,
    /// The access key id of the caller or of issued credentials.
    pub access_key_id: String,
    /// `readOnly`.
    pub read_only: bool,
    /// `errorCode`, empty on success.
    pub error_code: String,
    /// The first resource's type, e.g. `AWS::IAM::Role`.
    pub resource_type: String,
    /// The first resource's name (ARN).
    pub resource_name: String,
    /// The CloudTrail record, JSON.
    pub record: String,
    /// Store order, set by the store.
    pub seq: i64,
}

/// What LookupEvents filters on (AWS allows one attribute per lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFilter {
    /// No attribute.
    All,
    /// `EventId`.
    EventId(String),
    /// `EventName`.
    EventName(String),
    /// `ReadOnly` (`true` / `false`).
    ReadOnly(bool),
    /// `Username`.
    Username(String),
    /// `ResourceType`.
    ResourceType(String),
    /// `ResourceName`.
    ResourceName(String),
    /// `EventSource`.
    EventSource(String),
    /// `AccessKeyId`.
    AccessKeyId(String),
}

/// How the work of a [`Store::write`] transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Keep everything it wrote.
    Commit,
    /// Keep nothing (the work decided to refuse the change).
    Rollback,
}

/// Persistent state. Every method is one transaction; [`Store::write`] makes
/// several calls one.
pub trait Store {
    /// Runs `work` as one write transaction on the store it is handed: what it
    /// reads is current and stays so until it ends (writers are serialized;
    /// SQLite takes the main database's write lock before `work` runs), and
    /// what it writes is committed together on [`Finish::Commit`] — nothing
    /// on [`Finish::Rollback`] or an error. A backend may run `work` again to
    /// retry a conflict, so `work` keeps no effects outside the store but
    /// what it overwrites on each run. Nested calls are savepoints.
    fn write(&self, work: &mut dyn FnMut(&dyn Store) -> Result<Finish>) -> Result<()>;

    /// Creates an account with its root access key.
    fn create_account(&self, account: &Account, key: &AccessKey) -> Result<()>;
    /// An account by id.
    fn account(&self, id: &str) -> Result<Option<Account>>;
    /// Every account, by id.
    fn accounts(&self) -> Result<Vec<Account>>;
    /// An access key by id, its secret unsealed.
    fn access_key(&self, id: &str) -> Result<Option<AccessKey>>;
    /// The access keys of an account.
    fn access_keys(&self, account: &str) -> Result<Vec<AccessKey>>;

    /// Inserts a role; `AlreadyExists` if the name is taken (any case).
    fn insert_role(&self, role: &Role) -> Result<()>;
    /// A role by name (case-insensitive).
    fn role(&self, account: &str, name: &str) -> Result<Option<Role>>;
    /// The roles of an account, ordered by name.
    fn roles(&self, account: &str) -> Result<Vec<Role>>;
    /// How many roles an account has.
    fn role_count(&self, account: &str) -> Result<usize>;
    /// Replaces a role's mutable fields (description, max session, trust
    /// policy, boundary, tags); `NotFound` if absent.
    fn update_role(&self, role: &Role) -> Result<()>;
    /// Deletes a role; `NotFound` if absent.
    fn delete_role(&self, account: &str, name: &str) -> Result<()>;

    /// Creates or replaces an inline policy of a role.
    fn put_role_policy(&self, account: &str, role: &str, name: &str, document: &str) -> Result<()>;
    /// An inline policy's document.
    fn role_policy(&self, account: &str, role: &str, name: &str) -> Result<Option<String>>;
    /// The inline policies of a role, `(name, document)` ordered by name.
    fn role_policies(&self, account: &str, role: &str) -> Result<Vec<(String, String)>>;
    /// Deletes an inline policy; `NotFound` if absent.
    fn delete_role_policy(&self, account: &str, role: &str, name: &str) -> Result<()>;

    /// Attaches a managed policy (idempotent).
    fn attach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<()>;
    /// Detaches; `NotFound` if it was not attached.
    fn detach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<()>;
    /// ARNs attached to a role, in attachment order.
    fn attached_role_policies(&self, account: &str, role: &str) -> Result<Vec<String>>;
    /// Roles a policy is attached to, in `account` only.
    fn policy_attachments(&self, account: &str, policy_arn: &str) -> Result<Vec<Attachment>>;
    /// Roles using a policy as their permissions boundary, in `account`.
    fn boundary_uses(&self, account: &str, policy_arn: &str) -> Result<Vec<Attachment>>;

    /// Inserts a managed policy with its first version.
    fn insert_policy(&self, policy: &ManagedPolicy, first: &PolicyVersion) -> Result<()>;
    /// A managed policy by ARN.
    fn policy(&self, arn: &str) -> Result<Option<ManagedPolicy>>;
    /// The managed policies of an account, by name.
    fn policies(&self, account: &str) -> Result<Vec<ManagedPolicy>>;
    /// How many managed policies an account has.
    fn policy_count(&self, account: &str) -> Result<usize>;
    /// Replaces a policy's mutable fields (default version, next version,
    /// tags, updated).
    fn update_policy(&self, policy: &ManagedPolicy) -> Result<()>;
    /// Deletes a policy and its versions.
    fn delete_policy(&self, arn: &str) -> Result<()>;
    /// Adds a version.
    fn insert_policy_version(&self, arn: &str, version: &PolicyVersion) -> Result<()>;
    /// A version.
    fn policy_version(&self, arn: &str, id: &str) -> Result<Option<PolicyVersion>>;
    /// Versions of a policy, newest first.
    fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>>;
    /// Deletes a version; `NotFound` if absent.
    fn delete_policy_version(&self, arn: &str, id: &str) -> Result<()>;

    /// Inserts a provider; `AlreadyExists` if the ARN is taken.
    fn insert_oidc_provider(&self, provider: &OidcProvider) -> Result<()>;
    /// A provider by ARN.
    fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>>;
    /// The providers of an account, by ARN.
    fn oidc_providers(&self, account: &str) -> Result<Vec<OidcProvider>>;
    /// How many providers an account has.
    fn oidc_provider_count(&self, account: &str) -> Result<usize>;
    /// Replaces a provider's client ids, thumbprints and tags.
    fn update_oidc_provider(&self, provider: &OidcProvider) -> Result<()>;
    /// Deletes a provider.
    fn delete_oidc_provider(&self, arn: &str) -> Result<()>;

    /// Inserts a cluster with its first signing key.
    fn insert_cluster(&self, cluster: &Cluster, key: &ClusterKey) -> Result<()>;
    /// A cluster by name.
    fn cluster(&self, name: &str) -> Result<Option<Cluster>>;
    /// A cluster by issuer id.
    fn cluster_by_issuer(&self, issuer_id: &str) -> Result<Option<Cluster>>;
    /// Every cluster, by name.
    fn clusters(&self) -> Result<Vec<Cluster>>;
    /// A cluster's keys, newest first, unsealed.
    fn cluster_keys(&self, name: &str) -> Result<Vec<ClusterKey>>;
    /// Adds a new current key, retiring the others at `key.created`; with
    /// `revoke_previous`, deletes every other key instead (a compromise: their
    /// tokens must stop verifying at once).
    fn rotate_cluster_key(&self, name: &str, key: &ClusterKey, revoke_previous: bool)
    -> Result<()>;

    /// The session-token key ring, `(id, key)`, unsealed, oldest first.
    fn session_keys(&self) -> Result<Vec<(u32, Vec<u8>)>>;
    /// Adds a session-token key.
    fn add_session_key(&self, id: u32, key: &[u8], created: i64) -> Result<()>;

    /// Appends audit events in one durable transaction.
    fn append_events(&self, events: &[AuditEvent]) -> Result<()>;
    /// Keeps the audit event of a change in the change's own transaction
    /// (inside [`Store::write`]), so that a committed change always has its
    /// event: [`Store::unstage_events`] drops it once [`Store::append_events`]
    /// has it, and opening the store appends whatever is still staged.
    fn stage_event(&self, event: &AuditEvent) -> Result<()>;
    /// Drops staged events that the trail now holds.
    fn unstage_events(&self, ids: &[String]) -> Result<()>;
    /// An account's events between two times (ms, inclusive), newest first,
    /// older than `before_seq` when paging, at most `limit`.
    fn lookup_events(
        &self,
        account: &str,
        filter: &AuditFilter,
        start_ms: i64,
        end_ms: i64,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>>;
    /// The newest `limit` events of every account (only failed ones if asked),
    /// oldest first.
    fn recent_events(&self, limit: usize, failed_only: bool) -> Result<Vec<AuditEvent>>;
    /// Events of every account after `seq`, oldest first (for tailing).
    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<AuditEvent>>;
    /// Deletes events older than `before_ms` among the `limit` oldest (by
    /// append order); returns how many.
    fn delete_events_before(&self, before_ms: i64, limit: usize) -> Result<usize>;
}
