//! `irsa cluster …`, `irsa token`, `irsa account create` and `irsa oidc
//! discovery` as a user runs them, on a data dir that `irsa serve` initialised.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{initialised, irsa};
use std::process::Output;

use base64::Engine;

fn out(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn a_fresh_data_dir_has_an_account_files_and_my_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    initialised(&dir);
    let d = dir.to_str().unwrap();
    let config = std::fs::read_to_string(dir.join("aws/config")).unwrap();
    assert!(
        config.contains("[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:0\n"),
        "{config}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["master.key", "irsa.db", "aws/credentials"] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
    }
    let list = out(&irsa(&["cluster", "list", "--data-dir", d]));
    assert!(
        list.starts_with("my-cluster\t123456789012\thttp://127.0.0.1:0/oidc/id/"),
        "{list}"
    );
    let id = list.trim().rsplit('/').next().unwrap();
    assert_eq!(id.len(), 32);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );
}

#[test]
fn clusters_tokens_and_providers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    initialised(&dir);
    let d = dir.to_str().unwrap();
    let created = out(&irsa(&["cluster", "create", "staging", "--data-dir", d]));
    assert!(created.starts_with("staging\thttp://127.0.0.1:0/oidc/id/"));
    assert!(
        err(&irsa(&["cluster", "create", "staging", "--data-dir", d]))
            .contains("cluster `staging` already exists")
    );
    assert!(
        err(&irsa(&["cluster", "create", "bad name", "--data-dir", d])).contains("is not valid")
    );
    assert!(
        err(&irsa(&[
            "cluster",
            "create",
            "x",
            "--account",
            "999999999999",
            "--data-dir",
            d
        ]))
        .contains("account 999999999999 does not exist")
    );

    let first = out(&irsa(&[
        "cluster",
        "associate-oidc-provider",
        "staging",
        "--data-dir",
        d,
    ]));
    assert!(first.starts_with(
        "created IAM OIDC provider arn:aws:iam::123456789012:oidc-provider/127.0.0.1:0/oidc/id/"
    ));
    let again = out(&irsa(&[
        "cluster",
        "associate-oidc-provider",
        "staging",
        "--data-dir",
        d,
    ]));
    assert!(again.contains("is already associated"), "{again}");

    let token = out(&irsa(&[
        "token",
        "--data-dir",
        d,
        "--cluster",
        "staging",
        "--namespace",
        "production",
        "--service-account",
        "s3-app",
        "--pod-name",
        "s3-reader",
        "--expiration-seconds",
        "600",
    ]));
    let c = claims(token.trim());
    assert_eq!(c["sub"], "system:serviceaccount:production:s3-app");
    assert_eq!(c["aud"], serde_json::json!(["sts.amazonaws.com"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert_eq!(c["kubernetes.io"]["pod"]["name"], "s3-reader");
    assert!(
        c["iss"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:0/oidc/id/")
    );

    let file = tmp.path().join("token.jwt");
    out(&irsa(&[
        "token",
        "--data-dir",
        d,
        "--namespace",
        "ns",
        "--service-account",
        "sa",
        "--audience",
        "a",
        "--audience",
        "b",
        "--output",
        file.to_str().unwrap(),
    ]));
    assert_eq!(
        claims(&std::fs::read_to_string(&file).unwrap())["aud"],
        serde_json::json!(["a", "b"])
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        err(&irsa(&[
            "token",
            "--data-dir",
            d,
            "--namespace",
            "Prod",
            "--service-account",
            "sa"
        ]))
        .contains("is not a Kubernetes name")
    );
    assert!(
        err(&irsa(&[
            "token",
            "--data-dir",
            d,
            "--namespace",
            "ns",
            "--service-account",
            "sa",
            "--expiration-seconds",
            "60"
        ]))
        .contains("between 600 and")
    );
    assert!(
        err(&irsa(&[
            "token",
            "--data-dir",
            d,
            "--cluster",
            "nope",
            "--namespace",
            "ns",
            "--service-account",
            "sa"
        ]))
        .contains("no cluster named `nope` (clusters: my-cluster, staging)")
    );

    let before = claims(
        out(&irsa(&[
            "token",
            "--data-dir",
            d,
            "--namespace",
            "ns",
            "--service-account",
            "sa",
        ]))
        .trim(),
    );
    let rotated = out(&irsa(&[
        "cluster",
        "rotate-key",
        "my-cluster",
        "--data-dir",
        d,
    ]));
    assert!(rotated.starts_with("cluster my-cluster now signs with key "));
    let after = claims(
        out(&irsa(&[
            "token",
            "--data-dir",
            d,
            "--namespace",
            "ns",
            "--service-account",
            "sa",
        ]))
        .trim(),
    );
    assert_eq!(before["iss"], after["iss"], "rotation keeps the issuer");
}

#[test]
fn accounts_and_data_dir_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let e = err(&irsa(&[
        "cluster",
        "list",
        "--data-dir",
        missing.to_str().unwrap(),
    ]));
    assert!(e.contains("is not an irsa data dir"), "{e}");
    let dir = tmp.path().join("data");
    initialised(&dir);
    let d = dir.to_str().unwrap();
    assert!(
        err(&irsa(&[
            "account",
            "create",
            "--data-dir",
            d,
            "--id",
            "12345"
        ]))
        .contains("must be 12 digits")
    );
    out(&irsa(&[
        "account",
        "create",
        "--data-dir",
        d,
        "--id",
        "987654321098",
    ]));
    let creds = std::fs::read_to_string(dir.join("aws/credentials")).unwrap();
    assert!(
        creds.contains("[account-987654321098]\naws_access_key_id = AKIA"),
        "{creds}"
    );
    let config = std::fs::read_to_string(dir.join("aws/config")).unwrap();
    assert!(
        config.contains("[profile account-987654321098]"),
        "{config}"
    );
    assert!(
        err(&irsa(&[
            "account",
            "create",
            "--data-dir",
            d,
            "--id",
            "987654321098",
            "--profile",
            "x"
        ]))
        .contains("already exists")
    );
    assert!(
        err(&irsa(&[
            "account",
            "create",
            "--data-dir",
            d,
            "--id",
            "111111111111",
            "--profile",
            "account-987654321098"
        ]))
        .contains("profile `account-987654321098` already exists")
    );
}

#[test]
fn oidc_discovery_files_for_a_self_managed_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let key = oidc::SigningKey::generate().unwrap();
    let pub_file = tmp.path().join("sa.pub");
    std::fs::write(&pub_file, key.public_pem().unwrap()).unwrap();
    let outdir = tmp.path().join("site");
    out(&irsa(&[
        "oidc",
        "discovery",
        "--issuer",
        "https://issuer.example.com/cluster",
        "--public-key",
        pub_file.to_str().unwrap(),
        "--out",
        outdir.to_str().unwrap(),
    ]));
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(outdir.join(".well-known/openid-configuration")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["issuer"], "https://issuer.example.com/cluster");
    assert_eq!(
        doc["jwks_uri"],
        "https://issuer.example.com/cluster/keys.json"
    );
    let jwks =
        oidc::Jwks::parse(&std::fs::read_to_string(outdir.join("keys.json")).unwrap()).unwrap();
    assert_eq!(jwks.keys, vec![key.jwk()]);
    let e = err(&irsa(&[
        "oidc",
        "discovery",
        "--issuer",
        "http://insecure",
        "--public-key",
        pub_file.to_str().unwrap(),
        "--out",
        outdir.to_str().unwrap(),
    ]));
    assert!(e.contains("must be an https URL"));
    std::fs::write(tmp.path().join("bad.pub"), "nope").unwrap();
    let e = err(&irsa(&[
        "oidc",
        "discovery",
        "--issuer",
        "https://x",
        "--public-key",
        tmp.path().join("bad.pub").to_str().unwrap(),
        "--out",
        outdir.to_str().unwrap(),
    ]));
    assert!(e.contains("bad.pub"));
}
