//! Files the webhook follows: a ServiceAccount list (`--service-accounts`),
//! the EKS Pod Identity associations
//! (`--watch-container-credentials-config`), and the ConfigMap-mode format.
//! Files are re-read when their modification time, size or inode changes
//! (polled, so Kubernetes' symlink-swapped Secret and ConfigMap volumes are
//! followed too).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::annotations::{AccountConfig, parse_expiration};
use crate::cache::{Account, Cache};

/// How often watched files are checked.
pub const POLL: Duration = Duration::from_secs(1);

/// What identifies a file's version: (modified, length, inode).
pub type Stamp = Option<(std::time::SystemTime, u64, u64)>;

/// The version of `path` now (following symlinks).
pub fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

/// Calls `load` now and whenever any of `paths` changes, forever. `load`
/// returns an error to have the same version tried again next time.
pub async fn follow(
    paths: Vec<PathBuf>,
    what: &'static str,
    mut load: impl FnMut() -> Result<(), String>,
) {
    let mut seen: Vec<Stamp> = Vec::new();
    loop {
        let now: Vec<Stamp> = paths.iter().map(|p| stamp(p)).collect();
        if now != seen {
            match load() {
                Ok(()) => {
                    tracing::info!(what, "loaded");
                    seen = now;
                }
                Err(e) => {
                    tracing::error!(what, error = %e, "cannot load; keeping the previous version")
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One document of a ServiceAccount file: a ServiceAccount, or a list of
/// them under `items`. Only what the cache keeps is read.
#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    items: Option<Vec<Document>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

/// Reads ServiceAccounts from YAML (or JSON): documents of `kind:
/// ServiceAccount`, or `List`/`ServiceAccountList` documents with `items`.
pub fn parse_service_accounts(
    text: &str,
    prefix: &str,
) -> Result<Vec<(String, String, Account)>, String> {
    let documents: Vec<Document> = if text.trim_start().starts_with('{') {
        // JSON (kubectl get -o json): parsed without building a YAML tree.
        serde_json::Deserializer::from_str(text)
            .into_iter::<Document>()
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?
    } else {
        let mut docs = Vec::new();
        for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            match Option::<Document>::deserialize(doc) {
                Ok(Some(d)) => docs.push(d),
                Ok(None) => {}
                Err(e) => return Err(format!("document {}: {e}", i + 1)),
            }
        }
        docs
    };
    let mut out = Vec::new();
    for (i, doc) in documents.into_iter().enumerate() {
        let items = match doc.items {
            Some(items) => items,
            None => vec![doc],
        };
        for item in items {
            if item.kind != "ServiceAccount" {
                return Err(format!(
                    "document {}: expected kind ServiceAccount, got `{}`",
                    i + 1,
                    item.kind
                ));
            }
            let meta = item.metadata;
            let name = meta.name.ok_or_else(|| {
                format!("document {}: a ServiceAccount without metadata.name", i + 1)
            })?;
            let annotations = meta
                .annotations
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()));
            let config = AccountConfig::from_annotations(prefix, annotations);
            out.push((
                meta.namespace.unwrap_or_else(|| "default".into()),
                name,
                Account {
                    resource_version: meta.resource_version.unwrap_or_default().into(),
                    config: Arc::new(config),
                },
            ));
        }
    }
    Ok(out)
}

/// Follows a ServiceAccount file into `cache`.
pub async fn follow_service_accounts(path: PathBuf, cache: Arc<Cache>, prefix: String) {
    let p = path.clone();
    follow(vec![path], "service accounts file", move || {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("`{}`: {e}", p.display()))?;
        let accounts = parse_service_accounts(&text, &prefix)
            .map_err(|e| format!("`{}`: {e}", p.display()))?;
        cache.replace_all(accounts);
        Ok(())
    })
    .await;
}

/// Reads the EKS Pod Identity associations file:
/// `{"identities": [{"namespace": "…", "serviceAccount": "…"}]}`; an empty
/// file means none.
pub fn parse_container_credentials(text: &str) -> Result<HashSet<String>, String> {
    if text.trim().is_empty() {
        return Ok(HashSet::new());
    }
    // Unknown fields are ignored, as upstream's Go decoder does.
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        identities: Vec<Identity>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Identity {
        namespace: String,
        service_account: String,
    }
    let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(file
        .identities
        .into_iter()
        .map(|i| format!("{}/{}", i.namespace, i.service_account))
        .collect())
}

/// Follows the EKS Pod Identity associations file into `cache`.
pub async fn follow_container_credentials(path: PathBuf, cache: Arc<Cache>) {
    let p = path.clone();
    follow(vec![path], "container credentials config", move || {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("`{}`: {e}", p.display()))?;
        cache.set_pod_identity(
            parse_container_credentials(&text).map_err(|e| format!("`{}`: {e}", p.display()))?,
        );
        Ok(())
    })
    .await;
}

/// Reads ConfigMap mode's `data.config`: `{"ns/sa": {"RoleARN": …,
/// "Audience": …, "UseRegionalSTS": …, "TokenExpiration": …}}`, field names
/// matched case-insensitively as Go's encoding/json does upstream.
pub fn parse_config_map(config: &str) -> Result<HashMap<String, AccountConfig>, String> {
    let value: Value = serde_json::from_str(config).map_err(|e| format!("data.config: {e}"))?;
    let Some(entries) = value.as_object() else {
        return Err("data.config must be a JSON object of `namespace/name` keys".into());
    };
    let mut out = HashMap::new();
    for (key, entry) in entries {
        let valid = key
            .split_once('/')
            .is_some_and(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains('/'));
        if !valid {
            return Err(format!("data.config: key `{key}` is not `namespace/name`"));
        }
        let Some(fields) = entry.as_object() else {
            return Err(format!("data.config: `{key}` is not an object"));
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let role = get("RoleARN")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty());
        let Some(role) = role else { continue };
        out.insert(
            key.clone(),
            AccountConfig {
                role_arn: Some(role.into()),
                audience: get("Audience")
                    .and_then(Value::as_str)
                    .filter(|a| !a.is_empty())
                    .map(Into::into),
                sts_regional_endpoints: get("UseRegionalSTS").and_then(Value::as_bool),
                token_expiration: get("TokenExpiration")
                    .and_then(Value::as_i64)
                    .filter(|t| *t != 0)
                    .and_then(|t| parse_expiration(&t.to_string())),
                role_session_name: None,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_accounts_from_yaml_documents_and_lists() {
        let text = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: s3-app
  namespace: production
  resourceVersion: \"42\"
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/s3-app-role
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: plain}
---
";
        let got = parse_service_accounts(text, "eks.amazonaws.com").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].0.as_str(), got[0].1.as_str()),
            ("production", "s3-app")
        );
        assert_eq!(&*got[0].2.resource_version, "42");
        assert_eq!(
            got[0].2.config.role_arn.as_deref(),
            Some("arn:aws:iam::111122223333:role/s3-app-role")
        );
        assert_eq!((got[1].0.as_str(), got[1].1.as_str()), ("default", "plain"));
        assert!(got[1].2.config.is_empty());
    }

    #[test]
    fn service_accounts_from_kubectl_json() {
        let text = r#"{"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a", "namespace": "n",
             "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r"}}, "secrets": []}]}"#;
        let got = parse_service_accounts(text, "eks.amazonaws.com").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].2.config.role_arn.as_deref(),
            Some("arn:aws:iam::1:role/r")
        );
        assert!(parse_service_accounts("{\"kind\": ", "p").is_err());
    }

    #[test]
    fn bad_service_account_files_say_where() {
        // Kubernetes' annotations are strings; an unquoted number is an error, not ignored.
        let e = parse_service_accounts(
            "kind: ServiceAccount\nmetadata:\n  name: a\n  annotations:\n    x: [1]\n",
            "p",
        )
        .unwrap_err();
        assert!(e.contains("document 1"), "{e}");
        let e = parse_service_accounts("kind: Pod\nmetadata: {name: x}\n", "p").unwrap_err();
        assert!(e.contains("document 1") && e.contains("`Pod`"), "{e}");
        let e = parse_service_accounts("kind: ServiceAccount\nmetadata: {}\n", "p").unwrap_err();
        assert!(e.contains("metadata.name"), "{e}");
        assert!(parse_service_accounts("a: [", "p").is_err());
    }

    #[test]
    fn container_credentials_file() {
        let ids = parse_container_credentials(
            r#"{"identities":[{"namespace":"ns","serviceAccount":"sa"},{"namespace":"b","serviceAccount":"c"}]}"#,
        )
        .unwrap();
        assert_eq!(ids, HashSet::from(["ns/sa".to_string(), "b/c".to_string()]));
        assert!(parse_container_credentials("  \n").unwrap().is_empty());
        assert!(parse_container_credentials(r#"{"identities":[{"namespace":"ns"}]}"#).is_err());
        let extra = parse_container_credentials(
            r#"{"identities":[{"namespace":"n","serviceAccount":"s","roleArn":"x"}],"version":2}"#,
        )
        .unwrap();
        assert_eq!(
            extra,
            HashSet::from(["n/s".to_string()]),
            "unknown fields ignored, as upstream's decoder does"
        );
    }

    #[test]
    fn config_map_entries() {
        let roles = parse_config_map(
            r#"{"ns/sa": {"RoleARN": "arn:aws:iam::1:role/r", "audience": "aud", "UseRegionalSTS": true, "TokenExpiration": 100},
                "ns/none": {"RoleARN": ""}}"#,
        )
        .unwrap();
        assert_eq!(roles.len(), 1);
        let c = &roles["ns/sa"];
        assert_eq!(c.role_arn.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert_eq!(c.audience.as_deref(), Some("aud"));
        assert_eq!(c.sts_regional_endpoints, Some(true));
        assert_eq!(c.token_expiration, Some(600));
        for bad in [
            r#"["x"]"#,
            r#"{"no-slash": {}}"#,
            r#"{"a/b/c": {}}"#,
            r#"{"/b": {}}"#,
            r#"{"a/b": 5}"#,
            "{",
        ] {
            assert!(parse_config_map(bad).is_err(), "{bad}");
        }
    }
}
