//! Who makes a request, and how a `Principal` element names them.
//!
//! Reference: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>
//! and <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html>.

use std::fmt;

use crate::model::{PrincipalSet, PrincipalType};

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The account's root user, `arn:aws:iam::ACCOUNT:root`.
    Root {
        /// The 12-digit account id.
        account: String,
    },
    /// An IAM user.
    User {
        /// `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
        arn: String,
        /// The 12-digit account id.
        account: String,
        /// The user name (last path part).
        name: String,
    },
    /// A role session.
    AssumedRole {
        /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
        arn: String,
        /// `arn:aws:iam::ACCOUNT:role/PATH/ROLE`.
        role_arn: String,
        /// The 12-digit account id.
        account: String,
    },
    /// A federated user session (GetFederationToken).
    FederatedUser {
        /// `arn:aws:sts::ACCOUNT:federated-user/NAME`.
        arn: String,
        /// The 12-digit account id.
        account: String,
    },
    /// A web-identity caller before it has a role (AssumeRoleWithWebIdentity):
    /// the OIDC provider's ARN, or a well-known provider name such as
    /// `cognito-identity.amazonaws.com`.
    WebIdentity {
        /// The provider, as a trust policy's `Federated` names it.
        provider: String,
    },
    /// An AWS service, e.g. `ec2.amazonaws.com`.
    Service {
        /// The service principal name.
        name: String,
    },
    /// An unsigned request.
    Anonymous,
}

/// Why a principal string could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalParseError(String);

impl fmt::Display for PrincipalParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a principal ARN: expected arn:aws:iam::ACCOUNT:root, \
             arn:aws:iam::ACCOUNT:user/NAME, arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION \
             or arn:aws:sts::ACCOUNT:federated-user/NAME",
            self.0
        )
    }
}

impl std::error::Error for PrincipalParseError {}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl Principal {
    /// Reads an IAM or STS principal ARN (root, user, assumed role, federated user).
    /// A role session's role ARN is taken to have path `/`.
    pub fn from_arn(arn: &str) -> Result<Principal, PrincipalParseError> {
        let err = || PrincipalParseError(arn.to_string());
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(err());
        };
        if *prefix != "arn" || partition.is_empty() || !region.is_empty() || !is_account_id(account)
        {
            return Err(err());
        }
        let account = account.to_string();
        match (*service, *resource) {
            ("iam", "root") => Ok(Principal::Root { account }),
            ("iam", r) if r.starts_with("user/") => {
                let name = r
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(err)?;
                Ok(Principal::User {
                    arn: arn.to_string(),
                    name: name.to_string(),
                    account,
                })
            }
            ("sts", r) if r.starts_with("assumed-role/") => {
                let mut it = r.splitn(3, '/').skip(1);
                let (Some(role), Some(session)) = (it.next(), it.next()) else {
                    return Err(err());
                };
                if role.is_empty() || session.is_empty() {
                    return Err(err());
                }
                Ok(Principal::AssumedRole {
                    arn: arn.to_string(),
                    role_arn: format!("arn:{partition}:iam::{account}:role/{role}"),
                    account,
                })
            }
            ("sts", r) if r.starts_with("federated-user/") && r.len() > "federated-user/".len() => {
                Ok(Principal::FederatedUser {
                    arn: arn.to_string(),
                    account,
                })
            }
            _ => Err(err()),
        }
    }

    /// The caller's account, for IAM principals.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Root { account }
            | Principal::User { account, .. }
            | Principal::AssumedRole { account, .. }
            | Principal::FederatedUser { account, .. } => Some(account),
            _ => None,
        }
    }

    /// The ARN AWS reports for the caller (`aws:PrincipalArn` uses the role ARN
    /// for sessions; this is the session ARN, as in AccessDenied messages).
    pub fn arn(&self) -> String {
        match self {
            Principal::Root { account } => format!("arn:aws:iam::{account}:root"),
            Principal::User { arn, .. }
            | Principal::AssumedRole { arn, .. }
            | Principal::FederatedUser { arn, .. } => arn.clone(),
            Principal::WebIdentity { provider } => provider.clone(),
            Principal::Service { name } => name.clone(),
            Principal::Anonymous => "anonymous".to_string(),
        }
    }

    /// Whether identity-based policies exist for this caller. Web-identity,
    /// service and anonymous callers are authorized by resource policies alone.
    pub fn has_identity_policies(&self) -> bool {
        self.account().is_some()
    }

    /// The global condition keys AWS derives from the caller: `aws:PrincipalArn`,
    /// `aws:PrincipalAccount`, `aws:PrincipalType` and, for users, `aws:username`.
    /// Reference: reference_policies_condition-keys.html and
    /// reference_policies_variables.html#principaltable.
    pub fn condition_keys(&self) -> Vec<(&'static str, String)> {
        let mut keys = Vec::new();
        let arn_key = match self {
            Principal::AssumedRole { role_arn, .. } => Some(role_arn.clone()),
            Principal::WebIdentity { .. } | Principal::Service { .. } | Principal::Anonymous => {
                None
            }
            other => Some(other.arn()),
        };
        if let Some(arn) = arn_key {
            keys.push(("aws:PrincipalArn", arn));
        }
        if let Some(account) = self.account() {
            keys.push(("aws:PrincipalAccount", account.to_string()));
        }
        let kind = match self {
            Principal::Root { .. } => "Account",
            Principal::User { .. } => "User",
            Principal::AssumedRole { .. } => "AssumedRole",
            Principal::FederatedUser { .. } => "FederatedUser",
            Principal::WebIdentity { .. } => "WebIdentityUser",
            Principal::Service { .. } => "AWSService",
            Principal::Anonymous => "Anonymous",
        };
        keys.push(("aws:PrincipalType", kind.to_string()));
        if let Principal::User { name, .. } = self {
            keys.push(("aws:username", name.clone()));
        }
        keys
    }
}

impl std::str::FromStr for Principal {
    type Err = PrincipalParseError;

    /// Reads any caller: an IAM/STS principal ARN; an OIDC or SAML provider ARN
    /// or a web-identity provider domain prefixed `federated:`; a service
    /// principal (`…amazonaws.com`); `*` or `anonymous`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" || s == "anonymous" {
            return Ok(Principal::Anonymous);
        }
        if let Some(provider) = s.strip_prefix("federated:") {
            return Ok(Principal::WebIdentity {
                provider: provider.to_string(),
            });
        }
        if s.starts_with("arn:") && (s.contains(":oidc-provider/") || s.contains(":saml-provider/"))
        {
            return Ok(Principal::WebIdentity {
                provider: s.to_string(),
            });
        }
        if !s.starts_with("arn:")
            && (s.ends_with(".amazonaws.com") || s.ends_with(".amazonaws.com.cn"))
        {
            return Ok(Principal::Service {
                name: s.to_string(),
            });
        }
        Principal::from_arn(s)
    }
}

/// How strongly a `Principal` element names the caller. The order matters:
/// a direct grant to the caller beats a grant to its role, which beats a grant
/// to its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Naming {
    /// The account is named (`123456789012` or `…:root`): the account delegates
    /// to its own identity-based policies.
    Account,
    /// The role is named, and the caller is one of its sessions.
    Role,
    /// The caller itself is named (user ARN, session ARN, provider, service), or `*`.
    Direct,
}

/// The forms of the account principal, as `Principal` accepts them.
fn names_account(value: &str, account: &str) -> bool {
    value == account
        || value
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.strip_suffix(":root"))
            == Some(account)
}

/// How a `Principal` element names `caller`, if at all.
pub(crate) fn naming(set: &PrincipalSet, caller: &Principal) -> Option<Naming> {
    let map = match set {
        PrincipalSet::Any => return Some(Naming::Direct),
        PrincipalSet::Map(map) => map,
    };
    let mut best = None;
    for (kind, values) in map {
        for value in &values.items {
            let found = naming_one(*kind, value, caller);
            if found > best {
                best = found;
            }
        }
    }
    best
}

fn naming_one(kind: PrincipalType, value: &str, caller: &Principal) -> Option<Naming> {
    match kind {
        PrincipalType::Aws => {
            if value == "*" {
                return Some(Naming::Direct);
            }
            match caller {
                Principal::Root { account } => {
                    names_account(value, account).then_some(Naming::Direct)
                }
                Principal::User { arn, account, .. }
                | Principal::FederatedUser { arn, account } => {
                    if value == arn {
                        Some(Naming::Direct)
                    } else {
                        names_account(value, account).then_some(Naming::Account)
                    }
                }
                Principal::AssumedRole {
                    arn,
                    role_arn,
                    account,
                } => {
                    if value == arn {
                        Some(Naming::Direct)
                    } else if value == role_arn {
                        Some(Naming::Role)
                    } else {
                        names_account(value, account).then_some(Naming::Account)
                    }
                }
                _ => None,
            }
        }
        PrincipalType::Federated => match caller {
            Principal::WebIdentity { provider } if provider == value => Some(Naming::Direct),
            _ => None,
        },
        PrincipalType::Service => match caller {
            Principal::Service { name } if name == value => Some(Naming::Direct),
            _ => None,
        },
        PrincipalType::CanonicalUser => None,
    }
}

/// Whether a `NotPrincipal` element excludes the caller. AWS checks every
/// identity in the caller's chain (account, role, session): the caller is
/// excluded only if each one is listed, which is why the NotPrincipal reference
/// tells you to list the account, role and session ARNs together.
pub(crate) fn excluded_by(set: &PrincipalSet, caller: &Principal) -> bool {
    let map = match set {
        PrincipalSet::Any => return true,
        PrincipalSet::Map(map) => map,
    };
    let listed = |kind: PrincipalType, pred: &dyn Fn(&str) -> bool| {
        map.iter()
            .filter(|(k, _)| *k == kind)
            .any(|(_, vs)| vs.items.iter().any(|v| v == "*" || pred(v)))
    };
    let account_listed = |account: &str| listed(PrincipalType::Aws, &|v| names_account(v, account));
    match caller {
        Principal::Root { account } => account_listed(account),
        Principal::User { arn, account, .. } | Principal::FederatedUser { arn, account } => {
            account_listed(account) && listed(PrincipalType::Aws, &|v| v == arn)
        }
        Principal::AssumedRole {
            arn,
            role_arn,
            account,
        } => {
            account_listed(account)
                && listed(PrincipalType::Aws, &|v| v == role_arn)
                && listed(PrincipalType::Aws, &|v| v == arn)
        }
        Principal::WebIdentity { provider } => listed(PrincipalType::Federated, &|v| v == provider),
        Principal::Service { name } => listed(PrincipalType::Service, &|v| v == name),
        Principal::Anonymous => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Values;

    fn aws(values: &[&str]) -> PrincipalSet {
        PrincipalSet::Map(vec![(
            PrincipalType::Aws,
            Values {
                items: values.iter().map(|s| s.to_string()).collect(),
                single: false,
            },
        )])
    }

    #[test]
    fn reads_principal_arns() {
        let session =
            Principal::from_arn("arn:aws:sts::123456789012:assumed-role/app/pod-1").unwrap();
        assert_eq!(
            session,
            Principal::AssumedRole {
                arn: "arn:aws:sts::123456789012:assumed-role/app/pod-1".into(),
                role_arn: "arn:aws:iam::123456789012:role/app".into(),
                account: "123456789012".into(),
            }
        );
        let user = Principal::from_arn("arn:aws:iam::123456789012:user/dev/alice").unwrap();
        assert!(matches!(user, Principal::User { ref name, .. } if name == "alice"));
        for bad in [
            "",
            "arn:aws:iam::12345678901:root",
            "arn:aws:iam:us-east-1:123456789012:root",
            "arn:aws:iam::123456789012:role/app",
            "arn:aws:sts::123456789012:assumed-role/app",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:user/",
        ] {
            assert!(Principal::from_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_every_kind_of_caller() {
        let p: Principal = "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/X"
            .parse()
            .unwrap();
        assert!(matches!(p, Principal::WebIdentity { .. }));
        let p: Principal = "federated:cognito-identity.amazonaws.com".parse().unwrap();
        assert!(
            matches!(p, Principal::WebIdentity { ref provider } if provider == "cognito-identity.amazonaws.com")
        );
        let p: Principal = "ec2.amazonaws.com".parse().unwrap();
        assert!(matches!(p, Principal::Service { .. }));
        assert_eq!("*".parse::<Principal>().unwrap(), Principal::Anonymous);
        assert!("nobody".parse::<Principal>().is_err());
    }

    #[test]
    fn naming_strength_of_each_form() {
        let session = Principal::from_arn("arn:aws:sts::123456789012:assumed-role/app/s").unwrap();
        assert_eq!(
            naming(&aws(&["123456789012"]), &session),
            Some(Naming::Account)
        );
        assert_eq!(
            naming(&aws(&["arn:aws:iam::123456789012:root"]), &session),
            Some(Naming::Account)
        );
        assert_eq!(
            naming(&aws(&["arn:aws:iam::123456789012:role/app"]), &session),
            Some(Naming::Role)
        );
        assert_eq!(
            naming(
                &aws(&[
                    "123456789012",
                    "arn:aws:sts::123456789012:assumed-role/app/s"
                ]),
                &session
            ),
            Some(Naming::Direct)
        );
        assert_eq!(naming(&aws(&["987654321098"]), &session), None);
        assert_eq!(
            naming(&PrincipalSet::Any, &Principal::Anonymous),
            Some(Naming::Direct)
        );
        assert_eq!(
            naming(&aws(&["*"]), &Principal::Anonymous),
            Some(Naming::Direct)
        );
    }

    #[test]
    fn not_principal_needs_the_whole_chain_listed() {
        let session = Principal::from_arn("arn:aws:sts::123456789012:assumed-role/app/s").unwrap();
        let role_only = aws(&["arn:aws:iam::123456789012:role/app"]);
        assert!(!excluded_by(&role_only, &session));
        let chain = aws(&[
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::123456789012:role/app",
            "arn:aws:sts::123456789012:assumed-role/app/s",
        ]);
        assert!(excluded_by(&chain, &session));
    }
}
