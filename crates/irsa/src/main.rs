//! `irsa`: IAM Roles for ServiceAccounts without AWS.
//!
//! The binary only parses flags and wires the library crates together; each
//! command lives in its own module under `cmd/`.

mod cmd;
mod datadir;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: the server allocates small strings per request on every core;
/// glibc's malloc took 15 % of the CPU of AssumeRoleWithWebIdentity under load
/// (perf, see bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// IAM Roles for ServiceAccounts, end to end: verify Kubernetes ServiceAccount
/// tokens, issue AWS-style role credentials, and check the IAM policies that
/// decide who gets them.
#[derive(Parser, Debug)]
#[command(name = "irsa", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the AWS-compatible endpoint (IAM, STS) on an embedded store.
    ///
    /// A fresh data dir gets an account, its admin key, and the files
    /// DATA_DIR/aws/config and DATA_DIR/aws/credentials; the printed `export`
    /// lines point the aws CLI and SDKs at them.
    Serve(cmd::serve::ServeArgs),
    /// Manage accounts of a data dir.
    #[command(subcommand)]
    Account(cmd::serve::AccountCommand),
    /// Manage local clusters, whose ServiceAccount tokens irsa signs.
    #[command(subcommand)]
    Cluster(cmd::cluster::ClusterCommand),
    /// Mint a ServiceAccount token of a local cluster, as the kubelet projects it.
    Token(cmd::cluster::TokenArgs),
    /// Create or delete the role of a ServiceAccount in one step, as
    /// `eksctl create iamserviceaccount` does.
    #[command(subcommand, name = "iamserviceaccount")]
    IamServiceAccount(cmd::doctor::IamServiceAccountCommand),
    /// Explain an identity chain link by link: token, provider, audience,
    /// trust policy, permissions, manifests; with the fix for the broken link.
    Doctor(cmd::doctor::DoctorArgs),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCommand),
    /// OIDC files for self-managed clusters.
    #[command(subcommand)]
    Oidc(cmd::cluster::OidcCommand),
    /// Check and evaluate IAM policy documents offline.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
    /// Run the pod identity admission webhook (a drop-in for
    /// amazon-eks-pod-identity-webhook), or try it on a pod file with `mutate`.
    Webhook(Box<cmd::webhook::WebhookCommand>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::serve(args),
        Command::Account(c) => cmd::serve::account(c),
        Command::Cluster(c) => cmd::cluster::cluster(c),
        Command::Token(a) => cmd::cluster::token(a),
        Command::Oidc(c) => cmd::cluster::oidc(c),
        Command::IamServiceAccount(c) => cmd::doctor::iam_service_account(c),
        Command::Doctor(a) => cmd::doctor::doctor(a),
        Command::Audit(c) => cmd::audit::audit(c),
        Command::Policy(c) => cmd::policy::run(c),
        Command::Webhook(c) => cmd::webhook::webhook(*c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("irsa: {e}");
            ExitCode::from(2)
        }
    }
}
