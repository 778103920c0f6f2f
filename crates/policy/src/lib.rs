//! The AWS IAM policy language: parse, validate, evaluate and lint.
//!
//! Every trust decision (may this token assume this role?) and every permission
//! decision (may this session read this object?) in irsa is a call to
//! [`authorize`]. The crate is pure: no I/O, no clock, no logging; what a
//! decision depends on is in its arguments.
//!
//! The stages, each in its own module:
//! 1. [`parse()`]: text → [`Policy`], with IAM's grammar errors;
//! 2. [`validate()`]: the rules of a policy's use (identity, trust, …) and size;
//! 3. [`CompiledPolicy::new`]: patterns and condition values prepared once;
//! 4. [`authorize`] / [`explain`]: the decision for a [`Request`] against a
//!    [`PolicySet`], with the statement that decided;
//! 5. [`lint()`]: least-privilege findings.
//!
//! ```
//! use policy::{authorize, parse, CompiledPolicy, Context, PolicySet, Principal, Request};
//!
//! let doc = parse(r#"{"Version":"2012-10-17","Statement":{"Sid":"Read","Effect":"Allow",
//!     "Action":"s3:Get*","Resource":"arn:aws:s3:::my-bucket/*"}}"#).unwrap();
//! let identity = [CompiledPolicy::new("inline:read", doc)];
//! let alice = Principal::from_arn("arn:aws:iam::123456789012:user/alice").unwrap();
//! let ctx = Context::new();
//! let req = Request { principal: &alice, action: "s3:GetObject",
//!     resource: "arn:aws:s3:::my-bucket/a.txt", resource_account: None, context: &ctx };
//! let set = PolicySet { identity: &identity, ..PolicySet::default() };
//! assert!(authorize(&req, &set).is_allowed());
//! ```
#![deny(missing_docs)]

mod arn;
mod authorize;
mod context;
mod error;
mod eval;
mod json;
mod lint;
mod model;
mod operator;
mod parse;
mod pattern;
mod principal;
mod print;
mod scalar;
mod validate;

pub use authorize::{
    Decision, Evaluation, PolicyKind, PolicySet, StatementRef, authorize, explain,
    missing_context_keys,
};
pub use context::{Context, ContextValue};
pub use error::{ErrorCode, PolicyError};
pub use eval::{CompiledPolicy, ConditionCheck, Request};
pub use json::{line_column, statement_spans};
pub use lint::{Finding, Severity, lint};
pub use model::{
    ConditionBlock, Effect, Negatable, Policy, PrincipalSet, PrincipalType, Statement, Values,
    Version,
};
pub use operator::{BaseOperator, Family, Operator, SetOperator};
pub use parse::parse;
pub use principal::{Principal, PrincipalParseError, is_account_id};
pub use validate::{PolicyUse, check_use, policy_size, validate, validate_with_limit};
