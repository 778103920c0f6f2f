//! Parameter constraints of the service models, reported as AWS reports them:
//! `1 validation error detected: Value 'x' at 'roleName' failed to satisfy
//! constraint: Member must have length less than or equal to 64`.

use crate::error::ApiError;

/// Members whose values are credentials: never quoted in an error.
const SENSITIVE: &[&str] = &[
    "WebIdentityToken",
    "SAMLAssertion",
    "SecretAccessKey",
    "SessionToken",
];
/// Longest value an error quotes, in characters.
const ECHO_LIMIT: usize = 256;

/// Collects constraint failures of one request.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    failures: Vec<String>,
}

/// The member path AWS prints: the parameter name with a lowercase first letter.
fn member_path(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Character classes of the model's patterns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pattern {
    /// `[\w+=,.@-]+` with ASCII `\w` (role, policy names).
    Name,
    /// `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)` (role path).
    Path,
    /// `((/[A-Za-z0-9\.,\+@=_-]+)*)/` (policy path).
    PolicyPath,
    /// `\u002F[\u0021-\u007F]*` (path prefix).
    PathPrefix,
    /// `[\u0009\u000A\u000D\u0020-\u00FF]+` (policy documents).
    PolicyDocument,
    /// `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*` (descriptions).
    Description,
    /// `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` (tag keys and values).
    Tag,
    /// `[\u0020-\u00FF]+` (markers).
    Marker,
    /// `v[1-9][0-9]*(\.[A-Za-z0-9-]*)?` (policy version ids).
    VersionId,
    /// `[\w+=,.@-]*` with ASCII `\w` (role session names, source identities).
    SessionName,
}

impl Pattern {
    fn regex(self) -> &'static str {
        match self {
            Pattern::Name => r"[\w+=,.@-]+",
            Pattern::Path => r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
            Pattern::PolicyPath => r"((/[A-Za-z0-9\.,\+@=_-]+)*)/",
            Pattern::PathPrefix => r"\u002F[\u0021-\u007F]*",
            Pattern::PolicyDocument => r"[\u0009\u000A\u000D\u0020-\u00FF]+",
            Pattern::Description => r"[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*",
            Pattern::Tag => r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*",
            Pattern::Marker => r"[\u0020-\u00FF]+",
            Pattern::VersionId => r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?",
            Pattern::SessionName => r"[\w+=,.@-]*",
        }
    }

    fn matches(self, s: &str) -> bool {
        let name_char = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        match self {
            Pattern::Name => !s.is_empty() && s.chars().all(name_char),
            Pattern::SessionName => s.chars().all(name_char),
            Pattern::Path => {
                s == "/"
                    || (s.len() >= 3
                        && s.starts_with('/')
                        && s.ends_with('/')
                        && s.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c)))
            }
            Pattern::PolicyPath => {
                s.ends_with('/')
                    && s.starts_with('/')
                    && s.trim_end_matches('/').split('/').skip(1).all(|seg| {
                        !seg.is_empty()
                            && seg
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || ".,+@=_-".contains(c))
                    })
                    && !s.contains("//")
            }
            Pattern::PathPrefix => {
                s.starts_with('/') && s.chars().all(|c| ('\u{21}'..='\u{7f}').contains(&c))
            }
            Pattern::PolicyDocument => {
                !s.is_empty()
                    && s.chars().all(|c| {
                        matches!(c, '\t' | '\n' | '\r') || ('\u{20}'..='\u{ff}').contains(&c)
                    })
            }
            Pattern::Description => s.chars().all(|c| {
                matches!(c, '\t' | '\n' | '\r')
                    || ('\u{20}'..='\u{7e}').contains(&c)
                    || ('\u{a1}'..='\u{ff}').contains(&c)
            }),
            Pattern::Tag => s.chars().all(|c| {
                c.is_alphabetic() || c.is_numeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
            }),
            Pattern::Marker => {
                !s.is_empty() && s.chars().all(|c| ('\u{20}'..='\u{ff}').contains(&c))
            }
            Pattern::VersionId => {
                let Some(rest) = s.strip_prefix('v') else {
                    return false;
                };
                let (num, suffix) = match rest.split_once('.') {
                    Some((n, sfx)) => (n, Some(sfx)),
                    None => (rest, None),
                };
                !num.is_empty()
                    && !num.starts_with('0')
                    && num.bytes().all(|b| b.is_ascii_digit())
                    && suffix
                        .is_none_or(|x| x.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            }
        }
    }
}

impl Checker {
    pub(crate) fn fail(&mut self, name: &str, value: Option<&str>, constraint: &str) {
        // A credential is never echoed (botocore marks these members
        // `sensitive`), and no echoed value is longer than ECHO_LIMIT: an
        // error's message is logged and audited.
        let value = match value {
            Some(_) if SENSITIVE.contains(&name) => String::new(),
            Some(v) if v.chars().count() > ECHO_LIMIT => {
                let head: String = v.chars().take(ECHO_LIMIT).collect();
                format!(" '{head}…'")
            }
            Some(v) => format!(" '{v}'"),
            None => " null".to_string(),
        };
        self.failures.push(format!(
            "Value{value} at '{}' failed to satisfy constraint: {constraint}",
            member_path(name)
        ));
    }

    /// A required member is missing.
    pub(crate) fn null(&mut self, name: &str) {
        self.fail(name, None, "Member must not be null");
    }

    /// Length bounds (in characters) and a pattern.
    pub(crate) fn string(
        &mut self,
        name: &str,
        value: &str,
        min: usize,
        max: usize,
        pattern: Option<Pattern>,
    ) {
        let len = value.chars().count();
        if len < min {
            self.fail(
                name,
                Some(value),
                &format!("Member must have length greater than or equal to {min}"),
            );
        }
        if len > max {
            self.fail(
                name,
                Some(value),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
        if let Some(p) = pattern.filter(|p| len >= min && !p.matches(value)) {
            self.fail(
                name,
                Some(value),
                &format!(
                    "Member must satisfy regular expression pattern: {}",
                    p.regex()
                ),
            );
        }
    }

    /// An optional string member.
    pub(crate) fn opt_string(
        &mut self,
        name: &str,
        value: Option<&str>,
        min: usize,
        max: usize,
        pattern: Option<Pattern>,
    ) {
        if let Some(v) = value {
            self.string(name, v, min, max, pattern);
        }
    }

    /// Integer bounds.
    pub(crate) fn range(&mut self, name: &str, value: Option<i64>, min: i64, max: i64) {
        let Some(v) = value else { return };
        if v < min {
            self.fail(
                name,
                Some(&v.to_string()),
                &format!("Member must have value greater than or equal to {min}"),
            );
        }
        if v > max {
            self.fail(
                name,
                Some(&v.to_string()),
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    /// One of a set of values.
    pub(crate) fn one_of(&mut self, name: &str, value: Option<&str>, allowed: &[&str]) {
        if let Some(v) = value.filter(|v| !allowed.contains(v)) {
            self.fail(
                name,
                Some(v),
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                ),
            );
        }
    }

    /// List length bound.
    pub(crate) fn list_len(&mut self, name: &str, len: usize, max: usize) {
        if len > max {
            self.fail(
                name,
                Some(&format!("[{len} items]")),
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    /// Tags: keys 1–128, values 0–256, both of the tag alphabet; at most 50.
    pub(crate) fn tags(&mut self, name: &str, tags: &[(String, String)]) {
        self.list_len(name, tags.len(), 50);
        for (i, (k, v)) in tags.iter().enumerate() {
            let n = i + 1;
            self.string(
                &format!("{name}.{n}.member.key"),
                k,
                1,
                128,
                Some(Pattern::Tag),
            );
            self.string(
                &format!("{name}.{n}.member.value"),
                v,
                0,
                256,
                Some(Pattern::Tag),
            );
        }
    }

    /// `MaxItems` (1–1000) and `Marker`.
    pub(crate) fn paging(&mut self, max_items: Option<i64>, marker: Option<&str>) {
        self.range("MaxItems", max_items, 1, 1000);
        self.opt_string("Marker", marker, 1, 320, Some(Pattern::Marker));
    }

    /// The collected failures as one ValidationError, if any.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        match self.failures.len() {
            0 => Ok(()),
            1 => Err(ApiError::validation(format!(
                "1 validation error detected: {}",
                self.failures.join("; ")
            ))),
            n => Err(ApiError::validation(format!(
                "{n} validation errors detected: {}",
                self.failures.join("; ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_as_aws_words_them() {
        let mut c = Checker::default();
        c.string("RoleName", &"x".repeat(65), 1, 64, Some(Pattern::Name));
        let e = c.finish().unwrap_err();
        assert_eq!(
            e.message(),
            format!(
                "1 validation error detected: Value '{}' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64",
                "x".repeat(65)
            )
        );
        let mut c = Checker::default();
        c.null("RoleName");
        c.string("Path", "no-slash", 1, 512, Some(Pattern::Path));
        let e = c.finish().unwrap_err();
        assert!(e.message().starts_with("2 validation errors detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null; Value 'no-slash' at 'path'"));
    }

    #[test]
    fn patterns() {
        assert!(Pattern::Name.matches("s3-app_role+=,.@"));
        assert!(!Pattern::Name.matches("bad name"));
        assert!(!Pattern::Name.matches("rôle"));
        assert!(Pattern::Path.matches("/"));
        assert!(Pattern::Path.matches("/a/b/"));
        assert!(!Pattern::Path.matches("/a"));
        assert!(!Pattern::Path.matches("//"));
        assert!(Pattern::PolicyPath.matches("/team/"));
        assert!(!Pattern::PolicyPath.matches("/te*am/"));
        assert!(Pattern::VersionId.matches("v12"));
        assert!(!Pattern::VersionId.matches("v0"));
        assert!(!Pattern::VersionId.matches("12"));
        assert!(Pattern::PolicyDocument.matches("{\"é\": 1}\n"));
        assert!(!Pattern::PolicyDocument.matches("{\"€\": 1}"));
        assert!(Pattern::Tag.matches("team: data-eng"));
        assert!(!Pattern::Tag.matches("a*b"));
    }
}
