//! Explains an IRSA identity chain link by link: which link broke, why, and
//! how to fix it. It runs the same checks as STS (`sts::check_web_identity`) and
//! the same authorization as signed calls (`auth::decide`), so its verdict and
//! the real call's outcome cannot disagree.

use policy::{Decision, PolicyKind, Principal};

use crate::auth::{self, Caller, Origin};
use crate::session::Session;
use crate::state::State;
use crate::sts::{self, Link};

/// One link of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Short name: `token`, `role`, `provider`, `keys`, `signature`,
    /// `audience`, `trust`, `permissions`.
    pub link: &'static str,
    /// `Some(true)` passed, `Some(false)` broke, `None` not checked (an earlier
    /// link broke).
    pub ok: Option<bool>,
    /// What was seen.
    pub detail: String,
    /// Further lines (the trust policy's conditions, one by one).
    pub notes: Vec<String>,
    /// How to fix it, for the broken link.
    pub fix: Option<String>,
}

/// The diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The links, in order.
    pub findings: Vec<Finding>,
    /// The AWS error the real call gets, `(code, message)`, if any link broke.
    pub error: Option<(String, String)>,
}

impl Report {
    /// Whether every checked link passed.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// What to diagnose.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// The role the pod assumes (`AWS_ROLE_ARN`).
    pub role_arn: &'a str,
    /// The pod's token.
    pub token: &'a str,
    /// An action and resource the pod needs, to check the role's policies.
    pub action: Option<(&'a str, &'a str)>,
}

const LINKS: [(&str, Link); 7] = [
    ("token", Link::Token),
    ("role", Link::Role),
    ("provider", Link::Provider),
    ("keys", Link::Keys),
    ("signature", Link::Signature),
    ("audience", Link::Audience),
    ("trust", Link::Trust),
];

fn finding(link: &'static str, ok: Option<bool>, detail: impl Into<String>) -> Finding {
    Finding {
        link,
        ok,
        detail: detail.into(),
        notes: Vec::new(),
        fix: None,
    }
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// Walks the chain for `q` at time `now`.
pub async fn diagnose(state: &State, q: &Question<'_>, now: i64) -> Report {
    let origin = Origin::default();
    let outcome = sts::check_web_identity(
        state,
        q.role_arn,
        "irsa-doctor",
        q.token.trim(),
        &origin,
        now,
    )
    .await;
    let mut findings = Vec::new();
    let refused = match outcome {
        Ok(t) => {
            let c = &t.claims;
            findings.push(finding(
                "token",
                Some(true),
                format!(
                    "iss {}, sub {}, aud {}, expires in {} s",
                    c.iss,
                    c.sub,
                    list(&c.aud),
                    c.exp - now
                ),
            ));
            findings.push(finding(
                "role",
                Some(true),
                format!("{} exists", t.role.arn()),
            ));
            findings.push(finding(
                "provider",
                Some(true),
                format!(
                    "{} is an OIDC provider of account {}",
                    t.provider_arn, t.role.account
                ),
            ));
            findings.push(finding(
                "keys",
                Some(true),
                "the issuer's keys are available",
            ));
            findings.push(finding(
                "signature",
                Some(true),
                "the signature verifies and the token is valid now",
            ));
            findings.push(finding(
                "audience",
                Some(true),
                format!("`{}` is a client id of the provider", t.audience),
            ));
            findings.push(finding(
                "trust",
                Some(true),
                format!("the trust policy of {} allows {}", t.role.name, c.sub),
            ));
            let error = match q.action {
                Some((action, resource)) => {
                    permissions(state, &t.role, action, resource, now, &mut findings)
                }
                None => None,
            };
            return Report { findings, error };
        }
        Err(r) => r,
    };
    let broken = refused.link;
    for (name, link) in LINKS {
        let before = LINKS.iter().position(|(_, l)| *l == link)
            < LINKS.iter().position(|(_, l)| *l == broken);
        if before {
            findings.push(finding(name, Some(true), passed_detail(name, q, &refused)));
        } else if link == broken {
            let mut f = finding(
                name,
                Some(false),
                format!("{}: {}", refused.error.code(), refused.error.message()),
            );
            f.fix = Some(fix(link, &refused));
            if link == Link::Trust {
                f.notes = trust_notes(&refused);
            }
            findings.push(f);
        } else {
            findings.push(finding(name, None, "not checked"));
        }
    }
    if q.action.is_some() {
        findings.push(finding("permissions", None, "not checked"));
    }
    Report {
        findings,
        error: Some((
            refused.error.code().to_string(),
            refused.error.message().to_string(),
        )),
    }
}

fn passed_detail(name: &str, q: &Question<'_>, r: &sts::Refused) -> String {
    match (name, &r.claims) {
        ("token", Some(c)) => format!("iss {}, sub {}, aud {}", c.iss, c.sub, list(&c.aud)),
        ("role", _) => format!("{} exists", q.role_arn),
        ("provider", _) => format!(
            "the issuer is an OIDC provider with client ids {}",
            list(&r.client_ids)
        ),
        ("keys", _) => "the issuer's keys are available".to_string(),
        ("signature", _) => "the signature verifies and the token is valid now".to_string(),
        ("audience", Some(c)) => format!("{} holds a client id of the provider", list(&c.aud)),
        _ => "passed".to_string(),
    }
}

fn fix(link: Link, r: &sts::Refused) -> String {
    let iss = r
        .claims
        .as_ref()
        .map(|c| c.iss.clone())
        .unwrap_or_else(|| "ISSUER".into());
    match link {
        Link::Token => "the file is not a ServiceAccount token (a JWT): point AWS_WEB_IDENTITY_TOKEN_FILE at the projected token".into(),
        Link::Role => "create the role, or fix AWS_ROLE_ARN (the eks.amazonaws.com/role-arn annotation) to name an existing role".into(),
        Link::Provider => format!(
            "register the issuer: aws iam create-open-id-connect-provider --url {iss} --client-id-list sts.amazonaws.com (or irsa cluster associate-oidc-provider CLUSTER)"
        ),
        Link::Keys => format!("the issuer must serve {iss}/.well-known/openid-configuration and its jwks_uri over https, reachable from irsa"),
        Link::Signature => {
            if r.error.code() == "ExpiredTokenException" {
                "the token expired: the kubelet refreshes projected tokens; check the pod's token file and clocks, or mint a new one".into()
            } else {
                "the token is not signed by a key the issuer publishes: was it minted by another cluster, or the key rotated away?".into()
            }
        }
        Link::Audience => format!(
            "the token's aud {} is not among the provider's client ids {}: add it (aws iam add-client-id-to-open-id-connect-provider) or set the eks.amazonaws.com/audience annotation to one of them",
            list(&r.claims.as_ref().map(|c| c.aud.clone()).unwrap_or_default()),
            list(&r.client_ids)
        ),
        Link::Trust => "make the trust policy's conditions match the token (or run the pod with the ServiceAccount the policy names)".into(),
    }
}

/// The trust policy's conditions, one by one, with the token's values.
fn trust_notes(r: &sts::Refused) -> Vec<String> {
    let Some((trust, principal, ctx)) = &r.trust else {
        return Vec::new();
    };
    let req = policy::Request {
        principal,
        action: "sts:AssumeRoleWithWebIdentity",
        resource: "*",
        resource_account: None,
        context: ctx,
    };
    let mut notes = Vec::new();
    let mut about_token = false;
    for i in 0..trust.len() {
        if !trust.statement_targets(i, &req, false) {
            continue;
        }
        about_token = true;
        for check in trust.condition_checks(i, ctx) {
            let actual = match &check.actual {
                Some(v) if v.len() == 1 => format!("`{}`", v.join("")),
                Some(v) => format!("{v:?}"),
                None => "nothing (key absent)".into(),
            };
            notes.push(format!(
                "{} {} {}: token has {actual}, trust expects {}",
                if check.holds { "✓" } else { "✗" },
                check.operator,
                check.key,
                check
                    .expected
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
    }
    if !about_token {
        notes.push(format!(
            "✗ no statement of the trust policy allows sts:AssumeRoleWithWebIdentity for {}",
            principal.arn()
        ));
    }
    notes
}

/// Whether a session of the role may do `action` on `resource`, decided as a
/// signed call of that session would be.
fn permissions(
    state: &State,
    role: &store::Role,
    action: &str,
    resource: &str,
    now: i64,
    out: &mut Vec<Finding>,
) -> Option<(String, String)> {
    let session = Session {
        account: role.account.clone(),
        role_arn: role.arn(),
        role_id: role.id.clone(),
        role_name: role.name.clone(),
        name: "irsa-doctor".into(),
        access_key: String::new(),
        secret: String::new(),
        issued: now,
        expires: now + 3600,
        policy: None,
        policy_arns: Vec::new(),
        source_identity: None,
        tags: Vec::new(),
        chained: false,
    };
    let caller = Caller {
        account: role.account.clone(),
        principal: Principal::AssumedRole {
            arn: session.arn(),
            role_arn: session.role_arn.clone(),
            account: role.account.clone(),
        },
        session: Some(session),
        access_key: String::new(),
    };
    let ctx = auth::context(&caller, &Origin::default(), now);
    // An S3 resource is decided with its bucket's owner and policy, as the
    // real request would be.
    let bucket = match &state.s3 {
        Some(s3) => match s3.authority(resource, Some(&role.account)) {
            Ok(b) => b,
            Err(e) => {
                out.push(finding("permissions", Some(false), e.message.clone()));
                return Some((e.code.to_string(), e.message));
            }
        },
        None => None,
    };
    let bucket_policy = bucket.as_ref().and_then(|b| b.policy.as_ref());
    match auth::decide(
        state,
        state.store.as_ref(),
        &caller,
        &ctx,
        action,
        resource,
        bucket.as_ref().map(|b| b.account.as_str()),
        bucket_policy.map(|(_, p)| p),
        false,
    ) {
        Ok(Decision::Allow(_)) => {
            let by = match (&bucket, bucket_policy) {
                (Some(b), _) if b.account != role.account => {
                    "the role's policies and the bucket policy (another account's bucket)"
                }
                (Some(_), Some(_)) => "the role's policies or the bucket policy",
                _ => "the role's policies",
            };
            out.push(finding(
                "permissions",
                Some(true),
                format!("{by} allow {action} on {resource}"),
            ));
            None
        }
        Ok(d) => {
            let message = format!(
                "User: {} is not authorized to perform: {action} on resource: {resource} {}",
                caller.arn(),
                d.reason(action)
            );
            let mut f = finding(
                "permissions",
                Some(false),
                format!("AccessDenied: {message}"),
            );
            let bucket_name = resource
                .strip_prefix("arn:aws:s3:::")
                .and_then(|r| r.split('/').next())
                .unwrap_or_default();
            let cross_account = bucket.as_ref().is_some_and(|b| b.account != role.account);
            f.fix = Some(match d {
                Decision::ExplicitDeny(at) if at.kind == PolicyKind::ResourceBased => format!(
                    "a Deny statement of the bucket policy of {bucket_name} matches {action}: remove it or narrow it"
                ),
                Decision::ExplicitDeny(_) => format!(
                    "a Deny statement of the role's policies matches {action}: remove it or narrow it"
                ),
                Decision::ImplicitDeny(PolicyKind::ResourceBased) if cross_account => format!(
                    "the bucket {bucket_name} belongs to another account: its bucket policy must allow {} to {action} on {resource}",
                    role.arn()
                ),
                _ => format!(
                    "attach a policy that allows {action} on {resource} to {}",
                    role.name
                ),
            });
            out.push(f);
            Some(("AccessDenied".into(), message))
        }
        Err(e) => {
            out.push(finding("permissions", Some(false), e.message().to_string()));
            Some((e.code().to_string(), e.message().to_string()))
        }
    }
}
