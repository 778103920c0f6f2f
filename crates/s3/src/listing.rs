//! ListObjects and ListObjectsV2 (API_ListObjects.html,
//! API_ListObjectsV2.html): keys in UTF-8 byte order, rolled up into common
//! prefixes at the delimiter, at most `max-keys` entries (keys and prefixes
//! together) per page.

use axum::body::Body;
use axum::http::Response;
use store::ObjectIndex;
use store::objects::Object;

use crate::attrs::Attrs;
use crate::error::S3Error;
use crate::route::Op;
use crate::xml::Writer;
use crate::{Call, xml_response};

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// An object.
    Object(Object),
    /// A common prefix.
    Prefix(String),
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub entries: Vec<Entry>,
    pub truncated: bool,
}

/// The least byte string greater than every string starting with `prefix`
/// (`None`: there is none, every string is below).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xff {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

/// The least byte string greater than `key`.
fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

/// Lists `bucket` from `from` (inclusive): keys under `prefix`, rolled up at
/// `delimiter`, skipping common prefixes at or below `skip_through` (a V1
/// marker), at most `max` entries.
pub(crate) fn list(
    index: &dyn ObjectIndex,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    from: &[u8],
    skip_through: Option<&str>,
    max: usize,
) -> Result<Page, S3Error> {
    let upper = if prefix.is_empty() {
        None
    } else {
        successor(prefix.as_bytes())
    };
    let mut cursor = from.max(prefix.as_bytes()).to_vec();
    let mut entries = Vec::new();
    loop {
        let batch = index.list_objects(bucket, &cursor, upper.as_deref(), 1000)?;
        let full = batch.len() == 1000;
        let mut jumped = false;
        for o in batch {
            let rest = o.key.get(prefix.len()..).unwrap_or_default();
            let cp = (!delimiter.is_empty())
                .then(|| rest.find(delimiter))
                .flatten()
                .map(|i| {
                    format!(
                        "{prefix}{}",
                        rest.get(..i + delimiter.len()).unwrap_or_default()
                    )
                });
            if let Some(cp) = cp {
                let skip = skip_through.is_some_and(|m| cp.as_str() <= m);
                if !skip {
                    if entries.len() == max {
                        return Ok(Page {
                            entries,
                            truncated: true,
                        });
                    }
                    entries.push(Entry::Prefix(cp.clone()));
                }
                match successor(cp.as_bytes()) {
                    Some(next) => cursor = next,
                    None => {
                        return Ok(Page {
                            entries,
                            truncated: false,
                        });
                    }
                }
                jumped = true;
                break;
            }
            if entries.len() == max {
                return Ok(Page {
                    entries,
                    truncated: true,
                });
            }
            cursor = after(o.key.as_bytes());
            entries.push(Entry::Object(o));
        }
        if !jumped && !full {
            return Ok(Page {
                entries,
                truncated: false,
            });
        }
    }
}

/// `encoding-type=url` encodes keys and prefixes in answers.
fn encoder(url: bool) -> impl Fn(&str) -> String {
    move |s: &str| {
        if url {
            sigv4::uri_encode(s, true)
        } else {
            s.to_string()
        }
    }
}

impl Call<'_> {
    pub(crate) fn list_objects(&self) -> Result<Response<Body>, S3Error> {
        let bucket = self.bucket()?;
        let ctx = self.context(self.route.op, Some(&bucket), &[]);
        self.authorize_op(Some(&bucket), &ctx)?;
        let v2 = self.route.op == Op::ListObjectsV2;
        let prefix = self.param("prefix").unwrap_or_default();
        let delimiter = self.param("delimiter").unwrap_or_default();
        let max = match self.param("max-keys") {
            None => 1000,
            Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                S3Error::invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                    "max-keys",
                    v,
                )
            })?,
        };
        let max = usize::try_from(max.min(1000)).unwrap_or(1000);
        let url = match self.param("encoding-type") {
            None => false,
            Some("url") => true,
            Some(v) => {
                return Err(S3Error::invalid_argument(
                    "Invalid Encoding Method specified in Request",
                    "encoding-type",
                    v,
                ));
            }
        };
        let enc = encoder(url);
        let (from, marker) = if v2 {
            let from = match self.param("continuation-token") {
                Some(t) => crate::checksum::unbase64(t)
                    .filter(|b| b.len() <= 1100)
                    .ok_or_else(|| {
                        S3Error::invalid_argument(
                            "The continuation token provided is incorrect",
                            "continuation-token",
                            t,
                        )
                    })?,
                None => self
                    .param("start-after")
                    .map(|s| after(s.as_bytes()))
                    .unwrap_or_default(),
            };
            (from, None)
        } else {
            let m = self.param("marker");
            (m.map(|s| after(s.as_bytes())).unwrap_or_default(), m)
        };
        let page = if max == 0 {
            Page {
                entries: Vec::new(),
                truncated: false,
            }
        } else {
            list(
                self.s3.index.as_ref(),
                &bucket.name,
                prefix,
                delimiter,
                &from,
                marker,
                max,
            )?
        };
        let fetch_owner = !v2 || self.param("fetch-owner") == Some("true");
        let mut w = Writer::document();
        w.root("ListBucketResult");
        w.leaf("Name", &bucket.name);
        w.leaf("Prefix", &enc(prefix));
        if v2 {
            if let Some(t) = self.param("continuation-token") {
                w.leaf("ContinuationToken", t);
            }
            if let Some(s) = self.param("start-after") {
                w.leaf("StartAfter", &enc(s));
            }
            w.leaf("KeyCount", &page.entries.len().to_string());
        } else {
            w.leaf("Marker", &enc(marker.unwrap_or_default()));
        }
        w.leaf("MaxKeys", &max.to_string());
        if !delimiter.is_empty() {
            w.leaf("Delimiter", &enc(delimiter));
        }
        if url {
            w.leaf("EncodingType", "url");
        }
        w.leaf("IsTruncated", if page.truncated { "true" } else { "false" });
        if page.truncated {
            let last = match page.entries.last() {
                Some(Entry::Object(o)) => Some((o.key.clone(), after(o.key.as_bytes()))),
                Some(Entry::Prefix(p)) => successor(p.as_bytes()).map(|s| (p.clone(), s)),
                None => None,
            };
            if let Some((name, next)) = last {
                if v2 {
                    w.leaf("NextContinuationToken", &crate::checksum::base64(&next));
                } else if !delimiter.is_empty() {
                    w.leaf("NextMarker", &enc(&name));
                }
            }
        }
        for e in &page.entries {
            if let Entry::Object(o) = e {
                let attrs = Attrs::from_json(&o.attributes);
                w.open("Contents");
                w.leaf("Key", &enc(&o.key));
                w.leaf("LastModified", &crate::time::iso8601(o.modified_ms));
                w.leaf("ETag", &o.etag);
                if let Some((a, _)) = &attrs.checksum {
                    w.leaf("ChecksumAlgorithm", a);
                }
                w.leaf("Size", &o.size.to_string());
                if fetch_owner {
                    crate::buckets::write_owner(&mut w, &bucket.account);
                }
                w.leaf("StorageClass", "STANDARD");
                w.close("Contents");
            }
        }
        for e in &page.entries {
            if let Entry::Prefix(p) = e {
                w.open("CommonPrefixes");
                w.leaf("Prefix", &enc(p));
                w.close("CommonPrefixes");
            }
        }
        w.close("ListBucketResult");
        Ok(xml_response(w.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successors_in_byte_order() {
        assert_eq!(successor(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        assert_eq!(after(b"a"), b"a\0".to_vec());
    }
}
