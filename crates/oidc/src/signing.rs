//! The signing side of a local cluster: an RSA-2048 key, its JWK, and
//! ServiceAccount tokens with the claims a kubelet-projected token carries.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::json;

use crate::b64;
use crate::jwk::{Jwk, KeyMaterial};

/// A cluster's token signing key.
pub struct SigningKey {
    pair: RsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

/// What to put in a ServiceAccount token.
#[derive(Debug, Clone)]
pub struct ServiceAccountToken<'a> {
    /// The issuer URL.
    pub issuer: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// ServiceAccount name.
    pub service_account: &'a str,
    /// Audiences.
    pub audiences: &'a [String],
    /// Issue time, seconds since the epoch.
    pub issued_at: i64,
    /// Lifetime in seconds.
    pub expiration_seconds: i64,
    /// The pod the token is bound to, if any.
    pub pod: Option<&'a str>,
}

/// The JWK of an RSA public key in PEM (`BEGIN PUBLIC KEY` or `BEGIN RSA
/// PUBLIC KEY`), with the `kid` Kubernetes computes from its SubjectPublicKeyInfo.
pub fn public_jwk_from_pem(pem: &str) -> Result<Jwk, String> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body)
        .map_err(|_| "the public key is not PEM".to_string())?;
    let key = aws_lc_rs::rsa::PublicKey::from_der(&der)
        .map_err(|_| "not an RSA public key".to_string())?;
    let spki: PublicKeyX509Der<'_> = key
        .as_der()
        .map_err(|_| "cannot encode the public key".to_string())?;
    let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(&key);
    Ok(Jwk {
        kid: Some(b64::encode(digest(&SHA256, spki.as_ref()).as_ref())),
        alg: Some("RS256".into()),
        material: KeyMaterial::Rsa {
            n: components.n,
            e: components.e,
        },
    })
}

/// A random UUID v4, lowercase (the uids a kubelet token carries; AWS's
/// request ids have the same form).
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    uuid(b, 0x40)
}

/// A random UUID version 7 (RFC 9562): the first 48 bits are `unix_ms`, so
/// ids made later sort later (an index over them grows at its end).
pub fn uuid_v7(unix_ms: u64) -> String {
    let mut b = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut b);
    for (dst, src) in b.iter_mut().zip(unix_ms.to_be_bytes().into_iter().skip(2)) {
        *dst = src;
    }
    uuid(b, 0x70)
}

/// `8-4-4-4-12` lowercase hex with the version nibble and RFC 4122 variant.
fn uuid(b: [u8; 16], version: u8) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hex = |n: u8| char::from(HEX.get(usize::from(n & 0x0f)).copied().unwrap_or(b'0'));
    let mut out = String::with_capacity(36);
    for (i, x) in b.into_iter().enumerate() {
        let x = match i {
            6 => (x & 0x0f) | version,
            8 => (x & 0x3f) | 0x80,
            _ => x,
        };
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(hex(x >> 4));
        out.push(hex(x));
    }
    out
}

impl SigningKey {
    /// A new RSA-2048 key.
    pub fn generate() -> Result<SigningKey, String> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| "RSA key generation failed".to_string())?;
        SigningKey::from_pair(pair)
    }

    /// A key from its PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        let pair =
            RsaKeyPair::from_pkcs8(der).map_err(|e| format!("not an RSA PKCS#8 key: {e}"))?;
        SigningKey::from_pair(pair)
    }

    fn from_pair(pair: RsaKeyPair) -> Result<SigningKey, String> {
        let spki: PublicKeyX509Der<'_> = pair
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the public key".to_string())?;
        // Kubernetes' key id: base64url(SHA-256(DER of the SubjectPublicKeyInfo)).
        let kid = b64::encode(digest(&SHA256, spki.as_ref()).as_ref());
        Ok(SigningKey { pair, kid })
    }

    /// PKCS#8 DER of the private key (to store, sealed).
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, String> {
        let der: Pkcs8V1Der<'_> = self
            .pair
            .as_der()
            .map_err(|_| "cannot encode the key".to_string())?;
        Ok(der.as_ref().to_vec())
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// PEM of the public key (SubjectPublicKeyInfo), as `sa.pub` files hold it.
    pub fn public_pem(&self) -> Result<String, String> {
        let spki: PublicKeyX509Der<'_> = self
            .pair
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the public key".to_string())?;
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, spki.as_ref());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Ok(pem)
    }

    /// The public JWK (RS256, use sig).
    pub fn jwk(&self) -> Jwk {
        let public = self.pair.public_key();
        let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(public);
        Jwk {
            kid: Some(self.kid.clone()),
            alg: Some("RS256".into()),
            material: KeyMaterial::Rsa {
                n: components.n,
                e: components.e,
            },
        }
    }

    /// Signs a JSON payload as an RS256 JWT with this key's `kid`.
    pub fn sign(&self, payload: &serde_json::Value) -> Result<String, String> {
        let header = json!({"alg": "RS256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64::encode(header.to_string().as_bytes()),
            b64::encode(payload.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| "signing failed".to_string())?;
        Ok(format!("{input}.{}", b64::encode(&sig)))
    }

    /// A ServiceAccount token as the kubelet projects it.
    pub fn service_account_token(&self, t: &ServiceAccountToken<'_>) -> Result<String, String> {
        let mut k8s = json!({
            "namespace": t.namespace,
            "serviceaccount": {"name": t.service_account, "uid": uuid_v4()},
        });
        if let (Some(pod), Some(map)) = (t.pod, k8s.as_object_mut()) {
            map.insert("pod".into(), json!({"name": pod, "uid": uuid_v4()}));
        }
        let payload = json!({
            "aud": t.audiences,
            "exp": t.issued_at + t.expiration_seconds,
            "iat": t.issued_at,
            "iss": t.issuer,
            "jti": uuid_v4(),
            "kubernetes.io": k8s,
            "nbf": t.issued_at,
            "sub": format!("system:serviceaccount:{}:{}", t.namespace, t.service_account),
        });
        self.sign(&payload)
    }
}

#[cfg(test)]
mod uuid_tests {
    use super::*;

    #[test]
    fn uuid_layouts() {
        let v4 = uuid_v4();
        assert_eq!(v4.len(), 36);
        assert_eq!(&v4[14..15], "4");
        assert!(matches!(&v4[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(
            v4.match_indices('-').map(|(i, _)| i).collect::<Vec<_>>(),
            [8, 13, 18, 23]
        );
        let a = uuid_v7(1_764_000_000_000);
        let b = uuid_v7(1_764_000_000_001);
        assert_eq!(&a[14..15], "7");
        assert_eq!(&a[..13], "019ab697-e800");
        assert!(a < b, "later ids sort later: {a} {b}");
        assert_ne!(uuid_v7(5), uuid_v7(5));
    }
}
