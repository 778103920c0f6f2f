//! Step three: the decision for a request, from every policy that applies to it.
//!
//! AWS's evaluation logic
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html>):
//! 1. An explicit `Deny` in any policy wins.
//! 2. Within one account, a resource-based policy that names the caller grants
//!    access on its own; otherwise an identity-based policy must allow — and then
//!    the permissions boundary (if any) and the session policies (if any) must
//!    allow too. A resource-based policy that names the IAM user or the role
//!    *session* directly is not limited by an implicit deny in a boundary or session
//!    policy; one that names the *role* is (access_policies_boundaries.html,
//!    access_policies.html#policies_session).
//! 3. Across accounts, both sides must allow: the caller's identity-based policy
//!    (limited by boundary and session policies) and the resource account's
//!    resource-based policy
//!    (reference_policies_evaluation-logic-cross-account.html).
//!
//! A root caller holds every identity permission of its own account.

use crate::eval::{CompiledPolicy, Request};
use crate::model::Effect;
use crate::principal::{Naming, Principal, is_account_id};

/// The policies that take part in a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'a> {
    /// The caller's identity-based policies (inline and attached).
    pub identity: &'a [CompiledPolicy],
    /// The resource's policy (bucket policy, role trust policy, key policy).
    pub resource: Option<&'a CompiledPolicy>,
    /// The caller's permissions boundary.
    pub boundary: Option<&'a CompiledPolicy>,
    /// The session policies passed when the session was created; empty when
    /// the caller is not such a session.
    pub session: &'a [CompiledPolicy],
    /// The resource policy must allow even within the account: true for role
    /// trust policies and KMS key policies, which "must explicitly allow access
    /// for principals" (reference_policies_evaluation-logic.html). A boundary
    /// then limits even a caller the policy names directly ("If a permissions
    /// boundary is set for the user, then it must allow the sts:AssumeRole
    /// action", id_roles_update-role-trust-policy.html).
    pub resource_must_allow: bool,
}

/// The kinds of policy, as AccessDenied messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Policies attached to the caller.
    IdentityBased,
    /// The resource's own policy.
    ResourceBased,
    /// The caller's permissions boundary.
    PermissionsBoundary,
    /// Policies passed when the session was created.
    Session,
}

impl PolicyKind {
    /// The phrase AccessDenied messages use: "identity-based policy", …
    pub fn phrase(self) -> &'static str {
        match self {
            PolicyKind::IdentityBased => "identity-based policy",
            PolicyKind::ResourceBased => "resource-based policy",
            PolicyKind::PermissionsBoundary => "permissions boundary",
            PolicyKind::Session => "session policy",
        }
    }

    fn with_article(self) -> &'static str {
        match self {
            PolicyKind::IdentityBased => "an identity-based policy",
            PolicyKind::ResourceBased => "a resource-based policy",
            PolicyKind::PermissionsBoundary => "a permissions boundary",
            PolicyKind::Session => "a session policy",
        }
    }
}

/// A statement of a [`PolicySet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementRef {
    /// Which kind of policy.
    pub kind: PolicyKind,
    /// Index of the policy within its kind (0 for resource and boundary).
    pub policy: usize,
    /// Index of the statement within the policy.
    pub statement: usize,
}

/// The outcome of a request, with what decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, by this statement (`None`: the account root's own permission).
    Allow(Option<StatementRef>),
    /// Denied by this `Deny` statement.
    ExplicitDeny(StatementRef),
    /// Denied because no policy of this kind allows the action.
    ImplicitDeny(PolicyKind),
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// `Allow`, `ExplicitDeny` or `ImplicitDeny`.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Allow(_) => "Allow",
            Decision::ExplicitDeny(_) => "ExplicitDeny",
            Decision::ImplicitDeny(_) => "ImplicitDeny",
        }
    }

    /// The end of an AccessDenied message, as AWS words it
    /// (troubleshoot_access-denied.html): "because no identity-based policy
    /// allows the s3:GetObject action" or "with an explicit deny in a
    /// resource-based policy". Empty for `Allow`.
    pub fn reason(&self, action: &str) -> String {
        match self {
            Decision::Allow(_) => String::new(),
            Decision::ExplicitDeny(by) => {
                format!("with an explicit deny in {}", by.kind.with_article())
            }
            Decision::ImplicitDeny(kind) => {
                format!("because no {} allows the {action} action", kind.phrase())
            }
        }
    }
}

/// A decision with every statement that matched on the deciding side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// For `ExplicitDeny`, every Deny statement that applied; otherwise every
    /// Allow statement that applied.
    pub matched: Vec<StatementRef>,
}

impl PolicySet<'_> {
    /// The policy a statement reference points into.
    pub fn policy(&self, at: StatementRef) -> Option<&CompiledPolicy> {
        match at.kind {
            PolicyKind::IdentityBased => self.identity.get(at.policy),
            PolicyKind::Session => self.session.get(at.policy),
            PolicyKind::ResourceBased => self.resource.filter(|_| at.policy == 0),
            PolicyKind::PermissionsBoundary => self.boundary.filter(|_| at.policy == 0),
        }
    }

    fn of_kind(&self, kind: PolicyKind) -> &[CompiledPolicy] {
        match kind {
            PolicyKind::IdentityBased => self.identity,
            PolicyKind::Session => self.session,
            PolicyKind::ResourceBased => {
                self.resource.map(std::slice::from_ref).unwrap_or_default()
            }
            PolicyKind::PermissionsBoundary => {
                self.boundary.map(std::slice::from_ref).unwrap_or_default()
            }
        }
    }
}

/// What the statements of one kind say about a request.
#[derive(Default)]
struct Scan {
    deny: Option<StatementRef>,
    allow: Option<(StatementRef, Naming)>,
}

/// Evaluates every statement of one kind, stopping at the first Deny and at the
/// strongest Allow unless `all` collects every match.
fn scan(
    kind: PolicyKind,
    policies: &[CompiledPolicy],
    req: &Request<'_>,
    has_boundary: bool,
    mut all: Option<&mut Vec<(StatementRef, Effect)>>,
) -> Scan {
    let mut out = Scan::default();
    for (p, policy) in policies.iter().enumerate() {
        for s in 0..policy.len() {
            let Some(effect) = policy.effect(s) else {
                continue;
            };
            let collecting = all.is_some();
            let wanted = match effect {
                Effect::Deny => true,
                Effect::Allow => {
                    collecting || out.allow.is_none_or(|(_, naming)| naming < Naming::Direct)
                }
            };
            if !wanted {
                continue;
            }
            let Some(naming) = policy.statement_applies(s, req, has_boundary) else {
                continue;
            };
            let at = StatementRef {
                kind,
                policy: p,
                statement: s,
            };
            if let Some(list) = all.as_deref_mut() {
                list.push((at, effect));
            }
            match effect {
                Effect::Deny => {
                    out.deny.get_or_insert(at);
                    if !collecting {
                        return out;
                    }
                }
                Effect::Allow => {
                    if out.allow.is_none_or(|(_, best)| naming > best) {
                        out.allow = Some((at, naming));
                    }
                }
            }
        }
    }
    out
}

const KINDS: [PolicyKind; 4] = [
    PolicyKind::IdentityBased,
    PolicyKind::ResourceBased,
    PolicyKind::PermissionsBoundary,
    PolicyKind::Session,
];

/// Decides a request. Allocates nothing.
pub fn authorize(req: &Request<'_>, set: &PolicySet<'_>) -> Decision {
    decide(req, set, None)
}

/// Decides a request and lists every matching statement (for simulators and
/// explanations).
pub fn explain(req: &Request<'_>, set: &PolicySet<'_>) -> Evaluation {
    let mut all = Vec::new();
    let decision = decide(req, set, Some(&mut all));
    let want = match decision {
        Decision::ExplicitDeny(_) => Effect::Deny,
        _ => Effect::Allow,
    };
    Evaluation {
        decision,
        matched: all
            .into_iter()
            .filter(|(_, e)| *e == want)
            .map(|(at, _)| at)
            .collect(),
    }
}

fn decide(
    req: &Request<'_>,
    set: &PolicySet<'_>,
    mut all: Option<&mut Vec<(StatementRef, Effect)>>,
) -> Decision {
    let identity_applies = req.principal.has_identity_policies();
    let mut scans: [Scan; 4] = Default::default();
    for (kind, slot) in KINDS.iter().zip(scans.iter_mut()) {
        if *kind != PolicyKind::ResourceBased && !identity_applies {
            continue;
        }
        let has_boundary = set.boundary.is_some();
        *slot = scan(
            *kind,
            set.of_kind(*kind),
            req,
            has_boundary,
            all.as_deref_mut(),
        );
        if let (Some(at), None) = (slot.deny, &all) {
            return Decision::ExplicitDeny(at);
        }
    }
    if let Some(at) = scans.iter().find_map(|s| s.deny) {
        return Decision::ExplicitDeny(at);
    }
    let [identity, resource, boundary, session] = &scans;
    let resource_grant = resource.allow;

    // Identity side: the root holds its account's permissions; everyone else
    // needs an identity-based Allow, within the boundary and session policies.
    let is_root = matches!(req.principal, Principal::Root { .. });
    let boundary_ok = set.boundary.is_none() || boundary.allow.is_some();
    let session_ok = set.session.is_empty() || session.allow.is_some();
    let identity_grant: Result<Option<StatementRef>, PolicyKind> = if !identity_applies {
        Err(PolicyKind::ResourceBased)
    } else if is_root {
        Ok(None)
    } else {
        match identity.allow {
            None => Err(PolicyKind::IdentityBased),
            Some(_) if !boundary_ok => Err(PolicyKind::PermissionsBoundary),
            Some(_) if !session_ok => Err(PolicyKind::Session),
            Some((at, _)) => Ok(Some(at)),
        }
    };

    let cross_account = is_cross_account(req);
    if set.resource_must_allow {
        let Some((at, naming)) = resource_grant else {
            return Decision::ImplicitDeny(PolicyKind::ResourceBased);
        };
        if let (true, Err(kind)) = (cross_account, identity_grant) {
            return Decision::ImplicitDeny(kind);
        }
        return match naming {
            Naming::Account => match identity_grant {
                Ok(by) => Decision::Allow(by),
                Err(kind) => Decision::ImplicitDeny(kind),
            },
            Naming::Role | Naming::Direct if !boundary_ok => {
                Decision::ImplicitDeny(PolicyKind::PermissionsBoundary)
            }
            Naming::Role | Naming::Direct if !session_ok => {
                Decision::ImplicitDeny(PolicyKind::Session)
            }
            Naming::Role | Naming::Direct => Decision::Allow(Some(at)),
        };
    }
    if cross_account {
        return match (identity_grant, resource_grant) {
            (Err(kind), _) => Decision::ImplicitDeny(kind),
            (Ok(_), None) => Decision::ImplicitDeny(PolicyKind::ResourceBased),
            (Ok(at), Some(_)) => Decision::Allow(at),
        };
    }
    match resource_grant {
        Some((at, Naming::Direct)) => return Decision::Allow(Some(at)),
        Some((at, Naming::Role)) if boundary_ok && session_ok => {
            return Decision::Allow(Some(at));
        }
        _ => {}
    }
    match identity_grant {
        Ok(at) => Decision::Allow(at),
        Err(kind) => match resource_grant {
            // A grant to the role alone fails on the boundary or session policy.
            Some((_, Naming::Role)) if !boundary_ok => {
                Decision::ImplicitDeny(PolicyKind::PermissionsBoundary)
            }
            Some((_, Naming::Role)) => Decision::ImplicitDeny(PolicyKind::Session),
            _ => Decision::ImplicitDeny(kind),
        },
    }
}

/// The condition keys that statements about this request (principal, action
/// and resource match) test but the request's context lacks — what a
/// simulator reports as missing context values.
pub fn missing_context_keys(req: &Request<'_>, set: &PolicySet<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let has_boundary = set.boundary.is_some();
    for kind in KINDS {
        for policy in set.of_kind(kind) {
            for s in 0..policy.len() {
                if !policy.statement_targets(s, req, has_boundary) {
                    continue;
                }
                for key in policy.condition_keys(s) {
                    let known = req.context.get(key).is_some()
                        || out.iter().any(|k| k.eq_ignore_ascii_case(key));
                    if !known {
                        out.push(key.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Whether the resource lives in another account than the caller's: the
/// request's `resource_account`, else the ARN's account segment.
fn is_cross_account(req: &Request<'_>) -> bool {
    let Some(caller) = req.principal.account() else {
        return false;
    };
    let owner = req
        .resource_account
        .or_else(|| req.resource.split(':').nth(4).filter(|a| is_account_id(a)));
    owner.is_some_and(|owner| owner != caller)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, parse};

    #[test]
    fn missing_context_keys_of_statements_about_the_request() {
        let doc = parse(
            r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}},
              {"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"ec2:Region":"us-east-1"}}}]}"#,
        )
        .unwrap();
        let identity = [CompiledPolicy::new("p", doc)];
        let alice = Principal::from_arn("arn:aws:iam::123456789012:user/alice").unwrap();
        let mut ctx = Context::new();
        ctx.insert("aws:SecureTransport", "true");
        let req = Request {
            principal: &alice,
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            resource_account: None,
            context: &ctx,
        };
        let set = PolicySet {
            identity: &identity,
            ..PolicySet::default()
        };
        assert_eq!(missing_context_keys(&req, &set), ["aws:SourceIp"]);
        assert_eq!(
            authorize(&req, &set),
            Decision::ImplicitDeny(PolicyKind::IdentityBased)
        );
    }
}
