//! ServiceAccount tokens.
//!
//! - [`verify`]: a JWT checked against an issuer's keys at a given time —
//!   signature (RS256/384/512, ES256/384 only: never `none`, never HMAC),
//!   `exp`/`nbf`/`iat`, size. Pure: keys and the clock are arguments; fetching
//!   keys is the caller's business.
//! - [`Jwks`]: JSON Web Key Sets, read and written.
//! - [`SigningKey`]: the RSA key of a local cluster, which mints tokens with the
//!   claims a kubelet-projected token has ([`ServiceAccountToken`]) and
//!   publishes its public half with a `kid` computed as Kubernetes does.
//! - [`discovery_document`]: what an issuer serves at
//!   `/.well-known/openid-configuration`.
#![deny(missing_docs)]

mod b64;
mod error;
mod jwk;
mod signing;
mod verify;

pub use error::TokenError;
pub use jwk::{Jwk, Jwks, KeyMaterial};
pub use signing::{ServiceAccountToken, SigningKey, public_jwk_from_pem, uuid_v4, uuid_v7};
pub use verify::{
    Claims, MAX_LIFETIME_SECONDS, MAX_TOKEN_LENGTH, SKEW_SECONDS, Unverified, verify,
};

/// The discovery document of an issuer whose keys are at `jwks_uri`, in the
/// form EKS publishes.
pub fn discovery_document(issuer: &str, jwks_uri: &str) -> String {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "authorization_endpoint": "urn:kubernetes:programmatic_authorization",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["sub", "iss"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
    .to_string()
}
