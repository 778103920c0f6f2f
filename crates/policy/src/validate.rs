//! The rules that depend on what a policy is used for: identity policies name no
//! principal and need resources, trust policies need a principal and name no
//! resource, and each use has its size limit, counted without white space
//! ("IAM doesn't count white space when calculating the size of a policy",
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>).

use crate::error::PolicyError;
use crate::model::{Policy, PrincipalSet, Version};
use crate::parse::{self, SYNTAX};

/// What a policy document is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyUse {
    /// A customer managed policy (CreatePolicy, CreatePolicyVersion); also what
    /// a permissions boundary is.
    Managed,
    /// An inline policy of a role (PutRolePolicy).
    InlineRole,
    /// An inline policy of a user (PutUserPolicy).
    InlineUser,
    /// An inline policy of a group (PutGroupPolicy).
    InlineGroup,
    /// A role's trust policy (CreateRole, UpdateAssumeRolePolicy).
    Trust,
    /// A session policy passed to AssumeRole*.
    Session,
    /// Any other resource-based policy (bucket, queue, key policies).
    Resource,
}

impl PolicyUse {
    /// IAM's default size limit for this use, in characters without white space.
    pub fn size_limit(self) -> usize {
        match self {
            PolicyUse::Managed => 6_144,
            PolicyUse::InlineRole => 10_240,
            PolicyUse::InlineUser | PolicyUse::Trust | PolicyUse::Session => 2_048,
            PolicyUse::InlineGroup => 5_120,
            PolicyUse::Resource => 20_480,
        }
    }

    /// Whether this is an identity-side policy (no Principal, Resource required).
    pub fn is_identity(self) -> bool {
        !matches!(self, PolicyUse::Trust | PolicyUse::Resource)
    }

    fn size_message(self, limit: usize) -> String {
        match self {
            PolicyUse::Managed => format!("Cannot exceed quota for PolicySize: {limit}"),
            PolicyUse::Trust => format!("Cannot exceed quota for ACLSizePerRole: {limit}"),
            PolicyUse::InlineRole => {
                format!("Maximum policy size of {limit} bytes exceeded for role")
            }
            PolicyUse::InlineUser => {
                format!("Maximum policy size of {limit} bytes exceeded for user")
            }
            PolicyUse::InlineGroup => {
                format!("Maximum policy size of {limit} bytes exceeded for group")
            }
            PolicyUse::Session | PolicyUse::Resource => {
                format!("Policy size exceeds the limit of {limit} characters")
            }
        }
    }
}

/// Size as IAM counts it: characters other than white space.
pub fn policy_size(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Parses `text` and checks it for `use_` with that use's default size limit.
pub fn validate(text: &str, use_: PolicyUse) -> Result<Policy, PolicyError> {
    validate_with_limit(text, use_, use_.size_limit())
}

/// As [`validate`], with a size limit raised by quota (trust policies go to 4,096).
pub fn validate_with_limit(
    text: &str,
    use_: PolicyUse,
    limit: usize,
) -> Result<Policy, PolicyError> {
    let size = policy_size(text);
    if size > limit {
        return Err(PolicyError::limit(use_.size_message(limit)));
    }
    let policy = parse::parse(text)?;
    check_use(&policy, use_)?;
    Ok(policy)
}

/// The use-dependent rules, on an already parsed policy.
pub fn check_use(policy: &Policy, use_: PolicyUse) -> Result<(), PolicyError> {
    if use_ == PolicyUse::Managed && policy.version != Some(Version::V2012_10_17) {
        return Err(PolicyError::malformed(
            "Policy document must be version 2012-10-17 or greater.",
        )
        .field("Version"));
    }
    for (i, st) in policy.statements.iter().enumerate() {
        let sid = st.sid.as_deref();
        let fail = |e: PolicyError| Err(e.in_statement(i, sid));
        if use_.is_identity() {
            if let Some(p) = &st.principal {
                let field = if p.negated {
                    "NotPrincipal"
                } else {
                    "Principal"
                };
                return fail(
                    PolicyError::malformed("Policy document should not specify a principal.")
                        .field(field),
                );
            }
            if st
                .resource
                .as_ref()
                .is_none_or(|r| r.value.items.is_empty())
            {
                return fail(
                    PolicyError::malformed("Policy statement must contain resources.")
                        .field("Resource"),
                );
            }
        } else if use_ == PolicyUse::Trust {
            if let Some(r) = &st.resource {
                let field = if r.negated { "NotResource" } else { "Resource" };
                return fail(
                    PolicyError::malformed(format!("Has prohibited field {field}")).field(field),
                );
            }
            match &st.principal {
                None => {
                    return fail(PolicyError::malformed(
                        "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: \
                         The passed in policy has a statement with no principals!",
                    )
                    .field("Principal"));
                }
                Some(p) if p.negated => {
                    return fail(
                        PolicyError::malformed(SYNTAX).field(
                            "NotPrincipal (role trust policies do not support NotPrincipal)",
                        ),
                    );
                }
                Some(p) if p.value == PrincipalSet::Any => {
                    return fail(
                        PolicyError::malformed("Invalid principal in policy: \"*\"")
                            .field("Principal"),
                    );
                }
                Some(_) => {}
            }
        } else if st.principal.is_none() {
            return fail(
                PolicyError::malformed("Missing required field Principal").field("Principal"),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    const TRUST: &str = include_str!("../../../examples/trust-policy.json");

    fn message(text: &str, use_: PolicyUse) -> String {
        validate(text, use_).unwrap_err().aws_message().to_string()
    }

    #[test]
    fn identity_policies_name_no_principal_and_need_resources() {
        assert!(validate(IDENTITY, PolicyUse::Managed).is_ok());
        assert_eq!(
            message(TRUST, PolicyUse::InlineRole),
            "Policy document should not specify a principal."
        );
        let no_resource =
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject"}}"#;
        assert_eq!(
            message(no_resource, PolicyUse::Session),
            "Policy statement must contain resources."
        );
        let empty_resource = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":[]}}"#;
        assert_eq!(
            message(empty_resource, PolicyUse::Managed),
            "Policy statement must contain resources."
        );
    }

    #[test]
    fn managed_policies_need_the_current_version() {
        let old = IDENTITY.replace("2012-10-17", "2008-10-17");
        assert_eq!(
            message(&old, PolicyUse::Managed),
            "Policy document must be version 2012-10-17 or greater."
        );
        assert!(validate(&old, PolicyUse::InlineRole).is_ok());
    }

    #[test]
    fn trust_policies_need_a_principal_and_no_resource() {
        assert!(validate(TRUST, PolicyUse::Trust).is_ok());
        let e = validate(IDENTITY, PolicyUse::Trust).unwrap_err();
        assert_eq!(e.aws_message(), "Has prohibited field Resource");
        assert_eq!(e.statement(), Some(1));
        let no_principal =
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#;
        assert!(message(no_principal, PolicyUse::Trust).contains("statement with no principals"));
        let star = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}}"#;
        assert!(message(star, PolicyUse::Trust).starts_with("Invalid principal"));
        assert!(validate(star, PolicyUse::Resource).is_ok());
    }

    #[test]
    fn size_limits_do_not_count_white_space() {
        let padded = IDENTITY.replace(',', ",                                        ");
        assert!(padded.len() > IDENTITY.len() + 100);
        assert!(validate_with_limit(&padded, PolicyUse::Managed, policy_size(IDENTITY)).is_ok());
        let e = validate_with_limit(IDENTITY, PolicyUse::Managed, policy_size(IDENTITY) - 1)
            .unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::LimitExceeded);
        assert_eq!(
            e.aws_message(),
            format!(
                "Cannot exceed quota for PolicySize: {}",
                policy_size(IDENTITY) - 1
            )
        );
        let big_trust = TRUST.replace("s3-app", &"x".repeat(2100));
        assert_eq!(
            message(&big_trust, PolicyUse::Trust),
            "Cannot exceed quota for ACLSizePerRole: 2048"
        );
    }
}
