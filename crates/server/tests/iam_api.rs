//! Every IAM action over real HTTP with SigV4: what it returns, its errors
//! (AWS codes, statuses and messages), and that refused calls change nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::{APP, Server, TRUST, url_decode};

async fn with_role(name: &str) -> Server {
    let s = Server::start().await;
    s.iam(
        "CreateRole",
        &[("RoleName", name), ("AssumeRolePolicyDocument", TRUST)],
    )
    .await
    .ok();
    s
}

async fn role_names(s: &Server) -> Vec<String> {
    s.iam("ListRoles", &[]).await.ok().tags("RoleName")
}

#[tokio::test(flavor = "multi_thread")]
async fn create_get_list_roles() {
    let s = Server::start().await;
    let r = s
        .iam(
            "CreateRole",
            &[
                ("RoleName", "s3-app-role"),
                ("Path", "/apps/"),
                ("AssumeRolePolicyDocument", TRUST),
                ("Description", "Role for s3-app"),
                ("MaxSessionDuration", "7200"),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "data"),
            ],
        )
        .await;
    r.ok();
    assert!(r.body.starts_with("<CreateRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><CreateRoleResult><Role>"));
    assert_eq!(
        r.tag("Arn").unwrap(),
        "arn:aws:iam::123456789012:role/apps/s3-app-role"
    );
    let id = r.tag("RoleId").unwrap();
    assert!(id.starts_with("AROA") && id.len() == 21, "{id}");
    assert_eq!(
        url_decode(&r.tag("AssumeRolePolicyDocument").unwrap()),
        TRUST
    );
    assert!(r.tag("CreateDate").unwrap().ends_with('Z'));

    let g = s.iam("GetRole", &[("RoleName", "S3-APP-ROLE")]).await;
    g.ok();
    assert_eq!(
        g.tag("RoleName").unwrap(),
        "s3-app-role",
        "names are case-insensitive"
    );
    assert_eq!(g.tag("MaxSessionDuration").unwrap(), "7200");
    assert_eq!(g.tag("Description").unwrap(), "Role for s3-app");
    assert_eq!(g.tags("Key"), ["team"]);
    assert!(g.body.contains("<RoleLastUsed/>"));

    let l = s.iam("ListRoles", &[("PathPrefix", "/apps/")]).await;
    l.ok();
    assert_eq!(l.tags("RoleName"), ["s3-app-role"]);
    assert!(!l.body.contains("<Tags>"), "ListRoles leaves tags out");
    assert_eq!(l.tag("IsTruncated").unwrap(), "false");
    assert!(
        s.iam("ListRoles", &[("PathPrefix", "/other/")])
            .await
            .ok()
            .body
            .contains("<Roles/>")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn list_roles_paginates_with_marker() {
    let s = Server::start().await;
    for i in 0..5 {
        s.iam(
            "CreateRole",
            &[
                ("RoleName", &format!("r{i}")),
                ("AssumeRolePolicyDocument", TRUST),
            ],
        )
        .await
        .ok();
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut p = vec![("MaxItems", "2")];
        if let Some(m) = &marker {
            p.push(("Marker", m.as_str()));
        }
        let r = s.iam("ListRoles", &p).await;
        r.ok();
        seen.extend(r.tags("RoleName"));
        if r.tag("IsTruncated").unwrap() == "false" {
            assert!(r.tag("Marker").is_none());
            break;
        }
        marker = r.tag("Marker");
    }
    assert_eq!(seen, ["r0", "r1", "r2", "r3", "r4"]);
    s.iam("ListRoles", &[("MaxItems", "0")])
        .await
        .expect_error(400, "ValidationError");
    s.iam("ListRoles", &[("MaxItems", "1001")])
        .await
        .expect_error(400, "ValidationError");
    s.iam("ListRoles", &[("MaxItems", "ten")])
        .await
        .expect_error(400, "ValidationError");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_role_errors_change_nothing() {
    let s = with_role("app").await;
    let r = s
        .iam(
            "CreateRole",
            &[("RoleName", "APP"), ("AssumeRolePolicyDocument", TRUST)],
        )
        .await;
    r.expect_error(409, "EntityAlreadyExists");
    assert_eq!(r.message(), "Role with name APP already exists.");

    let long = "x".repeat(65);
    let r = s
        .iam(
            "CreateRole",
            &[("RoleName", &long), ("AssumeRolePolicyDocument", TRUST)],
        )
        .await;
    r.expect_error(400, "ValidationError");
    assert_eq!(
        r.message(),
        format!(
            "1 validation error detected: Value '{long}' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64"
        )
    );
    let r = s
        .iam("CreateRole", &[("AssumeRolePolicyDocument", TRUST)])
        .await;
    r.expect_error(400, "ValidationError");
    assert!(r.message().contains(
        "Value null at 'roleName' failed to satisfy constraint: Member must not be null"
    ));
    let r = s
        .iam(
            "CreateRole",
            &[
                ("RoleName", "bad name"),
                ("AssumeRolePolicyDocument", TRUST),
                ("Path", "nopath"),
                ("MaxSessionDuration", "60"),
            ],
        )
        .await;
    r.expect_error(400, "ValidationError");
    assert!(
        r.message().starts_with("3 validation errors detected:"),
        "{}",
        r.message()
    );

    // Trust policies: JSON, grammar, use and size.
    for (doc, code, status, message) in [
        (
            "not json",
            "MalformedPolicyDocument",
            400,
            "Syntax errors in policy.",
        ),
        (
            APP,
            "MalformedPolicyDocument",
            400,
            "Has prohibited field Resource",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
            "MalformedPolicyDocument",
            400,
            "Invalid principal in policy",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/*"},"Action":"sts:AssumeRole"}}"#,
            "MalformedPolicyDocument",
            400,
            "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:role/*\"",
        ),
    ] {
        let r = s
            .iam(
                "CreateRole",
                &[("RoleName", "other"), ("AssumeRolePolicyDocument", doc)],
            )
            .await;
        r.expect_error(status, code);
        assert!(r.message().starts_with(message), "{}", r.message());
    }
    let big = TRUST.replace("s3-app", &"a".repeat(2100));
    let r = s
        .iam(
            "CreateRole",
            &[("RoleName", "other"), ("AssumeRolePolicyDocument", &big)],
        )
        .await;
    r.expect_error(409, "LimitExceeded");
    assert_eq!(r.message(), "Cannot exceed quota for ACLSizePerRole: 2048");
    let r = s
        .iam(
            "CreateRole",
            &[
                ("RoleName", "other"),
                ("AssumeRolePolicyDocument", "{\"€\": 1}"),
            ],
        )
        .await;
    r.expect_error(400, "ValidationError");
    let r = s
        .iam(
            "CreateRole",
            &[
                ("RoleName", "other"),
                ("AssumeRolePolicyDocument", TRUST),
                (
                    "PermissionsBoundary",
                    "arn:aws:iam::123456789012:policy/none",
                ),
            ],
        )
        .await;
    r.expect_error(404, "NoSuchEntity");
    let r = s
        .iam(
            "CreateRole",
            &[
                ("RoleName", "other"),
                ("AssumeRolePolicyDocument", TRUST),
                ("Tags.member.1.Key", "a*b"),
                ("Tags.member.1.Value", "v"),
            ],
        )
        .await;
    r.expect_error(400, "ValidationError");
    assert!(
        r.message().contains("at 'tags.1.member.key'"),
        "{}",
        r.message()
    );
    assert_eq!(role_names(&s).await, ["app"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn update_role_and_description_and_trust() {
    let s = with_role("app").await;
    let r = s
        .iam(
            "UpdateRole",
            &[
                ("RoleName", "app"),
                ("Description", "new"),
                ("MaxSessionDuration", "43200"),
            ],
        )
        .await;
    r.ok();
    assert!(r.body.contains("<UpdateRoleResult/>"), "{}", r.body);
    let g = s.iam("GetRole", &[("RoleName", "app")]).await;
    assert_eq!(g.tag("Description").unwrap(), "new");
    assert_eq!(g.tag("MaxSessionDuration").unwrap(), "43200");
    s.iam(
        "UpdateRole",
        &[("RoleName", "app"), ("MaxSessionDuration", "43201")],
    )
    .await
    .expect_error(400, "ValidationError");
    s.iam("UpdateRole", &[("RoleName", "nope")])
        .await
        .expect_error(404, "NoSuchEntity");

    let r = s
        .iam(
            "UpdateRoleDescription",
            &[("RoleName", "app"), ("Description", "described")],
        )
        .await;
    r.ok();
    assert_eq!(r.tag("Description").unwrap(), "described");

    let other = TRUST.replace("production", "staging");
    s.iam(
        "UpdateAssumeRolePolicy",
        &[("RoleName", "app"), ("PolicyDocument", &other)],
    )
    .await
    .ok();
    let g = s.iam("GetRole", &[("RoleName", "app")]).await;
    assert!(url_decode(&g.tag("AssumeRolePolicyDocument").unwrap()).contains("staging"));
    s.iam(
        "UpdateAssumeRolePolicy",
        &[("RoleName", "app"), ("PolicyDocument", APP)],
    )
    .await
    .expect_error(400, "MalformedPolicyDocument");
    let g = s.iam("GetRole", &[("RoleName", "app")]).await;
    assert!(
        url_decode(&g.tag("AssumeRolePolicyDocument").unwrap()).contains("staging"),
        "a refused update changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn role_tags() {
    let s = with_role("app").await;
    s.iam(
        "TagRole",
        &[
            ("RoleName", "app"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "a"),
            ("Tags.member.2.Key", "env"),
            ("Tags.member.2.Value", "prod"),
        ],
    )
    .await
    .ok();
    s.iam(
        "TagRole",
        &[
            ("RoleName", "app"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "b"),
        ],
    )
    .await
    .ok();
    let r = s.iam("ListRoleTags", &[("RoleName", "app")]).await;
    r.ok();
    assert_eq!(r.tags("Key"), ["team", "env"]);
    assert_eq!(r.tags("Value"), ["b", "prod"]);
    s.iam(
        "UntagRole",
        &[
            ("RoleName", "app"),
            ("TagKeys.member.1", "team"),
            ("TagKeys.member.2", "absent"),
        ],
    )
    .await
    .ok();
    assert_eq!(
        s.iam("ListRoleTags", &[("RoleName", "app")])
            .await
            .tags("Key"),
        ["env"]
    );
    let mut many: Vec<(String, String)> = Vec::new();
    for i in 1..=50 {
        many.push((format!("Tags.member.{i}.Key"), format!("k{i}")));
        many.push((format!("Tags.member.{i}.Value"), "v".into()));
    }
    let params: Vec<(&str, &str)> = std::iter::once(("RoleName", "app"))
        .chain(many.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    s.iam("TagRole", &params)
        .await
        .expect_error(409, "LimitExceeded");
    assert_eq!(
        s.iam("ListRoleTags", &[("RoleName", "app")])
            .await
            .tags("Key"),
        ["env"]
    );
    s.iam("TagRole", &[("RoleName", "app")])
        .await
        .expect_error(400, "ValidationError");
    s.iam(
        "TagRole",
        &[
            ("RoleName", "app"),
            ("Tags.member.1.Key", "a"),
            ("Tags.member.1.Value", "1"),
            ("Tags.member.2.Key", "A"),
            ("Tags.member.2.Value", "2"),
        ],
    )
    .await
    .expect_error(400, "InvalidInput");
    s.iam("ListRoleTags", &[("RoleName", "nope")])
        .await
        .expect_error(404, "NoSuchEntity");
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_role_policies() {
    let s = with_role("app").await;
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyName", "app-policy"),
            ("PolicyDocument", APP),
        ],
    )
    .await
    .ok();
    let r = s
        .iam(
            "GetRolePolicy",
            &[("RoleName", "app"), ("PolicyName", "app-policy")],
        )
        .await;
    r.ok();
    assert_eq!(url_decode(&r.tag("PolicyDocument").unwrap()), APP);
    assert_eq!(r.tag("RoleName").unwrap(), "app");
    assert_eq!(
        s.iam("ListRolePolicies", &[("RoleName", "app")])
            .await
            .tags("member"),
        ["app-policy"]
    );
    // Replacing keeps one policy.
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyName", "app-policy"),
            (
                "PolicyDocument",
                include_str!("../../../examples/least-privilege-good.json"),
            ),
        ],
    )
    .await
    .ok();
    assert_eq!(
        s.iam("ListRolePolicies", &[("RoleName", "app")])
            .await
            .tags("member")
            .len(),
        1
    );

    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyName", "trust"),
            ("PolicyDocument", TRUST),
        ],
    )
    .await
    .expect_error(400, "MalformedPolicyDocument");
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "nope"),
            ("PolicyName", "p"),
            ("PolicyDocument", APP),
        ],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    // The limit is on the total size of a role's inline policies.
    let statement = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-with-a-long-name-to-fill-the-policy/*"}"#;
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        vec![statement; 60].join(",")
    );
    s.iam(
        "PutRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyName", "big1"),
            ("PolicyDocument", &big),
        ],
    )
    .await
    .ok();
    let r = s
        .iam(
            "PutRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyName", "big2"),
                ("PolicyDocument", &big),
            ],
        )
        .await;
    r.expect_error(409, "LimitExceeded");
    assert_eq!(
        r.message(),
        "Maximum policy size of 10240 bytes exceeded for role app"
    );

    let r = s.iam("DeleteRole", &[("RoleName", "app")]).await;
    r.expect_error(409, "DeleteConflict");
    assert_eq!(
        r.message(),
        "Cannot delete entity, must delete policies first."
    );
    s.iam(
        "DeleteRolePolicy",
        &[("RoleName", "app"), ("PolicyName", "app-policy")],
    )
    .await
    .ok();
    s.iam(
        "DeleteRolePolicy",
        &[("RoleName", "app"), ("PolicyName", "big1")],
    )
    .await
    .ok();
    let r = s
        .iam(
            "DeleteRolePolicy",
            &[("RoleName", "app"), ("PolicyName", "app-policy")],
        )
        .await;
    r.expect_error(404, "NoSuchEntity");
    assert_eq!(
        r.message(),
        "The role policy with name app-policy cannot be found."
    );
    s.iam(
        "GetRolePolicy",
        &[("RoleName", "app"), ("PolicyName", "app-policy")],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    assert!(
        s.iam("ListRolePolicies", &[("RoleName", "app")])
            .await
            .body
            .contains("<PolicyNames/>")
    );
    s.iam("DeleteRole", &[("RoleName", "app")]).await.ok();
    s.iam("DeleteRole", &[("RoleName", "app")])
        .await
        .expect_error(404, "NoSuchEntity");
}

#[tokio::test(flavor = "multi_thread")]
async fn attached_policies_aws_and_customer_managed() {
    let s = with_role("app").await;
    let s3 = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    s.iam(
        "AttachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", s3)],
    )
    .await
    .ok();
    s.iam(
        "AttachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", s3)],
    )
    .await
    .ok();
    let created = s
        .iam(
            "CreatePolicy",
            &[("PolicyName", "app-policy"), ("PolicyDocument", APP)],
        )
        .await;
    created.ok();
    let mine = created.tag("Arn").unwrap();
    s.iam(
        "AttachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", &mine)],
    )
    .await
    .ok();
    let r = s
        .iam("ListAttachedRolePolicies", &[("RoleName", "app")])
        .await;
    r.ok();
    assert_eq!(
        r.tags("PolicyName"),
        ["AmazonS3ReadOnlyAccess", "app-policy"]
    );
    assert_eq!(
        s.iam("GetPolicy", &[("PolicyArn", &mine)])
            .await
            .tag("AttachmentCount")
            .unwrap(),
        "1"
    );
    let r = s.iam("ListEntitiesForPolicy", &[("PolicyArn", s3)]).await;
    r.ok();
    assert_eq!(r.tags("RoleName"), ["app"]);

    let r = s
        .iam(
            "AttachRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyArn", "arn:aws:iam::123456789012:policy/none"),
            ],
        )
        .await;
    r.expect_error(404, "NoSuchEntity");
    assert_eq!(
        r.message(),
        "Policy arn:aws:iam::123456789012:policy/none does not exist or is not attachable."
    );
    s.iam(
        "AttachRolePolicy",
        &[
            ("RoleName", "app"),
            ("PolicyArn", "not-an-arn-at-all-really"),
        ],
    )
    .await
    .expect_error(400, "InvalidInput");
    s.iam(
        "AttachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", "short")],
    )
    .await
    .expect_error(400, "ValidationError");

    let r = s.iam("DeleteRole", &[("RoleName", "app")]).await;
    r.expect_error(409, "DeleteConflict");
    assert_eq!(
        r.message(),
        "Cannot delete entity, must detach all policies first."
    );
    let r = s.iam("DeletePolicy", &[("PolicyArn", &mine)]).await;
    r.expect_error(409, "DeleteConflict");
    s.iam(
        "DetachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", s3)],
    )
    .await
    .ok();
    s.iam(
        "DetachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", s3)],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    s.iam(
        "DetachRolePolicy",
        &[("RoleName", "app"), ("PolicyArn", &mine)],
    )
    .await
    .ok();
    s.iam("DeletePolicy", &[("PolicyArn", &mine)]).await.ok();
    s.iam("GetPolicy", &[("PolicyArn", &mine)])
        .await
        .expect_error(404, "NoSuchEntity");
    s.iam("DeleteRole", &[("RoleName", "app")]).await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_ten_attached_policies() {
    let s = with_role("app").await;
    let doc = include_str!("../../../examples/least-privilege-good.json");
    for i in 0..10 {
        let arn = s
            .iam(
                "CreatePolicy",
                &[("PolicyName", &format!("p{i}")), ("PolicyDocument", doc)],
            )
            .await
            .tag("Arn")
            .unwrap();
        s.iam(
            "AttachRolePolicy",
            &[("RoleName", "app"), ("PolicyArn", &arn)],
        )
        .await
        .ok();
    }
    let r = s
        .iam(
            "AttachRolePolicy",
            &[
                ("RoleName", "app"),
                ("PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
            ],
        )
        .await;
    r.expect_error(409, "LimitExceeded");
    assert_eq!(r.message(), "Cannot exceed quota for PoliciesPerRole: 10");
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_boundary() {
    let s = with_role("app").await;
    let b = "arn:aws:iam::aws:policy/PowerUserAccess";
    s.iam(
        "PutRolePermissionsBoundary",
        &[("RoleName", "app"), ("PermissionsBoundary", b)],
    )
    .await
    .ok();
    let g = s.iam("GetRole", &[("RoleName", "app")]).await;
    assert_eq!(g.tag("PermissionsBoundaryArn").unwrap(), b);
    assert_eq!(
        g.tag("PermissionsBoundaryType").unwrap(),
        "PermissionsBoundaryPolicy"
    );
    assert_eq!(
        s.iam("GetPolicy", &[("PolicyArn", b)])
            .await
            .tag("PermissionsBoundaryUsageCount")
            .unwrap(),
        "1"
    );
    let r = s
        .iam(
            "ListEntitiesForPolicy",
            &[
                ("PolicyArn", b),
                ("PolicyUsageFilter", "PermissionsBoundary"),
            ],
        )
        .await;
    assert_eq!(r.tags("RoleName"), ["app"]);
    s.iam(
        "PutRolePermissionsBoundary",
        &[
            ("RoleName", "app"),
            (
                "PermissionsBoundary",
                "arn:aws:iam::123456789012:policy/none",
            ),
        ],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    assert_eq!(
        s.iam("GetRole", &[("RoleName", "app")])
            .await
            .tag("PermissionsBoundaryArn")
            .unwrap(),
        b
    );
    s.iam("DeleteRolePermissionsBoundary", &[("RoleName", "app")])
        .await
        .ok();
    assert!(
        s.iam("GetRole", &[("RoleName", "app")])
            .await
            .tag("PermissionsBoundaryArn")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_policy_versions() {
    let s = Server::start().await;
    let r = s
        .iam(
            "CreatePolicy",
            &[
                ("PolicyName", "app-policy"),
                ("Path", "/team/"),
                ("PolicyDocument", APP),
                ("Description", "app"),
                ("Tags.member.1.Key", "team"),
                ("Tags.member.1.Value", "data"),
            ],
        )
        .await;
    r.ok();
    let arn = r.tag("Arn").unwrap();
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/team/app-policy");
    assert!(r.tag("PolicyId").unwrap().starts_with("ANPA"));
    assert_eq!(r.tag("DefaultVersionId").unwrap(), "v1");
    s.iam(
        "CreatePolicy",
        &[("PolicyName", "APP-POLICY"), ("PolicyDocument", APP)],
    )
    .await
    .expect_error(409, "EntityAlreadyExists");
    s.iam(
        "CreatePolicy",
        &[("PolicyName", "trust"), ("PolicyDocument", TRUST)],
    )
    .await
    .expect_error(400, "MalformedPolicyDocument");
    let old = APP.replace("2012-10-17", "2008-10-17");
    let r = s
        .iam(
            "CreatePolicy",
            &[("PolicyName", "old"), ("PolicyDocument", &old)],
        )
        .await;
    r.expect_error(400, "MalformedPolicyDocument");
    assert!(
        r.message()
            .starts_with("Policy document must be version 2012-10-17 or greater.")
    );

    for i in 2..=5 {
        let r = s
            .iam(
                "CreatePolicyVersion",
                &[
                    ("PolicyArn", &arn),
                    ("PolicyDocument", APP),
                    ("SetAsDefault", if i == 3 { "true" } else { "false" }),
                ],
            )
            .await;
        r.ok();
        assert_eq!(r.tag("VersionId").unwrap(), format!("v{i}"));
    }
    let r = s
        .iam(
            "CreatePolicyVersion",
            &[("PolicyArn", &arn), ("PolicyDocument", APP)],
        )
        .await;
    r.expect_error(409, "LimitExceeded");
    assert_eq!(
        r.message(),
        "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version."
    );
    assert_eq!(
        s.iam("GetPolicy", &[("PolicyArn", &arn)])
            .await
            .tag("DefaultVersionId")
            .unwrap(),
        "v3"
    );
    let r = s.iam("ListPolicyVersions", &[("PolicyArn", &arn)]).await;
    assert_eq!(r.tags("VersionId"), ["v5", "v4", "v3", "v2", "v1"]);
    assert!(!r.body.contains("<Document>"));
    let r = s
        .iam(
            "GetPolicyVersion",
            &[("PolicyArn", &arn), ("VersionId", "v3")],
        )
        .await;
    assert_eq!(url_decode(&r.tag("Document").unwrap()), APP);
    assert_eq!(r.tag("IsDefaultVersion").unwrap(), "true");
    s.iam(
        "GetPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v9")],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    s.iam(
        "GetPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "9")],
    )
    .await
    .expect_error(400, "ValidationError");
    let r = s
        .iam(
            "DeletePolicyVersion",
            &[("PolicyArn", &arn), ("VersionId", "v3")],
        )
        .await;
    r.expect_error(409, "DeleteConflict");
    s.iam(
        "SetDefaultPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v5")],
    )
    .await
    .ok();
    s.iam(
        "SetDefaultPolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v8")],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    s.iam("DeletePolicy", &[("PolicyArn", &arn)])
        .await
        .expect_error(409, "DeleteConflict");
    for v in ["v1", "v2", "v3", "v4"] {
        s.iam(
            "DeletePolicyVersion",
            &[("PolicyArn", &arn), ("VersionId", v)],
        )
        .await
        .ok();
    }
    let r = s
        .iam(
            "CreatePolicyVersion",
            &[("PolicyArn", &arn), ("PolicyDocument", APP)],
        )
        .await;
    assert_eq!(
        r.tag("VersionId").unwrap(),
        "v6",
        "version ids are never reused"
    );
    s.iam(
        "DeletePolicyVersion",
        &[("PolicyArn", &arn), ("VersionId", "v6")],
    )
    .await
    .ok();
    s.iam("DeletePolicy", &[("PolicyArn", &arn)]).await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_managed_policies_are_listed_and_read_only() {
    let s = Server::start().await;
    let names = s
        .iam("ListPolicies", &[("Scope", "AWS")])
        .await
        .tags("PolicyName");
    for expected in [
        "AdministratorAccess",
        "PowerUserAccess",
        "ReadOnlyAccess",
        "IAMReadOnlyAccess",
        "AmazonS3ReadOnlyAccess",
        "AmazonS3FullAccess",
        "AmazonDynamoDBReadOnlyAccess",
        "AmazonDynamoDBFullAccess",
        "AmazonSQSReadOnlyAccess",
        "AmazonSQSFullAccess",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        s.iam("ListPolicies", &[("Scope", "Local")])
            .await
            .body
            .contains("<Policies/>")
    );
    s.iam("ListPolicies", &[("Scope", "Everything")])
        .await
        .expect_error(400, "ValidationError");
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let g = s.iam("GetPolicy", &[("PolicyArn", admin)]).await;
    assert_eq!(g.tag("PolicyId").unwrap(), "ANPAIWMBCKSKIEE64ZLYK");
    let v = s
        .iam(
            "GetPolicyVersion",
            &[
                ("PolicyArn", admin),
                ("VersionId", g.tag("DefaultVersionId").unwrap().as_str()),
            ],
        )
        .await;
    assert!(url_decode(&v.tag("Document").unwrap()).contains("\"Action\": \"*\""));
    s.iam(
        "CreatePolicyVersion",
        &[("PolicyArn", admin), ("PolicyDocument", APP)],
    )
    .await
    .expect_error(403, "AccessDenied");
    s.iam("DeletePolicy", &[("PolicyArn", admin)])
        .await
        .expect_error(403, "AccessDenied");
    let only = s.iam("ListPolicies", &[("OnlyAttached", "true")]).await;
    assert!(only.body.contains("<Policies/>"), "{}", only.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_providers() {
    let s = Server::start().await;
    let url = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";
    let r = s
        .iam(
            "CreateOpenIDConnectProvider",
            &[
                ("Url", url),
                ("ClientIDList.member.1", "sts.amazonaws.com"),
                (
                    "ThumbprintList.member.1",
                    "9e99a48a9960b14926bb7f3b02e22da2b0ab7280",
                ),
            ],
        )
        .await;
    r.ok();
    let arn = r.tag("OpenIDConnectProviderArn").unwrap();
    assert_eq!(
        arn,
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    );
    let r = s
        .iam(
            "CreateOpenIDConnectProvider",
            &[("Url", url), ("ClientIDList.member.1", "sts.amazonaws.com")],
        )
        .await;
    r.expect_error(409, "EntityAlreadyExists");
    assert_eq!(
        r.message(),
        format!("Provider with url {url} already exists.")
    );
    let g = s
        .iam(
            "GetOpenIDConnectProvider",
            &[("OpenIDConnectProviderArn", &arn)],
        )
        .await;
    g.ok();
    assert_eq!(
        g.tag("Url").unwrap(),
        "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    );
    assert_eq!(
        g.tags("member"),
        [
            "sts.amazonaws.com",
            "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
        ]
    );
    assert_eq!(
        s.iam("ListOpenIDConnectProviders", &[]).await.tags("Arn"),
        std::slice::from_ref(&arn)
    );

    s.iam(
        "AddClientIDToOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("ClientID", "my-app")],
    )
    .await
    .ok();
    s.iam(
        "AddClientIDToOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("ClientID", "my-app")],
    )
    .await
    .ok();
    s.iam(
        "RemoveClientIDFromOpenIDConnectProvider",
        &[
            ("OpenIDConnectProviderArn", &arn),
            ("ClientID", "sts.amazonaws.com"),
        ],
    )
    .await
    .ok();
    s.iam(
        "RemoveClientIDFromOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn), ("ClientID", "absent")],
    )
    .await
    .ok();
    let g = s
        .iam(
            "GetOpenIDConnectProvider",
            &[("OpenIDConnectProviderArn", &arn)],
        )
        .await;
    assert!(
        g.body
            .contains("<ClientIDList><member>my-app</member></ClientIDList>"),
        "{}",
        g.body
    );

    s.iam(
        "UpdateOpenIDConnectProviderThumbprint",
        &[
            ("OpenIDConnectProviderArn", &arn),
            ("ThumbprintList.member.1", "a".repeat(40).as_str()),
        ],
    )
    .await
    .ok();
    s.iam(
        "UpdateOpenIDConnectProviderThumbprint",
        &[
            ("OpenIDConnectProviderArn", &arn),
            ("ThumbprintList.member.1", "short"),
        ],
    )
    .await
    .expect_error(400, "ValidationError");
    s.iam(
        "UpdateOpenIDConnectProviderThumbprint",
        &[
            ("OpenIDConnectProviderArn", &arn),
            ("ThumbprintList.member.1", "z".repeat(40).as_str()),
        ],
    )
    .await
    .expect_error(400, "InvalidInput");
    assert!(
        s.iam(
            "GetOpenIDConnectProvider",
            &[("OpenIDConnectProviderArn", &arn)]
        )
        .await
        .body
        .contains(&"a".repeat(40))
    );

    s.iam(
        "TagOpenIDConnectProvider",
        &[
            ("OpenIDConnectProviderArn", &arn),
            ("Tags.member.1.Key", "cluster"),
            ("Tags.member.1.Value", "dev"),
        ],
    )
    .await
    .ok();
    assert_eq!(
        s.iam(
            "ListOpenIDConnectProviderTags",
            &[("OpenIDConnectProviderArn", &arn)]
        )
        .await
        .tags("Key"),
        ["cluster"]
    );
    s.iam(
        "UntagOpenIDConnectProvider",
        &[
            ("OpenIDConnectProviderArn", &arn),
            ("TagKeys.member.1", "cluster"),
        ],
    )
    .await
    .ok();
    assert!(
        s.iam(
            "ListOpenIDConnectProviderTags",
            &[("OpenIDConnectProviderArn", &arn)]
        )
        .await
        .body
        .contains("<Tags/>")
    );

    for bad in [
        "http://example.com/id",
        "ftp://x",
        "oidc.example.com",
        "https://a?b=1",
    ] {
        s.iam("CreateOpenIDConnectProvider", &[("Url", bad)])
            .await
            .expect_error(400, "InvalidInput");
    }
    s.iam(
        "CreateOpenIDConnectProvider",
        &[("Url", "http://127.0.0.1:4599/oidc/id/ABC")],
    )
    .await
    .ok();
    s.iam(
        "GetOpenIDConnectProvider",
        &[(
            "OpenIDConnectProviderArn",
            "arn:aws:iam::123456789012:oidc-provider/none.example.com",
        )],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    s.iam(
        "GetOpenIDConnectProvider",
        &[(
            "OpenIDConnectProviderArn",
            "arn:aws:iam::123456789012:role/not-a-provider",
        )],
    )
    .await
    .expect_error(400, "InvalidInput");
    s.iam(
        "DeleteOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn)],
    )
    .await
    .ok();
    s.iam(
        "DeleteOpenIDConnectProvider",
        &[("OpenIDConnectProviderArn", &arn)],
    )
    .await
    .expect_error(404, "NoSuchEntity");
    assert_eq!(
        s.iam("ListOpenIDConnectProviders", &[])
            .await
            .tags("Arn")
            .len(),
        1
    );
}
