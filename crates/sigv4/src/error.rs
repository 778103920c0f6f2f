//! Why a request's signature is refused, with AWS's codes and wording.

use std::fmt;

/// The AWS error code of a refused signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No `Authorization` header and no presigned query.
    MissingAuthenticationToken,
    /// The signature claim is malformed or lacks a part.
    IncompleteSignature,
    /// The signature does not match.
    SignatureDoesNotMatch,
    /// The request time is outside the accepted window.
    SignatureExpired,
}

/// A refused signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
}

impl Error {
    pub(crate) fn missing_authentication() -> Error {
        Error {
            code: ErrorCode::MissingAuthenticationToken,
            message: "Request is missing Authentication Token".into(),
        }
    }

    pub(crate) fn incomplete(message: impl Into<String>) -> Error {
        Error {
            code: ErrorCode::IncompleteSignature,
            message: message.into(),
        }
    }

    pub(crate) fn signature_mismatch() -> Error {
        Error::signature_mismatch_with(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        )
    }

    pub(crate) fn signature_mismatch_with(message: impl Into<String>) -> Error {
        Error {
            code: ErrorCode::SignatureDoesNotMatch,
            message: message.into(),
        }
    }

    pub(crate) fn expired(message: String) -> Error {
        Error {
            code: ErrorCode::SignatureExpired,
            message,
        }
    }

    /// What kind of refusal this is.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// AWS's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
