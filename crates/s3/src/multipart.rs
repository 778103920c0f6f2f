//! Multipart uploads (mpuoverview.html): CreateMultipartUpload, UploadPart,
//! UploadPartCopy, CompleteMultipartUpload, AbortMultipartUpload,
//! ListParts, ListMultipartUploads. Parts are 1 to 10,000, each at most
//! 5 GiB and, but for the last, at least 5 MiB; the object's ETag is the
//! MD5 of the parts' MD5s followed by `-N`.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use md5::Digest as _;
use store::objects::{Bucket, Object, Part, Upload};

use crate::attrs::Attrs;
use crate::buckets::{now_ms, write_owner};
use crate::checksum::{Algorithm, Md5, hex};
use crate::error::S3Error;
use crate::objects::etag;
use crate::route::Op;
use crate::xml::Writer;
use crate::{Call, MAX_OBJECT, empty, xml_response};

/// Smallest part but the last (5 MiB).
const MIN_PART: i64 = 5 * 1024 * 1024;
/// Most parts.
const MAX_PARTS: i64 = 10_000;

fn part_number(value: Option<&str>) -> Result<i64, S3Error> {
    value
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                value.unwrap_or_default(),
            )
        })
}

impl Call<'_> {
    /// The upload a request names, for its bucket and key.
    fn named_upload(&self) -> Result<Upload, S3Error> {
        let id = self.param("uploadId").unwrap_or_default();
        self.s3
            .index
            .upload(id)?
            .filter(|u| u.bucket == self.bucket_name() && u.key == self.key())
            .ok_or_else(|| S3Error::no_such_upload(id))
    }

    pub(crate) async fn multipart(&self, body: Body) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let op = self.route.op;
        let tags = if op == Op::CreateMultipartUpload {
            self.request_tags_of_create()?
        } else {
            Vec::new()
        };
        let ctx = self.context(op, Some(&bucket), &tags);
        self.authorize_op(Some(&bucket), &ctx)?;
        if !tags.is_empty() {
            let resource = crate::access::object_arn(&bucket.name, self.key());
            self.authorize("s3:PutObjectTagging", &resource, Some(&bucket), &ctx)?;
        }
        match op {
            Op::CreateMultipartUpload => self.create_upload(&bucket, tags),
            Op::UploadPart => self.upload_part(body, None).await,
            Op::UploadPartCopy => self.upload_part(body, Some(())).await,
            Op::CompleteMultipartUpload => self.complete(&bucket, body).await,
            Op::AbortMultipartUpload => {
                let upload = self.named_upload()?;
                let freed = self
                    .s3
                    .index
                    .delete_upload(&upload.id)
                    .map_err(|e| match e {
                        store::StoreError::NotFound => S3Error::no_such_upload(&upload.id),
                        other => other.into(),
                    })?;
                for b in freed {
                    self.s3.blobs.remove(&b).await;
                }
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Op::ListParts => self.list_parts(&bucket),
            _ => self.list_uploads(&bucket),
        }
    }

    fn request_tags_of_create(&self) -> Result<Vec<(String, String)>, S3Error> {
        match self.header("x-amz-tagging") {
            Some(v) => crate::attrs::tags_from_header(v),
            None => Ok(Vec::new()),
        }
    }

    fn create_upload(
        &self,
        bucket: &Bucket,
        tags: Vec<(String, String)>,
    ) -> Result<Response<Body>, S3Error> {
        let mut attrs = Attrs::from_headers(self.headers)?;
        attrs.tags = tags;
        if let Some(a) = self.header("x-amz-checksum-algorithm") {
            let algorithm = Algorithm::from_name(a).ok_or_else(|| {
                S3Error::invalid_request(format!(
                    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256] ({})",
                    crate::error::shown(a)
                ))
            })?;
            attrs.checksum_algorithm = Some(algorithm.name().to_string());
        }
        let id_bytes: [u8; 24] = store::random_bytes().map_err(S3Error::internal)?;
        let upload = Upload {
            id: hex(&id_bytes),
            bucket: bucket.name.clone(),
            key: self.key().to_string(),
            initiated_ms: now_ms(),
            attributes: attrs.to_json(),
        };
        self.s3.index.create_upload(&upload).map_err(|e| match e {
            store::StoreError::NotFound => S3Error::no_such_bucket(&bucket.name),
            other => other.into(),
        })?;
        let mut w = Writer::document();
        w.root("InitiateMultipartUploadResult");
        w.leaf("Bucket", &upload.bucket);
        w.leaf("Key", &upload.key);
        w.leaf("UploadId", &upload.id);
        w.close("InitiateMultipartUploadResult");
        let mut r = xml_response(w.finish());
        if let Some(a) = &attrs.checksum_algorithm
            && let Ok(v) = HeaderValue::from_str(a)
        {
            r.headers_mut().insert("x-amz-checksum-algorithm", v);
        }
        Ok(r)
    }

    async fn upload_part(&self, body: Body, copy: Option<()>) -> Result<Response<Body>, S3Error> {
        let number = part_number(self.param("partNumber"))?;
        let upload = self.named_upload()?;
        let (blob, size, md5, checksum) = match copy {
            None => {
                let (blob, received) = self.receive_blob(body, MAX_OBJECT).await?;
                (blob, received.size, received.md5, received.checksum)
            }
            Some(()) => {
                let (b, k) = crate::objects::copy_source(
                    self.header("x-amz-copy-source").unwrap_or_default(),
                )?;
                let (source, _) = self.copy_source_object(&b, &k)?;
                let size = u64::try_from(source.size).unwrap_or_default();
                let (start, end) = match self.header("x-amz-copy-source-range") {
                    None => (0, size.saturating_sub(1)),
                    Some(r) => copy_range(r, size)?,
                };
                let len = if size == 0 { 0 } else { end - start + 1 };
                let (blob, md5) = self.copy_blob(&source.blob, start, len).await?;
                (blob, len, md5, None)
            }
        };
        let part = Part {
            upload: upload.id.clone(),
            number,
            blob,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            etag: etag(&md5),
            modified_ms: now_ms(),
            attributes: serde_json::json!({
                "checksum": checksum.as_ref().map(|(a, v)| (a.name(), v)),
            })
            .to_string(),
        };
        match self.s3.index.put_part(&part) {
            Ok(old) => {
                if let Some(old) = old {
                    self.s3.blobs.remove(&old).await;
                }
            }
            Err(e) => {
                self.s3.blobs.remove(&part.blob).await;
                return Err(match e {
                    store::StoreError::NotFound => S3Error::no_such_upload(&upload.id),
                    other => other.into(),
                });
            }
        }
        if copy.is_some() {
            let mut w = Writer::document();
            w.root("CopyPartResult");
            w.leaf("ETag", &part.etag);
            w.leaf("LastModified", &crate::time::iso8601(part.modified_ms));
            w.close("CopyPartResult");
            return Ok(xml_response(w.finish()));
        }
        let mut r = empty(StatusCode::OK);
        if let Ok(v) = HeaderValue::from_str(&part.etag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        if let Some((a, v)) = checksum
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            r.headers_mut().insert(a.header(), v);
        }
        Ok(r)
    }

    async fn complete(&self, bucket: &Bucket, body: Body) -> Result<Response<Body>, S3Error> {
        let upload = self.named_upload()?;
        let doc = self.document(body).await?;
        let el = crate::xml::parse(&doc).ok_or_else(S3Error::malformed_xml)?;
        if el.name != "CompleteMultipartUpload" {
            return Err(S3Error::malformed_xml());
        }
        let mut asked: Vec<(i64, String)> = Vec::new();
        for p in el.all("Part") {
            let n = p
                .text_of("PartNumber")
                .and_then(|n| n.trim().parse::<i64>().ok())
                .ok_or_else(S3Error::malformed_xml)?;
            let e = p.text_of("ETag").ok_or_else(S3Error::malformed_xml)?;
            asked.push((n, e.trim().trim_matches('"').to_string()));
        }
        if asked.is_empty() {
            return Err(S3Error::malformed_xml());
        }
        if asked.windows(2).any(|w| matches!(w, [a, b] if a.0 >= b.0)) {
            return Err(S3Error::new(
                "InvalidPartOrder",
                StatusCode::BAD_REQUEST,
                "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
            ));
        }
        let stored = self.s3.index.parts(&upload.id)?;
        let chosen = choose_parts(&asked, &stored)?;
        // The object's bytes: the chosen parts, in order, in a new blob.
        let mut writer = self.s3.blobs.create().await.map_err(S3Error::internal)?;
        let mut md5s = Md5::new();
        let mut size: i64 = 0;
        for p in &chosen {
            let mut file = self
                .s3
                .blobs
                .open_read(&p.blob)
                .await
                .map_err(S3Error::internal)?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                use tokio::io::AsyncReadExt;
                let n = file.read(&mut buf).await.map_err(S3Error::internal)?;
                if n == 0 {
                    break;
                }
                writer
                    .write(buf.get(..n).unwrap_or_default())
                    .await
                    .map_err(S3Error::internal)?;
            }
            let digest = unbase64_hex(&p.etag)
                .ok_or_else(|| S3Error::internal("a stored part ETag is not hex"))?;
            md5s.update(&digest);
            size += p.size;
        }
        let blob = self
            .s3
            .blobs
            .commit(writer)
            .await
            .map_err(S3Error::internal)?;
        let mut attrs = Attrs::from_json(&upload.attributes);
        attrs.parts = Some(u32::try_from(chosen.len()).unwrap_or(u32::MAX));
        let object = Object {
            bucket: bucket.name.clone(),
            key: upload.key.clone(),
            blob: blob.clone(),
            size,
            etag: format!("\"{}-{}\"", hex(&md5s.finalize()), chosen.len()),
            modified_ms: now_ms(),
            attributes: attrs.to_json(),
        };
        let used: Vec<(i64, String)> = chosen.iter().map(|p| (p.number, p.blob.clone())).collect();
        let mut check = |now: &[Part]| -> store::Result<()> {
            let same = used
                .iter()
                .all(|(n, b)| now.iter().any(|p| p.number == *n && p.blob == *b));
            if same {
                Ok(())
            } else {
                Err(store::StoreError::Unavailable(
                    "a part changed while the upload completed".into(),
                ))
            }
        };
        match self
            .s3
            .index
            .complete_upload(&upload.id, &object, &mut check)
        {
            Ok(freed) => {
                for b in freed {
                    self.s3.blobs.remove(&b).await;
                }
            }
            Err(e) => {
                self.s3.blobs.remove(&blob).await;
                return Err(match e {
                    store::StoreError::NotFound => S3Error::no_such_upload(&upload.id),
                    other => other.into(),
                });
            }
        }
        let mut w = Writer::document();
        w.root("CompleteMultipartUploadResult");
        w.leaf(
            "Location",
            &format!("/{}/{}", bucket.name, sigv4::uri_encode(&object.key, true)),
        );
        w.leaf("Bucket", &bucket.name);
        w.leaf("Key", &object.key);
        w.leaf("ETag", &object.etag);
        w.close("CompleteMultipartUploadResult");
        Ok(xml_response(w.finish()))
    }

    fn list_parts(&self, bucket: &Bucket) -> Result<Response<Body>, S3Error> {
        let upload = self.named_upload()?;
        let marker = self
            .param("part-number-marker")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let max = self
            .param("max-parts")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1000)
            .min(1000);
        let parts: Vec<Part> = self
            .s3
            .index
            .parts(&upload.id)?
            .into_iter()
            .filter(|p| p.number > marker)
            .collect();
        let truncated = parts.len() > max;
        let shown: Vec<&Part> = parts.iter().take(max).collect();
        let mut w = Writer::document();
        w.root("ListPartsResult");
        w.leaf("Bucket", &bucket.name);
        w.leaf("Key", &upload.key);
        w.leaf("UploadId", &upload.id);
        w.leaf("PartNumberMarker", &marker.to_string());
        if let Some(last) = shown.last() {
            w.leaf("NextPartNumberMarker", &last.number.to_string());
        }
        w.leaf("MaxParts", &max.to_string());
        w.leaf("IsTruncated", if truncated { "true" } else { "false" });
        for p in shown {
            w.open("Part");
            w.leaf("PartNumber", &p.number.to_string());
            w.leaf("LastModified", &crate::time::iso8601(p.modified_ms));
            w.leaf("ETag", &p.etag);
            w.leaf("Size", &p.size.to_string());
            w.close("Part");
        }
        w.open("Initiator");
        w.leaf("ID", &crate::canonical_id(&bucket.account));
        w.close("Initiator");
        write_owner(&mut w, &bucket.account);
        w.leaf("StorageClass", "STANDARD");
        w.close("ListPartsResult");
        Ok(xml_response(w.finish()))
    }

    fn list_uploads(&self, bucket: &Bucket) -> Result<Response<Body>, S3Error> {
        let prefix = self.param("prefix").unwrap_or_default();
        let max = self
            .param("max-uploads")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1000)
            .min(1000);
        let uploads: Vec<Upload> = self
            .s3
            .index
            .uploads(&bucket.name)?
            .into_iter()
            .filter(|u| u.key.starts_with(prefix))
            .collect();
        let truncated = uploads.len() > max;
        let mut w = Writer::document();
        w.root("ListMultipartUploadsResult");
        w.leaf("Bucket", &bucket.name);
        w.leaf("KeyMarker", "");
        w.leaf("UploadIdMarker", "");
        let shown: Vec<&Upload> = uploads.iter().take(max).collect();
        if let (true, Some(last)) = (truncated, shown.last()) {
            w.leaf("NextKeyMarker", &last.key);
            w.leaf("NextUploadIdMarker", &last.id);
        }
        w.leaf("Prefix", prefix);
        w.leaf("MaxUploads", &max.to_string());
        w.leaf("IsTruncated", if truncated { "true" } else { "false" });
        for u in shown {
            w.open("Upload");
            w.leaf("Key", &u.key);
            w.leaf("UploadId", &u.id);
            w.open("Initiator");
            w.leaf("ID", &crate::canonical_id(&bucket.account));
            w.close("Initiator");
            write_owner(&mut w, &bucket.account);
            w.leaf("StorageClass", "STANDARD");
            w.leaf("Initiated", &crate::time::iso8601(u.initiated_ms));
            w.close("Upload");
        }
        w.close("ListMultipartUploadsResult");
        Ok(xml_response(w.finish()))
    }
}

/// `x-amz-copy-source-range: bytes=FIRST-LAST`, within the source.
fn copy_range(value: &str, size: u64) -> Result<(u64, u64), S3Error> {
    let invalid = || {
        S3Error::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            value,
        )
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(invalid)?;
    let (a, b) = spec.split_once('-').ok_or_else(invalid)?;
    let a: u64 = a.parse().map_err(|_| invalid())?;
    let b: u64 = b.parse().map_err(|_| invalid())?;
    if a > b || b >= size {
        return Err(S3Error::new(
            "InvalidRange",
            StatusCode::RANGE_NOT_SATISFIABLE,
            "The requested range is not satisfiable",
        ));
    }
    Ok((a, b))
}

/// The bytes an ETag's hex stands for.
fn unbase64_hex(etag: &str) -> Option<Vec<u8>> {
    let h = etag.trim_matches('"');
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| h.get(i..i + 2).and_then(|x| u8::from_str_radix(x, 16).ok()))
        .collect()
}

/// The stored parts a completion names, checked: each must exist with the
/// ETag given (`InvalidPart`), and every part but the last be at least
/// 5 MiB (`EntityTooSmall`) — API_CompleteMultipartUpload.html.
fn choose_parts(asked: &[(i64, String)], stored: &[Part]) -> Result<Vec<Part>, S3Error> {
    let invalid = || {
        S3Error::new(
            "InvalidPart",
            StatusCode::BAD_REQUEST,
            "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
        )
    };
    let mut out = Vec::new();
    for (n, e) in asked {
        let p = stored
            .iter()
            .find(|p| p.number == *n && p.etag.trim_matches('"') == e)
            .ok_or_else(invalid)?;
        out.push(p.clone());
    }
    let last = out.len().saturating_sub(1);
    for (i, p) in out.iter().enumerate() {
        if i < last && p.size < MIN_PART {
            return Err(S3Error::new(
                "EntityTooSmall",
                StatusCode::BAD_REQUEST,
                "Your proposed upload is smaller than the minimum allowed size",
            )
            .with("ProposedSize", p.size.to_string())
            .with("MinSizeAllowed", MIN_PART.to_string())
            .with("PartNumber", p.number.to_string())
            .with("ETag", p.etag.trim_matches('"')));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: i64, size: i64) -> Part {
        Part {
            upload: "u".into(),
            number: n,
            blob: format!("b{n}"),
            size,
            etag: format!("\"e{n}\""),
            modified_ms: 0,
            attributes: String::new(),
        }
    }

    /// API_CompleteMultipartUpload.html: InvalidPart, EntityTooSmall.
    #[test]
    fn completions_name_existing_parts_of_allowed_sizes() {
        let stored = vec![part(1, MIN_PART), part(2, 10), part(3, 1)];
        let ok = choose_parts(&[(1, "e1".into()), (2, "e2".into())], &stored).unwrap();
        assert_eq!(ok.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(
            choose_parts(&[(1, "e9".into())], &stored).unwrap_err().code,
            "InvalidPart"
        );
        assert_eq!(
            choose_parts(&[(4, "e4".into())], &stored).unwrap_err().code,
            "InvalidPart"
        );
        assert_eq!(
            choose_parts(&[(2, "e2".into()), (3, "e3".into())], &stored)
                .unwrap_err()
                .code,
            "EntityTooSmall"
        );
        assert_eq!(part_number(Some("0")).unwrap_err().code, "InvalidArgument");
        assert_eq!(
            part_number(Some("10001")).unwrap_err().code,
            "InvalidArgument"
        );
        assert_eq!(part_number(Some("x")).unwrap_err().code, "InvalidArgument");
        assert_eq!(part_number(None).unwrap_err().code, "InvalidArgument");
        assert_eq!(part_number(Some("10000")), Ok(10000));
        assert_eq!(copy_range("bytes=0-9", 10), Ok((0, 9)));
        assert_eq!(
            copy_range("bytes=0-10", 10).unwrap_err().code,
            "InvalidRange"
        );
        assert_eq!(
            copy_range("bytes=5-1", 10).unwrap_err().code,
            "InvalidRange"
        );
        assert_eq!(copy_range("0-1", 10).unwrap_err().code, "InvalidArgument");
        assert_eq!(unbase64_hex("\"0aff\""), Some(vec![0x0a, 0xff]));
        assert_eq!(unbase64_hex("\"0af\""), None);
    }
}
