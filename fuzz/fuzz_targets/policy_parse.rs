//! Any text: parsing never panics; what parses prints back to itself, lints,
//! validates for every use and evaluates without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{CompiledPolicy, Context, PolicySet, PolicyUse, Principal, Request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = policy::parse(text) else {
        return;
    };
    let printed = doc.to_string();
    let again = policy::parse(&printed).expect("printed policy parses");
    assert_eq!(again, doc, "print/parse round trip");
    let _ = policy::lint(&doc);
    for use_ in [PolicyUse::Managed, PolicyUse::Trust, PolicyUse::Resource, PolicyUse::Session] {
        let _ = policy::check_use(&doc, use_);
    }
    let compiled = [CompiledPolicy::new("fuzz", doc)];
    let principal = Principal::from_arn("arn:aws:sts::123456789012:assumed-role/r/s").expect("arn");
    let mut ctx = Context::new();
    ctx.insert("aws:username", "alice").insert("aws:SourceIp", "10.0.0.1");
    ctx.insert_multi("aws:TagKeys", ["a", "b"]);
    for (action, resource) in [("s3:GetObject", "arn:aws:s3:::b/k"), ("sts:AssumeRole", "*")] {
        let req = Request { principal: &principal, action, resource, resource_account: None, context: &ctx };
        let set = PolicySet { identity: &compiled, resource: compiled.first(), ..PolicySet::default() };
        assert_eq!(policy::authorize(&req, &set), policy::explain(&req, &set).decision);
    }
});
