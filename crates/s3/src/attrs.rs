//! What an object keeps besides its bytes: content headers, user metadata,
//! tags and its checksum, as the store's `attributes` (JSON).

use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use crate::error::S3Error;
use crate::xml::Element;

/// Content headers stored with an object and returned on GET and HEAD.
pub(crate) const CONTENT_HEADERS: [&str; 6] = [
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
];

/// Most bytes of user metadata (names and values) per object
/// (UsingMetadata.html: "the user-defined metadata is limited to 2 KB").
const MAX_METADATA: usize = 2048;
/// Most tags on an object (object-tagging.html).
pub(crate) const MAX_OBJECT_TAGS: usize = 10;
/// Most tags on a bucket.
pub(crate) const MAX_BUCKET_TAGS: usize = 50;

/// An object's attributes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// Content headers, `(name, value)`.
    #[serde(default)]
    pub content: Vec<(String, String)>,
    /// User metadata, `(name without x-amz-meta-, value)`.
    #[serde(default)]
    pub metadata: Vec<(String, String)>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The flexible checksum: algorithm name and value.
    #[serde(default)]
    pub checksum: Option<(String, String)>,
    /// The checksum algorithm a multipart upload was started with.
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    /// Number of parts, for an object made by a multipart upload.
    #[serde(default)]
    pub parts: Option<u32>,
}

impl Attrs {
    /// Content headers and user metadata of a request.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Attrs, S3Error> {
        let mut a = Attrs::default();
        for name in CONTENT_HEADERS {
            if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
                a.content.push((name.to_string(), v.to_string()));
            }
        }
        let mut size = 0;
        for (name, value) in headers {
            if let Some(m) = name.as_str().strip_prefix("x-amz-meta-") {
                let value = value.to_str().map_err(|_| {
                    S3Error::invalid_argument(
                        "User metadata values must be ASCII.",
                        name.as_str(),
                        "",
                    )
                })?;
                size += m.len() + value.len();
                a.metadata.push((m.to_string(), value.to_string()));
            }
        }
        if size > MAX_METADATA {
            return Err(S3Error::new(
                "MetadataTooLarge",
                StatusCode::BAD_REQUEST,
                "Your metadata headers exceed the maximum allowed metadata size.",
            )
            .with("Size", size.to_string())
            .with("MaxSizeAllowed", MAX_METADATA.to_string()));
        }
        Ok(a)
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub(crate) fn from_json(text: &str) -> Attrs {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub(crate) fn content(&self, name: &str) -> Option<&str> {
        self.content
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn invalid_tag(message: &str) -> S3Error {
    S3Error::new("InvalidTag", StatusCode::BAD_REQUEST, message)
}

/// Checks a tag set (object-tagging.html, "Object key tagging limits";
/// tag keys up to 128 Unicode characters, values up to 256, unique keys,
/// no `aws:` prefix).
pub(crate) fn check_tags(tags: &[(String, String)], max: usize) -> Result<(), S3Error> {
    if tags.len() > max {
        return Err(S3Error::new(
            if max == MAX_OBJECT_TAGS {
                "BadRequest"
            } else {
                "InvalidTag"
            },
            StatusCode::BAD_REQUEST,
            format!("Object tags cannot be greater than {max}"),
        ));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_tag("Your TagKey cannot be prefixed with aws:"));
        }
        if tags.iter().take(i).any(|(other, _)| other == k) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

/// Tags of an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded).
pub(crate) fn tags_from_header(value: &str) -> Result<Vec<(String, String)>, S3Error> {
    let tags: Vec<(String, String)> = crate::route::query_pairs(&value.replace('+', "%20"))
        .map_err(|_| invalid_tag("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."))?;
    check_tags(&tags, MAX_OBJECT_TAGS)?;
    Ok(tags)
}

/// Tags of a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…` document.
pub(crate) fn tags_from_xml(doc: &Element, max: usize) -> Result<Vec<(String, String)>, S3Error> {
    if doc.name != "Tagging" {
        return Err(S3Error::malformed_xml());
    }
    let set = doc.child("TagSet").ok_or_else(S3Error::malformed_xml)?;
    let mut tags = Vec::new();
    for t in set.all("Tag") {
        let k = t.text_of("Key").ok_or_else(S3Error::malformed_xml)?;
        let v = t.text_of("Value").ok_or_else(S3Error::malformed_xml)?;
        tags.push((k.to_string(), v.to_string()));
    }
    check_tags(&tags, max)?;
    Ok(tags)
}

/// A `<Tagging>` document.
pub(crate) fn tagging_xml(tags: &[(String, String)]) -> String {
    let mut w = crate::xml::Writer::document();
    w.root("Tagging");
    w.open("TagSet");
    for (k, v) in tags {
        w.open("Tag");
        w.leaf("Key", k);
        w.leaf("Value", v);
        w.close("Tag");
    }
    w.close("TagSet");
    w.close("Tagging");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_limits_as_s3_documents_them() {
        let t = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(check_tags(&[t("a", "1"), t("b", "")], 10).is_ok());
        assert_eq!(
            check_tags(&[t("a", "1"), t("a", "2")], 10)
                .unwrap_err()
                .code,
            "InvalidTag"
        );
        assert_eq!(
            check_tags(&[t("aws:x", "1")], 10).unwrap_err().code,
            "InvalidTag"
        );
        assert_eq!(
            check_tags(&[t("", "1")], 10).unwrap_err().code,
            "InvalidTag"
        );
        assert_eq!(
            check_tags(&[t(&"k".repeat(129), "1")], 10)
                .unwrap_err()
                .code,
            "InvalidTag"
        );
        assert!(check_tags(&[t(&"k".repeat(128), &"v".repeat(256))], 10).is_ok());
        assert_eq!(
            check_tags(&[t("k", &"v".repeat(257))], 10)
                .unwrap_err()
                .code,
            "InvalidTag"
        );
        let eleven: Vec<_> = (0..11).map(|i| t(&format!("k{i}"), "v")).collect();
        assert_eq!(check_tags(&eleven, 10).unwrap_err().code, "BadRequest");
        assert_eq!(
            tags_from_header("team=a&env=prod%20x+y").unwrap(),
            vec![t("team", "a"), t("env", "prod x y")]
        );
        assert!(tags_from_header("a=1&a=2").is_err());
        assert!(tags_from_header("a=%ff").is_err());
    }

    #[test]
    fn tagging_documents_round_trip() {
        let tags = vec![("a&b".to_string(), "<v>".to_string())];
        let doc = crate::xml::parse(tagging_xml(&tags).as_bytes()).unwrap();
        assert_eq!(tags_from_xml(&doc, 10).unwrap(), tags);
        let bad = crate::xml::parse(b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>")
            .unwrap();
        assert_eq!(tags_from_xml(&bad, 10).unwrap_err().code, "MalformedXML");
        let other = crate::xml::parse(b"<Other/>").unwrap();
        assert_eq!(tags_from_xml(&other, 10).unwrap_err().code, "MalformedXML");
    }
}
