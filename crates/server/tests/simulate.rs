//! The policy simulator API over HTTP, and its agreement with what real signed
//! calls of the simulated role then get.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::Server;

const ROLE: &str = "arn:aws:iam::123456789012:role/s3-app-role";

#[tokio::test(flavor = "multi_thread")]
async fn simulate_principal_policy_agrees_with_real_calls() {
    let (s, c) = Server::tutorial("arn:aws:iam::aws:policy/IAMReadOnlyAccess").await;
    let deny = r#"{"Version":"2012-10-17","Statement":{"Sid":"NoTags","Effect":"Deny","Action":"iam:ListRoleTags","Resource":"*"}}"#;
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "s3-app-role"),
            ("PolicyName", "no-tags"),
            ("PolicyDocument", deny),
        ],
    )
    .await
    .ok();

    let r = s
        .iam(
            "SimulatePrincipalPolicy",
            &[
                ("PolicySourceArn", ROLE),
                ("ActionNames.member.1", "iam:ListRoles"),
                ("ActionNames.member.2", "iam:CreateRole"),
                ("ActionNames.member.3", "iam:ListRoleTags"),
            ],
        )
        .await;
    r.ok();
    assert_eq!(
        r.tags("EvalActionName"),
        ["iam:ListRoles", "iam:CreateRole", "iam:ListRoleTags"]
    );
    let decisions = r.tags("EvalDecision");
    assert_eq!(decisions, ["allowed", "implicitDeny", "explicitDeny"]);
    assert!(r.body.contains("<SourcePolicyId>arn:aws:iam::aws:policy/IAMReadOnlyAccess</SourcePolicyId><SourcePolicyType>aws-managed</SourcePolicyType>"), "{}", r.body);
    assert!(r.body.contains("<SourcePolicyId>no-tags</SourcePolicyId><SourcePolicyType>role</SourcePolicyType><StartPosition><Line>1</Line>"), "{}", r.body);

    // The real calls of a session of that role get the same answers.
    let creds = s
        .web_identity(
            ROLE,
            &s.token(&c, "production", "s3-app", "sts.amazonaws.com"),
        )
        .await;
    let real = |action: &'static str, params: Vec<(&'static str, &'static str)>| {
        let s = &s;
        let creds = creds.clone();
        async move {
            s.as_session(&creds, "iam", action, "2010-05-08", &params)
                .await
        }
    };
    real("ListRoles", vec![]).await.ok();
    real(
        "CreateRole",
        vec![
            ("RoleName", "x"),
            ("AssumeRolePolicyDocument", common::TRUST),
        ],
    )
    .await
    .expect_error(403, "AccessDenied");
    let r = real("ListRoleTags", vec![("RoleName", "s3-app-role")]).await;
    r.expect_error(403, "AccessDenied");
    assert!(
        r.message()
            .contains("with an explicit deny in an identity-based policy")
    );

    s.iam(
        "SimulatePrincipalPolicy",
        &[
            ("PolicySourceArn", "arn:aws:iam::123456789012:role/none"),
            ("ActionNames.member.1", "s3:GetObject"),
        ],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    s.iam("SimulatePrincipalPolicy", &[("PolicySourceArn", ROLE)])
        .await
        .expect_error(400, "ValidationError");
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_custom_policy_with_context_boundary_and_resource_policy() {
    let s = Server::start().await;
    let policy = include_str!("../../../examples/conditions-policy.json");
    let base = [
        ("PolicyInputList.member.1", policy),
        ("ActionNames.member.1", "s3:GetObject"),
        ("ResourceArns.member.1", "arn:aws:s3:::my-bucket/k"),
    ];
    let r = s.iam("SimulateCustomPolicy", &base).await;
    r.ok();
    assert_eq!(r.tag("EvalDecision").unwrap(), "implicitDeny");
    assert!(
        r.body.contains("<MissingContextValues><member>aws:SourceAccount</member><member>aws:SourceIp</member></MissingContextValues>"),
        "{}",
        r.body
    );
    let mut with_ctx = base.to_vec();
    with_ctx.extend([
        ("ContextEntries.member.1.ContextKeyName", "aws:SourceIp"),
        (
            "ContextEntries.member.1.ContextKeyValues.member.1",
            "10.1.2.3",
        ),
        ("ContextEntries.member.1.ContextKeyType", "ip"),
        (
            "ContextEntries.member.2.ContextKeyName",
            "aws:SourceAccount",
        ),
        (
            "ContextEntries.member.2.ContextKeyValues.member.1",
            "123456789012",
        ),
        ("ContextEntries.member.2.ContextKeyType", "string"),
    ]);
    let r = s.iam("SimulateCustomPolicy", &with_ctx).await;
    assert_eq!(r.tag("EvalDecision").unwrap(), "allowed");
    assert!(r.body.contains("<MissingContextValues/>"));
    let mut bounded = with_ctx.clone();
    bounded.push(("PermissionsBoundaryPolicyInputList.member.1", r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}"#));
    let r = s.iam("SimulateCustomPolicy", &bounded).await;
    assert_eq!(r.tag("EvalDecision").unwrap(), "implicitDeny");
    assert_eq!(r.tag("AllowedByPermissionsBoundary").unwrap(), "false");
    // A resource policy naming the caller directly grants on its own.
    let bucket = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::my-bucket/*"}}"#;
    let r = s
        .iam(
            "SimulateCustomPolicy",
            &[
                ("PolicyInputList.member.1", policy),
                ("ActionNames.member.1", "s3:PutObject"),
                ("ResourceArns.member.1", "arn:aws:s3:::my-bucket/k"),
                ("ResourcePolicy", bucket),
                ("CallerArn", "arn:aws:iam::123456789012:user/alice"),
            ],
        )
        .await;
    assert_eq!(r.tag("EvalDecision").unwrap(), "allowed");
    assert!(
        r.body
            .contains("<SourcePolicyType>resource</SourcePolicyType>")
    );
    let r = s
        .iam(
            "SimulateCustomPolicy",
            &[
                ("PolicyInputList.member.1", "{bad"),
                ("ActionNames.member.1", "s3:GetObject"),
            ],
        )
        .await;
    r.expect_error(400, "InvalidInput");
    s.iam(
        "SimulateCustomPolicy",
        &[("ActionNames.member.1", "s3:GetObject")],
    )
    .await
    .expect_error(400, "ValidationError");
}
