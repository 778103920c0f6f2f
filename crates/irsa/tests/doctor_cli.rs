//! `irsa iamserviceaccount` and `irsa doctor` as a user runs them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{initialised, irsa};
use std::path::{Path, PathBuf};
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn examples(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

#[test]
fn iamserviceaccount_create_is_idempotent_and_delete_undoes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    initialised(&dir);
    let d = dir.to_str().unwrap();
    let args = [
        "iamserviceaccount",
        "create",
        "--data-dir",
        d,
        "--namespace",
        "production",
        "--name",
        "s3-app",
        "--role-name",
        "s3-app-role",
        "--attach-policy-arn",
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    ];
    let first = irsa(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        stdout(&first),
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s3-app\n  namespace: production\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/s3-app-role\n"
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("created role"));
    let again = irsa(&args);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("updated role"));
    // The role passes the doctor for its ServiceAccount, and only for it.
    let ok = irsa(&[
        "doctor",
        "--data-dir",
        d,
        "--role-arn",
        "arn:aws:iam::123456789012:role/s3-app-role",
        "--namespace",
        "production",
        "--service-account",
        "s3-app",
        "--action",
        "s3:GetObject",
        "--resource",
        "arn:aws:s3:::my-bucket/k",
        "--service-accounts",
        examples("s3-app-serviceaccount.yaml").to_str().unwrap(),
        "--pod",
        examples("s3-reader-pod.yaml").to_str().unwrap(),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("✓ permissions: the role's policies allow s3:GetObject"));
    assert!(stdout(&ok).contains("✓ annotation: ServiceAccount production/s3-app is annotated"));
    // The webhook link runs the webhook's own mutation on the pod.
    assert!(stdout(&ok).contains(
        "✓ webhook: the webhook injects AWS_ROLE_ARN=arn:aws:iam::123456789012:role/s3-app-role and \
         AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/secrets/eks.amazonaws.com/serviceaccount/token into aws-cli"
    ), "{}", stdout(&ok));
    let bad = irsa(&[
        "doctor",
        "--data-dir",
        d,
        "--role-arn",
        "arn:aws:iam::123456789012:role/s3-app-role",
        "--namespace",
        "default",
        "--service-account",
        "s3-app",
        "--json",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["code"], "AccessDenied");
    let trust = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["link"] == "trust")
        .unwrap();
    assert_eq!(trust["ok"], false);
    assert!(
        trust["notes"]
            .to_string()
            .contains("system:serviceaccount:default:s3-app")
    );

    // A role made by hand is not taken over.
    let other = irsa(&[
        "iamserviceaccount",
        "create",
        "--data-dir",
        d,
        "--namespace",
        "other",
        "--name",
        "x",
        "--role-name",
        "s3-app-role",
    ]);
    assert!(!other.status.success());
    assert!(
        String::from_utf8_lossy(&other.stderr)
            .contains("was not made by iamserviceaccount for other/x")
    );
    let missing_policy = irsa(&[
        "iamserviceaccount",
        "create",
        "--data-dir",
        d,
        "--namespace",
        "p",
        "--name",
        "y",
        "--attach-policy-arn",
        "arn:aws:iam::123456789012:policy/none",
    ]);
    assert!(
        String::from_utf8_lossy(&missing_policy.stderr)
            .contains("does not exist or is not attachable")
    );

    let del = irsa(&[
        "iamserviceaccount",
        "delete",
        "--data-dir",
        d,
        "--namespace",
        "production",
        "--name",
        "s3-app",
        "--role-name",
        "s3-app-role",
    ]);
    assert!(
        del.status.success(),
        "{}",
        String::from_utf8_lossy(&del.stderr)
    );
    let gone = irsa(&[
        "doctor",
        "--data-dir",
        d,
        "--role-arn",
        "arn:aws:iam::123456789012:role/s3-app-role",
        "--namespace",
        "production",
        "--service-account",
        "s3-app",
    ]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(stdout(&gone).contains("✗ role: AccessDenied"));
}

#[test]
fn doctor_reports_missing_annotations_and_bad_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    initialised(&dir);
    let d = dir.to_str().unwrap();
    irsa(&[
        "iamserviceaccount",
        "create",
        "--data-dir",
        d,
        "--namespace",
        "production",
        "--name",
        "s3-app",
        "--role-name",
        "s3-app-role",
    ]);
    let sa = tmp.path().join("sa.yaml");
    std::fs::write(&sa, "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s3-app\n  namespace: production\n").unwrap();
    let o = irsa(&[
        "doctor",
        "--data-dir",
        d,
        "--role-arn",
        "arn:aws:iam::123456789012:role/s3-app-role",
        "--namespace",
        "production",
        "--service-account",
        "s3-app",
        "--service-accounts",
        sa.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("✗ annotation: ServiceAccount production/s3-app has no eks.amazonaws.com/role-arn annotation"), "{}", stdout(&o));
    let token = tmp.path().join("token");
    std::fs::write(&token, "not a token").unwrap();
    let o = irsa(&[
        "doctor",
        "--data-dir",
        d,
        "--role-arn",
        "arn:aws:iam::123456789012:role/s3-app-role",
        "--token",
        token.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("✗ token: InvalidIdentityToken"),
        "{}",
        stdout(&o)
    );
    let o = irsa(&["doctor", "--data-dir", d, "--role-arn", "x"]);
    assert_eq!(o.status.code(), Some(2));
}
