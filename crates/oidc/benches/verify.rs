//! Verifying a kubelet-style RS256 ServiceAccount token (what every
//! AssumeRoleWithWebIdentity does). Run: `cargo bench -p oidc --bench verify`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use oidc::{ServiceAccountToken, SigningKey, verify};

fn bench(c: &mut Criterion) {
    let key = SigningKey::generate().unwrap();
    let aud = ["sts.amazonaws.com".to_string()];
    let now = 1_800_000_000;
    let token = key
        .service_account_token(&ServiceAccountToken {
            issuer: "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            namespace: "production",
            service_account: "s3-app",
            audiences: &aud,
            issued_at: now,
            expiration_seconds: 86_400,
            pod: Some("s3-reader"),
        })
        .unwrap();
    let keys = [key.jwk()];
    c.bench_function("verify RS256 ServiceAccount token", |b| {
        b.iter(|| verify(black_box(&token), black_box(&keys), now + 1).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
