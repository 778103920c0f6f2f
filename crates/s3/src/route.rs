//! Which S3 operation a request is: bucket and key from the host
//! (virtual-hosted style, `BUCKET.HOST`) or the path (path style,
//! `/BUCKET/KEY`), the operation from the method, the sub-resource in the
//! query and a few headers — as the S3 API reference lists each operation's
//! request syntax (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_Operations_Amazon_Simple_Storage_Service.html>).

/// An S3 operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Op {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketOwnershipControls,
    /// A bucket configuration irsa keeps unconfigured (versioning, CORS, …).
    GetBucketConfig(Config),
    ListObjects,
    ListObjectsV2,
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAcl,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
}

/// A bucket configuration every bucket of irsa has unconfigured, answered
/// as S3 answers for an unconfigured bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Config {
    Versioning,
    Cors,
    Encryption,
    Lifecycle,
    Website,
    Logging,
    Acl,
    Accelerate,
    RequestPayment,
    Replication,
    ObjectLock,
    Notification,
}

impl Config {
    const ALL: [(&'static str, Config); 12] = [
        ("versioning", Config::Versioning),
        ("cors", Config::Cors),
        ("encryption", Config::Encryption),
        ("lifecycle", Config::Lifecycle),
        ("website", Config::Website),
        ("logging", Config::Logging),
        ("acl", Config::Acl),
        ("accelerate", Config::Accelerate),
        ("requestPayment", Config::RequestPayment),
        ("replication", Config::Replication),
        ("object-lock", Config::ObjectLock),
        ("notification", Config::Notification),
    ];
}

/// A request's operation and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The operation.
    pub op: Op,
    /// The bucket, if any.
    pub bucket: Option<String>,
    /// The key (decoded), if any.
    pub key: Option<String>,
}

/// Why a request names no operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The path or host is not valid percent-encoded UTF-8.
    BadEncoding,
    /// Method and sub-resource name no operation irsa serves.
    Unsupported(String),
    /// A method S3 does not allow on this resource.
    MethodNotAllowed,
}

/// Decoded `(name, value)` pairs of a query string (`+` stays `+`, as S3
/// reads it).
pub fn query_pairs(query: &str) -> Result<Vec<(String, String)>, RouteError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub fn percent_decode(s: &str) -> Result<String, RouteError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&byte) = b.get(i) {
        if byte == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(RouteError::BadEncoding)?;
            out.push(hex);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| RouteError::BadEncoding)
}

/// The bucket a virtual-hosted-style host names: `BUCKET.BASE[:PORT]` where
/// `BASE` is one of `bases` (the names the server is reached by) or an AWS
/// S3 endpoint name (`s3.REGION.amazonaws.com`, `s3.amazonaws.com`).
pub fn virtual_host_bucket<'h>(host: &'h str, bases: &[String]) -> Option<&'h str> {
    let name = strip_port(host);
    let amazon = |rest: &str| {
        rest == "s3.amazonaws.com"
            || (rest.starts_with("s3.") || rest.starts_with("s3-"))
                && rest.ends_with(".amazonaws.com")
    };
    for (i, _) in name.match_indices('.') {
        let (bucket, rest) = (name.get(..i)?, name.get(i + 1..)?);
        if bucket.is_empty() {
            return None;
        }
        if bases.iter().any(|b| b.eq_ignore_ascii_case(rest)) || amazon(rest) {
            return Some(bucket);
        }
    }
    None
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The operation of a request. `bucket_from_host` is the bucket of a
/// virtual-hosted-style request; `path` is the raw path, `params` the
/// decoded query, `has_header` tells whether a header is present.
pub fn route(
    method: &str,
    bucket_from_host: Option<&str>,
    path: &str,
    params: &[(String, String)],
    has_header: &dyn Fn(&str) -> bool,
) -> Result<Route, RouteError> {
    let path = percent_decode(path)?;
    let rest = path.strip_prefix('/').unwrap_or(&path);
    let (bucket, key) = match bucket_from_host {
        Some(b) => (Some(b.to_string()), rest),
        None => match rest.split_once('/') {
            Some((b, k)) => (Some(b.to_string()), k),
            None if rest.is_empty() => (None, ""),
            None => (Some(rest.to_string()), ""),
        },
    };
    let key = (!key.is_empty()).then(|| key.to_string());
    let has = |name: &str| params.iter().any(|(k, _)| k == name);
    let unsupported = |what: &str| Err(RouteError::Unsupported(what.to_string()));
    let op = match (&bucket, &key) {
        (None, _) => match method {
            "GET" => Op::ListBuckets,
            _ => return Err(RouteError::MethodNotAllowed),
        },
        (Some(_), None) => match method {
            "GET" => {
                if has("location") {
                    Op::GetBucketLocation
                } else if has("tagging") {
                    Op::GetBucketTagging
                } else if has("policy") {
                    Op::GetBucketPolicy
                } else if has("policyStatus") {
                    Op::GetBucketPolicyStatus
                } else if has("publicAccessBlock") {
                    Op::GetPublicAccessBlock
                } else if has("ownershipControls") {
                    Op::GetBucketOwnershipControls
                } else if has("uploads") {
                    Op::ListMultipartUploads
                } else if let Some((_, c)) = Config::ALL.iter().find(|(n, _)| has(n)) {
                    Op::GetBucketConfig(*c)
                } else if let Some(sub) = subresource(params) {
                    return unsupported(&format!("GET ?{sub} on a bucket"));
                } else if params.iter().any(|(k, v)| k == "list-type" && v == "2") {
                    Op::ListObjectsV2
                } else {
                    Op::ListObjects
                }
            }
            "PUT" => {
                if has("tagging") {
                    Op::PutBucketTagging
                } else if has("policy") {
                    Op::PutBucketPolicy
                } else if has("publicAccessBlock") {
                    Op::PutPublicAccessBlock
                } else if let Some(sub) = subresource(params) {
                    return unsupported(&format!("PUT ?{sub} on a bucket"));
                } else {
                    Op::CreateBucket
                }
            }
            "HEAD" => Op::HeadBucket,
            "DELETE" => {
                if has("tagging") {
                    Op::DeleteBucketTagging
                } else if has("policy") {
                    Op::DeleteBucketPolicy
                } else if has("publicAccessBlock") {
                    Op::DeletePublicAccessBlock
                } else if let Some(sub) = subresource(params) {
                    return unsupported(&format!("DELETE ?{sub} on a bucket"));
                } else {
                    Op::DeleteBucket
                }
            }
            "POST" if has("delete") => Op::DeleteObjects,
            "POST" => return unsupported("POST on a bucket (browser uploads)"),
            _ => return Err(RouteError::MethodNotAllowed),
        },
        (Some(_), Some(_)) => match method {
            "GET" => {
                if has("tagging") {
                    Op::GetObjectTagging
                } else if has("uploadId") {
                    Op::ListParts
                } else if has("acl") {
                    Op::GetObjectAcl
                } else if let Some(sub) = subresource(params) {
                    return unsupported(&format!("GET ?{sub} on an object"));
                } else {
                    Op::GetObject
                }
            }
            "HEAD" => Op::HeadObject,
            "PUT" => {
                if has("tagging") {
                    Op::PutObjectTagging
                } else if has("uploadId") || has("partNumber") {
                    if has_header("x-amz-copy-source") {
                        Op::UploadPartCopy
                    } else {
                        Op::UploadPart
                    }
                } else if let Some(sub) = subresource(params) {
                    return unsupported(&format!("PUT ?{sub} on an object"));
                } else if has_header("x-amz-copy-source") {
                    Op::CopyObject
                } else {
                    Op::PutObject
                }
            }
            "DELETE" => {
                if has("tagging") {
                    Op::DeleteObjectTagging
                } else if has("uploadId") {
                    Op::AbortMultipartUpload
                } else if let Some(sub) = subresource(params) {
                    return unsupported(&format!("DELETE ?{sub} on an object"));
                } else {
                    Op::DeleteObject
                }
            }
            "POST" if has("uploads") => Op::CreateMultipartUpload,
            "POST" if has("uploadId") => Op::CompleteMultipartUpload,
            "POST" => return unsupported("POST on an object"),
            _ => return Err(RouteError::MethodNotAllowed),
        },
    };
    Ok(Route { op, bucket, key })
}

/// Query names that are parameters, not sub-resources.
const PARAMETERS: [&str; 22] = [
    "list-type",
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "continuation-token",
    "start-after",
    "encoding-type",
    "fetch-owner",
    "x-id",
    "partNumber",
    "versionId",
    "key-marker",
    "upload-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
];

fn is_parameter(name: &str) -> bool {
    PARAMETERS.contains(&name)
        || name == "response-content-encoding"
        || name.starts_with("X-Amz-")
        || name.starts_with("x-amz-")
}

/// The first query name that is not a parameter.
fn subresource(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .map(|(k, _)| k.as_str())
        .find(|k| !is_parameter(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<(String, String)> {
        query_pairs(s).unwrap()
    }

    fn op(method: &str, path: &str, query: &str) -> Result<Op, RouteError> {
        route(method, None, path, &q(query), &|_| false).map(|r| r.op)
    }

    /// Request syntax of each operation in the S3 API reference.
    #[test]
    fn operations_by_method_path_and_subresource() {
        let cases = [
            ("GET", "/", "", Op::ListBuckets),
            ("PUT", "/b", "", Op::CreateBucket),
            ("HEAD", "/b", "", Op::HeadBucket),
            ("DELETE", "/b/", "", Op::DeleteBucket),
            ("GET", "/b", "location", Op::GetBucketLocation),
            ("GET", "/b", "tagging", Op::GetBucketTagging),
            ("PUT", "/b", "tagging", Op::PutBucketTagging),
            ("DELETE", "/b", "tagging", Op::DeleteBucketTagging),
            ("GET", "/b", "policy", Op::GetBucketPolicy),
            ("PUT", "/b", "policy", Op::PutBucketPolicy),
            ("DELETE", "/b", "policy", Op::DeleteBucketPolicy),
            ("GET", "/b", "policyStatus", Op::GetBucketPolicyStatus),
            ("GET", "/b", "publicAccessBlock", Op::GetPublicAccessBlock),
            ("PUT", "/b", "publicAccessBlock", Op::PutPublicAccessBlock),
            (
                "DELETE",
                "/b",
                "publicAccessBlock",
                Op::DeletePublicAccessBlock,
            ),
            (
                "GET",
                "/b",
                "ownershipControls",
                Op::GetBucketOwnershipControls,
            ),
            (
                "GET",
                "/b",
                "versioning",
                Op::GetBucketConfig(Config::Versioning),
            ),
            ("GET", "/b", "cors", Op::GetBucketConfig(Config::Cors)),
            (
                "GET",
                "/b",
                "object-lock",
                Op::GetBucketConfig(Config::ObjectLock),
            ),
            ("GET", "/b", "", Op::ListObjects),
            ("GET", "/b", "prefix=a&delimiter=%2F", Op::ListObjects),
            ("GET", "/b", "list-type=2&prefix=a", Op::ListObjectsV2),
            ("GET", "/b", "uploads", Op::ListMultipartUploads),
            ("POST", "/b", "delete", Op::DeleteObjects),
            ("PUT", "/b/k", "", Op::PutObject),
            ("GET", "/b/k", "", Op::GetObject),
            ("GET", "/b/k", "response-content-type=x", Op::GetObject),
            ("HEAD", "/b/k", "", Op::HeadObject),
            ("DELETE", "/b/k", "", Op::DeleteObject),
            ("GET", "/b/k", "tagging", Op::GetObjectTagging),
            ("PUT", "/b/k", "tagging", Op::PutObjectTagging),
            ("DELETE", "/b/k", "tagging", Op::DeleteObjectTagging),
            ("GET", "/b/k", "acl", Op::GetObjectAcl),
            ("POST", "/b/k", "uploads", Op::CreateMultipartUpload),
            ("PUT", "/b/k", "partNumber=1&uploadId=u", Op::UploadPart),
            ("POST", "/b/k", "uploadId=u", Op::CompleteMultipartUpload),
            ("DELETE", "/b/k", "uploadId=u", Op::AbortMultipartUpload),
            ("GET", "/b/k", "uploadId=u", Op::ListParts),
        ];
        for (m, p, query, want) in cases {
            assert_eq!(op(m, p, query), Ok(want), "{m} {p}?{query}");
        }
        let copy = |name: &str| name == "x-amz-copy-source";
        let r = route("PUT", None, "/b/k", &[], &copy).unwrap();
        assert_eq!(r.op, Op::CopyObject);
        let r = route("PUT", None, "/b/k", &q("partNumber=2&uploadId=u"), &copy).unwrap();
        assert_eq!(r.op, Op::UploadPartCopy);
    }

    #[test]
    fn keys_are_decoded_once_and_kept_as_spelled() {
        let r = route("GET", None, "/b/a//..%2Fb%20c+d", &[], &|_| false).unwrap();
        assert_eq!(r.bucket.as_deref(), Some("b"));
        assert_eq!(r.key.as_deref(), Some("a//../b c+d"));
        let r = route("GET", Some("b"), "/dir/k", &[], &|_| false).unwrap();
        assert_eq!(
            (r.bucket.as_deref(), r.key.as_deref()),
            (Some("b"), Some("dir/k"))
        );
        let r = route("GET", Some("b"), "/", &[], &|_| false).unwrap();
        assert_eq!((r.op, r.key), (Op::ListObjects, None));
    }

    #[test]
    fn bad_requests_name_no_operation() {
        assert_eq!(op("GET", "/b/%ff", ""), Err(RouteError::BadEncoding));
        assert_eq!(op("GET", "/b/%zz", ""), Err(RouteError::BadEncoding));
        assert_eq!(op("GET", "/b/%4", ""), Err(RouteError::BadEncoding));
        assert_eq!(op("POST", "/", ""), Err(RouteError::MethodNotAllowed));
        assert_eq!(op("PATCH", "/b/k", ""), Err(RouteError::MethodNotAllowed));
        assert!(matches!(
            op("GET", "/b", "analytics"),
            Err(RouteError::Unsupported(_))
        ));
        assert!(matches!(
            op("PUT", "/b", "versioning"),
            Err(RouteError::Unsupported(_))
        ));
        assert!(matches!(
            op("PUT", "/b/k", "retention"),
            Err(RouteError::Unsupported(_))
        ));
        assert!(matches!(
            op("POST", "/b/k", ""),
            Err(RouteError::Unsupported(_))
        ));
        assert!(query_pairs("a=%").is_err());
    }

    #[test]
    fn virtual_hosted_buckets() {
        let bases = vec!["localhost".to_string(), "irsa.example".to_string()];
        assert_eq!(virtual_host_bucket("b.localhost:4599", &bases), Some("b"));
        assert_eq!(
            virtual_host_bucket("my.dotted.b.irsa.example", &bases),
            Some("my.dotted.b")
        );
        assert_eq!(
            virtual_host_bucket("b.s3.us-east-1.amazonaws.com", &bases),
            Some("b")
        );
        assert_eq!(virtual_host_bucket("b.s3.amazonaws.com", &bases), Some("b"));
        assert_eq!(virtual_host_bucket("localhost:4599", &bases), None);
        assert_eq!(virtual_host_bucket("127.0.0.1:4599", &bases), None);
        assert_eq!(virtual_host_bucket(".localhost", &bases), None);
        assert_eq!(virtual_host_bucket("b.other.example", &bases), None);
        assert_eq!(virtual_host_bucket("[::1]:4599", &bases), None);
    }
}
