//! The IAM policy simulator: `SimulatePrincipalPolicy` and `SimulateCustomPolicy`,
//! answered by the same policy engine that authorizes every real call.
//! Reference: API_SimulatePrincipalPolicy.html, API_SimulateCustomPolicy.html.

use policy::{
    CompiledPolicy, Context, Decision, PolicySet, PolicyUse, Principal, Request, StatementRef,
};

use super::{Call, managed_policy_document, page, paging, write_paging};
use crate::error::ApiError;
use crate::protocol::xml::Xml;
use crate::validate::Checker;

type Answer = Result<Option<Xml>, ApiError>;

/// A policy taking part in a simulation, with what the simulator reports of it.
struct Source {
    compiled: CompiledPolicy,
    /// `SourcePolicyType`: role, aws-managed, user-managed, resource, none.
    kind: &'static str,
    text: String,
}

fn list_of(call: &Call<'_>, c: &mut Checker, name: &str, required: bool) -> Vec<String> {
    match call.params.list(name) {
        Some(v) => v,
        None => {
            if required {
                c.null(name);
            }
            Vec::new()
        }
    }
}

/// Reads `ContextEntries.member.N.{ContextKeyName, ContextKeyValues, ContextKeyType}`.
fn context_entries(call: &Call<'_>, c: &mut Checker) -> Context {
    let mut ctx = Context::new();
    for i in 1.. {
        let prefix = format!("ContextEntries.member.{i}");
        let Some(name) = call.params.get(&format!("{prefix}.ContextKeyName")) else {
            break;
        };
        c.string(
            &format!("contextEntries.{i}.member.contextKeyName"),
            name,
            5,
            256,
            None,
        );
        let values = call
            .params
            .list(&format!("{prefix}.ContextKeyValues"))
            .unwrap_or_default();
        let kind = call
            .params
            .get(&format!("{prefix}.ContextKeyType"))
            .unwrap_or("string");
        c.one_of(
            &format!("ContextEntries.{i}.member.ContextKeyType"),
            Some(kind),
            &[
                "string",
                "stringList",
                "numeric",
                "numericList",
                "boolean",
                "booleanList",
                "ip",
                "ipList",
                "binary",
                "binaryList",
                "date",
                "dateList",
            ],
        );
        if kind.ends_with("List") || values.len() != 1 {
            ctx.insert_multi(name, values);
        } else if let Some(v) = values.into_iter().next() {
            ctx.insert(name, v);
        }
    }
    ctx
}

fn compile_input(
    call: &Call<'_>,
    id: String,
    kind: &'static str,
    text: &str,
    use_: PolicyUse,
) -> Result<Source, ApiError> {
    let doc = policy::validate_with_limit(text, use_, usize::MAX)
        .map_err(|e| ApiError::invalid_input(format!("{id}: {e}")))?;
    Ok(Source {
        compiled: call
            .state
            .compile(&id, text)
            .unwrap_or_else(|_| CompiledPolicy::new(id.clone(), doc)),
        kind,
        text: text.to_string(),
    })
}

/// The simulated caller of SimulateCustomPolicy: `CallerArn`, or a user of the
/// caller's account.
fn custom_principal(call: &Call<'_>, caller_arn: Option<&str>) -> Result<Principal, ApiError> {
    match caller_arn {
        Some(arn) => Principal::from_arn(arn).map_err(|e| ApiError::invalid_input(e.to_string())),
        None => Ok(Principal::User {
            arn: call.arn("user/SimulatedPrincipal"),
            account: call.account().to_string(),
            name: "SimulatedPrincipal".into(),
        }),
    }
}

pub(super) fn principal_policy(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let source = call
        .params
        .req(&mut c, "PolicySourceArn", 20, 2048, None)
        .to_string();
    let input = inputs(call, &mut c, false);
    c.finish()?;
    call.authorize(&source)?;
    // Roles are the principals irsa holds: the source is a role ARN.
    let role = source
        .strip_prefix(&format!("arn:aws:iam::{}:role/", call.account()))
        .and_then(|rest| rest.rsplit('/').next())
        .map(|name| call.store.role(call.account(), name))
        .transpose()?
        .flatten()
        .filter(|r| r.arn() == source)
        .ok_or_else(|| {
            ApiError::no_such_entity(format!("Role {source} does not exist in this account."))
        })?;
    let mut identity = Vec::new();
    for (name, doc) in call.store.role_policies(call.account(), &role.name)? {
        identity.push(compile_input(
            call,
            name,
            "role",
            &doc,
            PolicyUse::InlineRole,
        )?);
    }
    for arn in call
        .store
        .attached_role_policies(call.account(), &role.name)?
    {
        if let Some(doc) = managed_policy_document(call.state, call.store, call.account(), &arn)? {
            let kind = if arn.starts_with("arn:aws:iam::aws:") {
                "aws-managed"
            } else {
                "user-managed"
            };
            identity.push(compile_input(call, arn, kind, &doc, PolicyUse::InlineRole)?);
        }
    }
    identity.extend(compile_given(
        call,
        "PolicyInputList",
        &input.policies,
        PolicyUse::InlineRole,
    )?);
    // The role's own boundary, unless the request gives boundaries to try.
    let mut boundary = compile_given(
        call,
        "PermissionsBoundaryPolicyInputList",
        &input.boundaries,
        PolicyUse::Managed,
    )?;
    if let Some(arn) = role
        .boundary
        .as_ref()
        .filter(|_| input.boundaries.is_empty())
        && let Some(doc) = managed_policy_document(call.state, call.store, call.account(), arn)?
    {
        boundary.push(compile_input(
            call,
            arn.clone(),
            "none",
            &doc,
            PolicyUse::Managed,
        )?);
    }
    let principal = match input.caller_arn {
        Some(arn) => {
            Principal::from_arn(arn).map_err(|e| ApiError::invalid_input(e.to_string()))?
        }
        None => Principal::AssumedRole {
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/SimulatedSession",
                call.account(),
                role.name
            ),
            role_arn: role.arn(),
            account: call.account().to_string(),
        },
    };
    simulate(call, &principal, identity, boundary, input)
}

pub(super) fn custom_policy(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let input = inputs(call, &mut c, true);
    c.finish()?;
    call.authorize("*")?;
    let identity = compile_given(
        call,
        "PolicyInputList",
        &input.policies,
        PolicyUse::InlineRole,
    )?;
    let boundary = compile_given(
        call,
        "PermissionsBoundaryPolicyInputList",
        &input.boundaries,
        PolicyUse::Managed,
    )?;
    let principal = custom_principal(call, input.caller_arn)?;
    simulate(call, &principal, identity, boundary, input)
}

/// The inputs both simulator actions share.
struct Inputs<'a> {
    policies: Vec<String>,
    boundaries: Vec<String>,
    actions: Vec<String>,
    resources: Vec<String>,
    context: Context,
    resource_policy: Option<String>,
    resource_owner: Option<String>,
    caller_arn: Option<&'a str>,
    marker: Option<String>,
    max_items: Option<i64>,
}

fn inputs<'a>(call: &'a Call<'_>, c: &mut Checker, policies_required: bool) -> Inputs<'a> {
    let policies = list_of(call, c, "PolicyInputList", policies_required);
    let boundaries = list_of(call, c, "PermissionsBoundaryPolicyInputList", false);
    let actions = list_of(call, c, "ActionNames", true);
    for (i, a) in actions.iter().enumerate() {
        c.string(&format!("actionNames.{}.member", i + 1), a, 3, 128, None);
    }
    let resources = list_of(call, c, "ResourceArns", false);
    let context = context_entries(call, c);
    let resource_policy = call
        .params
        .opt(c, "ResourcePolicy", 1, 131_072, None)
        .map(str::to_string);
    let resource_owner = call
        .params
        .opt(c, "ResourceOwner", 1, 2048, None)
        .map(str::to_string);
    let caller_arn = call.params.opt(c, "CallerArn", 1, 2048, None);
    let (marker, max_items) = paging(c, call.params);
    Inputs {
        policies,
        boundaries,
        actions,
        resources,
        context,
        resource_policy,
        resource_owner,
        caller_arn,
        marker,
        max_items,
    }
}

/// Compiles request-given policies, named `NAME.N` as AWS names them.
fn compile_given(
    call: &Call<'_>,
    name: &str,
    texts: &[String],
    use_: PolicyUse,
) -> Result<Vec<Source>, ApiError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| compile_input(call, format!("{name}.{}", i + 1), "none", text, use_))
        .collect()
}

/// An existing bucket named by a simulated resource: its owner and policy.
struct Bucket {
    owner: String,
    policy: Option<Source>,
}

/// The bucket `resource` names, when it is an S3 ARN of an existing bucket.
fn bucket(
    call: &Call<'_>,
    principal: &Principal,
    resource: &str,
) -> Result<Option<Bucket>, ApiError> {
    let Some(s3) = &call.state.s3 else {
        return Ok(None);
    };
    let found = s3
        .authority(resource, principal.account())
        .map_err(|e| ApiError::internal(e.message))?;
    Ok(found.map(|b| Bucket {
        owner: b.account,
        policy: b.policy.map(|(text, compiled)| Source {
            compiled,
            kind: "resource",
            text,
        }),
    }))
}

/// One simulated (action, resource) pair.
struct Outcome {
    /// Which of the resources (for its bucket policy).
    resource_at: usize,
    action: String,
    resource: String,
    decision: Decision,
    matched: Vec<StatementRef>,
    missing: Vec<String>,
    boundary_allows: Option<bool>,
}

fn simulate(
    call: &Call<'_>,
    principal: &Principal,
    identity: Vec<Source>,
    boundary: Vec<Source>,
    input: Inputs<'_>,
) -> Answer {
    let Inputs {
        actions,
        resources,
        context: given,
        resource_policy,
        resource_owner: owner,
        marker,
        max_items,
        ..
    } = input;
    let resource = match &resource_policy {
        Some(text) => Some(compile_input(
            call,
            "ResourcePolicy".into(),
            "resource",
            text,
            PolicyUse::Resource,
        )?),
        None => None,
    };
    let mut ctx = given;
    for (k, v) in principal.condition_keys() {
        ctx.insert_default(k, &v);
    }
    let identity_set: Vec<CompiledPolicy> = identity.iter().map(|s| s.compiled.clone()).collect();
    let boundary_policy = boundary.first().map(|s| s.compiled.clone());
    let resources: Vec<String> = if resources.is_empty() {
        vec!["*".into()]
    } else {
        resources
    };
    // Without a ResourcePolicy, an existing bucket's own policy and owner take
    // part, as they do in the real request (the console simulator does the
    // same for S3; the API alone would leave them out).
    let buckets: Vec<Option<Bucket>> = if resource_policy.is_some() {
        resources.iter().map(|_| None).collect()
    } else {
        resources
            .iter()
            .map(|res| bucket(call, principal, res))
            .collect::<Result<_, _>>()?
    };
    let mut outcomes = Vec::new();
    for action in &actions {
        for (at, (res, bucket)) in resources.iter().zip(&buckets).enumerate() {
            let resource_source = match bucket {
                Some(b) => b.policy.as_ref(),
                None => resource.as_ref(),
            };
            let set = PolicySet {
                identity: &identity_set,
                resource: resource_source.map(|s| &s.compiled),
                boundary: boundary_policy.as_ref(),
                session: &[],
                resource_must_allow: false,
            };
            let resource_account = owner
                .as_deref()
                .or(bucket.as_ref().map(|b| b.owner.as_str()))
                .or(principal.account());
            let req = Request {
                principal,
                action,
                resource: res,
                resource_account,
                context: &ctx,
            };
            let eval = policy::explain(&req, &set);
            let boundary_allows = boundary_policy.as_ref().map(|b| {
                let only = PolicySet {
                    identity: std::slice::from_ref(b),
                    ..PolicySet::default()
                };
                policy::authorize(&req, &only).is_allowed()
            });
            outcomes.push(Outcome {
                resource_at: at,
                action: action.clone(),
                resource: res.clone(),
                decision: eval.decision,
                matched: eval.matched,
                missing: policy::missing_context_keys(&req, &set),
                boundary_allows,
            });
        }
    }
    let (outcomes, next) = page(
        outcomes,
        |o| format!("{}\u{0}{}", o.action, o.resource),
        marker.as_deref(),
        max_items,
    );
    let source_of = |o: &Outcome, at: &StatementRef| -> Option<&Source> {
        match at.kind {
            policy::PolicyKind::IdentityBased => identity.get(at.policy),
            policy::PolicyKind::PermissionsBoundary => boundary.get(at.policy),
            policy::PolicyKind::ResourceBased => match buckets.get(o.resource_at) {
                Some(Some(b)) => b.policy.as_ref(),
                _ => resource.as_ref(),
            },
            policy::PolicyKind::Session => None,
        }
    };
    let mut x = Xml::default();
    x.list("EvaluationResults", &outcomes, |x, o| {
        let decision = match o.decision {
            Decision::Allow(_) => "allowed",
            Decision::ExplicitDeny(_) => "explicitDeny",
            Decision::ImplicitDeny(_) => "implicitDeny",
        };
        x.text("EvalActionName", &o.action)
            .text("EvalResourceName", &o.resource)
            .text("EvalDecision", decision);
        x.list("MatchedStatements", &o.matched, |x, at| {
            let Some(src) = source_of(o, at) else { return };
            x.text("SourcePolicyId", src.compiled.id())
                .text("SourcePolicyType", src.kind);
            if let Some((start, end)) = policy::statement_spans(&src.text)
                .get(at.statement)
                .copied()
            {
                let (l1, c1) = policy::line_column(&src.text, start);
                let (l2, c2) = policy::line_column(&src.text, end);
                x.open("StartPosition")
                    .text("Line", &l1.to_string())
                    .text("Column", &c1.to_string())
                    .close("StartPosition");
                x.open("EndPosition")
                    .text("Line", &l2.to_string())
                    .text("Column", &c2.to_string())
                    .close("EndPosition");
            }
        });
        x.strings("MissingContextValues", &o.missing);
        if let Some(allowed) = o.boundary_allows {
            x.open("PermissionsBoundaryDecisionDetail")
                .text(
                    "AllowedByPermissionsBoundary",
                    if allowed { "true" } else { "false" },
                )
                .close("PermissionsBoundaryDecisionDetail");
        }
    });
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}
