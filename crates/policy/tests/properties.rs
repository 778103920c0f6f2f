//! Properties of the evaluation logic that must hold for every policy set:
//! explicit deny wins, adding an Allow never takes access away, and printing a
//! parsed policy gives back the same policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use policy::{
    CompiledPolicy, Context, Decision, Effect, Negatable, Policy, PolicySet, Principal, Request,
    Statement, Values, Version, authorize, parse,
};
use proptest::prelude::*;

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "iam:PassRole",
    "sqs:SendMessage",
];
const ACTION_PATTERNS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "iam:PassRole",
    "sqs:SendMessage",
    "s3:*",
    "*",
    "s3:Get*",
    "S3:getobject",
    "s3:?etObject",
    "sqs:*Message",
];
const RESOURCES: &[&str] = &[
    "arn:aws:s3:::bucket/a",
    "arn:aws:s3:::bucket/b/c",
    "arn:aws:s3:::other/x",
    "arn:aws:sqs:us-east-1:123456789012:q",
    "arn:aws:sqs:us-east-1:987654321098:q",
];
const RESOURCE_PATTERNS: &[&str] = &[
    "arn:aws:s3:::bucket/a",
    "arn:aws:s3:::other/x",
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::*/c",
    "arn:aws:sqs:*:123456789012:*",
    "arn:aws:s3:::bucket/${aws:username}",
];
const PRINCIPALS: &[&str] = &[
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::123456789012:user/bob",
    "arn:aws:sts::123456789012:assumed-role/app/s1",
    "arn:aws:iam::987654321098:user/carol",
];
const PRINCIPAL_VALUES: &[&str] = &[
    "arn:aws:iam::123456789012:user/alice",
    "123456789012",
    "arn:aws:iam::123456789012:role/app",
    "arn:aws:iam::987654321098:root",
    "*",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(list).prop_map(str::to_string)
}

fn values(list: &'static [&'static str], max: usize) -> impl Strategy<Value = Values> {
    (prop::collection::vec(pick(list), 1..=max), any::<bool>()).prop_map(|(items, single)| {
        let single = single && items.len() == 1;
        Values { items, single }
    })
}

fn conditions() -> impl Strategy<Value = Vec<policy::ConditionBlock>> {
    let block = prop_oneof![
        values(&["alice", "bob", "a*"], 2).prop_map(|v| ("StringLike", "aws:username", v)),
        values(&["alice", "bob"], 2).prop_map(|v| ("StringNotEquals", "aws:username", v)),
        values(&["10.0.0.0/8", "192.168.0.1"], 2).prop_map(|v| ("IpAddress", "aws:SourceIp", v)),
        values(&["true", "false"], 1).prop_map(|v| ("Bool", "aws:SecureTransport", v)),
        values(&["5", "10.5"], 1).prop_map(|v| ("NumericLessThanIfExists", "s3:max-keys", v)),
        values(&["2024-01-01T00:00:00Z"], 1).prop_map(|v| (
            "DateGreaterThan",
            "aws:CurrentTime",
            v
        )),
        values(&["true"], 1).prop_map(|v| ("Null", "aws:TokenIssueTime", v)),
    ];
    prop::collection::vec(block, 0..=2).prop_map(|blocks| {
        let mut out: Vec<policy::ConditionBlock> = Vec::new();
        for (op, key, vals) in blocks {
            let operator = policy::Operator::parse(op).unwrap();
            if out.iter().any(|b| b.operator == operator) {
                continue;
            }
            out.push(policy::ConditionBlock {
                operator,
                entries: vec![(key.to_string(), vals)],
            });
        }
        out
    })
}

fn statement(resource_policy: bool) -> impl Strategy<Value = Statement> {
    (
        any::<bool>(),
        any::<bool>(),
        values(ACTION_PATTERNS, 3),
        any::<bool>(),
        values(RESOURCE_PATTERNS, 2),
        conditions(),
        values(PRINCIPAL_VALUES, 2),
        proptest::option::of("[A-Za-z0-9]{1,8}"),
    )
        .prop_map(
            move |(
                deny,
                not_action,
                actions,
                not_resource,
                resources,
                condition,
                principals,
                sid,
            )| {
                Statement {
                    sid,
                    effect: if deny { Effect::Deny } else { Effect::Allow },
                    principal: resource_policy.then(|| Negatable {
                        negated: false,
                        value: policy::PrincipalSet::Map(vec![(
                            policy::PrincipalType::Aws,
                            principals,
                        )]),
                    }),
                    action: Negatable {
                        negated: not_action,
                        value: actions,
                    },
                    resource: Some(Negatable {
                        negated: not_resource,
                        value: resources,
                    }),
                    condition,
                }
            },
        )
}

fn policy_doc(resource_policy: bool) -> impl Strategy<Value = Policy> {
    (
        prop::collection::vec(statement(resource_policy), 1..=4),
        any::<bool>(),
    )
        .prop_map(|(mut statements, single)| {
            // Sids must be unique within a policy.
            let mut seen = std::collections::HashSet::new();
            for st in &mut statements {
                if st.sid.as_ref().is_some_and(|sid| !seen.insert(sid.clone())) {
                    st.sid = None;
                }
            }
            let single_statement = single && statements.len() == 1;
            Policy {
                version: Some(Version::V2012_10_17),
                id: None,
                statements,
                single_statement,
            }
        })
}

#[derive(Debug, Clone)]
struct Scenario {
    identity: Vec<Policy>,
    resource: Option<Policy>,
    boundary: Option<Policy>,
    principal: String,
    action: String,
    resource_arn: String,
    username: Option<String>,
    source_ip: String,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(policy_doc(false), 0..=3),
        proptest::option::of(policy_doc(true)),
        proptest::option::of(policy_doc(false)),
        pick(PRINCIPALS),
        pick(ACTIONS),
        pick(RESOURCES),
        proptest::option::of(pick(&["alice", "bob"])),
        pick(&["10.1.2.3", "192.168.0.1"]),
    )
        .prop_map(
            |(
                identity,
                resource,
                boundary,
                principal,
                action,
                resource_arn,
                username,
                source_ip,
            )| Scenario {
                identity,
                resource,
                boundary,
                principal,
                action,
                resource_arn,
                username,
                source_ip,
            },
        )
}

fn decide(s: &Scenario) -> Decision {
    let compile = |p: &Policy| CompiledPolicy::new("p", p.clone());
    let identity: Vec<CompiledPolicy> = s.identity.iter().map(compile).collect();
    let resource = s.resource.as_ref().map(compile);
    let boundary = s.boundary.as_ref().map(compile);
    let principal = Principal::from_arn(&s.principal).unwrap();
    let mut ctx = Context::new();
    if let Some(u) = &s.username {
        ctx.insert("aws:username", u.as_str());
    }
    ctx.insert("aws:SourceIp", s.source_ip.as_str());
    let set = PolicySet {
        identity: &identity,
        resource: resource.as_ref(),
        boundary: boundary.as_ref(),
        session: &[],
        resource_must_allow: false,
    };
    let req = Request {
        principal: &principal,
        action: &s.action,
        resource: &s.resource_arn,
        resource_account: None,
        context: &ctx,
    };
    let decision = authorize(&req, &set);
    assert_eq!(decision, policy::explain(&req, &set).decision);
    decision
}

fn deny_all() -> Statement {
    Statement {
        sid: None,
        effect: Effect::Deny,
        principal: None,
        action: Negatable {
            negated: false,
            value: Values::one("*"),
        },
        resource: Some(Negatable {
            negated: false,
            value: Values::one("*"),
        }),
        condition: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A Deny that applies to the request decides it, whatever else is there.
    #[test]
    fn explicit_deny_always_wins(s in scenario(), at in 0usize..3) {
        let mut s = s;
        match at {
            0 if !s.identity.is_empty() => s.identity[0].statements.push(deny_all()),
            1 if s.boundary.is_some() => s.boundary.as_mut().unwrap().statements.push(deny_all()),
            _ => {
                let mut doc = Policy { version: Some(Version::V2012_10_17), id: None, statements: vec![deny_all()], single_statement: false };
                doc.statements.push(deny_all());
                s.identity.push(doc);
            }
        }
        prop_assert!(matches!(decide(&s), Decision::ExplicitDeny(_)));
    }

    /// Once denied explicitly, adding policies never allows.
    #[test]
    fn explicit_deny_is_final(s in scenario(), extra in policy_doc(false)) {
        if matches!(decide(&s), Decision::ExplicitDeny(_)) {
            let mut more = s.clone();
            more.identity.push(extra);
            prop_assert!(matches!(decide(&more), Decision::ExplicitDeny(_)));
        }
    }

    /// Adding an Allow statement to any existing policy never turns an Allow
    /// into a denial.
    #[test]
    fn adding_an_allow_never_denies(s in scenario(), extra in statement(false), extra_res in statement(true), into in 0usize..3) {
        if decide(&s).is_allowed() {
            let mut more = s.clone();
            let mut extra = extra;
            extra.effect = Effect::Allow;
            let mut extra_res = extra_res;
            extra_res.effect = Effect::Allow;
            match into {
                0 => more.identity.push(Policy { version: Some(Version::V2012_10_17), id: None, statements: vec![extra], single_statement: true }),
                1 => if let Some(r) = more.resource.as_mut() { r.statements.push(extra_res) },
                _ => if let Some(b) = more.boundary.as_mut() { b.statements.push(extra) },
            }
            prop_assert!(decide(&more).is_allowed());
        }
    }

    /// print → parse gives back the policy, for identity and resource policies.
    #[test]
    fn print_then_parse_round_trips(doc in prop_oneof![policy_doc(false), policy_doc(true)]) {
        let text = doc.to_string();
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&back, &doc);
        prop_assert_eq!(back.to_string(), text);
    }
}
