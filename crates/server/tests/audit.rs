//! The audit trail: every IAM and STS call recorded durably, queryable with
//! CloudTrail's LookupEvents, per account, without secrets; and the metrics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Server, now};
use serde_json::{Value, json};

const ROLE: &str = "arn:aws:iam::123456789012:role/s3-app-role";

fn record(e: &Value) -> Value {
    serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tutorial_flow_is_in_the_trail_without_secrets() {
    let (s, c) = Server::tutorial("arn:aws:iam::aws:policy/IAMReadOnlyAccess").await;
    let started = now();
    let token = s.token(&c, "production", "s3-app", "sts.amazonaws.com");
    let creds = s.web_identity(ROLE, &token).await;
    creds.ok();
    let wrong = s.token(&c, "default", "s3-app", "sts.amazonaws.com");
    s.web_identity(ROLE, &wrong)
        .await
        .expect_error(403, "AccessDenied");
    s.as_session(&creds, "iam", "ListRoles", "2010-05-08", &[])
        .await
        .ok();
    s.as_session(
        &creds,
        "iam",
        "CreateRole",
        "2010-05-08",
        &[
            ("RoleName", "x"),
            ("AssumeRolePolicyDocument", common::TRUST),
        ],
    )
    .await
    .expect_error(403, "AccessDenied");

    // By event name, newest first; the failure carries its error code.
    let (status, out) = s.lookup(json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "AssumeRoleWithWebIdentity"}]})).await;
    assert_eq!(status, 200, "{out}");
    let events = out["Events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let (failed, ok) = (record(&events[0]), record(&events[1]));
    assert_eq!(failed["errorCode"], "AccessDenied");
    assert_eq!(
        failed["errorMessage"],
        "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    );
    assert!(ok.get("errorCode").is_none());
    assert_eq!(ok["eventSource"], "sts.amazonaws.com");
    assert_eq!(ok["userIdentity"]["type"], "WebIdentityUser");
    assert_eq!(
        ok["userIdentity"]["userName"],
        "system:serviceaccount:production:s3-app"
    );
    assert!(
        ok["userIdentity"]["principalId"]
            .as_str()
            .unwrap()
            .ends_with(":sts.amazonaws.com:system:serviceaccount:production:s3-app")
    );
    assert_eq!(
        ok["responseElements"]["credentials"]["accessKeyId"],
        creds.tag("AccessKeyId").unwrap()
    );
    assert_eq!(
        ok["responseElements"]["assumedRoleUser"]["arn"],
        "arn:aws:sts::123456789012:assumed-role/s3-app-role/pod"
    );
    assert_eq!(ok["requestParameters"]["roleArn"], ROLE);
    assert!(ok["requestParameters"].get("webIdentityToken").is_none());
    assert_eq!(ok["recipientAccountId"], "123456789012");
    assert_eq!(ok["readOnly"], true);
    assert_eq!(ok["resources"][0]["type"], "AWS::IAM::Role");
    assert_eq!(events[1]["AccessKeyId"], creds.tag("AccessKeyId").unwrap());

    // By user name (the role), by event id, by time range.
    let (_, by_user) = s.lookup(json!({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "s3-app-role"}]})).await;
    let names: Vec<&str> = by_user["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "CreateRole",
            "ListRoles",
            "AssumeRoleWithWebIdentity",
            "AssumeRoleWithWebIdentity"
        ]
    );
    let session_call = record(&by_user["Events"][0]);
    assert_eq!(session_call["userIdentity"]["type"], "AssumedRole");
    assert_eq!(
        session_call["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"],
        ROLE
    );
    assert_eq!(session_call["errorCode"], "AccessDenied");
    let id = events[1]["EventId"].as_str().unwrap();
    let (_, one) = s
        .lookup(json!({"LookupAttributes": [{"AttributeKey": "EventId", "AttributeValue": id}]}))
        .await;
    assert_eq!(one["Events"].as_array().unwrap().len(), 1);
    let (_, before) = s
        .lookup(json!({"StartTime": started - 3600, "EndTime": started - 1}))
        .await;
    let before_names: Vec<&str> = before["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventName"].as_str().unwrap())
        .collect();
    assert!(
        !before_names.contains(&"AssumeRoleWithWebIdentity"),
        "{before_names:?}"
    );

    // Paging with MaxResults and NextToken.
    let (_, page1) = s.lookup(json!({"MaxResults": 2})).await;
    assert_eq!(page1["Events"].as_array().unwrap().len(), 2);
    let (_, page2) = s
        .lookup(json!({"MaxResults": 2, "NextToken": page1["NextToken"]}))
        .await;
    assert_ne!(page1["Events"][0]["EventId"], page2["Events"][0]["EventId"]);

    // Bad lookups.
    let (status, e) = s.lookup(json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a"}, {"AttributeKey": "Username", "AttributeValue": "b"}]})).await;
    assert_eq!(
        (status, e["__type"].as_str()),
        (400, Some("InvalidLookupAttributesException"))
    );
    let (status, e) = s.lookup(json!({"MaxResults": 51})).await;
    assert_eq!(
        (status, e["__type"].as_str()),
        (400, Some("InvalidMaxResultsException"))
    );
    let (status, e) = s.lookup(json!({"NextToken": "garbage"})).await;
    assert_eq!(
        (status, e["__type"].as_str()),
        (400, Some("InvalidNextTokenException"))
    );
    let (status, e) = s.lookup(json!({"StartTime": 200, "EndTime": 100})).await;
    assert_eq!(
        (status, e["__type"].as_str()),
        (400, Some("InvalidTimeRangeException"))
    );

    // Each account sees only its own events.
    let (key, secret) = server::create_account(s.store.as_ref(), "987654321098").unwrap();
    let (_, other) = s.cloudtrail_with(&key, &secret, &json!({})).await;
    assert_eq!(other["Events"].as_array().unwrap().len(), 0);

    // No stored byte holds the token, the secret or the session token.
    let secrets = [
        token.as_str(),
        &creds.tag("SecretAccessKey").unwrap(),
        &creds.tag("SessionToken").unwrap(),
    ];
    let all = s.store.events_after(0, 10_000).unwrap();
    assert_eq!(
        all.len(),
        6,
        "CreateRole, AttachRolePolicy, two exchanges, two session calls"
    );
    let log = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    assert_eq!(
        log.lines().count(),
        all.len(),
        "the JSON-lines log holds every event"
    );
    for secret in secrets {
        assert!(!log.contains(secret));
        assert!(all.iter().all(|e| !e.record.contains(secret)));
        for f in ["irsa.db", "irsa.db-wal", "audit.db", "audit.db-wal"] {
            let bytes = std::fs::read(s.dir.path().join(f)).unwrap_or_default();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{f} holds a secret"
            );
        }
    }

    // The metrics moved.
    let m = s.send("GET", "/metrics", &[], vec![]).await.body;
    assert!(m.contains(r#"irsa_requests_total{service="sts",action="AssumeRoleWithWebIdentity",outcome="error",error_code="AccessDenied"} 1"#), "{m}");
    assert!(m.contains(r#"irsa_requests_total{service="sts",action="AssumeRoleWithWebIdentity",outcome="success",error_code=""}"#));
    assert!(
        m.contains(r#"irsa_credentials_issued_total{account="123456789012",role="s3-app-role"}"#)
    );
    assert!(m.contains("irsa_audit_commit_seconds_bucket"));
    assert!(m.contains("irsa_build_info{version="));
    assert!(
        m.contains("irsa_oidc_key_cache_age_seconds{issuer=\"http://127.0.0.1:"),
        "{m}"
    );
    assert!(!m.contains(&token[..40]));
}
