//! Step two: a parsed [`Policy`] compiled for evaluation, and the test of one
//! statement against one request.
//!
//! Compiling does every piece of work that does not depend on the request:
//! patterns are tokenised, condition values are read as numbers, dates, ranges.
//! Evaluating a request then allocates nothing.
//!
//! References:
//! - <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! - <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>

use std::sync::Arc;

use crate::arn::ArnPattern;
use crate::context::{Context, ContextValue};
use crate::model::{Effect, Negatable, Policy, PrincipalSet, Version};
use crate::operator::{BaseOperator, Family, Operator, SetOperator};
use crate::pattern::{Pattern, Syntax};
use crate::principal::{self, Naming, Principal};
use crate::scalar::{self, Instant, IpRange, Number};

/// One condition of a statement, checked against a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionCheck {
    /// The operator, e.g. `StringEquals`.
    pub operator: String,
    /// The condition key.
    pub key: String,
    /// The policy's values.
    pub expected: Vec<String>,
    /// The request's values; `None` when the key is absent.
    pub actual: Option<Vec<String>>,
    /// Whether the condition holds.
    pub holds: bool,
}

/// One request to authorize.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller.
    pub principal: &'a Principal,
    /// `service:Action`, e.g. `s3:GetObject`.
    pub action: &'a str,
    /// The resource ARN, or `*` for actions without a resource.
    pub resource: &'a str,
    /// The account that owns the resource, when the ARN does not say (S3).
    pub resource_account: Option<&'a str>,
    /// Condition keys and values.
    pub context: &'a Context,
}

/// A policy ready to evaluate. Cloning is cheap (shared).
#[derive(Debug, Clone)]
pub struct CompiledPolicy(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    id: String,
    policy: Policy,
    statements: Vec<CompiledStatement>,
}

#[derive(Debug)]
struct CompiledStatement {
    effect: Effect,
    actions: Negatable<Vec<Pattern>>,
    resources: Option<Negatable<Vec<ArnPattern>>>,
    conditions: Vec<CompiledCondition>,
}

#[derive(Debug)]
struct CompiledCondition {
    operator: Operator,
    key: String,
    values: Vec<Operand>,
}

/// A condition's policy value, read as its operator needs.
#[derive(Debug)]
enum Operand {
    Text {
        pattern: Pattern,
        fold_case: bool,
    },
    Arn(ArnPattern),
    Number(Number),
    Date(Instant),
    Bool(bool),
    /// Base64 without padding: equal bytes have equal canonical text.
    Binary(String),
    Ip(IpRange),
    /// `Null`: true means "the key must be absent".
    Null(bool),
    /// A value that cannot be read for its operator; never matches.
    Invalid,
}

impl CompiledPolicy {
    /// Compiles a parsed policy; `id` names it in decisions (an ARN, or
    /// `inline:NAME`).
    pub fn new(id: impl Into<String>, policy: Policy) -> CompiledPolicy {
        let variables = policy.version == Some(Version::V2012_10_17);
        let statements = policy
            .statements
            .iter()
            .map(|st| CompiledStatement {
                effect: st.effect,
                actions: Negatable {
                    negated: st.action.negated,
                    value: st
                        .action
                        .value
                        .items
                        .iter()
                        .map(|a| {
                            Pattern::compile(
                                a,
                                Syntax {
                                    wildcards: true,
                                    variables: false,
                                },
                            )
                        })
                        .collect(),
                },
                resources: st.resource.as_ref().map(|r| Negatable {
                    negated: r.negated,
                    value: r
                        .value
                        .items
                        .iter()
                        .map(|arn| ArnPattern::compile(arn, variables, true))
                        .collect(),
                }),
                conditions: st
                    .condition
                    .iter()
                    .flat_map(|block| {
                        block
                            .entries
                            .iter()
                            .map(move |(key, values)| CompiledCondition {
                                operator: block.operator,
                                key: key.clone(),
                                values: values
                                    .items
                                    .iter()
                                    .map(|v| operand(block.operator.base, v, variables))
                                    .collect(),
                            })
                    })
                    .collect(),
            })
            .collect();
        CompiledPolicy(Arc::new(Inner {
            id: id.into(),
            policy,
            statements,
        }))
    }

    /// The name given at compile time.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The parsed document.
    pub fn policy(&self) -> &Policy {
        &self.0.policy
    }

    /// The `Sid` of statement `index`, if it has one.
    pub fn sid(&self, index: usize) -> Option<&str> {
        self.0.policy.statements.get(index)?.sid.as_deref()
    }

    /// Number of statements.
    pub fn len(&self) -> usize {
        self.0.statements.len()
    }

    /// Whether the policy has no statements (never true for parsed policies).
    pub fn is_empty(&self) -> bool {
        self.0.statements.is_empty()
    }

    /// Whether statement `index` applies to `req`, and how it names the caller.
    /// `has_boundary`: the caller has a permissions boundary, which makes
    /// `NotPrincipal` exclude nobody.
    pub(crate) fn statement_applies(
        &self,
        index: usize,
        req: &Request<'_>,
        has_boundary: bool,
    ) -> Option<Naming> {
        let st = self.0.statements.get(index)?;
        let principal = self
            .0
            .policy
            .statements
            .get(index)
            .and_then(|s| s.principal.as_ref());
        applies(st, principal, req, has_boundary)
    }

    /// Whether statement `index` is about this request (principal, action,
    /// resource) regardless of its conditions.
    pub fn statement_targets(&self, index: usize, req: &Request<'_>, has_boundary: bool) -> bool {
        let (Some(st), principal) = (
            self.0.statements.get(index),
            self.0
                .policy
                .statements
                .get(index)
                .and_then(|s| s.principal.as_ref()),
        ) else {
            return false;
        };
        targets(st, principal, req, has_boundary).is_some()
    }

    /// The condition keys statement `index` tests.
    pub(crate) fn condition_keys(&self, index: usize) -> impl Iterator<Item = &str> {
        self.0
            .statements
            .get(index)
            .into_iter()
            .flat_map(|st| st.conditions.iter().map(|c| c.key.as_str()))
    }

    /// Each condition of statement `index`, with the request's values and
    /// whether it holds, for explaining a decision.
    pub fn condition_checks(&self, index: usize, ctx: &Context) -> Vec<ConditionCheck> {
        let (Some(st), Some(model)) = (
            self.0.statements.get(index),
            self.0.policy.statements.get(index),
        ) else {
            return Vec::new();
        };
        let texts = model
            .condition
            .iter()
            .flat_map(|b| b.entries.iter().map(|(_, v)| v.items.clone()));
        st.conditions
            .iter()
            .zip(texts)
            .map(|(c, expected)| ConditionCheck {
                operator: c.operator.to_string(),
                key: c.key.clone(),
                expected,
                actual: ctx.get(&c.key).map(|v| v.as_slice().to_vec()),
                holds: condition_holds(c, ctx),
            })
            .collect()
    }

    /// The effect of statement `index`.
    pub(crate) fn effect(&self, index: usize) -> Option<Effect> {
        self.0.statements.get(index).map(|s| s.effect)
    }
}

fn operand(base: BaseOperator, value: &str, variables: bool) -> Operand {
    let text = |wildcards: bool, fold_case: bool| Operand::Text {
        pattern: Pattern::compile(
            value,
            Syntax {
                wildcards,
                variables,
            },
        ),
        fold_case,
    };
    use BaseOperator::*;
    match base {
        StringEquals | StringNotEquals => text(false, false),
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => text(false, true),
        StringLike | StringNotLike => text(true, false),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => {
            Operand::Arn(ArnPattern::compile(value, variables, false))
        }
        Bool => scalar::parse_bool(value).map_or(Operand::Invalid, Operand::Bool),
        Null => scalar::parse_bool(value).map_or(Operand::Invalid, Operand::Null),
        BinaryEquals if scalar::is_base64(value) => {
            Operand::Binary(value.trim_end_matches('=').to_string())
        }
        IpAddress | NotIpAddress => IpRange::parse(value).map_or(Operand::Invalid, Operand::Ip),
        _ => match base.family() {
            Family::Numeric => Number::parse(value).map_or(Operand::Invalid, Operand::Number),
            Family::Date => Instant::parse(value).map_or(Operand::Invalid, Operand::Date),
            _ => Operand::Invalid,
        },
    }
}

/// Whether a compiled statement applies to the request; for statements with a
/// `Principal`, how strongly it names the caller.
///
/// "The NotPrincipal element with a Deny effect will always deny any IAM
/// principal that has a permissions boundary policy attached, regardless of the
/// values specified in the NotPrincipal element"
/// (reference_policies_elements_notprincipal.html): with a boundary, nobody is
/// excluded.
fn applies(
    st: &CompiledStatement,
    principal: Option<&Negatable<PrincipalSet>>,
    req: &Request<'_>,
    has_boundary: bool,
) -> Option<Naming> {
    let naming = targets(st, principal, req, has_boundary)?;
    st.conditions
        .iter()
        .all(|c| condition_holds(c, req.context))
        .then_some(naming)
}

/// The principal, action and resource tests of a statement.
fn targets(
    st: &CompiledStatement,
    principal: Option<&Negatable<PrincipalSet>>,
    req: &Request<'_>,
    has_boundary: bool,
) -> Option<Naming> {
    let naming = match principal {
        None => Naming::Direct,
        Some(p) if p.negated => {
            if !has_boundary && principal::excluded_by(&p.value, req.principal) {
                return None;
            }
            Naming::Direct
        }
        Some(p) => principal::naming(&p.value, req.principal)?,
    };
    let action_hit = st
        .actions
        .value
        .iter()
        .any(|p| p.matches(req.action, true, req.context));
    if action_hit == st.actions.negated {
        return None;
    }
    if let Some(resources) = &st.resources {
        let hit = resources
            .value
            .iter()
            .any(|p| p.matches(req.resource, req.context));
        if hit == resources.negated {
            return None;
        }
    }
    Some(naming)
}

/// One operator on one key. Missing keys: `…IfExists` holds; `ForAllValues`
/// holds; `ForAnyValue` fails; otherwise negated operators hold and the rest fail
/// ("If the key that you specify in a policy condition is not present in the
/// request context, the values do not match … If the policy condition requires
/// that the key is not matched, such as StringNotLike or ArnNotLike, and the
/// right key is not present, the condition can return true").
fn condition_holds(c: &CompiledCondition, ctx: &Context) -> bool {
    let op = c.operator;
    let value = ctx.get(&c.key);
    if op.base == BaseOperator::Null {
        let absent = match value {
            None => true,
            Some(ContextValue::Multi(v)) => v.is_empty(),
            Some(ContextValue::Single(_)) => false,
        };
        return c
            .values
            .iter()
            .any(|v| matches!(v, Operand::Null(want_absent) if *want_absent == absent));
    }
    let Some(value) = value else {
        if op.if_exists {
            return true;
        }
        return match op.set {
            Some(SetOperator::ForAllValues) => true,
            Some(SetOperator::ForAnyValue) => false,
            None => op.base.is_negated(),
        };
    };
    let requests = value.as_slice();
    let negated = op.base.is_negated();
    // A request value "hits" when the operator (in its positive sense) matches
    // some policy value.
    let hits = |r: &String| c.values.iter().any(|v| matches_value(op.base, v, r, ctx));
    match (op.set, negated) {
        (Some(SetOperator::ForAllValues), false) => requests.iter().all(hits),
        (Some(SetOperator::ForAllValues), true) => !requests.iter().any(hits),
        (Some(SetOperator::ForAnyValue), false) => requests.iter().any(hits),
        (Some(SetOperator::ForAnyValue), true) => requests.iter().any(|r| !hits(r)),
        (None, false) => requests.iter().any(hits),
        (None, true) => !requests.iter().any(hits),
    }
}

/// The positive comparison of one request value with one policy value.
fn matches_value(base: BaseOperator, operand: &Operand, request: &str, ctx: &Context) -> bool {
    use BaseOperator::*;
    match operand {
        Operand::Text { pattern, fold_case } => pattern.matches(request, *fold_case, ctx),
        Operand::Arn(pattern) => pattern.matches(request, ctx),
        Operand::Bool(b) => scalar::parse_bool(request) == Some(*b),
        Operand::Binary(canonical) => {
            request.trim_end_matches('=') == canonical.as_str() && scalar::is_base64(request)
        }
        Operand::Ip(range) => scalar::parse_ip(request).is_some_and(|ip| range.contains(ip)),
        Operand::Number(n) => Number::parse(request).is_some_and(|r| {
            let ord = r.compare(*n);
            match base {
                NumericEquals | NumericNotEquals => ord == Some(std::cmp::Ordering::Equal),
                NumericLessThan => ord == Some(std::cmp::Ordering::Less),
                NumericLessThanEquals => matches!(ord, Some(o) if o.is_le()),
                NumericGreaterThan => ord == Some(std::cmp::Ordering::Greater),
                NumericGreaterThanEquals => matches!(ord, Some(o) if o.is_ge()),
                _ => false,
            }
        }),
        Operand::Date(d) => Instant::parse(request).is_some_and(|r| match base {
            DateEquals | DateNotEquals => r == *d,
            DateLessThan => r < *d,
            DateLessThanEquals => r <= *d,
            DateGreaterThan => r > *d,
            DateGreaterThanEquals => r >= *d,
            _ => false,
        }),
        Operand::Null(_) | Operand::Invalid => false,
    }
}
