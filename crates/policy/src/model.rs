//! The policy document as IAM defines it: what the JSON says, nothing evaluated.
//!
//! Every list element remembers whether it was written as a single string or as an
//! array, so that printing a parsed policy gives back the same shape.
//! Reference: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>

use crate::operator::Operator;

/// A whole policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `Version`; `None` when the document leaves it out (IAM then reads it as
    /// 2008-10-17, without policy variables).
    pub version: Option<Version>,
    /// `Id`, if given.
    pub id: Option<String>,
    /// The statements, in document order.
    pub statements: Vec<Statement>,
    /// Whether `Statement` was a single object rather than an array.
    pub single_statement: bool,
}

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `2012-10-17`: the current language, with policy variables.
    V2012_10_17,
    /// `2008-10-17`: the original language; `${…}` is literal text.
    V2008_10_17,
}

impl Version {
    /// The version string as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, if given.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` or `NotPrincipal`, if given.
    pub principal: Option<Negatable<PrincipalSet>>,
    /// `Action` or `NotAction`.
    pub action: Negatable<Values>,
    /// `Resource` or `NotResource`, if given.
    pub resource: Option<Negatable<Values>>,
    /// The `Condition` block, operators in document order.
    pub condition: Vec<ConditionBlock>,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

impl Effect {
    /// The word as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// An element that has a `Not…` form: `Action`/`NotAction` and so on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negatable<T> {
    /// True for the `Not…` form.
    pub negated: bool,
    /// The element's values.
    pub value: T,
}

/// A list of strings that may be written as one string or as an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    /// The strings, in document order.
    pub items: Vec<String>,
    /// Whether the document wrote one string rather than an array.
    pub single: bool,
}

impl Values {
    /// One value written as a plain string.
    pub fn one(value: impl Into<String>) -> Self {
        Values {
            items: vec![value.into()],
            single: true,
        }
    }
}

/// The value of `Principal` / `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSet {
    /// `"*"`: everyone, including anonymous callers.
    Any,
    /// `{"AWS": …, "Federated": …}` in document order.
    Map(Vec<(PrincipalType, Values)>),
}

/// The key of a principal map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// `AWS`: accounts, users, roles, sessions.
    Aws,
    /// `Federated`: OIDC and SAML providers, web identity providers.
    Federated,
    /// `Service`: AWS service principals such as `ec2.amazonaws.com`.
    Service,
    /// `CanonicalUser`: S3 canonical user ids.
    CanonicalUser,
}

impl PrincipalType {
    /// The key as written in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Federated => "Federated",
            PrincipalType::Service => "Service",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }

    /// Reads a principal map key.
    pub fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "AWS" => PrincipalType::Aws,
            "Federated" => PrincipalType::Federated,
            "Service" => PrincipalType::Service,
            "CanonicalUser" => PrincipalType::CanonicalUser,
            _ => return None,
        })
    }
}

/// One operator of a `Condition` block with its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionBlock {
    /// The operator, e.g. `ForAnyValue:StringLikeIfExists`.
    pub operator: Operator,
    /// Condition keys (as written) with their values, in document order.
    pub entries: Vec<(String, Values)>,
}
