//! The wire: SigV4 refusals, protocol errors and limits, each answered as AWS
//! answers it, over real HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{Server, form, now};

const LIST_ROLES: &[(&str, &str)] = &[("Action", "ListRoles"), ("Version", "2010-05-08")];

#[tokio::test(flavor = "multi_thread")]
async fn healthz() {
    let s = Server::start().await;
    let r = s.send("GET", "/healthz", &[], vec![]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_wrong_secret_and_missing_auth() {
    let s = Server::start().await;
    let r = s
        .signed_with(
            "AKIAUNKNOWNUNKNOWN00",
            &s.secret,
            None,
            "iam",
            now(),
            LIST_ROLES,
        )
        .await;
    r.expect_error(403, "InvalidClientTokenId");
    assert_eq!(
        r.message(),
        "The security token included in the request is invalid."
    );
    let r = s
        .signed_with(&s.key, "not-the-secret", None, "iam", now(), LIST_ROLES)
        .await;
    r.expect_error(403, "SignatureDoesNotMatch");
    assert!(r.message().starts_with(
        "The request signature we calculated does not match the signature you provided."
    ));
    let r = s
        .send(
            "POST",
            "/",
            &[(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            form(LIST_ROLES).into_bytes(),
        )
        .await;
    r.expect_error(403, "MissingAuthenticationToken");
    assert_eq!(r.message(), "Request is missing Authentication Token");
    let r = s
        .send(
            "POST",
            "/",
            &[(
                "authorization".into(),
                "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/iam/aws4_request".into(),
            )],
            form(LIST_ROLES).into_bytes(),
        )
        .await;
    r.expect_error(400, "IncompleteSignature");
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_skew_is_refused_with_aws_wording() {
    let s = Server::start().await;
    let r = s
        .signed_with(&s.key, &s.secret, None, "iam", now() - 16 * 60, LIST_ROLES)
        .await;
    r.expect_error(403, "SignatureDoesNotMatch");
    assert!(
        r.message().starts_with("Signature expired: "),
        "{}",
        r.message()
    );
    assert!(r.message().ends_with(" - 15 min.)"), "{}", r.message());
    let r = s
        .signed_with(&s.key, &s.secret, None, "iam", now() + 16 * 60, LIST_ROLES)
        .await;
    assert!(
        r.message().starts_with("Signature not yet current: "),
        "{}",
        r.message()
    );
    s.signed_with(&s.key, &s.secret, None, "iam", now() - 10 * 60, LIST_ROLES)
        .await
        .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_body_is_refused() {
    let s = Server::start().await;
    let body = form(LIST_ROLES);
    let host = s.addr.to_string();
    let base = [("host", host.as_str())];
    let req = sigv4::HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body: body.as_bytes(),
    };
    let headers: Vec<(String, String)> =
        sigv4::sign(&req, &s.key, &s.secret, None, "us-east-1", "iam", now());
    let tampered = form(&[
        ("Action", "DeleteRole"),
        ("Version", "2010-05-08"),
        ("RoleName", "x"),
    ]);
    s.send("POST", "/", &headers, tampered.into_bytes())
        .await
        .expect_error(403, "SignatureDoesNotMatch");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_action_missing_action_and_wrong_version() {
    let s = Server::start().await;
    let r = s.iam("LaunchRockets", &[]).await;
    r.expect_error(400, "InvalidAction");
    assert_eq!(
        r.message(),
        "Could not find operation LaunchRockets for version 2010-05-08"
    );
    let r = s
        .signed_with(
            &s.key,
            &s.secret,
            None,
            "iam",
            now(),
            &[("Action", "ListRoles"), ("Version", "2099-01-01")],
        )
        .await;
    r.expect_error(400, "InvalidAction");
    assert_eq!(
        r.message(),
        "Could not find operation ListRoles for version 2099-01-01"
    );
    s.signed_with(
        &s.key,
        &s.secret,
        None,
        "iam",
        now(),
        &[("Version", "2010-05-08")],
    )
    .await
    .expect_error(400, "MissingAction");
    let r = s
        .signed_with(
            &s.key,
            &s.secret,
            None,
            "ec2",
            now(),
            &[("Action", "DescribeInstances"), ("Version", "2016-11-15")],
        )
        .await;
    r.expect_error(403, "SignatureDoesNotMatch");
    assert!(
        r.message()
            .contains("Credential should be scoped to correct service: 'ec2'.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_one_mebibyte_are_refused() {
    let s = Server::start().await;
    let doc = "x".repeat(server::BODY_LIMIT + 1);
    let r = s
        .iam(
            "CreateRole",
            &[("RoleName", "big"), ("AssumeRolePolicyDocument", &doc)],
        )
        .await;
    r.expect_error(413, "RequestEntityTooLarge");
    assert!(s.store.roles(common::ACCOUNT).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_forms_are_answered_not_crashed() {
    let s = Server::start().await;
    for body in [
        "%%%",
        "Action=%ZZ&Version=2010-05-08",
        "&&&=&=",
        "Action&Version",
    ] {
        let host = s.addr.to_string();
        let base = [("host", host.as_str())];
        let req = sigv4::HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
            body: body.as_bytes(),
        };
        let headers = sigv4::sign(&req, &s.key, &s.secret, None, "us-east-1", "iam", now());
        let r = s
            .send("POST", "/", &headers, body.as_bytes().to_vec())
            .await;
        assert!(
            r.status == 400 && r.body.contains("<ErrorResponse"),
            "{body}: {} {}",
            r.status,
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn get_with_query_parameters() {
    let s = Server::start().await;
    let query = form(LIST_ROLES);
    let host = s.addr.to_string();
    let base = [("host", host.as_str())];
    let req = sigv4::HttpRequest {
        method: "GET",
        path: "/",
        query: &query,
        headers: &base,
        body: b"",
    };
    let headers = sigv4::sign(&req, &s.key, &s.secret, None, "us-east-1", "iam", now());
    let r = s.send("GET", &format!("/?{query}"), &headers, vec![]).await;
    r.ok();
    assert!(r.body.starts_with("<ListRolesResponse"));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_caller_identity_of_the_admin_key() {
    let s = Server::start().await;
    let r = s.sts("GetCallerIdentity", &[]).await;
    r.ok();
    assert!(r.body.starts_with("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:root</Arn><UserId>123456789012</UserId><Account>123456789012</Account>"), "{}", r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_created_while_serving_works_at_once_and_is_separate() {
    let s = Server::start().await;
    s.iam(
        "CreateRole",
        &[
            ("RoleName", "mine"),
            ("AssumeRolePolicyDocument", common::TRUST),
        ],
    )
    .await
    .ok();
    let (key, secret) = server::create_account(s.store.as_ref(), "987654321098").unwrap();
    let r = s
        .signed_with(
            &key,
            &secret,
            None,
            "sts",
            now(),
            &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
        )
        .await;
    r.ok();
    assert_eq!(r.tag("Account").unwrap(), "987654321098");
    let r = s
        .signed_with(&key, &secret, None, "iam", now(), LIST_ROLES)
        .await;
    assert!(
        r.ok().body.contains("<Roles/>"),
        "accounts do not see each other's roles"
    );
    let r = s
        .signed_with(
            &key,
            &secret,
            None,
            "iam",
            now(),
            &[
                ("Action", "GetRole"),
                ("Version", "2010-05-08"),
                ("RoleName", "mine"),
            ],
        )
        .await;
    r.expect_error(404, "NoSuchEntity");
    assert!(server::create_account(s.store.as_ref(), "987654321098").is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_carry_request_ids_and_xml_content_type() {
    let s = Server::start().await;
    let host = s.addr.to_string();
    let body = form(LIST_ROLES);
    let base = [("host", host.as_str())];
    let req = sigv4::HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body: body.as_bytes(),
    };
    let headers = sigv4::sign(&req, &s.key, &s.secret, None, "us-east-1", "iam", now());
    let r = s.send("POST", "/", &headers, body.into_bytes()).await;
    let id = r.tag("RequestId").unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(id.chars().filter(|c| *c == '-').count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn presigned_get_requests() {
    let s = Server::start().await;
    let host = s.addr.to_string();
    let base = [("host", host.as_str())];
    let req = sigv4::HttpRequest {
        method: "GET",
        path: "/",
        query: "Action=ListRoles&Version=2010-05-08",
        headers: &base,
        body: b"",
    };
    let query = sigv4::presign(&req, &s.key, &s.secret, None, "us-east-1", "iam", now(), 60);
    let r = s.send("GET", &format!("/?{query}"), &[], vec![]).await;
    r.ok();
    assert!(r.body.starts_with("<ListRolesResponse"));
    let stale = sigv4::presign(
        &req,
        &s.key,
        &s.secret,
        None,
        "us-east-1",
        "iam",
        now() - 120,
        60,
    );
    let r = s.send("GET", &format!("/?{stale}"), &[], vec![]).await;
    r.expect_error(403, "SignatureDoesNotMatch");
    assert!(
        r.message().starts_with("Request has expired"),
        "{}",
        r.message()
    );
}
