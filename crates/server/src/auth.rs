//! Who is calling: SigV4 verification against the caller's secret, and the
//! decision of the policy engine for what they ask.

use policy::{Context, PolicySet, Principal, Request, authorize};

use crate::error::ApiError;
use crate::state::State;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The caller's account.
    pub(crate) account: String,
    /// The principal, for policy evaluation.
    pub(crate) principal: Principal,
}

impl Caller {
    /// The ARN AWS names the caller by (GetCallerIdentity, AccessDenied).
    pub(crate) fn arn(&self) -> String {
        self.principal.arn()
    }

    /// The `UserId` of GetCallerIdentity: the account id for root.
    pub(crate) fn user_id(&self) -> String {
        match &self.principal {
            Principal::Root { account } => account.clone(),
            other => other.arn(),
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

/// Verifies the request's SigV4 signature and returns the caller and the
/// credential scope's service.
pub(crate) fn authenticate(
    state: &State,
    req: &sigv4::HttpRequest<'_>,
    now: i64,
) -> Result<(Caller, String), ApiError> {
    let claim = sigv4::read_claim(req).map_err(|e| ApiError::signature(&e))?;
    let Some(key) = state.access_key(&claim.access_key)? else {
        return Err(ApiError::new(
            "InvalidClientTokenId",
            axum::http::StatusCode::FORBIDDEN,
            "The security token included in the request is invalid.",
        ));
    };
    sigv4::verify(req, &claim, &key.secret, now).map_err(|e| ApiError::signature(&e))?;
    let caller = Caller {
        principal: Principal::Root {
            account: key.account.clone(),
        },
        account: key.account,
    };
    Ok((caller, claim.scope.service))
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
    ctx
}

/// Decides `action` on `resource` for the caller with the policy engine;
/// a denial is AWS's AccessDenied with its reason.
pub(crate) fn check(
    state: &State,
    caller: &Caller,
    ctx: &Context,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    let identity = identity_policies(state, caller)?;
    let set = PolicySet {
        identity: &identity,
        ..PolicySet::default()
    };
    let req = Request {
        principal: &caller.principal,
        action,
        resource,
        resource_account: Some(&caller.account),
        context: ctx,
    };
    let decision = authorize(&req, &set);
    if decision.is_allowed() {
        return Ok(());
    }
    Err(ApiError::access_denied(format!(
        "User: {} is not authorized to perform: {action} on resource: {resource} {}",
        caller.arn(),
        decision.reason(action)
    )))
}

/// The caller's identity-based policies: none for an account root, which holds
/// every permission of its account. Other callers fail closed until their
/// policies can be loaded.
fn identity_policies(
    _state: &State,
    caller: &Caller,
) -> Result<Vec<policy::CompiledPolicy>, ApiError> {
    match caller.principal {
        Principal::Root { .. } => Ok(Vec::new()),
        _ => Err(ApiError::internal(format!(
            "no identity policies can be loaded for {}",
            caller.arn()
        ))),
    }
}
