//! One error type for every service, mapped to AWS's code and HTTP status in
//! one place. Anything unclassified answers `InternalFailure`; its detail goes
//! to the log only.

use axum::http::StatusCode;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: &'static str,
    message: String,
    status: StatusCode,
}

impl ApiError {
    /// An error with AWS's code, message and status.
    pub(crate) fn new(
        code: &'static str,
        status: StatusCode,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            status,
        }
    }

    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Whether the fault is the caller's (`Type` Sender) rather than ours.
    pub fn is_sender_fault(&self) -> bool {
        self.status.is_client_error()
    }

    pub(crate) fn validation(message: String) -> ApiError {
        ApiError::new("ValidationError", StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> ApiError {
        ApiError::new("InvalidInput", StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn no_such_entity(message: impl Into<String>) -> ApiError {
        ApiError::new("NoSuchEntity", StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn already_exists(message: impl Into<String>) -> ApiError {
        ApiError::new("EntityAlreadyExists", StatusCode::CONFLICT, message)
    }

    pub(crate) fn delete_conflict(message: impl Into<String>) -> ApiError {
        ApiError::new("DeleteConflict", StatusCode::CONFLICT, message)
    }

    pub(crate) fn limit_exceeded(message: impl Into<String>) -> ApiError {
        ApiError::new("LimitExceeded", StatusCode::CONFLICT, message)
    }

    pub(crate) fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError::new("AccessDenied", StatusCode::FORBIDDEN, message)
    }

    /// A policy document rejected by the policy engine, with IAM's code.
    pub(crate) fn policy(e: &policy::PolicyError) -> ApiError {
        match e.code() {
            policy::ErrorCode::LimitExceeded => ApiError::limit_exceeded(e.aws_message()),
            policy::ErrorCode::MalformedPolicyDocument => ApiError::new(
                "MalformedPolicyDocument",
                StatusCode::BAD_REQUEST,
                e.to_string(),
            ),
        }
    }

    /// A failure of ours; the detail is logged, the client sees a generic message.
    pub(crate) fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(%detail, "internal failure");
        ApiError::new(
            "InternalFailure",
            StatusCode::INTERNAL_SERVER_ERROR,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    /// A refused SigV4 signature, as IAM and STS answer it.
    pub(crate) fn signature(e: &sigv4::Error) -> ApiError {
        use sigv4::ErrorCode as C;
        match e.code() {
            C::MissingAuthenticationToken => ApiError::new(
                "MissingAuthenticationToken",
                StatusCode::FORBIDDEN,
                e.message(),
            ),
            C::IncompleteSignature => {
                ApiError::new("IncompleteSignature", StatusCode::BAD_REQUEST, e.message())
            }
            // IAM and STS answer clock skew with SignatureDoesNotMatch and the
            // "Signature expired: …" text (captured responses, see
            // docs/iam-api-reference.md §3), not with RequestExpired.
            C::SignatureDoesNotMatch | C::SignatureExpired => {
                ApiError::new("SignatureDoesNotMatch", StatusCode::FORBIDDEN, e.message())
            }
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        match e {
            store::StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                ApiError::new(
                    "ServiceUnavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is unavailable. Please try again later.",
                )
            }
            other => ApiError::internal(other),
        }
    }
}
