//! Managed policies: customer managed (stored, versioned) and AWS managed
//! (shipped as data, read-only).
//! Reference: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreatePolicy.html> and
//! the pages of the other policy actions.

use policy::PolicyUse;
use store::{ManagedPolicy, PolicyVersion, StoreError, Tag};

use super::roles::tag_keys;
use super::{Call, merge_tags, new_tags, page, paging, write_paging, write_tags};
use crate::error::ApiError;
use crate::ids;
use crate::protocol::xml::{Xml, url_encode};
use crate::time::iso8601;
use crate::validate::{Checker, Pattern};

/// IAM's quota of customer managed policies per account.
const POLICIES_PER_ACCOUNT: usize = 1500;
/// IAM's limit of versions per managed policy.
const VERSIONS_PER_POLICY: usize = 5;

type Answer = Result<Option<Xml>, ApiError>;

/// A managed policy of either kind, as the IAM API shows it.
#[derive(Debug, Clone)]
pub(crate) struct PolicyInfo {
    pub(crate) arn: String,
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) path: String,
    pub(crate) default_version: String,
    pub(crate) description: Option<String>,
    pub(crate) created: String,
    pub(crate) updated: String,
    pub(crate) tags: Vec<Tag>,
    /// The default version's document.
    pub(crate) document: String,
    /// The stored record, for customer managed policies.
    pub(crate) stored: Option<ManagedPolicy>,
}

/// Checks the form of a policy ARN: `arn:aws:iam::(ACCOUNT|aws):policy/…`.
pub(crate) fn check_arn(arn: &str) -> Result<(), ApiError> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":policy/"))
        .is_some_and(|(account, name)| {
            (account == "aws" || policy::is_account_id(account)) && !name.is_empty()
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_input(format!("ARN {arn} is not valid.")))
    }
}

/// The managed policy `arn` as the caller's account sees it: an AWS managed
/// policy, or a customer managed policy of that account.
pub(crate) fn resolve(call: &Call<'_>, arn: &str) -> Result<Option<PolicyInfo>, ApiError> {
    if let Some(p) = call.state.aws_policies.get(arn) {
        return Ok(Some(PolicyInfo {
            arn: p.arn.clone(),
            name: p.name.clone(),
            id: p.id.clone(),
            path: p.path.clone(),
            default_version: p.default_version.clone(),
            description: p.description.clone(),
            created: p.created.clone(),
            updated: p.updated.clone(),
            tags: Vec::new(),
            document: p.document.clone(),
            stored: None,
        }));
    }
    let Some(p) = call.store.policy(arn)? else {
        return Ok(None);
    };
    if p.account != call.account() {
        return Ok(None);
    }
    let document = call
        .store
        .policy_version(&p.arn, &p.default_version)?
        .map(|v| v.document)
        .unwrap_or_default();
    Ok(Some(PolicyInfo {
        arn: p.arn.clone(),
        name: p.name.clone(),
        id: p.id.clone(),
        path: p.path.clone(),
        default_version: p.default_version.clone(),
        description: p.description.clone(),
        created: iso8601(p.created),
        updated: iso8601(p.updated),
        tags: p.tags.clone(),
        document,
        stored: Some(p),
    }))
}

/// The default version's document of a managed policy usable in `account`
/// (AWS managed, or customer managed in that account).
pub(crate) fn managed_policy_document(
    state: &crate::state::State,
    store: &dyn store::Store,
    account: &str,
    arn: &str,
) -> Result<Option<String>, ApiError> {
    if let Some(p) = state.aws_policies.get(arn) {
        return Ok(Some(p.document.clone()));
    }
    let Some(p) = store.policy(arn)?.filter(|p| p.account == account) else {
        return Ok(None);
    };
    Ok(store
        .policy_version(&p.arn, &p.default_version)?
        .map(|v| v.document))
}

/// A policy that can be attached (or used as a boundary) by this account.
pub(crate) fn resolve_attachable(call: &Call<'_>, arn: &str) -> Result<PolicyInfo, ApiError> {
    check_arn(arn)?;
    resolve(call, arn)?.ok_or_else(|| {
        ApiError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
    })
}

fn policy_arn<'a>(call: &'a Call<'_>, c: &mut Checker) -> &'a str {
    call.params.req(c, "PolicyArn", 20, 2048, None)
}

fn version_id<'a>(call: &'a Call<'_>, c: &mut Checker) -> &'a str {
    call.params
        .req(c, "VersionId", 1, 128, Some(Pattern::VersionId))
}

fn not_found(arn: &str) -> ApiError {
    ApiError::no_such_entity(format!("Policy {arn} was not found."))
}

/// Authorizes the call on the policy, then requires it to exist.
fn authorized(call: &Call<'_>, arn: &str) -> Result<PolicyInfo, ApiError> {
    check_arn(arn)?;
    call.authorize(arn)?;
    resolve(call, arn)?.ok_or_else(|| not_found(arn))
}

/// A customer managed policy the call may change (AWS managed ones are read-only).
fn authorized_own(call: &Call<'_>, arn: &str) -> Result<ManagedPolicy, ApiError> {
    let info = authorized(call, arn)?;
    info.stored.ok_or_else(|| {
        ApiError::access_denied(format!(
            "User: {} is not authorized to perform: iam:{} on resource: policy {arn} because AWS managed policies cannot be changed",
            call.caller.arn(),
            call.action
        ))
    })
}

fn counts(call: &Call<'_>, arn: &str) -> Result<(usize, usize), ApiError> {
    let store = call.store;
    Ok((
        store.policy_attachments(call.account(), arn)?.len(),
        store.boundary_uses(call.account(), arn)?.len(),
    ))
}

fn write_policy(x: &mut Xml, p: &PolicyInfo, counts: (usize, usize), with_tags: bool) {
    x.text("PolicyName", &p.name)
        .text("PolicyId", &p.id)
        .text("Arn", &p.arn)
        .text("Path", &p.path)
        .text("DefaultVersionId", &p.default_version)
        .text("AttachmentCount", &counts.0.to_string())
        .text("PermissionsBoundaryUsageCount", &counts.1.to_string())
        .text("IsAttachable", "true")
        .opt("Description", p.description.as_deref())
        .text("CreateDate", &p.created)
        .text("UpdateDate", &p.updated);
    if with_tags && !p.tags.is_empty() {
        write_tags(x, "Tags", &p.tags);
    }
}

fn policy_result(p: &PolicyInfo, counts: (usize, usize)) -> Xml {
    let mut x = Xml::default();
    x.open("Policy");
    write_policy(&mut x, p, counts, true);
    x.close("Policy");
    x
}

fn write_version(x: &mut Xml, v: &PolicyVersion, default: &str, with_document: bool) {
    if with_document {
        x.text("Document", &url_encode(&v.document));
    }
    x.text("VersionId", &v.id)
        .text(
            "IsDefaultVersion",
            if v.id == default { "true" } else { "false" },
        )
        .text("CreateDate", &iso8601(v.created));
}

fn check_document(doc: &str) -> Result<(), ApiError> {
    policy::validate(doc, PolicyUse::Managed)
        .map(|_| ())
        .map_err(|e| ApiError::policy(&e))
}

pub(super) fn create(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let name = call
        .params
        .req(&mut c, "PolicyName", 1, 128, Some(Pattern::Name))
        .to_string();
    let path = call
        .params
        .opt(&mut c, "Path", 1, 512, Some(Pattern::PolicyPath))
        .unwrap_or("/")
        .to_string();
    let doc = call
        .params
        .req(
            &mut c,
            "PolicyDocument",
            1,
            131_072,
            Some(Pattern::PolicyDocument),
        )
        .to_string();
    let description = call
        .params
        .opt(&mut c, "Description", 0, 1000, None)
        .map(str::to_string);
    let tags = call.params.tags("Tags").unwrap_or_default();
    c.tags("Tags", &tags);
    c.finish()?;
    call.with_request_tags(&tags);
    let arn = call.arn(&format!("policy{path}{name}"));
    call.authorize(&arn)?;
    check_document(&doc)?;
    let tags = new_tags(&tags)?;
    let store = call.store;
    if store.policy_count(call.account())? >= POLICIES_PER_ACCOUNT {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for PoliciesPerAccount: {POLICIES_PER_ACCOUNT}"
        )));
    }
    let record = ManagedPolicy {
        arn: arn.clone(),
        account: call.account().to_string(),
        name: name.clone(),
        id: ids::unique_id("ANPA")?,
        path,
        description,
        default_version: "v1".into(),
        next_version: 2,
        tags,
        created: call.now,
        updated: call.now,
    };
    let first = PolicyVersion {
        id: "v1".into(),
        document: doc,
        created: call.now,
    };
    match store.insert_policy(&record, &first) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(ApiError::already_exists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let info = resolve(call, &arn)?.ok_or_else(|| not_found(&arn))?;
    Ok(Some(policy_result(&info, (0, 0))))
}

pub(super) fn get(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    c.finish()?;
    let info = authorized(call, arn)?;
    Ok(Some(policy_result(&info, counts(call, arn)?)))
}

/// TagPolicy: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_TagPolicy.html>.
pub(super) fn tag(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c).to_string();
    let tags = call.required_tags(&mut c);
    c.finish()?;
    let mut p = authorized_own(call, &arn)?;
    merge_tags(&mut p.tags, new_tags(&tags)?)?;
    call.store.update_policy(&p)?;
    Ok(None)
}

/// UntagPolicy: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_UntagPolicy.html>.
pub(super) fn untag(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c).to_string();
    let keys = tag_keys(call, &mut c);
    c.finish()?;
    call.context
        .insert_multi("aws:TagKeys", keys.iter().map(String::as_str));
    let mut p = authorized_own(call, &arn)?;
    p.tags.retain(|t| !keys.contains(&t.key));
    call.store.update_policy(&p)?;
    Ok(None)
}

/// ListPolicyTags: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListPolicyTags.html>.
pub(super) fn list_tags(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    let tags = authorized(call, arn)?.tags;
    let (tags, next) = page(tags, |t| t.key.clone(), marker.as_deref(), max_items);
    let mut x = Xml::default();
    write_tags(&mut x, "Tags", &tags);
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}

pub(super) fn list(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let scope = call.params.get("Scope");
    c.one_of("Scope", scope, &["All", "AWS", "Local"]);
    let only_attached = call.params.bool(&mut c, "OnlyAttached").unwrap_or(false);
    let prefix = call
        .params
        .opt(&mut c, "PathPrefix", 1, 512, Some(Pattern::PolicyPath))
        .unwrap_or("/")
        .to_string();
    let usage = call.params.get("PolicyUsageFilter");
    c.one_of(
        "PolicyUsageFilter",
        usage,
        &["PermissionsPolicy", "PermissionsBoundary"],
    );
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    call.authorize("*")?;
    let scope = scope.unwrap_or("All");
    let mut all: Vec<String> = Vec::new();
    if scope != "Local" {
        all.extend(call.state.aws_policies.keys().cloned());
    }
    if scope != "AWS" {
        all.extend(
            call.store
                .policies(call.account())?
                .into_iter()
                .map(|p| p.arn),
        );
    }
    let mut listed = Vec::new();
    for arn in all {
        let Some(info) = resolve(call, &arn)? else {
            continue;
        };
        if !info.path.starts_with(&prefix) {
            continue;
        }
        let n = counts(call, &arn)?;
        let used = match usage {
            Some("PermissionsPolicy") => n.0 > 0,
            Some("PermissionsBoundary") => n.1 > 0,
            _ => n.0 + n.1 > 0,
        };
        if (only_attached || usage.is_some()) && !used {
            continue;
        }
        listed.push((info, n));
    }
    listed.sort_by(|a, b| a.0.name.cmp(&b.0.name).then(a.0.arn.cmp(&b.0.arn)));
    let (listed, next) = page(
        listed,
        |(p, _)| format!("{}|{}", p.name, p.arn),
        marker.as_deref(),
        max_items,
    );
    let mut x = Xml::default();
    x.list("Policies", &listed, |x, (p, n)| {
        write_policy(x, p, *n, false)
    });
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}

pub(super) fn delete(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    c.finish()?;
    let p = authorized_own(call, arn)?;
    let (attached, boundaries) = counts(call, &p.arn)?;
    if attached + boundaries > 0 {
        return Err(ApiError::delete_conflict(
            "Cannot delete a policy attached to entities.",
        ));
    }
    if call.store.policy_versions(&p.arn)?.len() > 1 {
        return Err(ApiError::delete_conflict(
            "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
        ));
    }
    call.store.delete_policy(&p.arn)?;
    Ok(None)
}

pub(super) fn create_version(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    let doc = call.params.req(
        &mut c,
        "PolicyDocument",
        1,
        131_072,
        Some(Pattern::PolicyDocument),
    );
    let set_default = call.params.bool(&mut c, "SetAsDefault").unwrap_or(false);
    c.finish()?;
    let mut p = authorized_own(call, arn)?;
    check_document(doc)?;
    if call.store.policy_versions(&p.arn)?.len() >= VERSIONS_PER_POLICY {
        return Err(ApiError::limit_exceeded(
            "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
        ));
    }
    let version = PolicyVersion {
        id: format!("v{}", p.next_version),
        document: doc.to_string(),
        created: call.now,
    };
    call.store.insert_policy_version(&p.arn, &version)?;
    p.next_version += 1;
    if set_default {
        p.default_version = version.id.clone();
        p.updated = call.now;
    }
    call.store.update_policy(&p)?;
    let mut x = Xml::default();
    x.open("PolicyVersion");
    write_version(&mut x, &version, &p.default_version, false);
    x.close("PolicyVersion");
    Ok(Some(x))
}

fn missing_version(arn: &str, id: &str) -> ApiError {
    ApiError::no_such_entity(format!(
        "Policy {arn} version {id} does not exist or is not attachable."
    ))
}

pub(super) fn get_version(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    let id = version_id(call, &mut c);
    c.finish()?;
    let info = authorized(call, arn)?;
    let version = match &info.stored {
        Some(p) => call.store.policy_version(&p.arn, id)?,
        // Only the default version of an AWS managed policy is shipped.
        None => (id == info.default_version).then(|| PolicyVersion {
            id: info.default_version.clone(),
            document: info.document.clone(),
            created: 0,
        }),
    }
    .ok_or_else(|| missing_version(arn, id))?;
    let mut x = Xml::default();
    x.open("PolicyVersion");
    if info.stored.is_some() {
        write_version(&mut x, &version, &info.default_version, true);
    } else {
        x.text("Document", &url_encode(&version.document))
            .text("VersionId", &version.id)
            .text("IsDefaultVersion", "true")
            .text("CreateDate", &info.updated);
    }
    x.close("PolicyVersion");
    Ok(Some(x))
}

pub(super) fn list_versions(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    let info = authorized(call, arn)?;
    let mut x = Xml::default();
    match &info.stored {
        Some(p) => {
            let versions = call.store.policy_versions(&p.arn)?;
            let (versions, next) = page(versions, |v| v.id.clone(), marker.as_deref(), max_items);
            x.list("Versions", &versions, |x, v| {
                write_version(x, v, &p.default_version, false)
            });
            write_paging(&mut x, next.as_deref());
        }
        None => {
            let only = [info.default_version.clone()];
            x.list("Versions", &only, |x, id| {
                x.text("VersionId", id)
                    .text("IsDefaultVersion", "true")
                    .text("CreateDate", &info.updated);
            });
            write_paging(&mut x, None);
        }
    }
    Ok(Some(x))
}

pub(super) fn delete_version(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    let id = version_id(call, &mut c);
    c.finish()?;
    let p = authorized_own(call, arn)?;
    if p.default_version == id {
        return Err(ApiError::delete_conflict(
            "Cannot delete the default version of a policy.",
        ));
    }
    match call.store.delete_policy_version(&p.arn, id) {
        Err(StoreError::NotFound) => Err(missing_version(arn, id)),
        other => other.map(|()| None).map_err(Into::into),
    }
}

pub(super) fn set_default_version(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    let id = version_id(call, &mut c);
    c.finish()?;
    let mut p = authorized_own(call, arn)?;
    if call.store.policy_version(&p.arn, id)?.is_none() {
        return Err(missing_version(arn, id));
    }
    p.default_version = id.to_string();
    p.updated = call.now;
    call.store.update_policy(&p)?;
    Ok(None)
}

pub(super) fn list_entities(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = policy_arn(call, &mut c);
    let filter = call.params.get("EntityFilter");
    c.one_of(
        "EntityFilter",
        filter,
        &[
            "User",
            "Role",
            "Group",
            "LocalManagedPolicy",
            "AWSManagedPolicy",
        ],
    );
    let prefix = call
        .params
        .opt(&mut c, "PathPrefix", 1, 512, Some(Pattern::Path))
        .unwrap_or("/");
    let usage = call.params.get("PolicyUsageFilter");
    c.one_of(
        "PolicyUsageFilter",
        usage,
        &["PermissionsPolicy", "PermissionsBoundary"],
    );
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    let info = authorized(call, arn)?;
    let store = call.store;
    let mut roles = Vec::new();
    if matches!(filter, None | Some("Role")) {
        if usage != Some("PermissionsBoundary") {
            roles.extend(store.policy_attachments(call.account(), &info.arn)?);
        }
        if usage != Some("PermissionsPolicy") {
            roles.extend(store.boundary_uses(call.account(), &info.arn)?);
        }
    }
    let mut listed = Vec::new();
    for a in roles {
        let in_path = store
            .role(&a.account, &a.role)?
            .is_some_and(|r| r.path.starts_with(prefix));
        if in_path && !listed.iter().any(|(n, _): &(String, String)| n == &a.role) {
            listed.push((a.role, a.role_id));
        }
    }
    listed.sort();
    let (listed, next) = page(listed, |(n, _)| n.clone(), marker.as_deref(), max_items);
    let mut x = Xml::default();
    x.empty("PolicyGroups").empty("PolicyUsers");
    x.list("PolicyRoles", &listed, |x, (n, id)| {
        x.text("RoleName", n).text("RoleId", id);
    });
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}
