//! Least-privilege findings for valid policies.
//!
//! Where IAM Access Analyzer has a check, the finding carries its issue code,
//! finding type and link
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html>).
//! Access Analyzer has no checks for broad wildcards or for web-identity trust
//! policies; irsa's own checks for those carry codes that start with `IRSA_`, so
//! nobody mistakes them for AWS's.

use crate::model::{ConditionBlock, Effect, Policy, PrincipalSet, PrincipalType, Statement};
use crate::operator::BaseOperator;

/// How serious a finding is, in Access Analyzer's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Style that does not change access.
    Suggestion,
    /// Not following best practice.
    Warning,
    /// Grants more access than is likely meant.
    SecurityWarning,
}

impl Severity {
    /// Access Analyzer's `findingType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Suggestion => "SUGGESTION",
            Severity::Warning => "WARNING",
            Severity::SecurityWarning => "SECURITY_WARNING",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Issue code, e.g. `PASS_ROLE_WITH_STAR_IN_RESOURCE` or `IRSA_OIDC_TRUST_WITHOUT_SUB`.
    pub code: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Statement position from 1; `None` for the whole document.
    pub statement: Option<usize>,
    /// The statement's Sid.
    pub sid: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
    /// Access Analyzer's documentation of the check, for AWS codes.
    pub learn_more: Option<&'static str>,
}

/// Lints a parsed policy.
pub fn lint(policy: &Policy) -> Vec<Finding> {
    let mut out = Vec::new();
    if policy.version.is_none() {
        out.push(Finding {
            code: "MISSING_VERSION",
            severity: Severity::Warning,
            statement: None,
            sid: None,
            message: "We recommend that you specify the Version element to help you with \
                      debugging permission issues (without `\"Version\": \"2012-10-17\"` policy \
                      variables are literal text)"
                .into(),
            learn_more: Some(
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html#access-analyzer-reference-policy-checks-general-warning-missing-version",
            ),
        });
    }
    for (i, st) in policy.statements.iter().enumerate() {
        let mut push = |code, severity, message: String, anchor: Option<&'static str>| {
            out.push(Finding {
                code,
                severity,
                statement: Some(i + 1),
                sid: st.sid.clone(),
                message,
                learn_more: anchor,
            });
        };
        if st.effect != Effect::Allow {
            continue;
        }
        wildcard_checks(st, &mut push);
        if st.action.negated {
            push(
                "IRSA_ALLOW_WITH_NOT_ACTION",
                Severity::SecurityWarning,
                "`Allow` with `NotAction` allows every action not listed, including actions \
                 AWS adds later; list the allowed actions in `Action` instead"
                    .into(),
                None,
            );
        }
        if st.principal.as_ref().is_some_and(|p| p.negated) {
            push(
                "ALLOW_WITH_NOT_PRINCIPAL",
                Severity::SecurityWarning,
                "Using Allow with NotPrincipal can be overly permissive. We recommend that you \
                 use Principal instead."
                    .into(),
                Some(
                    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html#access-analyzer-reference-policy-checks-security-warning-allow-with-notprincipal",
                ),
            );
        }
        web_identity_checks(st, &mut push);
    }
    out
}

type Push<'a> = dyn FnMut(&'static str, Severity, String, Option<&'static str>) + 'a;

fn resource_is_star(st: &Statement) -> bool {
    st.resource
        .as_ref()
        .is_some_and(|r| !r.negated && r.value.items.iter().any(|v| v == "*"))
}

fn wildcard_checks(st: &Statement, push: &mut Push<'_>) {
    if st.action.negated {
        return;
    }
    let star_resource = resource_is_star(st);
    let actions = &st.action.value.items;
    let star_action = actions
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case("iam:*"));
    let pass_role = actions.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == "*"
            || a == "iam:*"
            || a == "iam:passrole"
            || (a.ends_with('*') && "iam:passrole".starts_with(a.trim_end_matches('*')))
    });
    if pass_role && star_resource {
        if star_action {
            push(
                "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE",
                Severity::SecurityWarning,
                "Using wildcards (*) in the action and the resource can be overly permissive \
                 because it allows iam:PassRole permissions on all resources. We recommend that \
                 you specify resource ARNs or add the iam:PassedToService condition key to your \
                 statement."
                    .into(),
                Some(
                    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html#access-analyzer-reference-policy-checks-security-warning-pass-role-with-star-in-action-and-resource",
                ),
            );
        } else {
            push(
                "PASS_ROLE_WITH_STAR_IN_RESOURCE",
                Severity::SecurityWarning,
                "Using the iam:PassRole action with wildcards (*) in the resource can be overly \
                 permissive because it allows iam:PassRole permissions on multiple resources. We \
                 recommend that you specify resource ARNs or add the iam:PassedToService \
                 condition key to your statement."
                    .into(),
                Some(
                    "https://docs.aws.amazon.com/IAM/latest/UserGuide/access-analyzer-reference-policy-checks.html#access-analyzer-reference-policy-checks-security-warning-pass-role-with-star-in-resource",
                ),
            );
        }
    }
    if star_resource {
        for action in actions {
            let broad =
                action == "*" || action.split_once(':').is_some_and(|(_, name)| name == "*");
            if broad {
                push(
                    "IRSA_WILDCARD_ACTION_ON_ALL_RESOURCES",
                    Severity::SecurityWarning,
                    format!(
                        "`Allow` of `{action}` on resource `*` grants every {} on every resource; \
                         list the actions and resource ARNs the workload needs",
                        if action == "*" {
                            "action of every service".to_string()
                        } else {
                            format!("{} action", action.split(':').next().unwrap_or_default())
                        }
                    ),
                    None,
                );
            }
        }
    }
}

/// The condition key prefix of an OIDC provider ARN: `HOST/PATH` of
/// `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`.
fn oidc_prefix(provider: &str) -> Option<&str> {
    provider.split_once(":oidc-provider/").map(|(_, p)| p)
}

fn web_identity_checks(st: &Statement, push: &mut Push<'_>) {
    let Some(p) = &st.principal else { return };
    if p.negated {
        return;
    }
    let PrincipalSet::Map(map) = &p.value else {
        return;
    };
    for (kind, values) in map {
        if *kind != PrincipalType::Federated {
            continue;
        }
        for provider in &values.items {
            let Some(prefix) = oidc_prefix(provider) else {
                continue;
            };
            let sub = format!("{prefix}:sub");
            let aud = format!("{prefix}:aud");
            let sub_blocks = blocks_with_key(&st.condition, &sub);
            if sub_blocks.is_empty() {
                push(
                    "IRSA_OIDC_TRUST_WITHOUT_SUB",
                    Severity::SecurityWarning,
                    format!(
                        "the trust policy of OIDC provider `{prefix}` has no condition on `{sub}`: \
                         every ServiceAccount of the cluster can assume this role; add \
                         \"StringEquals\": {{\"{sub}\": \"system:serviceaccount:NAMESPACE:NAME\"}}"
                    ),
                    None,
                );
            }
            for (block, value) in sub_blocks {
                let wildcard = matches!(
                    block.operator.base,
                    BaseOperator::StringLike | BaseOperator::StringNotLike
                ) && value.contains(['*', '?']);
                if wildcard && block.operator.base == BaseOperator::StringLike {
                    push(
                        "IRSA_OIDC_SUB_WILDCARD",
                        Severity::SecurityWarning,
                        format!(
                            "`{sub}` is matched with StringLike `{value}`: every ServiceAccount \
                             whose name matches can assume this role; use StringEquals with the \
                             exact `system:serviceaccount:NAMESPACE:NAME`"
                        ),
                        None,
                    );
                }
            }
            if blocks_with_key(&st.condition, &aud).is_empty() {
                push(
                    "IRSA_OIDC_TRUST_WITHOUT_AUD",
                    Severity::Warning,
                    format!(
                        "the trust policy of OIDC provider `{prefix}` has no condition on `{aud}`; \
                         add \"StringEquals\": {{\"{aud}\": \"sts.amazonaws.com\"}} so that tokens \
                         minted for other audiences are refused"
                    ),
                    None,
                );
            }
        }
    }
}

/// Every (block, value) whose key is `key` (case-insensitive) in a positive
/// operator block.
fn blocks_with_key<'a>(
    blocks: &'a [ConditionBlock],
    key: &str,
) -> Vec<(&'a ConditionBlock, &'a str)> {
    let mut out = Vec::new();
    for block in blocks {
        if block.operator.base.is_negated() || block.operator.base == BaseOperator::Null {
            continue;
        }
        for (k, values) in &block.entries {
            if k.eq_ignore_ascii_case(key) {
                out.extend(values.items.iter().map(|v| (block, v.as_str())));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn codes(text: &str) -> Vec<&'static str> {
        lint(&parse(text).unwrap())
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn tutorial_examples() {
        assert_eq!(
            codes(include_str!("../../../examples/trust-policy.json")),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(include_str!("../../../examples/least-privilege-good.json")),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(include_str!("../../../examples/least-privilege-bad.json")),
            ["IRSA_WILDCARD_ACTION_ON_ALL_RESOURCES"]
        );
    }

    #[test]
    fn pass_role_on_star() {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}}"#;
        assert_eq!(codes(p), ["PASS_ROLE_WITH_STAR_IN_RESOURCE"]);
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        assert_eq!(
            codes(p),
            [
                "PASS_ROLE_WITH_STAR_IN_ACTION_AND_RESOURCE",
                "IRSA_WILDCARD_ACTION_ON_ALL_RESOURCES"
            ]
        );
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::123456789012:role/app"}}"#;
        assert!(codes(p).is_empty());
    }

    #[test]
    fn not_action_and_not_principal_with_allow() {
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#;
        assert_eq!(codes(p), ["IRSA_ALLOW_WITH_NOT_ACTION"]);
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}}"#;
        assert!(codes(p).is_empty());
        let p = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"123456789012"},"Action":"s3:GetObject","Resource":"*"}}"#;
        assert_eq!(codes(p), ["ALLOW_WITH_NOT_PRINCIPAL"]);
    }

    #[test]
    fn web_identity_trust_policies() {
        let base = include_str!("../../../examples/trust-policy.json");
        let no_sub = base.replace(
            ":sub\": \"system:serviceaccount:production:s3-app\",",
            ":other\": \"x\",",
        );
        assert_eq!(codes(&no_sub), ["IRSA_OIDC_TRUST_WITHOUT_SUB"]);
        let no_aud = base.replace(":aud\"", ":azp\"");
        assert_eq!(codes(&no_aud), ["IRSA_OIDC_TRUST_WITHOUT_AUD"]);
        let like = base
            .replace("\"StringEquals\"", "\"StringLike\"")
            .replace("production:s3-app", "production:*");
        assert_eq!(codes(&like), ["IRSA_OIDC_SUB_WILDCARD"]);
        let missing_version = base.replace("\"Version\": \"2012-10-17\",", "");
        assert_eq!(codes(&missing_version), ["MISSING_VERSION"]);
    }
}
