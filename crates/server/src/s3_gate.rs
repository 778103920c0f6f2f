//! The server's side of S3: which requests are S3's, who sent them (SigV4
//! as for every service, the body left to stream), the policy engine as
//! S3's [`s3::Authorizer`] (the caller's identity policies, boundary and
//! session policies, with the bucket policy as the resource-based policy),
//! and the audit trail: management events and every failure always, object
//! reads and writes (data events) when the operator asks for them.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response, StatusCode, header};
use policy::{Context, ContextValue, Decision, PolicyKind, PolicySet, Principal};

use crate::auth::{self, Caller, Origin};
use crate::error::ApiError;
use crate::protocol::query::Params;
use crate::state::State;

/// Whether a request is for S3: signed for `s3`, addressed to a
/// virtual-hosted bucket, or unsigned and not a Query-protocol call (those
/// carry `Action`, or are form POSTs to `/`).
pub(crate) fn is_s3(state: &State, request: &Request) -> bool {
    let Some(s3) = &state.s3 else {
        return false;
    };
    if let Some(auth) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return auth.contains("/s3/aws4_request") || auth.starts_with("AWS ");
    }
    let query = request.uri().query().unwrap_or_default();
    if query.contains("X-Amz-Credential=") {
        return query.contains("%2Fs3%2Faws4_request") || query.contains("/s3/aws4_request");
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if s3.host_bucket(host).is_some() {
        return true;
    }
    if sigv2_query(query) {
        return true;
    }
    let names_action = query
        .split('&')
        .any(|p| p.starts_with("Action=") || p == "Action");
    let form_post = request.method() == axum::http::Method::POST && request.uri().path() == "/";
    !names_action && !form_post
}

/// Whether a query string carries a Signature Version 2 presigned signature.
fn sigv2_query(query: &str) -> bool {
    query.split('&').any(|p| p.starts_with("AWSAccessKeyId="))
        && query.split('&').any(|p| p.starts_with("Signature="))
}

/// An error before S3 runs (authentication), as S3 writes errors.
fn s3_error(e: &s3::S3Error, request_id: &str, head: bool) -> Response<Body> {
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::from(e.to_xml(request_id))
    });
    *r.status_mut() = e.status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amz-request-id", v);
    }
    r
}

/// An authentication failure in S3's words: an unknown access key is
/// `InvalidAccessKeyId`, other codes are S3's own already.
fn auth_error(e: &ApiError) -> s3::S3Error {
    let code = match e.code() {
        "InvalidClientTokenId" => "InvalidAccessKeyId",
        "IncompleteSignature" => "AuthorizationHeaderMalformed",
        "MissingAuthenticationToken" => "AccessDenied",
        other => other,
    };
    let message = match code {
        "InvalidAccessKeyId" => {
            "The AWS Access Key Id you provided does not exist in our records.".to_string()
        }
        _ => e.message().to_string(),
    };
    s3::S3Error::new(code, e.status(), message)
}

/// The policy engine for one S3 request's caller.
struct Gate<'a> {
    state: &'a State,
    caller: Option<&'a Caller>,
    origin: &'a Origin,
    now: i64,
    region: &'a str,
}

impl s3::Authorizer for Gate<'_> {
    fn decide(&self, ask: &s3::Ask<'_>) -> Decision {
        let mut ctx = match self.caller {
            Some(c) => auth::context(c, self.origin, self.now),
            None => anonymous_context(self.origin, self.now),
        };
        ctx.insert("aws:RequestedRegion", self.region);
        merge(&mut ctx, ask.context);
        match self.caller {
            Some(c) => auth::decide(
                self.state,
                self.state.store.as_ref(),
                c,
                &ctx,
                ask.action,
                ask.resource,
                ask.resource_account,
                ask.bucket_policy,
                false,
            )
            // A store that cannot be read decides nothing: fail closed.
            .unwrap_or(Decision::ImplicitDeny(PolicyKind::IdentityBased)),
            None => policy::authorize(
                &policy::Request {
                    principal: &Principal::Anonymous,
                    action: ask.action,
                    resource: ask.resource,
                    resource_account: ask.resource_account,
                    context: &ctx,
                },
                &PolicySet {
                    resource: ask.bucket_policy,
                    ..PolicySet::default()
                },
            ),
        }
    }
}

/// The global keys of an anonymous request.
fn anonymous_context(origin: &Origin, now: i64) -> Context {
    let mut ctx = Context::new();
    ctx.insert("aws:CurrentTime", crate::time::iso8601(now))
        .insert("aws:EpochTime", now.to_string())
        .insert("aws:SecureTransport", origin.secure.to_string())
        .insert("aws:PrincipalType", "Anonymous");
    if let Some(ip) = &origin.source_ip {
        ctx.insert("aws:SourceIp", ip.as_str());
    }
    if let Some(ua) = &origin.user_agent {
        ctx.insert("aws:UserAgent", ua.as_str());
    }
    ctx
}

fn merge(into: &mut Context, from: &Context) {
    for (k, v) in from.iter() {
        match v {
            ContextValue::Single(s) => into.insert(k, s.as_str()),
            ContextValue::Multi(vs) => into.insert_multi(k, vs.iter().map(String::as_str)),
        };
    }
}

/// Answers an S3 request.
pub(crate) async fn serve(
    state: Arc<State>,
    request: Request,
    origin: Origin,
    request_id: String,
) -> (Response<Body>, s3::Outcome) {
    let now = crate::time::now();
    let head = request.method() == axum::http::Method::HEAD;
    let Some(service) = state.s3.clone() else {
        let e = s3::S3Error::not_implemented("S3");
        return (s3_error(&e, &request_id, head), s3::Outcome::default());
    };
    let (parts, body) = request.into_parts();
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let sig_request = sigv4::HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &headers,
        body: b"",
    };
    let sigv2_header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS "));
    if sigv2_header || sigv2_query(sig_request.query) {
        // Signature Version 2 is refused as in every region opened since
        // 2014 (and everywhere since its deprecation): S3's own answer.
        let e = s3::S3Error::invalid_request(
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        );
        return (s3_error(&e, &request_id, head), s3::Outcome::default());
    }
    let signed = parts.headers.contains_key(header::AUTHORIZATION)
        || sig_request.query.contains("X-Amz-Signature");
    let declared = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    let mut caller = None;
    let s3_caller = if signed {
        let found = auth::authenticate_claim(&state, &sig_request, now)
            .map_err(|e| auth_error(&e))
            .and_then(|(c, claim, secret)| {
                if !claim.presigned && declared.is_none() {
                    return Err(s3::S3Error::invalid_request(
                        "Missing required header for this request: x-amz-content-sha256",
                    ));
                }
                let signing = (!claim.presigned).then(|| s3::ChunkSigning {
                    key: sigv4::signing_key(&secret, &claim.scope),
                    date: claim.date,
                    scope: claim.scope.clone(),
                    seed: claim.signature.clone(),
                });
                let payload = s3::Payload::from_header(
                    if claim.presigned { None } else { declared },
                    signing,
                )?;
                let auth = if claim.presigned {
                    s3::AuthType::Query {
                        age_ms: (now - claim.date.epoch_seconds()) * 1000,
                    }
                } else {
                    s3::AuthType::Header
                };
                Ok((c, auth, payload, claim.scope.region.clone()))
            });
        match found {
            Ok((c, auth, payload, region)) => {
                let s3c = s3::Caller {
                    account: Some(c.account.clone()),
                    arn: c.arn(),
                    auth,
                    payload,
                    region,
                };
                caller = Some(c);
                s3c
            }
            Err(e) => {
                let mut outcome = s3::Outcome {
                    error: Some(e.code),
                    message: Some(e.message.clone()),
                    status: Some(e.status),
                    ..s3::Outcome::default()
                };
                outcome.operation = "";
                return (s3_error(&e, &request_id, head), outcome);
            }
        }
    } else {
        match s3::Payload::from_header(declared, None) {
            Ok(payload) => s3::Caller {
                account: None,
                arn: "anonymous".into(),
                auth: s3::AuthType::Anonymous,
                payload,
                region: "us-east-1".into(),
            },
            Err(e) => return (s3_error(&e, &request_id, head), s3::Outcome::default()),
        }
    };
    let gate = Gate {
        state: &state,
        caller: caller.as_ref(),
        origin: &origin,
        now,
        region: &s3_caller.region,
    };
    let request = Request::from_parts(parts, body);
    let (mut response, outcome) = service
        .handle(request, &s3_caller, &gate, &request_id)
        .await;
    if let Err(e) = audit(&state, caller.as_ref(), &origin, &request_id, now, &outcome).await {
        // A call that cannot be audited is not answered as done (fail closed).
        let err = s3::S3Error::new(e.code(), e.status(), e.message().to_string());
        response = s3_error(&err, &request_id, head);
    }
    (response, outcome)
}

/// Whether an operation is a data event (object-level) in CloudTrail's terms.
fn is_data_event(operation: &str) -> bool {
    matches!(
        operation,
        "GetObject"
            | "HeadObject"
            | "PutObject"
            | "CopyObject"
            | "DeleteObject"
            | "DeleteObjects"
            | "GetObjectTagging"
            | "PutObjectTagging"
            | "DeleteObjectTagging"
            | "GetObjectAcl"
            | "CreateMultipartUpload"
            | "UploadPart"
            | "UploadPartCopy"
            | "CompleteMultipartUpload"
            | "AbortMultipartUpload"
            | "ListParts"
    )
}

/// Records an S3 call: every failure (so `irsa audit tail --failed` shows
/// why a pod got AccessDenied), management events, and data events when
/// the server records them.
async fn audit(
    state: &State,
    caller: Option<&Caller>,
    origin: &Origin,
    request_id: &str,
    now: i64,
    outcome: &s3::Outcome,
) -> Result<(), ApiError> {
    let Some(auditor) = &state.auditor else {
        return Ok(());
    };
    if outcome.operation.is_empty() && outcome.error.is_none() {
        return Ok(());
    }
    let failed = outcome.error.is_some();
    if !failed && is_data_event(outcome.operation) && !state.s3_data_events {
        return Ok(());
    }
    let mut pairs = Vec::new();
    if let Some(b) = &outcome.bucket {
        pairs.push(("BucketName".to_string(), b.clone()));
    }
    if let Some(k) = &outcome.key {
        pairs.push(("Key".to_string(), k.chars().take(1024).collect()));
    }
    let params = Params::from_pairs(pairs);
    let error = outcome.error.map(|code| {
        ApiError::new(
            code,
            outcome.status.unwrap_or(StatusCode::FORBIDDEN),
            outcome.message.clone().unwrap_or_default(),
        )
    });
    let event = crate::audit::event(&crate::audit::Call {
        service: "s3",
        action: outcome.operation,
        params: &params,
        caller,
        origin,
        request_id,
        now,
        outcome: match &error {
            Some(e) => Err(e),
            None => Ok(""),
        },
    });
    auditor.record(event).await
}
