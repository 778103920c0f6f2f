//! `irsa doctor` and `irsa iamserviceaccount`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use server::clusters::{self, TokenRequest};
use server::doctor::{Finding, Question, Report};
use server::setup::{self, ServiceAccountRole};

use super::serve::DataDirArg;
use crate::datadir::{self, DataDir};

#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The role the pod assumes (AWS_ROLE_ARN).
    #[arg(long)]
    role_arn: String,
    /// The pod's token file (AWS_WEB_IDENTITY_TOKEN_FILE).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["namespace", "service_account"])]
    token: Option<PathBuf>,
    /// Or: the local cluster to mint a token of, for --namespace/--service-account.
    #[arg(long, default_value = clusters::DEFAULT_CLUSTER)]
    cluster: String,
    /// The ServiceAccount's namespace (with --service-account, instead of --token).
    #[arg(long, requires = "service_account")]
    namespace: Option<String>,
    /// The ServiceAccount's name.
    #[arg(long, requires = "namespace")]
    service_account: Option<String>,
    /// An action the pod needs, e.g. s3:GetObject (with --resource).
    #[arg(long, requires = "resource")]
    action: Option<String>,
    /// The resource ARN of --action.
    #[arg(long, requires = "action")]
    resource: Option<String>,
    /// ServiceAccount manifests (YAML, several documents allowed).
    #[arg(long = "service-accounts", value_name = "FILE")]
    service_accounts: Option<PathBuf>,
    /// The pod (or Deployment, StatefulSet, DaemonSet, Job) manifest.
    #[arg(long, value_name = "FILE", requires = "service_accounts")]
    pod: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum IamServiceAccountCommand {
    /// Create (or update) the role of a ServiceAccount, with a least-privilege
    /// trust policy, attach policies, ensure the cluster's OIDC provider, and
    /// print the annotated ServiceAccount YAML.
    Create(IsaArgs),
    /// Detach the role's policies and delete the role.
    Delete(IsaArgs),
}

#[derive(Args, Debug)]
pub(crate) struct IsaArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The local cluster.
    #[arg(long, default_value = clusters::DEFAULT_CLUSTER)]
    cluster: String,
    /// The ServiceAccount's namespace.
    #[arg(long)]
    namespace: String,
    /// The ServiceAccount's name.
    #[arg(long)]
    name: String,
    /// Managed policies to attach; repeat for several.
    #[arg(long = "attach-policy-arn", value_name = "ARN")]
    policy_arns: Vec<String>,
    /// The role's name (default irsa-CLUSTER-NAMESPACE-NAME).
    #[arg(long)]
    role_name: Option<String>,
    /// The account (default: the cluster's).
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Output format of create.
    #[arg(long, default_value = "yaml", value_parser = ["yaml"])]
    output: String,
}

fn public_url(dir: &DataDir) -> Result<String, String> {
    datadir::endpoint(dir).ok_or_else(|| {
        format!(
            "{} has no endpoint yet: start `irsa serve` once",
            dir.config().display()
        )
    })
}

pub(crate) fn iam_service_account(command: IamServiceAccountCommand) -> Result<ExitCode, String> {
    let (args, create) = match command {
        IamServiceAccountCommand::Create(a) => (a, true),
        IamServiceAccountCommand::Delete(a) => (a, false),
    };
    let dir = DataDir::new(&args.data.data_dir);
    let store = dir.open_existing()?;
    let cluster = clusters::find_cluster(store.as_ref(), &args.cluster)?;
    let account = args
        .account
        .clone()
        .unwrap_or_else(|| cluster.account.clone());
    let want = ServiceAccountRole {
        cluster: &cluster,
        namespace: &args.namespace,
        name: &args.name,
        role_name: args.role_name.as_deref(),
        account: &account,
        policy_arns: &args.policy_arns,
    };
    if create {
        let (arn, created) = setup::create(store.as_ref(), &public_url(&dir)?, &want)?;
        eprintln!(
            "irsa: {} role {arn}",
            if created { "created" } else { "updated" }
        );
        print!(
            "{}",
            setup::service_account_yaml(&args.namespace, &args.name, &arn)
        );
    } else {
        let arn = setup::delete(store.as_ref(), &want)?;
        println!("deleted role {arn}");
    }
    Ok(ExitCode::SUCCESS)
}

/// YAML documents as JSON values (empty documents skipped).
fn yaml_docs(path: &std::path::Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn meta<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get(key)?.as_str()
}

/// The manifest links: the pod's ServiceAccount carries the role annotation,
/// and the webhook would inject the role and token.
fn manifest_findings(
    role_arn: &str,
    sub: Option<&str>,
    sa_file: &std::path::Path,
    pod_file: Option<&std::path::Path>,
) -> Result<Vec<Finding>, String> {
    let mut docs = yaml_docs(sa_file)?;
    if let Some(p) = pod_file {
        docs.extend(yaml_docs(p)?);
    }
    let find = |f: Finding| f;
    let mut out = Vec::new();
    let pod = docs.iter().find(|d| {
        matches!(
            d.get("kind").and_then(Value::as_str),
            Some("Pod" | "Deployment" | "StatefulSet" | "DaemonSet" | "Job")
        )
    });
    let (namespace, sa_name, pod_spec, labels) = match pod {
        Some(p) => {
            let template = p.get("spec").and_then(|s| s.get("template"));
            let spec = template
                .and_then(|t| t.get("spec"))
                .or_else(|| p.get("spec"));
            let labels = template
                .and_then(|t| t.get("metadata"))
                .or(p.get("metadata"))
                .and_then(|m| m.get("labels"))
                .cloned();
            (
                meta(p, "namespace").unwrap_or("default").to_string(),
                spec.and_then(|s| s.get("serviceAccountName"))
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string(),
                spec.cloned(),
                labels,
            )
        }
        None => {
            let sa = docs
                .iter()
                .find(|d| d.get("kind").and_then(Value::as_str) == Some("ServiceAccount"));
            (
                sa.and_then(|s| meta(s, "namespace"))
                    .unwrap_or("default")
                    .to_string(),
                sa.and_then(|s| meta(s, "name"))
                    .unwrap_or("default")
                    .to_string(),
                None,
                None,
            )
        }
    };
    let sa = docs.iter().find(|d| {
        d.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
            && meta(d, "name") == Some(sa_name.as_str())
            && meta(d, "namespace").unwrap_or("default") == namespace
    });
    let mut f = Finding {
        link: "annotation",
        ok: Some(true),
        detail: String::new(),
        notes: Vec::new(),
        fix: None,
    };
    match sa.and_then(|s| {
        s.get("metadata")?
            .get("annotations")?
            .get("eks.amazonaws.com/role-arn")?
            .as_str()
    }) {
        Some(a) if a == role_arn => {
            f.detail = format!(
                "ServiceAccount {namespace}/{sa_name} is annotated eks.amazonaws.com/role-arn: {a}"
            )
        }
        Some(a) => {
            f.ok = Some(false);
            f.detail = format!(
                "ServiceAccount {namespace}/{sa_name} is annotated with {a}, not {role_arn}"
            );
            f.fix = Some(format!(
                "set eks.amazonaws.com/role-arn: {role_arn} on the ServiceAccount"
            ));
        }
        None => {
            f.ok = Some(false);
            f.detail = match sa {
                Some(_) => format!(
                    "ServiceAccount {namespace}/{sa_name} has no eks.amazonaws.com/role-arn annotation: the webhook injects nothing"
                ),
                None => format!(
                    "no ServiceAccount {namespace}/{sa_name} in the manifests (the pod uses it)"
                ),
            };
            f.fix = Some(format!(
                "annotate ServiceAccount {namespace}/{sa_name} with eks.amazonaws.com/role-arn: {role_arn}"
            ));
        }
    }
    out.push(find(f));
    if let Some(sub) = sub {
        let expected = format!("system:serviceaccount:{namespace}:{sa_name}");
        let ok = sub == expected;
        out.push(Finding {
            link: "subject",
            ok: Some(ok),
            detail: if ok {
                format!("the token's sub is the pod's ServiceAccount {expected}")
            } else {
                format!("the token's sub is {sub}, but the pod runs as {expected}")
            },
            notes: Vec::new(),
            fix: (!ok).then(|| {
                "diagnose with the pod's own token (its projected token file)".to_string()
            }),
        });
    }
    if let Some(p) = pod {
        let skipped = labels
            .as_ref()
            .and_then(|l| l.get("eks.amazonaws.com/skip-pod-identity-webhook"))
            .is_some();
        let account = webhook::annotations::AccountConfig::from_annotations(
            "eks.amazonaws.com",
            sa.and_then(|s| s.pointer("/metadata/annotations"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        );
        let finding = if skipped {
            webhook_finding(false, "the pod is labelled eks.amazonaws.com/skip-pod-identity-webhook: the webhook leaves it alone".to_string(), Some("remove the label".to_string()))
        } else if account.role_arn.is_none() {
            webhook_finding(
                false,
                "the webhook injects nothing: the pod's ServiceAccount names no role".to_string(),
                None,
            )
        } else {
            webhook_preview(&as_pod(p, pod_spec.as_ref()), &account, role_arn)
        };
        out.push(finding);
    }
    Ok(out)
}

fn webhook_finding(ok: bool, detail: String, fix: Option<String>) -> Finding {
    Finding {
        link: "webhook",
        ok: Some(ok),
        detail,
        notes: Vec::new(),
        fix,
    }
}

/// The pod a manifest makes (a Pod, or a workload's pod template).
fn as_pod(manifest: &Value, spec: Option<&Value>) -> Value {
    let metadata = manifest
        .pointer("/spec/template/metadata")
        .or(manifest.get("metadata"))
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec.cloned().unwrap_or_default()})
}

/// What the webhook does to the pod: its own mutation (`irsa webhook`'s
/// code path), applied, then read back container by container.
fn webhook_preview(
    pod: &Value,
    account: &webhook::annotations::AccountConfig,
    role_arn: &str,
) -> Finding {
    let settings = webhook::settings::Settings::default();
    let ops = webhook::mutate::patch(
        pod,
        webhook::mutate::Method::WebIdentity(account),
        &settings,
    );
    let mut mutated = pod.clone();
    let applied = serde_json::from_value::<json_patch::Patch>(Value::Array(ops))
        .map_err(|e| e.to_string())
        .and_then(|p| json_patch::patch(&mut mutated, &p).map_err(|e| e.to_string()));
    if let Err(e) = applied {
        return webhook_finding(
            false,
            format!("the webhook's patch does not apply to this pod: {e}"),
            None,
        );
    }
    let mut injected = Vec::new();
    let mut notes = Vec::new();
    let mut token_file = String::new();
    for list in ["initContainers", "containers"] {
        for c in mutated
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            let var = |n: &str| {
                c.get("env")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|e| e.get("name").and_then(Value::as_str) == Some(n))
                    .and_then(|e| e.get("value").and_then(Value::as_str))
            };
            match var("AWS_ROLE_ARN") {
                None => notes.push(format!(
                    "container {name} is skipped (skip-containers): it gets no credentials"
                )),
                Some(v) if v != role_arn => {
                    return webhook_finding(
                        false,
                        format!(
                            "container {name} sets AWS_ROLE_ARN={v} itself; the webhook does not override it"
                        ),
                        Some(format!("remove container {name}'s AWS_ROLE_ARN")),
                    );
                }
                Some(_) => {
                    injected.push(name.to_string());
                    token_file = var("AWS_WEB_IDENTITY_TOKEN_FILE")
                        .unwrap_or_default()
                        .to_string();
                }
            }
        }
    }
    if injected.is_empty() {
        return webhook_finding(
            false,
            "the webhook injects nothing: every container is skipped".to_string(),
            Some("remove eks.amazonaws.com/skip-containers".to_string()),
        );
    }
    let mut f = webhook_finding(
        true,
        format!(
            "the webhook injects AWS_ROLE_ARN={role_arn} and AWS_WEB_IDENTITY_TOKEN_FILE={token_file} into {} (audience {})",
            injected.join(", "),
            account
                .audience
                .as_deref()
                .unwrap_or(&settings.token_audience)
        ),
        None,
    );
    f.notes = notes;
    f
}

fn print(report: &Report, extra: &[Finding]) {
    for f in report.findings.iter().chain(extra) {
        let mark = match f.ok {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "·",
        };
        println!("{mark} {}: {}", f.link, f.detail);
        for n in &f.notes {
            println!("    {n}");
        }
        if let Some(fix) = &f.fix {
            println!("  fix: {fix}");
        }
    }
}

fn to_json(f: &Finding) -> Value {
    json!({"link": f.link, "ok": f.ok, "detail": f.detail, "notes": f.notes, "fix": f.fix})
}

pub(crate) fn doctor(a: DoctorArgs) -> Result<ExitCode, String> {
    let dir = DataDir::new(&a.data.data_dir);
    let store = dir.open_existing()?;
    let url = public_url(&dir)?;
    let token = match (&a.token, &a.namespace, &a.service_account) {
        (Some(path), _, _) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?,
        (None, Some(ns), Some(sa)) => {
            let c = clusters::find_cluster(store.as_ref(), &a.cluster)?;
            let aud = [clusters::STS_AUDIENCE.to_string()];
            clusters::mint_token(
                store.as_ref(),
                &url,
                &c,
                &TokenRequest {
                    namespace: ns,
                    service_account: sa,
                    audiences: &aud,
                    expiration_seconds: 3600,
                    pod: None,
                },
            )?
        }
        _ => return Err("give --token FILE, or --namespace and --service-account".into()),
    };
    // S3 resources are decided with their bucket's policy, as the real call.
    let state = server::State::new(Arc::clone(&store), &url, None)?
        .with_s3(dir.open_s3(Vec::new())?, false);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let action = a.action.as_deref().zip(a.resource.as_deref());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let report = runtime.block_on(server::doctor::diagnose(
        &state,
        &Question {
            role_arn: &a.role_arn,
            token: &token,
            action,
        },
        now,
    ));
    let sub = oidc::Unverified::parse(token.trim())
        .ok()
        .map(|t| t.claims.sub);
    let extra = match &a.service_accounts {
        Some(sa) => manifest_findings(&a.role_arn, sub.as_deref(), sa, a.pod.as_deref())?,
        None => Vec::new(),
    };
    let ok = report.ok() && extra.iter().all(|f| f.ok != Some(false));
    if a.json {
        let out = json!({
            "ok": ok,
            "error": report.error.as_ref().map(|(c, m)| json!({"code": c, "message": m})),
            "links": report.findings.iter().chain(&extra).map(to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print(&report, &extra);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod webhook_link_tests {
    use super::*;
    use serde_json::json;

    const ROLE: &str = "arn:aws:iam::123456789012:role/s3-app-role";

    fn account() -> webhook::annotations::AccountConfig {
        webhook::annotations::AccountConfig {
            role_arn: Some(ROLE.into()),
            ..Default::default()
        }
    }

    fn pod(annotations: Value, containers: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": annotations},
               "spec": {"containers": containers}})
    }

    #[test]
    fn skipped_containers_are_noted_and_all_skipped_fails() {
        let p = pod(
            json!({"eks.amazonaws.com/skip-containers": "proxy"}),
            json!([{"name": "app"}, {"name": "proxy"}]),
        );
        let f = webhook_preview(&p, &account(), ROLE);
        assert_eq!(f.ok, Some(true), "{}", f.detail);
        assert!(f.detail.contains("into app ("), "{}", f.detail);
        assert_eq!(
            f.notes,
            ["container proxy is skipped (skip-containers): it gets no credentials"]
        );
        let all = pod(
            json!({"eks.amazonaws.com/skip-containers": "app"}),
            json!([{"name": "app"}]),
        );
        let f = webhook_preview(&all, &account(), ROLE);
        assert_eq!(f.ok, Some(false));
        assert!(f.detail.contains("every container is skipped"));
    }

    #[test]
    fn a_preset_role_is_reported_with_its_container() {
        let p = pod(
            json!({}),
            json!([{"name": "app", "env": [{"name": "AWS_ROLE_ARN", "value": "arn:aws:iam::1:role/x"}]}]),
        );
        let f = webhook_preview(&p, &account(), ROLE);
        assert_eq!(f.ok, Some(false));
        assert!(
            f.detail
                .contains("container app sets AWS_ROLE_ARN=arn:aws:iam::1:role/x itself")
        );
        assert_eq!(
            f.fix.as_deref(),
            Some("remove container app's AWS_ROLE_ARN")
        );
    }

    #[test]
    fn a_workload_template_is_the_pod() {
        let deployment = json!({"kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}}});
        let p = as_pod(&deployment, deployment.pointer("/spec/template/spec"));
        assert_eq!(p["metadata"], json!({"labels": {"a": "b"}}));
        assert_eq!(webhook_preview(&p, &account(), ROLE).ok, Some(true));
    }
}
