//! IAM: roles and their policies, managed policies, OIDC providers.
//!
//! Every action is authorized by the policy engine as `iam:<Action>` on the
//! resource the IAM service authorization reference names for it, before the
//! entity is looked up, as AWS does. Shapes, constraints and error codes follow
//! botocore's IAM model (see `docs/iam-api-reference.md`).

mod managed;
mod oidc;
mod roles;
mod simulate;

pub(crate) use managed::managed_policy_document;
pub(crate) use oidc::provider_key;

use policy::Context;
use store::{Store, Tag};

use crate::auth::{self, Caller, Origin};
use crate::error::ApiError;
use crate::protocol::query::Params;
use crate::protocol::xml::Xml;
use crate::state::State;
use crate::validate::Checker;

/// IAM's XML namespace.
pub(crate) const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// IAM's API version.
pub(crate) const VERSION: &str = "2010-05-08";

/// What one IAM request works with.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a State,
    /// The store as this call sees it: inside its transaction for a change.
    pub(crate) store: &'a dyn Store,
    pub(crate) caller: &'a Caller,
    pub(crate) params: &'a Params,
    pub(crate) action: &'a str,
    pub(crate) context: Context,
    pub(crate) now: i64,
}

impl Call<'_> {
    /// The caller's account: IAM always acts in it.
    pub(crate) fn account(&self) -> &str {
        &self.caller.account
    }

    /// Authorizes this call's action on `resource`.
    pub(crate) fn authorize(&self, resource: &str) -> Result<(), ApiError> {
        let action = format!("iam:{}", self.action);
        auth::check(
            self.state,
            self.store,
            self.caller,
            &self.context,
            &action,
            resource,
        )
    }

    /// Adds a condition key for this call (`iam:PolicyARN`, `aws:RequestTag/…`).
    pub(crate) fn with_key(&mut self, key: &str, value: &str) {
        self.context.insert(key, value);
    }

    /// Adds `aws:RequestTag/K` and `aws:TagKeys` for tags in the request.
    pub(crate) fn with_request_tags(&mut self, tags: &[(String, String)]) {
        crate::auth::add_request_tags(&mut self.context, tags);
    }

    /// The required `Tags` of a Tag* action, checked, with their condition keys
    /// added.
    pub(crate) fn required_tags(&mut self, c: &mut Checker) -> Vec<(String, String)> {
        let tags = self.params.tags("Tags");
        match &tags {
            None => c.null("Tags"),
            Some(t) => c.tags("Tags", t),
        }
        let tags = tags.unwrap_or_default();
        self.with_request_tags(&tags);
        tags
    }

    /// A resource ARN in the caller's account: `arn:aws:iam::ACCOUNT:{rest}`.
    pub(crate) fn arn(&self, rest: &str) -> String {
        format!("arn:aws:iam::{}:{rest}", self.account())
    }
}

/// Whether an IAM action changes state (every action but reads and
/// simulations): such calls run as one store transaction.
pub(crate) fn changes_state(action: &str) -> bool {
    !["Get", "List", "Simulate"]
        .iter()
        .any(|read| action.starts_with(read))
}

/// Handles one IAM action.
pub(crate) fn handle(
    state: &State,
    store: &dyn Store,
    action: &str,
    params: &Params,
    caller: &Caller,
    origin: &Origin,
    now: i64,
) -> Result<Option<Xml>, ApiError> {
    let mut call = Call {
        state,
        store,
        caller,
        params,
        action,
        context: auth::context(caller, origin, now),
        now,
    };
    match action {
        "CreateRole" => roles::create(&mut call),
        "GetRole" => roles::get(&call),
        "ListRoles" => roles::list(&call),
        "UpdateRole" => roles::update(&call),
        "UpdateRoleDescription" => roles::update_description(&call),
        "DeleteRole" => roles::delete(&call),
        "UpdateAssumeRolePolicy" => roles::update_trust(&call),
        "TagRole" => roles::tag(&mut call),
        "UntagRole" => roles::untag(&mut call),
        "ListRoleTags" => roles::list_tags(&call),
        "PutRolePermissionsBoundary" => roles::put_boundary(&mut call),
        "DeleteRolePermissionsBoundary" => roles::delete_boundary(&call),
        "PutRolePolicy" => roles::put_policy(&call),
        "GetRolePolicy" => roles::get_policy(&call),
        "ListRolePolicies" => roles::list_policies(&call),
        "DeleteRolePolicy" => roles::delete_policy(&call),
        "AttachRolePolicy" => roles::attach(&mut call),
        "DetachRolePolicy" => roles::detach(&mut call),
        "ListAttachedRolePolicies" => roles::list_attached(&call),
        "CreatePolicy" => managed::create(&mut call),
        "GetPolicy" => managed::get(&call),
        "ListPolicies" => managed::list(&call),
        "DeletePolicy" => managed::delete(&call),
        "CreatePolicyVersion" => managed::create_version(&call),
        "GetPolicyVersion" => managed::get_version(&call),
        "ListPolicyVersions" => managed::list_versions(&call),
        "DeletePolicyVersion" => managed::delete_version(&call),
        "SetDefaultPolicyVersion" => managed::set_default_version(&call),
        "ListEntitiesForPolicy" => managed::list_entities(&call),
        "TagPolicy" => managed::tag(&mut call),
        "UntagPolicy" => managed::untag(&mut call),
        "ListPolicyTags" => managed::list_tags(&call),
        "CreateOpenIDConnectProvider" => oidc::create(&mut call),
        "GetOpenIDConnectProvider" => oidc::get(&call),
        "ListOpenIDConnectProviders" => oidc::list(&call),
        "DeleteOpenIDConnectProvider" => oidc::delete(&call),
        "AddClientIDToOpenIDConnectProvider" => oidc::add_client_id(&call),
        "RemoveClientIDFromOpenIDConnectProvider" => oidc::remove_client_id(&call),
        "UpdateOpenIDConnectProviderThumbprint" => oidc::update_thumbprints(&call),
        "TagOpenIDConnectProvider" => oidc::tag(&mut call),
        "UntagOpenIDConnectProvider" => oidc::untag(&call),
        "ListOpenIDConnectProviderTags" => oidc::list_tags(&call),
        "SimulatePrincipalPolicy" => simulate::principal_policy(&call),
        "SimulateCustomPolicy" => simulate::custom_policy(&call),
        other => Err(crate::invalid_action(other, VERSION)),
    }
}

/// The page of `items` from `marker` on, at most `max_items` (default 100), and
/// the marker of the next page when there is one. A marker is the key of the
/// next item; if that item is gone, the page starts at the next larger key
/// (lists ordered by key), so pages stay right while entities change.
pub(crate) fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> (Vec<T>, Option<String>) {
    let max = usize::try_from(max_items.unwrap_or(100)).unwrap_or(100);
    let start = match marker {
        Some(m) => items
            .iter()
            .position(|i| key(i) == m)
            .or_else(|| items.iter().position(|i| key(i).as_str() > m))
            .unwrap_or(items.len()),
        None => 0,
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next = rest.get(max).map(&key);
    rest.truncate(max);
    (rest, next)
}

/// `<IsTruncated>` and, when truncated, `<Marker>`.
pub(crate) fn write_paging(x: &mut Xml, next: Option<&str>) {
    x.text("IsTruncated", if next.is_some() { "true" } else { "false" });
    x.opt("Marker", next);
}

/// Reads and checks the `Marker`/`MaxItems` of a list call.
pub(crate) fn paging(c: &mut Checker, params: &Params) -> (Option<String>, Option<i64>) {
    let marker = params.get("Marker").map(str::to_string);
    let max_items = params.int(c, "MaxItems");
    c.paging(max_items, marker.as_deref());
    (marker, max_items)
}

/// A tag list as XML members.
pub(crate) fn write_tags(x: &mut Xml, name: &str, tags: &[Tag]) {
    x.list(name, tags, |x, t| {
        x.text("Key", &t.key).text("Value", &t.value);
    });
}

/// Merges new tags into existing ones (a key present is overwritten), failing
/// with LimitExceeded past 50.
pub(crate) fn merge_tags(existing: &mut Vec<Tag>, new: Vec<Tag>) -> Result<(), ApiError> {
    for tag in new {
        match existing.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value,
            None => existing.push(tag),
        }
    }
    if existing.len() > 50 {
        return Err(ApiError::limit_exceeded(
            "The number of tags has reached the maximum limit.",
        ));
    }
    Ok(())
}

/// Tags from request pairs, rejecting a key given twice.
pub(crate) fn new_tags(pairs: &[(String, String)]) -> Result<Vec<Tag>, ApiError> {
    let mut out: Vec<Tag> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        if out.iter().any(|t| t.key.eq_ignore_ascii_case(k)) {
            return Err(ApiError::invalid_input(format!(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive. Duplicate key: {k}"
            )));
        }
        out.push(Tag {
            key: k.clone(),
            value: v.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_by_key() {
        let items: Vec<String> = (1..=5).map(|i| format!("r{i}")).collect();
        let (p1, next) = page(items.clone(), Clone::clone, None, Some(2));
        assert_eq!(p1, ["r1", "r2"]);
        assert_eq!(next.as_deref(), Some("r3"));
        let (p2, next) = page(items.clone(), Clone::clone, next.as_deref(), Some(2));
        assert_eq!(p2, ["r3", "r4"]);
        let (p3, next) = page(items, Clone::clone, next.as_deref(), Some(2));
        assert_eq!(p3, ["r5"]);
        assert_eq!(next, None);
    }
}
