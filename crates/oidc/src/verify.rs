//! JWT verification: bytes, keys and time in, claims or a precise refusal out.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use crate::b64;
use crate::error::TokenError;
use crate::jwk::{Jwk, KeyMaterial};

/// Longest token accepted, as STS's WebIdentityToken (max 20,000 characters).
pub const MAX_TOKEN_LENGTH: usize = 20_000;
/// Clock skew allowed for `nbf` and `iat` in the future.
pub const SKEW_SECONDS: i64 = 300;
/// Longest token lifetime accepted (from `iat`, or `nbf`, or now, to `exp`):
/// 366 days, above the longest Kubernetes issues (kube-apiserver's one-year
/// extended expiration). A token valid for a century is a forgery's mark or a
/// key that must never have signed it.
pub const MAX_LIFETIME_SECONDS: i64 = 366 * 86_400;
/// Latest time accepted in `exp`, `iat` and `nbf`: 9999-12-31T23:59:59Z.
const MAX_TIME: i64 = 253_402_300_799;

/// The claims irsa uses, with the whole payload for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// `aud`, a string or a list in the token.
    pub aud: Vec<String>,
    /// `exp`.
    pub exp: i64,
    /// `iat`.
    pub iat: Option<i64>,
    /// `nbf`.
    pub nbf: Option<i64>,
    /// The whole payload.
    pub payload: Value,
}

/// A token split and decoded, signature not yet checked. Use its issuer only to
/// find the keys to [`verify`] with.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// `alg` of the header.
    pub alg: String,
    /// `kid` of the header.
    pub kid: Option<String>,
    /// The claims, unverified.
    pub claims: Claims,
    signing_input: String,
    signature: Vec<u8>,
}

fn malformed(why: &str) -> TokenError {
    TokenError::Malformed(why.to_string())
}

fn json_part(part: &str, what: &str) -> Result<Value, TokenError> {
    let bytes =
        b64::decode(part).ok_or_else(|| malformed(&format!("the {what} is not base64url")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| malformed(&format!("the {what} is not JSON")))?;
    if !value.is_object() {
        return Err(malformed(&format!("the {what} is not a JSON object")));
    }
    Ok(value)
}

/// A NumericDate claim (RFC 7519 §2): here a whole number of seconds between
/// the epoch and the year 9999. Fractions, `1e300`, 2^64 and negative times are
/// refused rather than rounded or saturated into something that verifies.
fn time_claim(payload: &Value, name: &str) -> Result<Option<i64>, TokenError> {
    match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) if (0..=MAX_TIME).contains(&t) => Ok(Some(t)),
            Some(_) => Err(malformed(&format!(
                "`{name}` is outside 0..={MAX_TIME} seconds since the epoch"
            ))),
            None if n.is_u64() => Err(malformed(&format!(
                "`{name}` is outside 0..={MAX_TIME} seconds since the epoch"
            ))),
            None => Err(malformed(&format!(
                "`{name}` is not a whole number of seconds"
            ))),
        },
        Some(_) => Err(malformed(&format!("`{name}` is not a number"))),
    }
}

/// RFC 7515 §4.1.11: a recipient must refuse a JWS whose `crit` names an
/// extension it does not understand. irsa understands none, so any `crit`
/// (well-formed or not) is refused.
fn check_no_critical_extensions(header: &Value) -> Result<(), TokenError> {
    match header.get("crit") {
        None => Ok(()),
        Some(Value::Array(names)) => {
            let names: Vec<&str> = names.iter().take(8).filter_map(Value::as_str).collect();
            Err(malformed(&format!(
                "the header's `crit` names extensions irsa does not understand: {}",
                names.join(", ")
            )))
        }
        Some(_) => Err(malformed("the header's `crit` is not a list of names")),
    }
}

impl Unverified {
    /// Splits and decodes a compact JWS.
    pub fn parse(token: &str) -> Result<Unverified, TokenError> {
        if token.len() > MAX_TOKEN_LENGTH {
            return Err(TokenError::TooLarge(token.len()));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("it does not have three dot-separated parts"));
        };
        let header = json_part(h, "header")?;
        check_no_critical_extensions(&header)?;
        let payload = json_part(p, "payload")?;
        let signature =
            b64::decode(s).ok_or_else(|| malformed("the signature is not base64url"))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("the header has no `alg`"))?
            .to_string();
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .map(str::to_string);
        let string = |name: &str| -> Result<String, TokenError> {
            payload
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| malformed(&format!("`{name}` is missing or not a string")))
        };
        let aud = match payload.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| malformed("`aud` holds a non-string"))?,
            _ => return Err(malformed("`aud` is missing")),
        };
        let claims = Claims {
            iss: string("iss")?,
            sub: string("sub")?,
            aud,
            exp: time_claim(&payload, "exp")?.ok_or_else(|| malformed("`exp` is missing"))?,
            iat: time_claim(&payload, "iat")?,
            nbf: time_claim(&payload, "nbf")?,
            payload,
        };
        Ok(Unverified {
            alg,
            kid,
            claims,
            signing_input: format!("{h}.{p}"),
            signature,
        })
    }
}

/// Verifies `token` with the issuer's `keys` at time `now` (seconds since the
/// epoch) and returns its claims. The issuer and audience are checked by the
/// caller, against its registered providers.
pub fn verify(token: &str, keys: &[Jwk], now: i64) -> Result<Claims, TokenError> {
    let t = Unverified::parse(token)?;
    check_signature(&t, keys)?;
    let c = t.claims;
    if now >= c.exp {
        return Err(TokenError::Expired { now, exp: c.exp });
    }
    let start = c.nbf.or(c.iat).unwrap_or(now);
    if c.exp.saturating_sub(start) > MAX_LIFETIME_SECONDS {
        return Err(TokenError::LifetimeTooLong {
            seconds: c.exp.saturating_sub(start),
        });
    }
    for from in [c.nbf, c.iat].into_iter().flatten() {
        if from > now + SKEW_SECONDS {
            return Err(TokenError::NotYetValid {
                now,
                valid_from: from,
            });
        }
    }
    Ok(c)
}

fn check_signature(t: &Unverified, keys: &[Jwk]) -> Result<(), TokenError> {
    let msg = t.signing_input.as_bytes();
    let sig = t.signature.as_slice();
    // The algorithm allow-list comes first: `none` and HMAC never reach a key,
    // so a token "signed" with a public key as an HMAC secret is refused.
    let rsa = match t.alg.as_str() {
        "RS256" => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        _ => None,
    };
    let ec = match t.alg.as_str() {
        "ES256" => Some(("P-256", &signature::ECDSA_P256_SHA256_FIXED)),
        "ES384" => Some(("P-384", &signature::ECDSA_P384_SHA384_FIXED)),
        _ => None,
    };
    if rsa.is_none() && ec.is_none() {
        return Err(TokenError::UnsupportedAlgorithm(t.alg.clone()));
    }
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|k| t.kid.is_none() || k.kid == t.kid)
        .filter(|k| k.alg.as_deref().is_none_or(|a| a == t.alg))
        .filter(|k| match (&k.material, rsa, ec) {
            (KeyMaterial::Rsa { .. }, Some(_), _) => true,
            (KeyMaterial::Ec { curve, .. }, _, Some((want, _))) => curve == want,
            _ => false,
        })
        .collect();
    if candidates.is_empty() {
        return Err(TokenError::UnknownKey(t.kid.clone()));
    }
    let verified = candidates.iter().any(|k| match (&k.material, rsa, ec) {
        (KeyMaterial::Rsa { n, e }, Some(alg), _) => RsaPublicKeyComponents {
            n: n.as_slice(),
            e: e.as_slice(),
        }
        .verify(alg, msg, sig)
        .is_ok(),
        (KeyMaterial::Ec { point, .. }, _, Some((_, alg))) => {
            UnparsedPublicKey::new(alg, point).verify(msg, sig).is_ok()
        }
        _ => false,
    });
    if verified {
        Ok(())
    } else {
        Err(TokenError::BadSignature)
    }
}
