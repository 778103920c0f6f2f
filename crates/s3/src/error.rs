//! S3's errors, as S3 writes them: `<Error><Code>…</Code><Message>…</Message>
//! …<RequestId>…</RequestId></Error>` with the codes and statuses of
//! "Error responses" (<https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>).

use axum::http::StatusCode;

use crate::xml::Writer;

/// An S3 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    /// `NoSuchBucket`, `AccessDenied`, …
    pub code: &'static str,
    /// The HTTP status.
    pub status: StatusCode,
    /// The message.
    pub message: String,
    /// Further elements S3 adds (`BucketName`, `Key`, `Condition`, …).
    pub details: Vec<(&'static str, String)>,
}

impl S3Error {
    /// An error with a code, status and message.
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> S3Error {
        S3Error {
            code,
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Adds an element to the error document.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> S3Error {
        self.details.push((name, value.into()));
        self
    }

    /// The error document.
    pub fn to_xml(&self, request_id: &str) -> String {
        let mut w = Writer::document();
        w.open("Error");
        w.leaf("Code", self.code);
        w.leaf("Message", &self.message);
        for (name, value) in &self.details {
            w.leaf(name, value);
        }
        w.leaf("RequestId", request_id);
        w.leaf("HostId", request_id);
        w.close("Error");
        w.finish()
    }

    /// `NoSuchBucket`.
    pub fn no_such_bucket(bucket: &str) -> S3Error {
        S3Error::new(
            "NoSuchBucket",
            StatusCode::NOT_FOUND,
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }

    /// `NoSuchKey`.
    pub fn no_such_key(key: &str) -> S3Error {
        S3Error::new(
            "NoSuchKey",
            StatusCode::NOT_FOUND,
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    /// `NoSuchUpload`.
    pub fn no_such_upload(id: &str) -> S3Error {
        S3Error::new(
            "NoSuchUpload",
            StatusCode::NOT_FOUND,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", id)
    }

    /// `InvalidArgument` naming the argument.
    pub fn invalid_argument(message: impl Into<String>, name: &str, value: &str) -> S3Error {
        S3Error::new("InvalidArgument", StatusCode::BAD_REQUEST, message)
            .with("ArgumentName", name)
            .with("ArgumentValue", shown(value))
    }

    /// `InvalidRequest`.
    pub fn invalid_request(message: impl Into<String>) -> S3Error {
        S3Error::new("InvalidRequest", StatusCode::BAD_REQUEST, message)
    }

    /// `MalformedXML`.
    pub fn malformed_xml() -> S3Error {
        S3Error::new(
            "MalformedXML",
            StatusCode::BAD_REQUEST,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    /// `InternalError`: the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> S3Error {
        tracing::error!(error = %detail, "s3 internal error");
        S3Error::new(
            "InternalError",
            StatusCode::INTERNAL_SERVER_ERROR,
            "We encountered an internal error. Please try again.",
        )
    }

    /// The store cannot take the call now (busy, disk full): 503, nothing written.
    pub fn unavailable(detail: impl std::fmt::Display) -> S3Error {
        tracing::warn!(error = %detail, "s3 storage unavailable");
        S3Error::new(
            "ServiceUnavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "Please reduce your request rate. (irsa cannot write its data now: the database is busy or the disk is full.)",
        )
    }

    /// `AccessDenied` with a message.
    pub fn access_denied(message: impl Into<String>) -> S3Error {
        S3Error::new("AccessDenied", StatusCode::FORBIDDEN, message)
    }

    /// `NotImplemented`.
    pub fn not_implemented(what: &str) -> S3Error {
        S3Error::new(
            "NotImplemented",
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "A header or query you provided implies functionality that is not implemented: {what}"
            ),
        )
    }
}

impl From<store::StoreError> for S3Error {
    fn from(e: store::StoreError) -> S3Error {
        match e {
            store::StoreError::Unavailable(d) => S3Error::unavailable(d),
            other => S3Error::internal(other),
        }
    }
}

/// A client's value as quoted back: at most 64 characters.
pub fn shown(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", value.get(..at).unwrap_or_default()),
        None => value.to_string(),
    }
}
