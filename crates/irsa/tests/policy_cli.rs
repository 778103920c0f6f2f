//! `irsa policy …` as a user runs it: the built binary, real files, exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn example(name: &str) -> String {
    examples().join(name).display().to_string()
}

fn irsa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("irsa-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn validate_accepts_the_tutorial_policies_and_flags_the_bad_one() {
    let o = irsa(&[
        "policy",
        "validate",
        &example("trust-policy.json"),
        &example("app-policy.json"),
        &example("least-privilege-bad.json"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.contains("trust-policy.json: ok (trust policy, 1 statement)"),
        "{out}"
    );
    assert!(
        out.contains("app-policy.json: ok (managed policy, 3 statements)"),
        "{out}"
    );
    assert!(
        out.contains(
            "least-privilege-bad.json:4:5: security warning[IRSA_WILDCARD_ACTION_ON_ALL_RESOURCES]"
        ),
        "{out}"
    );
    // --strict turns security warnings into a failure.
    let o = irsa(&[
        "policy",
        "validate",
        "--strict",
        &example("least-privilege-bad.json"),
    ]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn validate_points_at_the_line_and_column_of_an_error() {
    let bad = temp_file(
        "bad.json",
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"my-bucket\"}\n  ]\n}\n",
    );
    let o = irsa(&["policy", "validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("bad.json:4:63: error: MalformedPolicyDocument: Resource my-bucket must be in ARN format or \"*\". (statement 1, field `Resource`)"),
        "{out}"
    );
}

#[test]
fn validate_json_and_use_override() {
    let o = irsa(&[
        "policy",
        "validate",
        "--json",
        "--use",
        "inline-role",
        &example("trust-policy.json"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["valid"], false);
    assert_eq!(v[0]["errors"][0]["code"], "MalformedPolicyDocument");
    assert_eq!(
        v[0]["errors"][0]["message"],
        "Policy document should not specify a principal."
    );
}

#[test]
fn validate_reports_unreadable_files() {
    let o = irsa(&["policy", "validate", "/nonexistent/policy.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read `/nonexistent/policy.json`"));
}

#[test]
fn simulate_allow_and_implicit_deny_with_aws_message() {
    let app = example("app-policy.json");
    let o = irsa(&[
        "policy",
        "simulate",
        "--policy",
        &app,
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::my-bucket/data.csv",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "Allow");
    assert_eq!(v["matched"][0]["statement"], 1);
    let o = irsa(&[
        "policy",
        "simulate",
        "--policy",
        &app,
        "--action",
        "s3:DeleteObject",
        "--resource",
        "arn:aws:s3:::my-bucket/data.csv",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "ImplicitDeny");
    assert_eq!(
        v["message"],
        "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: s3:DeleteObject on resource: arn:aws:s3:::my-bucket/data.csv because no identity-based policy allows the s3:DeleteObject action"
    );
}

#[test]
fn simulate_explicit_deny_names_the_statement() {
    let deny = temp_file(
        "deny.json",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::my-bucket/secret/*"}]}"#,
    );
    let o = irsa(&[
        "policy",
        "simulate",
        "--policy",
        &example("app-policy.json"),
        "--policy",
        deny.to_str().unwrap(),
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::my-bucket/secret/k",
    ]);
    let out = stdout(&o);
    assert!(out.starts_with("ExplicitDeny\n"), "{out}");
    assert!(
        out.contains("statement 1 `NoSecrets` of identity-based policy"),
        "{out}"
    );
    assert!(
        out.contains("with an explicit deny in an identity-based policy"),
        "{out}"
    );
}

#[test]
fn simulate_trust_policy_for_a_service_account() {
    let provider = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
    let key = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
    let run = |sub: &str| {
        let o = irsa(&[
            "policy",
            "simulate",
            "--resource-policy",
            &example("trust-policy.json"),
            "--action",
            "sts:AssumeRoleWithWebIdentity",
            "--principal",
            provider,
            "--context",
            &format!("{key}:sub={sub}"),
            "--context",
            &format!("{key}:aud=sts.amazonaws.com"),
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["decision"].as_str().unwrap().to_string()
    };
    assert_eq!(run("system:serviceaccount:production:s3-app"), "Allow");
    assert_eq!(run("system:serviceaccount:default:s3-app"), "ImplicitDeny");
}

#[test]
fn simulate_multivalued_context_by_repeating_a_key() {
    let p = temp_file(
        "tags.json",
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}}"#,
    );
    let run = |keys: &[&str]| {
        let mut args = vec![
            "policy",
            "simulate",
            "--policy",
            p.to_str().unwrap(),
            "--action",
            "ec2:CreateTags",
        ];
        let ctx: Vec<String> = keys.iter().map(|k| format!("aws:TagKeys={k}")).collect();
        for c in &ctx {
            args.push("--context");
            args.push(c);
        }
        stdout(&irsa(&args))
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(run(&["env", "team"]), "Allow");
    assert_eq!(run(&["env", "owner"]), "ImplicitDeny");
}

#[test]
fn simulate_rejects_bad_input_clearly() {
    let o = irsa(&[
        "policy",
        "simulate",
        "--action",
        "s3:GetObject",
        "--principal",
        "bob",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--principal: `bob` is not a principal ARN")
    );
    let o = irsa(&[
        "policy",
        "simulate",
        "--action",
        "s3:GetObject",
        "--context",
        "novalue",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected KEY=VALUE"));
    let o = irsa(&[
        "policy",
        "simulate",
        "--policy",
        &example("trust-policy.json"),
        "--action",
        "s3:GetObject",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("Policy document should not specify a principal.")
    );
}
