//! Stateless role sessions.
//!
//! A session token is a versioned AEAD-sealed blob carrying the whole session
//! (account, role, session name, secret key, expiry, session policies, source
//! identity, tags): `base64(version ‖ key id ‖ nonce ‖ AES-256-GCM(JSON))`, with
//! version and key id as associated data. Nothing is stored per session; any
//! replica holding the key ring verifies it; keys rotate by id. A token that
//! does not open is `InvalidClientTokenId`; an expired one `ExpiredToken`.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::error::ApiError;

const VERSION: u8 = 1;

/// One role session.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) account: String,
    pub(crate) role_arn: String,
    pub(crate) role_id: String,
    pub(crate) role_name: String,
    pub(crate) name: String,
    pub(crate) access_key: String,
    pub(crate) secret: String,
    pub(crate) issued: i64,
    pub(crate) expires: i64,
    /// The inline session policy, as given.
    pub(crate) policy: Option<String>,
    /// Managed session policies.
    pub(crate) policy_arns: Vec<String>,
    pub(crate) source_identity: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    /// Created by AssumeRole from another role session.
    pub(crate) chained: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role_arn", &self.role_arn)
            .field("name", &self.name)
            .field("access_key", &self.access_key)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    pub(crate) fn arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account, self.role_name, self.name
        )
    }

    /// `AROA…:SESSION`.
    pub(crate) fn assumed_role_id(&self) -> String {
        format!("{}:{}", self.role_id, self.name)
    }

    fn to_json(&self) -> Value {
        json!({
            "acct": self.account, "role": self.role_arn, "rid": self.role_id, "rname": self.role_name,
            "sess": self.name, "akid": self.access_key, "sk": self.secret, "iat": self.issued,
            "exp": self.expires, "pol": self.policy, "arns": self.policy_arns,
            "src": self.source_identity, "tags": self.tags, "chain": self.chained,
        })
    }

    fn from_json(v: &Value) -> Option<Session> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Session {
            account: s("acct")?,
            role_arn: s("role")?,
            role_id: s("rid")?,
            role_name: s("rname")?,
            name: s("sess")?,
            access_key: s("akid")?,
            secret: s("sk")?,
            issued: v.get("iat")?.as_i64()?,
            expires: v.get("exp")?.as_i64()?,
            policy: s("pol"),
            policy_arns: v
                .get("arns")?
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            source_identity: s("src"),
            tags: v
                .get("tags")?
                .as_array()?
                .iter()
                .filter_map(|t| {
                    Some((
                        t.get(0)?.as_str()?.to_string(),
                        t.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect(),
            chained: v.get("chain")?.as_bool()?,
        })
    }
}

/// The keys that seal session tokens; the highest id seals, all open.
pub(crate) struct KeyRing {
    keys: Vec<(u32, Aes256Gcm)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRing({} keys)", self.keys.len())
    }
}

fn invalid_token() -> ApiError {
    ApiError::new(
        "InvalidClientTokenId",
        axum::http::StatusCode::FORBIDDEN,
        "The security token included in the request is invalid.",
    )
}

impl KeyRing {
    /// A ring from `(id, 32-byte key)` pairs.
    pub(crate) fn new(keys: &[(u32, Vec<u8>)]) -> Result<KeyRing, String> {
        let mut ring = Vec::with_capacity(keys.len());
        for (id, key) in keys {
            let cipher = Aes256Gcm::new_from_slice(key)
                .map_err(|_| format!("session key {id} is not 32 bytes"))?;
            ring.push((*id, cipher));
        }
        ring.sort_by_key(|(id, _)| *id);
        if ring.is_empty() {
            return Err("the session key ring is empty".into());
        }
        Ok(KeyRing { keys: ring })
    }

    /// Seals a session into a token.
    pub(crate) fn seal(&self, session: &Session) -> Result<String, ApiError> {
        let (id, cipher) = self
            .keys
            .last()
            .ok_or_else(|| ApiError::internal("empty session key ring"))?;
        let nonce: [u8; 12] = store::random_bytes().map_err(ApiError::internal)?;
        let mut header = vec![VERSION];
        header.extend_from_slice(&id.to_be_bytes());
        let plain = session.to_json().to_string();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &header,
                },
            )
            .map_err(|_| ApiError::internal("session sealing failed"))?;
        let mut out = header;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a token; any tampering, unknown key id or garbage is
    /// `InvalidClientTokenId`. Expiry is the caller's check.
    pub(crate) fn open(&self, token: &str) -> Result<Session, ApiError> {
        let bytes = STANDARD.decode(token.trim()).map_err(|_| invalid_token())?;
        if bytes.len() < 5 + 12 + 16 || bytes.first() != Some(&VERSION) {
            return Err(invalid_token());
        }
        let (header, rest) = bytes.split_at(5);
        let id = u32::from_be_bytes(
            header
                .get(1..5)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(invalid_token)?,
        );
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| *k == id)
            .ok_or_else(invalid_token)?;
        let (nonce, sealed) = rest.split_at(12);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: header,
                },
            )
            .map_err(|_| invalid_token())?;
        let value: Value = serde_json::from_slice(&plain).map_err(|_| invalid_token())?;
        Session::from_json(&value).ok_or_else(invalid_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            account: "123456789012".into(),
            role_arn: "arn:aws:iam::123456789012:role/app".into(),
            role_id: "AROAEXAMPLEEXAMPLE123".into(),
            role_name: "app".into(),
            name: "pod".into(),
            access_key: "ASIAEXAMPLEEXAMPLE12".into(),
            secret: "s".repeat(40),
            issued: 1,
            expires: 3601,
            policy: Some("{}".into()),
            policy_arns: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            source_identity: Some("alice".into()),
            tags: vec![("team".into(), "data".into())],
            chained: false,
        }
    }

    #[test]
    fn seal_open_rotate_and_tamper() {
        let ring = KeyRing::new(&[(1, vec![1; 32])]).unwrap();
        let token = ring.seal(&session()).unwrap();
        assert!(
            !token.contains("ssss"),
            "the secret is not readable in the token"
        );
        assert_eq!(ring.open(&token).unwrap(), session());
        // A newer ring still opens tokens of older keys.
        let rotated = KeyRing::new(&[(1, vec![1; 32]), (2, vec![2; 32])]).unwrap();
        assert_eq!(rotated.open(&token).unwrap(), session());
        let newer = rotated.seal(&session()).unwrap();
        assert_eq!(
            ring.open(&newer).unwrap_err().code(),
            "InvalidClientTokenId"
        );
        let mut bytes = STANDARD.decode(&token).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(ring.open(&STANDARD.encode(&bytes)).is_err());
        // The key id is authenticated too.
        let mut bytes = STANDARD.decode(&token).unwrap();
        bytes[4] = 2;
        assert!(rotated.open(&STANDARD.encode(&bytes)).is_err());
        for garbage in ["", "AAAA", "not base64!", &"A".repeat(100)] {
            assert!(ring.open(garbage).is_err());
        }
        let other = KeyRing::new(&[(1, vec![9; 32])]).unwrap();
        assert!(other.open(&token).is_err());
    }
}
