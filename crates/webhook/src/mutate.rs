//! The mutation itself, pure: a pod (raw JSON, so no field is ever lost) and
//! what its ServiceAccount asks for in, a minimal RFC 6902 JSON Patch out.
//!
//! Behaviour follows amazon-eks-pod-identity-webhook (`pkg/handler`): env
//! vars appended after the container's own and only where not already set,
//! a read-only mount and a projected `serviceAccountToken` volume unless one
//! of that name exists, init containers too, `skip-containers` honoured,
//! Windows pods given a `C:\` token path. Unlike upstream, the patch touches
//! only what it adds (upstream rewrites whole container arrays from typed
//! structs, dropping fields it does not know) and is empty when nothing
//! changes.

use serde_json::{Value, json};

use crate::annotations::{AccountConfig, PodConfig, SESSION_NAME_FROM_POD};
use crate::settings::{MAX_TOKEN_EXPIRATION, MIN_TOKEN_EXPIRATION, Settings, TOKEN_VOLUME};

/// How a pod gets its credentials.
#[derive(Debug, Clone, Copy)]
pub enum Method<'a> {
    /// IRSA: `AssumeRoleWithWebIdentity` with the role the ServiceAccount names.
    WebIdentity(&'a AccountConfig),
    /// EKS Pod Identity: the container credentials endpoint; the
    /// ServiceAccount's annotations (if any) still set STS and expiry.
    PodIdentity(Option<&'a AccountConfig>),
}

impl Method<'_> {
    /// The metrics label of the method.
    pub fn label(&self) -> &'static str {
        match self {
            Method::WebIdentity(_) => "sts_web_identity",
            Method::PodIdentity(_) => "container_credentials",
        }
    }
}

const REGIONAL: &str = "AWS_STS_REGIONAL_ENDPOINTS";
const DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
const REGION: &str = "AWS_REGION";
const SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";

/// The JSON Patch that gives `pod` its credentials (empty: nothing to do).
pub fn patch(pod: &Value, method: Method<'_>, settings: &Settings) -> Vec<Value> {
    let annotations = string_map(pod.pointer("/metadata/annotations"));
    let pod_config = PodConfig::from_annotations(&settings.annotation_prefix, annotations);
    let account = match method {
        Method::WebIdentity(a) => Some(a),
        Method::PodIdentity(a) => a,
    };
    let expiration = pod_config
        .token_expiration
        .or(account.and_then(|a| a.token_expiration))
        .unwrap_or(
            settings
                .token_expiration
                .clamp(MIN_TOKEN_EXPIRATION, MAX_TOKEN_EXPIRATION),
        );
    let regional = account
        .and_then(|a| a.sts_regional_endpoints)
        .unwrap_or(settings.sts_regional_endpoints);
    let cc = &settings.container_credentials;
    let (volume_name, mount_path, token_file, audience) = match method {
        Method::WebIdentity(a) => (
            TOKEN_VOLUME,
            settings.token_mount_path.as_str(),
            "token",
            a.audience.as_deref().unwrap_or(&settings.token_audience),
        ),
        Method::PodIdentity(_) => (
            cc.volume_name.as_str(),
            cc.mount_path.as_str(),
            cc.token_path.as_str(),
            cc.audience.as_str(),
        ),
    };
    let mut token_path = format!("{}/{token_file}", mount_path.trim_end_matches('/'));
    if is_windows(pod) {
        token_path = format!("C:{}", token_path.replace('/', "\\"));
    }
    // The credential variables, set as a pair or not at all.
    let credentials: Vec<Value> = match method {
        Method::WebIdentity(a) => {
            let mut vars = vec![
                var("AWS_ROLE_ARN", a.role_arn.as_deref().unwrap_or_default()),
                var("AWS_WEB_IDENTITY_TOKEN_FILE", &token_path),
            ];
            match a.role_session_name.as_deref() {
                Some(SESSION_NAME_FROM_POD) => vars.push(json!({
                    "name": SESSION_NAME,
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                })),
                Some(name) => vars.push(var(SESSION_NAME, name)),
                None => {}
            }
            vars
        }
        Method::PodIdentity(_) => vec![
            var("AWS_CONTAINER_CREDENTIALS_FULL_URI", &cc.full_uri),
            var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_path),
        ],
    };

    let mut ops = Vec::new();
    let mut mutated_any = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for (i, container) in containers.iter().enumerate() {
            if !container.is_object() {
                continue;
            }
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if pod_config.skip_containers.iter().any(|s| s == name) {
                continue;
            }
            mutated_any = true;
            let env = container.get("env").and_then(Value::as_array);
            let has = |n: &str| {
                env.is_some_and(|e| {
                    e.iter()
                        .any(|v| v.get("name").and_then(Value::as_str) == Some(n))
                })
            };
            let mut add = Vec::new();
            if regional && !has(REGIONAL) {
                add.push(var(REGIONAL, "regional"));
            }
            if let Some(region) = &settings.aws_default_region
                && !has(DEFAULT_REGION)
                && !has(REGION)
                && !env_from_may_set_region(container)
            {
                add.push(var(DEFAULT_REGION, region));
                add.push(var(REGION, region));
            }
            let pair_set = credentials
                .iter()
                .take(2)
                .any(|v| has(v.get("name").and_then(Value::as_str).unwrap_or_default()));
            if !pair_set {
                add.extend(
                    credentials
                        .iter()
                        .filter(|v| !has(v.get("name").and_then(Value::as_str).unwrap_or_default()))
                        .cloned(),
                );
            }
            let base = format!("/spec/{list}/{i}");
            append(&mut ops, container, &base, "env", add);
            // A mount of that volume, or anything at that path (a second
            // mount there would make the API server refuse the pod).
            let mounts = container.get("volumeMounts").and_then(Value::as_array);
            let mounted = mounts.is_some_and(|m| {
                m.iter().any(|v| {
                    v.get("name").and_then(Value::as_str) == Some(volume_name)
                        || v.get("mountPath").and_then(Value::as_str) == Some(mount_path)
                })
            });
            if !mounted {
                let mount = json!({"name": volume_name, "readOnly": true, "mountPath": mount_path});
                append(&mut ops, container, &base, "volumeMounts", vec![mount]);
            }
        }
    }
    if !mutated_any {
        return Vec::new();
    }
    let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array);
    let has_volume = volumes.is_some_and(|v| {
        v.iter()
            .any(|v| v.get("name").and_then(Value::as_str) == Some(volume_name))
    });
    if !has_volume {
        let volume = json!({
            "name": volume_name,
            "projected": {"sources": [{"serviceAccountToken": {
                "audience": audience,
                "expirationSeconds": expiration,
                "path": token_file,
            }}]},
        });
        match volumes {
            Some(_) => ops.push(json!({"op": "add", "path": "/spec/volumes/-", "value": volume})),
            None => ops.push(json!({"op": "add", "path": "/spec/volumes", "value": [volume]})),
        }
    }
    if let Method::PodIdentity(_) = method {
        let key = format!("{}/pod-identity", settings.annotation_prefix);
        match pod.pointer("/metadata/labels").and_then(Value::as_object) {
            None => ops
                .push(json!({"op": "add", "path": "/metadata/labels", "value": {key: "enabled"}})),
            Some(labels) if !labels.contains_key(&key) => ops.push(json!({
                "op": "add",
                "path": format!("/metadata/labels/{}", escape(&key)),
                "value": "enabled",
            })),
            Some(_) => {}
        }
    }
    ops
}

fn var(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// Appends `items` to the array `field` of the container at `base`: one
/// `add …/-` per item, or one `add` of the whole array when it is missing.
fn append(ops: &mut Vec<Value>, container: &Value, base: &str, field: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    if container.get(field).is_some_and(Value::is_array) {
        for item in items {
            ops.push(json!({"op": "add", "path": format!("{base}/{field}/-"), "value": item}));
        }
    } else {
        ops.push(json!({"op": "add", "path": format!("{base}/{field}"), "value": items}));
    }
}

/// Whether an `envFrom` source could define a region variable: its
/// ConfigMap or Secret is not visible here, so any source whose prefix
/// (none, or one `AWS_REGION` starts with) could produce the name counts,
/// and the webhook does not override what it may set (`env` wins over
/// `envFrom` in Kubernetes).
fn env_from_may_set_region(container: &Value) -> bool {
    container
        .get("envFrom")
        .and_then(Value::as_array)
        .is_some_and(|sources| {
            sources.iter().any(|s| {
                let prefix = s.get("prefix").and_then(Value::as_str).unwrap_or_default();
                REGION.starts_with(prefix) || DEFAULT_REGION.starts_with(prefix)
            })
        })
}

fn is_windows(pod: &Value) -> bool {
    ["kubernetes.io~1os", "beta.kubernetes.io~1os"]
        .iter()
        .any(|k| {
            pod.pointer(&format!("/spec/nodeSelector/{k}"))
                .and_then(Value::as_str)
                == Some("windows")
        })
}

/// RFC 6901 escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The string members of a JSON object (labels, annotations).
pub(crate) fn string_map(v: Option<&Value>) -> impl Iterator<Item = (&str, &str)> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
}
