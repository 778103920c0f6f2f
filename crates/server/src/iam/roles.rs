//! Roles, their trust policies, tags, boundaries, inline and attached policies.
//! Reference: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html> and
//! the pages of the other role actions.

use policy::{PolicyUse, policy_size};
use store::{Role, StoreError};

use super::{Call, managed, merge_tags, new_tags, page, paging, write_paging, write_tags};
use crate::error::ApiError;
use crate::ids;
use crate::protocol::xml::{Xml, url_encode};
use crate::time::iso8601;
use crate::validate::{Checker, Pattern};

/// IAM's quota of roles per account.
const ROLES_PER_ACCOUNT: usize = 1000;
/// IAM's quota of managed policies attached to a role.
const POLICIES_PER_ROLE: usize = 10;
/// IAM's limit on the total size of a role's inline policies.
const INLINE_POLICY_BYTES: usize = 10_240;

type Answer = Result<Option<Xml>, ApiError>;

fn role_name<'a>(call: &'a Call<'_>, c: &mut Checker) -> &'a str {
    call.params.req(c, "RoleName", 1, 64, Some(Pattern::Name))
}

fn policy_name<'a>(call: &'a Call<'_>, c: &mut Checker) -> &'a str {
    call.params
        .req(c, "PolicyName", 1, 128, Some(Pattern::Name))
}

fn policy_document<'a>(call: &'a Call<'_>, c: &mut Checker, name: &str) -> &'a str {
    call.params
        .req(c, name, 1, 131_072, Some(Pattern::PolicyDocument))
}

/// The role's ARN for authorization: its own if it exists, else `role/NAME`.
fn find(call: &Call<'_>, name: &str) -> Result<(Option<Role>, String), ApiError> {
    let role = call.store.role(call.account(), name)?;
    let arn = match &role {
        Some(r) => r.arn(),
        None => call.arn(&format!("role/{name}")),
    };
    Ok((role, arn))
}

fn missing(name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The role with name {name} cannot be found."))
}

/// Authorizes the call on the role, then requires it to exist.
fn authorized_role(call: &Call<'_>, name: &str) -> Result<Role, ApiError> {
    let (role, arn) = find(call, name)?;
    call.authorize(&arn)?;
    role.ok_or_else(|| missing(name))
}

/// `<Role>` content in model order; `full` adds what ListRoles leaves out.
pub(super) fn write_role(x: &mut Xml, r: &Role, full: bool) {
    x.text("Path", &r.path)
        .text("RoleName", &r.name)
        .text("RoleId", &r.id)
        .text("Arn", &r.arn())
        .text("CreateDate", &iso8601(r.created))
        .text("AssumeRolePolicyDocument", &url_encode(&r.trust_policy))
        .opt("Description", r.description.as_deref())
        .text("MaxSessionDuration", &r.max_session_duration.to_string());
    if full {
        if let Some(b) = &r.boundary {
            x.open("PermissionsBoundary")
                .text("PermissionsBoundaryType", "PermissionsBoundaryPolicy")
                .text("PermissionsBoundaryArn", b)
                .close("PermissionsBoundary");
        }
        if !r.tags.is_empty() {
            write_tags(x, "Tags", &r.tags);
        }
        x.empty("RoleLastUsed");
    }
}

fn role_result(r: &Role, full: bool) -> Xml {
    let mut x = Xml::default();
    x.open("Role");
    write_role(&mut x, r, full);
    x.close("Role");
    x
}

fn check_trust(doc: &str) -> Result<(), ApiError> {
    policy::validate(doc, PolicyUse::Trust)
        .map(|_| ())
        .map_err(|e| ApiError::policy(&e))
}

/// A boundary must be an existing managed policy this account may use.
fn check_boundary(call: &Call<'_>, arn: &str) -> Result<(), ApiError> {
    managed::resolve_attachable(call, arn).map(|_| ())
}

pub(super) fn create(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c).to_string();
    let path = call
        .params
        .opt(&mut c, "Path", 1, 512, Some(Pattern::Path))
        .unwrap_or("/")
        .to_string();
    let doc = policy_document(call, &mut c, "AssumeRolePolicyDocument").to_string();
    let description = call
        .params
        .opt(&mut c, "Description", 0, 1000, Some(Pattern::Description))
        .map(str::to_string);
    let max_session = call.params.int(&mut c, "MaxSessionDuration");
    c.range("MaxSessionDuration", max_session, 3600, 43_200);
    let boundary = call
        .params
        .opt(&mut c, "PermissionsBoundary", 20, 2048, None)
        .map(str::to_string);
    let tags = call.params.tags("Tags").unwrap_or_default();
    c.tags("Tags", &tags);
    c.finish()?;

    if let Some(b) = &boundary {
        call.with_key("iam:PermissionsBoundary", b);
    }
    call.with_request_tags(&tags);
    call.authorize(&call.arn(&format!("role{path}{name}")))?;
    check_trust(&doc)?;
    if let Some(b) = &boundary {
        check_boundary(call, b)?;
    }
    let tags = new_tags(&tags)?;
    if call.store.role_count(call.account())? >= ROLES_PER_ACCOUNT {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for RolesPerAccount: {ROLES_PER_ACCOUNT}"
        )));
    }
    let role = Role {
        account: call.account().to_string(),
        name: name.clone(),
        id: ids::unique_id("AROA")?,
        path,
        trust_policy: doc,
        description,
        max_session_duration: max_session.unwrap_or(3600),
        boundary,
        tags,
        created: call.now,
    };
    match call.store.insert_role(&role) {
        Ok(()) => Ok(Some(role_result(&role, false))),
        Err(StoreError::AlreadyExists) => Err(ApiError::already_exists(format!(
            "Role with name {name} already exists."
        ))),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn get(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    c.finish()?;
    let role = authorized_role(call, name)?;
    Ok(Some(role_result(&role, true)))
}

pub(super) fn list(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let prefix = call
        .params
        .opt(&mut c, "PathPrefix", 1, 512, Some(Pattern::PathPrefix))
        .unwrap_or("/");
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    call.authorize("*")?;
    let roles: Vec<Role> = call
        .store
        .roles(call.account())?
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .collect();
    let (roles, next) = page(roles, |r| r.name.clone(), marker.as_deref(), max_items);
    let mut x = Xml::default();
    x.list("Roles", &roles, |x, r| write_role(x, r, false));
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}

pub(super) fn update(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let description = call
        .params
        .opt(&mut c, "Description", 0, 1000, Some(Pattern::Description));
    let max_session = call.params.int(&mut c, "MaxSessionDuration");
    c.range("MaxSessionDuration", max_session, 3600, 43_200);
    c.finish()?;
    let mut role = authorized_role(call, name)?;
    if let Some(d) = description {
        role.description = Some(d.to_string());
    }
    if let Some(m) = max_session {
        role.max_session_duration = m;
    }
    call.store.update_role(&role)?;
    // UpdateRole has an empty result that clients expect as `<UpdateRoleResult/>`.
    Ok(Some(Xml::default()))
}

pub(super) fn update_description(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let description = call
        .params
        .req(&mut c, "Description", 0, 1000, Some(Pattern::Description));
    c.finish()?;
    let mut role = authorized_role(call, name)?;
    role.description = Some(description.to_string());
    call.store.update_role(&role)?;
    Ok(Some(role_result(&role, true)))
}

pub(super) fn delete(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    c.finish()?;
    let role = authorized_role(call, name)?;
    let store = call.store;
    if !store.role_policies(call.account(), &role.name)?.is_empty() {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must delete policies first.",
        ));
    }
    if !store
        .attached_role_policies(call.account(), &role.name)?
        .is_empty()
    {
        return Err(ApiError::delete_conflict(
            "Cannot delete entity, must detach all policies first.",
        ));
    }
    store.delete_role(call.account(), &role.name)?;
    Ok(None)
}

pub(super) fn update_trust(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let doc = policy_document(call, &mut c, "PolicyDocument");
    c.finish()?;
    let mut role = authorized_role(call, name)?;
    check_trust(doc)?;
    role.trust_policy = doc.to_string();
    call.store.update_role(&role)?;
    Ok(None)
}

pub(super) fn tag(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c).to_string();
    let tags = call.required_tags(&mut c);
    c.finish()?;
    let mut role = authorized_role(call, &name)?;
    merge_tags(&mut role.tags, new_tags(&tags)?)?;
    call.store.update_role(&role)?;
    Ok(None)
}

/// Reads a required `TagKeys` list.
pub(super) fn tag_keys(call: &Call<'_>, c: &mut Checker) -> Vec<String> {
    match call.params.list("TagKeys") {
        None => {
            c.null("TagKeys");
            Vec::new()
        }
        Some(keys) => {
            c.list_len("TagKeys", keys.len(), 50);
            for (i, k) in keys.iter().enumerate() {
                c.string(
                    &format!("TagKeys.{}.member", i + 1),
                    k,
                    1,
                    128,
                    Some(Pattern::Tag),
                );
            }
            keys
        }
    }
}

pub(super) fn untag(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c).to_string();
    let keys = tag_keys(call, &mut c);
    c.finish()?;
    call.context
        .insert_multi("aws:TagKeys", keys.iter().map(String::as_str));
    let mut role = authorized_role(call, &name)?;
    role.tags.retain(|t| !keys.contains(&t.key));
    call.store.update_role(&role)?;
    Ok(None)
}

pub(super) fn list_tags(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    let role = authorized_role(call, name)?;
    let (tags, next) = page(role.tags, |t| t.key.clone(), marker.as_deref(), max_items);
    let mut x = Xml::default();
    write_tags(&mut x, "Tags", &tags);
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}

pub(super) fn put_boundary(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c).to_string();
    let arn = call
        .params
        .req(&mut c, "PermissionsBoundary", 20, 2048, None)
        .to_string();
    c.finish()?;
    call.with_key("iam:PermissionsBoundary", &arn);
    let mut role = authorized_role(call, &name)?;
    check_boundary(call, &arn)?;
    role.boundary = Some(arn);
    call.store.update_role(&role)?;
    Ok(None)
}

pub(super) fn delete_boundary(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    c.finish()?;
    let mut role = authorized_role(call, name)?;
    role.boundary = None;
    call.store.update_role(&role)?;
    Ok(None)
}

pub(super) fn put_policy(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let policy = policy_name(call, &mut c);
    let doc = policy_document(call, &mut c, "PolicyDocument");
    c.finish()?;
    let role = authorized_role(call, name)?;
    policy::validate(doc, PolicyUse::InlineRole).map_err(|e| ApiError::policy(&e))?;
    // The limit is on the total of the role's inline policies.
    let others: usize = call
        .store
        .role_policies(call.account(), &role.name)?
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(policy))
        .map(|(_, d)| policy_size(d))
        .sum();
    if others + policy_size(doc) > INLINE_POLICY_BYTES {
        return Err(ApiError::limit_exceeded(format!(
            "Maximum policy size of {INLINE_POLICY_BYTES} bytes exceeded for role {}",
            role.name
        )));
    }
    call.store
        .put_role_policy(call.account(), &role.name, policy, doc)?;
    Ok(None)
}

fn missing_role_policy(name: &str) -> ApiError {
    ApiError::no_such_entity(format!("The role policy with name {name} cannot be found."))
}

pub(super) fn get_policy(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let policy = policy_name(call, &mut c);
    c.finish()?;
    let role = authorized_role(call, name)?;
    let doc = call
        .store
        .role_policy(call.account(), &role.name, policy)?
        .ok_or_else(|| missing_role_policy(policy))?;
    let mut x = Xml::default();
    x.text("RoleName", &role.name)
        .text("PolicyName", policy)
        .text("PolicyDocument", &url_encode(&doc));
    Ok(Some(x))
}

pub(super) fn list_policies(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    let role = authorized_role(call, name)?;
    let names: Vec<String> = call
        .store
        .role_policies(call.account(), &role.name)?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let (names, next) = page(names, Clone::clone, marker.as_deref(), max_items);
    let mut x = Xml::default();
    x.strings("PolicyNames", &names);
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}

pub(super) fn delete_policy(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let policy = policy_name(call, &mut c);
    c.finish()?;
    let role = authorized_role(call, name)?;
    match call
        .store
        .delete_role_policy(call.account(), &role.name, policy)
    {
        Err(StoreError::NotFound) => Err(missing_role_policy(policy)),
        other => other.map(|()| None).map_err(Into::into),
    }
}

/// RoleName and PolicyArn of AttachRolePolicy/DetachRolePolicy, checked and
/// authorized with the `iam:PolicyARN` condition key.
fn role_and_policy_arn(call: &mut Call<'_>) -> Result<(Role, String), ApiError> {
    let mut c = Checker::default();
    let name = role_name(call, &mut c).to_string();
    let arn = call
        .params
        .req(&mut c, "PolicyArn", 20, 2048, None)
        .to_string();
    c.finish()?;
    call.with_key("iam:PolicyARN", &arn);
    Ok((authorized_role(call, &name)?, arn))
}

pub(super) fn attach(call: &mut Call<'_>) -> Answer {
    let (role, arn) = role_and_policy_arn(call)?;
    managed::resolve_attachable(call, &arn)?;
    let attached = call
        .store
        .attached_role_policies(call.account(), &role.name)?;
    if !attached.contains(&arn) && attached.len() >= POLICIES_PER_ROLE {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for PoliciesPerRole: {POLICIES_PER_ROLE}"
        )));
    }
    call.store
        .attach_role_policy(call.account(), &role.name, &arn)?;
    Ok(None)
}

pub(super) fn detach(call: &mut Call<'_>) -> Answer {
    let (role, arn) = role_and_policy_arn(call)?;
    managed::check_arn(&arn)?;
    match call
        .store
        .detach_role_policy(call.account(), &role.name, &arn)
    {
        Err(StoreError::NotFound) => Err(ApiError::no_such_entity(format!(
            "Policy {arn} was not found."
        ))),
        other => other.map(|()| None).map_err(Into::into),
    }
}

pub(super) fn list_attached(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = role_name(call, &mut c);
    let prefix = call
        .params
        .opt(&mut c, "PathPrefix", 1, 512, Some(Pattern::PolicyPath))
        .unwrap_or("/");
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    let role = authorized_role(call, name)?;
    let mut attached = Vec::new();
    for arn in call
        .store
        .attached_role_policies(call.account(), &role.name)?
    {
        if let Some(p) = managed::resolve(call, &arn)?.filter(|p| p.path.starts_with(prefix)) {
            attached.push((p.name, arn));
        }
    }
    let (attached, next) = page(attached, |(n, _)| n.clone(), marker.as_deref(), max_items);
    let mut x = Xml::default();
    x.list("AttachedPolicies", &attached, |x, (n, a)| {
        x.text("PolicyName", n).text("PolicyArn", a);
    });
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}
