//! Step one: policy text → [`Policy`] model, with IAM's grammar checks.
//!
//! What IAM rejects for every kind of policy is rejected here, with IAM's message
//! (`Syntax errors in policy.`, `Policy statement must contain actions.`, …) and
//! the statement, field and offset where it happened. Rules that depend on the
//! policy's use (a Principal in an identity policy, size limits) are in
//! [`crate::validate`].
//!
//! Messages follow what IAM answers; sources: the IAM API's observed errors and
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>.

use crate::arn;
use crate::error::PolicyError;
use crate::json::{self, Json, Kind, Member};
use crate::model::{
    ConditionBlock, Effect, Negatable, Policy, PrincipalSet, PrincipalType, Statement, Values,
    Version,
};
use crate::operator::{Family, Operator};
use crate::principal::is_account_id;
use crate::scalar;

pub(crate) const SYNTAX: &str = "Syntax errors in policy.";
pub(crate) const LEGACY: &str = "The policy failed legacy parsing";

/// Partitions IAM knows.
const PARTITIONS: [&str; 8] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// Parses and checks a policy document.
pub fn parse(text: &str) -> Result<Policy, PolicyError> {
    let doc = json::parse(text).map_err(|e| {
        PolicyError::malformed(SYNTAX)
            .field(format!("JSON: {}", e.message))
            .at(e.offset)
    })?;
    policy(&doc)
}

fn syntax(at: usize, field: &str) -> PolicyError {
    PolicyError::malformed(SYNTAX).field(field).at(at)
}

fn policy(doc: &Json) -> Result<Policy, PolicyError> {
    let Kind::Object(members) = &doc.kind else {
        return Err(syntax(doc.offset, "the document must be a JSON object"));
    };
    let mut version = None;
    let mut id = None;
    let mut statement = None;
    for m in members {
        match m.key.as_str() {
            "Version" => version = Some(&m.value),
            "Id" => id = Some(&m.value),
            "Statement" => statement = Some(&m.value),
            other => {
                return Err(syntax(m.key_offset, &format!("unknown field `{other}`")));
            }
        }
    }
    let version = match version {
        None => None,
        Some(v) => Some(match &v.kind {
            Kind::String(s) if s == "2012-10-17" => Version::V2012_10_17,
            Kind::String(s) if s == "2008-10-17" => Version::V2008_10_17,
            _ => return Err(syntax(v.offset, "Version")),
        }),
    };
    let id = match id {
        None => None,
        Some(Json {
            kind: Kind::String(s),
            ..
        }) => Some(s.clone()),
        Some(v) => return Err(syntax(v.offset, "Id")),
    };
    let Some(statement) = statement else {
        return Err(syntax(doc.offset, "Statement"));
    };
    let (items, single_statement): (Vec<&Json>, bool) = match &statement.kind {
        Kind::Object(_) => (vec![statement], true),
        Kind::Array(items) if !items.is_empty() => (items.iter().collect(), false),
        _ => return Err(syntax(statement.offset, "Statement")),
    };
    let variables = version == Some(Version::V2012_10_17);
    let mut statements = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let st =
            parse_statement(item, variables).map_err(|e| e.in_statement(index, sid_of(item)))?;
        statements.push(st);
    }
    let policy = Policy {
        version,
        id,
        statements,
        single_statement,
    };
    check_statements(&policy, statement)?;
    Ok(policy)
}

/// Fields of one statement before they are checked against each other.
#[derive(Default)]
struct Fields<'a> {
    sid: Option<&'a Json>,
    effect: Option<&'a Json>,
    principal: Option<(bool, &'a Member)>,
    action: Option<(bool, &'a Member)>,
    resource: Option<(bool, &'a Member)>,
    condition: Option<&'a Json>,
}

fn parse_statement(item: &Json, variables: bool) -> Result<Statement, PolicyError> {
    let Kind::Object(members) = &item.kind else {
        return Err(syntax(item.offset, "a statement must be a JSON object"));
    };
    let mut f = Fields::default();
    for m in members {
        match m.key.as_str() {
            "Sid" => f.sid = Some(&m.value),
            "Effect" => f.effect = Some(&m.value),
            "Principal" => pair(&mut f.principal, false, m)?,
            "NotPrincipal" => pair(&mut f.principal, true, m)?,
            "Action" => pair(&mut f.action, false, m)?,
            "NotAction" => pair(&mut f.action, true, m)?,
            "Resource" => pair(&mut f.resource, false, m)?,
            "NotResource" => pair(&mut f.resource, true, m)?,
            "Condition" => f.condition = Some(&m.value),
            other => return Err(syntax(m.key_offset, &format!("unknown field `{other}`"))),
        }
    }
    let sid = match f.sid {
        None => None,
        Some(Json {
            kind: Kind::String(s),
            ..
        }) => Some(s.clone()),
        Some(v) => return Err(syntax(v.offset, "Sid")),
    };
    let effect = match f.effect {
        None => return Err(syntax(item.offset, "Effect (missing)")),
        Some(Json {
            kind: Kind::String(s),
            offset,
            ..
        }) => match s.as_str() {
            "Allow" => Effect::Allow,
            "Deny" => Effect::Deny,
            s if s.eq_ignore_ascii_case("allow") || s.eq_ignore_ascii_case("deny") => {
                return Err(PolicyError::malformed(LEGACY).field("Effect").at(*offset));
            }
            _ => return Err(syntax(*offset, "Effect")),
        },
        Some(v) => return Err(syntax(v.offset, "Effect")),
    };
    let principal = match f.principal {
        None => None,
        Some((negated, m)) => Some(Negatable {
            negated,
            value: principal_set(m)?,
        }),
    };
    let action = match f.action {
        None => {
            return Err(
                PolicyError::malformed("Policy statement must contain actions.")
                    .field("Action")
                    .at(item.offset),
            );
        }
        Some((negated, m)) => {
            let values = string_values(m)?;
            if values.items.is_empty() {
                return Err(
                    PolicyError::malformed("Policy statement must contain actions.")
                        .field(m.key.as_str())
                        .at(m.value.offset),
                );
            }
            for a in &values.items {
                check_action(a).map_err(|e| e.field(m.key.as_str()).at(m.value.offset))?;
            }
            Negatable {
                negated,
                value: values,
            }
        }
    };
    let resource = match f.resource {
        None => None,
        Some((negated, m)) => {
            let values = string_values(m)?;
            for r in &values.items {
                check_resource(r, variables)
                    .map_err(|e| e.field(m.key.as_str()).at(m.value.offset))?;
            }
            Some(Negatable {
                negated,
                value: values,
            })
        }
    };
    let condition = match f.condition {
        None => Vec::new(),
        Some(c) => condition_blocks(c)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        condition,
    })
}

/// The statement's `Sid`, read before the statement is, to label its errors.
fn sid_of(item: &Json) -> Option<&str> {
    match &item.kind {
        Kind::Object(members) => members.iter().find_map(|m| match (&*m.key, &m.value.kind) {
            ("Sid", Kind::String(s)) => Some(s.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

/// Fills an element slot; `Action` with `NotAction` (and the like) cannot be combined.
fn pair<'a>(
    slot: &mut Option<(bool, &'a Member)>,
    negated: bool,
    m: &'a Member,
) -> Result<(), PolicyError> {
    if slot.is_some() {
        return Err(syntax(m.key_offset, &m.key));
    }
    *slot = Some((negated, m));
    Ok(())
}

/// A string or an array of strings.
fn string_values(m: &Member) -> Result<Values, PolicyError> {
    match &m.value.kind {
        Kind::String(s) => Ok(Values::one(s.clone())),
        Kind::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match &item.kind {
                    Kind::String(s) => out.push(s.clone()),
                    other => {
                        return Err(syntax(
                            item.offset,
                            &format!("{} (a {} where a string belongs)", m.key, other.type_name()),
                        ));
                    }
                }
            }
            Ok(Values {
                items: out,
                single: false,
            })
        }
        other => Err(syntax(
            m.value.offset,
            &format!(
                "{} (a {} where a string or array belongs)",
                m.key,
                other.type_name()
            ),
        )),
    }
}

fn check_action(action: &str) -> Result<(), PolicyError> {
    if action == "*" {
        return Ok(());
    }
    let Some((vendor, _)) = action.split_once(':') else {
        return Err(PolicyError::malformed(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ));
    };
    if action.matches(':').count() > 1 {
        return Err(PolicyError::malformed(
            "Actions/Condition can contain only one colon.",
        ));
    }
    let valid_vendor = !vendor.is_empty()
        && vendor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid_vendor {
        return Err(PolicyError::malformed(format!(
            "Vendor {vendor} is not valid"
        )));
    }
    Ok(())
}

fn check_resource(resource: &str, variables: bool) -> Result<(), PolicyError> {
    if resource == "*" {
        return Ok(());
    }
    let parts = arn::split(resource);
    if parts.len() < 2 || parts.first() != Some(&"arn") {
        return Err(PolicyError::malformed(format!(
            "Resource {resource} must be in ARN format or \"*\"."
        )));
    }
    let partition = parts.get(1).copied().unwrap_or_default();
    let service = parts.get(2).copied().unwrap_or_default();
    if service.is_empty() || service.contains(['*', '?']) || service.contains("${") {
        return Err(PolicyError::malformed(
            "Resource vendor must be fully qualified and cannot contain regexes.",
        ));
    }
    if !PARTITIONS.contains(&partition) && partition != "*" {
        return Err(PolicyError::malformed(format!(
            "Partition \"{partition}\" is not valid for resource \"{resource}\"."
        )));
    }
    // A short ARN is read only when a segment ends with `*`, which may stand for
    // several segments ("If the * wildcard is the last character of a resource
    // ARN segment, it can expand to match beyond the colon boundaries").
    let expands = parts.iter().skip(3).any(|p| p.ends_with('*'));
    if parts.len() < arn::SEGMENTS && !expands {
        return Err(PolicyError::malformed(LEGACY));
    }
    if variables
        && parts
            .iter()
            .take(arn::SEGMENTS - 1)
            .any(|p| p.contains("${"))
    {
        return Err(PolicyError::malformed(format!(
            "Resource {resource} uses a policy variable before the resource part; \
             variables may appear only after the fifth colon"
        )));
    }
    Ok(())
}

fn principal_set(m: &Member) -> Result<PrincipalSet, PolicyError> {
    match &m.value.kind {
        Kind::String(s) if s == "*" => Ok(PrincipalSet::Any),
        Kind::Object(entries) => {
            let mut map = Vec::with_capacity(entries.len());
            for e in entries {
                let Some(kind) = PrincipalType::from_key(&e.key) else {
                    return Err(syntax(
                        e.key_offset,
                        &format!("{} (unknown principal type `{}`)", m.key, e.key),
                    ));
                };
                let values = string_values(e).map_err(|err| err.field(m.key.as_str()))?;
                for v in &values.items {
                    check_principal(kind, v).map_err(|err| err.at(e.value.offset))?;
                }
                map.push((kind, values));
            }
            Ok(PrincipalSet::Map(map))
        }
        _ => Err(syntax(m.value.offset, &m.key)),
    }
}

/// IAM accepts `*`, account ids, account/user/role/session ARNs for `AWS`; no
/// partial wildcards ("You cannot use a wildcard to match part of a principal
/// name or ARN", reference_policies_elements_principal.html).
fn check_principal(kind: PrincipalType, value: &str) -> Result<(), PolicyError> {
    let invalid = || {
        PolicyError::malformed(format!(
            "Invalid principal in policy: \"{}\":\"{}\"",
            kind.as_str(),
            value
        ))
    };
    let has_wildcard = value.contains(['*', '?']);
    match kind {
        PrincipalType::Aws => {
            if value == "*" || is_account_id(value) {
                return Ok(());
            }
            let parts: Vec<&str> = value.splitn(6, ':').collect();
            let ok = match parts.as_slice() {
                ["arn", partition, service, "", account, resource] => {
                    PARTITIONS.contains(partition)
                        && is_account_id(account)
                        && !has_wildcard
                        && match *service {
                            "iam" => {
                                *resource == "root"
                                    || ["user/", "role/"].iter().any(|p| {
                                        resource.len() > p.len() && resource.starts_with(p)
                                    })
                            }
                            "sts" => ["assumed-role/", "federated-user/"]
                                .iter()
                                .any(|p| resource.len() > p.len() && resource.starts_with(p)),
                            _ => false,
                        }
                }
                _ => false,
            };
            if ok { Ok(()) } else { Err(invalid()) }
        }
        PrincipalType::Federated => {
            let provider_arn = value.starts_with("arn:")
                && (value.contains(":oidc-provider/") || value.contains(":saml-provider/"));
            let domain = !value.starts_with("arn:")
                && value.contains('.')
                && !value.contains(char::is_whitespace);
            if !has_wildcard && (provider_arn || domain) {
                Ok(())
            } else {
                Err(invalid())
            }
        }
        PrincipalType::Service => {
            if !has_wildcard && !value.is_empty() && !value.contains(char::is_whitespace) {
                Ok(())
            } else {
                Err(invalid())
            }
        }
        PrincipalType::CanonicalUser => {
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(())
            } else {
                Err(invalid())
            }
        }
    }
}

fn condition_blocks(c: &Json) -> Result<Vec<ConditionBlock>, PolicyError> {
    let Kind::Object(ops) = &c.kind else {
        return Err(syntax(c.offset, "Condition"));
    };
    let mut blocks = Vec::with_capacity(ops.len());
    for op in ops {
        let field = format!("Condition.{}", op.key);
        let Kind::Object(keys) = &op.value.kind else {
            return Err(syntax(op.value.offset, &field));
        };
        let Some(operator) = Operator::parse(&op.key) else {
            // IAM accepts an unknown operator only with an empty block, which
            // then has no effect; we keep nothing of it.
            if keys.is_empty() {
                continue;
            }
            return Err(syntax(
                op.key_offset,
                &format!("{field} (unknown condition operator)"),
            ));
        };
        let mut entries = Vec::with_capacity(keys.len());
        for k in keys {
            let field = format!("{field}.{}", k.key);
            if !k.key.contains(':') {
                return Err(PolicyError::malformed(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                )
                .field(field)
                .at(k.key_offset));
            }
            let values = condition_values(&k.value).map_err(|e| e.field(field.as_str()))?;
            for v in &values.items {
                check_condition_value(operator, v)
                    .map_err(|e| e.field(field.as_str()).at(k.value.offset))?;
            }
            entries.push((k.key.clone(), values));
        }
        blocks.push(ConditionBlock { operator, entries });
    }
    Ok(blocks)
}

/// Condition values: strings, numbers or booleans, one or an array.
fn condition_values(v: &Json) -> Result<Values, PolicyError> {
    let scalar = |v: &Json| match &v.kind {
        Kind::String(s) | Kind::Number(s) => Ok(s.clone()),
        Kind::Bool(b) => Ok(b.to_string()),
        other => Err(syntax(
            v.offset,
            &format!("a {} where a condition value belongs", other.type_name()),
        )),
    };
    match &v.kind {
        Kind::Array(items) => Ok(Values {
            items: items.iter().map(scalar).collect::<Result<_, _>>()?,
            single: false,
        }),
        _ => Ok(Values::one(scalar(v)?)),
    }
}

/// Values that cannot mean anything to their operator are rejected up front,
/// as IAM rejects a bad date with "The policy failed legacy parsing".
fn check_condition_value(op: Operator, value: &str) -> Result<(), PolicyError> {
    let bad = |what: &str| {
        PolicyError::malformed(format!(
            "{LEGACY}: `{value}` is not {what} for operator `{op}`"
        ))
    };
    match op.base.family() {
        Family::String | Family::Arn => Ok(()),
        Family::Numeric => scalar::Number::parse(value)
            .map(|_| ())
            .ok_or_else(|| bad("a number")),
        Family::Date => scalar::Instant::parse(value)
            .map(|_| ())
            .ok_or_else(|| bad("a date")),
        Family::Bool | Family::Null => scalar::parse_bool(value)
            .map(|_| ())
            .ok_or_else(|| bad("`true` or `false`")),
        Family::Ip => scalar::IpRange::parse(value)
            .map(|_| ())
            .ok_or_else(|| bad("an IP address or CIDR range")),
        Family::Binary if scalar::is_base64(value) => Ok(()),
        Family::Binary => Err(bad("base64")),
    }
}

/// Checks across statements: unique Sids of IAM's alphabet.
fn check_statements(policy: &Policy, statement: &Json) -> Result<(), PolicyError> {
    let offsets: Vec<usize> = match &statement.kind {
        Kind::Array(items) => items.iter().map(|i| i.offset).collect(),
        _ => vec![statement.offset],
    };
    for (i, st) in policy.statements.iter().enumerate() {
        let at = offsets.get(i).copied().unwrap_or(0);
        let Some(sid) = &st.sid else { continue };
        let earlier = policy.statements.get(..i).unwrap_or_default();
        if !sid.is_empty() && earlier.iter().any(|e| e.sid.as_deref() == Some(sid)) {
            return Err(PolicyError::malformed(
                "Statement IDs (SID) in a single policy must be unique.",
            )
            .in_statement(i, Some(sid))
            .field("Sid")
            .at(at));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_tutorial_trust_policy() {
        let p = parse(include_str!("../../../examples/trust-policy.json"));
        let p = p.unwrap();
        assert_eq!(p.version, Some(Version::V2012_10_17));
        assert_eq!(p.statements.len(), 1);
        assert_eq!(p.statements[0].condition[0].entries.len(), 2);
    }

    #[test]
    fn single_values_and_arrays_everywhere() {
        let p = parse(
            r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/*"],
                "Condition":{"NumericLessThan":{"s3:max-keys":10},"Bool":{"aws:SecureTransport":true}}}}"#,
        )
        .unwrap();
        assert!(p.single_statement);
        assert_eq!(p.version, None);
        let st = &p.statements[0];
        assert!(st.action.value.single);
        assert!(!st.resource.as_ref().unwrap().value.single);
        assert_eq!(st.condition[0].entries[0].1.items, ["10"]);
        assert_eq!(st.condition[1].entries[0].1.items, ["true"]);
    }

    #[test]
    fn grammar_errors_use_iams_messages() {
        let cases = [
            ("not json", SYNTAX),
            ("[]", SYNTAX),
            (r#"{"Statement":[]}"#, SYNTAX),
            (r#"{"Version":"2012-10-17"}"#, SYNTAX),
            (
                r#"{"Version":"2013-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Extra":1,"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Foo":1}}"#,
                SYNTAX,
            ),
            (r#"{"Statement":{"Action":"*","Resource":"*"}}"#, SYNTAX),
            (
                r#"{"Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"allow","Action":"*","Resource":"*"}}"#,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:*","Resource":"*"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
                "Policy statement must contain actions.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
                "Policy statement must contain actions.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"getobject","Resource":"*"}}"#,
                "Actions/Conditions must be prefaced by a vendor",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:a:b","Resource":"*"}}"#,
                "Actions/Condition can contain only one colon.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"a a:b","Resource":"*"}}"#,
                "Vendor a a is not valid",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":["s3:x",1],"Resource":"*"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"bucket"}}"#,
                "Resource bucket must be in ARN format or \"*\".",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:aws"}}"#,
                "Resource vendor must be fully qualified",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:aws:s*:::b"}}"#,
                "Resource vendor must be fully qualified",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:foo:s3:::b"}}"#,
                "Partition \"foo\" is not valid for resource \"arn:foo:s3:::b\".",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:aws:s3::b"}}"#,
                LEGACY,
            ),
            // Too few segments, and no segment-ending `*` that could stand for more.
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:aws:dynamodb:us-*2:table/t"}}"#,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:aws:dynamodb:us-east-2?123456789012:table/t"}}"#,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"StringEquals":{"a:b":{"c":1}}}}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"StringEquals":{"nokey":"c"}}}}"#,
                "Actions/Conditions must be prefaced by a vendor",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"soon"}}}}"#,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}}}"#,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"NumericEquals":{"s3:max-keys":"ten"}}}}"#,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}}"#,
                LEGACY,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"NullIfExists":{"a:b":"true"}}}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:x","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:x","Resource":"*"}]}"#,
                "Statement IDs (SID) in a single policy must be unique.",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/*"},"Action":"sts:AssumeRole"}}"#,
                "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:role/*\"",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"Robot":"x"},"Action":"sts:AssumeRole"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"someone","Action":"sts:AssumeRole"}}"#,
                SYNTAX,
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}}"#,
                SYNTAX,
            ),
        ];
        for (text, expected) in cases {
            let message = err(text);
            assert!(
                message.starts_with(expected),
                "{text}\n  gave: {message}\n  want: {expected}"
            );
        }
    }

    #[test]
    fn errors_name_the_statement_field_and_offset() {
        let text = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Ok","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
            {"Sid":"Bad","Effect":"Allow","Action":"s3:GetObject","Resource":"bucket"}]}"#;
        let e = parse(text).unwrap_err();
        assert_eq!(e.statement(), Some(2));
        assert_eq!(e.field_name(), Some("Resource"));
        let (line, _) = json::line_column(text, e.offset().unwrap());
        assert_eq!(line, 3);
    }

    #[test]
    fn unknown_operator_with_empty_block_is_accepted_and_dropped() {
        let p = parse(r#"{"Statement":{"Effect":"Allow","Action":"s3:x","Resource":"*","Condition":{"Whatever":{}}}}"#)
            .unwrap();
        assert!(p.statements[0].condition.is_empty());
    }

    #[test]
    fn variables_only_after_the_fifth_colon() {
        assert!(parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:aws:s3:::b/${aws:username}/*"}}"#).is_ok());
        assert!(parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:x","Resource":"arn:aws:iam::${aws:PrincipalAccount}:user/x"}}"#).is_err());
    }
}
