//! The AWS Query protocol's request side: form-encoded parameters, lists as
//! `Name.member.N`, structures as `Name.member.N.Field`.
//! Reference: <https://docs.aws.amazon.com/IAM/latest/APIReference/CommonParameters.html>

use crate::error::ApiError;
use crate::validate::{Checker, Pattern};

/// The parameters of one request, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes `application/x-www-form-urlencoded` text (body or query string).
    pub(crate) fn parse(form: &[u8]) -> Params {
        Params {
            pairs: form_urlencoded::parse(form).into_owned().collect(),
        }
    }

    /// Parameters given as pairs.
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params { pairs }
    }

    /// Adds the pairs of another form (query string and body together).
    pub(crate) fn extend(&mut self, other: Params) {
        self.pairs.extend(other.pairs);
    }

    /// Every `(name, value)` pair, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of a parameter (the first, if repeated).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Action`.
    pub(crate) fn action(&self) -> Option<&str> {
        self.get("Action")
    }

    /// A list parameter: `Name.member.1`, `Name.member.2`, … in index order;
    /// `Name=` (how SDKs send an empty list) gives an empty list. `None` when
    /// the list is absent.
    pub(crate) fn list(&self, name: &str) -> Option<Vec<String>> {
        let prefix = format!("{name}.member.");
        let mut items: Vec<(usize, String)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(&prefix)?.parse::<usize>().ok()?;
                Some((index, v.clone()))
            })
            .collect();
        if items.is_empty() {
            return self.get(name).map(|_| Vec::new());
        }
        items.sort_by_key(|(i, _)| *i);
        Some(items.into_iter().map(|(_, v)| v).collect())
    }

    /// A list of `Key`/`Value` structures (`Tags.member.N.Key`); `None` when absent.
    pub(crate) fn tags(&self, name: &str) -> Option<Vec<(String, String)>> {
        let prefix = format!("{name}.member.");
        let mut by_index: Vec<(usize, Option<String>, Option<String>)> = Vec::new();
        for (k, v) in &self.pairs {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((index, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(index) = index.parse::<usize>() else {
                continue;
            };
            let entry = match by_index.iter_mut().find(|(i, _, _)| *i == index) {
                Some(e) => e,
                None => {
                    by_index.push((index, None, None));
                    by_index.last_mut()?
                }
            };
            match field {
                "Key" => entry.1 = Some(v.clone()),
                "Value" => entry.2 = Some(v.clone()),
                _ => {}
            }
        }
        if by_index.is_empty() {
            return self.get(name).map(|_| Vec::new());
        }
        by_index.sort_by_key(|(i, _, _)| *i);
        Some(
            by_index
                .into_iter()
                .map(|(_, k, v)| (k.unwrap_or_default(), v.unwrap_or_default()))
                .collect(),
        )
    }

    /// A required string member with its constraints; records "Member must
    /// not be null" when absent.
    pub(crate) fn req<'a>(
        &'a self,
        c: &mut Checker,
        name: &str,
        min: usize,
        max: usize,
        pattern: Option<Pattern>,
    ) -> &'a str {
        match self.get(name) {
            Some(v) => {
                c.string(name, v, min, max, pattern);
                v
            }
            None => {
                c.null(name);
                ""
            }
        }
    }

    /// An optional string member with its constraints.
    pub(crate) fn opt<'a>(
        &'a self,
        c: &mut Checker,
        name: &str,
        min: usize,
        max: usize,
        pattern: Option<Pattern>,
    ) -> Option<&'a str> {
        let v = self.get(name);
        c.opt_string(name, v, min, max, pattern);
        v
    }

    /// An optional integer; records a ValidationError when it is not a number.
    pub(crate) fn int(&self, c: &mut Checker, name: &str) -> Option<i64> {
        let v = self.get(name)?;
        match v.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                c.fail(name, Some(v), "Member must be a number");
                None
            }
        }
    }

    /// An optional boolean (`true`/`false`).
    pub(crate) fn bool(&self, c: &mut Checker, name: &str) -> Option<bool> {
        let v = self.get(name)?;
        match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                c.fail(name, Some(v), "Member must be a boolean");
                None
            }
        }
    }
}

/// Reads the parameters of a GET query string and a POST form body together.
/// A list member whose index is not a positive whole number (`Tags.member.0`,
/// `.member.-1`, `.member.18446744073709551616`, `.member.01`) is refused:
/// silently dropping it would change what the caller asked for.
pub(crate) fn request_params(query: &str, body: &[u8]) -> Result<Params, ApiError> {
    let mut params = Params::parse(query.as_bytes());
    params.extend(Params::parse(body));
    for (name, _) in params.pairs() {
        check_list_indices(name)?;
    }
    Ok(params)
}

/// Largest list index accepted; no IAM or STS list is longer than a few hundred.
const MAX_LIST_INDEX: u32 = 1_000_000;

fn check_list_indices(name: &str) -> Result<(), ApiError> {
    for (at, _) in name.match_indices(".member.") {
        let rest = name.get(at + ".member.".len()..).unwrap_or_default();
        let index = rest.split('.').next().unwrap_or_default();
        let valid = !index.starts_with('0')
            && index
                .parse::<u32>()
                .is_ok_and(|i| (1..=MAX_LIST_INDEX).contains(&i));
        if !valid {
            let shown: String = name.chars().take(128).collect();
            return Err(ApiError::validation(format!(
                "The list member `{shown}` has no valid index: list members are numbered 1, 2, … (up to {MAX_LIST_INDEX})."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_structures() {
        let p = Params::parse(
            b"Action=CreateRole&Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Value=2&ClientIDList.member.2=y&ClientIDList.member.1=x&Empty=",
        );
        assert_eq!(p.action(), Some("CreateRole"));
        assert_eq!(p.list("ClientIDList").unwrap(), ["x", "y"]);
        assert_eq!(p.list("Empty").unwrap(), Vec::<String>::new());
        assert_eq!(p.list("Missing"), None);
        assert_eq!(
            p.tags("Tags").unwrap(),
            [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string())
            ]
        );
    }

    /// Issue 11, finding 17: an index that is not 1, 2, … is an error, not a
    /// member silently dropped.
    #[test]
    fn r11_17_bad_list_indices_are_refused() {
        for bad in [
            "Tags.member.18446744073709551616.Key=a",
            "Tags.member.-1.Key=a",
            "Tags.member.0.Key=a",
            "Tags.member.01.Key=a",
            "Tags.member..Key=a",
            "Tags.member.x.Key=a",
            "ClientIDList.member.=a",
            "ClientIDList.member.1000001=a",
            "ClientIDList.member.+1=a",
        ] {
            let e = request_params("", bad.as_bytes()).unwrap_err();
            assert_eq!(e.code(), "ValidationError", "{bad}");
            assert!(e.message().contains("no valid index"), "{bad}");
            assert!(request_params(bad, b"").is_err(), "{bad} in the query");
        }
        let ok = request_params(
            "",
            b"Tags.member.1.Key=a&Tags.member.10.Value=b&L.member.1000000=c",
        )
        .unwrap();
        assert_eq!(ok.tags("Tags").unwrap().len(), 2);
        assert_eq!(ok.list("L").unwrap(), ["c"]);
    }

    #[test]
    fn form_decoding() {
        let p = Params::parse(b"PolicyDocument=%7B%22a%22%3A+1%7D");
        assert_eq!(p.get("PolicyDocument"), Some("{\"a\": 1}"));
    }
}
