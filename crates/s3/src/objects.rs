//! Object operations: PutObject, GetObject and HeadObject (ranges,
//! conditions, response overrides), CopyObject, DeleteObject,
//! DeleteObjects, object tagging and ACL.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use futures_util::StreamExt;
use store::objects::{Bucket, Object};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::access::{self, add_existing_tags};
use crate::attrs::{Attrs, MAX_OBJECT_TAGS, tagging_xml, tags_from_header, tags_from_xml};
use crate::body::{self, Payload};
use crate::buckets::now_ms;
use crate::checksum::{Algorithm, hex};
use crate::error::S3Error;
use crate::route::Op;
use crate::xml::Writer;
use crate::{Call, MAX_OBJECT, empty, xml_response};

/// The ETag of bytes with this MD5: quoted lowercase hex.
pub(crate) fn etag(md5: &[u8]) -> String {
    format!("\"{}\"", hex(md5))
}

fn precondition_failed(condition: &str) -> S3Error {
    S3Error::new(
        "PreconditionFailed",
        StatusCode::PRECONDITION_FAILED,
        "At least one of the pre-conditions you specified did not hold",
    )
    .with("Condition", condition)
}

/// Whether an `If-Match`/`If-None-Match` list names this ETag (`*` names any).
fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag || t.trim_matches('"') == etag.trim_matches('"'))
}

/// The outcome of conditional headers on a read (RFC 9110 §13.2.2, as S3
/// documents in API_GetObject.html): `Ok(true)` to answer 304.
/// Conditional writes: `If-None-Match: *` refuses an existing key,
/// `If-Match` a key holding another ETag (API_PutObject.html). Checked before
/// the body is received and again, against what the key holds then, at the
/// commit: of two conditional writes racing, one fails.
#[derive(Debug, Clone, Default)]
struct WriteConditions {
    create_only: bool,
    if_match: Option<String>,
}

impl WriteConditions {
    fn check(&self, key: &str, existing: Option<&Object>) -> Result<(), S3Error> {
        if self.create_only && existing.is_some() {
            return Err(precondition_failed("If-None-Match"));
        }
        if let Some(list) = &self.if_match {
            match existing {
                None => return Err(S3Error::no_such_key(key)),
                Some(o) if !etag_matches(list, &o.etag) => {
                    return Err(precondition_failed("If-Match"));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// How often a tag change is decided again when writes keep replacing the
/// object under it.
const TAGGING_ATTEMPTS: usize = 4;

fn check_read_conditions(
    get: &dyn Fn(&str) -> Option<String>,
    prefix: &str,
    object: &Object,
) -> Result<bool, S3Error> {
    let h = |name: &str| get(&format!("{prefix}{name}"));
    let modified = object.modified_ms / 1000;
    let date = |name: &str| h(name).and_then(|v| crate::time::parse_http_date(&v));
    let if_match = h("if-match");
    if let Some(list) = &if_match {
        if !etag_matches(list, &object.etag) {
            return Err(precondition_failed(&format!("{prefix}If-Match")));
        }
    } else if date("if-unmodified-since").is_some_and(|t| modified > t) {
        return Err(precondition_failed(&format!("{prefix}If-Unmodified-Since")));
    }
    if let Some(list) = h("if-none-match") {
        if etag_matches(&list, &object.etag) {
            return Ok(true);
        }
    } else if date("if-modified-since").is_some_and(|t| modified <= t) {
        return Ok(true);
    }
    Ok(false)
}

/// A `Range: bytes=…` of one range, resolved against `size`:
/// `Ok(None)` serves the whole object (no range, or one S3 ignores).
fn resolve_range(value: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    let unsatisfiable = || {
        S3Error::new(
            "InvalidRange",
            StatusCode::RANGE_NOT_SATISFIABLE,
            "The requested range is not satisfiable",
        )
        .with(
            "RangeRequested",
            crate::error::shown(value.unwrap_or_default()),
        )
        .with("ActualObjectSize", size.to_string())
    };
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => return Ok(None),
        (true, false) => {
            let Some(n) = num(b) else { return Ok(None) };
            if n == 0 {
                return Err(unsatisfiable());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (false, _) => {
            let Some(start) = num(a) else { return Ok(None) };
            let end = if b.trim().is_empty() {
                size.saturating_sub(1)
            } else {
                match num(b) {
                    Some(e) if e >= start => e.min(size.saturating_sub(1)),
                    _ => return Ok(None),
                }
            };
            (start, end)
        }
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// Parses `x-amz-copy-source`: `[/]BUCKET/KEY[?versionId=…]`, URL-encoded.
pub(crate) fn copy_source(value: &str) -> Result<(String, String), S3Error> {
    let invalid =
        || S3Error::invalid_argument("Invalid copy source object key", "x-amz-copy-source", value);
    let path = value.split_once('?').map_or(value, |(p, _)| p);
    let decoded = crate::route::percent_decode(path).map_err(|_| invalid())?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded.split_once('/').ok_or_else(invalid)?;
    if key.is_empty() || !crate::names::is_valid_bucket_name(bucket) {
        return Err(invalid());
    }
    Ok((bucket.to_string(), key.to_string()))
}

impl Call<'_> {
    fn object_headers(&self, object: &Object, attrs: &Attrs, whole: bool, headers: &mut HeaderMap) {
        let mut set = |name: &str, value: &str| {
            if let (Ok(n), Ok(v)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        };
        set("etag", &object.etag);
        set("last-modified", &crate::time::http_date(object.modified_ms));
        set("accept-ranges", "bytes");
        set(
            "content-type",
            attrs
                .content("content-type")
                .unwrap_or("binary/octet-stream"),
        );
        for (name, value) in &attrs.content {
            if name != "content-type" {
                set(name, value);
            }
        }
        for (name, value) in &attrs.metadata {
            set(&format!("x-amz-meta-{name}"), value);
        }
        if !attrs.tags.is_empty() {
            set("x-amz-tagging-count", &attrs.tags.len().to_string());
        }
        if let Some(n) = attrs.parts {
            set("x-amz-mp-parts-count", &n.to_string());
        }
        set("x-amz-server-side-encryption", "AES256");
        // A checksum covers the whole object: a range is answered without it.
        if whole
            && self
                .header("x-amz-checksum-mode")
                .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
            && let Some((a, v)) = &attrs.checksum
            && let Some(a) = Algorithm::from_name(a)
        {
            set(a.header(), v);
        }
    }

    /// Loads the request's object (if it exists) and authorizes the route's
    /// operation on it, with `s3:ExistingObjectTag/*` from its tags. A
    /// missing object is `NoSuchKey` to callers that may list the bucket and
    /// AccessDenied to others (API_GetObject.html, "Permissions").
    fn authorized_object(&self, bucket: &Bucket) -> Result<(Object, Attrs), S3Error> {
        let found = self.s3.index.object(&bucket.name, self.key())?;
        let attrs = found
            .as_ref()
            .map(|o| Attrs::from_json(&o.attributes))
            .unwrap_or_default();
        let mut ctx = self.context(self.route.op, Some(bucket), &[]);
        add_existing_tags(&mut ctx, &attrs.tags);
        self.authorize_op(Some(bucket), &ctx)?;
        match found {
            Some(o) => Ok((o, attrs)),
            None if self.may_list(bucket) => Err(S3Error::no_such_key(self.key())),
            None => Err(self.denied_listing(bucket)),
        }
    }

    fn denied_listing(&self, bucket: &Bucket) -> S3Error {
        if self.caller.account.is_none() {
            return S3Error::access_denied("Access Denied");
        }
        S3Error::access_denied(format!(
            "User: {} is not authorized to perform: s3:ListBucket on resource: \"arn:aws:s3:::{}\" because no identity-based policy allows the s3:ListBucket action",
            self.caller.arn, bucket.name
        ))
    }

    /// Request tags of `x-amz-tagging`.
    fn request_tags(&self) -> Result<Vec<(String, String)>, S3Error> {
        match self.header("x-amz-tagging") {
            Some(v) => tags_from_header(v),
            None => Ok(Vec::new()),
        }
    }

    /// Authorizes a write of the request's object: `s3:PutObject`, and
    /// `s3:PutObjectTagging` too when it sets tags.
    fn authorize_write(&self, bucket: &Bucket, tags: &[(String, String)]) -> Result<(), S3Error> {
        let ctx = self.context(self.route.op, Some(bucket), tags);
        self.authorize_op(Some(bucket), &ctx)?;
        if !tags.is_empty() {
            let resource = access::object_arn(&bucket.name, self.key());
            self.authorize("s3:PutObjectTagging", &resource, Some(bucket), &ctx)?;
        }
        Ok(())
    }

    /// Streams the body into a new blob, checked; returns the blob id and
    /// what was received. Nothing is kept when a check fails.
    pub(crate) async fn receive_blob(
        &self,
        body: Body,
        max: u64,
    ) -> Result<(String, body::Received), S3Error> {
        if matches!(self.caller.payload, Payload::Sha256(_) | Payload::Unsigned)
            && self.header("content-length").is_none()
            && self.header("transfer-encoding").is_none()
        {
            return Err(S3Error::new(
                "MissingContentLength",
                StatusCode::LENGTH_REQUIRED,
                "You must provide the Content-Length HTTP header.",
            ));
        }
        if let Some(n) = self
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            && !matches!(
                self.caller.payload,
                Payload::SignedChunks { .. } | Payload::UnsignedChunks
            )
            && n > max
        {
            return Err(S3Error::new(
                "EntityTooLarge",
                StatusCode::BAD_REQUEST,
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("MaxSizeAllowed", max.to_string()));
        }
        let declared = self.declared(max)?;
        let mut writer = self.s3.blobs.create().await.map_err(S3Error::internal)?;
        let received = body::receive(body, &self.caller.payload, &declared, &mut writer).await?;
        let id = self
            .s3
            .blobs
            .commit(writer)
            .await
            .map_err(S3Error::internal)?;
        Ok((id, received))
    }

    /// Indexes a new blob under the request's key, if `conditional`
    /// under its `If-None-Match`/`If-Match` as the key is at the commit;
    /// removes the blob it replaced, or the new one if indexing failed.
    pub(crate) async fn index_object(
        &self,
        object: &Object,
        conditional: bool,
    ) -> Result<(), S3Error> {
        let conditions = if conditional {
            self.write_conditions()
        } else {
            WriteConditions::default()
        };
        let key = object.key.clone();
        let row = object.clone();
        let (indexed, refused) = self
            .s3
            .write(move |index| {
                let mut refused = None;
                let indexed = index.put_object(&row, &mut |now| {
                    conditions.check(&key, now).map_err(|e| {
                        refused = Some(e);
                        store::StoreError::Unavailable("refused".into())
                    })
                });
                (indexed, refused)
            })
            .await?;
        match indexed {
            Ok(old) => {
                if let Some(old) = old {
                    self.s3.blobs.remove(&old).await;
                }
                Ok(())
            }
            Err(e) => {
                self.s3.blobs.remove(&object.blob).await;
                Err(match (refused, e) {
                    (Some(refused), _) => refused,
                    (None, store::StoreError::NotFound) => S3Error::no_such_bucket(&object.bucket),
                    (None, other) => other.into(),
                })
            }
        }
    }

    /// The request's write conditions.
    fn write_conditions(&self) -> WriteConditions {
        WriteConditions {
            create_only: self
                .header("if-none-match")
                .is_some_and(|v| v.trim() == "*"),
            if_match: self.header("if-match").map(str::to_string),
        }
    }

    pub(crate) async fn put_object(&self, body: Body) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let tags = self.request_tags()?;
        self.authorize_write(&bucket, &tags)?;
        let mut attrs = Attrs::from_headers(self.headers)?;
        attrs.tags = tags;
        let conditions = self.write_conditions();
        if conditions.create_only || conditions.if_match.is_some() {
            let existing = self.s3.index.object(&bucket.name, self.key())?;
            conditions.check(self.key(), existing.as_ref())?;
        }
        let (blob, received) = self.receive_blob(body, MAX_OBJECT).await?;
        attrs.checksum = received
            .checksum
            .as_ref()
            .map(|(a, v)| (a.name().to_string(), v.clone()));
        let object = Object {
            bucket: bucket.name.clone(),
            key: self.key().to_string(),
            blob,
            size: i64::try_from(received.size).unwrap_or(i64::MAX),
            etag: etag(&received.md5),
            modified_ms: now_ms(),
            attributes: attrs.to_json(),
        };
        self.index_object(&object, true).await?;
        let mut r = empty(StatusCode::OK);
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&object.etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(
            "x-amz-server-side-encryption",
            HeaderValue::from_static("AES256"),
        );
        if let Some((a, v)) = &received.checksum
            && let Ok(v) = HeaderValue::from_str(v)
        {
            h.insert(a.header(), v);
        }
        Ok(r)
    }

    pub(crate) async fn get_object(&self) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let (object, attrs) = self.authorized_object(&bucket)?;
        let get = |name: &str| self.header(name).map(str::to_string);
        let not_modified = check_read_conditions(&get, "", &object)?;
        let mut r = empty(StatusCode::OK);
        if not_modified {
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&object.etag) {
                h.insert(header::ETAG, v);
            }
            if let Ok(v) = HeaderValue::from_str(&crate::time::http_date(object.modified_ms)) {
                h.insert(header::LAST_MODIFIED, v);
            }
            return Ok(r);
        }
        let size = u64::try_from(object.size).unwrap_or_default();
        let range = resolve_range(self.header("range"), size)?;
        self.object_headers(&object, &attrs, range.is_none(), r.headers_mut());
        if self.route.op == Op::GetObject {
            for (param, name) in [
                ("response-content-type", "content-type"),
                ("response-content-language", "content-language"),
                ("response-expires", "expires"),
                ("response-cache-control", "cache-control"),
                ("response-content-disposition", "content-disposition"),
                ("response-content-encoding", "content-encoding"),
            ] {
                if let Some(v) = self.param(param) {
                    if self.caller.account.is_none() {
                        return Err(S3Error::invalid_request(
                            "Request specific response headers cannot be used for anonymous GET requests.",
                        ));
                    }
                    if let Ok(v) = HeaderValue::from_str(v) {
                        r.headers_mut().insert(name, v);
                    }
                }
            }
        }
        let (start, len) = match range {
            Some((a, b)) => {
                *r.status_mut() = StatusCode::PARTIAL_CONTENT;
                if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                (a, b - a + 1)
            }
            None => (0, size),
        };
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            r.headers_mut().insert(header::CONTENT_LENGTH, v);
        }
        if self.route.op == Op::HeadObject {
            return Ok(r);
        }
        *r.body_mut() = if len <= READ_WHOLE {
            Body::from(
                self.s3
                    .blobs
                    .read(&object.blob, start, len)
                    .map_err(S3Error::internal)?,
            )
        } else {
            let file = self
                .s3
                .blobs
                .open_read(&object.blob)
                .await
                .map_err(S3Error::internal)?;
            stream_file(file, start, len)
                .await
                .map_err(S3Error::internal)?
        };
        Ok(r)
    }

    pub(crate) async fn copy_object(&self) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let (src_bucket_name, src_key) =
            copy_source(self.header("x-amz-copy-source").unwrap_or_default())?;
        let replace_meta = match self.header("x-amz-metadata-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(v) => {
                return Err(S3Error::invalid_argument(
                    "Unknown metadata directive.",
                    "x-amz-metadata-directive",
                    v,
                ));
            }
        };
        let replace_tags = match self.header("x-amz-tagging-directive") {
            None | Some("COPY") => false,
            Some("REPLACE") => true,
            Some(v) => {
                return Err(S3Error::invalid_argument(
                    "Unknown tagging directive.",
                    "x-amz-tagging-directive",
                    v,
                ));
            }
        };
        let tags = if replace_tags {
            self.request_tags()?
        } else {
            Vec::new()
        };
        self.authorize_write(&bucket, &tags)?;
        let (source, src_attrs) = self.copy_source_object(&src_bucket_name, &src_key)?;
        if src_bucket_name == bucket.name && src_key == self.key() && !replace_meta {
            return Err(S3Error::invalid_request(
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
            ));
        }
        let mut attrs = if replace_meta {
            Attrs::from_headers(self.headers)?
        } else {
            Attrs {
                content: src_attrs.content.clone(),
                metadata: src_attrs.metadata.clone(),
                ..Attrs::default()
            }
        };
        attrs.tags = if replace_tags {
            tags
        } else {
            src_attrs.tags.clone()
        };
        attrs.checksum = src_attrs
            .checksum
            .clone()
            .filter(|_| src_attrs.parts.is_none());
        let size = u64::try_from(source.size).unwrap_or_default();
        let (blob, md5) = self.copy_blob(&source.blob, 0, size).await?;
        let object = Object {
            bucket: bucket.name.clone(),
            key: self.key().to_string(),
            blob,
            size: source.size,
            etag: etag(&md5),
            modified_ms: now_ms(),
            attributes: attrs.to_json(),
        };
        self.index_object(&object, false).await?;
        let mut w = Writer::document();
        w.root("CopyObjectResult");
        w.leaf("ETag", &object.etag);
        w.leaf("LastModified", &crate::time::iso8601(object.modified_ms));
        w.close("CopyObjectResult");
        Ok(xml_response(w.finish()))
    }

    /// The source of a copy, authorized as `s3:GetObject` in its own
    /// bucket (with that bucket's policy), and its copy conditions checked.
    pub(crate) fn copy_source_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Object, Attrs), S3Error> {
        let src_bucket = self.existing_bucket(bucket)?;
        let found = self.s3.index.object(bucket, key)?;
        let attrs = found
            .as_ref()
            .map(|o| Attrs::from_json(&o.attributes))
            .unwrap_or_default();
        let mut ctx = self.context(Op::GetObject, Some(&src_bucket), &[]);
        add_existing_tags(&mut ctx, &attrs.tags);
        self.authorize(
            "s3:GetObject",
            &access::object_arn(bucket, key),
            Some(&src_bucket),
            &ctx,
        )?;
        let source = found.ok_or_else(|| S3Error::no_such_key(key))?;
        let get = |name: &str| self.header(name).map(str::to_string);
        if check_read_conditions(&get, "x-amz-copy-source-", &source)? {
            return Err(precondition_failed("x-amz-copy-source-If-None-Match"));
        }
        Ok((source, attrs))
    }

    /// Copies `len` bytes of a blob from `start` into a new blob; returns
    /// it and the MD5 of its bytes.
    pub(crate) async fn copy_blob(
        &self,
        from: &str,
        start: u64,
        len: u64,
    ) -> Result<(String, [u8; 16]), S3Error> {
        use md5::Digest as _;
        let mut file = self
            .s3
            .blobs
            .open_read(from)
            .await
            .map_err(S3Error::internal)?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(S3Error::internal)?;
        let mut reader = file.take(len);
        let mut writer = self.s3.blobs.create().await.map_err(S3Error::internal)?;
        let mut md5 = crate::checksum::Md5::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).await.map_err(S3Error::internal)?;
            if n == 0 {
                break;
            }
            let data = buf.get(..n).unwrap_or_default();
            md5.update(data);
            writer.write(data).await.map_err(S3Error::internal)?;
        }
        let id = self
            .s3
            .blobs
            .commit(writer)
            .await
            .map_err(S3Error::internal)?;
        Ok((id, md5.finalize().into()))
    }

    pub(crate) async fn delete_object(&self) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let ctx = self.context(Op::DeleteObject, Some(&bucket), &[]);
        self.authorize_op(Some(&bucket), &ctx)?;
        if let Some(old) = self.s3.index.delete_object(&bucket.name, self.key())? {
            self.s3.blobs.remove(&old).await;
        }
        Ok(empty(StatusCode::NO_CONTENT))
    }

    /// DeleteObjects: up to 1,000 keys, each authorized as `s3:DeleteObject`
    /// and answered on its own; the request must carry Content-MD5 or a
    /// checksum (API_DeleteObjects.html).
    pub(crate) async fn delete_objects(&self, body: Body) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let has_digest = self.header("content-md5").is_some()
            || Algorithm::ALL
                .iter()
                .any(|a| self.header(a.header()).is_some())
            || self.header("x-amz-trailer").is_some();
        if !has_digest {
            return Err(S3Error::invalid_request(
                "Missing required header for this request: Content-MD5 OR x-amz-checksum-*",
            ));
        }
        let doc = self.document(body).await?;
        let el = crate::xml::parse(&doc).ok_or_else(S3Error::malformed_xml)?;
        if el.name != "Delete" {
            return Err(S3Error::malformed_xml());
        }
        let quiet = el.text_of("Quiet") == Some("true");
        let keys: Vec<&str> = el
            .all("Object")
            .map(|o| o.text_of("Key").ok_or_else(S3Error::malformed_xml))
            .collect::<Result<_, _>>()?;
        if keys.is_empty() || keys.len() > 1000 {
            return Err(S3Error::malformed_xml());
        }
        let ctx = self.context(Op::DeleteObject, Some(&bucket), &[]);
        let mut w = Writer::document();
        w.root("DeleteResult");
        for key in keys {
            let resource = access::object_arn(&bucket.name, key);
            let outcome = match crate::names::check_key(key) {
                Err(_) => Err(S3Error::invalid_argument("Invalid key", "Key", key)),
                Ok(()) => self.authorize("s3:DeleteObject", &resource, Some(&bucket), &ctx),
            };
            let outcome = match outcome {
                Ok(()) => match self.s3.index.delete_object(&bucket.name, key) {
                    Ok(old) => {
                        if let Some(old) = old {
                            self.s3.blobs.remove(&old).await;
                        }
                        Ok(())
                    }
                    Err(e) => Err(S3Error::from(e)),
                },
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) if quiet => {}
                Ok(()) => {
                    w.open("Deleted");
                    w.leaf("Key", key);
                    w.close("Deleted");
                }
                Err(e) => {
                    w.open("Error");
                    w.leaf("Key", key);
                    w.leaf("Code", e.code);
                    w.leaf("Message", &e.message);
                    w.close("Error");
                }
            }
        }
        w.close("DeleteResult");
        Ok(xml_response(w.finish()))
    }

    pub(crate) async fn object_tagging(&self, body: Body) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let tags = if self.route.op == Op::PutObjectTagging {
            let doc = self.document(body).await?;
            let el = crate::xml::parse(&doc).ok_or_else(S3Error::malformed_xml)?;
            Some(tags_from_xml(&el, MAX_OBJECT_TAGS)?)
        } else {
            None
        };
        // A tag change keeps the object's bytes; if a write replaced them
        // meanwhile, it is decided again on the new object, never written
        // onto the old one (that would bring back removed bytes).
        for _ in 0..TAGGING_ATTEMPTS {
            let found = self.s3.index.object(&bucket.name, self.key())?;
            let attrs = found
                .as_ref()
                .map(|o| Attrs::from_json(&o.attributes))
                .unwrap_or_default();
            let mut ctx = self.context(
                self.route.op,
                Some(&bucket),
                tags.as_deref().unwrap_or_default(),
            );
            add_existing_tags(&mut ctx, &attrs.tags);
            self.authorize_op(Some(&bucket), &ctx)?;
            let Some(mut object) = found else {
                return Err(S3Error::no_such_key(self.key()));
            };
            if self.route.op == Op::GetObjectTagging {
                return Ok(xml_response(tagging_xml(&attrs.tags)));
            }
            let mut attrs = attrs;
            attrs.tags = tags.clone().unwrap_or_default();
            object.attributes = attrs.to_json();
            let (written, changed) = self
                .s3
                .write(move |index| {
                    let mut changed = false;
                    let written = index.put_object(&object, &mut |now| match now {
                        Some(o) if o.blob == object.blob => Ok(()),
                        _ => {
                            changed = true;
                            Err(store::StoreError::Unavailable("the object changed".into()))
                        }
                    });
                    (written, changed)
                })
                .await?;
            match written {
                Err(_) if changed => continue,
                Ok(_) => {
                    return Ok(empty(if self.route.op == Op::PutObjectTagging {
                        StatusCode::OK
                    } else {
                        StatusCode::NO_CONTENT
                    }));
                }
                Err(store::StoreError::NotFound) => {
                    return Err(S3Error::no_such_bucket(&bucket.name));
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(S3Error::new(
            "OperationAborted",
            StatusCode::CONFLICT,
            "A conflicting conditional operation is currently in progress against this resource. Please try again.",
        ))
    }

    pub(crate) fn object_acl(&self) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        self.authorized_object(&bucket)?;
        Ok(xml_response(crate::buckets::acl_xml(&bucket.account)))
    }
}

/// `len` bytes of `file` from `start`, streamed in 256 KiB reads.
/// Bodies up to this size are read whole on the worker (as the index is);
/// larger ones stream from the blocking pool in pieces of [`STREAM_PIECE`].
const READ_WHOLE: u64 = 64 * 1024;
/// The largest piece of a streamed body.
const STREAM_PIECE: u64 = 256 * 1024;

async fn stream_file(mut file: tokio::fs::File, start: u64, len: u64) -> std::io::Result<Body> {
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let reader = file.take(len);
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        let piece = r.limit().min(STREAM_PIECE);
        if piece == 0 {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(piece).unwrap_or(0)];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    })
    .boxed();
    Ok(Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §14.1.2 byte ranges as S3 serves them (API_GetObject.html:
    /// one range; an unsatisfiable first byte is 416 InvalidRange).
    #[test]
    fn ranges() {
        let r = |v: &str| resolve_range(Some(v), 10);
        assert_eq!(r("bytes=0-4"), Ok(Some((0, 4))));
        assert_eq!(r("bytes=5-"), Ok(Some((5, 9))));
        assert_eq!(r("bytes=-3"), Ok(Some((7, 9))));
        assert_eq!(r("bytes=-30"), Ok(Some((0, 9))));
        assert_eq!(r("bytes=8-100"), Ok(Some((8, 9))));
        assert_eq!(r("bytes=9-9"), Ok(Some((9, 9))));
        assert_eq!(r("bytes=10-").unwrap_err().code, "InvalidRange");
        assert_eq!(r("bytes=10-20").unwrap_err().code, "InvalidRange");
        assert_eq!(r("bytes=-0").unwrap_err().code, "InvalidRange");
        assert_eq!(r("bytes=5-2"), Ok(None));
        assert_eq!(r("bytes=0-1,3-4"), Ok(None));
        assert_eq!(r("items=0-1"), Ok(None));
        assert_eq!(r("bytes=a-b"), Ok(None));
        assert_eq!(r("bytes=-"), Ok(None));
        assert_eq!(resolve_range(None, 10), Ok(None));
        assert_eq!(
            resolve_range(Some("bytes=0-"), 0).unwrap_err().code,
            "InvalidRange"
        );
    }

    #[test]
    fn copy_sources() {
        assert_eq!(
            copy_source("/bkt/a%20b/c"),
            Ok(("bkt".into(), "a b/c".into()))
        );
        assert_eq!(
            copy_source("bkt/k?versionId=x"),
            Ok(("bkt".into(), "k".into()))
        );
        assert!(copy_source("bkt").is_err());
        assert!(copy_source("bkt/").is_err());
        assert!(copy_source("B_/k").is_err());
        assert!(copy_source("/bkt/%ff").is_err());
    }

    fn obj(etag: &str, modified_s: i64) -> Object {
        Object {
            bucket: "b".into(),
            key: "k".into(),
            blob: String::new(),
            size: 0,
            etag: etag.into(),
            modified_ms: modified_s * 1000,
            attributes: String::new(),
        }
    }

    #[test]
    fn read_conditions_follow_rfc_9110_precedence() {
        let o = obj("\"abc\"", 1_000_000_000);
        let before = "Sat, 08 Sep 2001 00:00:00 GMT";
        let after = "Mon, 10 Sep 2001 00:00:00 GMT";
        let at = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let get = move |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            check_read_conditions(&get, "", &o)
        };
        assert_eq!(at(&[]), Ok(false));
        assert_eq!(at(&[("if-match", "\"abc\"")]), Ok(false));
        assert_eq!(at(&[("if-match", "abc")]), Ok(false));
        assert_eq!(at(&[("if-match", "*")]), Ok(false));
        assert_eq!(
            at(&[("if-match", "\"x\"")]).unwrap_err().code,
            "PreconditionFailed"
        );
        assert_eq!(at(&[("if-none-match", "\"abc\"")]), Ok(true));
        assert_eq!(at(&[("if-none-match", "\"x\"")]), Ok(false));
        assert_eq!(at(&[("if-modified-since", after)]), Ok(true));
        assert_eq!(at(&[("if-modified-since", before)]), Ok(false));
        assert_eq!(
            at(&[("if-unmodified-since", before)]).unwrap_err().code,
            "PreconditionFailed"
        );
        assert_eq!(at(&[("if-unmodified-since", after)]), Ok(false));
        // If-Match true wins over If-Unmodified-Since false; If-None-Match
        // false wins over If-Modified-Since true (API_GetObject.html).
        assert_eq!(
            at(&[("if-match", "\"abc\""), ("if-unmodified-since", before)]),
            Ok(false)
        );
        assert_eq!(
            at(&[("if-none-match", "\"x\""), ("if-modified-since", after)]),
            Ok(false)
        );
    }
}
