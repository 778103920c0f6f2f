//! Properties of the mutation over generated pods: the patch always applies,
//! a second pass over the patched pod changes nothing (the API server may
//! call the webhook again: `reinvocationPolicy: IfNeeded`), and nothing the
//! pod had is removed or changed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use webhook::annotations::AccountConfig;
use webhook::mutate::{Method, patch};
use webhook::settings::Settings;

const NAMES: &[&str] = &[
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "FOO",
];

fn env() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        proptest::collection::vec(proptest::sample::select(NAMES), 0..4).prop_map(|names| {
            Some(Value::Array(
                names
                    .into_iter()
                    .map(|n| json!({"name": n, "value": "x"}))
                    .collect(),
            ))
        }),
    ]
}

fn mounts() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!([]))),
        Just(Some(json!([{"name": "aws-iam-token", "mountPath": "/x"}]))),
        Just(Some(
            json!([{"name": "other", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount"}])
        )),
        Just(Some(json!([{"name": "data", "mountPath": "/data"}]))),
    ]
}

fn container() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(&["app", "sidecar", "init", "istio-proxy"][..]),
        env(),
        mounts(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(name, env, mounts, env_from, extra)| {
            let mut c = Map::new();
            c.insert("name".into(), json!(name));
            if let Some(e) = env {
                c.insert("env".into(), e);
            }
            if let Some(m) = mounts {
                c.insert("volumeMounts".into(), m);
            }
            if env_from {
                c.insert("envFrom".into(), json!([{"configMapRef": {"name": "cm"}}]));
            }
            if extra {
                c.insert("x-unknown".into(), json!({"kept": [1, 2]}));
            }
            Value::Object(c)
        })
}

fn pod() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(container(), 0..4),
        proptest::collection::vec(container(), 0..3),
        prop_oneof![
            Just(None),
            Just(Some(json!([]))),
            Just(Some(json!([{"name": "aws-iam-token", "emptyDir": {}}])))
        ],
        prop_oneof![Just(None), Just(Some("linux")), Just(Some("windows"))],
        prop_oneof![Just(None), Just(Some("sidecar")), Just(Some("app,init"))],
        prop_oneof![
            Just(None),
            Just(Some(json!({}))),
            Just(Some(json!({"app": "x"})))
        ],
    )
        .prop_map(|(containers, init, volumes, os, skip, labels)| {
            let mut spec = Map::new();
            spec.insert("containers".into(), Value::Array(containers));
            if !init.is_empty() {
                spec.insert("initContainers".into(), Value::Array(init));
            }
            if let Some(v) = volumes {
                spec.insert("volumes".into(), v);
            }
            if let Some(os) = os {
                spec.insert("nodeSelector".into(), json!({"kubernetes.io/os": os}));
            }
            let mut meta = Map::new();
            meta.insert("name".into(), json!("p"));
            if let Some(s) = skip {
                meta.insert(
                    "annotations".into(),
                    json!({"eks.amazonaws.com/skip-containers": s}),
                );
            }
            if let Some(l) = labels {
                meta.insert("labels".into(), l);
            }
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
        })
}

fn apply(pod: &Value, ops: &[Value]) -> Value {
    let mut out = pod.clone();
    let p: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec())).unwrap();
    json_patch::patch(&mut out, &p).expect("the patch applies");
    out
}

/// Whether everything in `old` is still in `new` unchanged (arrays may grow
/// at their end; `null` may become a value: the patch fills missing lists).
fn kept(old: &Value, new: &Value) -> bool {
    match (old, new) {
        (Value::Null, _) => true,
        (Value::Object(a), Value::Object(b)) => {
            a.iter().all(|(k, v)| b.get(k).is_some_and(|w| kept(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() <= b.len() && a.iter().zip(b).all(|(v, w)| kept(v, w))
        }
        (a, b) => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn patches_apply_keep_the_pod_and_are_idempotent(p in pod(), pod_identity in any::<bool>(), region in any::<bool>()) {
        let account = AccountConfig {
            role_arn: Some("arn:aws:iam::111122223333:role/r".into()),
            sts_regional_endpoints: Some(true),
            ..AccountConfig::default()
        };
        let settings = Settings {
            aws_default_region: region.then(|| "eu-west-1".to_string()),
            ..Settings::default()
        };
        let method = if pod_identity { Method::PodIdentity(Some(&account)) } else { Method::WebIdentity(&account) };
        let ops = patch(&p, method, &settings);
        for op in &ops {
            prop_assert_eq!(&op["op"], "add", "only additions");
        }
        let once = apply(&p, &ops);
        prop_assert!(kept(&p, &once), "something the pod had changed:\n{}\n{}", p, once);
        let again = patch(&once, method, &settings);
        prop_assert!(again.is_empty(), "a second pass changed the pod again: {:?}", again);
        // Every non-skipped container ends up with one mount at the token path at most.
        for list in ["initContainers", "containers"] {
            for c in once["spec"][list].as_array().into_iter().flatten() {
                let paths: Vec<&str> = c["volumeMounts"].as_array().into_iter().flatten()
                    .filter_map(|m| m["mountPath"].as_str()).collect();
                let mut dedup = paths.clone();
                dedup.sort_unstable();
                dedup.dedup();
                prop_assert_eq!(paths.len(), dedup.len(), "duplicate mountPath in {}", c);
            }
        }
    }
}

/// Any JSON at all, of small depth.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        proptest::sample::select(
            &[
                "",
                "Pod",
                "containers",
                "env",
                "windows",
                "aws-iam-token",
                "AWS_REGION"
            ][..]
        )
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(
                    &[
                        "spec",
                        "containers",
                        "initContainers",
                        "env",
                        "name",
                        "volumeMounts",
                        "volumes",
                        "metadata",
                        "annotations",
                        "labels",
                        "nodeSelector",
                        "envFrom",
                        "prefix",
                        "mountPath"
                    ][..]
                )
                .prop_map(str::to_string),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Garbage in: a clear answer or a patch that applies, never a panic.
    #[test]
    fn any_object_is_answered_without_panic(object in any_json(), spec in any_json()) {
        let mut object = object;
        if let Value::Object(m) = &mut object {
            m.insert("spec".into(), spec);
        }
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u", "kind": {"group": "", "kind": "Pod"}, "namespace": "n", "object": object}});
        let body = serde_json::to_vec(&review).unwrap();
        if let Ok(webhook::review::Parsed::Pod(r)) = webhook::review::parse(Some("application/json"), &body) {
            let account = AccountConfig { role_arn: Some("arn:aws:iam::1:role/r".into()), ..AccountConfig::default() };
            let ops = patch(&r.pod, Method::WebIdentity(&account), &Settings::default());
            let mut out = r.pod.clone();
            let p: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
            prop_assert!(json_patch::patch(&mut out, &p).is_ok(), "a patch that does not apply to {}", r.pod);
        }
    }
}
