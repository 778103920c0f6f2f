//! Any token text: parsing never panics, and verification with real keys
//! (RSA and EC) refuses everything the fuzzer makes; any JWKS text parses or
//! is refused without panicking.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static KEYS: LazyLock<Vec<oidc::Jwk>> = LazyLock::new(|| {
    let key = oidc::SigningKey::generate().expect("key");
    vec![key.jwk()]
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = oidc::Unverified::parse(text);
    assert!(
        oidc::verify(text, &KEYS, 1_800_000_000).is_err(),
        "a token made without the private key verified"
    );
    let _ = oidc::Jwks::parse(text);
});
