//! Why a policy document is rejected, worded as IAM words it.
//!
//! IAM answers a bad document with `MalformedPolicyDocument` (or `LimitExceeded`
//! for size) and a short message; [`PolicyError`] keeps that message and adds where
//! the problem is (statement, field, byte offset), so that a caller can print
//! `file:line:column` and the server can answer with AWS's code.

use std::fmt;

/// The AWS error code a rejected document is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `MalformedPolicyDocument`: the document is not a valid policy of its kind.
    MalformedPolicyDocument,
    /// `LimitExceeded`: the document is larger than its kind allows.
    LimitExceeded,
}

impl ErrorCode {
    /// The code as AWS spells it on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedPolicyDocument => "MalformedPolicyDocument",
            ErrorCode::LimitExceeded => "LimitExceeded",
        }
    }
}

/// A rejected policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    code: ErrorCode,
    message: String,
    statement: Option<usize>,
    sid: Option<String>,
    field: Option<String>,
    offset: Option<usize>,
}

impl PolicyError {
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        PolicyError {
            code: ErrorCode::MalformedPolicyDocument,
            message: message.into(),
            statement: None,
            sid: None,
            field: None,
            offset: None,
        }
    }

    pub(crate) fn limit(message: impl Into<String>) -> Self {
        PolicyError {
            code: ErrorCode::LimitExceeded,
            ..PolicyError::malformed(message)
        }
    }

    pub(crate) fn at(mut self, offset: usize) -> Self {
        self.offset.get_or_insert(offset);
        self
    }

    pub(crate) fn field(mut self, field: impl Into<String>) -> Self {
        if self.field.is_none() {
            self.field = Some(field.into());
        }
        self
    }

    pub(crate) fn in_statement(mut self, index: usize, sid: Option<&str>) -> Self {
        if self.statement.is_none() {
            self.statement = Some(index);
            self.sid = sid.map(str::to_string);
        }
        self
    }

    /// The AWS error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// IAM's message, without location.
    pub fn aws_message(&self) -> &str {
        &self.message
    }

    /// The statement's position in the document, counted from 1.
    pub fn statement(&self) -> Option<usize> {
        self.statement.map(|i| i + 1)
    }

    /// The field the problem is in, e.g. `Action` or `Condition.StringEquals`.
    pub fn field_name(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Byte offset in the document where the problem is, when known.
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }
}

impl fmt::Display for PolicyError {
    /// IAM's message followed by the place: `Missing required field Effect
    /// (statement 2 `ReadBucket`)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut place = Vec::new();
        if let Some(n) = self.statement() {
            match &self.sid {
                Some(sid) => place.push(format!("statement {n} `{sid}`")),
                None => place.push(format!("statement {n}")),
            }
        }
        if let Some(field) = &self.field {
            place.push(format!("field `{field}`"));
        }
        if !place.is_empty() {
            write!(f, " ({})", place.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}
