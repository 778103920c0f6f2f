//! AWS Signature Version 4: canonical requests, signing and verification.
//!
//! Pure: the request's parts, the secret and the current time go in, a typed
//! result comes out. No I/O, no clock, no logging. Signatures are compared in
//! constant time.
//!
//! Reference: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>
//! and AWS's SigV4 test suite (reproduced under `tests/vectors/`).
#![deny(missing_docs)]

mod canonical;
mod error;
mod time;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use canonical::{canonical_query, canonical_uri, canonical_uri_s3, uri_encode};
pub use error::{Error, ErrorCode};
pub use time::{AmzDate, parse_amz_date, parse_http_date};

/// The only algorithm irsa accepts.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash value that says "not signed".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Largest clock difference accepted between signer and verifier, in seconds.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;
/// Longest validity of a presigned request, in seconds (7 days).
pub const MAX_PRESIGN_SECONDS: i64 = 604_800;

/// An HTTP request as the verifier sees it: raw path and query as they arrived.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as sent (percent-encoded as the client sent it).
    pub path: &'a str,
    /// The query string as sent, without `?`; empty if none.
    pub query: &'a str,
    /// Header names and values as received (names any case).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

/// The credential scope: `DATE/REGION/SERVICE/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Service, e.g. `iam`, `sts`.
    pub service: String,
}

impl Scope {
    /// `DATE/REGION/SERVICE/aws4_request`.
    pub fn to_path(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What a request claims about its signature, before checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The access key id.
    pub access_key: String,
    /// The credential scope.
    pub scope: Scope,
    /// Lowercase names of the signed headers, in the order given.
    pub signed_headers: Vec<String>,
    /// The signature, lowercase hex.
    pub signature: String,
    /// The request time.
    pub date: AmzDate,
    /// For presigned requests, seconds of validity after `date`.
    pub expires: Option<i64>,
    /// The session token (`X-Amz-Security-Token`), if any.
    pub security_token: Option<String>,
    /// Whether the claim came from the query string (presigned).
    pub presigned: bool,
}

fn header<'a>(req: &HttpRequest<'a>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Reads the signature claim of a request: the `Authorization` header, or the
/// `X-Amz-*` query parameters of a presigned request. Fails with
/// `MissingAuthenticationToken` when the request carries neither.
pub fn read_claim(req: &HttpRequest<'_>) -> Result<Claim, Error> {
    if let Some(auth) = header(req, "authorization") {
        return read_header_claim(req, auth);
    }
    let params = canonical::query_pairs(req.query);
    if params
        .iter()
        .any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Algorithm")
    {
        return read_query_claim(&params);
    }
    Err(Error::missing_authentication())
}

fn read_header_claim(req: &HttpRequest<'_>, auth: &str) -> Result<Claim, Error> {
    let auth = auth.trim();
    let Some(rest) = auth.strip_prefix(ALGORITHM) else {
        let algorithm = auth.split_whitespace().next().unwrap_or_default();
        return Err(Error::incomplete(format!(
            "Unsupported AWS 'algorithm': '{}'",
            shown(algorithm)
        )));
    };
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some((k, v)) = part.split_once('=') {
            match k.trim() {
                "Credential" => credential = Some(v.trim()),
                "SignedHeaders" => signed = Some(v.trim()),
                "Signature" => signature = Some(v.trim()),
                _ => {}
            }
        }
    }
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    let date = match header(req, "x-amz-date") {
        Some(d) => Some(parse_amz_date(d).ok_or_else(|| {
            Error::incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601", shown(d)))
        })?),
        None => header(req, "date").and_then(parse_http_date),
    };
    if date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    let (Some(credential), Some(signed), Some(signature), Some(date)) =
        (credential, signed, signature, date)
    else {
        return Err(Error::incomplete(format!(
            "{} Authorization={ALGORITHM}",
            missing.join(" ")
        )));
    };
    let (access_key, scope) = read_credential(credential)?;
    Ok(Claim {
        access_key,
        scope,
        signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
        signature: signature.to_string(),
        date,
        expires: None,
        security_token: header(req, "x-amz-security-token").map(str::to_string),
        presigned: false,
    })
}

fn read_query_claim(params: &[(String, String)]) -> Result<Claim, Error> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let algorithm = get("X-Amz-Algorithm").unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(Error::incomplete(format!(
            "Unsupported AWS 'algorithm': '{}'",
            shown(algorithm)
        )));
    }
    let mut missing = Vec::new();
    for name in [
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if get(name).is_none() {
            missing.push(format!(
                "AWS query-string parameters must include '{name}'."
            ));
        }
    }
    let (Some(credential), Some(signature), Some(signed), Some(date)) = (
        get("X-Amz-Credential"),
        get("X-Amz-Signature"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Date"),
    ) else {
        return Err(Error::incomplete(format!(
            "{} Re-examine the query-string parameters.",
            missing.join(" ")
        )));
    };
    let date = parse_amz_date(date).ok_or_else(|| {
        Error::incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601", shown(date)))
    })?;
    let expires = match get("X-Amz-Expires") {
        None => None,
        Some(e) => {
            let secs: i64 = e.parse().map_err(|_| {
                Error::incomplete(format!(
                    "X-Amz-Expires must be a non-negative integer. Got '{}'.",
                    shown(e)
                ))
            })?;
            if !(0..=MAX_PRESIGN_SECONDS).contains(&secs) {
                return Err(Error::incomplete(format!(
                    "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_SECONDS}"
                )));
            }
            Some(secs)
        }
    };
    let (access_key, scope) = read_credential(credential)?;
    Ok(Claim {
        access_key,
        scope,
        signed_headers: signed.split(';').map(str::to_ascii_lowercase).collect(),
        signature: signature.to_string(),
        date,
        expires,
        security_token: get("X-Amz-Security-Token").map(str::to_string),
        presigned: true,
    })
}

/// `AKID/DATE/REGION/SERVICE/aws4_request`. Each refusal names the part that
/// is wrong and quotes at most [`ECHO_LIMIT`] characters of it. A scope date
/// that is not `YYYYMMDD` is left to [`verify`], which compares it with the
/// request's date in AWS's words.
fn read_credential(credential: &str) -> Result<(String, Scope), Error> {
    let parts: Vec<&str> = credential.splitn(6, '/').collect();
    let [key, date, region, service, terminator] = parts.as_slice() else {
        return Err(Error::incomplete(format!(
            "Credential should be scoped to a valid region, not '{}'. Credential should be scoped to correct service. Credential should be scoped with a valid terminator: 'aws4_request'.",
            shown(parts.get(2).copied().unwrap_or_default())
        )));
    };
    if *terminator != "aws4_request" {
        return Err(Error::incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            shown(terminator)
        )));
    }
    if key.is_empty() {
        return Err(Error::incomplete(
            "Credential should start with an access key id.",
        ));
    }
    if region.is_empty() {
        return Err(Error::incomplete(
            "Credential should be scoped to a valid region, not ''.",
        ));
    }
    if service.is_empty() {
        return Err(Error::incomplete(
            "Credential should be scoped to correct service: ''.",
        ));
    }
    Ok((
        key.to_string(),
        Scope {
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        },
    ))
}

/// Most characters of a client's value quoted back in an error message.
pub const ECHO_LIMIT: usize = 64;

/// `value` as quoted in an error: whole when short, else its first
/// [`ECHO_LIMIT`] characters and an ellipsis, so a huge header is never echoed.
fn shown(value: &str) -> String {
    match value.char_indices().nth(ECHO_LIMIT) {
        Some((at, _)) => format!("{}…", value.get(..at).unwrap_or_default()),
        None => value.to_string(),
    }
}

/// The canonical request of `req` for the given signed headers and payload
/// hash, as every service but S3 forms it.
pub fn canonical_request(
    req: &HttpRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
    presigned: bool,
) -> String {
    canonical_request_for("", req, signed_headers, payload_hash, presigned)
}

/// The canonical request of `req` signed for `service`. S3 alone keeps the
/// path as the object key spells it — no dot segments or repeated slashes
/// removed, each byte encoded once ("Create a canonical request":
/// "Each path segment must be URI-encoded twice (except for Amazon S3 which
/// only gets URI-encoded once)" and "Normalize URI paths … except for S3").
pub fn canonical_request_for(
    service: &str,
    req: &HttpRequest<'_>,
    signed_headers: &[String],
    payload_hash: &str,
    presigned: bool,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    if service == "s3" {
        out.push_str(&canonical::canonical_uri_s3(req.path));
    } else {
        out.push_str(&canonical_uri(req.path));
    }
    out.push('\n');
    let query = if presigned {
        canonical::canonical_query_without(req.query, "X-Amz-Signature")
    } else {
        canonical_query(req.query)
    };
    out.push_str(&query);
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| canonical::trim_header_value(v))
            .collect();
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(canonical::hex_digit(b >> 4, b'a'));
        s.push(canonical::hex_digit(b & 0xf, b'a'));
    }
    s
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // INVARIANT: HMAC accepts keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key for a secret and scope.
pub fn signing_key(secret: &str, scope: &Scope) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The string to sign.
pub fn string_to_sign(date: &AmzDate, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        date.basic(),
        scope.to_path(),
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The signature (lowercase hex) of a string to sign.
pub fn signature(secret: &str, scope: &Scope, string_to_sign: &str) -> String {
    hex(&hmac(
        &signing_key(secret, scope),
        string_to_sign.as_bytes(),
    ))
}

/// The payload hash a signature covers. Only S3 lets a request leave its
/// body out of the signature (`UNSIGNED-PAYLOAD`, and presigned URLs by
/// default); for every other service the canonical request holds the hash of
/// the body itself — AWS SigV4 "Create a canonical request", `HashedPayload`
/// — so no parameter can ride in a body the signature does not cover, and a
/// declared `x-amz-content-sha256` must be that hash.
fn payload_hash(req: &HttpRequest<'_>, claim: &Claim) -> Result<String, Error> {
    let declared = header(req, "x-amz-content-sha256");
    if claim.scope.service == "s3" {
        return Ok(match declared {
            Some(h) => h.to_string(),
            None if claim.presigned => UNSIGNED_PAYLOAD.to_string(),
            None => sha256_hex(req.body),
        });
    }
    let hash = sha256_hex(req.body);
    match declared {
        Some(h) if h != hash => Err(Error::signature_mismatch()),
        _ => Ok(hash),
    }
}

/// Checks a request's signature with the caller's secret, at time `now`
/// (seconds since the Unix epoch). The claim comes from [`read_claim`]; the
/// caller looks up the secret of `claim.access_key` in between.
pub fn verify(req: &HttpRequest<'_>, claim: &Claim, secret: &str, now: i64) -> Result<(), Error> {
    if !claim.signed_headers.iter().any(|h| h == "host") {
        return Err(Error::incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
        ));
    }
    if claim.scope.date != claim.date.day() {
        return Err(Error::signature_mismatch_with(format!(
            "Credential should be scoped to a valid date: '{}' does not match the request date '{}'.",
            shown(&claim.scope.date),
            claim.date.day()
        )));
    }
    check_time(claim, now)?;
    // For S3 the declared hash is signed as declared: the body streams after
    // this check, and the S3 body reader holds it to that hash (or to its
    // chunk signatures) before anything is stored.
    let hash = payload_hash(req, claim)?;
    let creq = canonical_request_for(
        &claim.scope.service,
        req,
        &claim.signed_headers,
        &hash,
        claim.presigned,
    );
    let sts = string_to_sign(&claim.date, &claim.scope, &creq);
    let expected = signature(secret, &claim.scope, &sts);
    if bool::from(expected.as_bytes().ct_eq(claim.signature.as_bytes())) {
        Ok(())
    } else {
        Err(Error::signature_mismatch())
    }
}

fn check_time(claim: &Claim, now: i64) -> Result<(), Error> {
    let at = claim.date.epoch_seconds();
    let stamp = |t: i64| AmzDate::from_epoch(t).basic();
    // A request from the future is refused in both forms.
    if at > now + MAX_SKEW_SECONDS {
        return Err(Error::expired(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            stamp(at),
            stamp(now + MAX_SKEW_SECONDS),
            stamp(now)
        )));
    }
    match claim.expires {
        Some(expires) if now > at + expires => Err(Error::expired(format!(
            "Request has expired: signed {} with X-Amz-Expires {expires}, now {}",
            stamp(at),
            stamp(now)
        ))),
        None if at < now - MAX_SKEW_SECONDS => Err(Error::expired(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            stamp(at),
            stamp(now - MAX_SKEW_SECONDS),
            stamp(now)
        ))),
        _ => Ok(()),
    }
}

/// The signature of one chunk of an `aws-chunked` body signed with
/// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (S3 "Signature Calculations for the
/// Authorization Header: Transferring Payload in Multiple Chunks"): each chunk's
/// string to sign chains the previous signature (the seed is the request's
/// own) with the SHA-256 of the chunk's data.
pub fn chunk_signature(
    key: &[u8; 32],
    date: &AmzDate,
    scope: &Scope,
    previous: &str,
    chunk_sha256_hex: &str,
) -> String {
    let to_sign = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{}\n{chunk_sha256_hex}",
        date.basic(),
        scope.to_path(),
        sha256_hex(b"")
    );
    hex(&hmac(key, to_sign.as_bytes()))
}

/// The signature of the trailing headers of a signed `aws-chunked` body
/// (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`): it chains the last chunk's
/// signature with the SHA-256 of the trailer lines as sent.
pub fn trailer_signature(
    key: &[u8; 32],
    date: &AmzDate,
    scope: &Scope,
    previous: &str,
    trailer: &[u8],
) -> String {
    let to_sign = format!(
        "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{previous}\n{}",
        date.basic(),
        scope.to_path(),
        sha256_hex(trailer)
    );
    hex(&hmac(key, to_sign.as_bytes()))
}

/// Whether two signatures (lowercase hex) are equal, compared in constant time.
pub fn signatures_equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Signs a request with the `Authorization` header form: returns the headers
/// to add (`X-Amz-Date`, `X-Amz-Content-Sha256`, `Authorization`, and
/// `X-Amz-Security-Token` when given). `req.headers` must already hold `host`.
pub fn sign(
    req: &HttpRequest<'_>,
    access_key: &str,
    secret: &str,
    security_token: Option<&str>,
    scope_region: &str,
    service: &str,
    now: i64,
) -> Vec<(String, String)> {
    let date = AmzDate::from_epoch(now);
    let scope = Scope {
        date: date.day(),
        region: scope_region.to_string(),
        service: service.to_string(),
    };
    let payload = sha256_hex(req.body);
    let mut added: Vec<(String, String)> = vec![
        ("x-amz-date".into(), date.basic()),
        ("x-amz-content-sha256".into(), payload.clone()),
    ];
    if let Some(token) = security_token {
        added.push(("x-amz-security-token".into(), token.to_string()));
    }
    let mut all: Vec<(&str, &str)> = req.headers.to_vec();
    all.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut names: Vec<String> = all.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let signing = HttpRequest {
        headers: &all,
        ..*req
    };
    let creq = canonical_request_for(service, &signing, &names, &payload, false);
    let sts = string_to_sign(&date, &scope, &creq);
    let sig = signature(secret, &scope, &sts);
    added.push((
        "authorization".into(),
        format!(
            "{ALGORITHM} Credential={access_key}/{}, SignedHeaders={}, Signature={sig}",
            scope.to_path(),
            names.join(";")
        ),
    ));
    added
}

/// Presigns a request: returns the query string to use (the request's own
/// query plus the `X-Amz-*` parameters), valid for `expires` seconds.
/// `req.headers` must hold `host`, which is the only signed header.
#[allow(clippy::too_many_arguments)]
pub fn presign(
    req: &HttpRequest<'_>,
    access_key: &str,
    secret: &str,
    security_token: Option<&str>,
    region: &str,
    service: &str,
    now: i64,
    expires: i64,
) -> String {
    let date = AmzDate::from_epoch(now);
    let scope = Scope {
        date: date.day(),
        region: region.to_string(),
        service: service.to_string(),
    };
    let mut query = req.query.to_string();
    let mut add = |k: &str, v: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&uri_encode(k, false));
        query.push('=');
        query.push_str(&uri_encode(v, false));
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add(
        "X-Amz-Credential",
        &format!("{access_key}/{}", scope.to_path()),
    );
    add("X-Amz-Date", &date.basic());
    add("X-Amz-Expires", &expires.to_string());
    add("X-Amz-SignedHeaders", "host");
    if let Some(t) = security_token {
        add("X-Amz-Security-Token", t);
    }
    let signing = HttpRequest {
        query: &query,
        ..*req
    };
    // As botocore presigns: S3 leaves the body unsigned, other services sign
    // the hash of the (normally empty) body.
    let payload = if service == "s3" {
        UNSIGNED_PAYLOAD.to_string()
    } else {
        sha256_hex(req.body)
    };
    let creq = canonical_request_for(service, &signing, &["host".to_string()], &payload, true);
    let sig = signature(secret, &scope, &string_to_sign(&date, &scope, &creq));
    format!("{query}&X-Amz-Signature={sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11, finding 1: a URL presigned for `Version` alone must not
    /// carry `Action=CreateRole…` in a body the signature does not cover.
    #[test]
    fn r11_presigned_non_s3_requests_cover_their_body() {
        let now = 1_440_938_160;
        let headers = [("host", "127.0.0.1:4599")];
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let query = presign(
            &req,
            "AKIDEXAMPLE",
            SECRET,
            None,
            "us-east-1",
            "iam",
            now,
            300,
        );
        let signed = HttpRequest {
            query: &query,
            ..req
        };
        let claim = read_claim(&signed).unwrap();
        assert_eq!(verify(&signed, &claim, SECRET, now), Ok(()));
        let smuggled = HttpRequest {
            body: b"Action=CreateRole&RoleName=x&AssumeRolePolicyDocument=%7B%7D",
            ..signed
        };
        let e = verify(&smuggled, &claim, SECRET, now).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignatureDoesNotMatch);
    }

    /// Issue 11, finding 11: botocore's `generate_presigned_url` for STS and
    /// IAM signs the hash of the empty payload, not `UNSIGNED-PAYLOAD`
    /// (`aws eks get-token` is a presigned GetCallerIdentity).
    #[test]
    fn r11_presigned_non_s3_requests_sign_the_empty_payload_hash() {
        let now = 1_440_938_160;
        let headers = [("host", "sts.amazonaws.com")];
        let req = HttpRequest {
            method: "GET",
            path: "/",
            query: "Action=GetCallerIdentity&Version=2011-06-15",
            headers: &headers,
            body: b"",
        };
        let query = presign(
            &req,
            "AKIDEXAMPLE",
            SECRET,
            None,
            "us-east-1",
            "sts",
            now,
            60,
        );
        let signed = HttpRequest {
            query: &query,
            ..req
        };
        let claim = read_claim(&signed).unwrap();
        let creq = canonical_request(&signed, &claim.signed_headers, &sha256_hex(b""), true);
        let expected = signature(
            SECRET,
            &claim.scope,
            &string_to_sign(&claim.date, &claim.scope, &creq),
        );
        assert_eq!(
            claim.signature, expected,
            "the empty payload's hash is signed"
        );
        assert_eq!(verify(&signed, &claim, SECRET, now), Ok(()));
        // S3 presigned URLs keep UNSIGNED-PAYLOAD.
        let s3 = presign(
            &req,
            "AKIDEXAMPLE",
            SECRET,
            None,
            "us-east-1",
            "s3",
            now,
            60,
        );
        let s3_req = HttpRequest { query: &s3, ..req };
        let s3_claim = read_claim(&s3_req).unwrap();
        let creq = canonical_request(&s3_req, &s3_claim.signed_headers, UNSIGNED_PAYLOAD, true);
        assert_eq!(
            s3_claim.signature,
            signature(
                SECRET,
                &s3_claim.scope,
                &string_to_sign(&s3_claim.date, &s3_claim.scope, &creq)
            )
        );
        assert_eq!(verify(&s3_req, &s3_claim, SECRET, now), Ok(()));
    }

    /// Outside S3 a header cannot take the body out of the signature either.
    #[test]
    fn r11_unsigned_payload_is_refused_outside_s3() {
        let now = 1_440_938_160;
        let headers = [
            ("host", "127.0.0.1:4599"),
            ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
        ];
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"Action=ListRoles&Version=2010-05-08",
        };
        // Signed as a client would that claims the body is unsigned.
        let date = AmzDate::from_epoch(now);
        let scope = Scope {
            date: date.day(),
            region: "us-east-1".into(),
            service: "iam".into(),
        };
        let names = vec![
            "host".to_string(),
            "x-amz-content-sha256".to_string(),
            "x-amz-date".to_string(),
        ];
        let stamp = date.basic();
        let all = [headers[0], headers[1], ("x-amz-date", stamp.as_str())];
        let signing = HttpRequest {
            headers: &all,
            ..req
        };
        let creq = canonical_request(&signing, &names, UNSIGNED_PAYLOAD, false);
        let sig = signature(SECRET, &scope, &string_to_sign(&date, &scope, &creq));
        let auth = format!(
            "{ALGORITHM} Credential=AKIDEXAMPLE/{}, SignedHeaders={}, Signature={sig}",
            scope.to_path(),
            names.join(";")
        );
        let with_auth = [all[0], all[1], all[2], ("authorization", auth.as_str())];
        let r = HttpRequest {
            headers: &with_auth,
            ..req
        };
        let claim = read_claim(&r).unwrap();
        let e = verify(&r, &claim, SECRET, now).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignatureDoesNotMatch);
    }

    /// Issue 11, finding 17: each malformed scope part gets its own message,
    /// and no message quotes more than ECHO_LIMIT characters of the request.
    #[test]
    fn r11_17_scope_errors_name_the_wrong_part_and_quote_little() {
        fn get<'a>(headers: &'a [(&'a str, &'a str)], query: &'a str) -> HttpRequest<'a> {
            HttpRequest {
                method: "GET",
                path: "/",
                query,
                headers,
                body: b"",
            }
        }
        let long = "x".repeat(60_000);
        let cases = [
            (
                format!("AKID/20150830/us-east-1/iam/{long}"),
                "valid terminator",
            ),
            (format!("AKID/20150830/{long}"), "valid region"),
            (
                "/20150830/us-east-1/iam/aws4_request".to_string(),
                "access key id",
            ),
            (
                "AKID/20150830//iam/aws4_request".to_string(),
                "valid region, not ''",
            ),
            (
                "AKID/20150830/us-east-1//aws4_request".to_string(),
                "correct service",
            ),
            (
                format!("AKID/20150830/us-east-1/iam/aws4_request/{long}"),
                "valid terminator",
            ),
        ];
        for (credential, says) in cases {
            let auth = format!(
                "{ALGORITHM} Credential={credential}, SignedHeaders=host;x-amz-date, Signature=abc"
            );
            let headers = [
                ("host", "h"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", auth.as_str()),
            ];
            let req = get(&headers, "");
            let e = read_claim(&req).unwrap_err();
            assert_eq!(e.code(), ErrorCode::IncompleteSignature, "{}", e.message());
            assert!(e.message().contains(says), "{says}: {}", e.message());
            assert!(
                !e.message().contains("not 'aws4_request'"),
                "{}",
                e.message()
            );
            assert!(e.message().len() < 400, "{}", e.message().len());
        }
        // A scope date that is not YYYYMMDD: AWS's date message, quoted short.
        let auth = format!(
            "{ALGORITHM} Credential=AKID/{long}/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
        );
        let headers = [
            ("host", "h"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", auth.as_str()),
        ];
        let req = get(&headers, "");
        let claim = read_claim(&req).unwrap();
        let e = verify(&req, &claim, SECRET, 1_440_938_160).unwrap_err();
        assert!(e.message().contains("valid date"), "{}", e.message());
        assert!(e.message().len() < 400);
        // Other echoed values are bounded too.
        let headers = [
            ("host", "h"),
            ("x-amz-date", long.as_str()),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=a",
            ),
        ];
        let req = get(&headers, "");
        let e = read_claim(&req).unwrap_err();
        assert!(e.message().len() < 400, "{}", e.message().len());
        let query = format!("X-Amz-Algorithm={long}");
        let req = HttpRequest {
            method: "GET",
            path: "/",
            query: &query,
            headers: &[("host", "h")],
            body: b"",
        };
        let e = read_claim(&req).unwrap_err();
        assert!(e.message().len() < 400, "{}", e.message().len());
    }

    #[test]
    fn presigned_urls_verify_until_they_expire() {
        let now = 1_440_938_160;
        let headers = [("host", "127.0.0.1:4599")];
        let req = HttpRequest {
            method: "GET",
            path: "/",
            query: "Action=ListRoles&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        let query = presign(
            &req,
            "AKIDEXAMPLE",
            SECRET,
            None,
            "us-east-1",
            "iam",
            now,
            300,
        );
        let signed = HttpRequest {
            query: &query,
            ..req
        };
        let claim = read_claim(&signed).unwrap();
        assert!(claim.presigned);
        assert_eq!(verify(&signed, &claim, SECRET, now + 299), Ok(()));
        let e = verify(&signed, &claim, SECRET, now + 301).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignatureExpired);
        assert!(verify(&signed, &claim, "wrong", now).is_err());
        let tampered = query.replace("ListRoles", "ListUsers");
        let t = HttpRequest {
            query: &tampered,
            ..req
        };
        assert!(verify(&t, &read_claim(&t).unwrap(), SECRET, now).is_err());
        let too_long = presign(
            &req,
            "AKIDEXAMPLE",
            SECRET,
            None,
            "us-east-1",
            "iam",
            now,
            MAX_PRESIGN_SECONDS + 1,
        );
        let t = HttpRequest {
            query: &too_long,
            ..req
        };
        assert_eq!(
            read_claim(&t).unwrap_err().code(),
            ErrorCode::IncompleteSignature
        );
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn signing_key_of_the_aws_docs_example() {
        // reference_sigv-create-signed-request.html, "Calculate the signature".
        let key = signing_key(
            SECRET,
            &Scope {
                date: "20150830".into(),
                region: "us-east-1".into(),
                service: "iam".into(),
            },
        );
        assert_eq!(
            hex(&key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    fn signed(now: i64) -> (Vec<(String, String)>, Vec<u8>) {
        let body = b"Action=ListRoles&Version=2010-05-08".to_vec();
        let headers = [
            ("host", "127.0.0.1:4599"),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
        };
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.extend(sign(
            &req,
            "AKIDEXAMPLE",
            SECRET,
            None,
            "us-east-1",
            "iam",
            now,
        ));
        (all, body)
    }

    fn check(
        headers: &[(String, String)],
        body: &[u8],
        secret: &str,
        now: i64,
    ) -> Result<(), Error> {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &h,
            body,
        };
        let claim = read_claim(&req)?;
        verify(&req, &claim, secret, now)
    }

    #[test]
    fn sign_then_verify() {
        let now = 1_440_938_160;
        let (headers, body) = signed(now);
        assert_eq!(check(&headers, &body, SECRET, now + 60), Ok(()));
        let e = check(&headers, &body, "wrong", now).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignatureDoesNotMatch);
        let e = check(&headers, b"Action=DeleteRole", SECRET, now).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn skew_window_is_fifteen_minutes_each_way() {
        let now = 1_440_938_160; // 20150830T123600Z
        let (headers, body) = signed(now);
        assert!(check(&headers, &body, SECRET, now + MAX_SKEW_SECONDS).is_ok());
        let e = check(&headers, &body, SECRET, now + MAX_SKEW_SECONDS + 1).unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignatureExpired);
        assert_eq!(
            e.message(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T125101Z - 15 min.)"
        );
        let e = check(&headers, &body, SECRET, now - MAX_SKEW_SECONDS - 1).unwrap_err();
        assert!(
            e.message()
                .starts_with("Signature not yet current: 20150830T123600Z is still later than")
        );
    }

    #[test]
    fn missing_and_incomplete_authorization() {
        let headers = [("host", "x")];
        let req = HttpRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        assert_eq!(
            read_claim(&req).unwrap_err().code(),
            ErrorCode::MissingAuthenticationToken
        );
        let headers = [
            ("host", "x"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request",
            ),
        ];
        let req = HttpRequest {
            headers: &headers,
            ..req
        };
        let e = read_claim(&req).unwrap_err();
        assert_eq!(e.code(), ErrorCode::IncompleteSignature);
        assert!(
            e.message()
                .contains("Authorization header requires 'Signature' parameter.")
        );
        assert!(
            e.message()
                .contains("requires existence of either a 'X-Amz-Date' or a 'Date' header")
        );
        let headers = [
            ("host", "x"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws5_request, SignedHeaders=host, Signature=00",
            ),
        ];
        let req = HttpRequest {
            headers: &headers,
            ..req
        };
        assert!(
            read_claim(&req)
                .unwrap_err()
                .message()
                .contains("valid terminator: 'aws4_request', not 'aws5_request'")
        );
        let headers = [("host", "x"), ("authorization", "AWS3 foo")];
        let req = HttpRequest {
            headers: &headers,
            ..req
        };
        assert_eq!(
            read_claim(&req).unwrap_err().code(),
            ErrorCode::IncompleteSignature
        );
    }

    #[test]
    fn host_must_be_signed() {
        let headers = [
            ("host", "x"),
            ("x-amz-date", "20150830T123600Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/iam/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            ),
        ];
        let req = HttpRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let claim = read_claim(&req).unwrap();
        let e = verify(&req, &claim, SECRET, 1_440_938_160).unwrap_err();
        assert_eq!(e.code(), ErrorCode::IncompleteSignature);
    }
}

#[cfg(test)]
mod streaming_tests {
    use super::*;

    /// The example of S3's "Transferring Payload in Multiple Chunks"
    /// (sigv4-streaming.html, "Example: PUT Object"): 64 KiB of `a`, then
    /// 1 KiB of `a`, then the empty final chunk, chained from the seed.
    #[test]
    fn chunk_signatures_match_the_aws_streaming_example() {
        let scope = Scope {
            date: "20130524".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        let key = signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &scope);
        let date = parse_amz_date("20130524T000000Z").unwrap();
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let first = chunk_signature(&key, &date, &scope, seed, &sha256_hex(&[b'a'; 65536]));
        assert_eq!(
            first,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        let second = chunk_signature(&key, &date, &scope, &first, &sha256_hex(&[b'a'; 1024]));
        assert_eq!(
            second,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
        );
        let last = chunk_signature(&key, &date, &scope, &second, &sha256_hex(b""));
        assert_eq!(
            last,
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
        );
        assert!(signatures_equal(&last, &last.clone()));
        assert!(!signatures_equal(&last, &first));
    }
}
