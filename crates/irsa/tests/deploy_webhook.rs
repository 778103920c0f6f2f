//! The webhook's manifests (`deploy/webhook`, kustomize) and Helm chart
//! (`deploy/helm/irsa-webhook`) hang together: names and selectors match,
//! RBAC is read-only on ServiceAccounts, and every flag they pass is one
//! `irsa webhook` accepts. helm is not on every machine: the chart's
//! templates are checked as YAML with their expressions replaced.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn accepted(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap()
}

#[test]
fn kustomize_manifests_fit_together() {
    let dir = deploy().join("webhook");
    let kustomization: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    let mut all = Vec::new();
    for r in kustomization["resources"].as_array().unwrap() {
        all.extend(documents(
            &std::fs::read_to_string(dir.join(r.as_str().unwrap())).unwrap(),
        ));
    }
    let find = |kind: &str| -> Vec<&Value> { all.iter().filter(|d| d["kind"] == kind).collect() };
    let deployment = find("Deployment")[0];
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let out = accepted(&args);
    assert!(
        out.status.success(),
        "irsa rejects the manifest's args: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        pod["metadata"]["labels"]["eks.amazonaws.com/skip-pod-identity-webhook"],
        "true"
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    // The Service selects the pods.
    let service = find("Service")[0];
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][k], v);
    }
    // The webhook configuration calls that Service, on CREATE of pods.
    let config = find("MutatingWebhookConfiguration")[0];
    let hook = &config["webhooks"][0];
    assert_eq!(
        hook["clientConfig"]["service"]["name"],
        service["metadata"]["name"]
    );
    assert_eq!(
        hook["clientConfig"]["service"]["namespace"],
        kustomization["namespace"]
    );
    assert_eq!(hook["clientConfig"]["service"]["path"], "/mutate");
    assert_eq!(hook["failurePolicy"], "Ignore");
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(
        hook["admissionReviewVersions"],
        serde_json::json!(["v1", "v1beta1"])
    );
    assert_eq!(
        hook["rules"][0]["operations"],
        serde_json::json!(["CREATE"])
    );
    assert_eq!(hook["rules"][0]["resources"], serde_json::json!(["pods"]));
    assert_eq!(
        hook["objectSelector"]["matchExpressions"][0],
        serde_json::json!({"key": "eks.amazonaws.com/skip-pod-identity-webhook", "operator": "DoesNotExist"})
    );
    // The certificate: for the Service's DNS name, in the Secret the pods mount.
    let certificate = find("Certificate")[0];
    let secret = certificate["spec"]["secretName"].as_str().unwrap();
    assert_eq!(pod["spec"]["volumes"][0]["secret"]["secretName"], secret);
    let dns = format!(
        "irsa-webhook.{}.svc",
        kustomization["namespace"].as_str().unwrap()
    );
    assert!(
        certificate["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == dns.as_str())
    );
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        format!(
            "irsa-system/{}",
            certificate["metadata"]["name"].as_str().unwrap()
        )
        .as_str()
    );
    // RBAC: read-only, ServiceAccounts cluster-wide, ConfigMaps in its namespace.
    let cluster_role = find("ClusterRole")[0];
    assert_eq!(
        cluster_role["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "list", "watch"]}])
    );
    let role = find("Role")[0];
    assert_eq!(
        role["rules"][0]["verbs"],
        serde_json::json!(["get", "list", "watch"])
    );
    assert_eq!(
        find("ClusterRoleBinding")[0]["subjects"][0]["name"],
        pod["spec"]["serviceAccountName"]
    );
}

/// A template with its `{{ … }}` expressions replaced by a placeholder and
/// its control lines (if/with/range/end, includes on lines of their own)
/// dropped: what is left must be YAML of the expected shape.
fn skeleton(template: &str) -> String {
    let mut out = String::new();
    for line in template.lines() {
        let t = line.trim();
        if t.starts_with("{{") && t.ends_with("}}") && !t.contains(':') {
            continue;
        }
        let mut rest = line;
        let mut l = String::new();
        while let Some(start) = rest.find("{{") {
            l.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unclosed {{") + start + 2;
            l.push_str("x-templated");
            rest = &rest[end..];
        }
        l.push_str(rest);
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[test]
fn helm_chart_templates_are_yaml_and_use_known_values_and_flags() {
    let chart = deploy().join("helm/irsa-webhook");
    let meta: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("Chart.yaml")).unwrap()).unwrap();
    assert_eq!(meta["apiVersion"], "v2");
    assert_eq!(meta["name"], "irsa-webhook");
    let values: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap()).unwrap();
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(chart.join("templates")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.matches("{{").count(),
            text.matches("}}").count(),
            "{}",
            path.display()
        );
        // Every `.Values.a.b` resolves in values.yaml.
        for (i, _) in text.match_indices(".Values.") {
            let name: String = text[i + 8..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '_')
                .collect();
            let pointer = format!("/{}", name.trim_end_matches('.').replace('.', "/"));
            assert!(
                values.pointer(&pointer).is_some(),
                "{}: .Values.{name} is not in values.yaml",
                path.display()
            );
        }
        if path.extension().is_some_and(|e| e == "tpl") {
            continue;
        }
        for doc in documents(&skeleton(&text)) {
            kinds.push(doc["kind"].as_str().unwrap().to_string());
            if doc["kind"] == "Deployment" {
                // Every flag the template passes is one irsa webhook knows.
                let args: Vec<String> = doc["spec"]["template"]["spec"]["containers"][0]["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect();
                let help = String::from_utf8(accepted(&["webhook".to_string()]).stdout).unwrap();
                for flag in args.iter().filter(|a| a.starts_with("--")) {
                    let name = flag.split('=').next().unwrap();
                    assert!(
                        help.contains(&format!("{name} "))
                            || help.contains(&format!("{name}\n"))
                            || help.contains(&format!("{name}[")),
                        "{name} is not a flag of irsa webhook"
                    );
                }
            }
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "Certificate",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Issuer",
            "MutatingWebhookConfiguration",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
}

/// The arguments of upstream's own `deploy/deployment-base.yaml` (and its
/// other flags) start `irsa webhook` unchanged: a drop-in.
#[test]
fn upstream_manifest_arguments_are_accepted() {
    let upstream = [
        "webhook",
        "--in-cluster=false",
        "--namespace=eks",
        "--service-name=pod-identity-webhook",
        "--annotation-prefix=eks.amazonaws.com",
        "--token-audience=sts.amazonaws.com",
        "--logtostderr",
        "--port=443",
        "--metrics-port=9999",
        "--tls-secret=pod-identity-webhook",
        "--tls-cert=/etc/webhook/certs/tls.crt",
        "--tls-key=/etc/webhook/certs/tls.key",
        "--token-expiration=86400",
        "--aws-default-region=us-west-2",
        "--sts-regional-endpoint=true",
        "--watch-config-map=false",
        "--service-account-lookup-grace-period=100ms",
        "--enable-debugging-handlers=false",
        "--v=4",
    ]
    .map(String::from);
    let out = accepted(&upstream);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Flags it does not support are refused, not ignored.
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "webhook",
            "--compose-role-arn",
            "--service-accounts",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--compose-role-arn is not supported"));
}
