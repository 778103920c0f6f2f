//! Any request line, headers and body: reading the SigV4 claim never panics,
//! and a claim read is verified (canonical request, string to sign, scope
//! and time checks) without panicking; a random signature never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Line 1: METHOD PATH?QUERY; then `name: value` headers; a blank line;
    // then the body.
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or((first, "/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let req = sigv4::HttpRequest {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let Ok(claim) = sigv4::read_claim(&req) else {
        return;
    };
    let result = sigv4::verify(&req, &claim, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1_440_938_160);
    // A fuzzer-made signature matching HMAC-SHA256 would be a break of it.
    assert!(result.is_err() || claim.signature.len() == 64);
});
