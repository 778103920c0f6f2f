//! STS: web identity federation, role assumption and the caller's identity.
//!
//! References: API_AssumeRoleWithWebIdentity.html, API_AssumeRole.html,
//! API_GetCallerIdentity.html; wire details in `docs/sts-eks-reference.md`.

use axum::http::StatusCode;
use policy::{Context, PolicySet, PolicyUse, Principal, Request};
use store::Role;

use crate::auth::{self, Caller, Origin};
use crate::error::ApiError;
use crate::ids;
use crate::protocol::query::Params;
use crate::protocol::xml::Xml;
use crate::session::Session;
use crate::state::State;
use crate::time::iso8601;
use crate::validate::{Checker, Pattern};

/// STS's XML namespace.
pub(crate) const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// STS's API version.
pub(crate) const VERSION: &str = "2011-06-15";
/// The longest session a chained AssumeRole may ask for.
const CHAINED_MAX_SECONDS: i64 = 3600;
/// Session policies (inline, ARNs and tags together) must pack into this many
/// characters (PackedPolicySize is the percentage used).
const PACKED_LIMIT: usize = 2048;

/// Actions answered without a signature.
pub(crate) fn is_unsigned(action: &str) -> bool {
    action == "AssumeRoleWithWebIdentity"
}

/// Handles an STS action.
pub(crate) async fn handle(
    state: &State,
    action: &str,
    params: &Params,
    caller: Option<&Caller>,
    origin: &Origin,
    now: i64,
) -> Result<Option<Xml>, ApiError> {
    match (action, caller) {
        ("AssumeRoleWithWebIdentity", _) => web_identity(state, params, origin, now).await,
        // No permission is needed to call GetCallerIdentity, and an explicit deny
        // cannot block it (its API reference).
        ("GetCallerIdentity", Some(caller)) => {
            let mut x = Xml::default();
            x.text("Arn", &caller.arn())
                .text("UserId", &caller.user_id())
                .text("Account", &caller.account);
            Ok(Some(x))
        }
        ("AssumeRole", Some(caller)) => assume_role(state, params, caller, origin, now),
        (other, _) => Err(crate::invalid_action(other, VERSION)),
    }
}

fn access_denied_web_identity() -> ApiError {
    ApiError::access_denied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
}

fn invalid_token(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidIdentityToken", StatusCode::BAD_REQUEST, message)
}

/// The common parameters of AssumeRole and AssumeRoleWithWebIdentity.
struct Common {
    role_arn: String,
    session_name: String,
    duration: Option<i64>,
    policy: Option<String>,
    policy_arns: Vec<String>,
}

fn common(params: &Params, c: &mut Checker) -> Common {
    let role_arn = params.req(c, "RoleArn", 20, 2048, None).to_string();
    let session_name = params
        .req(c, "RoleSessionName", 2, 64, Some(Pattern::SessionName))
        .to_string();
    let duration = params.int(c, "DurationSeconds");
    c.range("DurationSeconds", duration, 900, 43_200);
    let policy = params
        .opt(c, "Policy", 1, 131_072, Some(Pattern::PolicyDocument))
        .map(str::to_string);
    let mut policy_arns = Vec::new();
    for i in 1.. {
        let Some(arn) = params.get(&format!("PolicyArns.member.{i}.arn")) else {
            break;
        };
        c.string(&format!("PolicyArns.{i}.member.arn"), arn, 20, 2048, None);
        policy_arns.push(arn.to_string());
    }
    Common {
        role_arn,
        session_name,
        duration,
        policy,
        policy_arns,
    }
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → the role, if it exists with that ARN.
fn target_role(state: &State, arn: &str) -> Result<Option<Role>, ApiError> {
    let Some(rest) = arn.strip_prefix("arn:aws:iam::") else {
        return Ok(None);
    };
    let Some((account, path_name)) = rest.split_once(":role/") else {
        return Ok(None);
    };
    let name = path_name.rsplit('/').next().unwrap_or_default();
    if !policy::is_account_id(account) || name.is_empty() {
        return Ok(None);
    }
    Ok(state.store.role(account, name)?.filter(|r| r.arn() == arn))
}

/// Checks session policies and returns PackedPolicySize (percent of the limit).
fn session_policies(
    state: &State,
    account: &str,
    common: &Common,
    tags: usize,
) -> Result<Option<usize>, ApiError> {
    if let Some(p) = &common.policy {
        policy::validate_with_limit(p, PolicyUse::Session, usize::MAX)
            .map_err(|e| ApiError::policy(&e))?;
    }
    if common.policy_arns.len() > 10 {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10".into(),
        ));
    }
    for arn in &common.policy_arns {
        if crate::iam::managed_policy_document(state, state.store.as_ref(), account, arn)?.is_none()
        {
            return Err(ApiError::invalid_input(format!(
                "Policy {arn} does not exist or is not attachable."
            )));
        }
    }
    if common.policy.is_none() && common.policy_arns.is_empty() && tags == 0 {
        return Ok(None);
    }
    let packed = common.policy.as_deref().map_or(0, policy::policy_size)
        + common.policy_arns.iter().map(String::len).sum::<usize>()
        + tags;
    let percent = packed * 100 / PACKED_LIMIT;
    if packed > PACKED_LIMIT {
        return Err(ApiError::new(
            "PackedPolicyTooLarge",
            StatusCode::BAD_REQUEST,
            format!(
                "Packed size of the session policies and tags consumes {percent}% of allotted space."
            ),
        ));
    }
    Ok(Some(percent))
}

fn duration(role: &Role, asked: Option<i64>, chained: bool) -> Result<i64, ApiError> {
    let d = asked.unwrap_or(3600);
    if chained && d > CHAINED_MAX_SECONDS {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into(),
        ));
    }
    if d > role.max_session_duration {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .into(),
        ));
    }
    Ok(d)
}

struct Mint<'a> {
    role: &'a Role,
    common: &'a Common,
    source_identity: Option<String>,
    tags: Vec<(String, String)>,
    chained: bool,
    seconds: i64,
}

fn mint(state: &State, m: Mint<'_>, now: i64) -> Result<(Session, String), ApiError> {
    let session = Session {
        account: m.role.account.clone(),
        role_arn: m.role.arn(),
        role_id: m.role.id.clone(),
        role_name: m.role.name.clone(),
        name: m.common.session_name.clone(),
        access_key: ids::access_key_id("ASIA")?,
        secret: ids::secret_access_key()?,
        issued: now,
        expires: now + m.seconds,
        policy: m.common.policy.clone(),
        policy_arns: m.common.policy_arns.clone(),
        source_identity: m.source_identity,
        tags: m.tags,
        chained: m.chained,
    };
    let token = state.ring.seal(&session)?;
    crate::metrics::credentials_issued(&session.account, &session.role_name);
    Ok((session, token))
}

fn write_credentials(x: &mut Xml, s: &Session, token: &str) {
    x.open("Credentials")
        .text("AccessKeyId", &s.access_key)
        .text("SecretAccessKey", &s.secret)
        .text("SessionToken", token)
        .text("Expiration", &iso8601(s.expires))
        .close("Credentials");
    x.open("AssumedRoleUser")
        .text("AssumedRoleId", &s.assumed_role_id())
        .text("Arn", &s.arn())
        .close("AssumedRoleUser");
}

/// Session tags and source identity from a web identity token's AWS claims.
fn token_tags(payload: &serde_json::Value) -> (Vec<(String, String)>, Option<String>) {
    let tags = payload
        .get("https://aws.amazon.com/tags")
        .and_then(|t| t.get("principal_tags"))
        .and_then(|t| t.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let value = v.as_array().and_then(|a| a.first()).or(Some(v))?.as_str()?;
                    Some((k.clone(), value.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    let source = payload
        .get("https://aws.amazon.com/source_identity")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    (tags, source)
}

/// The links of the web identity chain, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// The token is a JWT.
    Token,
    /// The role exists.
    Role,
    /// The token's issuer is an OIDC provider of the role's account.
    Provider,
    /// The issuer's keys can be had.
    Keys,
    /// Signature and validity times.
    Signature,
    /// `aud` is one of the provider's client ids.
    Audience,
    /// The role's trust policy allows the token's subject.
    Trust,
}

/// A web identity token that passed every link: what STS mints a session from.
#[derive(Debug)]
pub(crate) struct Trusted {
    pub(crate) role: Role,
    pub(crate) claims: oidc::Claims,
    pub(crate) provider_arn: String,
    pub(crate) audience: String,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) source_identity: Option<String>,
}

/// Where and why a web identity token was refused, with what the trust
/// policy saw (for explanations).
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) link: Link,
    pub(crate) error: ApiError,
    /// The trust policy and the request context it was evaluated with.
    pub(crate) trust: Option<(policy::CompiledPolicy, Principal, Context)>,
    /// The provider's client ids, once the provider was found.
    pub(crate) client_ids: Vec<String>,
    /// The token's claims, once the token decoded.
    pub(crate) claims: Option<oidc::Claims>,
}

fn refused(link: Link, error: ApiError) -> Refused {
    Refused {
        link,
        error,
        trust: None,
        client_ids: Vec::new(),
        claims: None,
    }
}

/// Every check of AssumeRoleWithWebIdentity before a session is minted: the
/// one code path that STS answers with and `irsa doctor` explains.
pub(crate) async fn check_web_identity(
    state: &State,
    role_arn: &str,
    session_name: &str,
    token: &str,
    origin: &Origin,
    now: i64,
) -> Result<Trusted, Refused> {
    let unverified = oidc::Unverified::parse(token)
        .map_err(|e| refused(Link::Token, invalid_token(e.to_string())))?;
    let with_claims = |mut r: Refused| {
        r.claims = Some(unverified.claims.clone());
        r
    };
    let issuer = unverified.claims.iss.clone();
    let role = target_role(state, role_arn)
        .map_err(|e| refused(Link::Role, e))?
        .ok_or_else(|| with_claims(refused(Link::Role, access_denied_web_identity())))?;
    // The provider is looked up by the token's issuer in the role's account.
    // The token's `iss` is quoted (as AWS does) but never more than 256
    // characters of it: a 20 KB issuer is not worth storing in every error.
    let no_provider = || {
        let shown: String = issuer.chars().take(256).collect();
        let more = if shown.len() < issuer.len() {
            "…"
        } else {
            ""
        };
        invalid_token(format!(
            "No OpenIDConnect provider found in your account for {shown}{more}"
        ))
    };
    let key = crate::iam::provider_key(&issuer)
        .map_err(|_| with_claims(refused(Link::Provider, no_provider())))?;
    let provider_arn = format!("arn:aws:iam::{}:oidc-provider/{key}", role.account);
    let provider = state
        .store
        .oidc_provider(&provider_arn)
        .map_err(|e| refused(Link::Provider, e.into()))?
        .ok_or_else(|| with_claims(refused(Link::Provider, no_provider())))?;
    let with_provider = |r: Refused| {
        let mut r = with_claims(r);
        r.client_ids = provider.client_ids.clone();
        r
    };
    let keys = state
        .issuers
        .keys(state, &provider.url, unverified.kid.as_deref())
        .await
        .map_err(|e| with_provider(refused(Link::Keys, e)))?;
    let claims = oidc::verify(token, &keys, now).map_err(|e| {
        let error = match e {
            oidc::TokenError::Expired { .. } => ApiError::new(
                "ExpiredTokenException",
                StatusCode::BAD_REQUEST,
                e.to_string(),
            ),
            other => invalid_token(other.to_string()),
        };
        with_provider(refused(Link::Signature, error))
    })?;
    let Some(audience) = claims
        .aud
        .iter()
        .find(|a| provider.client_ids.contains(a))
        .cloned()
    else {
        return Err(with_provider(refused(
            Link::Audience,
            invalid_token("Incorrect token audience"),
        )));
    };
    let (tags, source_identity) = token_tags(&claims.payload);

    // The trust policy decides, with the keys AWS supplies for OIDC providers.
    let principal = Principal::WebIdentity {
        provider: provider_arn.clone(),
    };
    let mut ctx = Context::new();
    ctx.insert(format!("{key}:sub"), claims.sub.as_str())
        .insert(format!("{key}:aud"), audience.as_str())
        .insert("aws:FederatedProvider", provider_arn.as_str())
        .insert("sts:RoleSessionName", session_name)
        .insert("aws:CurrentTime", iso8601(now))
        .insert("aws:EpochTime", now.to_string())
        .insert("aws:SecureTransport", origin.secure.to_string())
        .insert("aws:PrincipalType", "WebIdentityUser");
    if let Some(ip) = &origin.source_ip {
        ctx.insert("aws:SourceIp", ip.as_str());
    }
    if let Some(s) = &source_identity {
        ctx.insert("sts:SourceIdentity", s.as_str());
    }
    auth::add_request_tags(&mut ctx, &tags);
    let trust = state
        .compile(&role.arn(), &role.trust_policy)
        .map_err(|e| with_provider(refused(Link::Trust, e)))?;
    let trusted = |action: &str| {
        let set = PolicySet {
            resource: Some(&trust),
            resource_must_allow: true,
            ..PolicySet::default()
        };
        let req = Request {
            principal: &principal,
            action,
            resource: role_arn,
            resource_account: Some(&role.account),
            context: &ctx,
        };
        policy::authorize(&req, &set).is_allowed()
    };
    if !trusted("sts:AssumeRoleWithWebIdentity")
        || (!tags.is_empty() && !trusted("sts:TagSession"))
        || (source_identity.is_some() && !trusted("sts:SetSourceIdentity"))
    {
        let mut r = with_provider(refused(Link::Trust, access_denied_web_identity()));
        r.claims = Some(claims);
        r.trust = Some((trust, principal, ctx));
        return Err(r);
    }
    Ok(Trusted {
        role,
        claims,
        provider_arn,
        audience,
        tags,
        source_identity,
    })
}

async fn web_identity(
    state: &State,
    params: &Params,
    origin: &Origin,
    now: i64,
) -> Result<Option<Xml>, ApiError> {
    let mut c = Checker::default();
    let common = common(params, &mut c);
    let token = params
        .req(&mut c, "WebIdentityToken", 4, 20_000, None)
        .trim()
        .to_string();
    c.finish()?;
    let t = check_web_identity(
        state,
        &common.role_arn,
        &common.session_name,
        &token,
        origin,
        now,
    )
    .await
    .map_err(|r| r.error)?;
    let seconds = duration(&t.role, common.duration, false)?;
    let tag_chars = t.tags.iter().map(|(k, v)| k.len() + v.len()).sum();
    let packed = session_policies(state, &t.role.account, &common, tag_chars)?;
    let (session, token) = mint(
        state,
        Mint {
            role: &t.role,
            common: &common,
            source_identity: t.source_identity.clone(),
            tags: t.tags,
            chained: false,
            seconds,
        },
        now,
    )?;
    let mut x = Xml::default();
    write_credentials(&mut x, &session, &token);
    x.text("SubjectFromWebIdentityToken", &t.claims.sub)
        .text("Provider", &t.provider_arn)
        .text("Audience", &t.audience)
        .opt("SourceIdentity", t.source_identity.as_deref());
    if let Some(p) = packed {
        x.text("PackedPolicySize", &p.to_string());
    }
    Ok(Some(x))
}

fn assume_role(
    state: &State,
    params: &Params,
    caller: &Caller,
    origin: &Origin,
    now: i64,
) -> Result<Option<Xml>, ApiError> {
    let mut c = Checker::default();
    let common = common(params, &mut c);
    let external_id = params.opt(&mut c, "ExternalId", 2, 1224, None);
    let source_identity = params.opt(&mut c, "SourceIdentity", 2, 256, Some(Pattern::SessionName));
    let tags = params.tags("Tags").unwrap_or_default();
    c.tags("Tags", &tags);
    c.finish()?;
    if matches!(caller.principal, Principal::Root { .. }) {
        return Err(ApiError::access_denied(
            "Roles may not be assumed by root accounts.",
        ));
    }
    let denied = || {
        ApiError::access_denied(format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
            caller.arn(),
            common.role_arn
        ))
    };
    let role = target_role(state, &common.role_arn)?.ok_or_else(denied)?;
    // A session that set a source identity passes it on; it cannot be changed.
    let inherited = caller
        .session
        .as_ref()
        .and_then(|s| s.source_identity.clone());
    if inherited
        .as_deref()
        .zip(source_identity)
        .is_some_and(|(had, asked)| had != asked)
    {
        return Err(denied());
    }
    let source_identity = inherited.or(source_identity.map(str::to_string));

    let mut ctx = auth::context(caller, origin, now);
    ctx.insert("sts:RoleSessionName", common.session_name.as_str());
    if let Some(e) = external_id {
        ctx.insert("sts:ExternalId", e);
    }
    if let Some(s) = &source_identity {
        ctx.insert("sts:SourceIdentity", s.as_str());
    }
    auth::add_request_tags(&mut ctx, &tags);
    let trust = state.compile(&role.arn(), &role.trust_policy)?;
    let decide = |action: &str| {
        auth::decide(
            state,
            state.store.as_ref(),
            caller,
            &ctx,
            action,
            &common.role_arn,
            Some(&role.account),
            Some(&trust),
            true,
        )
    };
    let mut actions = vec!["sts:AssumeRole"];
    if !tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        if !decide(action)?.is_allowed() {
            return Err(denied());
        }
    }
    let chained = caller.session.is_some();
    let seconds = duration(&role, common.duration, chained)?;
    let packed = session_policies(
        state,
        &role.account,
        &common,
        tags.iter().map(|(k, v)| k.len() + v.len()).sum(),
    )?;
    let (session, token) = mint(
        state,
        Mint {
            role: &role,
            common: &common,
            source_identity: source_identity.clone(),
            tags,
            chained,
            seconds,
        },
        now,
    )?;
    let mut x = Xml::default();
    write_credentials(&mut x, &session, &token);
    if let Some(p) = packed {
        x.text("PackedPolicySize", &p.to_string());
    }
    x.opt("SourceIdentity", source_identity.as_deref());
    Ok(Some(x))
}
