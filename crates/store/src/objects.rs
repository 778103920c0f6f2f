//! S3's metadata: buckets, the index of objects (what a key holds: which blob,
//! its size, ETag and attributes) and multipart uploads. The bytes of objects
//! and parts live in a blob store beside it (the `s3` crate's `Blobs`),
//! named by the blob id each row holds.
//!
//! Every method is one transaction: what a caller is answered is committed.
//! Methods that replace or drop rows return the blob ids nobody refers to any
//! more, for the caller to remove after the commit.

use crate::{Result, Tag};

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Globally unique name.
    pub name: String,
    /// Owning account.
    pub account: String,
    /// Region it was created in.
    pub region: String,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// The bucket policy, as given.
    pub policy: Option<String>,
    /// The public access block: `[BlockPublicAcls, IgnorePublicAcls,
    /// BlockPublicPolicy, RestrictPublicBuckets]`, `None` when not configured.
    pub public_access_block: Option<[bool; 4]>,
    /// The tag set; `None` when the bucket has none (`NoSuchTagSet`).
    pub tags: Option<Vec<Tag>>,
}

/// What a key of a bucket holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The bucket.
    pub bucket: String,
    /// The key (UTF-8, at most 1,024 bytes).
    pub key: String,
    /// Id of the blob holding its bytes.
    pub blob: String,
    /// Length in bytes.
    pub size: i64,
    /// The ETag, quoted.
    pub etag: String,
    /// Last modification, milliseconds since the epoch.
    pub modified_ms: i64,
    /// The rest, as the S3 crate writes it (JSON: content headers, user
    /// metadata, checksums, tags, owner).
    pub attributes: String,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The upload id.
    pub id: String,
    /// The bucket.
    pub bucket: String,
    /// The key the object will have.
    pub key: String,
    /// Start, milliseconds since the epoch.
    pub initiated_ms: i64,
    /// What CreateMultipartUpload was given (JSON, as the S3 crate writes it).
    pub attributes: String,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The upload.
    pub upload: String,
    /// 1 to 10,000.
    pub number: i64,
    /// Id of the blob holding its bytes.
    pub blob: String,
    /// Length in bytes.
    pub size: i64,
    /// The ETag, quoted.
    pub etag: String,
    /// Upload time, milliseconds since the epoch.
    pub modified_ms: i64,
    /// Checksums (JSON, as the S3 crate writes it).
    pub attributes: String,
}

/// S3's metadata.
pub trait ObjectIndex {
    /// Creates a bucket; `AlreadyExists` when the name is taken (by anyone).
    fn create_bucket(&self, bucket: &Bucket) -> Result<()>;
    /// A bucket by name.
    fn bucket(&self, name: &str) -> Result<Option<Bucket>>;
    /// The buckets of an account, by name.
    fn buckets(&self, account: &str) -> Result<Vec<Bucket>>;
    /// Changes a bucket's configuration (policy, access block, tags) with
    /// `change`, which sees it as it is at the commit, so that concurrent
    /// changes of different parts all stay; an error of `change` writes
    /// nothing. `NotFound` when the bucket is gone.
    fn update_bucket(
        &self,
        name: &str,
        change: &mut dyn FnMut(&mut Bucket) -> Result<()>,
    ) -> Result<()>;
    /// Deletes an empty bucket: `Ok(false)` when it holds objects or
    /// uploads, `NotFound` when it is gone.
    fn delete_bucket(&self, name: &str) -> Result<bool>;
    /// Stores what a key holds, unless `check` refuses what the key holds
    /// at the commit (conditional writes); returns the blob it held before.
    /// `NotFound` when the bucket is gone.
    fn put_object(
        &self,
        object: &Object,
        check: &mut dyn FnMut(Option<&Object>) -> Result<()>,
    ) -> Result<Option<String>>;
    /// What a key holds.
    fn object(&self, bucket: &str, key: &str) -> Result<Option<Object>>;
    /// Removes a key; returns the blob it held.
    fn delete_object(&self, bucket: &str, key: &str) -> Result<Option<String>>;
    /// At most `limit` objects whose keys are at or after `from` and, with
    /// `below`, before it, in the byte order of their UTF-8 keys.
    fn list_objects(
        &self,
        bucket: &str,
        from: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Object>>;
    /// Starts a multipart upload; `NotFound` when the bucket is gone.
    fn create_upload(&self, upload: &Upload) -> Result<()>;
    /// An upload by id.
    fn upload(&self, id: &str) -> Result<Option<Upload>>;
    /// The uploads of a bucket, by key then start time.
    fn uploads(&self, bucket: &str) -> Result<Vec<Upload>>;
    /// Stores a part; returns the blob of the part it replaced. `NotFound`
    /// when the upload is gone.
    fn put_part(&self, part: &Part) -> Result<Option<String>>;
    /// The parts of an upload, by number.
    fn parts(&self, upload: &str) -> Result<Vec<Part>>;
    /// Ends an upload by storing `object`, unless `check` refuses its parts
    /// as they are at the commit; returns the blobs nobody refers to any more
    /// (the object's previous blob, every part's). `NotFound` when the upload
    /// is gone.
    fn complete_upload(
        &self,
        upload: &str,
        object: &Object,
        check: &mut dyn FnMut(&[Part]) -> Result<()>,
    ) -> Result<Vec<String>>;
    /// Drops an upload and its parts; returns the parts' blobs. `NotFound`
    /// when it is gone.
    fn delete_upload(&self, id: &str) -> Result<Vec<String>>;
    /// Whether any object or part refers to a blob (for removing the blobs
    /// a crash left behind).
    fn blob_in_use(&self, blob: &str) -> Result<bool>;
}
