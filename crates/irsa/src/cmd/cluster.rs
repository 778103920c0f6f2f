//! `irsa cluster …`, `irsa token` and `irsa oidc discovery`: local clusters
//! that issue ServiceAccount tokens, and discovery files for self-managed ones.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use server::clusters::{self, STS_AUDIENCE, TokenRequest};

use super::serve::DataDirArg;
use crate::datadir::{self, DataDir};

#[derive(Subcommand, Debug)]
pub(crate) enum ClusterCommand {
    /// Create a local cluster: a signing key and an issuer served by `irsa serve`.
    Create(ClusterCreateArgs),
    /// List the local clusters with their issuer URLs.
    List(ListArgs),
    /// Replace a cluster's signing key; the old key stays published until
    /// every token it signed has expired (or, with --revoke-previous, is
    /// deleted at once).
    RotateKey(RotateArgs),
    /// Register the cluster's issuer as an IAM OIDC provider with client id
    /// sts.amazonaws.com (what `eksctl utils associate-iam-oidc-provider` does).
    AssociateOidcProvider(AssociateArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ClusterCreateArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Cluster name.
    name: String,
    /// The account whose EKS API lists the cluster (default: the data dir's first).
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Region it is reported in.
    #[arg(long, default_value = "us-east-1")]
    region: String,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(Args, Debug)]
pub(crate) struct NameArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Cluster name.
    name: String,
}

#[derive(Args, Debug)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Cluster name.
    name: String,
    /// For a key compromise: delete every previous key now, so that tokens
    /// they signed are refused (by a running `irsa serve` within a second)
    /// instead of verifying until they expire. Pods must get new tokens; role
    /// sessions already issued stay valid until they expire.
    #[arg(long)]
    revoke_previous: bool,
}

#[derive(Args, Debug)]
pub(crate) struct AssociateArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Cluster name.
    name: String,
    /// The account to register the provider in (default: the cluster's).
    #[arg(long, value_name = "ID")]
    account: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The local cluster that signs the token.
    #[arg(long, default_value = clusters::DEFAULT_CLUSTER)]
    cluster: String,
    /// The ServiceAccount's namespace.
    #[arg(long)]
    namespace: String,
    /// The ServiceAccount's name.
    #[arg(long)]
    service_account: String,
    /// Audience; repeat for several.
    #[arg(long = "audience", default_value = STS_AUDIENCE)]
    audiences: Vec<String>,
    /// Lifetime in seconds (600 to 604800).
    #[arg(long, default_value_t = 86_400)]
    expiration_seconds: i64,
    /// Bind the token to a pod of this name.
    #[arg(long)]
    pod_name: Option<String>,
    /// Write the token to this file (mode 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub(crate) enum OidcCommand {
    /// Write `.well-known/openid-configuration` and `keys.json` for an issuer
    /// whose signing key you hold (what operators host for a self-managed cluster).
    Discovery(DiscoveryArgs),
}

#[derive(Args, Debug)]
pub(crate) struct DiscoveryArgs {
    /// The issuer URL (the cluster's `--service-account-issuer`), https.
    #[arg(long)]
    issuer: String,
    /// The RSA public key that verifies the cluster's tokens (`sa.pub`, PEM).
    #[arg(long, value_name = "FILE")]
    public_key: Vec<PathBuf>,
    /// Directory to write the files into.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// The URL clients reach the data dir's server at, from its AWS config.
fn public_url(dir: &DataDir) -> Result<String, String> {
    datadir::endpoint(dir).ok_or_else(|| {
        format!(
            "{} has no endpoint yet: start `irsa serve --data-dir {}` once",
            dir.config().display(),
            dir.root.display()
        )
    })
}

fn default_account(store: &dyn store::Store) -> Result<String, String> {
    store
        .accounts()
        .map_err(|e| e.to_string())?
        .first()
        .map(|a| a.id.clone())
        .ok_or_else(|| "the data dir has no account yet: start `irsa serve` once".to_string())
}

pub(crate) fn cluster(command: ClusterCommand) -> Result<ExitCode, String> {
    match command {
        ClusterCommand::Create(a) => {
            let dir = DataDir::new(&a.data.data_dir);
            let store = dir.open_existing()?;
            let account = match a.account {
                Some(id) => {
                    if store.account(&id).map_err(|e| e.to_string())?.is_none() {
                        return Err(format!(
                            "account {id} does not exist (irsa account create --id {id})"
                        ));
                    }
                    id
                }
                None => default_account(store.as_ref())?,
            };
            let c = clusters::create_cluster(store.as_ref(), &a.name, &account, &a.region)?;
            println!(
                "{}\t{}",
                c.name,
                clusters::issuer_url(&public_url(&dir)?, &c)
            );
        }
        ClusterCommand::List(a) => {
            let dir = DataDir::new(&a.data.data_dir);
            let store = dir.open_existing()?;
            let url = public_url(&dir)?;
            for c in store.clusters().map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}",
                    c.name,
                    c.account,
                    clusters::issuer_url(&url, &c)
                );
            }
        }
        ClusterCommand::RotateKey(a) => {
            let dir = DataDir::new(&a.data.data_dir);
            let store = dir.open_existing()?;
            let kid = clusters::rotate_key(store.as_ref(), &a.name, a.revoke_previous)?;
            println!("cluster {} now signs with key {kid}", a.name);
            if a.revoke_previous {
                println!("revoked every previous key: tokens they signed are refused");
            }
        }
        ClusterCommand::AssociateOidcProvider(a) => {
            let dir = DataDir::new(&a.data.data_dir);
            let store = dir.open_existing()?;
            let c = clusters::find_cluster(store.as_ref(), &a.name)?;
            let account = a.account.unwrap_or_else(|| c.account.clone());
            if store
                .account(&account)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err(format!("account {account} does not exist"));
            }
            let (arn, changed) =
                clusters::associate_provider(store.as_ref(), &public_url(&dir)?, &c, &account)?;
            if changed {
                println!("created IAM OIDC provider {arn}");
            } else {
                println!(
                    "IAM OIDC provider {arn} is already associated with cluster {}",
                    c.name
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn token(a: TokenArgs) -> Result<ExitCode, String> {
    let dir = DataDir::new(&a.data.data_dir);
    let store = dir.open_existing()?;
    let c = clusters::find_cluster(store.as_ref(), &a.cluster)?;
    for (what, value) in [
        ("--namespace", &a.namespace),
        ("--service-account", &a.service_account),
    ] {
        let ok = !value.is_empty()
            && value.len() <= 253
            && value
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.');
        if !ok {
            return Err(format!(
                "{what} `{value}` is not a Kubernetes name (lowercase letters, digits, `-`, `.`)"
            ));
        }
    }
    let token = clusters::mint_token(
        store.as_ref(),
        &public_url(&dir)?,
        &c,
        &TokenRequest {
            namespace: &a.namespace,
            service_account: &a.service_account,
            audiences: &a.audiences,
            expiration_seconds: a.expiration_seconds,
            pod: a.pod_name.as_deref(),
        },
    )?;
    match a.output {
        Some(path) => write_private(&path, &token)?,
        None => println!("{token}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

pub(crate) fn oidc(command: OidcCommand) -> Result<ExitCode, String> {
    let OidcCommand::Discovery(a) = command;
    let issuer = a.issuer.trim_end_matches('/');
    if !issuer.starts_with("https://") {
        return Err(format!(
            "--issuer `{issuer}` must be an https URL: AWS fetches discovery over https only"
        ));
    }
    if a.public_key.is_empty() {
        return Err("give at least one --public-key".into());
    }
    let mut keys = Vec::new();
    for path in &a.public_key {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        keys.push(
            oidc::public_jwk_from_pem(&pem).map_err(|e| format!("`{}`: {e}", path.display()))?,
        );
    }
    let well_known = a.out.join(".well-known");
    std::fs::create_dir_all(&well_known)
        .map_err(|e| format!("cannot create `{}`: {e}", well_known.display()))?;
    let discovery = oidc::discovery_document(issuer, &format!("{issuer}/keys.json"));
    std::fs::write(well_known.join("openid-configuration"), discovery)
        .map_err(|e| format!("cannot write discovery: {e}"))?;
    std::fs::write(a.out.join("keys.json"), oidc::Jwks { keys }.to_json())
        .map_err(|e| format!("cannot write keys.json: {e}"))?;
    println!(
        "wrote {} and {}; host them at {issuer}/.well-known/openid-configuration and {issuer}/keys.json",
        well_known.join("openid-configuration").display(),
        a.out.join("keys.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
