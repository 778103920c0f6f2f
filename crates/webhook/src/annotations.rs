//! What a ServiceAccount's and a pod's `eks.amazonaws.com/*` annotations ask
//! for, parsed once (the cache keeps this, not the object).

use crate::settings::{MAX_TOKEN_EXPIRATION, MIN_TOKEN_EXPIRATION};

/// The prefixed annotations of one ServiceAccount, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountConfig {
    /// `role-arn`.
    pub role_arn: Option<Box<str>>,
    /// `audience`.
    pub audience: Option<Box<str>>,
    /// `sts-regional-endpoints`, when it parses as a boolean.
    pub sts_regional_endpoints: Option<bool>,
    /// `token-expiration`, when it parses (raised to the minimum).
    pub token_expiration: Option<i64>,
    /// `role-session-name`: a fixed name, or [`SESSION_NAME_FROM_POD`].
    pub role_session_name: Option<Box<str>>,
}

/// The `role-session-name` value that names each session after its pod.
/// Braces cannot occur in a role session name (`[\w+=,.@-]*`), so no fixed
/// name is mistaken for it.
pub const SESSION_NAME_FROM_POD: &str = "{pod-name}";

impl AccountConfig {
    /// Parses the annotations under `prefix` (others are ignored).
    pub fn from_annotations<'a>(
        prefix: &str,
        annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> AccountConfig {
        let mut c = AccountConfig::default();
        for (key, value) in annotations {
            let Some(name) = key
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
            else {
                continue;
            };
            match name {
                "role-arn" if !value.trim().is_empty() => c.role_arn = Some(value.trim().into()),
                "audience" if !value.is_empty() => c.audience = Some(value.into()),
                "sts-regional-endpoints" => c.sts_regional_endpoints = parse_bool(value),
                "token-expiration" => c.token_expiration = parse_expiration(value),
                "role-session-name" if !value.trim().is_empty() => {
                    c.role_session_name = Some(value.trim().into());
                }
                _ => {}
            }
        }
        c
    }

    /// Whether the ServiceAccount asks for anything at all (else the cache
    /// keeps only that it exists).
    pub fn is_empty(&self) -> bool {
        *self == AccountConfig::default()
    }
}

/// Go's `strconv.ParseBool`, as upstream reads `sts-regional-endpoints`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A `token-expiration` value: base-10 seconds, brought within what
/// Kubernetes accepts (600 to 2^32 - 1); anything else is ignored (the next
/// source applies).
pub fn parse_expiration(value: &str) -> Option<i64> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .map(|v| v.clamp(MIN_TOKEN_EXPIRATION, MAX_TOKEN_EXPIRATION))
}

/// The pod's own annotations that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodConfig {
    /// `token-expiration` (wins over the ServiceAccount's).
    pub token_expiration: Option<i64>,
    /// `skip-containers`: names of containers left alone.
    pub skip_containers: Vec<String>,
}

impl PodConfig {
    /// Parses the pod's annotations under `prefix`.
    pub fn from_annotations<'a>(
        prefix: &str,
        annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> PodConfig {
        let mut c = PodConfig::default();
        for (key, value) in annotations {
            match key
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
            {
                Some("token-expiration") => c.token_expiration = parse_expiration(value),
                Some("skip-containers") => {
                    c.skip_containers = value
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                _ => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "eks.amazonaws.com";

    #[test]
    fn service_account_annotations() {
        let c = AccountConfig::from_annotations(
            P,
            [
                (
                    "eks.amazonaws.com/role-arn",
                    " arn:aws:iam::111122223333:role/r ",
                ),
                ("eks.amazonaws.com/audience", "sts.example.com"),
                ("eks.amazonaws.com/sts-regional-endpoints", "True"),
                ("eks.amazonaws.com/token-expiration", "3600"),
                ("eks.amazonaws.com/role-session-name", "{pod-name}"),
                ("other.io/role-arn", "ignored"),
                ("eks.amazonaws.comx/role-arn", "ignored"),
            ],
        );
        assert_eq!(
            c.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/r")
        );
        assert_eq!(c.audience.as_deref(), Some("sts.example.com"));
        assert_eq!(c.sts_regional_endpoints, Some(true));
        assert_eq!(c.token_expiration, Some(3600));
        assert_eq!(c.role_session_name.as_deref(), Some(SESSION_NAME_FROM_POD));
    }

    #[test]
    fn bad_values_are_ignored_not_guessed() {
        let c = AccountConfig::from_annotations(
            P,
            [
                ("eks.amazonaws.com/role-arn", "  "),
                ("eks.amazonaws.com/sts-regional-endpoints", "yes"),
                ("eks.amazonaws.com/token-expiration", "1h"),
                ("eks.amazonaws.com/audience", ""),
            ],
        );
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn expiration_is_raised_to_the_minimum() {
        assert_eq!(parse_expiration("10"), Some(600));
        assert_eq!(parse_expiration("-5"), Some(600));
        assert_eq!(parse_expiration("600"), Some(600));
        assert_eq!(parse_expiration("172800"), Some(172_800));
        assert_eq!(parse_expiration("9999999999999"), Some((1 << 32) - 1));
        assert_eq!(parse_expiration("99999999999999999999"), None);
        assert_eq!(parse_expiration(""), None);
    }

    #[test]
    fn pod_annotations() {
        let c = PodConfig::from_annotations(
            P,
            [
                (
                    "eks.amazonaws.com/skip-containers",
                    "sidecar, istio-proxy,,",
                ),
                ("eks.amazonaws.com/token-expiration", "7200"),
            ],
        );
        assert_eq!(c.skip_containers, ["sidecar", "istio-proxy"]);
        assert_eq!(c.token_expiration, Some(7200));
    }
}
