//! irsa's S3: an S3 REST endpoint where every request is authorized as S3
//! authorizes it.
//!
//! A request is routed ([`route`]), its IAM action, resource ARN and S3
//! condition keys come from a pure table ([`access`]), and the decision is
//! the server's policy engine's ([`Authorizer`]): the caller's identity
//! policies with the bucket policy as the resource-based policy, explicit
//! deny first, both sides across accounts. Bodies stream ([`body`]) into
//! blobs ([`blobs`]) whose ids the store's object index holds; a write is
//! answered once the blob and its index row are durable.
//!
//! The crate knows `policy`, `sigv4` and `store`, never the server: the
//! server authenticates the caller (SigV4, sessions), implements
//! [`Authorizer`] and records the [`Outcome`] in the audit trail.

pub mod access;
mod attrs;
pub mod blobs;
pub mod body;
mod buckets;
pub mod checksum;
pub mod chunked;
pub mod error;
mod listing;
mod multipart;
pub mod names;
mod objects;
pub mod route;
mod time;
pub mod xml;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use policy::{CompiledPolicy, Context, Decision};
use store::ObjectIndex;
use store::objects::Bucket;

pub use access::AuthType;
pub use body::{ChunkSigning, IDLE_TIMEOUT, Payload};
pub use error::S3Error;
use route::{Op, Route};

/// Largest object of one PutObject, and largest part (5 GiB).
pub const MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024;
/// Largest request document (Delete of 1,000 keys, CompleteMultipartUpload
/// of 10,000 parts, a 20 KB bucket policy).
pub const MAX_DOCUMENT: u64 = 2 * 1024 * 1024;

/// Who sent a request, as the server authenticated it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's account; `None` for an anonymous request.
    pub account: Option<String>,
    /// The caller's ARN (AccessDenied messages).
    pub arn: String,
    /// How the request was signed.
    pub auth: AuthType,
    /// What the body is, by its `x-amz-content-sha256` (and signature).
    pub payload: Payload,
    /// The region the request was signed for (`us-east-1` when unsigned).
    pub region: String,
}

/// One authorization question.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// `s3:GetObject`, …
    pub action: &'a str,
    /// The resource ARN, or `*`.
    pub resource: &'a str,
    /// The account owning the resource (the bucket's owner).
    pub resource_account: Option<&'a str>,
    /// The bucket's policy.
    pub bucket_policy: Option<&'a CompiledPolicy>,
    /// S3's condition keys of the request (the server adds the global ones).
    pub context: &'a Context,
}

/// The policy engine, as the server runs it for the request's caller.
pub trait Authorizer: Sync {
    /// The decision for `ask`.
    fn decide(&self, ask: &Ask<'_>) -> Decision;
}

/// What a request was, for the audit trail and metrics.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `GetObject`, … (empty when the request named no operation).
    pub operation: &'static str,
    /// The bucket.
    pub bucket: Option<String>,
    /// The key.
    pub key: Option<String>,
    /// The error code, when it failed.
    pub error: Option<&'static str>,
    /// The error message, when it failed.
    pub message: Option<String>,
    /// The error status, when it failed.
    pub status: Option<StatusCode>,
    /// Whether the operation only reads.
    pub read_only: bool,
}

/// A bucket's say in a decision: its owner and its policy.
#[derive(Debug, Clone)]
pub struct BucketAuthority {
    /// The owning account.
    pub account: String,
    /// The policy's text and compiled form, when it has one that applies.
    pub policy: Option<(String, CompiledPolicy)>,
}

/// The S3 service of a data dir.
pub struct Service {
    index: Arc<dyn ObjectIndex + Send + Sync>,
    blobs: blobs::Blobs,
    /// Host names the server is reached by (virtual-hosted style is
    /// `BUCKET.NAME`).
    bases: Vec<String>,
    /// Compiled bucket policies by bucket, with the text they were compiled from.
    policies: Mutex<HashMap<String, (String, CompiledPolicy)>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("s3::Service")
    }
}

impl Service {
    /// The S3 service keeping object bytes under `dir` and metadata in
    /// `index`; `bases` are the host names the server is reached by. Opening
    /// changes nothing (so `irsa doctor` may open the S3 of a running server);
    /// the server calls [`Service::recover`] at its start.
    pub fn open(
        dir: &Path,
        index: Arc<dyn ObjectIndex + Send + Sync>,
        bases: Vec<String>,
    ) -> std::io::Result<Service> {
        Ok(Service {
            index,
            blobs: blobs::Blobs::open(dir)?,
            bases,
            policies: Mutex::new(HashMap::new()),
        })
    }

    /// Removes what a crash left behind: temporary files of interrupted
    /// uploads and blobs no object or part refers to (written, then not
    /// committed to the index). Only for the one server writing here.
    pub async fn recover(&self) -> std::io::Result<()> {
        self.blobs.clear_tmp()?;
        for id in self.blobs.ids()? {
            if !self
                .index
                .blob_in_use(&id)
                .map_err(|e| std::io::Error::other(e.to_string()))?
            {
                self.blobs.remove(&id).await;
            }
        }
        Ok(())
    }

    /// The bucket a virtual-hosted-style `Host` names, if it names one.
    pub fn host_bucket<'h>(&self, host: &'h str) -> Option<&'h str> {
        route::virtual_host_bucket(host, &self.bases)
    }

    /// Answers one S3 request.
    pub async fn handle(
        &self,
        request: Request<Body>,
        caller: &Caller,
        authz: &dyn Authorizer,
        request_id: &str,
    ) -> (Response<Body>, Outcome) {
        let (parts, body) = request.into_parts();
        let head = parts.method == axum::http::Method::HEAD;
        let mut outcome = Outcome::default();
        let result = self.run(&parts, body, caller, authz, &mut outcome).await;
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                outcome.error = Some(e.code);
                outcome.message = Some(e.message.clone());
                outcome.status = Some(e.status);
                error_response(&e, request_id, head)
            }
        };
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-amz-request-id", v.clone());
            headers.insert("x-amz-id-2", v);
        }
        headers.insert(header::SERVER, HeaderValue::from_static("AmazonS3"));
        (response, outcome)
    }

    async fn run(
        &self,
        parts: &axum::http::request::Parts,
        body: Body,
        caller: &Caller,
        authz: &dyn Authorizer,
        outcome: &mut Outcome,
    ) -> Result<Response<Body>, S3Error> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let params = route::query_pairs(parts.uri.query().unwrap_or_default()).map_err(|_| {
            S3Error::invalid_argument(
                "The query string is not valid percent-encoded UTF-8.",
                "query",
                "",
            )
        })?;
        let has_header = |name: &str| parts.headers.contains_key(name);
        let route = route::route(
            parts.method.as_str(),
            self.host_bucket(host),
            parts.uri.path(),
            &params,
            &has_header,
        )
        .map_err(|e| match e {
            route::RouteError::BadEncoding => {
                S3Error::invalid_request("The request path is not valid percent-encoded UTF-8.")
            }
            route::RouteError::Unsupported(what) => S3Error::not_implemented(&what),
            route::RouteError::MethodNotAllowed => S3Error::new(
                "MethodNotAllowed",
                StatusCode::METHOD_NOT_ALLOWED,
                "The specified method is not allowed against this resource.",
            ),
        })?;
        outcome.operation = op_name(route.op);
        outcome.read_only = is_read_only(route.op);
        outcome.bucket.clone_from(&route.bucket);
        outcome.key.clone_from(&route.key);
        if let Some(b) = &route.bucket
            && !names::is_valid_bucket_name(b)
        {
            return Err(S3Error::new(
                "InvalidBucketName",
                StatusCode::BAD_REQUEST,
                "The specified bucket is not valid.",
            )
            .with("BucketName", error::shown(b)));
        }
        if let Some(k) = &route.key
            && names::check_key(k) == Err(names::BadKey::TooLong)
        {
            return Err(S3Error::new(
                "KeyTooLongError",
                StatusCode::BAD_REQUEST,
                "Your key is too long",
            )
            .with("MaxSizeAllowed", names::MAX_KEY_BYTES.to_string())
            .with("Size", k.len().to_string()));
        }
        let call = Call {
            s3: self,
            caller,
            authz,
            headers: &parts.headers,
            params: &params,
            route: &route,
        };
        call.dispatch(body).await
    }

    /// Who decides on the S3 resource `arn` besides the caller's own
    /// policies — the bucket's owner and the policy it grants `caller_account`
    /// with — or `None` when `arn` names no existing bucket
    /// (`arn:aws:s3:::BUCKET`, `arn:aws:s3:::BUCKET/KEY`). What `irsa doctor`
    /// and the policy simulator evaluate, so that they decide as a real call does.
    pub fn authority(
        &self,
        arn: &str,
        caller_account: Option<&str>,
    ) -> Result<Option<BucketAuthority>, S3Error> {
        let Some(rest) = arn.strip_prefix("arn:aws:s3:::") else {
            return Ok(None);
        };
        let name = rest.split('/').next().unwrap_or_default();
        if !names::is_valid_bucket_name(name) {
            return Ok(None);
        }
        let Some(bucket) = self.index.bucket(name)? else {
            return Ok(None);
        };
        Ok(Some(BucketAuthority {
            policy: self
                .effective_policy(&bucket, caller_account)
                .zip(bucket.policy.clone())
                .map(|(p, text)| (text, p)),
            account: bucket.account,
        }))
    }

    /// The bucket policy as it applies to `caller_account` (`None`:
    /// anonymous): none when RestrictPublicBuckets makes a public policy
    /// grant nothing to anonymous callers and other accounts
    /// (access-control-block-public-access.html).
    fn effective_policy(
        &self,
        bucket: &Bucket,
        caller_account: Option<&str>,
    ) -> Option<CompiledPolicy> {
        let restrict = bucket.public_access_block.is_some_and(|p| p[3]);
        if restrict
            && caller_account != Some(bucket.account.as_str())
            && bucket
                .policy
                .as_deref()
                .is_some_and(buckets::is_public_policy)
        {
            return None;
        }
        self.bucket_policy(bucket)
    }

    /// Runs a write of the index on the blocking pool: its commit waits for
    /// the disk (fsync), which must not stall the runtime's workers.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn ObjectIndex) -> T + Send + 'static,
    ) -> Result<T, S3Error> {
        let index = Arc::clone(&self.index);
        tokio::task::spawn_blocking(move || work(index.as_ref()))
            .await
            .map_err(S3Error::internal)
    }

    /// The compiled policy of a bucket, cached by its text.
    fn bucket_policy(&self, bucket: &Bucket) -> Option<CompiledPolicy> {
        let text = bucket.policy.as_ref()?;
        let mut cache = self.policies.lock().ok()?;
        if let Some((t, p)) = cache.get(&bucket.name)
            && t == text
        {
            return Some(p.clone());
        }
        let compiled = match policy::parse(text) {
            Ok(p) => CompiledPolicy::new(format!("bucket policy of {}", bucket.name), p),
            // A stored policy that no longer parses allows nothing.
            Err(_) => CompiledPolicy::new(
                format!("bucket policy of {}", bucket.name),
                policy::parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}"#).ok()?,
            ),
        };
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(bucket.name.clone(), (text.clone(), compiled.clone()));
        Some(compiled)
    }
}

/// The operation's name, as CloudTrail's `eventName` and the API reference.
pub fn op_name(op: Op) -> &'static str {
    use route::Config as C;
    match op {
        Op::ListBuckets => "ListBuckets",
        Op::CreateBucket => "CreateBucket",
        Op::HeadBucket => "HeadBucket",
        Op::DeleteBucket => "DeleteBucket",
        Op::GetBucketLocation => "GetBucketLocation",
        Op::GetBucketTagging => "GetBucketTagging",
        Op::PutBucketTagging => "PutBucketTagging",
        Op::DeleteBucketTagging => "DeleteBucketTagging",
        Op::GetBucketPolicy => "GetBucketPolicy",
        Op::PutBucketPolicy => "PutBucketPolicy",
        Op::DeleteBucketPolicy => "DeleteBucketPolicy",
        Op::GetBucketPolicyStatus => "GetBucketPolicyStatus",
        Op::GetPublicAccessBlock => "GetPublicAccessBlock",
        Op::PutPublicAccessBlock => "PutPublicAccessBlock",
        Op::DeletePublicAccessBlock => "DeletePublicAccessBlock",
        Op::GetBucketOwnershipControls => "GetBucketOwnershipControls",
        Op::GetBucketConfig(c) => match c {
            C::Versioning => "GetBucketVersioning",
            C::Cors => "GetBucketCors",
            C::Encryption => "GetBucketEncryption",
            C::Lifecycle => "GetBucketLifecycleConfiguration",
            C::Website => "GetBucketWebsite",
            C::Logging => "GetBucketLogging",
            C::Acl => "GetBucketAcl",
            C::Accelerate => "GetBucketAccelerateConfiguration",
            C::RequestPayment => "GetBucketRequestPayment",
            C::Replication => "GetBucketReplication",
            C::ObjectLock => "GetObjectLockConfiguration",
            C::Notification => "GetBucketNotificationConfiguration",
        },
        Op::ListObjects => "ListObjects",
        Op::ListObjectsV2 => "ListObjectsV2",
        Op::ListMultipartUploads => "ListMultipartUploads",
        Op::DeleteObjects => "DeleteObjects",
        Op::PutObject => "PutObject",
        Op::CopyObject => "CopyObject",
        Op::GetObject => "GetObject",
        Op::HeadObject => "HeadObject",
        Op::DeleteObject => "DeleteObject",
        Op::GetObjectTagging => "GetObjectTagging",
        Op::PutObjectTagging => "PutObjectTagging",
        Op::DeleteObjectTagging => "DeleteObjectTagging",
        Op::GetObjectAcl => "GetObjectAcl",
        Op::CreateMultipartUpload => "CreateMultipartUpload",
        Op::UploadPart => "UploadPart",
        Op::UploadPartCopy => "UploadPartCopy",
        Op::CompleteMultipartUpload => "CompleteMultipartUpload",
        Op::AbortMultipartUpload => "AbortMultipartUpload",
        Op::ListParts => "ListParts",
    }
}

fn is_read_only(op: Op) -> bool {
    let name = op_name(op);
    name.starts_with("Get") || name.starts_with("List") || name.starts_with("Head")
}

/// An error answered as S3 answers it (HEAD: status and headers, no body).
fn error_response(e: &S3Error, request_id: &str, head: bool) -> Response<Body> {
    let body = if head {
        Body::empty()
    } else {
        Body::from(e.to_xml(request_id))
    };
    let mut r = Response::new(body);
    *r.status_mut() = e.status;
    if !head {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
    }
    r
}

/// An XML document answer.
fn xml_response(doc: String) -> Response<Body> {
    let mut r = Response::new(Body::from(doc));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// An empty answer with a status.
fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The canonical user id S3 shows as an owner's `ID`: 64 hex digits,
/// derived from the account.
fn canonical_id(account: &str) -> String {
    use sha2::Digest;
    checksum::hex(&sha2::Sha256::digest(format!(
        "irsa-canonical-user:{account}"
    )))
}

/// One request being answered.
struct Call<'a> {
    s3: &'a Service,
    caller: &'a Caller,
    authz: &'a dyn Authorizer,
    headers: &'a HeaderMap,
    params: &'a [(String, String)],
    route: &'a Route,
}

impl Call<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn bucket_name(&self) -> &str {
        self.route.bucket.as_deref().unwrap_or_default()
    }

    fn key(&self) -> &str {
        self.route.key.as_deref().unwrap_or_default()
    }

    /// The request's bucket, or `NoSuchBucket`.
    fn bucket(&self) -> Result<Bucket, S3Error> {
        self.existing_bucket(self.bucket_name())
    }

    fn existing_bucket(&self, name: &str) -> Result<Bucket, S3Error> {
        self.s3
            .index
            .bucket(name)?
            .ok_or_else(|| S3Error::no_such_bucket(name))
    }

    /// The request's S3 condition keys for `op`.
    fn context(
        &self,
        op: Op,
        bucket: Option<&Bucket>,
        request_tags: &[(String, String)],
    ) -> Context {
        let header = |name: &str| self.header(name).map(str::to_string);
        access::request_keys(
            op,
            self.caller.auth,
            bucket.map(|b| b.account.as_str()),
            self.params,
            &header,
            request_tags,
            None,
        )
    }

    /// Decides `action` on `resource` in `bucket`; a denial is AccessDenied
    /// naming the policy type that denied, in AWS's current form.
    fn authorize(
        &self,
        action: &str,
        resource: &str,
        bucket: Option<&Bucket>,
        ctx: &Context,
    ) -> Result<(), S3Error> {
        let policy =
            bucket.and_then(|b| self.s3.effective_policy(b, self.caller.account.as_deref()));
        let decision = self.authz.decide(&Ask {
            action,
            resource,
            resource_account: bucket.map(|b| b.account.as_str()),
            bucket_policy: policy.as_ref(),
            context: ctx,
        });
        if decision.is_allowed() {
            return Ok(());
        }
        Err(self.denied(action, resource, &decision))
    }

    fn denied(&self, action: &str, resource: &str, decision: &Decision) -> S3Error {
        if self.caller.account.is_none() {
            return S3Error::access_denied("Access Denied");
        }
        S3Error::access_denied(format!(
            "User: {} is not authorized to perform: {action} on resource: \"{resource}\" {}",
            self.caller.arn,
            decision.reason(action)
        ))
    }

    /// Whether the caller may list the bucket (a missing key is then 404,
    /// else 403, as S3 answers).
    fn may_list(&self, bucket: &Bucket) -> bool {
        let ctx = self.context(Op::ListObjects, Some(bucket), &[]);
        self.authorize(
            "s3:ListBucket",
            &access::bucket_arn(&bucket.name),
            Some(bucket),
            &ctx,
        )
        .is_ok()
    }

    /// Authorizes the route's own operation on its bucket or object.
    fn authorize_op(&self, bucket: Option<&Bucket>, ctx: &Context) -> Result<(), S3Error> {
        let (action, on) = access::action(self.route.op);
        let resource = match on {
            access::On::Nothing => "*".to_string(),
            access::On::Bucket => access::bucket_arn(self.bucket_name()),
            access::On::Object => access::object_arn(self.bucket_name(), self.key()),
        };
        self.authorize(action, &resource, bucket, ctx)
    }

    async fn dispatch(&self, body: Body) -> Result<Response<Body>, S3Error> {
        match self.route.op {
            Op::ListBuckets => self.list_buckets(),
            Op::CreateBucket => self.create_bucket(body).await,
            Op::PutObject => self.put_object(body).await,
            Op::GetObject | Op::HeadObject => self.get_object().await,
            Op::CopyObject => self.copy_object().await,
            Op::DeleteObject => self.delete_object().await,
            Op::DeleteObjects => self.delete_objects(body).await,
            Op::GetObjectTagging | Op::PutObjectTagging | Op::DeleteObjectTagging => {
                self.object_tagging(body).await
            }
            Op::GetObjectAcl => self.object_acl(),
            Op::ListObjects | Op::ListObjectsV2 => self.list_objects(),
            Op::CreateMultipartUpload
            | Op::UploadPart
            | Op::UploadPartCopy
            | Op::CompleteMultipartUpload
            | Op::AbortMultipartUpload
            | Op::ListParts
            | Op::ListMultipartUploads => self.multipart(body).await,
            _ => self.bucket_op(body).await,
        }
    }

    /// Reads a small request document (XML or a policy) whole, checked as
    /// any body is.
    async fn document(&self, body: Body) -> Result<Vec<u8>, S3Error> {
        let declared = self.declared(MAX_DOCUMENT)?;
        let mut out = Vec::new();
        body::receive(body, &self.caller.payload, &declared, &mut out).await?;
        Ok(out)
    }

    /// What the request declares about its body.
    fn declared(&self, max: u64) -> Result<body::Declared, S3Error> {
        let content_md5 =
            match self.header("content-md5") {
                None => None,
                Some(v) => Some(checksum::unbase64(v).filter(|d| d.len() == 16).ok_or_else(
                    || {
                        S3Error::new(
                            "InvalidDigest",
                            StatusCode::BAD_REQUEST,
                            "The Content-MD5 you specified is not valid.",
                        )
                    },
                )?),
            };
        let mut checksum = None;
        for a in checksum::Algorithm::ALL {
            if let Some(v) = self.header(a.header()) {
                if checksum.is_some() {
                    return Err(S3Error::invalid_request(
                        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                    ));
                }
                if !a.is_well_formed(v) {
                    return Err(S3Error::invalid_request(format!(
                        "Value for {} header is invalid.",
                        a.header()
                    )));
                }
                checksum = Some((a, Some(v.to_string())));
            }
        }
        if let Some(trailer) = self.header("x-amz-trailer") {
            let a = checksum::Algorithm::ALL
                .into_iter()
                .find(|a| a.header().eq_ignore_ascii_case(trailer.trim()))
                .ok_or_else(|| {
                    S3Error::invalid_request(format!(
                        "The value specified in the x-amz-trailer header is not supported: {}",
                        error::shown(trailer)
                    ))
                })?;
            if checksum.is_some() {
                return Err(S3Error::invalid_request(
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            checksum = Some((a, None));
        }
        let decoded_length = match self.header("x-amz-decoded-content-length") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                S3Error::invalid_argument(
                    "x-amz-decoded-content-length must be a number.",
                    "x-amz-decoded-content-length",
                    v,
                )
            })?),
        };
        if decoded_length.is_some_and(|n| n > max) {
            return Err(S3Error::new(
                "EntityTooLarge",
                StatusCode::BAD_REQUEST,
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("MaxSizeAllowed", max.to_string()));
        }
        Ok(body::Declared {
            content_md5,
            checksum,
            decoded_length,
            max,
        })
    }
}
