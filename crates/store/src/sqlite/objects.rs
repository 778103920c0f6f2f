//! [`ObjectIndex`] on SQLite: tables `s3_buckets`, `s3_objects` (keys as BLOB,
//! so that ranges compare bytes as S3 orders keys), `s3_uploads`, `s3_parts`.

use rusqlite::{Row, params};

use super::{Db, Lock, SqliteStore, affected, backend, insert_error, tags_from_json, tags_to_json};
use crate::objects::{Bucket, Object, ObjectIndex, Part, Upload};
use crate::{Result, StoreError};

/// Migration 6 of `irsa.db`.
pub(super) const MIGRATION: &str = "CREATE TABLE s3_buckets (
        name TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        policy TEXT,
        public_access_block TEXT,
        tags TEXT
    );
    CREATE INDEX s3_buckets_by_account ON s3_buckets (account, name);
    CREATE TABLE s3_objects (
        bucket TEXT NOT NULL REFERENCES s3_buckets(name),
        key BLOB NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified_ms INTEGER NOT NULL,
        attributes TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE INDEX s3_objects_by_blob ON s3_objects (blob);
    CREATE TABLE s3_uploads (
        id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL REFERENCES s3_buckets(name),
        key BLOB NOT NULL,
        initiated_ms INTEGER NOT NULL,
        attributes TEXT NOT NULL
    );
    CREATE INDEX s3_uploads_by_bucket ON s3_uploads (bucket, key, initiated_ms);
    CREATE TABLE s3_parts (
        upload TEXT NOT NULL REFERENCES s3_uploads(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified_ms INTEGER NOT NULL,
        attributes TEXT NOT NULL,
        PRIMARY KEY (upload, number)
    ) WITHOUT ROWID;
    CREATE INDEX s3_parts_by_blob ON s3_parts (blob);";

const BUCKET_COLUMNS: &str = "name, account, region, created_ms, policy, public_access_block, tags";
const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, modified_ms, attributes";
const UPLOAD_COLUMNS: &str = "id, bucket, key, initiated_ms, attributes";
const PART_COLUMNS: &str = "upload, number, blob, size, etag, modified_ms, attributes";

fn access_block_to_text(b: Option<[bool; 4]>) -> Option<String> {
    b.map(|v| v.iter().map(|x| if *x { '1' } else { '0' }).collect())
}

fn access_block_from_text(t: Option<String>) -> Option<[bool; 4]> {
    let t = t?;
    let b = t.as_bytes();
    match b {
        [a, c, d, e] => Some([*a == b'1', *c == b'1', *d == b'1', *e == b'1']),
        _ => None,
    }
}

fn key_text(r: &Row<'_>, i: usize) -> rusqlite::Result<String> {
    let bytes: Vec<u8> = r.get(i)?;
    String::from_utf8(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn bucket_row(r: &Row<'_>) -> rusqlite::Result<Bucket> {
    Ok(Bucket {
        name: r.get(0)?,
        account: r.get(1)?,
        region: r.get(2)?,
        created_ms: r.get(3)?,
        policy: r.get(4)?,
        public_access_block: access_block_from_text(r.get(5)?),
        tags: r.get::<_, Option<String>>(6)?.map(|t| tags_from_json(&t)),
    })
}

fn object_row(r: &Row<'_>) -> rusqlite::Result<Object> {
    Ok(Object {
        bucket: r.get(0)?,
        key: key_text(r, 1)?,
        blob: r.get(2)?,
        size: r.get(3)?,
        etag: r.get(4)?,
        modified_ms: r.get(5)?,
        attributes: r.get(6)?,
    })
}

fn upload_row(r: &Row<'_>) -> rusqlite::Result<Upload> {
    Ok(Upload {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: key_text(r, 2)?,
        initiated_ms: r.get(3)?,
        attributes: r.get(4)?,
    })
}

fn part_row(r: &Row<'_>) -> rusqlite::Result<Part> {
    Ok(Part {
        upload: r.get(0)?,
        number: r.get(1)?,
        blob: r.get(2)?,
        size: r.get(3)?,
        etag: r.get(4)?,
        modified_ms: r.get(5)?,
        attributes: r.get(6)?,
    })
}

impl Db<'_> {
    fn bucket_row(&self, name: &str) -> Result<Option<Bucket>> {
        self.query_one(
            &format!("SELECT {BUCKET_COLUMNS} FROM s3_buckets WHERE name = ?1"),
            [name],
            bucket_row,
        )
    }

    fn object_row(&self, bucket: &str, key: &str) -> Result<Option<Object>> {
        self.query_one(
            &format!("SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ?1 AND key = ?2"),
            params![bucket, key.as_bytes()],
            object_row,
        )
    }

    fn bucket_exists(&self, name: &str) -> Result<bool> {
        Ok(self.count("SELECT count(*) FROM s3_buckets WHERE name = ?1", name)? > 0)
    }

    fn object_blob(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        self.query_one(
            "SELECT blob FROM s3_objects WHERE bucket = ?1 AND key = ?2",
            params![bucket, key.as_bytes()],
            |r| r.get(0),
        )
    }

    fn upsert_object(&self, o: &Object) -> Result<Option<String>> {
        if !self.bucket_exists(&o.bucket)? {
            return Err(StoreError::NotFound);
        }
        let old = self.object_blob(&o.bucket, &o.key)?;
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO s3_objects ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    o.bucket,
                    o.key.as_bytes(),
                    o.blob,
                    o.size,
                    o.etag,
                    o.modified_ms,
                    o.attributes
                ])
            })
            .map_err(backend)?;
        Ok(old.filter(|b| *b != o.blob))
    }

    fn part_rows(&self, upload: &str) -> Result<Vec<Part>> {
        self.query_all(
            &format!("SELECT {PART_COLUMNS} FROM s3_parts WHERE upload = ?1 ORDER BY number"),
            [upload],
            part_row,
        )
    }
}

impl ObjectIndex for SqliteStore {
    fn create_bucket(&self, b: &Bucket) -> Result<()> {
        self.write_one(Lock::Main, |db| {
            db.conn
                .execute(
                    &format!("INSERT INTO s3_buckets ({BUCKET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                    params![
                        b.name,
                        b.account,
                        b.region,
                        b.created_ms,
                        b.policy,
                        access_block_to_text(b.public_access_block),
                        b.tags.as_deref().map(tags_to_json)
                    ],
                )
                .map(|_| ())
                .map_err(insert_error)
        })
    }

    fn bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.read(|db| db.bucket_row(name))
    }

    fn buckets(&self, account: &str) -> Result<Vec<Bucket>> {
        self.read(|db| {
            db.query_all(
                &format!(
                    "SELECT {BUCKET_COLUMNS} FROM s3_buckets WHERE account = ?1 ORDER BY name"
                ),
                [account],
                bucket_row,
            )
        })
    }

    fn update_bucket(
        &self,
        name: &str,
        change: &mut dyn FnMut(&mut Bucket) -> Result<()>,
    ) -> Result<()> {
        self.write_one(Lock::Main, |db| {
            let mut b = db.bucket_row(name)?.ok_or(StoreError::NotFound)?;
            change(&mut b)?;
            let n = db
                .conn
                .execute(
                    "UPDATE s3_buckets SET policy = ?2, public_access_block = ?3, tags = ?4 WHERE name = ?1",
                    params![
                        name,
                        b.policy,
                        access_block_to_text(b.public_access_block),
                        b.tags.as_deref().map(tags_to_json)
                    ],
                )
                .map_err(backend)?;
            affected(n)
        })
    }

    fn delete_bucket(&self, name: &str) -> Result<bool> {
        self.write_one(Lock::Main, |db| {
            if !db.bucket_exists(name)? {
                return Err(StoreError::NotFound);
            }
            let objects = db.query_one(
                "SELECT 1 FROM s3_objects WHERE bucket = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )?;
            let uploads = db.query_one(
                "SELECT 1 FROM s3_uploads WHERE bucket = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )?;
            if objects.is_some() || uploads.is_some() {
                return Ok(false);
            }
            db.conn
                .execute("DELETE FROM s3_buckets WHERE name = ?1", [name])
                .map_err(backend)?;
            Ok(true)
        })
    }

    fn put_object(
        &self,
        o: &Object,
        check: &mut dyn FnMut(Option<&Object>) -> Result<()>,
    ) -> Result<Option<String>> {
        self.write_one(Lock::Main, |db| {
            check(db.object_row(&o.bucket, &o.key)?.as_ref())?;
            db.upsert_object(o)
        })
    }

    fn object(&self, bucket: &str, key: &str) -> Result<Option<Object>> {
        self.read(|db| db.object_row(bucket, key))
    }

    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<String>> {
        self.write_one(Lock::Main, |db| {
            let old = db.object_blob(bucket, key)?;
            db.conn
                .execute(
                    "DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2",
                    params![bucket, key.as_bytes()],
                )
                .map_err(backend)?;
            Ok(old)
        })
    }

    fn list_objects(
        &self,
        bucket: &str,
        from: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Object>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|db| match below {
            Some(below) => db.query_all(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM s3_objects
                     WHERE bucket = ?1 AND key >= ?2 AND key < ?3 ORDER BY key LIMIT ?4"
                ),
                params![bucket, from, below, limit],
                object_row,
            ),
            None => db.query_all(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM s3_objects
                     WHERE bucket = ?1 AND key >= ?2 ORDER BY key LIMIT ?3"
                ),
                params![bucket, from, limit],
                object_row,
            ),
        })
    }

    fn create_upload(&self, u: &Upload) -> Result<()> {
        self.write_one(Lock::Main, |db| {
            if !db.bucket_exists(&u.bucket)? {
                return Err(StoreError::NotFound);
            }
            db.conn
                .execute(
                    &format!(
                        "INSERT INTO s3_uploads ({UPLOAD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
                    ),
                    params![
                        u.id,
                        u.bucket,
                        u.key.as_bytes(),
                        u.initiated_ms,
                        u.attributes
                    ],
                )
                .map(|_| ())
                .map_err(insert_error)
        })
    }

    fn upload(&self, id: &str) -> Result<Option<Upload>> {
        self.read(|db| {
            db.query_one(
                &format!("SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE id = ?1"),
                [id],
                upload_row,
            )
        })
    }

    fn uploads(&self, bucket: &str) -> Result<Vec<Upload>> {
        self.read(|db| {
            db.query_all(
                &format!(
                    "SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE bucket = ?1 ORDER BY key, initiated_ms, id"
                ),
                [bucket],
                upload_row,
            )
        })
    }

    fn put_part(&self, p: &Part) -> Result<Option<String>> {
        self.write_one(Lock::Main, |db| {
            let exists = db.count("SELECT count(*) FROM s3_uploads WHERE id = ?1", &p.upload)? > 0;
            if !exists {
                return Err(StoreError::NotFound);
            }
            let old: Option<String> = db.query_one(
                "SELECT blob FROM s3_parts WHERE upload = ?1 AND number = ?2",
                params![p.upload, p.number],
                |r| r.get(0),
            )?;
            db.conn
                .execute(
                    &format!("INSERT OR REPLACE INTO s3_parts ({PART_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                    params![p.upload, p.number, p.blob, p.size, p.etag, p.modified_ms, p.attributes],
                )
                .map_err(backend)?;
            Ok(old.filter(|b| *b != p.blob))
        })
    }

    fn parts(&self, upload: &str) -> Result<Vec<Part>> {
        self.read(|db| db.part_rows(upload))
    }

    fn complete_upload(
        &self,
        upload: &str,
        object: &Object,
        check: &mut dyn FnMut(&[Part]) -> Result<()>,
    ) -> Result<Vec<String>> {
        self.write_one(Lock::Main, |db| {
            let exists = db.count("SELECT count(*) FROM s3_uploads WHERE id = ?1", upload)? > 0;
            if !exists {
                return Err(StoreError::NotFound);
            }
            let parts = db.part_rows(upload)?;
            check(&parts)?;
            let mut freed: Vec<String> = parts.into_iter().map(|p| p.blob).collect();
            freed.extend(db.upsert_object(object)?);
            db.conn
                .execute("DELETE FROM s3_uploads WHERE id = ?1", [upload])
                .map_err(backend)?;
            Ok(freed)
        })
    }

    fn delete_upload(&self, id: &str) -> Result<Vec<String>> {
        self.write_one(Lock::Main, |db| {
            let parts = db.part_rows(id)?;
            let n = db
                .conn
                .execute("DELETE FROM s3_uploads WHERE id = ?1", [id])
                .map_err(backend)?;
            affected(n)?;
            Ok(parts.into_iter().map(|p| p.blob).collect())
        })
    }

    fn blob_in_use(&self, blob: &str) -> Result<bool> {
        self.read(|db| {
            Ok(
                db.count("SELECT count(*) FROM s3_objects WHERE blob = ?1", blob)? > 0
                    || db.count("SELECT count(*) FROM s3_parts WHERE blob = ?1", blob)? > 0,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;
    use crate::{MasterKey, Tag};

    fn open(dir: &std::path::Path) -> SqliteStore {
        let key = MasterKey::load_or_create(&dir.join("master.key")).unwrap();
        SqliteStore::open(dir, key).unwrap()
    }

    fn bucket(name: &str) -> Bucket {
        Bucket {
            name: name.into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            created_ms: 1,
            policy: None,
            public_access_block: None,
            tags: None,
        }
    }

    fn object(key: &str, blob: &str) -> Object {
        Object {
            bucket: "b".into(),
            key: key.into(),
            blob: blob.into(),
            size: 1,
            etag: format!("\"{blob}\""),
            modified_ms: 1,
            attributes: "{}".into(),
        }
    }

    /// Tags, policy and access block changed at once, by writers on two
    /// connections (as S3 requests on several workers): every change stays.
    #[test]
    fn concurrent_bucket_changes_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(open(dir.path()));
        let b = Arc::new(open(dir.path()));
        a.create_bucket(&bucket("b")).unwrap();
        let barrier = Arc::new(Barrier::new(12));
        let threads: Vec<_> = (0..12)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    for round in 0..5 {
                        store
                            .update_bucket("b", &mut |b| {
                                match i % 3 {
                                    0 => b.tags.get_or_insert_with(Vec::new).push(Tag {
                                        key: format!("t{i}-{round}"),
                                        value: String::new(),
                                    }),
                                    1 => b.policy = Some(format!("policy {i}")),
                                    _ => b.public_access_block = Some([true, false, true, false]),
                                }
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = a.bucket("b").unwrap().unwrap();
        assert_eq!(got.tags.unwrap().len(), 4 * 5);
        assert!(got.policy.unwrap().starts_with("policy "));
        assert_eq!(got.public_access_block, Some([true, false, true, false]));
    }

    #[test]
    fn a_refused_change_writes_nothing_and_a_missing_bucket_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.create_bucket(&bucket("b")).unwrap();
        let e = s.update_bucket("b", &mut |b| {
            b.policy = Some("p".into());
            Err(StoreError::Unavailable("no".into()))
        });
        assert!(matches!(e, Err(StoreError::Unavailable(_))));
        assert_eq!(s.bucket("b").unwrap().unwrap().policy, None);
        assert_eq!(
            s.update_bucket("nope", &mut |_| Ok(())),
            Err(StoreError::NotFound)
        );
    }

    /// The check of a conditional write sees what the key holds at the
    /// commit; a refusal writes nothing.
    #[test]
    fn conditional_puts_are_decided_at_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.create_bucket(&bucket("b")).unwrap();
        let absent = |now: Option<&Object>| {
            if now.is_some() {
                Err(StoreError::AlreadyExists)
            } else {
                Ok(())
            }
        };
        assert_eq!(
            s.put_object(&object("k", "one"), &mut absent.clone()),
            Ok(None)
        );
        assert_eq!(
            s.put_object(&object("k", "two"), &mut absent.clone()),
            Err(StoreError::AlreadyExists)
        );
        assert_eq!(s.object("b", "k").unwrap().unwrap().blob, "one");
        let mut seen = None;
        let replaced = s.put_object(&object("k", "two"), &mut |now| {
            seen = now.map(|o| o.blob.clone());
            Ok(())
        });
        assert_eq!(replaced, Ok(Some("one".into())));
        assert_eq!(seen.as_deref(), Some("one"));
        // Rewriting the same blob frees nothing.
        assert_eq!(s.put_object(&object("k", "two"), &mut |_| Ok(())), Ok(None));
        // A bucket that is gone.
        let mut o = object("k", "x");
        o.bucket = "gone".into();
        assert_eq!(s.put_object(&o, &mut |_| Ok(())), Err(StoreError::NotFound));
    }

    /// Many writers racing `If-None-Match: *` on one key: exactly one wins.
    #[test]
    fn of_racing_create_only_writes_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(open(dir.path()));
        let b = Arc::new(open(dir.path()));
        a.create_bucket(&bucket("b")).unwrap();
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store
                        .put_object(&object("k", &format!("blob{i}")), &mut |now| match now {
                            Some(_) => Err(StoreError::AlreadyExists),
                            None => Ok(()),
                        })
                        .is_ok()
                })
            })
            .collect();
        let wins = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&w| w)
            .count();
        assert_eq!(wins, 1);
    }
}
