//! Every way a token can be wrong, each forged here and refused with its own
//! error; and the ways a good token verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc::{Jwk, Jwks, KeyMaterial, ServiceAccountToken, SigningKey, TokenError, verify};
use serde_json::{Value, json};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://oidc.example.com/id/ABC";

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "system:serviceaccount:production:s3-app", "aud": ["sts.amazonaws.com"],
           "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 3600})
}

/// A token with any header, payload and signing function.
fn forge(header: Value, payload: Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

fn key() -> SigningKey {
    SigningKey::generate().unwrap()
}

#[test]
fn a_kubelet_style_token_verifies_and_carries_its_claims() {
    let k = key();
    let aud = vec!["sts.amazonaws.com".to_string()];
    let token = k
        .service_account_token(&ServiceAccountToken {
            issuer: ISS,
            namespace: "production",
            service_account: "s3-app",
            audiences: &aud,
            issued_at: NOW,
            expiration_seconds: 86_400,
            pod: Some("s3-reader"),
        })
        .unwrap();
    let c = verify(&token, &[k.jwk()], NOW + 1).unwrap();
    assert_eq!(c.iss, ISS);
    assert_eq!(c.sub, "system:serviceaccount:production:s3-app");
    assert_eq!(c.aud, aud);
    assert_eq!(c.exp, NOW + 86_400);
    assert_eq!(c.payload["kubernetes.io"]["namespace"], "production");
    assert_eq!(
        c.payload["kubernetes.io"]["serviceaccount"]["name"],
        "s3-app"
    );
    assert_eq!(c.payload["kubernetes.io"]["pod"]["name"], "s3-reader");
    assert_eq!(
        c.payload["kubernetes.io"]["serviceaccount"]["uid"]
            .as_str()
            .unwrap()
            .len(),
        36
    );
}

#[test]
fn kid_is_the_base64url_sha256_of_the_spki_and_keys_round_trip() {
    let k = key();
    assert_eq!(k.kid().len(), 43);
    let again = SigningKey::from_pkcs8(&k.to_pkcs8().unwrap()).unwrap();
    assert_eq!(again.kid(), k.kid());
    let set = Jwks {
        keys: vec![k.jwk()],
    };
    assert_eq!(Jwks::parse(&set.to_json()).unwrap(), set);
    assert!(
        k.public_pem()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
}

#[test]
fn wrong_key_with_the_right_kid() {
    let (real, forger) = (key(), key());
    let token = forge(json!({"alg": "RS256", "kid": real.kid()}), claims(), |m| {
        let t = forger
            .sign(
                &serde_json::from_slice(
                    &URL_SAFE_NO_PAD
                        .decode(std::str::from_utf8(m).unwrap().split('.').nth(1).unwrap())
                        .unwrap(),
                )
                .unwrap(),
            )
            .unwrap();
        URL_SAFE_NO_PAD
            .decode(t.split('.').nth(2).unwrap())
            .unwrap()
    });
    assert_eq!(
        verify(&token, &[real.jwk()], NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn alg_none_is_refused() {
    let k = key();
    let token = forge(json!({"alg": "none", "kid": k.kid()}), claims(), |_| {
        Vec::new()
    });
    assert_eq!(
        verify(&token, &[k.jwk()], NOW),
        Err(TokenError::UnsupportedAlgorithm("none".into()))
    );
    let token = forge(json!({"alg": "None"}), claims(), |_| Vec::new());
    assert!(matches!(
        verify(&token, &[k.jwk()], NOW),
        Err(TokenError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let k = key();
    let pem = k.public_pem().unwrap();
    let token = forge(json!({"alg": "HS256", "kid": k.kid()}), claims(), |m| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pem.as_bytes());
        aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
    });
    assert_eq!(
        verify(&token, &[k.jwk()], NOW),
        Err(TokenError::UnsupportedAlgorithm("HS256".into()))
    );
}

#[test]
fn expired_and_not_yet_valid() {
    let k = key();
    let mut c = claims();
    c["exp"] = json!(NOW - 1);
    let token = k.sign(&c).unwrap();
    let e = verify(&token, &[k.jwk()], NOW).unwrap_err();
    assert_eq!(
        e,
        TokenError::Expired {
            now: NOW,
            exp: NOW - 1
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "Token expired: current date/time {NOW} must be before the expiration date/time {}",
            NOW - 1
        )
    );
    let mut c = claims();
    c["nbf"] = json!(NOW + 3600);
    assert!(matches!(
        verify(&k.sign(&c).unwrap(), &[k.jwk()], NOW),
        Err(TokenError::NotYetValid { .. })
    ));
    let mut c = claims();
    c["iat"] = json!(NOW + 3600);
    assert!(matches!(
        verify(&k.sign(&c).unwrap(), &[k.jwk()], NOW),
        Err(TokenError::NotYetValid { .. })
    ));
    // Small skew is fine.
    let mut c = claims();
    c["nbf"] = json!(NOW + 60);
    assert!(verify(&k.sign(&c).unwrap(), &[k.jwk()], NOW).is_ok());
}

#[test]
fn unknown_kid_and_no_matching_key_type() {
    let (k, other) = (key(), key());
    let token = k.sign(&claims()).unwrap();
    assert_eq!(
        verify(&token, &[other.jwk()], NOW),
        Err(TokenError::UnknownKey(Some(k.kid().to_string())))
    );
    assert!(matches!(
        verify(&token, &[], NOW),
        Err(TokenError::UnknownKey(_))
    ));
}

#[test]
fn tampered_payload() {
    let k = key();
    let token = k.sign(&claims()).unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut c = claims();
    c["sub"] = json!("system:serviceaccount:kube-system:admin");
    parts[1] = b64(c.to_string().as_bytes());
    assert_eq!(
        verify(&parts.join("."), &[k.jwk()], NOW),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn garbage_and_malformed_shapes() {
    let k = key();
    let jwk = [k.jwk()];
    for bad in [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        &format!("{}.{}.", b64(b"not json"), b64(b"{}")),
        &format!("{}.{}.", b64(b"[1]"), b64(b"{}")),
        &format!("{}.{}.x", b64(br#"{"alg":"RS256"}"#), b64(b"{}")),
    ] {
        assert!(
            matches!(verify(bad, &jwk, NOW), Err(TokenError::Malformed(_))),
            "{bad}"
        );
    }
    for (field, value) in [
        ("aud", json!(5)),
        ("aud", json!([1])),
        ("exp", json!("soon")),
        ("sub", json!(7)),
        ("iss", Value::Null),
    ] {
        let mut c = claims();
        c[field] = value;
        let token = k.sign(&c).unwrap();
        assert!(
            matches!(verify(&token, &jwk, NOW), Err(TokenError::Malformed(_))),
            "{field}"
        );
    }
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        verify(&k.sign(&c).unwrap(), &jwk, NOW),
        Err(TokenError::Malformed(_))
    ));
    // Padding and the standard alphabet are not base64url.
    let token = k.sign(&claims()).unwrap();
    assert!(matches!(
        verify(&format!("{token}="), &jwk, NOW),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn oversize_tokens() {
    let k = key();
    let mut c = claims();
    c["pad"] = json!("x".repeat(20_000));
    let token = k.sign(&c).unwrap();
    assert!(matches!(
        verify(&token, &[k.jwk()], NOW),
        Err(TokenError::TooLarge(_))
    ));
}

#[test]
fn rs512_and_es256_tokens_of_other_issuers() {
    let rng = SystemRandom::new();
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let comps = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let rsa_jwk = Jwk {
        kid: Some("r".into()),
        alg: None,
        material: KeyMaterial::Rsa {
            n: comps.n,
            e: comps.e,
        },
    };
    let token = forge(json!({"alg": "RS512", "kid": "r"}), claims(), |m| {
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA512, &rng, m, &mut sig)
            .unwrap();
        sig
    });
    assert!(verify(&token, std::slice::from_ref(&rsa_jwk), NOW).is_ok());

    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let ec_jwk = Jwk {
        kid: Some("e".into()),
        alg: Some("ES256".into()),
        material: KeyMaterial::Ec {
            curve: "P-256".into(),
            point: ec.public_key().as_ref().to_vec(),
        },
    };
    let token = forge(json!({"alg": "ES256", "kid": "e"}), claims(), |m| {
        ec.sign(&rng, m).unwrap().as_ref().to_vec()
    });
    assert!(verify(&token, std::slice::from_ref(&ec_jwk), NOW).is_ok());
    // The EC key published in a JWKS round-trips and still verifies.
    let set = Jwks::parse(
        &Jwks {
            keys: vec![ec_jwk.clone()],
        }
        .to_json(),
    )
    .unwrap();
    assert!(verify(&token, &set.keys, NOW).is_ok());
    // An ES256 token is not checked against RSA keys, and the other way round.
    assert!(matches!(
        verify(&token, &[rsa_jwk], NOW),
        Err(TokenError::UnknownKey(_))
    ));
    // A key pinned to another algorithm is not used.
    let mut pinned = ec_jwk;
    pinned.alg = Some("ES384".into());
    assert!(matches!(
        verify(&token, &[pinned], NOW),
        Err(TokenError::UnknownKey(_))
    ));
}

#[test]
fn jwks_skip_keys_that_cannot_sign() {
    let k = key();
    let mut enc = k.jwk().to_json();
    enc["use"] = json!("enc");
    let text = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        enc,
        {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
        k.jwk().to_json(),
    ]})
    .to_string();
    let set = Jwks::parse(&text).unwrap();
    assert_eq!(set.keys.len(), 1);
    assert!(Jwks::parse("{}").is_err());
    assert!(Jwks::parse("not json").is_err());
}

/// An ES256 key and its JWK, for tokens with headers `SigningKey` does not write.
fn ec_signer() -> (EcdsaKeyPair, Jwk) {
    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let jwk = Jwk {
        kid: Some("e".into()),
        alg: Some("ES256".into()),
        material: KeyMaterial::Ec {
            curve: "P-256".into(),
            point: ec.public_key().as_ref().to_vec(),
        },
    };
    (ec, jwk)
}

/// Issue 11, finding 13; RFC 7515 §4.1.11: a JWS whose `crit` names an
/// extension the recipient does not understand is invalid, even with a good
/// signature.
#[test]
fn r11_13_a_crit_header_is_refused_even_when_the_signature_verifies() {
    let rng = SystemRandom::new();
    let (ec, jwk) = ec_signer();
    let sign = |m: &[u8]| ec.sign(&rng, m).unwrap().as_ref().to_vec();
    let plain = forge(json!({"alg": "ES256", "kid": "e"}), claims(), sign);
    assert!(verify(&plain, std::slice::from_ref(&jwk), NOW).is_ok());
    for crit in [json!(["b64"]), json!(["exp", "x"]), json!([]), json!("b64")] {
        let token = forge(
            json!({"alg": "ES256", "kid": "e", "crit": crit, "b64": false}),
            claims(),
            sign,
        );
        let e = verify(&token, std::slice::from_ref(&jwk), NOW).unwrap_err();
        assert!(
            matches!(&e, TokenError::Malformed(m) if m.contains("crit")),
            "{crit}: {e}"
        );
    }
}

/// Issue 11, finding 13: absurd or fractional times are refused, not
/// saturated into a token that verifies for ever.
#[test]
fn r11_13_absurd_times_and_lifetimes_are_refused() {
    let k = key();
    let jwk = [k.jwk()];
    for (field, value) in [
        ("exp", json!(1e300)),
        ("exp", json!(18_446_744_073_709_551_615_u64)),
        ("exp", json!(253_402_300_800_i64)),
        ("exp", json!(-1)),
        ("exp", json!(1_800_003_600.5)),
        ("iat", json!(i64::MIN)),
        ("iat", json!(-1)),
        ("nbf", json!(1e18)),
        ("nbf", json!(NOW as f64 - 10.25)),
    ] {
        let mut c = claims();
        c[field] = value.clone();
        let e = verify(&k.sign(&c).unwrap(), &jwk, NOW).unwrap_err();
        assert!(
            matches!(&e, TokenError::Malformed(m) if m.contains(field)),
            "{field}={value}: {e}"
        );
    }
    // A century-long token: refused, whatever it is measured from.
    let century = NOW + 100 * 365 * 86_400;
    let mut c = claims();
    c["exp"] = json!(century);
    assert_eq!(
        verify(&k.sign(&c).unwrap(), &jwk, NOW),
        Err(TokenError::LifetimeTooLong {
            seconds: century - (NOW - 10)
        })
    );
    let mut c = claims();
    c["exp"] = json!(century);
    c.as_object_mut().unwrap().remove("iat");
    c.as_object_mut().unwrap().remove("nbf");
    assert_eq!(
        verify(&k.sign(&c).unwrap(), &jwk, NOW),
        Err(TokenError::LifetimeTooLong {
            seconds: century - NOW
        })
    );
    // Exactly the limit verifies; one second more does not.
    let mut c = claims();
    c["exp"] = json!(NOW - 10 + oidc::MAX_LIFETIME_SECONDS);
    assert!(verify(&k.sign(&c).unwrap(), &jwk, NOW).is_ok());
    c["exp"] = json!(NOW - 10 + oidc::MAX_LIFETIME_SECONDS + 1);
    assert!(matches!(
        verify(&k.sign(&c).unwrap(), &jwk, NOW),
        Err(TokenError::LifetimeTooLong { .. })
    ));
    // The longest Kubernetes token (one year) and a legacy-free day both verify.
    let mut c = claims();
    c["exp"] = json!(NOW - 10 + 365 * 86_400);
    assert!(verify(&k.sign(&c).unwrap(), &jwk, NOW).is_ok());
}

/// Boundaries and shapes the other tests leave open (found by cargo-mutants):
/// why a time is refused, the exact length and skew limits, `aud` as a string,
/// and the 384-bit algorithms.
#[test]
fn limits_are_exact_and_every_allowed_shape_verifies() {
    let k = key();
    let jwk = [k.jwk()];
    let refused = |field: &str, value: Value| {
        let mut c = claims();
        c[field] = value;
        verify(&k.sign(&c).unwrap(), &jwk, NOW)
            .unwrap_err()
            .to_string()
    };
    assert!(refused("exp", json!(18_446_744_073_709_551_615_u64)).contains("outside"));
    assert!(refused("exp", json!(1_800_003_600.5)).contains("whole number"));
    // `nbf` exactly at the skew limit verifies; one second later does not.
    let mut c = claims();
    c["nbf"] = json!(NOW + oidc::SKEW_SECONDS);
    assert!(verify(&k.sign(&c).unwrap(), &jwk, NOW).is_ok());
    c["nbf"] = json!(NOW + oidc::SKEW_SECONDS + 1);
    assert!(matches!(
        verify(&k.sign(&c).unwrap(), &jwk, NOW),
        Err(TokenError::NotYetValid { .. })
    ));
    // A token of exactly MAX_TOKEN_LENGTH characters is read; one more is not.
    let mut c = claims();
    c["pad"] = json!("");
    let base = k.sign(&c).unwrap().len();
    let mut padded = String::new();
    // Each 3 padding bytes add 4 base64url characters: start just below.
    for n in ((oidc::MAX_TOKEN_LENGTH - base) * 3 / 4).saturating_sub(8).. {
        c["pad"] = json!("x".repeat(n));
        padded = k.sign(&c).unwrap();
        if padded.len() >= oidc::MAX_TOKEN_LENGTH {
            break;
        }
    }
    assert!(base < oidc::MAX_TOKEN_LENGTH);
    let exact = &padded[..oidc::MAX_TOKEN_LENGTH];
    assert!(!matches!(
        verify(exact, &jwk, NOW),
        Err(TokenError::TooLarge(_))
    ));
    let over = format!("{exact}x");
    assert!(matches!(
        verify(&over, &jwk, NOW),
        Err(TokenError::TooLarge(_))
    ));
    // `aud` may be a single string.
    let mut c = claims();
    c["aud"] = json!("sts.amazonaws.com");
    let got = verify(&k.sign(&c).unwrap(), &jwk, NOW).unwrap();
    assert_eq!(got.aud, ["sts.amazonaws.com"]);
    // RS384 and ES384 verify with keys of their kind.
    let rng = SystemRandom::new();
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let comps = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(rsa.public_key());
    let rsa_jwk = Jwk {
        kid: Some("r".into()),
        alg: None,
        material: KeyMaterial::Rsa {
            n: comps.n,
            e: comps.e,
        },
    };
    let token = forge(json!({"alg": "RS384", "kid": "r"}), claims(), |m| {
        let mut sig = vec![0; rsa.public_modulus_len()];
        rsa.sign(&signature::RSA_PKCS1_SHA384, &rng, m, &mut sig)
            .unwrap();
        sig
    });
    assert!(verify(&token, std::slice::from_ref(&rsa_jwk), NOW).is_ok());
    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let ec_jwk = Jwk {
        kid: Some("e".into()),
        alg: None,
        material: KeyMaterial::Ec {
            curve: "P-384".into(),
            point: ec.public_key().as_ref().to_vec(),
        },
    };
    let token = forge(json!({"alg": "ES384", "kid": "e"}), claims(), |m| {
        ec.sign(&rng, m).unwrap().as_ref().to_vec()
    });
    assert!(verify(&token, std::slice::from_ref(&ec_jwk), NOW).is_ok());
}
