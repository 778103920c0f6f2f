//! JSON Web Keys (RFC 7517) of the kinds OIDC issuers publish for signing.

use serde_json::{Value, json};

use crate::b64;

/// A public key's material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RSA modulus and exponent, big-endian.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// An EC point, uncompressed (`04 ‖ x ‖ y`), on P-256 or P-384.
    Ec {
        /// `P-256` or `P-384`.
        curve: String,
        /// The uncompressed point.
        point: Vec<u8>,
    },
}

/// One key of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `alg`, if the issuer pinned one.
    pub alg: Option<String>,
    /// The key.
    pub material: KeyMaterial,
}

/// A key set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    /// The usable signing keys; keys of other kinds or uses are left out.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// Reads `{"keys": [...]}`. Encryption keys, symmetric keys and keys of
    /// unknown types are skipped, not errors: issuers publish them alongside.
    pub fn parse(text: &str) -> Result<Jwks, String> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| "JWKS has no `keys` array".to_string())?;
        Ok(Jwks {
            keys: keys.iter().filter_map(Jwk::parse).collect(),
        })
    }

    /// `{"keys": [...]}` of these keys.
    pub fn to_json(&self) -> String {
        json!({ "keys": self.keys.iter().map(Jwk::to_json).collect::<Vec<_>>() }).to_string()
    }
}

impl Jwk {
    fn parse(v: &Value) -> Option<Jwk> {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        if s("use").is_some_and(|u| u != "sig") {
            return None;
        }
        let material = match s("kty")? {
            "RSA" => KeyMaterial::Rsa {
                n: b64::decode(s("n")?)?,
                e: b64::decode(s("e")?)?,
            },
            "EC" => {
                let curve = s("crv")?;
                let size = match curve {
                    "P-256" => 32,
                    "P-384" => 48,
                    _ => return None,
                };
                let (x, y) = (b64::decode(s("x")?)?, b64::decode(s("y")?)?);
                if x.len() != size || y.len() != size {
                    return None;
                }
                let mut point = vec![4u8];
                point.extend(x);
                point.extend(y);
                KeyMaterial::Ec {
                    curve: curve.to_string(),
                    point,
                }
            }
            _ => return None,
        };
        Some(Jwk {
            kid: s("kid").map(str::to_string),
            alg: s("alg").map(str::to_string),
            material,
        })
    }

    /// The key as a JWK object.
    pub fn to_json(&self) -> Value {
        let mut v = match &self.material {
            KeyMaterial::Rsa { n, e } => {
                json!({"kty": "RSA", "n": b64::encode(n), "e": b64::encode(e)})
            }
            KeyMaterial::Ec { curve, point } => {
                let coords = point.get(1..).unwrap_or_default();
                let (x, y) = coords.split_at(coords.len() / 2);
                json!({"kty": "EC", "crv": curve, "x": b64::encode(x), "y": b64::encode(y)})
            }
        };
        if let Some(map) = v.as_object_mut() {
            map.insert("use".into(), json!("sig"));
            if let Some(kid) = &self.kid {
                map.insert("kid".into(), json!(kid));
            }
            if let Some(alg) = &self.alg {
                map.insert("alg".into(), json!(alg));
            }
        }
        v
    }
}
