//! ARN patterns, matched segment by segment.
//!
//! An ARN is `arn:partition:service:region:account:resource`; the resource part
//! may hold further colons. AWS matches a pattern segment by segment, each with
//! `*`/`?` wildcards, case-sensitively, and "if the `*` wildcard is the last
//! character of a resource ARN segment, it can expand to match beyond the colon
//! boundaries" (reference_policies_elements_resource.html, "Using wildcards in
//! resource ARNs"). The `Arn*` condition operators use the same rules
//! (reference_policies_elements_condition_operators.html#Conditions_ARN).

use crate::context::Context;
use crate::pattern::{Pattern, Syntax};

/// Number of colon-separated parts of an ARN; the last holds the rest.
pub(crate) const SEGMENTS: usize = 6;

/// Splits at the first five colons that are not inside `${…}`. Returns fewer
/// parts when the text has fewer colons.
pub(crate) fn split(text: &str) -> Vec<&str> {
    let mut parts = Vec::with_capacity(SEGMENTS);
    let mut start = 0;
    let mut depth = 0usize;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && parts.len() < SEGMENTS - 1 {
        match bytes.get(i) {
            Some(b'$') if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            Some(b'}') if depth > 0 => depth -= 1,
            Some(b':') if depth == 0 => {
                parts.push(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
}

/// A compiled ARN pattern (or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnPattern {
    /// `None` for the bare `*`, which matches any resource.
    segments: Option<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    pattern: Pattern,
    /// Ends with an unescaped `*`: may swallow the following colons too.
    trailing_star: bool,
}

impl ArnPattern {
    /// Compiles a pattern. `variables` enables `${…}` (policy version 2012-10-17);
    /// `expand` lets a segment-ending `*` match beyond colons, as the `Resource`
    /// element does (the `Arn*` operators check each component separately).
    pub(crate) fn compile(text: &str, variables: bool, expand: bool) -> ArnPattern {
        if text == "*" {
            return ArnPattern { segments: None };
        }
        let syntax = Syntax {
            wildcards: true,
            variables,
        };
        let segments = split(text)
            .into_iter()
            .map(|s| Segment {
                pattern: Pattern::compile(s, syntax),
                trailing_star: expand && s.ends_with('*') && !s.ends_with("${*}"),
            })
            .collect();
        ArnPattern {
            segments: Some(segments),
        }
    }

    /// Whether `arn` matches, resolving variables from `ctx`.
    pub(crate) fn matches(&self, arn: &str, ctx: &Context) -> bool {
        match &self.segments {
            None => true,
            Some(segments) => match_from(segments, 0, arn, ctx),
        }
    }
}

/// Matches `segments` against `text`, where `text` starts at a segment boundary.
fn match_from(segments: &[Segment], index: usize, text: &str, ctx: &Context) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return text.is_empty();
    };
    if rest.is_empty() {
        // The last pattern segment takes the rest of the value when it is the
        // resource part or ends with `*`; otherwise the value must end here too.
        let takes_rest = index == SEGMENTS - 1 || first.trailing_star;
        return (takes_rest || !text.contains(':')) && first.pattern.matches(text, false, ctx);
    }
    // Try each colon of the value as this segment's end: only the first one
    // unless the segment ends with `*`.
    let mut search_from = 0;
    while let Some(pos) = text.get(search_from..).and_then(|t| t.find(':')) {
        let end = search_from + pos;
        let (head, tail) = (
            text.get(..end).unwrap_or_default(),
            text.get(end + 1..).unwrap_or_default(),
        );
        if first.pattern.matches(head, false, ctx) && match_from(rest, index + 1, tail, ctx) {
            return true;
        }
        if !first.trailing_star {
            return false;
        }
        search_from = end + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, arn: &str) -> bool {
        ArnPattern::compile(pattern, true, true).matches(arn, &Context::new())
    }

    #[test]
    fn split_respects_variables_and_keeps_the_resource_whole() {
        assert_eq!(
            split("arn:aws:logs:us-east-1:1:log-group:a:b"),
            ["arn", "aws", "logs", "us-east-1", "1", "log-group:a:b"]
        );
        assert_eq!(
            split("arn:aws:iam::${aws:PrincipalAccount}:role/x"),
            ["arn", "aws", "iam", "", "${aws:PrincipalAccount}", "role/x"]
        );
        assert_eq!(split("arn:aws"), ["arn", "aws"]);
    }

    #[test]
    fn resource_examples_from_the_aws_docs() {
        // reference_policies_elements_resource.html, "Using wildcards in resource ARNs".
        let p = "arn:aws:s3:::amzn-s3-demo-bucket/*/test/*";
        assert!(m(
            p,
            "arn:aws:s3:::amzn-s3-demo-bucket/1///test///object.jpg"
        ));
        assert!(m(p, "arn:aws:s3:::amzn-s3-demo-bucket//test/object.jpg"));
        assert!(m(p, "arn:aws:s3:::amzn-s3-demo-bucket/1/test/"));
        assert!(!m(p, "arn:aws:s3:::amzn-s3-demo-bucket/1-test/object.jpg"));
        assert!(!m(p, "arn:aws:s3:::amzn-s3-demo-bucket/test/object.jpg"));
        assert!(!m(p, "arn:aws:s3:::amzn-s3-demo-bucket/1/2/test.jpg"));
    }

    #[test]
    fn case_sensitive_per_segment() {
        assert!(m("arn:aws:s3:::Bucket/*", "arn:aws:s3:::Bucket/k"));
        assert!(!m("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/k"));
        assert!(m(
            "arn:aws:iam::*:role/a?c",
            "arn:aws:iam::123456789012:role/abc"
        ));
        assert!(!m("arn:aws:iam::1*2:role/x", "arn:aws:iam::1:9:2:role/x"));
    }

    #[test]
    fn trailing_star_expands_beyond_colons() {
        assert!(m(
            "arn:aws:ec2:*",
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        ));
        assert!(m(
            "arn:aws:logs:us-east-1:1:log-group:*",
            "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s"
        ));
        assert!(!m("arn:aws:ec2:us-*-1", "arn:aws:ec2:us-east-1:1:x"));
        // The docs' example: `us-east-*` covers region and account.
        let p = "arn:aws:dynamodb:us-east-*:table/books_table";
        assert!(m(
            p,
            "arn:aws:dynamodb:us-east-1:123456789012:table/books_table"
        ));
        assert!(!m(
            p,
            "arn:aws:dynamodb:us-west-1:123456789012:table/books_table"
        ));
    }

    #[test]
    fn condition_patterns_check_each_component_separately() {
        let p = ArnPattern::compile("arn:aws:sns:*:123456789012:alerts-*", true, false);
        let ctx = Context::new();
        assert!(p.matches("arn:aws:sns:eu-west-1:123456789012:alerts-prod", &ctx));
        assert!(!p.matches(
            "arn:aws:sns:eu-west-1:210987654321:123456789012:alerts-prod",
            &ctx
        ));
    }

    #[test]
    fn star_alone_matches_everything_and_short_patterns_do_not() {
        assert!(m("*", "anything at all"));
        assert!(!m("arn:aws:s3:::b", "arn:aws:s3:::b/k"));
        assert!(!m("arn:aws:s3:::b/k", "arn:aws:s3:::b"));
        assert!(!m("arn:aws:s3", "arn:aws:s3:::b"));
    }
}
