//! Table tests of the mutation: each case is a pod fixture, what its
//! ServiceAccount (or the Pod Identity file, or the ConfigMap) says, and the
//! whole pod expected after applying the patch (with the json-patch crate,
//! independent of the code under test).
//! Behaviour as amazon-eks-pod-identity-webhook's `pkg/handler` and its
//! testdata, with the differences its issues ask for (see `mutate.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use webhook::annotations::AccountConfig;
use webhook::cache::{Account, Cache, Resolution};
use webhook::mutate::{Method, patch};
use webhook::settings::Settings;

const ROLE: &str = "arn:aws:iam::111122223333:role/s3-app-role";
const TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
const MOUNT: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount";

fn sa(annotations: &[(&str, &str)]) -> AccountConfig {
    AccountConfig::from_annotations(
        "eks.amazonaws.com",
        annotations.iter().map(|(k, v)| (*k, *v)),
    )
}

fn role_sa() -> AccountConfig {
    sa(&[("eks.amazonaws.com/role-arn", ROLE)])
}

fn apply(pod: &Value, ops: &[Value]) -> Value {
    let mut out = pod.clone();
    let p: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec())).unwrap();
    json_patch::patch(&mut out, &p).unwrap();
    out
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "production"}, "spec": spec})
}

fn with_annotations(mut p: Value, annotations: Value) -> Value {
    p["metadata"]["annotations"] = annotations;
    p
}

fn var(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn mount() -> Value {
    json!({"name": "aws-iam-token", "readOnly": true, "mountPath": MOUNT})
}

fn volume(audience: &str, seconds: i64) -> Value {
    json!({"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken": {
        "audience": audience, "expirationSeconds": seconds, "path": "token"}}]}})
}

fn role_vars() -> Vec<Value> {
    vec![
        var("AWS_ROLE_ARN", ROLE),
        var("AWS_WEB_IDENTITY_TOKEN_FILE", TOKEN_FILE),
    ]
}

fn mutate(p: &Value, account: &AccountConfig, settings: &Settings) -> Value {
    apply(p, &patch(p, Method::WebIdentity(account), settings))
}

#[test]
fn bare_pod_gets_env_mount_and_volume() {
    let p =
        pod(json!({"serviceAccountName": "s3-app", "containers": [{"name": "app", "image": "x"}]}));
    let got = mutate(&p, &role_sa(), &Settings::default());
    let want = pod(json!({
        "serviceAccountName": "s3-app",
        "containers": [{"name": "app", "image": "x", "env": role_vars(), "volumeMounts": [mount()]}],
        "volumes": [volume("sts.amazonaws.com", 86400)],
    }));
    assert_eq!(got, want);
}

#[test]
fn existing_lists_are_appended_to_and_unknown_fields_kept() {
    let p = pod(json!({
        "containers": [{"name": "app", "env": [var("FOO", "1")], "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        "x-future-field": {"kept": true}, "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "x-spec-field": 7,
    }));
    let got = mutate(&p, &role_sa(), &Settings::default());
    let mut env = vec![var("FOO", "1")];
    env.extend(role_vars());
    let want = pod(json!({
        "containers": [{"name": "app", "env": env, "volumeMounts": [{"name": "data", "mountPath": "/data"}, mount()],
                        "x-future-field": {"kept": true}, "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]}],
        "volumes": [{"name": "data", "emptyDir": {}}, volume("sts.amazonaws.com", 86400)],
        "x-spec-field": 7,
    }));
    assert_eq!(got, want);
}

#[test]
fn existing_volume_and_mount_of_that_name_are_left_alone() {
    let own_volume = json!({"name": "aws-iam-token", "secret": {"secretName": "mine"}});
    let own_mount = json!({"name": "aws-iam-token", "mountPath": "/elsewhere"});
    let p = pod(json!({
        "containers": [{"name": "a", "volumeMounts": [own_mount]}, {"name": "b"}],
        "volumes": [own_volume],
    }));
    let got = mutate(&p, &role_sa(), &Settings::default());
    let want = pod(json!({
        "containers": [
            {"name": "a", "volumeMounts": [own_mount], "env": role_vars()},
            {"name": "b", "env": role_vars(), "volumeMounts": [mount()]},
        ],
        "volumes": [own_volume],
    }));
    assert_eq!(got, want);
}

#[test]
fn region_is_injected_only_where_no_region_is_set() {
    let settings = Settings {
        aws_default_region: Some("eu-west-1".into()),
        ..Settings::default()
    };
    let p = pod(json!({"containers": [
        {"name": "plain"},
        {"name": "has-region", "env": [var("AWS_REGION", "us-east-2")]},
        {"name": "has-default", "env": [var("AWS_DEFAULT_REGION", "us-east-2")]},
        {"name": "env-from", "envFrom": [{"configMapRef": {"name": "settings"}}]},
        {"name": "env-from-aws-prefix", "envFrom": [{"prefix": "AWS_", "configMapRef": {"name": "settings"}}]},
        {"name": "env-from-other-prefix", "envFrom": [{"prefix": "APP_", "secretRef": {"name": "s"}}]},
    ]}));
    let got = mutate(&p, &role_sa(), &settings);
    let names = |i: usize| -> Vec<String> {
        got["spec"]["containers"][i]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    let region = [
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ];
    assert_eq!(names(0), region);
    assert_eq!(
        names(1),
        ["AWS_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
    );
    assert_eq!(
        got["spec"]["containers"][1]["env"][0],
        var("AWS_REGION", "us-east-2")
    );
    assert_eq!(
        names(2),
        [
            "AWS_DEFAULT_REGION",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE"
        ]
    );
    assert_eq!(
        names(3),
        ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"],
        "envFrom may set the region"
    );
    assert_eq!(
        names(4),
        ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"],
        "AWS_ prefix may make AWS_REGION"
    );
    assert_eq!(names(5), region, "APP_ prefix cannot make AWS_REGION");
    assert_eq!(
        got["spec"]["containers"][0]["env"][0],
        var("AWS_DEFAULT_REGION", "eu-west-1")
    );
}

#[test]
fn sts_regional_endpoints_flag_annotation_and_existing_value() {
    let p = pod(
        json!({"containers": [{"name": "a"}, {"name": "b", "env": [var("AWS_STS_REGIONAL_ENDPOINTS", "legacy")]}]}),
    );
    let flag = Settings {
        sts_regional_endpoints: true,
        ..Settings::default()
    };
    let got = mutate(&p, &role_sa(), &flag);
    assert_eq!(
        got["spec"]["containers"][0]["env"][0],
        var("AWS_STS_REGIONAL_ENDPOINTS", "regional")
    );
    assert_eq!(
        got["spec"]["containers"][1]["env"][0],
        var("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    );
    assert_eq!(
        got["spec"]["containers"][1]["env"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The annotation turns it off against the flag, or on without it.
    let off = sa(&[
        ("eks.amazonaws.com/role-arn", ROLE),
        ("eks.amazonaws.com/sts-regional-endpoints", "false"),
    ]);
    let got = mutate(&p, &off, &flag);
    assert_eq!(got["spec"]["containers"][0]["env"], json!(role_vars()));
    let on = sa(&[
        ("eks.amazonaws.com/role-arn", ROLE),
        ("eks.amazonaws.com/sts-regional-endpoints", "true"),
    ]);
    let got = mutate(&p, &on, &Settings::default());
    assert_eq!(
        got["spec"]["containers"][0]["env"][0],
        var("AWS_STS_REGIONAL_ENDPOINTS", "regional")
    );
}

#[test]
fn skip_containers_and_init_containers() {
    let p = with_annotations(
        pod(json!({
            "initContainers": [
                {"name": "init"},
                {"name": "sidecar", "restartPolicy": "Always"},
                {"name": "istio-init"},
            ],
            "containers": [{"name": "app"}, {"name": "istio-proxy"}],
        })),
        json!({"eks.amazonaws.com/skip-containers": "istio-proxy, istio-init"}),
    );
    let got = mutate(&p, &role_sa(), &Settings::default());
    for (list, i) in [
        ("initContainers", 0),
        ("initContainers", 1),
        ("containers", 0),
    ] {
        assert_eq!(
            got["spec"][list][i]["env"],
            json!(role_vars()),
            "{list}[{i}]"
        );
        assert_eq!(got["spec"][list][i]["volumeMounts"], json!([mount()]));
    }
    assert_eq!(got["spec"]["initContainers"][1]["restartPolicy"], "Always");
    assert_eq!(
        got["spec"]["initContainers"][2],
        json!({"name": "istio-init"})
    );
    assert_eq!(got["spec"]["containers"][1], json!({"name": "istio-proxy"}));
    // Every container skipped: no patch at all, not even a volume.
    let all = with_annotations(
        pod(json!({"containers": [{"name": "only"}]})),
        json!({"eks.amazonaws.com/skip-containers": "only"}),
    );
    assert!(patch(&all, Method::WebIdentity(&role_sa()), &Settings::default()).is_empty());
}

#[test]
fn windows_pods_get_a_windows_token_path() {
    for key in ["kubernetes.io/os", "beta.kubernetes.io/os"] {
        let p = pod(json!({"nodeSelector": {key: "windows"}, "containers": [{"name": "app"}]}));
        let got = mutate(&p, &role_sa(), &Settings::default());
        assert_eq!(
            got["spec"]["containers"][0]["env"][1],
            var(
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                r"C:\var\run\secrets\eks.amazonaws.com\serviceaccount\token"
            )
        );
        assert_eq!(
            got["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            MOUNT
        );
    }
    let linux = pod(
        json!({"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "app"}]}),
    );
    assert_eq!(
        mutate(&linux, &role_sa(), &Settings::default())["spec"]["containers"][0]["env"][1]["value"],
        TOKEN_FILE
    );
}

#[test]
fn token_expiration_precedence_and_clamping() {
    let expiry = |p: &Value, account: &AccountConfig, settings: &Settings| {
        mutate(p, account, settings)["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"]
            .as_i64()
            .unwrap()
    };
    let bare = pod(json!({"containers": [{"name": "app"}]}));
    let d = Settings::default();
    assert_eq!(expiry(&bare, &role_sa(), &d), 86400);
    let flag = Settings {
        token_expiration: 7200,
        ..Settings::default()
    };
    assert_eq!(expiry(&bare, &role_sa(), &flag), 7200);
    let sa_3600 = sa(&[
        ("eks.amazonaws.com/role-arn", ROLE),
        ("eks.amazonaws.com/token-expiration", "3600"),
    ]);
    assert_eq!(
        expiry(&bare, &sa_3600, &flag),
        3600,
        "ServiceAccount over flag"
    );
    let pod_1800 = with_annotations(
        bare.clone(),
        json!({"eks.amazonaws.com/token-expiration": "1800"}),
    );
    assert_eq!(
        expiry(&pod_1800, &sa_3600, &flag),
        1800,
        "pod over ServiceAccount"
    );
    let pod_small = with_annotations(
        bare.clone(),
        json!({"eks.amazonaws.com/token-expiration": "60"}),
    );
    assert_eq!(
        expiry(&pod_small, &sa_3600, &flag),
        600,
        "raised to Kubernetes' minimum"
    );
    let pod_bad = with_annotations(
        bare.clone(),
        json!({"eks.amazonaws.com/token-expiration": "one hour"}),
    );
    assert_eq!(
        expiry(&pod_bad, &sa_3600, &flag),
        3600,
        "a bad pod value falls back"
    );
}

#[test]
fn audience_and_mount_path_settings() {
    let account = sa(&[
        ("eks.amazonaws.com/role-arn", ROLE),
        ("eks.amazonaws.com/audience", "irsa.example.com"),
    ]);
    let settings = Settings {
        token_mount_path: "/aws/token-dir/".into(),
        ..Settings::default()
    };
    let got = mutate(
        &pod(json!({"containers": [{"name": "app"}]})),
        &account,
        &settings,
    );
    assert_eq!(got["spec"]["volumes"][0], volume("irsa.example.com", 86400));
    assert_eq!(
        got["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
        "/aws/token-dir/"
    );
    assert_eq!(
        got["spec"]["containers"][0]["env"][1],
        var("AWS_WEB_IDENTITY_TOKEN_FILE", "/aws/token-dir/token")
    );
    // Another prefix: eks.amazonaws.com annotations no longer count.
    let other = Settings {
        annotation_prefix: "irsa.dev".into(),
        ..Settings::default()
    };
    let p = with_annotations(
        pod(json!({"containers": [{"name": "app"}]})),
        json!({"eks.amazonaws.com/skip-containers": "app"}),
    );
    assert!(!patch(&p, Method::WebIdentity(&role_sa()), &other).is_empty());
}

#[test]
fn credentials_already_set_are_not_touched() {
    for existing in ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"] {
        let p = pod(json!({"containers": [{"name": "app", "env": [var(existing, "mine")]}]}));
        let got = mutate(&p, &role_sa(), &Settings::default());
        assert_eq!(
            got["spec"]["containers"][0]["env"],
            json!([var(existing, "mine")]),
            "{existing}"
        );
        assert_eq!(
            got["spec"]["containers"][0]["volumeMounts"],
            json!([mount()])
        );
    }
}

#[test]
fn nothing_to_change_means_no_patch() {
    let p = pod(json!({
        "containers": [{"name": "app", "env": role_vars(), "volumeMounts": [mount()]}],
        "volumes": [volume("sts.amazonaws.com", 86400)],
    }));
    assert_eq!(
        patch(&p, Method::WebIdentity(&role_sa()), &Settings::default()),
        Vec::<Value>::new()
    );
    let no_containers = pod(json!({}));
    assert!(
        patch(
            &no_containers,
            Method::WebIdentity(&role_sa()),
            &Settings::default()
        )
        .is_empty()
    );
}

#[test]
fn role_session_name_fixed_or_from_the_pod() {
    let fixed = sa(&[
        ("eks.amazonaws.com/role-arn", ROLE),
        ("eks.amazonaws.com/role-session-name", "batch-job"),
    ]);
    let got = mutate(
        &pod(json!({"containers": [{"name": "app"}]})),
        &fixed,
        &Settings::default(),
    );
    assert_eq!(
        got["spec"]["containers"][0]["env"][2],
        var("AWS_ROLE_SESSION_NAME", "batch-job")
    );
    let from_pod = sa(&[
        ("eks.amazonaws.com/role-arn", ROLE),
        ("eks.amazonaws.com/role-session-name", "{pod-name}"),
    ]);
    let got = mutate(
        &pod(json!({"containers": [{"name": "app"}]})),
        &from_pod,
        &Settings::default(),
    );
    assert_eq!(
        got["spec"]["containers"][0]["env"][2],
        json!({"name": "AWS_ROLE_SESSION_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    );
}

#[test]
fn pod_identity_mode_wins_over_role_arn() {
    let cache = Cache::default();
    cache.upsert(
        "production",
        "s3-app",
        Account {
            resource_version: "1".into(),
            config: Arc::new(role_sa()),
        },
    );
    cache.set_pod_identity(HashSet::from(["production/s3-app".to_string()]));
    let resolution = cache.resolve("production", "s3-app");
    assert!(matches!(resolution, Resolution::PodIdentity(Some(_))));
    let p = pod(json!({"containers": [{"name": "app"}]}));
    let settings = Settings {
        aws_default_region: Some("eu-west-1".into()),
        ..Settings::default()
    };
    let got = apply(&p, &patch(&p, resolution.method().unwrap(), &settings));
    let mut want = pod(json!({
        "containers": [{"name": "app", "env": [
            var("AWS_DEFAULT_REGION", "eu-west-1"),
            var("AWS_REGION", "eu-west-1"),
            var("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials"),
            var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"),
        ], "volumeMounts": [{"name": "eks-pod-identity-token", "readOnly": true, "mountPath": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"}]}],
        "volumes": [{"name": "eks-pod-identity-token", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "pods.eks.amazonaws.com", "expirationSeconds": 86400, "path": "eks-pod-identity-token"}}]}}],
    }));
    want["metadata"]["labels"] = json!({"eks.amazonaws.com/pod-identity": "enabled"});
    assert_eq!(got, want);
    // Existing labels get one more; an uncached ServiceAccount still works.
    let labelled = {
        let mut p = p.clone();
        p["metadata"]["labels"] = json!({"app": "x"});
        p
    };
    let got = apply(
        &labelled,
        &patch(&labelled, Method::PodIdentity(None), &Settings::default()),
    );
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "x", "eks.amazonaws.com/pod-identity": "enabled"})
    );
}

#[test]
fn config_map_mode_gives_roles_to_unannotated_service_accounts() {
    let cache = Cache::default();
    cache.upsert(
        "batch",
        "worker",
        Account {
            resource_version: "3".into(),
            config: Arc::new(AccountConfig::default()),
        },
    );
    let roles = webhook::sources::parse_config_map(
        r#"{"batch/worker": {"RoleARN": "arn:aws:iam::111122223333:role/worker", "Audience": "sts.amazonaws.com", "UseRegionalSTS": true, "TokenExpiration": 3600}}"#,
    )
    .unwrap();
    cache.set_config_map(roles);
    let resolution = cache.resolve("batch", "worker");
    let p = pod(json!({"containers": [{"name": "app"}]}));
    let got = apply(
        &p,
        &patch(&p, resolution.method().unwrap(), &Settings::default()),
    );
    assert_eq!(
        got["spec"]["containers"][0]["env"],
        json!([
            var("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
            var("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/worker"),
            var("AWS_WEB_IDENTITY_TOKEN_FILE", TOKEN_FILE),
        ])
    );
    assert_eq!(got["spec"]["volumes"][0], volume("sts.amazonaws.com", 3600));
    // Without the ConfigMap entry the ServiceAccount asks for nothing.
    cache.set_config_map(HashMap::new());
    assert_eq!(cache.resolve("batch", "worker"), Resolution::Nothing);
}

#[test]
fn a_mount_path_already_in_use_gets_no_second_mount() {
    let theirs = json!({"name": "their-token", "mountPath": MOUNT});
    let p = pod(json!({"containers": [{"name": "app", "volumeMounts": [theirs]}]}));
    let got = mutate(&p, &role_sa(), &Settings::default());
    assert_eq!(
        got["spec"]["containers"][0]["volumeMounts"],
        json!([theirs])
    );
    assert_eq!(got["spec"]["containers"][0]["env"], json!(role_vars()));
}
