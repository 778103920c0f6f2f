//! Wildcard patterns with policy variables, matched without allocating.
//!
//! A pattern is compiled once into tokens: literal text, `*` (any run of
//! characters), `?` (any one character) and variables such as `${aws:username}`.
//! At match time each variable is looked up in the request and its value is
//! matched as literal text: a `*` inside a tag value is a plain star.
//!
//! References:
//! - wildcards: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html>
//! - variables: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>

use crate::context::Context;

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Text matched as written (`${*}`, `${?}`, `${$}` land here as `*`, `?`, `$`).
    Literal(String),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
    /// `${key}` or `${key, 'default'}`.
    Variable {
        key: String,
        default: Option<String>,
    },
}

/// How to read a pattern's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (otherwise literal, as in `StringEquals`).
    pub(crate) wildcards: bool,
    /// `${…}` is a policy variable (Version 2012-10-17 only).
    pub(crate) variables: bool,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
    variables: usize,
}

/// The most variables a pattern resolves on the stack; more fall back to the heap.
const STACK_VARIABLES: usize = 8;

impl Pattern {
    /// Compiles `text`. An unclosed `${` is literal text.
    pub(crate) fn compile(text: &str, syntax: Syntax) -> Pattern {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let closing = rest
                .find('}')
                .filter(|_| syntax.variables && rest.starts_with("${"));
            if let Some(end) = closing {
                let inner = rest.get(2..end).unwrap_or_default();
                rest = rest.get(end + 1..).unwrap_or_default();
                match inner {
                    "*" | "?" | "$" => literal.push_str(inner),
                    _ => {
                        flush(&mut tokens, &mut literal);
                        tokens.push(variable(inner));
                    }
                }
                continue;
            }
            rest = rest.get(c.len_utf8()..).unwrap_or_default();
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut tokens, &mut literal);
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut tokens, &mut literal);
                    tokens.push(Token::One);
                }
                c => literal.push(c),
            }
        }
        flush(&mut tokens, &mut literal);
        let variables = tokens
            .iter()
            .filter(|t| matches!(t, Token::Variable { .. }))
            .count();
        Pattern { tokens, variables }
    }

    /// Whether `text` matches. A variable without a value in `ctx` and without a
    /// default makes the pattern match nothing.
    pub(crate) fn matches(&self, text: &str, fold_case: bool, ctx: &Context) -> bool {
        if self.variables == 0 {
            return glob(&self.tokens, &[], text, fold_case);
        }
        if self.variables <= STACK_VARIABLES {
            let mut values = [""; STACK_VARIABLES];
            let mut slots = values.iter_mut();
            for token in &self.tokens {
                if let Token::Variable { key, default } = token {
                    let Some(value) = resolve(key, default.as_deref(), ctx) else {
                        return false;
                    };
                    if let Some(slot) = slots.next() {
                        *slot = value;
                    }
                }
            }
            glob(&self.tokens, &values, text, fold_case)
        } else {
            let mut values = Vec::with_capacity(self.variables);
            for token in &self.tokens {
                if let Token::Variable { key, default } = token {
                    match resolve(key, default.as_deref(), ctx) {
                        Some(v) => values.push(v),
                        None => return false,
                    }
                }
            }
            glob(&self.tokens, &values, text, fold_case)
        }
    }
}

fn flush(tokens: &mut Vec<Token>, literal: &mut String) {
    if !literal.is_empty() {
        tokens.push(Token::Literal(std::mem::take(literal)));
    }
}

/// Reads the inside of `${…}`: `key` or `key, 'default'`.
fn variable(inner: &str) -> Token {
    if let Some((key, default)) = inner.split_once(',') {
        let default = default.trim();
        if let Some(text) = default
            .strip_prefix('\'')
            .and_then(|d| d.strip_suffix('\''))
        {
            return Token::Variable {
                key: key.trim().to_string(),
                default: Some(text.to_string()),
            };
        }
    }
    Token::Variable {
        key: inner.trim().to_string(),
        default: None,
    }
}

/// A variable's value: the key's single value, or the default. Multivalued keys
/// are not variables (AWS substitutes single-valued keys only).
fn resolve<'a>(key: &str, default: Option<&'a str>, ctx: &'a Context) -> Option<&'a str> {
    ctx.single(key).or(default)
}

/// A position in the pattern: token index and byte offset inside that token's text.
#[derive(Clone, Copy)]
struct At {
    token: usize,
    byte: usize,
}

enum Piece {
    Char(char),
    Star,
    One,
    End,
}

/// Reads the pattern piece at `at` and the position after it.
fn piece(tokens: &[Token], values: &[&str], at: At) -> (Piece, At) {
    let mut at = at;
    loop {
        let Some(token) = tokens.get(at.token) else {
            return (Piece::End, at);
        };
        let text = match token {
            Token::Star | Token::One => {
                let p = if matches!(token, Token::Star) {
                    Piece::Star
                } else {
                    Piece::One
                };
                return (
                    p,
                    At {
                        token: at.token + 1,
                        byte: 0,
                    },
                );
            }
            Token::Literal(s) => s.as_str(),
            Token::Variable { .. } => {
                let index = tokens.get(..at.token).map_or(0, |before| {
                    before
                        .iter()
                        .filter(|t| matches!(t, Token::Variable { .. }))
                        .count()
                });
                values.get(index).copied().unwrap_or_default()
            }
        };
        match text.get(at.byte..).and_then(|s| s.chars().next()) {
            Some(c) => {
                return (
                    Piece::Char(c),
                    At {
                        token: at.token,
                        byte: at.byte + c.len_utf8(),
                    },
                );
            }
            None => {
                at = At {
                    token: at.token + 1,
                    byte: 0,
                };
            }
        }
    }
}

fn chars_equal(a: char, b: char, fold_case: bool) -> bool {
    a == b || (fold_case && a.to_lowercase().eq(b.to_lowercase()))
}

/// Wildcard matching with a single backtrack point (the last `*` seen), which is
/// enough for `*`/`?` globs and runs in O(pattern × text) at worst.
fn glob(tokens: &[Token], values: &[&str], text: &str, fold_case: bool) -> bool {
    let mut p = At { token: 0, byte: 0 };
    let mut t = 0usize;
    let mut backtrack: Option<(At, usize)> = None;
    loop {
        let next_char = text.get(t..).and_then(|s| s.chars().next());
        let (pc, after) = piece(tokens, values, p);
        match (pc, next_char) {
            (Piece::Star, _) => {
                p = after;
                backtrack = Some((p, t));
                continue;
            }
            (Piece::One, Some(c)) => {
                p = after;
                t += c.len_utf8();
                continue;
            }
            (Piece::Char(pc), Some(c)) if chars_equal(pc, c, fold_case) => {
                p = after;
                t += c.len_utf8();
                continue;
            }
            (Piece::End, None) => return true,
            _ => {}
        }
        match backtrack {
            Some((star_p, star_t)) => {
                let Some(c) = text.get(star_t..).and_then(|s| s.chars().next()) else {
                    return false;
                };
                let resume = star_t + c.len_utf8();
                backtrack = Some((star_p, resume));
                p = star_p;
                t = resume;
            }
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLOB: Syntax = Syntax {
        wildcards: true,
        variables: true,
    };

    fn m(pattern: &str, text: &str) -> bool {
        Pattern::compile(pattern, GLOB).matches(text, false, &Context::new())
    }

    #[test]
    fn star_and_question_mark() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("s3:Get*", "s3:GetObject"));
        assert!(!m("s3:Get*", "s3:PutObject"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("a*b*", "ab"));
        assert!(m("ä?ö", "äüö"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
    }

    #[test]
    fn case_folding_only_when_asked() {
        let p = Pattern::compile("s3:getobject", GLOB);
        assert!(p.matches("S3:GetObject", true, &Context::new()));
        assert!(!p.matches("S3:GetObject", false, &Context::new()));
    }

    #[test]
    fn wildcards_literal_when_off() {
        let p = Pattern::compile(
            "a*",
            Syntax {
                wildcards: false,
                variables: true,
            },
        );
        assert!(p.matches("a*", false, &Context::new()));
        assert!(!p.matches("ab", false, &Context::new()));
    }

    #[test]
    fn variables_resolve_as_literal_text() {
        let mut ctx = Context::new();
        ctx.insert("aws:username", "al*ce");
        let p = Pattern::compile("home/${aws:username}/*", GLOB);
        assert!(p.matches("home/al*ce/x", false, &ctx));
        assert!(!p.matches("home/alice/x", false, &ctx));
        // Key names are case-insensitive.
        let p = Pattern::compile("home/${AWS:UserName}", GLOB);
        assert!(p.matches("home/al*ce", false, &ctx));
    }

    #[test]
    fn missing_variable_matches_nothing_unless_defaulted() {
        let ctx = Context::new();
        assert!(!m("home/${aws:username}", "home/"));
        let p = Pattern::compile("home/${aws:username, 'nobody'}", GLOB);
        assert!(p.matches("home/nobody", false, &ctx));
        assert!(!p.matches("home/", false, &ctx));
    }

    #[test]
    fn special_character_variables() {
        assert!(m("a${*}b", "a*b"));
        assert!(!m("a${*}b", "axb"));
        assert!(m("a${?}b", "a?b"));
        assert!(m("a${$}b", "a$b"));
    }

    #[test]
    fn variables_off_means_literal() {
        let p = Pattern::compile(
            "${aws:username}",
            Syntax {
                wildcards: true,
                variables: false,
            },
        );
        assert!(p.matches("${aws:username}", false, &Context::new()));
    }

    #[test]
    fn many_variables_use_the_heap_path() {
        let mut ctx = Context::new();
        ctx.insert("k:a", "x");
        let text = "${k:a}".repeat(10);
        let p = Pattern::compile(&text, GLOB);
        assert!(p.matches("xxxxxxxxxx", false, &ctx));
        assert!(!p.matches("xxxxxxxxx", false, &ctx));
    }

    /// The obvious recursive matcher, exponential but clearly right.
    fn naive(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| naive(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && naive(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && naive(rest, &t[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn glob_agrees_with_the_naive_matcher(p in "[ab*?:]{0,8}", t in "[ab:]{0,10}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            proptest::prop_assert_eq!(m(&p, &t), naive(&pc, &tc), "pattern {} text {}", p, t);
        }
    }
}
