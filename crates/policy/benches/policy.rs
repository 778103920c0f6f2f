//! Parse+compile of the tutorial policies, and decisions against a
//! 10-statement policy set. Run: `cargo bench -p policy --bench policy`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use policy::{CompiledPolicy, Context, PolicySet, Principal, Request, authorize, parse};

const EXAMPLES: &[(&str, &str)] = &[
    (
        "trust-policy",
        include_str!("../../../examples/trust-policy.json"),
    ),
    (
        "app-policy",
        include_str!("../../../examples/app-policy.json"),
    ),
    (
        "conditions-policy",
        include_str!("../../../examples/conditions-policy.json"),
    ),
    (
        "cross-account-trust-policy",
        include_str!("../../../examples/cross-account-trust-policy.json"),
    ),
    (
        "assume-role-policy",
        include_str!("../../../examples/assume-role-policy.json"),
    ),
    (
        "least-privilege-good",
        include_str!("../../../examples/least-privilege-good.json"),
    ),
];

/// Four more statements so the identity set holds ten: a deny that does not
/// apply, a condition on a tag, a NotResource and a variable.
const EXTRA: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"DenyDelete","Effect":"Deny","Action":["s3:DeleteObject","s3:DeleteBucket"],"Resource":"*"},
  {"Sid":"TeamTagged","Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}},
  {"Sid":"NotSecrets","Effect":"Allow","Action":"secretsmanager:GetSecretValue","NotResource":"arn:aws:secretsmanager:*:*:secret:prod/*"},
  {"Sid":"Home","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}
]}"#;

fn ten_statements() -> Vec<CompiledPolicy> {
    [
        "app-policy",
        "conditions-policy",
        "assume-role-policy",
        "least-privilege-good",
    ]
    .iter()
    .map(|name| {
        let text = EXAMPLES.iter().find(|(n, _)| n == name).unwrap().1;
        CompiledPolicy::new(*name, parse(text).unwrap())
    })
    .chain(std::iter::once(CompiledPolicy::new(
        "extra",
        parse(EXTRA).unwrap(),
    )))
    .collect()
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse+compile");
    for (name, text) in EXAMPLES {
        group.bench_function(*name, |b| {
            b.iter(|| CompiledPolicy::new(*name, parse(black_box(text)).unwrap()))
        });
    }
    group.finish();
}

fn bench_authorize(c: &mut Criterion) {
    let identity = ten_statements();
    assert_eq!(identity.iter().map(CompiledPolicy::len).sum::<usize>(), 10);
    let principal =
        Principal::from_arn("arn:aws:sts::123456789012:assumed-role/s3-app-role/pod").unwrap();
    let mut ctx = Context::new();
    ctx.insert("aws:SourceIp", "10.1.2.3")
        .insert("aws:SourceAccount", "123456789012")
        .insert("aws:PrincipalTag/team", "data")
        .insert("aws:username", "alice");
    for (k, v) in principal.condition_keys() {
        ctx.insert_default(k, &v);
    }
    let set = PolicySet {
        identity: &identity,
        ..PolicySet::default()
    };
    let mut group = c.benchmark_group("authorize (10 statements)");
    for (label, action, resource) in [
        (
            "allow, first statement",
            "s3:GetObject",
            "arn:aws:s3:::my-bucket/data.csv",
        ),
        (
            "implicit deny, every statement",
            "s3:PutObject",
            "arn:aws:s3:::other-bucket/x",
        ),
        (
            "explicit deny",
            "s3:DeleteObject",
            "arn:aws:s3:::my-bucket/data.csv",
        ),
        (
            "allow via variable",
            "s3:PutObject",
            "arn:aws:s3:::home/alice/notes.txt",
        ),
    ] {
        let req = Request {
            principal: &principal,
            action,
            resource,
            resource_account: None,
            context: &ctx,
        };
        group.bench_function(label, |b| {
            b.iter(|| authorize(black_box(&req), black_box(&set)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_authorize);
criterion_main!(benches);
