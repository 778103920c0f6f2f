//! STS over real HTTP: web identity federation with local and external
//! issuers, every refusal with AWS's code, role sessions and what they may do,
//! AssumeRole same- and cross-account, and EKS DescribeCluster.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{ACCOUNT, Server, now};
use serde_json::json;

const ROLE: &str = "arn:aws:iam::123456789012:role/s3-app-role";

/// The tutorial's role with S3 read access (see `Server::tutorial`).
async fn tutorial() -> (Server, store::Cluster) {
    Server::tutorial("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess").await
}

#[tokio::test(flavor = "multi_thread")]
async fn web_identity_gives_role_credentials_as_aws_does() {
    let (s, c) = tutorial().await;
    let token = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let r = s.web_identity(ROLE, &token).await;
    r.ok();
    assert!(r.body.starts_with("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA"));
    let key = r.tag("AccessKeyId").unwrap();
    assert_eq!(key.len(), 20);
    assert_eq!(r.tag("SecretAccessKey").unwrap().len(), 40);
    assert_eq!(
        r.tag("Arn").unwrap(),
        "arn:aws:sts::123456789012:assumed-role/s3-app-role/pod"
    );
    assert!(
        r.tag("AssumedRoleId").unwrap().starts_with("AROA")
            && r.tag("AssumedRoleId").unwrap().ends_with(":pod")
    );
    assert_eq!(
        r.tag("SubjectFromWebIdentityToken").unwrap(),
        "system:serviceaccount:production:s3-app"
    );
    assert_eq!(r.tag("Audience").unwrap(), "sts.amazonaws.com");
    let issuer = server::clusters::issuer_url(&s.url(), &c);
    assert_eq!(
        r.tag("Provider").unwrap(),
        format!(
            "arn:aws:iam::{ACCOUNT}:oidc-provider/{}",
            issuer.trim_start_matches("http://")
        )
    );
    assert!(r.tag("Expiration").unwrap().ends_with('Z'));

    let me = s
        .as_session(&r, "sts", "GetCallerIdentity", "2011-06-15", &[])
        .await;
    me.ok();
    assert_eq!(
        me.tag("Arn").unwrap(),
        "arn:aws:sts::123456789012:assumed-role/s3-app-role/pod"
    );
    assert_eq!(me.tag("UserId").unwrap(), r.tag("AssumedRoleId").unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_token_is_refused_with_its_code() {
    let (s, c) = tutorial().await;
    let other = s.cluster("other-cluster");
    let issuer = server::clusters::issuer_url(&s.url(), &c);
    let signing = server::clusters::current_key(s.store.as_ref(), "my-cluster").unwrap();
    let forger = oidc::SigningKey::generate().unwrap();
    let claims = |exp: i64| {
        json!({"iss": issuer, "sub": "system:serviceaccount:production:s3-app", "aud": ["sts.amazonaws.com"],
               "iat": now() - 10, "exp": exp})
    };
    let wrong_key_right_kid = {
        let t = forger.sign(&claims(now() + 600)).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            json!({"alg": "RS256", "kid": signing.kid()}).to_string(),
        );
        format!("{header}.{}.{}", parts[1], parts[2])
    };
    let none = {
        let b = |v: serde_json::Value| {
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                v.to_string(),
            )
        };
        format!("{}.{}.", b(json!({"alg": "none"})), b(claims(now() + 600)))
    };
    let cases: Vec<(&str, String, u16, &str, Option<String>)> = vec![
        (
            "wrong namespace",
            s.token(&c, "default", "s3-app", "sts.amazonaws.com"),
            403,
            "AccessDenied",
            Some("Not authorized to perform sts:AssumeRoleWithWebIdentity".into()),
        ),
        (
            "wrong service account",
            s.token(&c, "production", "other", "sts.amazonaws.com"),
            403,
            "AccessDenied",
            None,
        ),
        (
            "wrong audience",
            s.token(&c, "production", "s3-app", "vault"),
            400,
            "InvalidIdentityToken",
            Some("Incorrect token audience".into()),
        ),
        (
            "issuer without provider",
            s.token(&other, "production", "s3-app", "sts.amazonaws.com"),
            403,
            "AccessDenied",
            None,
        ),
        (
            "expired",
            signing.sign(&claims(now() - 5)).unwrap(),
            400,
            "ExpiredTokenException",
            None,
        ),
        (
            "wrong key with the right kid",
            wrong_key_right_kid,
            400,
            "InvalidIdentityToken",
            None,
        ),
        ("alg none", none, 400, "InvalidIdentityToken", None),
        (
            "garbage",
            "not.a.jwt".into(),
            400,
            "InvalidIdentityToken",
            None,
        ),
        ("oversize", "x".repeat(20_001), 400, "ValidationError", None),
    ];
    for (name, token, status, code, message) in cases {
        let r = s.web_identity(ROLE, &token).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{name}: {}",
            r.body
        );
        if let Some(m) = message {
            assert_eq!(r.message(), m, "{name}");
        }
    }
    // The other cluster's trust: its provider exists, but the role does not trust it.
    let r = s
        .web_identity(
            ROLE,
            &s.token(&other, "production", "s3-app", "sts.amazonaws.com"),
        )
        .await;
    r.expect_error(403, "AccessDenied");
    let r = s
        .web_identity(ROLE, &signing.sign(&claims(now() - 5)).unwrap())
        .await;
    assert!(
        r.message().starts_with("Token expired: current date/time "),
        "{}",
        r.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_and_role_must_exist_in_the_roles_account() {
    let s = Server::start().await;
    let c =
        server::clusters::create_cluster(s.store.as_ref(), "lonely", ACCOUNT, "us-east-1").unwrap();
    let trust = s.trust_for(&c, "production", "s3-app");
    s.iam(
        "CreateRole",
        &[
            ("RoleName", "s3-app-role"),
            ("AssumeRolePolicyDocument", &trust),
        ],
    )
    .await
    .ok();
    let token = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let r = s.web_identity(ROLE, &token).await;
    r.expect_error(400, "InvalidIdentityToken");
    assert_eq!(
        r.message(),
        format!(
            "No OpenIDConnect provider found in your account for {}",
            server::clusters::issuer_url(&s.url(), &c)
        )
    );
    s.web_identity("arn:aws:iam::123456789012:role/missing", &token)
        .await
        .expect_error(403, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_are_checked_like_aws() {
    let (s, c) = tutorial().await;
    let token = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let call = |name: &'static str, value: String| {
        let token = token.clone();
        let s = &s;
        async move {
            let mut p = vec![
                ("Action", "AssumeRoleWithWebIdentity".to_string()),
                ("RoleArn", ROLE.to_string()),
                ("RoleSessionName", "pod".to_string()),
                ("WebIdentityToken", token),
            ];
            p.retain(|(k, _)| *k != name);
            p.push((name, value));
            let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.unsigned(&refs).await
        }
    };
    let r = call("RoleSessionName", "a:b".into()).await;
    r.expect_error(400, "ValidationError");
    assert_eq!(
        r.message(),
        "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    );
    call("RoleSessionName", "x".repeat(65))
        .await
        .expect_error(400, "ValidationError");
    call("DurationSeconds", "899".into())
        .await
        .expect_error(400, "ValidationError");
    let r = call("DurationSeconds", "7200".into()).await;
    r.expect_error(400, "ValidationError");
    assert_eq!(
        r.message(),
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    );
    call("Policy", "not json".into())
        .await
        .expect_error(400, "MalformedPolicyDocument");
    let big = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, vec![r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::a-very-long-bucket-name-for-padding/*"}"#; 30].join(","));
    call("Policy", big)
        .await
        .expect_error(400, "PackedPolicyTooLarge");
    let r = s
        .unsigned(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "pod"),
        ])
        .await;
    r.expect_error(400, "ValidationError");
    assert!(r.message().contains("Value null at 'webIdentityToken'"));
    // Only AssumeRoleWithWebIdentity is answered unsigned.
    s.unsigned(&[("Action", "GetCallerIdentity")])
        .await
        .expect_error(403, "MissingAuthenticationToken");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_bound_by_role_policies_session_policies_and_boundaries() {
    let (s, c) = tutorial().await;
    s.iam(
        "AttachRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyArn", "arn:aws:iam::aws:policy/IAMReadOnlyAccess"),
        ],
    )
    .await
    .ok();
    let token = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let creds = s.web_identity(ROLE, &token).await;
    creds.ok();
    let iam = |action: &'static str, params: Vec<(&'static str, &'static str)>| {
        let creds = &creds;
        let s = &s;
        async move {
            s.as_session(creds, "iam", action, "2010-05-08", &params)
                .await
        }
    };
    iam("ListRoles", vec![]).await.ok();
    let r = iam(
        "CreateRole",
        vec![
            ("RoleName", "x"),
            ("AssumeRolePolicyDocument", common::TRUST),
        ],
    )
    .await;
    r.expect_error(403, "AccessDenied");
    assert_eq!(
        r.message(),
        "User: arn:aws:sts::123456789012:assumed-role/s3-app-role/pod is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/x because no identity-based policy allows the iam:CreateRole action"
    );

    // A session policy narrows the session to ListRoles.
    let narrow = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:ListRoles","Resource":"*"}}"#;
    let limited = s
        .unsigned(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "narrow"),
            ("WebIdentityToken", &token),
            ("Policy", narrow),
        ])
        .await;
    limited.ok();
    assert!(limited.tag("PackedPolicySize").is_some());
    s.as_session(&limited, "iam", "ListRoles", "2010-05-08", &[])
        .await
        .ok();
    let r = s
        .as_session(
            &limited,
            "iam",
            "GetRole",
            "2010-05-08",
            &[("RoleName", "s3-app-role")],
        )
        .await;
    r.expect_error(403, "AccessDenied");
    assert!(
        r.message()
            .ends_with("because no session policy allows the iam:GetRole action"),
        "{}",
        r.message()
    );

    // A boundary limits the role's sessions at once, even existing ones.
    s.iam(
        "PutRolePermissionsBoundary",
        &[
            ("RoleName", "s3-app-role"),
            (
                "PermissionsBoundary",
                "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            ),
        ],
    )
    .await
    .ok();
    let r = iam("ListRoles", vec![]).await;
    r.expect_error(403, "AccessDenied");
    assert!(
        r.message()
            .ends_with("because no permissions boundary allows the iam:ListRoles action"),
        "{}",
        r.message()
    );
    s.iam(
        "DeleteRolePermissionsBoundary",
        &[("RoleName", "s3-app-role")],
    )
    .await
    .ok();
    iam("ListRoles", vec![]).await.ok();

    // An explicit deny wins; GetCallerIdentity still answers.
    let deny =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#;
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyName", "deny"),
            ("PolicyDocument", deny),
        ],
    )
    .await
    .ok();
    let r = iam("ListRoles", vec![]).await;
    assert!(
        r.message()
            .ends_with("with an explicit deny in an identity-based policy"),
        "{}",
        r.message()
    );
    s.as_session(&creds, "sts", "GetCallerIdentity", "2011-06-15", &[])
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_and_mismatched_session_credentials() {
    let (s, c) = tutorial().await;
    let creds = s
        .web_identity(
            ROLE,
            &s.token(&c, "production", "s3-app", "sts.amazonaws.com"),
        )
        .await;
    let key = creds.tag("AccessKeyId").unwrap();
    let secret = creds.tag("SecretAccessKey").unwrap();
    let token = creds.tag("SessionToken").unwrap();
    let call = |key: String, secret: String, token: Option<String>| {
        let s = &s;
        async move {
            s.signed_with(
                &key,
                &secret,
                token.as_deref(),
                "sts",
                now(),
                &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
            )
            .await
        }
    };
    let mut bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &token).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    let tampered = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
    call(key.clone(), secret.clone(), Some(tampered))
        .await
        .expect_error(403, "InvalidClientTokenId");
    call(key.clone(), secret.clone(), None)
        .await
        .expect_error(403, "InvalidClientTokenId");
    call(
        "ASIAAAAAAAAAAAAAAAAA".into(),
        secret.clone(),
        Some(token.clone()),
    )
    .await
    .expect_error(403, "InvalidClientTokenId");
    call(key.clone(), "x".repeat(40), Some(token.clone()))
        .await
        .expect_error(403, "SignatureDoesNotMatch");
    call(key, secret, Some(token)).await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn assume_role_same_and_cross_account_and_chaining() {
    let (s, c) = tutorial().await;
    let (other_key, other_secret) =
        server::create_account(s.store.as_ref(), "987654321098").unwrap();
    let other = |action: &'static str, params: Vec<(&'static str, String)>| {
        let s = &s;
        let (k, sec) = (other_key.clone(), other_secret.clone());
        async move {
            let mut all: Vec<(&str, &str)> = vec![("Action", action), ("Version", "2010-05-08")];
            all.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
            s.signed_with(&k, &sec, None, "iam", now(), &all).await
        }
    };
    other(
        "CreateRole",
        vec![
            ("RoleName", "cross-account-s3-access".to_string()),
            (
                "AssumeRolePolicyDocument",
                include_str!("../../../examples/cross-account-trust-policy.json").to_string(),
            ),
        ],
    )
    .await
    .ok();
    let target = "arn:aws:iam::987654321098:role/cross-account-s3-access";
    let creds = s
        .web_identity(
            ROLE,
            &s.token(&c, "production", "s3-app", "sts.amazonaws.com"),
        )
        .await;
    let assume = |creds: &common::Resp, extra: Vec<(&'static str, &'static str)>| {
        let mut p = vec![("RoleArn", target), ("RoleSessionName", "hop")];
        p.extend(extra);
        let s = &s;
        let creds = creds.clone();
        async move {
            s.as_session(&creds, "sts", "AssumeRole", "2011-06-15", &p)
                .await
        }
    };
    // Cross-account: the trust policy names the source role, but the source
    // role's own policies must also allow sts:AssumeRole.
    let r = assume(&creds, vec![]).await;
    r.expect_error(403, "AccessDenied");
    assert_eq!(
        r.message(),
        format!(
            "User: arn:aws:sts::123456789012:assumed-role/s3-app-role/pod is not authorized to perform: sts:AssumeRole on resource: {target}"
        )
    );
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyName", "assume"),
            (
                "PolicyDocument",
                include_str!("../../../examples/assume-role-policy.json"),
            ),
        ],
    )
    .await
    .ok();
    let hop = assume(&creds, vec![]).await;
    hop.ok();
    assert_eq!(
        hop.tag("Arn").unwrap(),
        "arn:aws:sts::987654321098:assumed-role/cross-account-s3-access/hop"
    );
    let me = s
        .as_session(&hop, "sts", "GetCallerIdentity", "2011-06-15", &[])
        .await;
    assert_eq!(me.tag("Account").unwrap(), "987654321098");
    // Role chaining is capped at one hour.
    let r = assume(&creds, vec![("DurationSeconds", "7200")]).await;
    r.expect_error(400, "ValidationError");
    assert_eq!(
        r.message(),
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    );
    // Root may not assume roles.
    let r = s
        .sts(
            "AssumeRole",
            &[("RoleArn", target), ("RoleSessionName", "root")],
        )
        .await;
    r.expect_error(403, "AccessDenied");
    assert_eq!(r.message(), "Roles may not be assumed by root accounts.");
    // A role that does not trust the caller.
    other("CreateRole", vec![("RoleName", "closed".to_string()), ("AssumeRolePolicyDocument", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::987654321098:root"},"Action":"sts:AssumeRole"}}"#.to_string())]).await.ok();
    let r = s
        .as_session(
            &creds,
            "sts",
            "AssumeRole",
            "2011-06-15",
            &[
                ("RoleArn", "arn:aws:iam::987654321098:role/closed"),
                ("RoleSessionName", "xx"),
            ],
        )
        .await;
    r.expect_error(403, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread")]
async fn same_account_trust_naming_the_role_needs_no_identity_permission() {
    let (s, c) = tutorial().await;
    let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/s3-app-role"},"Action":"sts:AssumeRole"}}"#;
    s.iam(
        "CreateRole",
        &[("RoleName", "helper"), ("AssumeRolePolicyDocument", trust)],
    )
    .await
    .ok();
    let creds = s
        .web_identity(
            ROLE,
            &s.token(&c, "production", "s3-app", "sts.amazonaws.com"),
        )
        .await;
    let r = s
        .as_session(
            &creds,
            "sts",
            "AssumeRole",
            "2011-06-15",
            &[
                ("RoleArn", "arn:aws:iam::123456789012:role/helper"),
                ("RoleSessionName", "hh"),
                ("ExternalId", "ext-123"),
            ],
        )
        .await;
    r.ok();
    // A trust naming only the account needs the caller's identity permission.
    let by_account = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-123"}}}}"#;
    s.iam(
        "CreateRole",
        &[
            ("RoleName", "by-account"),
            ("AssumeRolePolicyDocument", by_account),
        ],
    )
    .await
    .ok();
    let r = s
        .as_session(
            &creds,
            "sts",
            "AssumeRole",
            "2011-06-15",
            &[
                ("RoleArn", "arn:aws:iam::123456789012:role/by-account"),
                ("RoleSessionName", "hh"),
                ("ExternalId", "ext-123"),
            ],
        )
        .await;
    r.expect_error(403, "AccessDenied");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_issuer_served_elsewhere_is_fetched_and_its_outage_reported() {
    use axum::routing::get;
    let s = Server::start().await;
    let key = std::sync::Arc::new(oidc::SigningKey::generate().unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/issuer", listener.local_addr().unwrap());
    let (doc, jwks) = (
        oidc::discovery_document(&issuer, &format!("{issuer}/jwks")),
        oidc::Jwks {
            keys: vec![key.jwk()],
        }
        .to_json(),
    );
    let app = axum::Router::new()
        .route(
            "/issuer/.well-known/openid-configuration",
            get(move || std::future::ready(doc.clone())),
        )
        .route(
            "/issuer/jwks",
            get(move || std::future::ready(jwks.clone())),
        );
    let handle = tokio::spawn(async move { axum::serve(listener, app).await });
    s.iam(
        "CreateOpenIDConnectProvider",
        &[
            ("Url", &issuer),
            ("ClientIDList.member.1", "sts.amazonaws.com"),
        ],
    )
    .await
    .ok();
    let host = issuer.trim_start_matches("http://");
    let trust = common::TRUST.replace(
        "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        host,
    );
    s.iam(
        "CreateRole",
        &[
            ("RoleName", "s3-app-role"),
            ("AssumeRolePolicyDocument", &trust),
        ],
    )
    .await
    .ok();
    let aud = ["sts.amazonaws.com".to_string()];
    let mint = || {
        key.service_account_token(&oidc::ServiceAccountToken {
            issuer: &issuer,
            namespace: "production",
            service_account: "s3-app",
            audiences: &aud,
            issued_at: now(),
            expiration_seconds: 3600,
            pod: None,
        })
        .unwrap()
    };
    s.web_identity(ROLE, &mint()).await.ok();
    // Cached keys keep working while the issuer is down.
    handle.abort();
    let _ = handle.await;
    s.web_identity(ROLE, &mint()).await.ok();

    // An issuer that was never reachable has nothing cached.
    let dead = "http://127.0.0.1:9/dead";
    s.iam(
        "CreateOpenIDConnectProvider",
        &[
            ("Url", dead),
            ("ClientIDList.member.1", "sts.amazonaws.com"),
        ],
    )
    .await
    .ok();
    let trust = common::TRUST.replace(
        "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
        "127.0.0.1:9/dead",
    );
    s.iam(
        "CreateRole",
        &[
            ("RoleName", "dead-role"),
            ("AssumeRolePolicyDocument", &trust),
        ],
    )
    .await
    .ok();
    let dead_key = oidc::SigningKey::generate().unwrap();
    let token = dead_key
        .service_account_token(&oidc::ServiceAccountToken {
            issuer: dead,
            namespace: "production",
            service_account: "s3-app",
            audiences: &aud,
            issued_at: now(),
            expiration_seconds: 3600,
            pod: None,
        })
        .unwrap();
    let started = std::time::Instant::now();
    let r = s
        .web_identity("arn:aws:iam::123456789012:role/dead-role", &token)
        .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a dead issuer must not hang the call"
    );
    // AWS answers an unreachable issuer with InvalidIdentityToken and this text
    // (captured: awslabs/aws-sdk-rust#827), not IDPCommunicationError.
    r.expect_error(400, "InvalidIdentityToken");
    assert!(
        r.message()
            .starts_with("Couldn't retrieve verification key from your identity provider")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn eks_describe_and_list_clusters() {
    let (s, c) = tutorial().await;
    let host = s.addr.to_string();
    let get = |path: String| {
        let s = &s;
        let host = host.clone();
        async move {
            let base = [("host", host.as_str())];
            let req = sigv4::HttpRequest {
                method: "GET",
                path: &path,
                query: "",
                headers: &base,
                body: b"",
            };
            let headers = sigv4::sign(&req, &s.key, &s.secret, None, "us-east-1", "eks", now());
            s.send("GET", &path, &headers, vec![]).await
        }
    };
    let r = get("/clusters/my-cluster".into()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["cluster"]["identity"]["oidc"]["issuer"],
        server::clusters::issuer_url(&s.url(), &c)
    );
    assert_eq!(
        v["cluster"]["arn"],
        "arn:aws:eks:us-east-1:123456789012:cluster/my-cluster"
    );
    assert_eq!(v["cluster"]["status"], "ACTIVE");
    let r = get("/clusters".into()).await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["clusters"], json!(["my-cluster"]));
    let r = get("/clusters/nope".into()).await;
    assert_eq!(r.status, 404);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["message"], "No cluster found for name: nope.");
}

#[tokio::test(flavor = "multi_thread")]
async fn session_tags_and_source_identity_from_the_token() {
    let s = Server::start().await;
    let c = s.cluster("my-cluster");
    let issuer = server::clusters::issuer_url(&s.url(), &c);
    let host = issuer.trim_start_matches("http://").to_string();
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{host}")},
        "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"],
        "Condition": {"StringEquals": {format!("{host}:aud"): "sts.amazonaws.com"}}
    }]})
    .to_string();
    s.iam(
        "CreateRole",
        &[("RoleName", "tagged"), ("AssumeRolePolicyDocument", &trust)],
    )
    .await
    .ok();
    // Only roles tagged like the session's team may be read.
    let by_team = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::123456789012:role/${aws:PrincipalTag/team}-*"}}"#;
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "tagged"),
            ("PolicyName", "team"),
            ("PolicyDocument", by_team),
        ],
    )
    .await
    .ok();
    for name in ["data-reader", "web-reader"] {
        s.iam(
            "CreateRole",
            &[
                ("RoleName", name),
                ("AssumeRolePolicyDocument", common::TRUST),
            ],
        )
        .await
        .ok();
    }
    let key = server::clusters::current_key(s.store.as_ref(), "my-cluster").unwrap();
    let claims = |extra: serde_json::Value| {
        let mut c = json!({"iss": issuer, "sub": "system:serviceaccount:production:s3-app", "aud": ["sts.amazonaws.com"], "iat": now(), "exp": now() + 600});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        key.sign(&c).unwrap()
    };
    let token = claims(
        json!({"https://aws.amazon.com/tags": {"principal_tags": {"team": ["data"]}}, "https://aws.amazon.com/source_identity": "alice"}),
    );
    let creds = s
        .web_identity("arn:aws:iam::123456789012:role/tagged", &token)
        .await;
    creds.ok();
    assert_eq!(creds.tag("SourceIdentity").unwrap(), "alice");
    s.as_session(
        &creds,
        "iam",
        "GetRole",
        "2010-05-08",
        &[("RoleName", "data-reader")],
    )
    .await
    .ok();
    s.as_session(
        &creds,
        "iam",
        "GetRole",
        "2010-05-08",
        &[("RoleName", "web-reader")],
    )
    .await
    .expect_error(403, "AccessDenied");

    // Without sts:TagSession in the trust policy, a tagged token is refused.
    let untagging = trust.replace(r#","sts:TagSession""#, "");
    assert!(!untagging.contains("TagSession"));
    s.iam(
        "UpdateAssumeRolePolicy",
        &[("RoleName", "tagged"), ("PolicyDocument", &untagging)],
    )
    .await
    .ok();
    s.web_identity("arn:aws:iam::123456789012:role/tagged", &token)
        .await
        .expect_error(403, "AccessDenied");
    let plain = claims(json!({}));
    s.web_identity("arn:aws:iam::123456789012:role/tagged", &plain)
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_keys_keep_old_tokens_valid_and_sign_new_ones() {
    let (s, c) = tutorial().await;
    let old = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let old_kid = server::clusters::current_key(s.store.as_ref(), "my-cluster")
        .unwrap()
        .kid()
        .to_string();
    let new_kid = server::clusters::rotate_key(s.store.as_ref(), "my-cluster", false).unwrap();
    assert_ne!(old_kid, new_kid);
    let new = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    // The JWKS publishes both keys.
    let issuer = server::clusters::issuer_url(&s.url(), &c);
    let path = issuer.trim_start_matches(&s.url()).to_string();
    let jwks = s.send("GET", &format!("{path}/keys"), &[], vec![]).await;
    let set = oidc::Jwks::parse(&jwks.body).unwrap();
    let kids: Vec<String> = set.keys.iter().filter_map(|k| k.kid.clone()).collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let discovery = s
        .send(
            "GET",
            &format!("{path}/.well-known/openid-configuration"),
            &[],
            vec![],
        )
        .await;
    let doc: serde_json::Value = serde_json::from_str(&discovery.body).unwrap();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["jwks_uri"], format!("{issuer}/keys"));
    // Tokens of both keys are exchanged: a token naming a kid the key cache
    // does not know makes the server read the cluster's keys again.
    s.web_identity(ROLE, &old).await.ok();
    s.web_identity(ROLE, &new).await.ok();
    let unknown = s
        .send(
            "GET",
            "/oidc/id/00000000000000000000000000000000/keys",
            &[],
            vec![],
        )
        .await;
    assert_eq!(unknown.status, 404);
}

/// Issue 11, finding 18: a compromised key is revoked with the rotation;
/// its tokens are refused (within the 1 s local key cache) and the JWKS no
/// longer publishes it, while new tokens work.
#[tokio::test(flavor = "multi_thread")]
async fn r11_18_rotate_key_revoke_previous_refuses_the_old_keys_tokens() {
    let (s, c) = tutorial().await;
    let old = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    s.web_identity(ROLE, &old).await.ok();
    let old_kid = server::clusters::current_key(s.store.as_ref(), "my-cluster")
        .unwrap()
        .kid()
        .to_string();
    let new_kid = server::clusters::rotate_key(s.store.as_ref(), "my-cluster", true).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = s.web_identity(ROLE, &old).await;
    r.expect_error(400, "InvalidIdentityToken");
    assert!(r.message().contains(&old_kid), "{}", r.message());
    let new = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    s.web_identity(ROLE, &new).await.ok();
    let issuer = server::clusters::issuer_url(&s.url(), &c);
    let path = issuer.trim_start_matches(&s.url()).to_string();
    let jwks = s.send("GET", &format!("{path}/keys"), &[], vec![]).await;
    let kids: Vec<String> = oidc::Jwks::parse(&jwks.body)
        .unwrap()
        .keys
        .into_iter()
        .filter_map(|k| k.kid)
        .collect();
    assert_eq!(kids, [new_kid]);
}

/// `irsa doctor`'s verdict and the real AssumeRoleWithWebIdentity agree on
/// every broken link, and the broken link is named.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_and_sts_never_disagree() {
    let (s, c) = tutorial().await;
    let state = server::State::new(s.store.clone(), &s.url(), None).unwrap();
    let lonely =
        server::clusters::create_cluster(s.store.as_ref(), "lonely", ACCOUNT, "us-east-1").unwrap();
    let signing = server::clusters::current_key(s.store.as_ref(), "my-cluster").unwrap();
    let issuer = server::clusters::issuer_url(&s.url(), &c);
    let expired = signing
        .sign(&json!({"iss": issuer, "sub": "system:serviceaccount:production:s3-app", "aud": ["sts.amazonaws.com"], "iat": now() - 100, "exp": now() - 5}))
        .unwrap();
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "good",
            ROLE,
            s.token(&c, "production", "s3-app", "sts.amazonaws.com"),
            "",
        ),
        (
            "wrong namespace",
            ROLE,
            s.token(&c, "default", "s3-app", "sts.amazonaws.com"),
            "trust",
        ),
        (
            "wrong audience",
            ROLE,
            s.token(&c, "production", "s3-app", "vault"),
            "audience",
        ),
        (
            "missing provider",
            ROLE,
            s.token(&lonely, "production", "s3-app", "sts.amazonaws.com"),
            "provider",
        ),
        ("expired", ROLE, expired, "signature"),
        ("garbage", ROLE, "garbage".into(), "token"),
        (
            "missing role",
            "arn:aws:iam::123456789012:role/none",
            s.token(&c, "production", "s3-app", "sts.amazonaws.com"),
            "role",
        ),
    ];
    for (name, role, token, broken) in cases {
        let real = s.web_identity(role, &token).await;
        let report = server::doctor::diagnose(
            &state,
            &server::doctor::Question {
                role_arn: role,
                token: &token,
                action: None,
            },
            now(),
        )
        .await;
        match &report.error {
            None => assert_eq!(
                real.status, 200,
                "{name}: doctor says ok, STS says {}",
                real.body
            ),
            Some((code, message)) => {
                assert_eq!(
                    (code.as_str(), message.as_str()),
                    (real.code().as_str(), real.message().as_str()),
                    "{name}"
                );
                let f = report
                    .findings
                    .iter()
                    .find(|f| f.ok == Some(false))
                    .unwrap();
                assert_eq!(f.link, broken, "{name}");
                assert!(f.fix.is_some(), "{name}");
            }
        }
    }
    // The trust link shows the token's values beside the expected ones.
    let token = s.token(&c, "default", "s3-app", "sts.amazonaws.com");
    let report = server::doctor::diagnose(
        &state,
        &server::doctor::Question {
            role_arn: ROLE,
            token: &token,
            action: None,
        },
        now(),
    )
    .await;
    let trust = report.findings.iter().find(|f| f.link == "trust").unwrap();
    assert!(
        trust.notes.iter().any(|n| n.starts_with("✗ StringEquals") && n.ends_with(":sub: token has `system:serviceaccount:default:s3-app`, trust expects `system:serviceaccount:production:s3-app`")),
        "{:?}",
        trust.notes
    );
    assert!(
        trust
            .notes
            .iter()
            .any(|n| n.starts_with("✓ StringEquals") && n.contains(":aud:"))
    );

    // Permissions: the same decision a signed call of the session gets,
    // including an explicit deny.
    let deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iam:ListRoleTags","Resource":"*"}}"#;
    s.iam(
        "AttachRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyArn", "arn:aws:iam::aws:policy/IAMReadOnlyAccess"),
        ],
    )
    .await
    .ok();
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyName", "deny"),
            ("PolicyDocument", deny),
        ],
    )
    .await
    .ok();
    let good = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let creds = s.web_identity(ROLE, &good).await;
    for (action, resource, api, params) in [
        (
            "iam:ListRoleTags",
            "arn:aws:iam::123456789012:role/s3-app-role",
            "ListRoleTags",
            vec![("RoleName", "s3-app-role")],
        ),
        (
            "iam:CreateRole",
            "arn:aws:iam::123456789012:role/x",
            "CreateRole",
            vec![
                ("RoleName", "x"),
                ("AssumeRolePolicyDocument", common::TRUST),
            ],
        ),
        ("iam:ListRoles", "*", "ListRoles", vec![]),
        (
            "iam:GetRole",
            "arn:aws:iam::123456789012:role/s3-app-role",
            "GetRole",
            vec![("RoleName", "s3-app-role")],
        ),
    ] {
        let report = server::doctor::diagnose(
            &state,
            &server::doctor::Question {
                role_arn: ROLE,
                token: &good,
                action: Some((action, resource)),
            },
            now(),
        )
        .await;
        let real = s
            .as_session(&creds, "iam", api, "2010-05-08", &params)
            .await;
        match &report.error {
            None => assert_eq!(real.status, 200, "{action}"),
            Some((code, message)) => assert_eq!(
                (code.as_str(), message.as_str()),
                (
                    real.code().as_str(),
                    real.message()
                        .replace(
                            "assumed-role/s3-app-role/pod",
                            "assumed-role/s3-app-role/irsa-doctor"
                        )
                        .as_str()
                ),
                "{action}"
            ),
        }
    }
}
