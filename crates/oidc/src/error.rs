//! Why a token is refused.

use std::fmt;

/// A refused token. Each variant says what was wrong; the STS layer maps them
/// to AWS's codes (`InvalidIdentityToken`, `ExpiredTokenException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Longer than [`crate::MAX_TOKEN_LENGTH`].
    TooLarge(usize),
    /// Not three base64url parts of JSON objects, or a claim of the wrong type.
    Malformed(String),
    /// An algorithm outside RS256/384/512 and ES256/384 (`none`, `HS256`, …).
    UnsupportedAlgorithm(String),
    /// No key of the issuer has this `kid` (and algorithm).
    UnknownKey(Option<String>),
    /// The signature does not verify with the issuer's key.
    BadSignature,
    /// `exp` is not after now.
    Expired {
        /// Now, seconds since the epoch.
        now: i64,
        /// The token's `exp`.
        exp: i64,
    },
    /// `exp` is more than [`crate::MAX_LIFETIME_SECONDS`] after `nbf`, `iat`
    /// or (for a token with neither) now.
    LifetimeTooLong {
        /// The token's lifetime in seconds.
        seconds: i64,
    },
    /// `nbf` or `iat` is in the future beyond the allowed skew.
    NotYetValid {
        /// Now.
        now: i64,
        /// The token's `nbf` or `iat`.
        valid_from: i64,
    },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::TooLarge(n) => write!(
                f,
                "the token is {n} characters long, more than the 20000 allowed"
            ),
            TokenError::Malformed(why) => write!(f, "the token is not a valid JWT: {why}"),
            TokenError::UnsupportedAlgorithm(alg) => {
                write!(
                    f,
                    "the token's signing algorithm `{alg}` is not allowed (RS256, RS384, RS512, ES256, ES384)"
                )
            }
            TokenError::UnknownKey(Some(kid)) => {
                write!(f, "the issuer has no key with kid `{kid}`")
            }
            TokenError::UnknownKey(None) => f.write_str("the issuer has no key for this token"),
            TokenError::BadSignature => {
                f.write_str("the token's signature does not verify with the issuer's key")
            }
            TokenError::Expired { now, exp } => write!(
                f,
                "Token expired: current date/time {now} must be before the expiration date/time {exp}"
            ),
            TokenError::LifetimeTooLong { seconds } => write!(
                f,
                "the token is valid for {seconds} seconds, more than the {} irsa accepts (366 days)",
                crate::MAX_LIFETIME_SECONDS
            ),
            TokenError::NotYetValid { now, valid_from } => write!(
                f,
                "the token is not valid yet: it is valid from {valid_from}, now is {now}"
            ),
        }
    }
}

impl std::error::Error for TokenError {}
