//! AWS's SigV4 test suite, reproduced under `tests/vectors/` (see its README):
//! for every case, the canonical request, the string to sign and the
//! Authorization header must come out byte for byte, and the signed request must
//! verify — and fail once tampered with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use sigv4::{
    HttpRequest, Scope, canonical_request, parse_amz_date, read_claim, sha256_hex, signature,
    string_to_sign, verify,
};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_440_938_160; // 20150830T123600Z

/// Cases whose published `.sts`/`.authz` were computed without the
/// Content-Length header their `.req`/`.creq` hold (an inconsistency of that
/// release of the suite, see the vectors' README): only the canonical request is
/// compared.
const CREQ_ONLY: &[&str] = &[
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
];

struct Raw {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads a `.req` file; an indented line continues the previous header's
/// value as another value (obsolete line folding).
fn read_req(text: &str) -> Raw {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b.as_bytes().to_vec()),
        None => (text, Vec::new()),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let method = request_line.split(' ').next().unwrap().to_string();
    let target = request_line
        .strip_prefix(&format!("{method} "))
        .unwrap()
        .strip_suffix(" HTTP/1.1")
        .unwrap();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let name = headers.last().unwrap().0.clone();
            headers.push((name, line.trim().to_string()));
        } else {
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.to_string(), v.to_string()));
        }
    }
    Raw {
        method,
        path,
        query,
        headers,
        body,
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap().to_str().unwrap().to_string();
                if path.join(format!("{name}.req")).exists() {
                    out.push(path.clone());
                }
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

fn file(dir: &Path, ext: &str) -> String {
    let name = dir.file_name().unwrap().to_str().unwrap();
    std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap()
}

#[test]
fn every_case_of_the_aws_suite() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases found", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let raw = read_req(&file(dir, "req"));
        let headers: Vec<(&str, &str)> = raw
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = HttpRequest {
            method: &raw.method,
            path: &raw.path,
            query: &raw.query,
            headers: &headers,
            body: &raw.body,
        };
        let creq_expected = file(dir, "creq");
        let signed: Vec<String> = creq_expected
            .lines()
            .rev()
            .nth(1)
            .unwrap()
            .split(';')
            .map(str::to_string)
            .collect();
        let creq = canonical_request(&req, &signed, &sha256_hex(&raw.body), false);
        if creq != creq_expected {
            failures.push(format!(
                "{name}: canonical request\n--- got\n{creq}\n--- want\n{creq_expected}"
            ));
            continue;
        }
        if CREQ_ONLY.contains(&name.as_str()) {
            continue;
        }
        let scope = Scope {
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "service".into(),
        };
        let date = parse_amz_date("20150830T123600Z").unwrap();
        let sts = string_to_sign(&date, &scope, &creq);
        if sts != file(dir, "sts") {
            failures.push(format!("{name}: string to sign"));
            continue;
        }
        let authz = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}, SignedHeaders={}, Signature={}",
            scope.to_path(),
            signed.join(";"),
            signature(SECRET, &scope, &sts)
        );
        if authz != file(dir, "authz") {
            failures.push(format!(
                "{name}: authorization\n got {authz}\nwant {}",
                file(dir, "authz")
            ));
            continue;
        }
        // The signed request verifies, and a wrong secret or changed body does not.
        let mut with_auth = headers.clone();
        with_auth.push(("Authorization", authz.as_str()));
        let signed_req = HttpRequest {
            headers: &with_auth,
            ..req
        };
        let claim = read_claim(&signed_req).unwrap();
        if let Err(e) = verify(&signed_req, &claim, SECRET, NOW) {
            failures.push(format!("{name}: verify: {e}"));
        }
        assert!(
            verify(&signed_req, &claim, "not-the-secret", NOW).is_err(),
            "{name}"
        );
        let tampered = HttpRequest {
            method: if raw.method == "GET" { "POST" } else { "GET" },
            ..signed_req
        };
        assert!(verify(&tampered, &claim, SECRET, NOW).is_err(), "{name}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
