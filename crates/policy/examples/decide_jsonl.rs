//! Decides requests read as JSON lines: the Rust side of the differential test
//! against `@cloud-copilot/iam-simulate` (`tests/differential/`).
//!
//! Run it from the repository root:
//!
//! ```text
//! cargo build -p policy --example decide_jsonl
//! node tests/differential/generate.mjs --seed 1 --count 10 | target/debug/examples/decide_jsonl
//! ```
//!
//! Each input line is one case:
//! `{"id", "identity": [doc], "resource": doc|null, "boundary": doc|null,
//! "session": doc|null, "principal", "action", "resource_arn",
//! "resource_account", "context": {key: string|[string]}}`. Policy documents
//! are JSON objects, parsed with [`policy::parse`]. The context is used as
//! given: nothing is derived from the principal, so both engines see the same
//! keys. `sts:AssumeRole*` requests need the resource policy (the role's trust
//! policy) to allow, as in `crates/policy/tests/conformance.rs`.
//!
//! Each output line is `{"id", "decision": "Allow"|"ExplicitDeny"|"ImplicitDeny"}`
//! or `{"id", "error": "..."}` when a policy or the principal cannot be read.

use std::io::{self, BufRead, Write};

use policy::{CompiledPolicy, Context, PolicySet, Principal, Request, authorize, parse};
use serde_json::{Value, json};

fn main() -> io::Result<()> {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(case) => {
                let id = case.get("id").cloned().unwrap_or(Value::Null);
                match decide(&case) {
                    Ok(decision) => json!({ "id": id, "decision": decision }),
                    Err(error) => json!({ "id": id, "error": error }),
                }
            }
            Err(e) => json!({ "id": null, "error": format!("bad input line: {e}") }),
        };
        writeln!(out, "{answer}")?;
    }
    out.flush()
}

/// The decision's name for one case, or why the case could not be read.
fn decide(case: &Value) -> Result<&'static str, String> {
    let field = |name: &str| -> Result<&str, String> {
        case.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("missing string field `{name}`"))
    };
    let identity = case
        .get("identity")
        .and_then(Value::as_array)
        .map(|docs| {
            docs.iter()
                .enumerate()
                .map(|(i, d)| compile(&format!("identity[{i}]"), d))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let resource = optional(case, "resource")?;
    let boundary = optional(case, "boundary")?;
    let session: Vec<CompiledPolicy> = optional(case, "session")?.into_iter().collect();
    let principal = Principal::from_arn(field("principal")?).map_err(|e| e.to_string())?;
    let context = context(case.get("context"))?;
    let action = field("action")?;
    let req = Request {
        principal: &principal,
        action,
        resource: field("resource_arn")?,
        resource_account: case.get("resource_account").and_then(Value::as_str),
        context: &context,
    };
    let set = PolicySet {
        identity: &identity,
        resource: resource.as_ref(),
        boundary: boundary.as_ref(),
        session: &session,
        resource_must_allow: action
            .get(..14)
            .is_some_and(|p| p.eq_ignore_ascii_case("sts:AssumeRole")),
    };
    Ok(authorize(&req, &set).name())
}

fn optional(case: &Value, name: &str) -> Result<Option<CompiledPolicy>, String> {
    match case.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(doc) => compile(name, doc).map(Some),
    }
}

fn compile(label: &str, doc: &Value) -> Result<CompiledPolicy, String> {
    let parsed = parse(&doc.to_string()).map_err(|e| format!("{label}: {e}"))?;
    Ok(CompiledPolicy::new(label, parsed))
}

fn context(value: Option<&Value>) -> Result<Context, String> {
    let mut ctx = Context::new();
    let Some(map) = value.and_then(Value::as_object) else {
        return Ok(ctx);
    };
    for (key, v) in map {
        match v {
            Value::String(s) => {
                ctx.insert(key.as_str(), s.as_str());
            }
            Value::Array(items) => {
                let values = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("context key `{key}` has a non-string value"))?;
                ctx.insert_multi(key.as_str(), values);
            }
            _ => return Err(format!("context key `{key}` must be a string or an array")),
        }
    }
    Ok(ctx)
}
