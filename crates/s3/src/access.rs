//! The pure table of S3 authorization: for each operation, the IAM action
//! and resource ARN it is authorized as, and the condition keys S3 puts in its
//! request context — "Actions, resources, and condition keys for Amazon S3"
//! (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>)
//! and "Required permissions for Amazon S3 API operations"
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html>).

use policy::Context;

use crate::route::{Config, Op};

/// `arn:aws:s3:::BUCKET`.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// `arn:aws:s3:::BUCKET/KEY`.
pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// What the resource of an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// No resource type: `*` (ListAllMyBuckets).
    Nothing,
    /// The bucket.
    Bucket,
    /// The object.
    Object,
}

/// The IAM action an operation is authorized as, and on what. CopyObject and
/// UploadPartCopy are also authorized as `s3:GetObject` on their source,
/// DeleteObjects as `s3:DeleteObject` on each key, and a PutObject carrying
/// tags also as `s3:PutObjectTagging` (using-with-s3-policy-actions.html).
pub fn action(op: Op) -> (&'static str, On) {
    use On::{Bucket, Nothing, Object};
    match op {
        Op::ListBuckets => ("s3:ListAllMyBuckets", Nothing),
        Op::CreateBucket => ("s3:CreateBucket", Bucket),
        Op::HeadBucket | Op::ListObjects | Op::ListObjectsV2 => ("s3:ListBucket", Bucket),
        Op::DeleteBucket => ("s3:DeleteBucket", Bucket),
        Op::GetBucketLocation => ("s3:GetBucketLocation", Bucket),
        Op::GetBucketTagging => ("s3:GetBucketTagging", Bucket),
        Op::PutBucketTagging | Op::DeleteBucketTagging => ("s3:PutBucketTagging", Bucket),
        Op::GetBucketPolicy => ("s3:GetBucketPolicy", Bucket),
        Op::PutBucketPolicy => ("s3:PutBucketPolicy", Bucket),
        Op::DeleteBucketPolicy => ("s3:DeleteBucketPolicy", Bucket),
        Op::GetBucketPolicyStatus => ("s3:GetBucketPolicyStatus", Bucket),
        Op::GetPublicAccessBlock => ("s3:GetBucketPublicAccessBlock", Bucket),
        Op::PutPublicAccessBlock | Op::DeletePublicAccessBlock => {
            ("s3:PutBucketPublicAccessBlock", Bucket)
        }
        Op::GetBucketOwnershipControls => ("s3:GetBucketOwnershipControls", Bucket),
        Op::GetBucketConfig(c) => (config_action(c), Bucket),
        Op::ListMultipartUploads => ("s3:ListBucketMultipartUploads", Bucket),
        Op::DeleteObjects | Op::DeleteObject => ("s3:DeleteObject", Object),
        Op::PutObject
        | Op::CopyObject
        | Op::CreateMultipartUpload
        | Op::UploadPart
        | Op::UploadPartCopy
        | Op::CompleteMultipartUpload => ("s3:PutObject", Object),
        Op::GetObject | Op::HeadObject => ("s3:GetObject", Object),
        Op::GetObjectTagging => ("s3:GetObjectTagging", Object),
        Op::PutObjectTagging => ("s3:PutObjectTagging", Object),
        Op::DeleteObjectTagging => ("s3:DeleteObjectTagging", Object),
        Op::GetObjectAcl => ("s3:GetObjectAcl", Object),
        Op::AbortMultipartUpload => ("s3:AbortMultipartUpload", Object),
        Op::ListParts => ("s3:ListMultipartUploadParts", Object),
    }
}

fn config_action(c: Config) -> &'static str {
    match c {
        Config::Versioning => "s3:GetBucketVersioning",
        Config::Cors => "s3:GetBucketCORS",
        Config::Encryption => "s3:GetEncryptionConfiguration",
        Config::Lifecycle => "s3:GetLifecycleConfiguration",
        Config::Website => "s3:GetBucketWebsite",
        Config::Logging => "s3:GetBucketLogging",
        Config::Acl => "s3:GetBucketAcl",
        Config::Accelerate => "s3:GetAccelerateConfiguration",
        Config::RequestPayment => "s3:GetBucketRequestPayment",
        Config::Replication => "s3:GetReplicationConfiguration",
        Config::ObjectLock => "s3:GetBucketObjectLockConfiguration",
        Config::Notification => "s3:GetBucketNotification",
    }
}

/// How a request was authenticated, for `s3:authType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// No signature.
    Anonymous,
    /// The `Authorization` header (`REST-HEADER`).
    Header,
    /// A presigned URL (`REST-QUERY-STRING`), signed this many
    /// milliseconds ago.
    Query {
        /// Milliseconds since `X-Amz-Date`.
        age_ms: i64,
    },
}

/// Request headers whose values S3 offers as condition keys
/// (`s3:x-amz-acl`, …) for the operations that take them.
const HEADER_KEYS: [&str; 7] = [
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
];

/// The S3-specific condition keys of a request (list_amazons3.html,
/// "Condition keys for Amazon S3"), besides the global ones the server
/// adds: `s3:authType`, `s3:signatureversion`, `s3:signatureAge`,
/// `s3:x-amz-content-sha256`, `s3:ResourceAccount` (and
/// `aws:ResourceAccount`) for every request; `s3:prefix`, `s3:delimiter`,
/// `s3:max-keys` for listing; `s3:LocationConstraint` for CreateBucket;
/// `s3:RequestObjectTag/K` and `s3:RequestObjectTagKeys` for tags a request
/// sets; the `x-amz-*` header keys for writes. `s3:ExistingObjectTag/K` is
/// added by the handler once the object is read.
pub fn request_keys(
    op: Op,
    auth: AuthType,
    resource_account: Option<&str>,
    params: &[(String, String)],
    header: &dyn Fn(&str) -> Option<String>,
    request_tags: &[(String, String)],
    location: Option<&str>,
) -> Context {
    let mut ctx = Context::new();
    match auth {
        AuthType::Anonymous => {}
        AuthType::Header => {
            ctx.insert("s3:authType", "REST-HEADER")
                .insert("s3:signatureversion", "AWS4-HMAC-SHA256");
        }
        AuthType::Query { age_ms } => {
            ctx.insert("s3:authType", "REST-QUERY-STRING")
                .insert("s3:signatureversion", "AWS4-HMAC-SHA256")
                .insert("s3:signatureAge", age_ms.max(0).to_string());
        }
    }
    if let Some(h) = header("x-amz-content-sha256") {
        ctx.insert("s3:x-amz-content-sha256", h);
    }
    if let Some(account) = resource_account {
        ctx.insert("s3:ResourceAccount", account)
            .insert("aws:ResourceAccount", account);
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    match op {
        Op::ListObjects | Op::ListObjectsV2 => {
            for (name, key) in [
                ("prefix", "s3:prefix"),
                ("delimiter", "s3:delimiter"),
                ("max-keys", "s3:max-keys"),
            ] {
                if let Some(v) = param(name) {
                    ctx.insert(key, v.as_str());
                }
            }
        }
        Op::CreateBucket => {
            if let Some(l) = location {
                ctx.insert("s3:LocationConstraint", l);
            }
        }
        Op::PutObject
        | Op::CopyObject
        | Op::CreateMultipartUpload
        | Op::UploadPart
        | Op::UploadPartCopy
        | Op::CompleteMultipartUpload
        | Op::PutObjectTagging => {
            for name in HEADER_KEYS {
                if let Some(v) = header(name) {
                    ctx.insert(format!("s3:{name}"), v);
                }
            }
            add_request_tags(&mut ctx, request_tags);
        }
        _ => {}
    }
    ctx
}

fn add_request_tags(ctx: &mut Context, tags: &[(String, String)]) {
    for (k, v) in tags {
        ctx.insert(format!("s3:RequestObjectTag/{k}"), v.as_str());
    }
    if !tags.is_empty() {
        ctx.insert_multi(
            "s3:RequestObjectTagKeys",
            tags.iter().map(|(k, _)| k.as_str()),
        );
    }
}

/// Adds `s3:ExistingObjectTag/K` for each tag of the object a request reads.
pub fn add_existing_tags(ctx: &mut Context, tags: &[(String, String)]) {
    for (k, v) in tags {
        ctx.insert(format!("s3:ExistingObjectTag/{k}"), v.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// using-with-s3-policy-actions.html, "Required permissions for Amazon S3
    /// API operations": each operation and the permission it needs.
    #[test]
    fn every_operation_needs_the_permission_aws_documents() {
        let table = [
            (Op::ListBuckets, "s3:ListAllMyBuckets", On::Nothing),
            (Op::CreateBucket, "s3:CreateBucket", On::Bucket),
            (Op::HeadBucket, "s3:ListBucket", On::Bucket),
            (Op::DeleteBucket, "s3:DeleteBucket", On::Bucket),
            (Op::GetBucketLocation, "s3:GetBucketLocation", On::Bucket),
            (Op::GetBucketTagging, "s3:GetBucketTagging", On::Bucket),
            (Op::PutBucketTagging, "s3:PutBucketTagging", On::Bucket),
            (Op::DeleteBucketTagging, "s3:PutBucketTagging", On::Bucket),
            (Op::GetBucketPolicy, "s3:GetBucketPolicy", On::Bucket),
            (Op::PutBucketPolicy, "s3:PutBucketPolicy", On::Bucket),
            (Op::DeleteBucketPolicy, "s3:DeleteBucketPolicy", On::Bucket),
            (
                Op::GetBucketPolicyStatus,
                "s3:GetBucketPolicyStatus",
                On::Bucket,
            ),
            (
                Op::GetPublicAccessBlock,
                "s3:GetBucketPublicAccessBlock",
                On::Bucket,
            ),
            (
                Op::PutPublicAccessBlock,
                "s3:PutBucketPublicAccessBlock",
                On::Bucket,
            ),
            (
                Op::DeletePublicAccessBlock,
                "s3:PutBucketPublicAccessBlock",
                On::Bucket,
            ),
            (
                Op::GetBucketOwnershipControls,
                "s3:GetBucketOwnershipControls",
                On::Bucket,
            ),
            (
                Op::GetBucketConfig(Config::Versioning),
                "s3:GetBucketVersioning",
                On::Bucket,
            ),
            (
                Op::GetBucketConfig(Config::Cors),
                "s3:GetBucketCORS",
                On::Bucket,
            ),
            (
                Op::GetBucketConfig(Config::Encryption),
                "s3:GetEncryptionConfiguration",
                On::Bucket,
            ),
            (
                Op::GetBucketConfig(Config::Lifecycle),
                "s3:GetLifecycleConfiguration",
                On::Bucket,
            ),
            (
                Op::GetBucketConfig(Config::Acl),
                "s3:GetBucketAcl",
                On::Bucket,
            ),
            (Op::ListObjects, "s3:ListBucket", On::Bucket),
            (Op::ListObjectsV2, "s3:ListBucket", On::Bucket),
            (
                Op::ListMultipartUploads,
                "s3:ListBucketMultipartUploads",
                On::Bucket,
            ),
            (Op::DeleteObjects, "s3:DeleteObject", On::Object),
            (Op::PutObject, "s3:PutObject", On::Object),
            (Op::CopyObject, "s3:PutObject", On::Object),
            (Op::GetObject, "s3:GetObject", On::Object),
            (Op::HeadObject, "s3:GetObject", On::Object),
            (Op::DeleteObject, "s3:DeleteObject", On::Object),
            (Op::GetObjectTagging, "s3:GetObjectTagging", On::Object),
            (Op::PutObjectTagging, "s3:PutObjectTagging", On::Object),
            (
                Op::DeleteObjectTagging,
                "s3:DeleteObjectTagging",
                On::Object,
            ),
            (Op::GetObjectAcl, "s3:GetObjectAcl", On::Object),
            (Op::CreateMultipartUpload, "s3:PutObject", On::Object),
            (Op::UploadPart, "s3:PutObject", On::Object),
            (Op::UploadPartCopy, "s3:PutObject", On::Object),
            (Op::CompleteMultipartUpload, "s3:PutObject", On::Object),
            (
                Op::AbortMultipartUpload,
                "s3:AbortMultipartUpload",
                On::Object,
            ),
            (Op::ListParts, "s3:ListMultipartUploadParts", On::Object),
        ];
        for (op, want, on) in table {
            assert_eq!(action(op), (want, on), "{op:?}");
        }
        assert_eq!(bucket_arn("b"), "arn:aws:s3:::b");
        assert_eq!(object_arn("b", "a/../c"), "arn:aws:s3:::b/a/../c");
    }

    fn keys(ctx: &Context) -> Vec<(String, Vec<String>)> {
        let mut v: Vec<(String, Vec<String>)> = ctx
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_slice().to_vec()))
            .collect();
        v.sort();
        v
    }

    /// list_amazons3.html: s3:prefix, s3:delimiter and s3:max-keys on
    /// ListBucket, only when the request sends them.
    #[test]
    fn listing_keys_are_the_request_parameters() {
        let params = vec![
            ("list-type".to_string(), "2".to_string()),
            ("prefix".to_string(), "app-data/".to_string()),
            ("delimiter".to_string(), "/".to_string()),
        ];
        let ctx = request_keys(
            Op::ListObjectsV2,
            AuthType::Header,
            Some("111122223333"),
            &params,
            &|h| (h == "x-amz-content-sha256").then(|| "UNSIGNED-PAYLOAD".to_string()),
            &[],
            None,
        );
        assert_eq!(
            keys(&ctx),
            vec![
                ("aws:ResourceAccount".into(), vec!["111122223333".into()]),
                ("s3:ResourceAccount".into(), vec!["111122223333".into()]),
                ("s3:authType".into(), vec!["REST-HEADER".into()]),
                ("s3:delimiter".into(), vec!["/".into()]),
                ("s3:prefix".into(), vec!["app-data/".into()]),
                (
                    "s3:signatureversion".into(),
                    vec!["AWS4-HMAC-SHA256".into()]
                ),
                (
                    "s3:x-amz-content-sha256".into(),
                    vec!["UNSIGNED-PAYLOAD".into()]
                ),
            ]
        );
        // The same parameters on a GetObject are not listing keys.
        let ctx = request_keys(
            Op::GetObject,
            AuthType::Anonymous,
            None,
            &params,
            &|_| None,
            &[],
            None,
        );
        assert!(keys(&ctx).is_empty());
    }

    #[test]
    fn writes_carry_tags_and_header_keys() {
        let tags = vec![
            ("team".to_string(), "a".to_string()),
            ("env".to_string(), "p".to_string()),
        ];
        let ctx = request_keys(
            Op::PutObject,
            AuthType::Query { age_ms: 1500 },
            None,
            &[],
            &|h| (h == "x-amz-server-side-encryption").then(|| "AES256".to_string()),
            &tags,
            None,
        );
        let k = keys(&ctx);
        assert!(k.contains(&("s3:RequestObjectTag/team".into(), vec!["a".into()])));
        assert!(k.contains(&(
            "s3:RequestObjectTagKeys".into(),
            vec!["team".into(), "env".into()]
        )));
        assert!(k.contains(&(
            "s3:x-amz-server-side-encryption".into(),
            vec!["AES256".into()]
        )));
        assert!(k.contains(&("s3:authType".into(), vec!["REST-QUERY-STRING".into()])));
        assert!(k.contains(&("s3:signatureAge".into(), vec!["1500".into()])));
        let ctx = request_keys(
            Op::CreateBucket,
            AuthType::Header,
            None,
            &[],
            &|_| None,
            &[],
            Some("eu-west-1"),
        );
        assert!(keys(&ctx).contains(&("s3:LocationConstraint".into(), vec!["eu-west-1".into()])));
        let mut ctx = Context::new();
        add_existing_tags(&mut ctx, &tags);
        assert_eq!(ctx.single("s3:ExistingObjectTag/env"), Some("p"));
    }
}
