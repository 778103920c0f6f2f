//! AdmissionReview in and out (`admission.k8s.io/v1` and `v1beta1`), with
//! the request's apiVersion and kind echoed back as the API server requires.
//!
//! Reference: <https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response>

use base64::Engine;
use serde_json::{Value, json};

/// The versions of AdmissionReview the webhook answers.
pub const VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// Most containers (init, regular and ephemeral together) of a pod the
/// webhook decides on. Kubernetes sets no such limit, but no real pod comes
/// near it, and each container costs the patch about 2 KB: a 244 KB review
/// of 15,000 bare containers once grew a 159 MB patch.
pub const MAX_CONTAINERS: usize = 500;

/// Most JSON values (objects, arrays, strings, numbers, …) in a review. A
/// decoded value takes up to ~340 bytes however short its text, so 4 MiB of
/// `{"name":"c1"},…` once decoded to 150 MB; a real pod has a few thousand.
/// Bodies under `2 × MAX_VALUES` bytes cannot exceed it and are not counted.
pub const MAX_VALUES: usize = 100_000;

/// A pod creation to decide on.
#[derive(Debug)]
pub struct PodRequest {
    /// The review's `apiVersion`, echoed back.
    pub api_version: String,
    /// `request.uid`, echoed back.
    pub uid: String,
    /// `request.namespace` (a new pod's own namespace may be empty).
    pub namespace: String,
    /// The pod's ServiceAccount (`default` when unset).
    pub service_account: String,
    /// The pod object, as sent.
    pub pod: Value,
}

/// What to do with a review.
#[derive(Debug)]
pub enum Parsed {
    /// A pod being created: decide and maybe patch.
    Pod(PodRequest),
    /// A valid review this webhook does not act on (another kind, another
    /// operation): allowed unchanged (the reason goes to the debug log, not
    /// to users: only a misconfigured webhook sends these).
    Ignore {
        /// The review's `apiVersion`.
        api_version: String,
        /// `request.uid`.
        uid: String,
        /// Why it is left alone.
        reason: String,
    },
}

/// A review refused: the status code and message it is answered with.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected {
    /// 400 (malformed), 413 (too large), 415 (wrong media type), 503 (the
    /// API did not answer).
    pub status: u16,
    /// The review's apiVersion, when it got that far (else v1).
    pub api_version: String,
    /// The uid, when the review got that far.
    pub uid: String,
    /// What is wrong, precisely.
    pub message: String,
}

impl Rejected {
    /// The HTTP status of the answer. A review the API server can match
    /// (it has a uid) is answered 200 with `allowed: false`, so the API
    /// server shows the message; one it cannot is answered with `status`.
    /// 503 stays 503: not a decision, the webhook's failurePolicy applies.
    pub fn http_status(&self) -> u16 {
        if self.uid.is_empty() || self.status == 503 {
            self.status
        } else {
            200
        }
    }
}

fn rejected(status: u16, uid: &str, message: impl Into<String>) -> Rejected {
    Rejected {
        status,
        api_version: VERSIONS[0].to_string(),
        uid: uid.to_string(),
        message: message.into(),
    }
}

/// Counts the JSON values of `body` without building them, stopping at
/// [`MAX_VALUES`]; refuses a body with more. Other JSON errors are left to
/// the real parse, which reports them.
fn check_value_count(body: &[u8]) -> Result<(), Rejected> {
    let count = std::cell::Cell::new(0usize);
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde::de::DeserializeSeed::deserialize(Counter(&count), &mut de) {
        Err(_) if count.get() > MAX_VALUES => Err(rejected(
            413,
            "",
            format!(
                "the review holds more than {MAX_VALUES} JSON values; irsa webhook refuses it so that one review cannot exhaust its memory"
            ),
        )),
        _ => Ok(()),
    }
}

/// Counts values as serde visits them; fails once past [`MAX_VALUES`].
#[derive(Clone, Copy)]
struct Counter<'a>(&'a std::cell::Cell<usize>);

impl Counter<'_> {
    fn one<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.set(self.0.get() + 1);
        if self.0.get() > MAX_VALUES {
            Err(E::custom("too many values"))
        } else {
            Ok(())
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Counter<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Counter<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.one()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.one()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.one()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.one()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.one()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.one()
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.one()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.one()?;
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// Reads a review from an HTTP body.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Parsed, Rejected> {
    let mut version = None;
    parse_review(content_type, body, &mut version).map_err(|mut r| {
        if let Some(v) = version {
            r.api_version = v;
        }
        r
    })
}

fn parse_review(
    content_type: Option<&str>,
    body: &[u8],
    version: &mut Option<String>,
) -> Result<Parsed, Rejected> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    if media.as_deref() != Some("application/json") {
        return Err(rejected(
            415,
            "",
            format!(
                "Content-Type must be application/json, got {}",
                content_type.map_or("none".to_string(), |c| format!("`{c}`"))
            ),
        ));
    }
    if body.len() > 2 * MAX_VALUES {
        check_value_count(body)?;
    }
    let mut review: Value = serde_json::from_slice(body)
        .map_err(|e| rejected(400, "", format!("the body is not JSON: {e}")))?;
    let api_version = review
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !VERSIONS.contains(&api_version)
        || review.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err(rejected(
            400,
            "",
            format!(
                "expected an AdmissionReview of {} or {}, got apiVersion `{api_version}` kind `{}`",
                VERSIONS[0],
                VERSIONS[1],
                review
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            ),
        ));
    }
    *version = Some(api_version.to_string());
    let Some(request) = review.get("request").filter(|r| r.is_object()) else {
        return Err(rejected(400, "", "the AdmissionReview has no request"));
    };
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if uid.is_empty() {
        return Err(rejected(400, "", "the AdmissionReview request has no uid"));
    }
    let kind = request
        .pointer("/kind/kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = request
        .pointer("/kind/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ignore = |reason: String| {
        Ok(Parsed::Ignore {
            api_version: api_version.to_string(),
            uid: uid.to_string(),
            reason,
        })
    };
    if kind != "Pod" || !group.is_empty() {
        return ignore(format!(
            "irsa webhook mutates only Pods; a {}{kind} is left unchanged",
            if group.is_empty() {
                String::new()
            } else {
                format!("{group}/")
            }
        ));
    }
    let operation = request
        .get("operation")
        .and_then(Value::as_str)
        .unwrap_or("CREATE");
    if operation != "CREATE" {
        return ignore(format!(
            "irsa webhook mutates Pods on CREATE only, not {operation}"
        ));
    }
    let Some(pod) = request.get("object").filter(|o| o.is_object()) else {
        return Err(rejected(
            400,
            uid,
            "the AdmissionReview request has no object",
        ));
    };
    if pod
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "Pod")
    {
        return Err(rejected(
            400,
            uid,
            "request.kind is Pod but the object is not",
        ));
    }
    if pod.get("spec").is_some_and(|s| !s.is_object()) {
        return Err(rejected(400, uid, "the pod's spec is not an object"));
    }
    if let Some(field) = misshapen(pod) {
        return Err(rejected(
            400,
            uid,
            format!("the pod's {field} has the wrong type"),
        ));
    }
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .filter_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
        })
        .map(Vec::len)
        .sum::<usize>();
    if containers > MAX_CONTAINERS {
        return Err(rejected(
            400,
            uid,
            format!(
                "the pod has {containers} containers; irsa webhook admits pods of at most {MAX_CONTAINERS} (init, regular and ephemeral together), so that one review cannot exhaust its memory"
            ),
        ));
    }
    let namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| pod.pointer("/metadata/namespace").and_then(Value::as_str))
        .unwrap_or_default();
    if namespace.is_empty() {
        return Err(rejected(
            400,
            uid,
            "the AdmissionReview request has no namespace",
        ));
    }
    let service_account = ["/spec/serviceAccountName", "/spec/serviceAccount"]
        .iter()
        .find_map(|p| {
            pod.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("default");
    let (api_version, uid) = (api_version.to_string(), uid.to_string());
    let (namespace, service_account) = (namespace.to_string(), service_account.to_string());
    // Taken out of the review, not copied: it may be large.
    let pod = review
        .pointer_mut("/request/object")
        .map(Value::take)
        .unwrap_or_default();
    Ok(Parsed::Pod(PodRequest {
        api_version,
        uid,
        namespace,
        service_account,
        pod,
    }))
}

/// The first field the mutation reads or extends whose JSON type is not
/// Kubernetes' (the API server never sends such a pod; a patch against it
/// would not apply).
fn misshapen(pod: &Value) -> Option<String> {
    let is = |v: Option<&Value>, ok: fn(&Value) -> bool| v.is_none_or(|v| v.is_null() || ok(v));
    for field in [
        "/metadata",
        "/metadata/labels",
        "/metadata/annotations",
        "/spec/nodeSelector",
    ] {
        if !is(pod.pointer(field), Value::is_object) {
            return Some(field.trim_start_matches('/').replace('/', "."));
        }
    }
    if !is(pod.pointer("/spec/volumes"), Value::is_array) {
        return Some("spec.volumes".into());
    }
    for list in ["containers", "initContainers"] {
        let Some(containers) = pod
            .pointer(&format!("/spec/{list}"))
            .filter(|v| !v.is_null())
        else {
            continue;
        };
        let Some(containers) = containers.as_array() else {
            return Some(format!("spec.{list}"));
        };
        for (i, c) in containers.iter().enumerate() {
            if !c.is_object() {
                return Some(format!("spec.{list}[{i}]"));
            }
            for field in ["env", "volumeMounts", "envFrom"] {
                if !is(c.get(field), Value::is_array) {
                    return Some(format!("spec.{list}[{i}].{field}"));
                }
            }
        }
    }
    None
}

/// An allowing answer, with the patch if there is one.
pub fn allow(api_version: &str, uid: &str, patch: &[Value], warnings: &[String]) -> Value {
    let mut response = serde_json::Map::new();
    response.insert("uid".into(), json!(uid));
    response.insert("allowed".into(), json!(true));
    if !patch.is_empty() {
        let bytes = serde_json::to_vec(patch).unwrap_or_default();
        response.insert("patchType".into(), json!("JSONPatch"));
        response.insert(
            "patch".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
        );
    }
    if !warnings.is_empty() {
        response.insert("warnings".into(), json!(warnings));
    }
    json!({"apiVersion": api_version, "kind": "AdmissionReview", "response": response})
}

/// The answer to a refused review: an AdmissionReview (in the review's
/// version) that says what is wrong.
pub fn reject(r: &Rejected) -> Value {
    json!({
        "apiVersion": r.api_version,
        "kind": "AdmissionReview",
        "response": {
            "uid": r.uid,
            "allowed": false,
            "status": {"code": r.status, "message": r.message},
        },
    })
}
