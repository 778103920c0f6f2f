//! `irsa`: IAM Roles for ServiceAccounts without AWS.
//!
//! The binary only parses flags and wires the library crates together; each
//! command lives in its own module under `cmd/`.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Check and evaluate IAM policy documents offline.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Policy(c) => cmd::policy::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("irsa: {e}");
            ExitCode::from(2)
        }
    }
}
