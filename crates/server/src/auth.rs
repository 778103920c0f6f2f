//! Who is calling: SigV4 verification against the caller's secret (a root key
//! from the store, or a session's secret from its sealed token), and the
//! decision of the policy engine for what they ask.

use axum::http::StatusCode;
use policy::{CompiledPolicy, Context, Decision, PolicySet, Principal, Request, authorize};

use store::Store;

use crate::error::ApiError;
use crate::session::Session;
use crate::state::State;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The caller's account.
    pub(crate) account: String,
    /// The principal, for policy evaluation.
    pub(crate) principal: Principal,
    /// The role session, for callers with temporary credentials.
    pub(crate) session: Option<Session>,
    /// The access key that signed the request.
    pub(crate) access_key: String,
}

impl Caller {
    /// The ARN AWS names the caller by (GetCallerIdentity, AccessDenied).
    pub(crate) fn arn(&self) -> String {
        self.principal.arn()
    }

    /// The `UserId` of GetCallerIdentity: the account id for root,
    /// `ROLE-ID:SESSION` for a role session.
    pub(crate) fn user_id(&self) -> String {
        match &self.session {
            Some(s) => s.assumed_role_id(),
            None => self.account.clone(),
        }
    }
}

/// What the transport tells about a request, for condition keys.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The peer's IP address.
    pub source_ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// Whether the connection used TLS.
    pub secure: bool,
}

fn invalid_token() -> ApiError {
    ApiError::new(
        "InvalidClientTokenId",
        StatusCode::FORBIDDEN,
        "The security token included in the request is invalid.",
    )
}

/// Verifies the request's SigV4 signature and returns the caller and the
/// credential scope's service.
pub(crate) fn authenticate(
    state: &State,
    req: &sigv4::HttpRequest<'_>,
    now: i64,
) -> Result<(Caller, String), ApiError> {
    authenticate_claim(state, req, now).map(|(caller, claim, _)| (caller, claim.scope.service))
}

/// [`authenticate`], also giving the verified claim and the secret that
/// signed it (S3 checks the chunk signatures of a streamed body with it).
pub(crate) fn authenticate_claim(
    state: &State,
    req: &sigv4::HttpRequest<'_>,
    now: i64,
) -> Result<(Caller, sigv4::Claim, String), ApiError> {
    let claim = sigv4::read_claim(req).map_err(|e| ApiError::signature(&e))?;
    check_scope_region(&claim.scope)?;
    let secret;
    let caller = if claim.access_key.starts_with("ASIA") {
        let token = claim.security_token.as_deref().ok_or_else(invalid_token)?;
        let session = state.ring.open(token)?;
        if session.access_key != claim.access_key {
            return Err(invalid_token());
        }
        if now >= session.expires {
            return Err(ApiError::new(
                "ExpiredToken",
                StatusCode::FORBIDDEN,
                "The security token included in the request is expired",
            ));
        }
        sigv4::verify(req, &claim, &session.secret, now).map_err(|e| ApiError::signature(&e))?;
        secret = session.secret.clone();
        Caller {
            account: session.account.clone(),
            principal: Principal::AssumedRole {
                arn: session.arn(),
                role_arn: session.role_arn.clone(),
                account: session.account.clone(),
            },
            access_key: claim.access_key.clone(),
            session: Some(session),
        }
    } else {
        // A long-term key has no session: a security token beside it is
        // refused as AWS refuses it, not ignored.
        if claim.security_token.is_some() {
            return Err(invalid_token());
        }
        let key = state
            .access_key(&claim.access_key)?
            .ok_or_else(invalid_token)?;
        sigv4::verify(req, &claim, &key.secret, now).map_err(|e| ApiError::signature(&e))?;
        secret = key.secret.clone();
        Caller {
            principal: Principal::Root {
                account: key.account.clone(),
            },
            account: key.account,
            access_key: key.id,
            session: None,
        }
    };
    Ok((caller, claim, secret))
}

/// The region of a credential scope must be one AWS has: IAM is global and
/// signed for `us-east-1` (botocore's `endpoints.json`, `credentialScope` of
/// the `aws-global` endpoint); other services take any region of the `aws`,
/// `aws-cn` and `aws-us-gov` partitions (their `regionRegex`:
/// `^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$`, `^cn-\w+-\d+$`,
/// `^us-gov-\w+-\d+$`).
fn check_scope_region(scope: &sigv4::Scope) -> Result<(), ApiError> {
    let region = scope.region.as_str();
    let valid = if scope.service == "iam" {
        region == "us-east-1"
    } else {
        let parts: Vec<&str> = region.split('-').collect();
        match parts.as_slice() {
            [area, name @ .., number] if !name.is_empty() && name.len() <= 2 => {
                ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", "cn"].contains(area)
                    && name.iter().all(|n| {
                        !n.is_empty() && n.len() <= 16 && n.bytes().all(|b| b.is_ascii_lowercase())
                    })
                    && (1..=2).contains(&number.len())
                    && number.bytes().all(|b| b.is_ascii_digit())
            }
            _ => false,
        }
    };
    if valid {
        return Ok(());
    }
    let shown: String = region.chars().take(64).collect();
    Err(ApiError::new(
        "SignatureDoesNotMatch",
        StatusCode::FORBIDDEN,
        format!("Credential should be scoped to a valid region, not '{shown}'. "),
    ))
}

/// The global condition keys of a request.
pub(crate) fn context(caller: &Caller, origin: &Origin, now: i64) -> Context {
    let mut ctx = Context::new();
    for (k, v) in caller.principal.condition_keys() {
        ctx.insert(k, v);
    }
    ctx.insert("aws:CurrentTime", crate::time::iso8601(now))
        .insert("aws:EpochTime", now.to_string())
        .insert("aws:SecureTransport", origin.secure.to_string())
        .insert("aws:RequestedRegion", "us-east-1");
    if let Some(ip) = &origin.source_ip {
        ctx.insert("aws:SourceIp", ip.as_str());
    }
    if let Some(ua) = &origin.user_agent {
        ctx.insert("aws:UserAgent", ua.as_str());
    }
    if let Some(s) = &caller.session {
        ctx.insert("aws:userid", s.assumed_role_id())
            .insert("aws:TokenIssueTime", crate::time::iso8601(s.issued));
        if let Some(src) = &s.source_identity {
            ctx.insert("aws:SourceIdentity", src.as_str());
        }
        for (k, v) in &s.tags {
            ctx.insert(format!("aws:PrincipalTag/{k}"), v.as_str());
        }
    } else {
        ctx.insert("aws:userid", caller.account.as_str());
    }
    ctx
}

/// The policy that stands in for one that can no longer be read: fail closed.
const DENY_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;

/// Adds `aws:RequestTag/K` for each tag and `aws:TagKeys` (when there are tags).
pub(crate) fn add_request_tags(ctx: &mut Context, tags: &[(String, String)]) {
    for (k, v) in tags {
        ctx.insert(format!("aws:RequestTag/{k}"), v.as_str());
    }
    if !tags.is_empty() {
        ctx.insert_multi("aws:TagKeys", tags.iter().map(|(k, _)| k.as_str()));
    }
}

/// The policies that bound what a caller may do.
#[derive(Default)]
struct CallerPolicies {
    identity: Vec<CompiledPolicy>,
    boundary: Option<CompiledPolicy>,
    session: Vec<CompiledPolicy>,
}

/// A root caller holds its account's permissions with no policy; a role
/// session has its role's current policies (inline and attached), its
/// boundary, and the session policies it was created with.
fn caller_policies(
    state: &State,
    store: &dyn Store,
    caller: &Caller,
) -> Result<CallerPolicies, ApiError> {
    let Some(s) = &caller.session else {
        return Ok(CallerPolicies::default());
    };
    let mut out = CallerPolicies::default();
    // A session belongs to the role it was issued for, named by its unique
    // id: once that role is deleted, a role created later under the same
    // name is another role and grants the old session nothing.
    let Some(role) = store
        .role(&s.account, &s.role_name)?
        .filter(|r| r.id == s.role_id)
    else {
        // The role is gone: the session keeps no permission.
        return Ok(out);
    };
    for (name, doc) in store.role_policies(&s.account, &role.name)? {
        out.identity
            .push(state.compile(&format!("{} (inline {name})", role.arn()), &doc)?);
    }
    for arn in store.attached_role_policies(&s.account, &role.name)? {
        if let Some(doc) = crate::iam::managed_policy_document(state, store, &s.account, &arn)? {
            out.identity.push(state.compile(&arn, &doc)?);
        }
    }
    if let Some(arn) = &role.boundary {
        let doc =
            crate::iam::managed_policy_document(state, store, &s.account, arn)?.unwrap_or_default();
        // A boundary that no longer exists allows nothing.
        out.boundary = Some(match state.compile(arn, &doc) {
            Ok(p) => p,
            Err(_) => state.compile(arn, DENY_ALL)?,
        });
    }
    if let Some(doc) = &s.policy {
        out.session.push(state.compile("session policy", doc)?);
    }
    for arn in &s.policy_arns {
        let doc =
            crate::iam::managed_policy_document(state, store, &s.account, arn)?.unwrap_or_default();
        if let Ok(p) = state.compile(arn, &doc) {
            out.session.push(p);
        }
    }
    // Session policies that can no longer be read allow nothing.
    if (s.policy.is_some() || !s.policy_arns.is_empty()) && out.session.is_empty() {
        out.session.push(state.compile("session policy", DENY_ALL)?);
    }
    Ok(out)
}

/// The decision for `action` on `resource` by the caller, with an optional
/// resource-based policy (a role's trust policy for AssumeRole).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide(
    state: &State,
    store: &dyn Store,
    caller: &Caller,
    ctx: &Context,
    action: &str,
    resource: &str,
    resource_account: Option<&str>,
    resource_policy: Option<&CompiledPolicy>,
    resource_must_allow: bool,
) -> Result<Decision, ApiError> {
    let p = caller_policies(state, store, caller)?;
    let set = PolicySet {
        identity: &p.identity,
        resource: resource_policy,
        boundary: p.boundary.as_ref(),
        session: &p.session,
        resource_must_allow,
    };
    let req = Request {
        principal: &caller.principal,
        action,
        resource,
        resource_account: resource_account.or(Some(&caller.account)),
        context: ctx,
    };
    Ok(authorize(&req, &set))
}

/// Decides `action` on `resource` (in the caller's account) with the policy
/// engine; a denial is AWS's AccessDenied with its reason.
pub(crate) fn check(
    state: &State,
    store: &dyn Store,
    caller: &Caller,
    ctx: &Context,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    let decision = decide(
        state, store, caller, ctx, action, resource, None, None, false,
    )?;
    if decision.is_allowed() {
        return Ok(());
    }
    Err(ApiError::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {}",
        caller.arn(),
        decision.reason(action)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_session_credentials_are_refused_as_aws_does() {
        let dir = tempfile::tempdir().unwrap();
        let key = store::MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
        let store: std::sync::Arc<dyn store::Store + Send + Sync> =
            std::sync::Arc::new(store::SqliteStore::open(dir.path(), key).unwrap());
        let state = State::new(store, "http://127.0.0.1:1", None).unwrap();
        let session = Session {
            account: "123456789012".into(),
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            role_id: "AROAAAAAAAAAAAAAAAAAA".into(),
            role_name: "app".into(),
            name: "s".into(),
            access_key: "ASIAAAAAAAAAAAAAAAAA".into(),
            secret: "x".repeat(40),
            issued: 1_000,
            expires: 2_000,
            policy: None,
            policy_arns: vec![],
            source_identity: None,
            tags: vec![],
            chained: false,
        };
        let token = state.ring.seal(&session).unwrap();
        let base = [("host", "127.0.0.1:1")];
        let req = sigv4::HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
            body: b"Action=GetCallerIdentity&Version=2011-06-15",
        };
        let at = |now: i64| {
            let mut headers: Vec<(String, String)> = base
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            headers.extend(sigv4::sign(
                &req,
                &session.access_key,
                &session.secret,
                Some(&token),
                "us-east-1",
                "sts",
                now,
            ));
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            authenticate(&state, &sigv4::HttpRequest { headers: &h, ..req }, now)
                .map(|(c, _)| c.arn())
        };
        assert_eq!(
            at(1_500).unwrap(),
            "arn:aws:sts::123456789012:assumed-role/app/s"
        );
        let e = at(2_000).unwrap_err();
        assert_eq!(
            (e.code(), e.message()),
            (
                "ExpiredToken",
                "The security token included in the request is expired"
            )
        );
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
    }
}
