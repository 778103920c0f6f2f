//! The evaluation path allocates nothing: a decision against compiled policies
//! is counted with a counting global allocator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use policy::{CompiledPolicy, Context, PolicySet, Principal, Request, authorize, parse};

const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Read","Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":["arn:aws:s3:::my-bucket","arn:aws:s3:::my-bucket/*"],
   "Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},"StringEqualsIgnoreCase":{"aws:SourceAccount":"123456789012"}}},
  {"Sid":"Home","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"},
  {"Sid":"Tags","Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":["team*","env"]},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"NumericLessThanEquals":{"ec2:count":"10"},"Bool":{"aws:SecureTransport":"true"},"Null":{"aws:TokenIssueTime":"true"}}},
  {"Sid":"DenyDelete","Effect":"Deny","Action":"s3:Delete*","NotResource":"arn:aws:s3:::scratch/*"},
  {"Sid":"Arn","Effect":"Allow","Action":"sqs:SendMessage","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:sns:*:123456789012:alerts-*"},"BinaryEquals":{"k:bin":"aGVsbG8="}}}
]}"#;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::123456789012:role/app"]},"Action":"sts:AssumeRole","Condition":{"StringLike":{"sts:RoleSessionName":"${aws:username}-*"}}}}"#;

#[test]
fn authorize_allocates_nothing() {
    let identity = [CompiledPolicy::new("p", parse(POLICY).unwrap())];
    let resource = CompiledPolicy::new("trust", parse(TRUST).unwrap());
    let boundary = CompiledPolicy::new("b", parse(POLICY).unwrap());
    let principal = Principal::from_arn("arn:aws:sts::123456789012:assumed-role/app/s").unwrap();
    let mut ctx = Context::new();
    ctx.insert("aws:SourceIp", "10.2.3.4")
        .insert("aws:SourceAccount", "123456789012")
        .insert("aws:username", "alice")
        .insert("aws:CurrentTime", "2026-11-28T12:00:00Z")
        .insert("ec2:count", "3")
        .insert("aws:SecureTransport", "true")
        .insert(
            "aws:SourceArn",
            "arn:aws:sns:us-east-1:123456789012:alerts-prod",
        )
        .insert("k:bin", "aGVsbG8")
        .insert("sts:RoleSessionName", "alice-1");
    ctx.insert_multi("aws:TagKeys", ["team-a", "env"]);
    let set = PolicySet {
        identity: &identity,
        resource: Some(&resource),
        boundary: Some(&boundary),
        session: &identity,
        resource_must_allow: false,
    };
    let requests = [
        ("s3:GetObject", "arn:aws:s3:::my-bucket/k", "Allow"),
        ("s3:PutObject", "arn:aws:s3:::home/alice/k", "Allow"),
        ("s3:PutObject", "arn:aws:s3:::home/bob/k", "ImplicitDeny"),
        (
            "s3:DeleteObject",
            "arn:aws:s3:::my-bucket/k",
            "ExplicitDeny",
        ),
        ("ec2:RunInstances", "*", "Allow"),
        (
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "Allow",
        ),
        (
            "sts:AssumeRole",
            "arn:aws:iam::123456789012:role/app",
            "ImplicitDeny",
        ),
    ];
    for (action, resource, expect) in requests {
        let req = Request {
            principal: &principal,
            action,
            resource,
            resource_account: None,
            context: &ctx,
        };
        let mut decision = None;
        let counted = allocation_counter::measure(|| {
            decision = Some(authorize(&req, &set));
        });
        assert_eq!(decision.unwrap().name(), expect, "{action} {resource}");
        assert_eq!(counted.count_total, 0, "{action} {resource} allocated");
    }
}
