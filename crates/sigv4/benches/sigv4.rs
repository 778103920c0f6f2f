//! Verifying a signed IAM request (what the server does on every call).
//! Run: `cargo bench -p sigv4 --bench sigv4`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sigv4::{HttpRequest, read_claim, sign, verify};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_440_938_160;

fn bench(c: &mut Criterion) {
    let body = b"Action=GetRole&Version=2010-05-08&RoleName=s3-app-role";
    let base = [
        ("host", "127.0.0.1:4599"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        (
            "user-agent",
            "aws-cli/1.46.3 md/Botocore#1.44.8 ua/2.1 os/linux",
        ),
    ];
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: &base,
        body,
    };
    let added = sign(&req, "AKIDEXAMPLE", SECRET, None, "us-east-1", "iam", NOW);
    let mut headers: Vec<(&str, &str)> = base.to_vec();
    headers.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let signed = HttpRequest {
        headers: &headers,
        ..req
    };
    c.bench_function("read_claim + verify (signed IAM POST)", |b| {
        b.iter(|| {
            let claim = read_claim(black_box(&signed)).unwrap();
            verify(black_box(&signed), &claim, SECRET, NOW).unwrap();
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
