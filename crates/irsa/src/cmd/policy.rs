//! `irsa policy validate` and `irsa policy simulate`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use policy::{
    CompiledPolicy, Context, Decision, Finding, Policy, PolicyError, PolicySet, PolicyUse,
    Principal, Request, Severity, StatementRef, explain, line_column, lint, statement_spans,
    validate,
};
use serde_json::{Value, json};

#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Check policy files as IAM would, and lint them for least privilege.
    ///
    /// Prints one line per problem as FILE:LINE:COLUMN. Exits 1 if any file is
    /// invalid (or, with --strict, has a security warning), 0 otherwise.
    Validate(ValidateArgs),
    /// Decide one request against policy files, as AWS's evaluation logic does.
    ///
    /// Prints the decision (Allow, ExplicitDeny or ImplicitDeny) and the
    /// statements that decided it; for a denial, the AccessDenied message AWS
    /// would give. Condition keys aws:PrincipalArn, aws:PrincipalAccount,
    /// aws:PrincipalType and aws:username are derived from --principal unless
    /// given with --context.
    Simulate(SimulateArgs),
}

/// What a policy file is used for, which decides the rules it must follow.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UseArg {
    /// Guess from the document: trust if it has a Principal and only sts
    /// actions, resource if it has a Principal, managed otherwise.
    Auto,
    /// Customer managed policy or permissions boundary (6,144 characters).
    Managed,
    /// Inline policy of a role (10,240 characters).
    InlineRole,
    /// Inline policy of a user (2,048 characters).
    InlineUser,
    /// Role trust policy (2,048 characters).
    Trust,
    /// Session policy passed to AssumeRole (2,048 characters).
    Session,
    /// Other resource-based policy (bucket, queue, key).
    Resource,
}

#[derive(Args, Debug)]
pub(crate) struct ValidateArgs {
    /// Policy files (JSON).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// What the files are used for.
    #[arg(long = "use", value_enum, default_value_t = UseArg::Auto)]
    use_: UseArg,
    /// Also fail (exit 1) on security warnings.
    #[arg(long)]
    strict: bool,
    /// Print one JSON array with a result object per file.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    /// Identity-based policy files of the caller.
    #[arg(long = "policy", value_name = "FILE")]
    policies: Vec<PathBuf>,
    /// The resource's policy (bucket policy, role trust policy).
    #[arg(long, value_name = "FILE")]
    resource_policy: Option<PathBuf>,
    /// The caller's permissions boundary.
    #[arg(long, value_name = "FILE")]
    boundary: Option<PathBuf>,
    /// Session policies of the caller's session.
    #[arg(long = "session-policy", value_name = "FILE")]
    session_policies: Vec<PathBuf>,
    /// The action, e.g. s3:GetObject.
    #[arg(long)]
    action: String,
    /// The resource ARN.
    #[arg(long, default_value = "*")]
    resource: String,
    /// The account owning the resource, when the ARN has none (S3).
    #[arg(long, value_name = "ACCOUNT_ID")]
    resource_account: Option<String>,
    /// The caller: an IAM user, root or assumed-role ARN, an OIDC provider ARN
    /// (web identity), a service principal, or "anonymous".
    #[arg(long, default_value = "arn:aws:iam::123456789012:user/alice")]
    principal: String,
    /// A condition key value, KEY=VALUE; repeat a key for a multivalued key.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// The resource policy must allow even within the account (role trust and
    /// KMS key policies). Default: on for sts:AssumeRole* actions.
    #[arg(long)]
    resource_must_allow: Option<bool>,
    /// Print one JSON object with a `decision` field.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: PolicyCommand) -> Result<ExitCode, String> {
    match command {
        PolicyCommand::Validate(args) => validate_files(&args),
        PolicyCommand::Simulate(args) => simulate(&args),
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn guess_use(text: &str) -> PolicyUse {
    let Ok(doc) = policy::parse(text) else {
        return PolicyUse::Managed;
    };
    let has_principal = doc.statements.iter().any(|s| s.principal.is_some());
    let only_sts = doc.statements.iter().all(|s| {
        !s.action.negated
            && s.action
                .value
                .items
                .iter()
                .all(|a| a.to_ascii_lowercase().starts_with("sts:"))
    });
    match (has_principal, only_sts) {
        (true, true) => PolicyUse::Trust,
        (true, false) => PolicyUse::Resource,
        (false, _) => PolicyUse::Managed,
    }
}

fn to_use(arg: UseArg, text: &str) -> PolicyUse {
    match arg {
        UseArg::Auto => guess_use(text),
        UseArg::Managed => PolicyUse::Managed,
        UseArg::InlineRole => PolicyUse::InlineRole,
        UseArg::InlineUser => PolicyUse::InlineUser,
        UseArg::Trust => PolicyUse::Trust,
        UseArg::Session => PolicyUse::Session,
        UseArg::Resource => PolicyUse::Resource,
    }
}

fn use_name(u: PolicyUse) -> &'static str {
    match u {
        PolicyUse::Managed => "managed",
        PolicyUse::InlineRole => "inline-role",
        PolicyUse::InlineUser => "inline-user",
        PolicyUse::InlineGroup => "inline-group",
        PolicyUse::Trust => "trust",
        PolicyUse::Session => "session",
        PolicyUse::Resource => "resource",
    }
}

/// Line and column of a policy error, or of the document start.
fn error_position(text: &str, e: &PolicyError) -> (usize, usize) {
    let offset = e.offset().or_else(|| {
        e.statement()
            .and_then(|n| statement_spans(text).get(n - 1).map(|s| s.0))
    });
    line_column(text, offset.unwrap_or(0))
}

fn finding_position(text: &str, f: &Finding) -> (usize, usize) {
    let offset = f
        .statement
        .and_then(|n| statement_spans(text).get(n - 1).map(|s| s.0));
    line_column(text, offset.unwrap_or(0))
}

fn validate_files(args: &ValidateArgs) -> Result<ExitCode, String> {
    let mut failed = false;
    let mut reports = Vec::new();
    let mut out = String::new();
    for path in &args.files {
        let name = path.display().to_string();
        let text = read(path)?;
        let use_ = to_use(args.use_, &text);
        match validate(&text, use_) {
            Err(e) => {
                failed = true;
                let (line, col) = error_position(&text, &e);
                let _ = writeln!(
                    out,
                    "{name}:{line}:{col}: error: {}: {e}",
                    e.code().as_str()
                );
                reports.push(json!({
                    "file": name, "use": use_name(use_), "valid": false,
                    "errors": [{
                        "code": e.code().as_str(), "message": e.aws_message(),
                        "detail": e.to_string(), "statement": e.statement(),
                        "field": e.field_name(), "line": line, "column": col,
                    }],
                    "findings": [],
                }));
            }
            Ok(doc) => {
                let findings = lint(&doc);
                if args.strict
                    && findings
                        .iter()
                        .any(|f| f.severity == Severity::SecurityWarning)
                {
                    failed = true;
                }
                let mut items = Vec::new();
                for f in &findings {
                    let (line, col) = finding_position(&text, f);
                    let level = match f.severity {
                        Severity::SecurityWarning => "security warning",
                        Severity::Warning => "warning",
                        Severity::Suggestion => "suggestion",
                    };
                    let _ = writeln!(
                        out,
                        "{name}:{line}:{col}: {level}[{}]: {}",
                        f.code, f.message
                    );
                    items.push(json!({
                        "code": f.code, "severity": f.severity.as_str(), "message": f.message,
                        "statement": f.statement, "sid": f.sid, "line": line, "column": col,
                        "learn_more": f.learn_more,
                    }));
                }
                if findings.is_empty() {
                    let n = doc.statements.len();
                    let plural = if n == 1 { "" } else { "s" };
                    let _ = writeln!(
                        out,
                        "{name}: ok ({} policy, {n} statement{plural})",
                        use_name(use_)
                    );
                }
                reports.push(json!({
                    "file": name, "use": use_name(use_), "valid": true,
                    "errors": [], "findings": items,
                }));
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(reports)).unwrap_or_default()
        );
    } else {
        print!("{out}");
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A policy file compiled for simulation, or the error that stops it.
fn load(path: &Path, use_: PolicyUse) -> Result<CompiledPolicy, String> {
    let text = read(path)?;
    let name = path.display().to_string();
    let doc: Policy = validate(&text, use_).map_err(|e| {
        let (line, col) = error_position(&text, &e);
        format!("{name}:{line}:{col}: {}: {e}", e.code().as_str())
    })?;
    Ok(CompiledPolicy::new(name, doc))
}

fn simulate(args: &SimulateArgs) -> Result<ExitCode, String> {
    let principal: Principal = args
        .principal
        .parse()
        .map_err(|e| format!("--principal: {e}"))?;
    let identity: Vec<CompiledPolicy> = args
        .policies
        .iter()
        .map(|p| load(p, PolicyUse::InlineRole))
        .collect::<Result<_, _>>()?;
    let session: Vec<CompiledPolicy> = args
        .session_policies
        .iter()
        .map(|p| load(p, PolicyUse::Session))
        .collect::<Result<_, _>>()?;
    let resource = args
        .resource_policy
        .as_deref()
        .map(|p| {
            let text = read(p)?;
            let use_ = match guess_use(&text) {
                PolicyUse::Trust => PolicyUse::Trust,
                _ => PolicyUse::Resource,
            };
            load(p, use_)
        })
        .transpose()?;
    let boundary = args
        .boundary
        .as_deref()
        .map(|p| load(p, PolicyUse::Managed))
        .transpose()?;
    let mut context = Context::new();
    for kv in &args.context {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--context `{kv}`: expected KEY=VALUE"))?;
        if k.is_empty() {
            return Err(format!("--context `{kv}`: the key is empty"));
        }
        context.append(k, v);
    }
    for (k, v) in principal.condition_keys() {
        context.insert_default(k, &v);
    }
    let set = PolicySet {
        identity: &identity,
        resource: resource.as_ref(),
        boundary: boundary.as_ref(),
        session: &session,
        resource_must_allow: args.resource_must_allow.unwrap_or_else(|| {
            args.action
                .to_ascii_lowercase()
                .starts_with("sts:assumerole")
        }),
    };
    let req = Request {
        principal: &principal,
        action: &args.action,
        resource: &args.resource,
        resource_account: args.resource_account.as_deref(),
        context: &context,
    };
    let evaluation = explain(&req, &set);
    let describe = |at: &StatementRef| {
        let policy = set.policy(*at);
        json!({
            "policy": policy.map(|p| p.id()),
            "kind": at.kind.phrase(),
            "statement": at.statement + 1,
            "sid": policy.and_then(|p| p.sid(at.statement)),
        })
    };
    let matched: Vec<Value> = evaluation.matched.iter().map(describe).collect();
    let message = match evaluation.decision {
        Decision::Allow(_) => None,
        d => Some(format!(
            "User: {} is not authorized to perform: {} on resource: {} {}",
            principal.arn(),
            args.action,
            args.resource,
            d.reason(&args.action)
        )),
    };
    if args.json {
        let out = json!({
            "decision": evaluation.decision.name(),
            "principal": principal.arn(),
            "action": args.action,
            "resource": args.resource,
            "matched": matched,
            "message": message,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("{}", evaluation.decision.name());
        for m in &matched {
            let sid = m["sid"]
                .as_str()
                .map(|s| format!(" `{s}`"))
                .unwrap_or_default();
            println!(
                "  statement {}{sid} of {} {}",
                m["statement"],
                m["kind"].as_str().unwrap_or_default(),
                m["policy"].as_str().unwrap_or_default()
            );
        }
        if let Some(message) = message {
            println!("  {message}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
