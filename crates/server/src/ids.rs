//! Identifiers in AWS's formats: unique ids (`AROA…`, `ANPA…`), access keys,
//! secrets and request ids.
//! Reference: reference_identifiers.html#identifiers-prefixes.

use crate::error::ApiError;

/// The alphabet of AWS unique ids and access key ids: uppercase base32.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The alphabet of secret access keys.
const SECRET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    store::random_bytes::<N>().map_err(ApiError::internal)
}

fn pick(alphabet: &[u8], bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| {
            let i = usize::from(*b) % alphabet.len();
            char::from(alphabet.get(i).copied().unwrap_or(b'A'))
        })
        .collect()
}

/// `PREFIX` + 17 base32 characters: 21 in all, as AWS's unique ids.
pub(crate) fn unique_id(prefix: &str) -> Result<String, ApiError> {
    let bytes: [u8; 17] = random()?;
    Ok(format!("{prefix}{}", pick(BASE32, &bytes)))
}

/// `AKIA`/`ASIA` + 16 base32 characters.
pub(crate) fn access_key_id(prefix: &str) -> Result<String, ApiError> {
    let bytes: [u8; 16] = random()?;
    Ok(format!("{prefix}{}", pick(BASE32, &bytes)))
}

/// A 40-character secret access key.
pub(crate) fn secret_access_key() -> Result<String, ApiError> {
    let bytes: [u8; 40] = random()?;
    Ok(pick(SECRET, &bytes))
}

/// A lowercase UUID v4, the form of AWS request ids.
pub(crate) fn request_id() -> String {
    oidc::uuid_v4()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let id = unique_id("AROA").unwrap();
        assert_eq!(id.len(), 21);
        assert!(id.bytes().all(|b| BASE32.contains(&b)));
        let key = access_key_id("AKIA").unwrap();
        assert_eq!(key.len(), 20);
        assert_eq!(secret_access_key().unwrap().len(), 40);
        let rid = request_id();
        assert_eq!(rid.len(), 36);
        assert_eq!(rid.as_bytes()[14], b'4');
        assert_ne!(request_id(), rid);
    }
}
