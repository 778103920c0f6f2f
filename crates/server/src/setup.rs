//! One-step IRSA setup for a ServiceAccount, as `eksctl create
//! iamserviceaccount` does: the cluster's OIDC provider, a role whose trust
//! policy admits exactly that ServiceAccount, its policies, and the annotated
//! ServiceAccount manifest.

use store::{Cluster, Role, Store, Tag};

use crate::clusters::{self, STS_AUDIENCE};

/// The tag that marks a role as made by `iamserviceaccount`, valued `NS/NAME`.
pub const OWNER_TAG: &str = "irsa:iamserviceaccount";

/// What to set up.
#[derive(Debug, Clone)]
pub struct ServiceAccountRole<'a> {
    /// The local cluster.
    pub cluster: &'a Cluster,
    /// Namespace.
    pub namespace: &'a str,
    /// ServiceAccount name.
    pub name: &'a str,
    /// The role name (default `irsa-CLUSTER-NS-NAME`, cut to 64).
    pub role_name: Option<&'a str>,
    /// The account of the role and provider.
    pub account: &'a str,
    /// Managed policies to attach.
    pub policy_arns: &'a [String],
}

impl ServiceAccountRole<'_> {
    /// The role's name.
    pub fn role_name(&self) -> String {
        match self.role_name {
            Some(n) => n.to_string(),
            None => {
                let full = format!(
                    "irsa-{}-{}-{}",
                    self.cluster.name, self.namespace, self.name
                );
                full.chars().take(64).collect()
            }
        }
    }

    fn owner(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The least-privilege trust policy: the cluster's provider, `sub` and `aud`
/// both pinned with StringEquals.
pub fn trust_policy(provider_arn: &str, namespace: &str, name: &str) -> String {
    let key = provider_arn
        .split_once(":oidc-provider/")
        .map_or("", |(_, k)| k);
    serde_json::to_string_pretty(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{key}:sub"): format!("system:serviceaccount:{namespace}:{name}"),
                format!("{key}:aud"): STS_AUDIENCE,
            }}
        }]
    }))
    .unwrap_or_default()
}

/// The annotated ServiceAccount, ready for `kubectl apply`.
pub fn service_account_yaml(namespace: &str, name: &str, role_arn: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  annotations:\n    eks.amazonaws.com/role-arn: {role_arn}\n"
    )
}

fn valid_k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// Creates or updates the role; returns its ARN and whether it was created.
pub fn create(
    store: &dyn Store,
    public_url: &str,
    want: &ServiceAccountRole<'_>,
) -> Result<(String, bool), String> {
    for (what, v) in [("namespace", want.namespace), ("name", want.name)] {
        if !valid_k8s_name(v) {
            return Err(format!(
                "--{what} `{v}` is not a Kubernetes name (lowercase letters, digits, `-`, `.`)"
            ));
        }
    }
    let aws = crate::aws_managed::load();
    for arn in want.policy_arns {
        let known = aws.contains_key(arn)
            || store
                .policy(arn)
                .map_err(|e| e.to_string())?
                .is_some_and(|p| p.account == want.account);
        if !known {
            return Err(format!(
                "policy {arn} does not exist or is not attachable in account {}",
                want.account
            ));
        }
    }
    let (provider_arn, _) =
        clusters::associate_provider(store, public_url, want.cluster, want.account)?;
    let trust = trust_policy(&provider_arn, want.namespace, want.name);
    policy::validate(&trust, policy::PolicyUse::Trust).map_err(|e| e.to_string())?;
    let name = want.role_name();
    let created = match store.role(want.account, &name).map_err(|e| e.to_string())? {
        Some(mut role) => {
            let owner = role
                .tags
                .iter()
                .find(|t| t.key == OWNER_TAG)
                .map(|t| t.value.clone());
            if owner.as_deref() != Some(want.owner().as_str()) {
                return Err(format!(
                    "role {name} exists and was not made by iamserviceaccount for {}; choose another --role-name",
                    want.owner()
                ));
            }
            role.trust_policy = trust;
            store.update_role(&role).map_err(|e| e.to_string())?;
            false
        }
        None => {
            let role = Role {
                account: want.account.to_string(),
                name: name.clone(),
                id: crate::ids::unique_id("AROA").map_err(|e| e.message().to_string())?,
                path: "/".into(),
                trust_policy: trust,
                description: Some(format!(
                    "IRSA role for ServiceAccount {} of cluster {}",
                    want.owner(),
                    want.cluster.name
                )),
                max_session_duration: 3600,
                boundary: None,
                tags: vec![
                    Tag {
                        key: OWNER_TAG.into(),
                        value: want.owner(),
                    },
                    Tag {
                        key: "irsa:cluster".into(),
                        value: want.cluster.name.clone(),
                    },
                ],
                created: crate::time::now(),
            };
            store.insert_role(&role).map_err(|e| e.to_string())?;
            true
        }
    };
    let attached = store
        .attached_role_policies(want.account, &name)
        .map_err(|e| e.to_string())?;
    if attached.len()
        + want
            .policy_arns
            .iter()
            .filter(|a| !attached.contains(a))
            .count()
        > 10
    {
        return Err("a role can have at most 10 managed policies attached".into());
    }
    for arn in want.policy_arns {
        store
            .attach_role_policy(want.account, &name, arn)
            .map_err(|e| e.to_string())?;
    }
    Ok((
        format!("arn:aws:iam::{}:role/{name}", want.account),
        created,
    ))
}

/// Undoes [`create`]: detaches the role's policies and deletes it. The
/// cluster's OIDC provider stays (other ServiceAccounts share it).
pub fn delete(store: &dyn Store, want: &ServiceAccountRole<'_>) -> Result<String, String> {
    let name = want.role_name();
    let role = store
        .role(want.account, &name)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no role {name} in account {}", want.account))?;
    if !role
        .tags
        .iter()
        .any(|t| t.key == OWNER_TAG && t.value == want.owner())
    {
        return Err(format!(
            "role {name} was not made by iamserviceaccount for {}; not deleting it",
            want.owner()
        ));
    }
    for arn in store
        .attached_role_policies(want.account, &name)
        .map_err(|e| e.to_string())?
    {
        store
            .detach_role_policy(want.account, &name, &arn)
            .map_err(|e| e.to_string())?;
    }
    for (policy, _) in store
        .role_policies(want.account, &name)
        .map_err(|e| e.to_string())?
    {
        store
            .delete_role_policy(want.account, &name, &policy)
            .map_err(|e| e.to_string())?;
    }
    store
        .delete_role(want.account, &name)
        .map_err(|e| e.to_string())?;
    Ok(role.arn())
}
