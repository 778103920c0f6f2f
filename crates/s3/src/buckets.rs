//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! location, tagging, policy and its status, public access block, ownership
//! controls, and the configurations every irsa bucket has unconfigured.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use store::StoreError;
use store::objects::Bucket;

use crate::attrs::{MAX_BUCKET_TAGS, tagging_xml, tags_from_xml};
use crate::error::S3Error;
use crate::route::{Config, Op};
use crate::xml::{NAMESPACE, Writer};
use crate::{Call, canonical_id, empty, xml_response};

/// Largest bucket policy (bucket policies: "limited to 20 KB").
const MAX_POLICY: usize = 20 * 1024;

/// Keys whose condition keeps a `Principal: "*"` statement from being
/// public (access-control-block-public-access.html, "The meaning of public").
const NARROWING_KEYS: [&str; 10] = [
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:userid",
];

/// Whether a bucket policy is public: an Allow statement names every
/// principal (`*` or `{"AWS":"*"}`) with no condition on a narrowing key.
pub(crate) fn is_public_policy(text: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return false;
    };
    let statements = match v.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(s) => vec![s.clone()],
        None => return false,
    };
    statements.iter().any(|s| {
        let allow = s.get("Effect").and_then(|e| e.as_str()) == Some("Allow");
        let everyone = match s.get("Principal") {
            Some(serde_json::Value::String(p)) => p == "*",
            Some(serde_json::Value::Object(m)) => match m.get("AWS") {
                Some(serde_json::Value::String(p)) => p == "*",
                Some(serde_json::Value::Array(a)) => a.iter().any(|p| p == "*"),
                _ => false,
            },
            _ => false,
        };
        let narrowed = s
            .get("Condition")
            .and_then(|c| c.as_object())
            .is_some_and(|ops| {
                ops.values().any(|keys| {
                    keys.as_object().is_some_and(|k| {
                        k.keys()
                            .any(|key| NARROWING_KEYS.contains(&key.to_ascii_lowercase().as_str()))
                    })
                })
            });
        allow && everyone && !narrowed
    })
}

/// AWS's MalformedPolicy.
fn malformed_policy(message: impl Into<String>) -> S3Error {
    S3Error::new("MalformedPolicy", StatusCode::BAD_REQUEST, message)
}

/// Checks a bucket policy as PutBucketPolicy does: a valid resource-based
/// policy of at most 20 KB whose every Resource is this bucket or its
/// objects ("Policy has invalid resource").
fn check_bucket_policy(bucket: &str, text: &str) -> Result<(), S3Error> {
    if text.len() > MAX_POLICY {
        return Err(
            malformed_policy("Policies must be valid JSON and the first byte must be '{'")
                .with("Detail", "the policy is larger than 20 KB"),
        );
    }
    let parsed = policy::validate_with_limit(text, policy::PolicyUse::Resource, MAX_POLICY)
        .map_err(|e| malformed_policy(e.aws_message().to_string()))?;
    let own = format!("arn:aws:s3:::{bucket}");
    let own_objects = format!("{own}/");
    for s in &parsed.statements {
        let Some(resources) = &s.resource else {
            return Err(malformed_policy("Policy has invalid resource"));
        };
        for r in &resources.value.items {
            if r != &own && !r.starts_with(&own_objects) {
                return Err(malformed_policy("Policy has invalid resource"));
            }
        }
    }
    Ok(())
}

pub(crate) fn write_owner(w: &mut Writer, account: &str) {
    w.open("Owner");
    w.leaf("ID", &canonical_id(account));
    w.leaf("DisplayName", account);
    w.close("Owner");
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

impl Call<'_> {
    /// ListBuckets: the caller's account's buckets only.
    pub(crate) fn list_buckets(&self) -> Result<Response<Body>, S3Error> {
        let ctx = self.context(Op::ListBuckets, None, &[]);
        self.authorize_op(None, &ctx)?;
        let Some(account) = self.caller.account.as_deref() else {
            return Err(S3Error::access_denied("Access Denied"));
        };
        let prefix = self.param("prefix").unwrap_or_default();
        let mut w = Writer::document();
        w.root("ListAllMyBucketsResult");
        write_owner(&mut w, account);
        w.open("Buckets");
        for b in self.s3.index.buckets(account)? {
            if !b.name.starts_with(prefix) {
                continue;
            }
            w.open("Bucket");
            w.leaf("Name", &b.name);
            w.leaf("CreationDate", &crate::time::iso8601(b.created_ms));
            w.leaf("BucketRegion", &b.region);
            w.close("Bucket");
        }
        w.close("Buckets");
        if !prefix.is_empty() {
            w.leaf("Prefix", prefix);
        }
        w.close("ListAllMyBucketsResult");
        Ok(xml_response(w.finish()))
    }

    /// CreateBucket (API_CreateBucket.html): the region is the request's
    /// (its LocationConstraint must agree); a name taken by another account
    /// is `BucketAlreadyExists`, by the caller's `BucketAlreadyOwnedByYou`
    /// — except in us-east-1, where S3 answers 200 for legacy compatibility.
    pub(crate) async fn create_bucket(&self, body: Body) -> Result<Response<Body>, S3Error> {
        let doc = self.document(body).await?;
        let location = if doc.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let el = crate::xml::parse(&doc).ok_or_else(S3Error::malformed_xml)?;
            if el.name != "CreateBucketConfiguration" {
                return Err(S3Error::malformed_xml());
            }
            el.text_of("LocationConstraint").map(str::to_string)
        };
        let region = self.caller.region.as_str();
        let header = |name: &str| self.header(name).map(str::to_string);
        let ctx = crate::access::request_keys(
            Op::CreateBucket,
            self.caller.auth,
            None,
            self.params,
            &header,
            &[],
            location.as_deref(),
        );
        self.authorize_op(None, &ctx)?;
        let Some(account) = self.caller.account.clone() else {
            return Err(S3Error::access_denied("Access Denied"));
        };
        let bucket_region = match location.as_deref() {
            None | Some("") if region == "us-east-1" => "us-east-1".to_string(),
            Some("us-east-1") => {
                return Err(S3Error::new(
                    "InvalidLocationConstraint",
                    StatusCode::BAD_REQUEST,
                    "The specified location-constraint is not valid",
                )
                .with("LocationConstraint", "us-east-1"));
            }
            Some(l) if l == region => l.to_string(),
            other => {
                let named = match other {
                    Some(l) if !l.is_empty() => crate::error::shown(l),
                    _ => "unspecified".to_string(),
                };
                return Err(S3Error::new(
                    "IllegalLocationConstraintException",
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The {named} location constraint is incompatible for the region specific endpoint this request was sent to."
                    ),
                ));
            }
        };
        let bucket = Bucket {
            name: self.bucket_name().to_string(),
            account: account.clone(),
            region: bucket_region,
            created_ms: now_ms(),
            policy: None,
            // New buckets block public access (since April 2023,
            // "Amazon S3 Block Public Access ... enabled by default").
            public_access_block: Some([true; 4]),
            tags: None,
        };
        match self.s3.index.create_bucket(&bucket) {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                let existing = self.s3.index.bucket(&bucket.name)?;
                let mine = existing.as_ref().is_some_and(|b| b.account == account);
                if !mine {
                    return Err(S3Error::new(
                        "BucketAlreadyExists",
                        StatusCode::CONFLICT,
                        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
                    )
                    .with("BucketName", &bucket.name));
                }
                if existing.is_some_and(|b| b.region != "us-east-1") || region != "us-east-1" {
                    return Err(S3Error::new(
                        "BucketAlreadyOwnedByYou",
                        StatusCode::CONFLICT,
                        "Your previous request to create the named bucket succeeded and you already own it.",
                    )
                    .with("BucketName", &bucket.name));
                }
            }
            Err(e) => return Err(e.into()),
        }
        let mut r = empty(StatusCode::OK);
        if let Ok(v) = HeaderValue::from_str(&format!("/{}", bucket.name)) {
            r.headers_mut().insert("location", v);
        }
        Ok(r)
    }

    /// Every other bucket operation: the bucket must exist, the caller be
    /// allowed, and policy operations come from the owner's account.
    pub(crate) async fn bucket_op(&self, body: Body) -> Result<Response<Body>, S3Error> {
        let op = self.route.op;
        let bucket = self.bucket()?;
        let ctx = self.context(op, Some(&bucket), &[]);
        self.authorize_op(Some(&bucket), &ctx)?;
        let owner = self.caller.account.as_deref() == Some(bucket.account.as_str());
        let policy_op = matches!(
            op,
            Op::GetBucketPolicy | Op::PutBucketPolicy | Op::DeleteBucketPolicy
        );
        if policy_op && !owner {
            // Only the owner's account may use bucket policy operations,
            // whatever the policy grants (API_PutBucketPolicy.html).
            return Err(S3Error::new(
                "MethodNotAllowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "The specified method is not allowed against this resource.",
            ));
        }
        let name = bucket.name.clone();
        match op {
            Op::HeadBucket => {
                let mut r = empty(StatusCode::OK);
                if let Ok(v) = HeaderValue::from_str(&bucket.region) {
                    r.headers_mut().insert("x-amz-bucket-region", v);
                }
                Ok(r)
            }
            Op::DeleteBucket => {
                if self.s3.index.delete_bucket(&name).map_err(|e| match e {
                    StoreError::NotFound => S3Error::no_such_bucket(&name),
                    other => other.into(),
                })? {
                    if let Ok(mut c) = self.s3.policies.lock() {
                        c.remove(&name);
                    }
                    Ok(empty(StatusCode::NO_CONTENT))
                } else {
                    Err(S3Error::new(
                        "BucketNotEmpty",
                        StatusCode::CONFLICT,
                        "The bucket you tried to delete is not empty",
                    )
                    .with("BucketName", &name))
                }
            }
            Op::GetBucketLocation => {
                let mut w = Writer::document();
                let region = if bucket.region == "us-east-1" {
                    ""
                } else {
                    bucket.region.as_str()
                };
                w.root("LocationConstraint");
                w.text(region);
                w.close("LocationConstraint");
                Ok(xml_response(w.finish()))
            }
            Op::GetBucketTagging => match &bucket.tags {
                Some(tags) => Ok(xml_response(tagging_xml(
                    &tags
                        .iter()
                        .map(|t| (t.key.clone(), t.value.clone()))
                        .collect::<Vec<_>>(),
                ))),
                None => Err(S3Error::new(
                    "NoSuchTagSet",
                    StatusCode::NOT_FOUND,
                    "The TagSet does not exist",
                )
                .with("BucketName", &name)),
            },
            Op::PutBucketTagging => {
                let doc = self.document(body).await?;
                let el = crate::xml::parse(&doc).ok_or_else(S3Error::malformed_xml)?;
                let tags = tags_from_xml(&el, MAX_BUCKET_TAGS)?;
                let tags: Vec<store::Tag> = tags
                    .into_iter()
                    .map(|(key, value)| store::Tag { key, value })
                    .collect();
                self.update(&name, |b| {
                    b.tags = Some(tags.clone());
                    Ok(())
                })?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Op::DeleteBucketTagging => {
                self.update(&name, |b| {
                    b.tags = None;
                    Ok(())
                })?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Op::GetBucketPolicy => match &bucket.policy {
                Some(p) => {
                    let mut r = Response::new(Body::from(p.clone()));
                    r.headers_mut().insert(
                        axum::http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    Ok(r)
                }
                None => Err(no_such_policy(&name)),
            },
            Op::PutBucketPolicy => {
                let doc = self.document(body).await?;
                let text = String::from_utf8(doc).map_err(|_| {
                    malformed_policy("Policies must be valid JSON and the first byte must be '{'")
                })?;
                check_bucket_policy(&name, &text)?;
                let public = is_public_policy(&text);
                // The block is read as it is at the commit: a concurrent
                // PutPublicAccessBlock cannot let a public policy through.
                self.update(&name, |b| {
                    if public && b.public_access_block.is_some_and(|p| p[2]) {
                        return Err(S3Error::access_denied(format!(
                            "User: {} is not authorized to perform: s3:PutBucketPolicy on resource: \"arn:aws:s3:::{name}\" because public policies are blocked by the BlockPublicPolicy block public access setting.",
                            self.caller.arn
                        )));
                    }
                    b.policy = Some(text.clone());
                    Ok(())
                })?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Op::DeleteBucketPolicy => {
                self.update(&name, |b| {
                    b.policy = None;
                    Ok(())
                })?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Op::GetBucketPolicyStatus => {
                let Some(p) = &bucket.policy else {
                    return Err(no_such_policy(&name));
                };
                let mut w = Writer::document();
                w.root("PolicyStatus");
                w.leaf("IsPublic", bool_text(is_public_policy(p)));
                w.close("PolicyStatus");
                Ok(xml_response(w.finish()))
            }
            Op::GetPublicAccessBlock => match bucket.public_access_block {
                Some(b) => {
                    let mut w = Writer::document();
                    w.root("PublicAccessBlockConfiguration");
                    for (name, on) in PAB_FIELDS.iter().zip(b) {
                        w.leaf(name, bool_text(on));
                    }
                    w.close("PublicAccessBlockConfiguration");
                    Ok(xml_response(w.finish()))
                }
                None => Err(S3Error::new(
                    "NoSuchPublicAccessBlockConfiguration",
                    StatusCode::NOT_FOUND,
                    "The public access block configuration was not found",
                )
                .with("BucketName", &name)),
            },
            Op::PutPublicAccessBlock => {
                let doc = self.document(body).await?;
                let el = crate::xml::parse(&doc).ok_or_else(S3Error::malformed_xml)?;
                if el.name != "PublicAccessBlockConfiguration" {
                    return Err(S3Error::malformed_xml());
                }
                let mut b = [false; 4];
                for (slot, field) in b.iter_mut().zip(PAB_FIELDS) {
                    *slot = match el.text_of(field) {
                        None | Some("false") => false,
                        Some("true") => true,
                        Some(_) => return Err(S3Error::malformed_xml()),
                    };
                }
                self.update(&name, |bucket| {
                    bucket.public_access_block = Some(b);
                    Ok(())
                })?;
                Ok(empty(StatusCode::OK))
            }
            Op::DeletePublicAccessBlock => {
                self.update(&name, |b| {
                    b.public_access_block = None;
                    Ok(())
                })?;
                Ok(empty(StatusCode::NO_CONTENT))
            }
            Op::GetBucketOwnershipControls => {
                let mut w = Writer::document();
                w.root("OwnershipControls");
                w.open("Rule");
                w.leaf("ObjectOwnership", "BucketOwnerEnforced");
                w.close("Rule");
                w.close("OwnershipControls");
                Ok(xml_response(w.finish()))
            }
            Op::GetBucketConfig(c) => unconfigured(c, &bucket),
            _ => Err(S3Error::not_implemented(crate::op_name(op))),
        }
    }

    /// Changes the bucket's configuration as it is at the commit; an error
    /// of `change` is the answer and writes nothing.
    fn update(
        &self,
        name: &str,
        mut change: impl FnMut(&mut Bucket) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        let mut refused = None;
        let written = self.s3.index.update_bucket(name, &mut |b| {
            change(b).map_err(|e| {
                refused = Some(e);
                StoreError::Unavailable("refused".into())
            })
        });
        match (written, refused) {
            (_, Some(e)) => Err(e),
            (Ok(()), None) => Ok(()),
            (Err(StoreError::NotFound), None) => Err(S3Error::no_such_bucket(name)),
            (Err(other), None) => Err(other.into()),
        }
    }
}

const PAB_FIELDS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

fn no_such_policy(bucket: &str) -> S3Error {
    S3Error::new(
        "NoSuchBucketPolicy",
        StatusCode::NOT_FOUND,
        "The bucket policy does not exist",
    )
    .with("BucketName", bucket)
}

/// What S3 answers for a configuration a bucket does not have: an empty
/// document where the API defines one (versioning, logging, accelerate,
/// notification), the defaults every new bucket has (SSE-S3 encryption,
/// the owner's FULL_CONTROL ACL, BucketOwner pays), else the API's
/// `NoSuch…` error.
fn unconfigured(c: Config, bucket: &Bucket) -> Result<Response<Body>, S3Error> {
    let mut w = Writer::document();
    let empty_doc = |name: &str| {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><{name} xmlns=\"{NAMESPACE}\"/>")
    };
    let missing = |code: &'static str, message: &str| {
        Err(S3Error::new(code, StatusCode::NOT_FOUND, message).with("BucketName", &bucket.name))
    };
    match c {
        Config::Versioning => Ok(xml_response(empty_doc("VersioningConfiguration"))),
        Config::Logging => Ok(xml_response(empty_doc("BucketLoggingStatus"))),
        Config::Accelerate => Ok(xml_response(empty_doc("AccelerateConfiguration"))),
        Config::Notification => Ok(xml_response(empty_doc("NotificationConfiguration"))),
        Config::Cors => missing(
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist",
        ),
        Config::Lifecycle => missing(
            "NoSuchLifecycleConfiguration",
            "The lifecycle configuration does not exist",
        ),
        Config::Website => missing(
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
        ),
        Config::Replication => missing(
            "ReplicationConfigurationNotFoundError",
            "The replication configuration was not found",
        ),
        Config::ObjectLock => missing(
            "ObjectLockConfigurationNotFoundError",
            "Object Lock configuration does not exist for this bucket",
        ),
        Config::Encryption => {
            w.root("ServerSideEncryptionConfiguration");
            w.open("Rule");
            w.open("ApplyServerSideEncryptionByDefault");
            w.leaf("SSEAlgorithm", "AES256");
            w.close("ApplyServerSideEncryptionByDefault");
            w.leaf("BucketKeyEnabled", "false");
            w.close("Rule");
            w.close("ServerSideEncryptionConfiguration");
            Ok(xml_response(w.finish()))
        }
        Config::RequestPayment => {
            w.root("RequestPaymentConfiguration");
            w.leaf("Payer", "BucketOwner");
            w.close("RequestPaymentConfiguration");
            Ok(xml_response(w.finish()))
        }
        Config::Acl => Ok(xml_response(acl_xml(&bucket.account))),
    }
}

/// The ACL of a bucket or object with ACLs disabled: the owner's FULL_CONTROL.
pub(crate) fn acl_xml(account: &str) -> String {
    let mut w = Writer::document();
    w.root("AccessControlPolicy");
    write_owner(&mut w, account);
    w.open("AccessControlList");
    w.open("Grant");
    w.raw("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
    w.leaf("ID", &canonical_id(account));
    w.leaf("DisplayName", account);
    w.close("Grantee");
    w.leaf("Permission", "FULL_CONTROL");
    w.close("Grant");
    w.close("AccessControlList");
    w.close("AccessControlPolicy");
    w.finish()
}

/// Now, milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// access-control-block-public-access.html, "The meaning of public".
    #[test]
    fn public_policies_name_everyone_without_a_narrowing_condition() {
        let p = |principal: &str, cond: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{cond}}}]}}"#
            )
        };
        assert!(is_public_policy(&p(r#""*""#, "")));
        assert!(is_public_policy(&p(r#"{"AWS":"*"}"#, "")));
        assert!(is_public_policy(&p(r#"{"AWS":["*"]}"#, "")));
        assert!(!is_public_policy(&p(
            r#"{"AWS":"arn:aws:iam::111122223333:root"}"#,
            ""
        )));
        assert!(!is_public_policy(&p(
            r#""*""#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#
        )));
        assert!(!is_public_policy(&p(
            r#""*""#,
            r#","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}"#
        )));
        assert!(is_public_policy(&p(
            r#""*""#,
            r#","Condition":{"StringEquals":{"aws:UserAgent":"x"}}"#
        )));
        assert!(!is_public_policy("not json"));
    }

    #[test]
    fn bucket_policies_must_name_a_principal_and_only_this_bucket() {
        let good = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:GetObject","Resource":["arn:aws:s3:::b/*","arn:aws:s3:::b"]}]}"#;
        assert!(check_bucket_policy("b", good).is_ok());
        let other = good.replace("arn:aws:s3:::b/*", "arn:aws:s3:::other/*");
        assert_eq!(
            check_bucket_policy("b", &other).unwrap_err().message,
            "Policy has invalid resource"
        );
        let prefix_trick = good.replace("arn:aws:s3:::b/*", "arn:aws:s3:::bb/*");
        assert!(check_bucket_policy("b", &prefix_trick).is_err());
        let no_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        assert_eq!(
            check_bucket_policy("b", no_principal).unwrap_err().code,
            "MalformedPolicy"
        );
        assert_eq!(
            check_bucket_policy("b", "{").unwrap_err().code,
            "MalformedPolicy"
        );
        let huge = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}]}}"#,
            "x".repeat(MAX_POLICY)
        );
        assert_eq!(
            check_bucket_policy("b", &huge).unwrap_err().code,
            "MalformedPolicy"
        );
    }
}
