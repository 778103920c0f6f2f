//! The SQLite backend: `irsa.db` in the data dir for IAM and clusters, and
//! `audit.db` beside it (attached as `audit`) for the audit trail, both WAL
//! journals, migrations numbered by each file's `PRAGMA user_version`.
//!
//! The trail has a file of its own so that its commits — one every few
//! hundred microseconds under load — leave the pages other connections have
//! cached from `irsa.db` valid: SQLite invalidates a connection's cache of a
//! file whenever another connection commits to that file.

mod objects;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::{
    AccessKey, Account, Attachment, AuditEvent, AuditFilter, Cluster, ClusterKey, Finish,
    ManagedPolicy, MasterKey, OidcProvider, PolicyVersion, Result, Role, Store, StoreError, Tag,
};

/// `CREATE TABLE` of the audit trail in `$schema` (`""` or `"audit."`).
macro_rules! create_audit_events {
    ($schema:literal) => {
        concat!(
            "CREATE TABLE ",
            $schema,
            "audit_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        username TEXT NOT NULL,
        access_key_id TEXT NOT NULL,
        read_only INTEGER NOT NULL,
        error_code TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_name TEXT NOT NULL,
        record TEXT NOT NULL
    );
            "
        )
    };
}

/// Schema migrations; entry N brings the schema from version N to N+1.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, keys, roles, policies, providers.
    "CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        created INTEGER NOT NULL
    );
    CREATE TABLE access_keys (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(id),
        sealed_secret BLOB NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE roles (
        account TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL COLLATE NOCASE,
        id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        trust_policy TEXT NOT NULL,
        description TEXT,
        max_session_duration INTEGER NOT NULL,
        boundary TEXT,
        tags TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (account, name)
    );
    CREATE TABLE role_policies (
        account TEXT NOT NULL,
        role TEXT NOT NULL COLLATE NOCASE,
        name TEXT NOT NULL COLLATE NOCASE,
        document TEXT NOT NULL,
        PRIMARY KEY (account, role, name),
        FOREIGN KEY (account, role) REFERENCES roles(account, name) ON DELETE CASCADE
    );
    CREATE TABLE role_attachments (
        account TEXT NOT NULL,
        role TEXT NOT NULL COLLATE NOCASE,
        policy_arn TEXT NOT NULL,
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        UNIQUE (account, role, policy_arn),
        FOREIGN KEY (account, role) REFERENCES roles(account, name) ON DELETE CASCADE
    );
    CREATE TABLE policies (
        arn TEXT PRIMARY KEY COLLATE NOCASE,
        account TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL COLLATE NOCASE,
        id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        description TEXT,
        default_version TEXT NOT NULL,
        next_version INTEGER NOT NULL,
        tags TEXT NOT NULL,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        UNIQUE (account, name)
    );
    CREATE TABLE policy_versions (
        arn TEXT NOT NULL COLLATE NOCASE REFERENCES policies(arn) ON DELETE CASCADE,
        id TEXT NOT NULL,
        document TEXT NOT NULL,
        created INTEGER NOT NULL,
        PRIMARY KEY (arn, id)
    );
    CREATE TABLE oidc_providers (
        arn TEXT PRIMARY KEY,
        account TEXT NOT NULL REFERENCES accounts(id),
        url TEXT NOT NULL,
        client_ids TEXT NOT NULL,
        thumbprints TEXT NOT NULL,
        tags TEXT NOT NULL,
        created INTEGER NOT NULL
    );",
    // 2: local clusters and the session-token key ring.
    "CREATE TABLE clusters (
        name TEXT PRIMARY KEY,
        issuer_id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE TABLE cluster_keys (
        cluster TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,
        kid TEXT NOT NULL,
        sealed_key BLOB NOT NULL,
        created INTEGER NOT NULL,
        retired INTEGER,
        PRIMARY KEY (cluster, kid)
    );
    CREATE TABLE session_keys (
        id INTEGER PRIMARY KEY,
        sealed_key BLOB NOT NULL,
        created INTEGER NOT NULL
    );",
    // 3: the audit trail.
    concat!(
        create_audit_events!(""),
        "CREATE INDEX audit_by_account_time ON audit_events (account, time_ms);
         CREATE INDEX audit_by_time ON audit_events (time_ms);"
    ),
    // 4: the audit trail moves to `audit.db` (created by AUDIT_MIGRATIONS).
    "INSERT OR IGNORE INTO audit.audit_events (seq, id, account, time_ms, name, source, username,
        access_key_id, read_only, error_code, resource_type, resource_name, record)
     SELECT seq, id, account, time_ms, name, source, username, access_key_id, read_only,
        error_code, resource_type, resource_name, record FROM main.audit_events ORDER BY seq;
    DROP TABLE main.audit_events;",
    // 5: write transactions and the audit events of their changes.
    // `write_intent` stays empty: `DELETE FROM write_intent WHERE rowid < 0`
    // takes `irsa.db`'s write lock at the start of a write transaction without
    // writing a page (`BEGIN IMMEDIATE` would also lock `audit.db`, stalling
    // the audit writer). `audit_outbox` holds each change's event, committed
    // with the change, until the trail in `audit.db` has it.
    "CREATE TABLE write_intent (unused INTEGER);
    CREATE TABLE audit_outbox (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        username TEXT NOT NULL,
        access_key_id TEXT NOT NULL,
        read_only INTEGER NOT NULL,
        error_code TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_name TEXT NOT NULL,
        record TEXT NOT NULL
    );",
    // 6: S3's buckets, object index and multipart uploads.
    objects::MIGRATION,
];

/// Migrations of `audit.db`. No index on time alone: retention deletes the
/// oldest events by `seq` (events are appended in time order), and every
/// index is one more B-tree each commit writes.
const AUDIT_MIGRATIONS: &[&str] = &[concat!(
    create_audit_events!("audit."),
    "CREATE INDEX audit.audit_by_account_time ON audit_events (account, time_ms);"
)];

/// A SQLite file store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    key: MasterKey,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

/// A SQLite error as a store error: busy past the wait and a full disk are
/// `Unavailable` (nothing was written; the call may succeed later).
/// Refuses a damaged database file before anything is written to it: SQLite's
/// `quick_check` (every page and index structure, without cross-checking
/// index contents) must say `ok`. A file that is not a database at all fails
/// here too. The error names the file and changes nothing.
fn check_integrity(conn: &Connection, schema: &str, file: &Path) -> Result<()> {
    let damaged = |why: String| {
        StoreError::Backend(format!(
            "`{}` is damaged ({why}); restore it from a backup or move it away. irsa changed nothing",
            file.display()
        ))
    };
    let mut stmt = conn
        .prepare(&format!("PRAGMA {schema}.quick_check(8)"))
        .map_err(|e| damaged(e.to_string()))?;
    let findings: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| damaged(e.to_string()))?;
    if findings.len() == 1 && findings.first().is_some_and(|f| f == "ok") {
        Ok(())
    } else {
        Err(damaged(findings.join("; ")))
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            rusqlite::ErrorCode::DatabaseBusy
            | rusqlite::ErrorCode::DatabaseLocked
            | rusqlite::ErrorCode::DiskFull,
        ) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Backend(e.to_string()),
    }
}

thread_local! {
    /// Whether this thread runs the work of a write transaction: the store's
    /// own methods are then refused (they would wait for the lock the
    /// transaction holds) — work must use the handle it was given.
    static IN_WRITE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as inside a write transaction until dropped.
struct InWrite;

impl InWrite {
    fn enter() -> InWrite {
        IN_WRITE.set(true);
        InWrite
    }
}

impl Drop for InWrite {
    fn drop(&mut self) {
        IN_WRITE.set(false);
    }
}

/// Which database a write transaction locks up front.
#[derive(Clone, Copy)]
enum Lock {
    /// `irsa.db`: IAM state (and the outbox of its events).
    Main,
    /// `audit.db` only, taken by the first write.
    Audit,
}

/// A failed insert: `AlreadyExists` for a key or uniqueness violation.
fn insert_error(e: rusqlite::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::AlreadyExists
    } else {
        backend(e)
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
    )
}

fn tags_to_json(tags: &[Tag]) -> String {
    Value::Array(
        tags.iter()
            .map(|t| serde_json::json!({"Key": t.key, "Value": t.value}))
            .collect(),
    )
    .to_string()
}

fn tags_from_json(text: &str) -> Vec<Tag> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|t| {
            Some(Tag {
                key: t.get("Key")?.as_str()?.to_string(),
                value: t.get("Value")?.as_str()?.to_string(),
            })
        })
        .collect()
}

fn strings_to_json(items: &[String]) -> String {
    Value::Array(items.iter().map(|s| Value::String(s.clone())).collect()).to_string()
}

fn strings_from_json(text: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(text).unwrap_or_default()
}

fn affected(n: usize) -> Result<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/irsa.db` and `DIR/audit.db`, sealing
    /// secrets with `key`.
    pub fn open(dir: &Path, key: MasterKey) -> Result<SqliteStore> {
        let path = dir.join("irsa.db");
        let audit = dir.join("audit.db");
        let conn = Connection::open(&path).map_err(backend)?;
        check_integrity(&conn, "main", &path)?;
        conn.execute("ATTACH DATABASE ?1 AS audit", [audit.to_string_lossy()])
            .map_err(|e| {
                StoreError::Backend(format!(
                    "`{}` cannot be opened ({e}); restore it from a backup or move it away. irsa changed nothing",
                    audit.display()
                ))
            })?;
        // Only the owner reads the store (its journal files take the same mode).
        #[cfg(unix)]
        for file in [&path, &audit] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::Backend(format!("`{}`: {e}", file.display())))?;
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
        check_integrity(&conn, "audit", &audit)?;
        conn.execute_batch(
            "PRAGMA main.journal_mode = WAL; PRAGMA main.synchronous = FULL;
             PRAGMA audit.journal_mode = WAL; PRAGMA audit.synchronous = FULL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(backend)?;
        let store = SqliteStore {
            conn: Mutex::new(conn),
            key,
        };
        store.migrate("audit", AUDIT_MIGRATIONS)?;
        store.migrate("main", MIGRATIONS)?;
        store.recover_staged_events()?;
        Ok(store)
    }

    /// Caps the pages of `audit.db` this connection may grow it to, so that
    /// tests see SQLite's real "database or disk is full" without filling a
    /// disk; `None` lifts the cap. Not for production use.
    #[doc(hidden)]
    pub fn cap_audit_pages(&self, pages: Option<u64>) -> Result<()> {
        let conn = self.lock()?;
        let pages = pages.unwrap_or(4_294_967_294);
        conn.query_row(
            &format!("PRAGMA audit.max_page_count = {pages}"),
            [],
            |_| Ok(()),
        )
        .map_err(backend)
    }

    /// Appends the events of committed changes that did not reach the trail
    /// (a crash between the change and the trail's commit), then drops them
    /// from the outbox. Both steps are idempotent: event ids are unique.
    fn recover_staged_events(&self) -> Result<()> {
        let conn = self.lock()?;
        let moved = conn
            .execute(
                &format!(
                    "INSERT OR IGNORE INTO audit.audit_events ({EVENT_COLUMNS})
                     SELECT {EVENT_COLUMNS} FROM main.audit_outbox ORDER BY time_ms, id"
                ),
                [],
            )
            .map_err(backend)?;
        conn.execute("DELETE FROM main.audit_outbox", [])
            .map_err(backend)?;
        if moved > 0 {
            tracing::warn!(
                events = moved,
                "appended audit events of changes committed before a crash"
            );
        }
        Ok(())
    }

    /// Runs `f` on the connection outside any transaction (each statement
    /// its own).
    fn read<T>(&self, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        let conn = self.lock()?;
        f(&Db {
            conn: &conn,
            key: &self.key,
        })
    }

    /// Runs `work` in one transaction that first locks `lock`, committing
    /// what it wrote if it answers [`Finish::Commit`].
    fn transaction<T>(
        &self,
        lock: Lock,
        work: impl FnOnce(&Db<'_>) -> Result<(T, Finish)>,
    ) -> Result<T> {
        let conn = self.lock()?;
        conn.execute_batch(match lock {
            Lock::Main => "BEGIN; DELETE FROM main.write_intent WHERE rowid < 0;",
            Lock::Audit => "BEGIN;",
        })
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            backend(e)
        })?;
        let outcome = {
            let _inside = InWrite::enter();
            work(&Db {
                conn: &conn,
                key: &self.key,
            })
        };
        let end = match &outcome {
            Ok((_, Finish::Commit)) => conn.execute_batch("COMMIT").map_err(backend),
            Ok((_, Finish::Rollback)) => conn.execute_batch("ROLLBACK").map_err(backend),
            Err(_) => Ok(()),
        };
        if outcome.is_err() || end.is_err() {
            // A failed COMMIT leaves the transaction open; end it unwritten.
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK").map_err(backend)?;
            }
        }
        end?;
        outcome.map(|(value, _)| value)
    }

    /// One write call as its own transaction.
    fn write_one<T>(&self, lock: Lock, f: impl FnOnce(&Db<'_>) -> Result<T>) -> Result<T> {
        self.transaction(lock, |db| Ok((f(db)?, Finish::Commit)))
    }

    /// Brings database `schema` (`main` or `audit`) up to date.
    fn migrate(&self, schema: &str, migrations: &[&str]) -> Result<()> {
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let version: usize = tx
            .query_row(&format!("PRAGMA {schema}.user_version"), [], |r| r.get(0))
            .map_err(backend)?;
        if version > migrations.len() {
            return Err(StoreError::Backend(format!(
                "the {schema} database has schema version {version}, newer than this irsa knows ({}); use a newer irsa",
                migrations.len()
            )));
        }
        for (i, sql) in migrations.iter().enumerate().skip(version) {
            tx.execute_batch(sql).map_err(backend)?;
            tx.execute_batch(&format!("PRAGMA {schema}.user_version = {}", i + 1))
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        if IN_WRITE.get() {
            return Err(StoreError::Backend(
                "the store was called around the transaction this thread runs".into(),
            ));
        }
        self.conn
            .lock()
            .map_err(|_| StoreError::Backend("store lock poisoned".into()))
    }
}

const ROLE_COLUMNS: &str = "account, name, id, path, trust_policy, description, max_session_duration, boundary, tags, created";
const POLICY_COLUMNS: &str = "arn, account, name, id, path, description, default_version, next_version, tags, created, updated";
const PROVIDER_COLUMNS: &str = "arn, account, url, client_ids, thumbprints, tags, created";

/// The store's connection inside one transaction (or, for reads outside
/// one, in autocommit): every query of the store is written here once.
pub(crate) struct Db<'c> {
    conn: &'c Connection,
    key: &'c MasterKey,
}

impl Db<'_> {
    /// A `count(*)` query with one parameter.
    fn count(&self, sql: &str, param: &str) -> Result<usize> {
        let n: i64 = self
            .query_one(sql, [param], |r| r.get(0))?
            .unwrap_or_default();
        Ok(usize::try_from(n).unwrap_or_default())
    }

    /// Inserts one event into `table`: `INSERT OR IGNORE INTO audit.audit_events`
    /// (appending an event the trail holds is a no-op, so a staged event
    /// recovered at start may be appended again) or `INSERT INTO
    /// main.audit_outbox`.
    fn insert_event(&self, into: &str, e: &AuditEvent) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "{into} ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))
            .map_err(backend)?;
        stmt.execute(params![
            e.id,
            e.account,
            e.time_ms,
            e.name,
            e.source,
            e.username,
            e.access_key_id,
            e.read_only,
            e.error_code,
            e.resource_type,
            e.resource_name,
            e.record
        ])
        .map(|_| ())
        .map_err(insert_error)
    }

    /// One row or none, through the statement cache.
    fn query_one<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        stmt.query_row(params, row).optional().map_err(backend)
    }

    /// Every row, through the statement cache.
    fn query_all<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt.query_map(params, row).map_err(backend)?;
        rows.collect::<rusqlite::Result<_>>().map_err(backend)
    }

    fn role_row(r: &Row<'_>) -> rusqlite::Result<Role> {
        Ok(Role {
            account: r.get(0)?,
            name: r.get(1)?,
            id: r.get(2)?,
            path: r.get(3)?,
            trust_policy: r.get(4)?,
            description: r.get(5)?,
            max_session_duration: r.get(6)?,
            boundary: r.get(7)?,
            tags: tags_from_json(&r.get::<_, String>(8)?),
            created: r.get(9)?,
        })
    }

    fn policy_row(r: &Row<'_>) -> rusqlite::Result<ManagedPolicy> {
        Ok(ManagedPolicy {
            arn: r.get(0)?,
            account: r.get(1)?,
            name: r.get(2)?,
            id: r.get(3)?,
            path: r.get(4)?,
            description: r.get(5)?,
            default_version: r.get(6)?,
            next_version: r.get(7)?,
            tags: tags_from_json(&r.get::<_, String>(8)?),
            created: r.get(9)?,
            updated: r.get(10)?,
        })
    }

    fn provider_row(r: &Row<'_>) -> rusqlite::Result<OidcProvider> {
        Ok(OidcProvider {
            arn: r.get(0)?,
            account: r.get(1)?,
            url: r.get(2)?,
            client_ids: strings_from_json(&r.get::<_, String>(3)?),
            thumbprints: strings_from_json(&r.get::<_, String>(4)?),
            tags: tags_from_json(&r.get::<_, String>(5)?),
            created: r.get(6)?,
        })
    }

    fn key_row(&self, r: (String, String, Vec<u8>, i64)) -> Result<AccessKey> {
        let secret = String::from_utf8(self.key.unseal(&r.2)?)
            .map_err(|_| StoreError::Backend("sealed secret is not text".into()))?;
        Ok(AccessKey {
            id: r.0,
            account: r.1,
            secret,
            created: r.3,
        })
    }
}

impl Store for Db<'_> {
    fn write(&self, work: &mut dyn FnMut(&dyn Store) -> Result<Finish>) -> Result<()> {
        self.conn
            .execute_batch("SAVEPOINT nested")
            .map_err(backend)?;
        let outcome = work(self);
        let end = match outcome {
            Ok(Finish::Commit) => "RELEASE nested",
            Ok(Finish::Rollback) | Err(_) => "ROLLBACK TO nested; RELEASE nested",
        };
        self.conn.execute_batch(end).map_err(backend)?;
        outcome.map(|_| ())
    }

    fn role_count(&self, account: &str) -> Result<usize> {
        self.count("SELECT count(*) FROM roles WHERE account = ?1", account)
    }

    fn policy_count(&self, account: &str) -> Result<usize> {
        self.count("SELECT count(*) FROM policies WHERE account = ?1", account)
    }

    fn oidc_provider_count(&self, account: &str) -> Result<usize> {
        self.count(
            "SELECT count(*) FROM oidc_providers WHERE account = ?1",
            account,
        )
    }

    fn stage_event(&self, e: &AuditEvent) -> Result<()> {
        self.insert_event("INSERT INTO main.audit_outbox", e)
    }

    fn unstage_events(&self, ids: &[String]) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM main.audit_outbox WHERE id = ?1")
            .map_err(backend)?;
        for id in ids {
            stmt.execute([id]).map_err(backend)?;
        }
        Ok(())
    }

    fn create_account(&self, account: &Account, key: &AccessKey) -> Result<()> {
        let sealed = self.key.seal(key.secret.as_bytes())?;
        let tx = self.conn;
        tx.execute(
            "INSERT INTO accounts (id, created) VALUES (?1, ?2)",
            params![account.id, account.created],
        )
        .map_err(insert_error)?;
        tx.execute(
            "INSERT INTO access_keys (id, account, sealed_secret, created) VALUES (?1, ?2, ?3, ?4)",
            params![key.id, key.account, sealed, key.created],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn account(&self, id: &str) -> Result<Option<Account>> {
        self.query_one(
            "SELECT id, created FROM accounts WHERE id = ?1",
            [id],
            |r| {
                Ok(Account {
                    id: r.get(0)?,
                    created: r.get(1)?,
                })
            },
        )
    }

    fn accounts(&self) -> Result<Vec<Account>> {
        self.query_all("SELECT id, created FROM accounts ORDER BY id", [], |r| {
            Ok(Account {
                id: r.get(0)?,
                created: r.get(1)?,
            })
        })
    }

    fn access_key(&self, id: &str) -> Result<Option<AccessKey>> {
        let row = self.query_one(
            "SELECT id, account, sealed_secret, created FROM access_keys WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        row.map(|r| self.key_row(r)).transpose()
    }

    fn access_keys(&self, account: &str) -> Result<Vec<AccessKey>> {
        let rows: Vec<(String, String, Vec<u8>, i64)> = self.query_all("SELECT id, account, sealed_secret, created FROM access_keys WHERE account = ?1 ORDER BY created, id", [account], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?;
        rows.into_iter().map(|r| self.key_row(r)).collect()
    }

    fn insert_role(&self, role: &Role) -> Result<()> {
        self.conn
            .execute(
                &format!("INSERT INTO roles ({ROLE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    role.account,
                    role.name,
                    role.id,
                    role.path,
                    role.trust_policy,
                    role.description,
                    role.max_session_duration,
                    role.boundary,
                    tags_to_json(&role.tags),
                    role.created
                ],
            )
            .map(|_| ())
            .map_err(insert_error)
    }

    fn role(&self, account: &str, name: &str) -> Result<Option<Role>> {
        self.query_one(
            &format!("SELECT {ROLE_COLUMNS} FROM roles WHERE account = ?1 AND name = ?2"),
            params![account, name],
            Self::role_row,
        )
    }

    fn roles(&self, account: &str) -> Result<Vec<Role>> {
        self.query_all(
            &format!(
                "SELECT {ROLE_COLUMNS} FROM roles WHERE account = ?1 ORDER BY name COLLATE BINARY"
            ),
            [account],
            Self::role_row,
        )
    }

    fn update_role(&self, role: &Role) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE roles SET trust_policy = ?3, description = ?4, max_session_duration = ?5,
                     boundary = ?6, tags = ?7 WHERE account = ?1 AND name = ?2",
                params![
                    role.account,
                    role.name,
                    role.trust_policy,
                    role.description,
                    role.max_session_duration,
                    role.boundary,
                    tags_to_json(&role.tags)
                ],
            )
            .map_err(backend)?;
        affected(n)
    }

    fn delete_role(&self, account: &str, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute(
                "DELETE FROM roles WHERE account = ?1 AND name = ?2",
                params![account, name],
            )
            .map_err(backend)?;
        affected(n)
    }

    fn put_role_policy(&self, account: &str, role: &str, name: &str, document: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO role_policies (account, role, name, document) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account, role, name) DO UPDATE SET document = excluded.document",
                params![account, role, name, document],
            )
            .map(|_| ())
            .map_err(backend)
    }

    fn role_policy(&self, account: &str, role: &str, name: &str) -> Result<Option<String>> {
        self.query_one(
            "SELECT document FROM role_policies WHERE account = ?1 AND role = ?2 AND name = ?3",
            params![account, role, name],
            |r| r.get(0),
        )
    }

    fn role_policies(&self, account: &str, role: &str) -> Result<Vec<(String, String)>> {
        self.query_all("SELECT name, document FROM role_policies WHERE account = ?1 AND role = ?2 ORDER BY name COLLATE BINARY", params![account, role], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    fn delete_role_policy(&self, account: &str, role: &str, name: &str) -> Result<()> {
        let n = self
            .conn
            .execute(
                "DELETE FROM role_policies WHERE account = ?1 AND role = ?2 AND name = ?3",
                params![account, role, name],
            )
            .map_err(backend)?;
        affected(n)
    }

    fn attach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO role_attachments (account, role, policy_arn) VALUES (?1, ?2, ?3)",
                params![account, role, policy_arn],
            )
            .map(|_| ())
            .map_err(backend)
    }

    fn detach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<()> {
        let n = self
            .conn
            .execute(
                "DELETE FROM role_attachments WHERE account = ?1 AND role = ?2 AND policy_arn = ?3",
                params![account, role, policy_arn],
            )
            .map_err(backend)?;
        affected(n)
    }

    fn attached_role_policies(&self, account: &str, role: &str) -> Result<Vec<String>> {
        self.query_all(
            "SELECT policy_arn FROM role_attachments WHERE account = ?1 AND role = ?2 ORDER BY seq",
            params![account, role],
            |r| r.get(0),
        )
    }

    fn policy_attachments(&self, account: &str, policy_arn: &str) -> Result<Vec<Attachment>> {
        self.query_all(
            "SELECT r.account, r.name, r.id FROM role_attachments a
                 JOIN roles r ON r.account = a.account AND r.name = a.role
                 WHERE a.account = ?1 AND a.policy_arn = ?2 ORDER BY r.name COLLATE BINARY",
            params![account, policy_arn],
            |r| {
                Ok(Attachment {
                    account: r.get(0)?,
                    role: r.get(1)?,
                    role_id: r.get(2)?,
                })
            },
        )
    }

    fn boundary_uses(&self, account: &str, policy_arn: &str) -> Result<Vec<Attachment>> {
        self.query_all("SELECT account, name, id FROM roles WHERE account = ?1 AND boundary = ?2 ORDER BY name COLLATE BINARY", params![account, policy_arn], |r| {
                Ok(Attachment {
                    account: r.get(0)?,
                    role: r.get(1)?,
                    role_id: r.get(2)?,
                })
            })
    }

    fn insert_policy(&self, p: &ManagedPolicy, first: &PolicyVersion) -> Result<()> {
        let tx = self.conn;
        tx.execute(
            &format!("INSERT INTO policies ({POLICY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                p.arn,
                p.account,
                p.name,
                p.id,
                p.path,
                p.description,
                p.default_version,
                p.next_version,
                tags_to_json(&p.tags),
                p.created,
                p.updated
            ],
        )
        .map_err(insert_error)?;
        tx.execute(
            "INSERT INTO policy_versions (arn, id, document, created) VALUES (?1, ?2, ?3, ?4)",
            params![p.arn, first.id, first.document, first.created],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn policy(&self, arn: &str) -> Result<Option<ManagedPolicy>> {
        self.query_one(
            &format!("SELECT {POLICY_COLUMNS} FROM policies WHERE arn = ?1"),
            [arn],
            Self::policy_row,
        )
    }

    fn policies(&self, account: &str) -> Result<Vec<ManagedPolicy>> {
        self.query_all(&format!(
                "SELECT {POLICY_COLUMNS} FROM policies WHERE account = ?1 ORDER BY name COLLATE BINARY"
            ), [account], Self::policy_row)
    }

    fn update_policy(&self, p: &ManagedPolicy) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE policies SET default_version = ?2, next_version = ?3, tags = ?4, updated = ?5
                 WHERE arn = ?1",
                params![p.arn, p.default_version, p.next_version, tags_to_json(&p.tags), p.updated],
            )
            .map_err(backend)?;
        affected(n)
    }

    fn delete_policy(&self, arn: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM policies WHERE arn = ?1", [arn])
            .map_err(backend)?;
        affected(n)
    }

    fn insert_policy_version(&self, arn: &str, v: &PolicyVersion) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO policy_versions (arn, id, document, created) VALUES (?1, ?2, ?3, ?4)",
                params![arn, v.id, v.document, v.created],
            )
            .map(|_| ())
            .map_err(insert_error)
    }

    fn policy_version(&self, arn: &str, id: &str) -> Result<Option<PolicyVersion>> {
        self.query_one(
            "SELECT id, document, created FROM policy_versions WHERE arn = ?1 AND id = ?2",
            params![arn, id],
            |r| {
                Ok(PolicyVersion {
                    id: r.get(0)?,
                    document: r.get(1)?,
                    created: r.get(2)?,
                })
            },
        )
    }

    fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>> {
        self.query_all(
            "SELECT id, document, created FROM policy_versions WHERE arn = ?1
                 ORDER BY CAST(substr(id, 2) AS INTEGER) DESC",
            [arn],
            |r| {
                Ok(PolicyVersion {
                    id: r.get(0)?,
                    document: r.get(1)?,
                    created: r.get(2)?,
                })
            },
        )
    }

    fn delete_policy_version(&self, arn: &str, id: &str) -> Result<()> {
        let n = self
            .conn
            .execute(
                "DELETE FROM policy_versions WHERE arn = ?1 AND id = ?2",
                params![arn, id],
            )
            .map_err(backend)?;
        affected(n)
    }

    fn insert_oidc_provider(&self, p: &OidcProvider) -> Result<()> {
        self.conn
            .execute(
                &format!("INSERT INTO oidc_providers ({PROVIDER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    p.arn,
                    p.account,
                    p.url,
                    strings_to_json(&p.client_ids),
                    strings_to_json(&p.thumbprints),
                    tags_to_json(&p.tags),
                    p.created
                ],
            )
            .map(|_| ())
            .map_err(insert_error)
    }

    fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>> {
        self.query_one(
            &format!("SELECT {PROVIDER_COLUMNS} FROM oidc_providers WHERE arn = ?1"),
            [arn],
            Self::provider_row,
        )
    }

    fn oidc_providers(&self, account: &str) -> Result<Vec<OidcProvider>> {
        self.query_all(
            &format!(
                "SELECT {PROVIDER_COLUMNS} FROM oidc_providers WHERE account = ?1 ORDER BY arn"
            ),
            [account],
            Self::provider_row,
        )
    }

    fn update_oidc_provider(&self, p: &OidcProvider) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE oidc_providers SET client_ids = ?2, thumbprints = ?3, tags = ?4 WHERE arn = ?1",
                params![
                    p.arn,
                    strings_to_json(&p.client_ids),
                    strings_to_json(&p.thumbprints),
                    tags_to_json(&p.tags)
                ],
            )
            .map_err(backend)?;
        affected(n)
    }

    fn delete_oidc_provider(&self, arn: &str) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM oidc_providers WHERE arn = ?1", [arn])
            .map_err(backend)?;
        affected(n)
    }
    fn insert_cluster(&self, c: &Cluster, key: &ClusterKey) -> Result<()> {
        let sealed = self.key.seal(&key.pkcs8)?;
        let tx = self.conn;
        tx.execute(
            "INSERT INTO clusters (name, issuer_id, account, region, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.name, c.issuer_id, c.account, c.region, c.created],
        )
        .map_err(insert_error)?;
        tx.execute(
            "INSERT INTO cluster_keys (cluster, kid, sealed_key, created, retired) VALUES (?1, ?2, ?3, ?4, NULL)",
            params![c.name, key.kid, sealed, key.created],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn cluster(&self, name: &str) -> Result<Option<Cluster>> {
        self.query_one(
            "SELECT name, issuer_id, account, region, created FROM clusters WHERE name = ?1",
            [name],
            cluster_row,
        )
    }

    fn cluster_by_issuer(&self, issuer_id: &str) -> Result<Option<Cluster>> {
        self.query_one(
            "SELECT name, issuer_id, account, region, created FROM clusters WHERE issuer_id = ?1",
            [issuer_id],
            cluster_row,
        )
    }

    fn clusters(&self) -> Result<Vec<Cluster>> {
        self.query_all(
            "SELECT name, issuer_id, account, region, created FROM clusters ORDER BY name",
            [],
            cluster_row,
        )
    }

    fn cluster_keys(&self, name: &str) -> Result<Vec<ClusterKey>> {
        let rows: Vec<(String, Vec<u8>, i64, Option<i64>)> = self.query_all(
            "SELECT kid, sealed_key, created, retired FROM cluster_keys WHERE cluster = ?1
                     ORDER BY created DESC, rowid DESC",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        rows.into_iter()
            .map(|(kid, sealed, created, retired)| {
                Ok(ClusterKey {
                    kid,
                    pkcs8: self.key.unseal(&sealed)?,
                    created,
                    retired,
                })
            })
            .collect()
    }

    fn rotate_cluster_key(
        &self,
        name: &str,
        key: &ClusterKey,
        revoke_previous: bool,
    ) -> Result<()> {
        let sealed = self.key.seal(&key.pkcs8)?;
        let tx = self.conn;
        let n = tx
            .execute(
                "UPDATE cluster_keys SET retired = ?2 WHERE cluster = ?1 AND retired IS NULL",
                params![name, key.created],
            )
            .map_err(backend)?;
        affected(n)?;
        if revoke_previous {
            tx.execute(
                "DELETE FROM cluster_keys WHERE cluster = ?1 AND retired IS NOT NULL",
                params![name],
            )
            .map_err(backend)?;
        }
        tx.execute(
            "INSERT INTO cluster_keys (cluster, kid, sealed_key, created, retired) VALUES (?1, ?2, ?3, ?4, NULL)",
            params![name, key.kid, sealed, key.created],
        )
        .map_err(backend)?;
        Ok(())
    }

    fn session_keys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let rows: Vec<(u32, Vec<u8>)> = self.query_all(
            "SELECT id, sealed_key FROM session_keys ORDER BY id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        rows.into_iter()
            .map(|(id, sealed)| Ok((id, self.key.unseal(&sealed)?)))
            .collect()
    }

    fn add_session_key(&self, id: u32, key: &[u8], created: i64) -> Result<()> {
        let sealed = self.key.seal(key)?;
        self.conn
            .execute(
                "INSERT INTO session_keys (id, sealed_key, created) VALUES (?1, ?2, ?3)",
                params![id, sealed, created],
            )
            .map(|_| ())
            .map_err(insert_error)
    }

    fn append_events(&self, events: &[AuditEvent]) -> Result<()> {
        for e in events {
            self.insert_event("INSERT OR IGNORE INTO audit.audit_events", e)?;
        }
        Ok(())
    }

    fn lookup_events(
        &self,
        account: &str,
        filter: &AuditFilter,
        start_ms: i64,
        end_ms: i64,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>> {
        let (column, value): (&str, rusqlite::types::Value) = match filter {
            AuditFilter::All => ("1", 1.into()),
            AuditFilter::EventId(v) => ("id", v.clone().into()),
            AuditFilter::EventName(v) => ("name", v.clone().into()),
            AuditFilter::ReadOnly(v) => ("read_only", i64::from(*v).into()),
            AuditFilter::Username(v) => ("username", v.clone().into()),
            AuditFilter::ResourceType(v) => ("resource_type", v.clone().into()),
            AuditFilter::ResourceName(v) => ("resource_name", v.clone().into()),
            AuditFilter::EventSource(v) => ("source", v.clone().into()),
            AuditFilter::AccessKeyId(v) => ("access_key_id", v.clone().into()),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_all(
            &format!(
                "SELECT seq, {EVENT_COLUMNS} FROM audit_events
                 WHERE account = ?1 AND time_ms BETWEEN ?2 AND ?3 AND seq < ?4 AND {column} = ?5
                 ORDER BY time_ms DESC, seq DESC LIMIT ?6"
            ),
            params![
                account,
                start_ms,
                end_ms,
                before_seq.unwrap_or(i64::MAX),
                value,
                limit
            ],
            event_row,
        )
    }

    fn recent_events(&self, limit: usize, failed_only: bool) -> Result<Vec<AuditEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut events = self.query_all(
            &format!(
                "SELECT seq, {EVENT_COLUMNS} FROM audit_events WHERE (?1 = 0 OR error_code != '') ORDER BY seq DESC LIMIT ?2"
            ),
            params![failed_only, limit],
            event_row,
        )?;
        events.reverse();
        Ok(events)
    }

    fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<AuditEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_all(
            &format!(
                "SELECT seq, {EVENT_COLUMNS} FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ),
            params![seq, limit],
            event_row,
        )
    }

    fn delete_events_before(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.conn
            .execute(
                "DELETE FROM audit_events WHERE seq IN
                 (SELECT seq FROM (SELECT seq, time_ms FROM audit_events ORDER BY seq LIMIT ?2)
                  WHERE time_ms < ?1)",
                params![before_ms, limit],
            )
            .map_err(backend)
    }
}

/// Each call through [`SqliteStore`] is one statement (reads) or one
/// transaction (writes) of [`Db`].
macro_rules! through {
    ($($how:ident $(($lock:ident))? fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&self $(, $arg: $ty)*) -> $ret {
            through!(@call self, $how $(($lock))?, |db: &Db<'_>| db.$name($($arg),*))
        })*
    };
    (@call $self:ident, read, $f:expr) => { $self.read($f) };
    (@call $self:ident, write ($lock:ident), $f:expr) => { $self.write_one(Lock::$lock, $f) };
}

impl Store for SqliteStore {
    fn write(&self, work: &mut dyn FnMut(&dyn Store) -> Result<Finish>) -> Result<()> {
        self.transaction(Lock::Main, |db| Ok(((), work(db)?)))
    }

    through! {
        write(Main) fn create_account(&self, account: &Account, key: &AccessKey) -> Result<()>;
        read fn account(&self, id: &str) -> Result<Option<Account>>;
        read fn accounts(&self) -> Result<Vec<Account>>;
        read fn access_key(&self, id: &str) -> Result<Option<AccessKey>>;
        read fn access_keys(&self, account: &str) -> Result<Vec<AccessKey>>;
        write(Main) fn insert_role(&self, role: &Role) -> Result<()>;
        read fn role(&self, account: &str, name: &str) -> Result<Option<Role>>;
        read fn roles(&self, account: &str) -> Result<Vec<Role>>;
        read fn role_count(&self, account: &str) -> Result<usize>;
        write(Main) fn update_role(&self, role: &Role) -> Result<()>;
        write(Main) fn delete_role(&self, account: &str, name: &str) -> Result<()>;
        write(Main) fn put_role_policy(&self, account: &str, role: &str, name: &str, document: &str) -> Result<()>;
        read fn role_policy(&self, account: &str, role: &str, name: &str) -> Result<Option<String>>;
        read fn role_policies(&self, account: &str, role: &str) -> Result<Vec<(String, String)>>;
        write(Main) fn delete_role_policy(&self, account: &str, role: &str, name: &str) -> Result<()>;
        write(Main) fn attach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<()>;
        write(Main) fn detach_role_policy(&self, account: &str, role: &str, policy_arn: &str) -> Result<()>;
        read fn attached_role_policies(&self, account: &str, role: &str) -> Result<Vec<String>>;
        read fn policy_attachments(&self, account: &str, policy_arn: &str) -> Result<Vec<Attachment>>;
        read fn boundary_uses(&self, account: &str, policy_arn: &str) -> Result<Vec<Attachment>>;
        write(Main) fn insert_policy(&self, policy: &ManagedPolicy, first: &PolicyVersion) -> Result<()>;
        read fn policy(&self, arn: &str) -> Result<Option<ManagedPolicy>>;
        read fn policies(&self, account: &str) -> Result<Vec<ManagedPolicy>>;
        read fn policy_count(&self, account: &str) -> Result<usize>;
        write(Main) fn update_policy(&self, policy: &ManagedPolicy) -> Result<()>;
        write(Main) fn delete_policy(&self, arn: &str) -> Result<()>;
        write(Main) fn insert_policy_version(&self, arn: &str, version: &PolicyVersion) -> Result<()>;
        read fn policy_version(&self, arn: &str, id: &str) -> Result<Option<PolicyVersion>>;
        read fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>>;
        write(Main) fn delete_policy_version(&self, arn: &str, id: &str) -> Result<()>;
        write(Main) fn insert_oidc_provider(&self, provider: &OidcProvider) -> Result<()>;
        read fn oidc_provider(&self, arn: &str) -> Result<Option<OidcProvider>>;
        read fn oidc_providers(&self, account: &str) -> Result<Vec<OidcProvider>>;
        read fn oidc_provider_count(&self, account: &str) -> Result<usize>;
        write(Main) fn update_oidc_provider(&self, provider: &OidcProvider) -> Result<()>;
        write(Main) fn delete_oidc_provider(&self, arn: &str) -> Result<()>;
        write(Main) fn insert_cluster(&self, cluster: &Cluster, key: &ClusterKey) -> Result<()>;
        read fn cluster(&self, name: &str) -> Result<Option<Cluster>>;
        read fn cluster_by_issuer(&self, issuer_id: &str) -> Result<Option<Cluster>>;
        read fn clusters(&self) -> Result<Vec<Cluster>>;
        read fn cluster_keys(&self, name: &str) -> Result<Vec<ClusterKey>>;
        write(Main) fn rotate_cluster_key(&self, name: &str, key: &ClusterKey, revoke_previous: bool) -> Result<()>;
        read fn session_keys(&self) -> Result<Vec<(u32, Vec<u8>)>>;
        write(Main) fn add_session_key(&self, id: u32, key: &[u8], created: i64) -> Result<()>;
        write(Audit) fn append_events(&self, events: &[AuditEvent]) -> Result<()>;
        write(Main) fn stage_event(&self, event: &AuditEvent) -> Result<()>;
        write(Main) fn unstage_events(&self, ids: &[String]) -> Result<()>;
        read fn lookup_events(&self, account: &str, filter: &AuditFilter, start_ms: i64, end_ms: i64, before_seq: Option<i64>, limit: usize) -> Result<Vec<AuditEvent>>;
        read fn recent_events(&self, limit: usize, failed_only: bool) -> Result<Vec<AuditEvent>>;
        read fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<AuditEvent>>;
        write(Audit) fn delete_events_before(&self, before_ms: i64, limit: usize) -> Result<usize>;
    }
}

const EVENT_COLUMNS: &str = "id, account, time_ms, name, source, username, access_key_id, read_only, error_code, resource_type, resource_name, record";

fn event_row(r: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    Ok(AuditEvent {
        seq: r.get(0)?,
        id: r.get(1)?,
        account: r.get(2)?,
        time_ms: r.get(3)?,
        name: r.get(4)?,
        source: r.get(5)?,
        username: r.get(6)?,
        access_key_id: r.get(7)?,
        read_only: r.get(8)?,
        error_code: r.get(9)?,
        resource_type: r.get(10)?,
        resource_name: r.get(11)?,
        record: r.get(12)?,
    })
}

fn cluster_row(r: &Row<'_>) -> rusqlite::Result<Cluster> {
    Ok(Cluster {
        name: r.get(0)?,
        issuer_id: r.get(1)?,
        account: r.get(2)?,
        region: r.get(3)?,
        created: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> SqliteStore {
        let key = MasterKey::load_or_create(&dir.join("master.key")).unwrap();
        SqliteStore::open(dir, key).unwrap()
    }

    fn account(store: &SqliteStore, id: &str) {
        store
            .create_account(
                &Account {
                    id: id.into(),
                    created: 1,
                },
                &AccessKey {
                    id: format!("AKIA{id}"),
                    account: id.into(),
                    secret: format!("secret-{id}"),
                    created: 1,
                },
            )
            .unwrap();
    }

    fn role(name: &str) -> Role {
        Role {
            account: "123456789012".into(),
            name: name.into(),
            id: format!("AROA{name}"),
            path: "/".into(),
            trust_policy: "{}".into(),
            description: None,
            max_session_duration: 3600,
            boundary: None,
            tags: vec![Tag {
                key: "k".into(),
                value: "v".into(),
            }],
            created: 1,
        }
    }

    #[test]
    fn accounts_and_sealed_keys_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = open(dir.path());
            account(&s, "123456789012");
            assert_eq!(
                s.create_account(
                    &Account {
                        id: "123456789012".into(),
                        created: 1
                    },
                    &AccessKey {
                        id: "AKIAX".into(),
                        account: "123456789012".into(),
                        secret: "x".into(),
                        created: 1
                    }
                ),
                Err(StoreError::AlreadyExists)
            );
        }
        let s = open(dir.path());
        let key = s.access_key("AKIA123456789012").unwrap().unwrap();
        assert_eq!(key.secret, "secret-123456789012");
        assert!(!format!("{key:?}").contains("secret-"));
        let raw = std::fs::read(dir.path().join("irsa.db")).unwrap();
        let wal = std::fs::read(dir.path().join("irsa.db-wal")).unwrap_or_default();
        for bytes in [raw, wal] {
            assert!(
                !bytes.windows(19).any(|w| w == b"secret-123456789012"),
                "secret stored in plain text"
            );
        }
        assert_eq!(s.accounts().unwrap().len(), 1);
    }

    #[test]
    fn roles_are_unique_case_insensitively_and_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        account(&s, "123456789012");
        s.insert_role(&role("App")).unwrap();
        let mut dup = role("app");
        dup.id = "AROAother".into();
        assert_eq!(s.insert_role(&dup), Err(StoreError::AlreadyExists));
        assert_eq!(s.role("123456789012", "APP").unwrap().unwrap().name, "App");
        s.put_role_policy("123456789012", "App", "p", "{}").unwrap();
        s.attach_role_policy(
            "123456789012",
            "App",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        )
        .unwrap();
        s.attach_role_policy(
            "123456789012",
            "App",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
        )
        .unwrap();
        assert_eq!(
            s.attached_role_policies("123456789012", "app")
                .unwrap()
                .len(),
            1
        );
        s.delete_role("123456789012", "app").unwrap();
        assert!(s.role_policies("123456789012", "App").unwrap().is_empty());
        assert!(
            s.attached_role_policies("123456789012", "App")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.delete_role("123456789012", "app"),
            Err(StoreError::NotFound)
        );
    }

    #[test]
    fn policy_versions_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        account(&s, "123456789012");
        let p = ManagedPolicy {
            arn: "arn:aws:iam::123456789012:policy/p".into(),
            account: "123456789012".into(),
            name: "p".into(),
            id: "ANPAp".into(),
            path: "/".into(),
            description: None,
            default_version: "v1".into(),
            next_version: 2,
            tags: vec![],
            created: 1,
            updated: 1,
        };
        let v = |id: &str| PolicyVersion {
            id: id.into(),
            document: "{}".into(),
            created: 1,
        };
        s.insert_policy(&p, &v("v1")).unwrap();
        for i in 2..=10 {
            s.insert_policy_version(&p.arn, &v(&format!("v{i}")))
                .unwrap();
        }
        let ids: Vec<String> = s
            .policy_versions(&p.arn)
            .unwrap()
            .into_iter()
            .map(|v| v.id)
            .collect();
        assert_eq!(ids.first().map(String::as_str), Some("v10"));
        assert_eq!(ids.last().map(String::as_str), Some("v1"));
        s.delete_policy(&p.arn).unwrap();
        assert!(s.policy_versions(&p.arn).unwrap().is_empty());
    }

    #[test]
    fn clusters_keys_rotate_and_session_keys() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let c = Cluster {
            name: "my-cluster".into(),
            issuer_id: "ABC".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            created: 1,
        };
        let k = |kid: &str, t: i64| ClusterKey {
            kid: kid.into(),
            pkcs8: vec![1, 2, 3],
            created: t,
            retired: None,
        };
        s.insert_cluster(&c, &k("k1", 1)).unwrap();
        assert_eq!(
            s.insert_cluster(&c, &k("k1", 1)),
            Err(StoreError::AlreadyExists)
        );
        s.rotate_cluster_key("my-cluster", &k("k2", 5), false)
            .unwrap();
        let keys = s.cluster_keys("my-cluster").unwrap();
        assert_eq!(
            keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            ["k2", "k1"]
        );
        assert_eq!(keys[0].retired, None);
        assert_eq!(keys[1].retired, Some(5));
        assert_eq!(keys[1].pkcs8, [1, 2, 3]);
        assert_eq!(
            s.cluster_by_issuer("ABC").unwrap().unwrap().name,
            "my-cluster"
        );
        assert_eq!(
            s.rotate_cluster_key("none", &k("k3", 6), false),
            Err(StoreError::NotFound)
        );
        s.add_session_key(1, &[7; 32], 1).unwrap();
        assert_eq!(
            s.add_session_key(1, &[8; 32], 1),
            Err(StoreError::AlreadyExists)
        );
        assert_eq!(s.session_keys().unwrap(), [(1, vec![7; 32])]);
    }

    #[test]
    fn audit_events_lookup_page_tail_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let ev = |i: i64, account: &str, name: &str| AuditEvent {
            id: format!("id-{i}"),
            account: account.into(),
            time_ms: 1_000 * i,
            name: name.into(),
            source: "sts.amazonaws.com".into(),
            username: "s3-app-role".into(),
            access_key_id: format!("ASIA{i}"),
            read_only: false,
            error_code: String::new(),
            resource_type: "AWS::IAM::Role".into(),
            resource_name: "arn:aws:iam::1:role/r".into(),
            record: "{}".into(),
            seq: 0,
        };
        let events: Vec<AuditEvent> = (1..=10)
            .map(|i| {
                ev(
                    i,
                    if i % 2 == 0 { "a" } else { "b" },
                    if i <= 5 { "GetRole" } else { "AssumeRole" },
                )
            })
            .collect();
        s.append_events(&events).unwrap();
        let all = s
            .lookup_events("a", &AuditFilter::All, 0, i64::MAX, None, 100)
            .unwrap();
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["id-10", "id-8", "id-6", "id-4", "id-2"]
        );
        let page = s
            .lookup_events("a", &AuditFilter::All, 0, i64::MAX, Some(all[1].seq), 2)
            .unwrap();
        assert_eq!(
            page.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["id-6", "id-4"]
        );
        let named = s
            .lookup_events(
                "a",
                &AuditFilter::EventName("GetRole".into()),
                0,
                i64::MAX,
                None,
                100,
            )
            .unwrap();
        assert_eq!(named.len(), 2);
        let window = s
            .lookup_events("b", &AuditFilter::All, 3_000, 7_000, None, 100)
            .unwrap();
        assert_eq!(
            window.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["id-7", "id-5", "id-3"]
        );
        assert_eq!(
            s.lookup_events(
                "a",
                &AuditFilter::EventId("id-1".into()),
                0,
                i64::MAX,
                None,
                9
            )
            .unwrap()
            .len(),
            0
        );
        let tail = s.events_after(all[0].seq - 3, 10).unwrap();
        assert_eq!(tail.len(), 3);
        let recent = s.recent_events(2, false).unwrap();
        assert_eq!(
            recent.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["id-9", "id-10"]
        );
        assert!(s.recent_events(5, true).unwrap().is_empty());
        assert_eq!(s.delete_events_before(4_000, 2).unwrap(), 2);
        assert_eq!(s.delete_events_before(4_000, 2).unwrap(), 1);
        assert_eq!(s.delete_events_before(4_000, 2).unwrap(), 0);
        // Appending an event the trail holds (a staged event recovered at
        // start, then appended by the writer) is a no-op: ids stay unique.
        s.append_events(&[ev(11, "a", "x"), ev(11, "a", "x")])
            .unwrap();
        assert_eq!(
            s.lookup_events("a", &AuditFilter::All, 0, i64::MAX, None, 100)
                .unwrap()
                .len(),
            5,
            "the event is stored once"
        );
    }

    #[test]
    fn schema_3_events_move_to_audit_db() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("irsa.db")).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO audit_events (id, account, time_ms, name, source, username, access_key_id,
               read_only, error_code, resource_type, resource_name, record)
             VALUES ('old-1', 'a', 5000, 'GetRole', 'iam.amazonaws.com', 'root', 'AKIA', 1, '', '', '', '{}')",
        )
        .unwrap();
        drop(conn);
        let s = open(dir.path());
        let found = s
            .lookup_events("a", &AuditFilter::All, 0, i64::MAX, None, 10)
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, "old-1");
        let main_tables: i64 = s
            .lock()
            .unwrap()
            .query_row(
                "SELECT count(*) FROM main.sqlite_master WHERE name = 'audit_events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(main_tables, 0, "the table left irsa.db");
        drop(s);
        // Opening again changes nothing.
        let s = open(dir.path());
        assert_eq!(
            s.lookup_events("a", &AuditFilter::All, 0, i64::MAX, None, 10)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn retention_deletes_only_among_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let ev = |i: i64, time_ms: i64| AuditEvent {
            id: format!("id-{i}"),
            account: "a".into(),
            time_ms,
            name: "GetRole".into(),
            source: "iam.amazonaws.com".into(),
            username: "root".into(),
            access_key_id: String::new(),
            read_only: true,
            error_code: String::new(),
            resource_type: String::new(),
            resource_name: String::new(),
            record: "{}".into(),
            seq: 0,
        };
        // Appended in time order, with one out-of-order second (two requests
        // whose batches interleave).
        let times = [1_000, 2_000, 1_000, 3_000, 9_000, 10_000];
        let events: Vec<AuditEvent> = times
            .iter()
            .enumerate()
            .map(|(i, t)| ev(i as i64, *t))
            .collect();
        s.append_events(&events).unwrap();
        assert_eq!(s.delete_events_before(2_500, 2).unwrap(), 2);
        assert_eq!(s.delete_events_before(2_500, 2).unwrap(), 1);
        assert_eq!(
            s.delete_events_before(2_500, 2).unwrap(),
            0,
            "id-3 is newer"
        );
        let left = s
            .lookup_events("a", &AuditFilter::All, 0, i64::MAX, None, 10)
            .unwrap();
        assert_eq!(left.len(), 3);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()));
        let conn = Connection::open(dir.path().join("irsa.db")).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(conn);
        let key = MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let e = SqliteStore::open(dir.path(), key).unwrap_err();
        assert!(e.to_string().contains("schema version 99"), "{e}");
    }

    fn event(id: &str) -> AuditEvent {
        AuditEvent {
            id: id.into(),
            account: "123456789012".into(),
            time_ms: 5_000,
            name: "CreateRole".into(),
            source: "iam.amazonaws.com".into(),
            username: "root".into(),
            access_key_id: "AKIA1".into(),
            read_only: false,
            error_code: String::new(),
            resource_type: "AWS::IAM::Role".into(),
            resource_name: "arn:aws:iam::123456789012:role/a".into(),
            record: "{}".into(),
            seq: 0,
        }
    }

    fn all_events(s: &SqliteStore) -> Vec<String> {
        s.events_after(0, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    }

    #[test]
    fn a_write_commits_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        account(&s, "123456789012");
        // Rollback: nothing of what the work wrote stays.
        s.write(&mut |tx| {
            tx.insert_role(&role("a"))?;
            assert!(
                tx.role("123456789012", "a")?.is_some(),
                "the work sees its writes"
            );
            Ok(Finish::Rollback)
        })
        .unwrap();
        assert_eq!(s.role("123456789012", "a").unwrap(), None);
        // An error: the same, and the error is returned.
        let e = s
            .write(&mut |tx| {
                tx.insert_role(&role("a"))?;
                tx.insert_role(&role("A"))?;
                Ok(Finish::Commit)
            })
            .unwrap_err();
        assert_eq!(e, StoreError::AlreadyExists);
        assert_eq!(s.role_count("123456789012").unwrap(), 0);
        // Commit: every write stays.
        crate::write(&s, |tx| {
            tx.insert_role(&role("a"))?;
            tx.insert_role(&role("b"))?;
            tx.put_role_policy("123456789012", "a", "p", "{}")
        })
        .unwrap();
        assert_eq!(s.role_count("123456789012").unwrap(), 2);
        assert_eq!(s.role_policies("123456789012", "a").unwrap().len(), 1);
        // A nested write that rolls back undoes only its own writes.
        s.write(&mut |tx| {
            tx.delete_role("123456789012", "b")?;
            tx.write(&mut |inner| {
                inner.delete_role_policy("123456789012", "a", "p")?;
                Ok(Finish::Rollback)
            })?;
            Ok(Finish::Commit)
        })
        .unwrap();
        assert_eq!(s.role_count("123456789012").unwrap(), 1);
        assert_eq!(s.role_policies("123456789012", "a").unwrap().len(), 1);
    }

    #[test]
    fn the_store_itself_is_refused_inside_its_own_write() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        account(&s, "123456789012");
        // Calling the store (not the transaction) would wait forever for the
        // lock the transaction holds: it is refused, and the write fails.
        let e = s
            .write(&mut |tx| {
                tx.insert_role(&role("a"))?;
                s.role("123456789012", "a")?;
                Ok(Finish::Commit)
            })
            .unwrap_err();
        assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
        assert_eq!(s.role_count("123456789012").unwrap(), 0);
        // The thread is usable again afterwards.
        s.insert_role(&role("a")).unwrap();
    }

    #[test]
    fn a_staged_event_reaches_the_trail_even_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        account(&s, "123456789012");
        crate::write(&s, |tx| {
            tx.insert_role(&role("a"))?;
            tx.stage_event(&event("e-1"))
        })
        .unwrap();
        // A rolled-back change stages nothing.
        s.write(&mut |tx| {
            tx.insert_role(&role("b"))?;
            tx.stage_event(&event("e-2"))?;
            Ok(Finish::Rollback)
        })
        .unwrap();
        assert!(all_events(&s).is_empty(), "staged, not yet in the trail");
        // The process dies before the writer appends: the next open does.
        drop(s);
        let s = open(dir.path());
        assert_eq!(all_events(&s), ["e-1"]);
        // The writer's own append of it later is a no-op, and unstaging
        // what is gone is too.
        s.append_events(&[event("e-1")]).unwrap();
        s.unstage_events(&["e-1".into()]).unwrap();
        assert_eq!(all_events(&s), ["e-1"]);
        drop(s);
        assert_eq!(all_events(&open(dir.path())), ["e-1"], "recovered once");
    }

    #[test]
    fn the_normal_path_unstages_what_the_trail_holds() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        account(&s, "123456789012");
        crate::write(&s, |tx| tx.stage_event(&event("e-1"))).unwrap();
        s.append_events(&[event("e-1")]).unwrap();
        s.unstage_events(&["e-1".into()]).unwrap();
        let outbox: i64 = s
            .lock()
            .unwrap()
            .query_row("SELECT count(*) FROM audit_outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(outbox, 0);
        assert_eq!(all_events(&s), ["e-1"]);
    }

    /// Read-modify-write of one role's tags by many threads, half through one
    /// connection and half through another (as two processes on one data
    /// dir): no acknowledged change is lost.
    #[test]
    fn concurrent_read_modify_writes_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = std::sync::Arc::new(open(dir.path()));
        let b = std::sync::Arc::new(open(dir.path()));
        account(&a, "123456789012");
        a.insert_role(&role("r")).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    for round in 0..5 {
                        crate::write(store.as_ref(), |tx| {
                            let mut r =
                                tx.role("123456789012", "r")?.ok_or(StoreError::NotFound)?;
                            r.tags.push(Tag {
                                key: format!("t{i}-{round}"),
                                value: String::new(),
                            });
                            tx.update_role(&r)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let tags = a.role("123456789012", "r").unwrap().unwrap().tags;
        assert_eq!(tags.len(), 1 + 16 * 5);
    }
}
