//! What a bucket name and an object key may be.
//!
//! Bucket names: "General purpose bucket naming rules"
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>).
//! Keys: "Naming Amazon S3 objects" — any UTF-8, at most 1,024 bytes.

/// Longest key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Whether `name` is a valid general purpose bucket name: 3 to 63 characters
/// of lowercase letters, digits, dots and hyphens, beginning and ending with a
/// letter or digit, no two adjacent dots, not shaped as an IPv4 address, and
/// none of the reserved prefixes and suffixes.
pub fn is_valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return false;
    }
    let edge = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(b.first()) || !edge(b.last()) {
        return false;
    }
    if name.contains("..") || looks_like_ipv4(name) {
        return false;
    }
    !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn looks_like_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()))
}

/// Why a key is refused, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKey {
    /// Empty.
    Empty,
    /// Longer than [`MAX_KEY_BYTES`].
    TooLong,
}

/// Checks a (decoded) object key. Any UTF-8 is a key — `../`, NUL, `//` are
/// keys like others and never become paths: bytes live in blobs named by
/// random ids.
pub fn check_key(key: &str) -> Result<(), BadKey> {
    if key.is_empty() {
        Err(BadKey::Empty)
    } else if key.len() > MAX_KEY_BYTES {
        Err(BadKey::TooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Examples of bucketnamingrules.html ("Example general purpose bucket
    /// names") and each rule's edge.
    #[test]
    fn bucket_names_follow_the_general_purpose_rules() {
        for good in [
            "docexamplebucket1",
            "log-delivery-march-2020",
            "my-hosted-content",
            "docexamplewebsite.com",
            "www.docexamplewebsite.com",
            "my.example.s3.bucket",
            "abc",
            "a-b",
            "1.2.3",
            "1.2.3.4a",
            &"a".repeat(63),
        ] {
            assert!(is_valid_bucket_name(good), "{good}");
        }
        for bad in [
            "doc_example_bucket",
            "DocExampleBucket",
            "doc-example-bucket-",
            "-doc",
            ".doc",
            "ab",
            "",
            &"a".repeat(64),
            "my..bucket",
            "192.168.5.4",
            "xn--bucket",
            "sthree-bucket",
            "amzn-s3-demo-bucket",
            "bucket-s3alias",
            "bucket--ol-s3",
            "bucket.mrap",
            "bucket--x-s3",
            "bucket--table-s3",
            "bücket",
            "a b",
            "a/b",
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn keys_are_any_utf8_up_to_1024_bytes() {
        assert_eq!(check_key(""), Err(BadKey::Empty));
        assert_eq!(check_key("../../etc/passwd"), Ok(()));
        assert_eq!(check_key("a\0b"), Ok(()));
        assert_eq!(check_key(&"k".repeat(1024)), Ok(()));
        assert_eq!(check_key(&"k".repeat(1025)), Err(BadKey::TooLong));
        // 342 three-byte characters: 1,026 bytes.
        assert_eq!(check_key(&"€".repeat(342)), Err(BadKey::TooLong));
        assert_eq!(check_key(&"€".repeat(341)), Ok(()));
    }
}
