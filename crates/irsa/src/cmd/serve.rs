//! `irsa serve` and `irsa account create`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::datadir::{self, DEFAULT_ACCOUNT, DataDir};

/// Where state lives; shared by every command that reads or changes it.
#[derive(Args, Debug, Clone)]
pub(crate) struct DataDirArg {
    /// The data dir: SQLite store, master key, AWS config files.
    #[arg(
        long,
        env = "IRSA_DATA_DIR",
        default_value = "./.irsa",
        value_name = "DIR"
    )]
    pub(crate) data_dir: PathBuf,
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// Address to listen on, for every service.
    #[arg(
        long,
        env = "IRSA_LISTEN",
        default_value = "127.0.0.1:4599",
        value_name = "ADDR"
    )]
    listen: String,
    /// The account a fresh data dir starts with.
    #[arg(long, default_value = DEFAULT_ACCOUNT, value_name = "ID")]
    account_id: String,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Record every IAM and STS call in the audit trail (durable before the
    /// answer), queryable with `aws cloudtrail lookup-events`.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    audit: OnOff,
    /// Also append every audit record as a JSON line to this file.
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// How long audit events are kept: a number of days (`90d`) or hours (`12h`).
    #[arg(long, default_value = "90d", value_parser = parse_retention)]
    audit_retention: i64,
    /// Extra trusted CA certificates (PEM) for fetching OIDC issuers' keys
    /// over https, for clusters whose issuer has a private CA.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// Also record successful object-level S3 calls (GetObject, PutObject, …)
    /// in the audit trail, as CloudTrail data events. Failures and bucket
    /// (management) calls are always recorded.
    #[arg(long)]
    s3_data_events: bool,
}

/// The host names under which virtual-hosted-style S3 requests name a
/// bucket (`BUCKET.NAME`): `localhost` and the endpoint's host when it is a
/// name, not an address.
fn s3_host_names(endpoint: &str) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Some(host) = url_host(endpoint)
        && host.parse::<std::net::IpAddr>().is_err()
        && host != "localhost"
    {
        names.push(host);
    }
    names
}

fn url_host(endpoint: &str) -> Option<String> {
    let rest = endpoint.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    Some(host.trim_matches(|c| c == '[' || c == ']').to_string())
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// `90d` or `12h` → seconds.
fn parse_retention(s: &str) -> Result<i64, String> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90d or 12h"))?;
    match unit {
        "d" if n > 0 => Ok(n * 86_400),
        "h" if n > 0 => Ok(n * 3_600),
        _ => Err(format!("`{s}` is not a duration like 90d or 12h")),
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum AccountCommand {
    /// Add an account with its admin access key and an AWS profile for it.
    ///
    /// Works while `irsa serve` runs: the server sees the account at once.
    Create(AccountCreateArgs),
}

#[derive(Args, Debug)]
pub(crate) struct AccountCreateArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// The new account's 12-digit id.
    #[arg(long, value_name = "ID")]
    id: String,
    /// The AWS profile to write for it (default: account-ID).
    #[arg(long)]
    profile: Option<String>,
}

fn check_account_id(id: &str) -> Result<(), String> {
    if policy::is_account_id(id) {
        Ok(())
    } else {
        Err(format!("account id `{id}` must be 12 digits"))
    }
}

pub(crate) fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IRSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal, not for files and log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub(crate) fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    check_account_id(&args.account_id)?;
    init_logging(args.log_format);
    let dir = DataDir::new(&args.data.data_dir);
    let _lock = dir.lock_for_serve()?;
    // Only a data dir without a master key is new; one with a key and no
    // account lost its store, and starting anew would overwrite its profiles.
    let fresh = !dir.root.join("master.key").exists();
    let store = dir.open_store()?;
    let endpoint = format!("http://{}", args.listen);
    let no_account = store.accounts().map_err(|e| e.to_string())?.is_empty();
    if no_account && !fresh {
        return Err(format!(
            "`{}` is damaged: it has a master key but its store holds no account. Restore \
             irsa.db from a backup, or move the whole directory away to start anew; the AWS \
             profiles were left as they are",
            dir.root.display()
        ));
    }
    if no_account {
        let (key, secret) = server::create_account(store.as_ref(), &args.account_id)
            .map_err(|e| e.message().to_string())?;
        datadir::write_profile(&dir, "default", &key, &secret, &endpoint)?;
        server::clusters::create_cluster(
            store.as_ref(),
            server::clusters::DEFAULT_CLUSTER,
            &args.account_id,
            "us-east-1",
        )?;
        eprintln!(
            "irsa: initialised {} with account {} and cluster {}",
            dir.root.display(),
            args.account_id,
            server::clusters::DEFAULT_CLUSTER
        );
    } else if datadir::set_endpoint(&dir, &endpoint)? {
        eprintln!(
            "irsa: pointed the AWS profiles in {} at {endpoint}",
            dir.config().display()
        );
    }
    println!("{}", dir.exports());
    let ca = match &args.ca_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("--ca-file `{}`: {e}", p.display()))?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        tracing::info!(listen = %args.listen, data_dir = %dir.root.display(), "irsa serving");
        let mut state = server::State::new(Arc::clone(&store), &endpoint, ca.as_deref())?;
        if args.audit == OnOff::On {
            // The audit writer gets its own connection, so its group commits
            // never wait behind IAM reads.
            let audit_store = dir.open_store()?;
            let config = server::AuditConfig {
                log_file: args.audit_log.clone(),
            };
            state = state.with_auditor(server::Auditor::start(audit_store, config)?);
            tokio::spawn(server::expire_audit_events(
                Arc::clone(&store),
                args.audit_retention,
            ));
        }
        let service = dir.open_s3(s3_host_names(&endpoint))?;
        service.recover().await.map_err(|e| {
            format!(
                "cannot clean up the S3 store in {}: {e}",
                dir.root.join("s3").display()
            )
        })?;
        state = state.with_s3(service, args.s3_data_events);
        let state = Arc::new(state);
        server::serve(listener, state)
            .await
            .map_err(|e| format!("server failed: {e}"))
    })?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn account(command: AccountCommand) -> Result<ExitCode, String> {
    match command {
        AccountCommand::Create(args) => {
            check_account_id(&args.id)?;
            let dir = DataDir::new(&args.data.data_dir);
            let store = dir.open_existing()?;
            let profile = args
                .profile
                .unwrap_or_else(|| format!("account-{}", args.id));
            if datadir::has_profile(&dir, &profile) {
                return Err(format!(
                    "profile `{profile}` already exists in {}; choose another with --profile",
                    dir.credentials().display()
                ));
            }
            let endpoint =
                datadir::endpoint(&dir).unwrap_or_else(|| "http://127.0.0.1:4599".into());
            let (key, secret) = server::create_account(store.as_ref(), &args.id)
                .map_err(|e| e.message().to_string())?;
            datadir::write_profile(&dir, &profile, &key, &secret, &endpoint)?;
            println!(
                "created account {} with profile `{profile}` (aws --profile {profile} …)",
                args.id
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
