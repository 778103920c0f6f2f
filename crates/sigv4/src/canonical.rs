//! The canonical forms of a request's URI, query and headers.

/// Percent-encodes every byte except the unreserved `A-Z a-z 0-9 - _ . ~`
/// (and `/` when `keep_slash`), with uppercase hex, as SigV4 requires.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/');
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4, b'A'));
            out.push(hex_digit(b & 0xf, b'A'));
        }
    }
    out
}

/// One hex digit of a nibble; `ten` is `b'a'` or `b'A'`.
pub(crate) fn hex_digit(nibble: u8, ten: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        ten + nibble - 10
    })
}

/// Decodes `%XX` escapes (a `+` stays a `+`); invalid escapes stay as written.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let byte = b.get(i).copied().unwrap_or_default();
        if byte == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical URI of a (non-S3) request path: dot segments and repeated
/// slashes removed (RFC 3986), then each byte encoded once more — the path as
/// received is already encoded, so AWS's "encode twice" is this one encoding.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| uri_encode(s, false))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical URI of an S3 request path: the path as the object key
/// spells it (the received path decoded once), each byte but `/` encoded
/// once; nothing is normalized, since `a//b` and `../x` are keys like others.
pub fn canonical_uri_s3(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    uri_encode(&percent_decode(path), true)
}

/// Decoded `(key, value)` pairs of a query string, in order.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The canonical query: pairs decoded, re-encoded strictly, sorted by key then value.
pub fn canonical_query(query: &str) -> String {
    canonical_query_without(query, "")
}

pub(crate) fn canonical_query_without(query: &str, skip: &str) -> String {
    let mut pairs: Vec<(String, String)> = query_pairs(query)
        .into_iter()
        .filter(|(k, _)| k != skip)
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header value trimmed, with runs of spaces folded to one (and obsolete line
/// folding joined), as the canonical headers need.
pub(crate) fn trim_header_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/example/.."), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/a%20b"), "/a%2520b");
        assert_eq!(canonical_uri_s3(""), "/");
        assert_eq!(canonical_uri_s3("/b/a//../x"), "/b/a//../x");
        assert_eq!(canonical_uri_s3("/b/a%20b+c"), "/b/a%20b%2Bc");
        assert_eq!(canonical_uri_s3("/b/caf%C3%A9"), "/b/caf%C3%A9");
        assert_eq!(canonical_uri_s3("/b/caf%c3%a9~"), "/b/caf%C3%A9~");
    }

    #[test]
    fn queries() {
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            canonical_query("Param1=value2&Param1=Value1"),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(canonical_query("Param1"), "Param1=");
        assert_eq!(canonical_query("a=b%20c+d"), "a=b%20c%2Bd");
    }
}
