//! `irsa webhook`: the pod identity admission webhook, and `irsa webhook
//! mutate` to run its decision on files without a cluster.
//!
//! Flags keep amazon-eks-pod-identity-webhook's names and defaults, so its
//! manifests' arguments work unchanged (`--flag=value` included).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Args, Subcommand};
use serde_json::{Value, json};
use webhook::cache::Cache;
use webhook::metrics::Metrics;
use webhook::server::Webhook;
use webhook::settings::{ContainerCredentials, Settings};

use super::serve::{LogFormat, init_logging};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct WebhookCommand {
    #[command(subcommand)]
    command: Option<WebhookSubcommand>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum WebhookSubcommand {
    /// Decide on one pod file, as the webhook would, and print the mutated
    /// pod (or, with --patch, the JSON patch). Same code path as /mutate.
    Mutate(MutateArgs),
}

/// What the injection looks like (shared by serving and `mutate`).
#[derive(Args, Debug)]
struct SettingsArgs {
    /// Prefix of the ServiceAccount and pod annotations read.
    #[arg(long, default_value = "eks.amazonaws.com")]
    annotation_prefix: String,
    /// Token audience when the ServiceAccount has no `audience` annotation.
    #[arg(long, default_value = "sts.amazonaws.com")]
    token_audience: String,
    /// Token lifetime in seconds when no annotation sets one (raised to
    /// Kubernetes' minimum of 600, as upstream does).
    #[arg(long, default_value_t = 86_400)]
    token_expiration: i64,
    /// Where the token is mounted in each container.
    #[arg(
        long,
        default_value = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
    )]
    token_mount_path: String,
    /// Inject AWS_DEFAULT_REGION and AWS_REGION with this value.
    #[arg(long, value_name = "REGION")]
    aws_default_region: Option<String>,
    /// Inject AWS_STS_REGIONAL_ENDPOINTS=regional into every pod.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    sts_regional_endpoint: bool,
    /// EKS Pod Identity associations file (`{"identities": [{"namespace",
    /// "serviceAccount"}]}`), re-read on change; they win over role-arn.
    #[arg(long, value_name = "FILE")]
    watch_container_credentials_config: Option<PathBuf>,
    /// Audience of the Pod Identity token.
    #[arg(long, default_value = "pods.eks.amazonaws.com")]
    container_credentials_audience: String,
    /// Where the Pod Identity token is mounted.
    #[arg(
        long,
        default_value = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
    )]
    container_credentials_token_mount_path: String,
    /// Name of the Pod Identity token volume.
    #[arg(long, default_value = "eks-pod-identity-token")]
    container_credentials_token_volume_name: String,
    /// File name of the Pod Identity token in its mount.
    #[arg(long, default_value = "eks-pod-identity-token")]
    container_credentials_token_path: String,
    /// AWS_CONTAINER_CREDENTIALS_FULL_URI for Pod Identity pods.
    #[arg(long, default_value = "http://169.254.170.23/v1/credentials")]
    container_credentials_full_uri: String,
}

impl SettingsArgs {
    fn settings(&self) -> Result<Settings, String> {
        Ok(Settings {
            annotation_prefix: self.annotation_prefix.clone(),
            token_audience: self.token_audience.clone(),
            token_expiration: self.token_expiration.clamp(
                webhook::settings::MIN_TOKEN_EXPIRATION,
                webhook::settings::MAX_TOKEN_EXPIRATION,
            ),
            token_mount_path: self.token_mount_path.clone(),
            aws_default_region: self.aws_default_region.clone().filter(|r| !r.is_empty()),
            sts_regional_endpoints: self.sts_regional_endpoint,
            container_credentials: ContainerCredentials {
                audience: self.container_credentials_audience.clone(),
                mount_path: self.container_credentials_token_mount_path.clone(),
                volume_name: self.container_credentials_token_volume_name.clone(),
                token_path: self.container_credentials_token_path.clone(),
                full_uri: self.container_credentials_full_uri.clone(),
            },
        })
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to serve HTTPS on (upstream's default port, 443).
    #[arg(long, default_value = "0.0.0.0:443", conflicts_with = "port")]
    listen: String,
    /// Port to serve on, all interfaces (upstream's flag; --listen is finer).
    #[arg(long)]
    port: Option<u16>,
    /// Also serve /metrics, /healthz and /readyz over plain HTTP on this
    /// port (upstream's metrics port).
    #[arg(long)]
    metrics_port: Option<u16>,
    /// The API server's URL, overriding the kubeconfig's (upstream's flag).
    #[arg(long, value_name = "URL")]
    kube_api: Option<String>,
    /// TLS certificate (PEM chain), re-read when it changes.
    #[arg(long, default_value = "/etc/webhook/certs/tls.crt")]
    tls_cert: PathBuf,
    /// TLS private key (PEM), re-read when it changes.
    #[arg(long, default_value = "/etc/webhook/certs/tls.key")]
    tls_key: PathBuf,
    /// ServiceAccounts from this YAML file (re-read on change) instead of
    /// the Kubernetes API.
    #[arg(long, value_name = "FILE", conflicts_with = "kubeconfig")]
    service_accounts: Option<PathBuf>,
    /// Kubeconfig for the API (default: in-cluster, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// On a cache miss, how long to wait for the ServiceAccount from the
    /// API (a Go duration: 2s, 500ms, 1.5s; at most 8s, under the 10 s
    /// request timeout; 0 turns fetching off, as upstream's default).
    #[arg(long, default_value = "2s", value_parser = parse_grace, value_name = "DURATION")]
    service_account_lookup_grace_period: Duration,
    /// Read roles of `namespace/name` keys from ConfigMap
    /// pod-identity-webhook (in --namespace) too.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "false", action = ArgAction::Set)]
    watch_config_map: bool,
    /// Namespace of the ConfigMap.
    #[arg(long, default_value = "eks")]
    namespace: String,
    /// Accepted for upstream's manifests and ignored: certificates always
    /// come from --tls-cert/--tls-key.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, hide = true)]
    in_cluster: Option<bool>,
    /// Upstream's certificate-bootstrap and logging flags, accepted so its
    /// manifests run unchanged, and ignored.
    #[arg(long, hide = true)]
    service_name: Option<String>,
    #[arg(long, hide = true)]
    tls_secret: Option<String>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, hide = true)]
    logtostderr: Option<bool>,
    #[arg(long = "v", hide = true)]
    verbosity: Option<String>,
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set, hide = true)]
    enable_debugging_handlers: Option<bool>,
    /// Upstream's `--compose-role-arn` (role names completed from EC2
    /// instance metadata) is not supported: refused when true.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", default_value = "false", action = ArgAction::Set, hide = true)]
    compose_role_arn: bool,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(flatten)]
    settings: SettingsArgs,
}

#[derive(Args, Debug)]
struct MutateArgs {
    /// The pod (YAML or JSON; `-` for stdin).
    pod: PathBuf,
    /// ServiceAccounts (YAML) the pod may run as.
    #[arg(long, value_name = "FILE")]
    service_accounts: Option<PathBuf>,
    /// The pod's namespace when its metadata has none.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Print the JSON patch instead of the mutated pod.
    #[arg(long)]
    patch: bool,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// A Go duration (`time.ParseDuration`): `0`, or numbers with units `ns`,
/// `us`/`µs`, `ms`, `s`, `m`, `h`, fractions and sequences allowed (`1.5s`,
/// `1m30s`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration like 2s, 500ms or 1m30s");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let n: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * seconds;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// The lookup grace period: a duration the request timeout leaves room for.
fn parse_grace(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d > Duration::from_secs(8) {
        return Err(format!(
            "`{s}` is too long: a lookup must end within the webhook's 10 s request timeout (at most 8s)"
        ));
    }
    Ok(d)
}

pub(crate) fn webhook(c: WebhookCommand) -> Result<ExitCode, String> {
    match c.command {
        Some(WebhookSubcommand::Mutate(args)) => mutate(args),
        None => serve(c.serve),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    init_logging(args.log_format);
    if args.compose_role_arn {
        return Err(
            "--compose-role-arn is not supported: annotate ServiceAccounts with full role ARNs"
                .into(),
        );
    }
    let settings = args.settings.settings()?;
    let listen = match args.port {
        Some(port) => format!("0.0.0.0:{port}"),
        None => args.listen.clone(),
    };
    let certificate = webhook::tls::Certificate::open(&args.tls_cert, &args.tls_key)?;
    runtime()?.block_on(async move {
        let cache = Arc::new(Cache::default());
        let metrics = Arc::new(Metrics::default());
        let prefix = settings.annotation_prefix.clone();
        let connect = webhook::kube_source::Connect {
            kubeconfig: args.kubeconfig.clone(),
            api: args.kube_api.clone(),
        };
        let client = match &args.service_accounts {
            Some(path) => {
                tokio::spawn(webhook::sources::follow_service_accounts(
                    path.clone(),
                    cache.clone(),
                    prefix,
                ));
                None
            }
            None => {
                let client = webhook::kube_source::client(&connect).await?;
                webhook::kube_source::spawn_watch_thread(
                    connect.clone(),
                    cache.clone(),
                    prefix,
                    metrics.clone(),
                )?;
                Some(client)
            }
        };
        if args.watch_config_map {
            let Some(client) = &client else {
                return Err(
                    "--watch-config-map needs the Kubernetes API (not --service-accounts)"
                        .to_string(),
                );
            };
            cache.require(webhook::cache::Source::ConfigMap);
            tokio::spawn(webhook::kube_source::watch_config_map(
                client.clone(),
                args.namespace.clone(),
                cache.clone(),
            ));
        }
        if let Some(path) = &args.settings.watch_container_credentials_config {
            cache.require(webhook::cache::Source::PodIdentity);
            tokio::spawn(webhook::sources::follow_container_credentials(
                path.clone(),
                cache.clone(),
            ));
        }
        tokio::spawn(certificate.clone().follow());
        let grace = args.service_account_lookup_grace_period;
        let state = Arc::new(Webhook {
            settings,
            cache,
            client: client.filter(|_| !grace.is_zero()),
            lookup_wait: grace,
            metrics,
            inflight: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        if let Some(port) = args.metrics_port {
            let plain = tokio::net::TcpListener::bind(("0.0.0.0", port))
                .await
                .map_err(|e| format!("cannot listen on metrics port {port}: {e}"))?;
            tokio::spawn(webhook::server::serve_metrics(plain, state.clone()));
        }
        tracing::info!(listen = %listen, "irsa webhook serving /mutate over HTTPS");
        let app = webhook::server::router(state);
        webhook::server::serve_tls(listener, certificate, app, server::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn read_input(path: &PathBuf) -> Result<String, String> {
    if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("`{}`: {e}", path.display()))
    }
}

fn mutate(args: MutateArgs) -> Result<ExitCode, String> {
    let settings = args.settings.settings()?;
    let pod: Value = serde_yaml::from_str(&read_input(&args.pod)?)
        .map_err(|e| format!("`{}`: {e}", args.pod.display()))?;
    if pod.get("kind").and_then(Value::as_str) != Some("Pod") {
        return Err(format!("`{}` is not a Pod (kind: Pod)", args.pod.display()));
    }
    let cache = Arc::new(Cache::default());
    if let Some(path) = &args.service_accounts {
        let text = read_input(path)?;
        let accounts = webhook::sources::parse_service_accounts(&text, &settings.annotation_prefix)
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        cache.replace_all(accounts);
    }
    if let Some(path) = &args.settings.watch_container_credentials_config {
        let ids = webhook::sources::parse_container_credentials(&read_input(path)?)
            .map_err(|e| format!("`{}`: {e}", path.display()))?;
        cache.set_pod_identity(ids);
    }
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&args.namespace)
        .to_string();
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "irsa-webhook-mutate",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "namespace": namespace,
            "object": pod,
        },
    });
    let hook = Webhook {
        settings,
        cache,
        client: None,
        lookup_wait: Duration::ZERO,
        metrics: Arc::new(Metrics::default()),
        inflight: Default::default(),
    };
    let body = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
    let answer = runtime()?.block_on(hook.admit(Some("application/json"), &body));
    let field = |p: &str| answer.body.pointer(p).cloned().unwrap_or(Value::Null);
    if answer.status != 200 {
        return Err(field("/response/status/message")
            .as_str()
            .unwrap_or("rejected")
            .to_string());
    }
    for w in field("/response/warnings").as_array().into_iter().flatten() {
        eprintln!("warning: {}", w.as_str().unwrap_or_default());
    }
    let patch: Value = match field("/response/patch").as_str() {
        Some(b64) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| e.to_string())?;
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())?
        }
        None => json!([]),
    };
    if args.patch {
        println!(
            "{}",
            serde_json::to_string_pretty(&patch).map_err(|e| e.to_string())?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut mutated = pod;
    let ops: json_patch::Patch = serde_json::from_value(patch).map_err(|e| e.to_string())?;
    json_patch::patch(&mut mutated, &ops).map_err(|e| e.to_string())?;
    print!(
        "{}",
        serde_yaml::to_string(&mutated).map_err(|e| e.to_string())?
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (text, want) in [
            ("0", Duration::ZERO),
            ("2s", Duration::from_secs(2)),
            ("500ms", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("1m30s", Duration::from_secs(90)),
            ("250us", Duration::from_micros(250)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "2",
            "s",
            "2x",
            "-1s",
            "1..5s",
            "9999999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_grace("8s").is_ok());
        assert!(
            parse_grace("9s")
                .unwrap_err()
                .contains("10 s request timeout")
        );
    }
}
