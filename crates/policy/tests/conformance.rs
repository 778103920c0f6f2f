//! The conformance suite: every file under `tests/vectors/eval/` is a group of
//! cases built from AWS's policy documentation (format in that folder's README).
//! One line per file below; a test checks that no file is left out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use policy::{
    CompiledPolicy, Context, Decision, PolicySet, PolicyUse, Principal, Request, check_use,
    explain, parse,
};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/eval");

macro_rules! vectors {
    ($($name:ident => $file:literal,)*) => {
        $(#[test] fn $name() { run_file($file); })*
        const FILES: &[&str] = &[$($file),*];
    };
}

vectors! {
    cond_arn => "cond-arn.json",
    cond_binary => "cond-binary.json",
    cond_bool => "cond-bool.json",
    cond_date => "cond-date.json",
    cond_ifexists => "cond-ifexists.json",
    cond_ip => "cond-ip.json",
    cond_multiple_keys_values => "cond-multiple-keys-values.json",
    cond_negated_missing_key => "cond-negated-missing-key.json",
    cond_null => "cond-null.json",
    cond_numeric => "cond-numeric.json",
    cond_set_operators => "cond-set-operators.json",
    cond_string => "cond-string.json",
    cond_variables => "cond-variables.json",
    elem_action => "elem-action.json",
    elem_principal => "elem-principal.json",
    elem_resource => "elem-resource.json",
    logic_boundary => "logic-boundary.json",
    logic_cross_account => "logic-cross-account.json",
    logic_deny_wins => "logic-deny-wins.json",
    logic_examples => "logic-examples.json",
    logic_same_account => "logic-same-account.json",
    logic_session => "logic-session.json",
    logic_trust => "logic-trust.json",
    regress_differential => "regress-differential.json",
}

#[test]
fn every_vector_file_is_run_and_there_are_at_least_300_cases() {
    let mut on_disk: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "add new vector files to the list in conformance.rs"
    );
    let total: usize = FILES.iter().map(|f| cases_in(&load(f))).sum();
    assert!(total >= 300, "only {total} cases");
}

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(Path::new(DIR).join(file)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn cases_in(doc: &Value) -> usize {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["cases"].as_array().unwrap().len())
        .sum()
}

fn compile(file: &str, group: &str, label: &str, doc: &Value, use_: PolicyUse) -> CompiledPolicy {
    let text = doc.to_string();
    let parsed = parse(&text)
        .unwrap_or_else(|e| panic!("{file} / {group}: {label} policy does not parse: {e}\n{text}"));
    check_use(&parsed, use_)
        .unwrap_or_else(|e| panic!("{file} / {group}: {label} policy is not valid: {e}"));
    CompiledPolicy::new(label, parsed)
}

fn principal(case: &Value) -> Principal {
    let mut p = match &case["principal"] {
        Value::Null => Principal::from_arn("arn:aws:iam::123456789012:user/alice").unwrap(),
        Value::String(s) if s == "*" => Principal::Anonymous,
        Value::String(s) => Principal::from_arn(s).unwrap(),
        Value::Object(o) => {
            if let Some(f) = o.get("federated") {
                Principal::WebIdentity {
                    provider: f.as_str().unwrap().to_string(),
                }
            } else {
                Principal::Service {
                    name: o["service"].as_str().unwrap().to_string(),
                }
            }
        }
        other => panic!("bad principal {other}"),
    };
    if let (Principal::AssumedRole { role_arn, .. }, Some(r)) = (&mut p, case["role_arn"].as_str())
    {
        *role_arn = r.to_string();
    }
    p
}

fn context(case: &Value, principal: &Principal) -> Context {
    let mut ctx = Context::new();
    if let Some(map) = case["context"].as_object() {
        for (k, v) in map {
            match v {
                Value::String(s) => {
                    ctx.insert(k.as_str(), s.as_str());
                }
                Value::Array(items) => {
                    ctx.insert_multi(k.as_str(), items.iter().map(|i| i.as_str().unwrap()));
                }
                other => panic!("context value {other} of {k} must be a string or array"),
            }
        }
    }
    for (k, v) in principal.condition_keys() {
        ctx.insert_default(k, &v);
    }
    ctx
}

fn run_file(file: &str) {
    let doc = load(file);
    let mut failures = Vec::new();
    let mut count = 0;
    for group in doc["groups"].as_array().unwrap() {
        let gname = group["name"].as_str().unwrap_or("?");
        let pol = &group["policies"];
        let list = |key: &str, use_: PolicyUse| -> Vec<CompiledPolicy> {
            pol[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .map(|(i, d)| compile(file, gname, &format!("{key}[{i}]"), d, use_))
                        .collect()
                })
                .unwrap_or_default()
        };
        let one = |key: &str, use_: PolicyUse| -> Option<CompiledPolicy> {
            pol.get(key)
                .filter(|v| !v.is_null())
                .map(|d| compile(file, gname, key, d, use_))
        };
        let identity = list("identity", PolicyUse::InlineRole);
        let session = list("session", PolicyUse::Session);
        let resource = one("resource", PolicyUse::Resource);
        let boundary = one("boundary", PolicyUse::InlineRole);
        for case in group["cases"].as_array().unwrap() {
            count += 1;
            let name = case["name"].as_str().unwrap_or("?");
            let action = case["action"].as_str().unwrap();
            let set = PolicySet {
                identity: &identity,
                resource: resource.as_ref(),
                boundary: boundary.as_ref(),
                session: &session,
                resource_must_allow: group["resource_must_allow"]
                    .as_bool()
                    .unwrap_or(action.starts_with("sts:AssumeRole")),
            };
            let who = principal(case);
            let ctx = context(case, &who);
            let req = Request {
                principal: &who,
                action,
                resource: case["resource"].as_str().unwrap_or("*"),
                resource_account: case["resource_account"].as_str(),
                context: &ctx,
            };
            let got = explain(&req, &set);
            let expect = case["expect"].as_str().unwrap();
            if got.decision.name() != expect {
                failures.push(format!(
                    "{gname} / {name}: expected {expect}, got {:?}",
                    got.decision
                ));
                continue;
            }
            // The allocation-free path must agree with the explaining one.
            assert_eq!(
                policy::authorize(&req, &set).name(),
                expect,
                "{gname} / {name}: authorize and explain disagree"
            );
            if let Some(want) = case["matched"].as_array() {
                let mut want: Vec<&str> = want.iter().map(|v| v.as_str().unwrap()).collect();
                let mut sids: Vec<&str> = got
                    .matched
                    .iter()
                    .filter_map(|at| set.policy(*at).and_then(|p| p.sid(at.statement)))
                    .collect();
                want.sort_unstable();
                sids.sort_unstable();
                sids.dedup();
                if want != sids && !matches!(got.decision, Decision::ImplicitDeny(_)) {
                    failures.push(format!(
                        "{gname} / {name}: matched statements {sids:?}, expected {want:?}"
                    ));
                }
            }
        }
    }
    assert!(count > 0, "{file} has no cases");
    assert!(
        failures.is_empty(),
        "{file}: {} of {count} cases failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
