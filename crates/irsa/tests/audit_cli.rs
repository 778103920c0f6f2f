//! Durability of the audit trail under `kill -9`, and `irsa audit tail`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Starts `irsa serve` on a free port; returns the child and its address.
fn serve(dir: &Path, extra: &[&str]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            &listen,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap();
    lines.next().unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, listen)
}

/// One unsigned AssumeRoleWithWebIdentity (refused: the token is garbage, but
/// audited all the same); the request id of a complete answer.
fn exchange(addr: &str) -> Option<String> {
    let body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=kill&WebIdentityToken=not.a.token";
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    // Only a whole answer counts: headers and the XML body's end.
    if !response.contains("</ErrorResponse>") {
        return None;
    }
    response.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-amzn-requestid: ")
            .map(|v| v.trim().to_string())
    })
}

#[test]
fn kill_9_under_load_loses_no_event_of_an_answered_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (mut child, addr) = serve(&dir, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (addr, stop) = (addr.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut answered = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Some(id) = exchange(&addr) {
                        answered.push(id);
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let answered: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        answered.len() > 50,
        "only {} answers under load",
        answered.len()
    );

    let key = store::MasterKey::load_or_create(&dir.join("master.key")).unwrap();
    let store = store::SqliteStore::open(&dir, key).unwrap();
    let stored: HashSet<String> = store::Store::events_after(&store, 0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.record).unwrap()["requestID"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let lost: Vec<&String> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered requests have no event: {:?}",
        lost.len(),
        answered.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn audit_tail_and_the_json_lines_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let log = tmp.path().join("audit.jsonl");
    let (mut child, addr) = serve(&dir, &["--audit-log", log.to_str().unwrap()]);
    for _ in 0..3 {
        assert!(exchange(&addr).is_some());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "audit",
            "tail",
            "--data-dir",
            dir.to_str().unwrap(),
            "--failed",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].contains(" 123456789012 sts:AssumeRoleWithWebIdentity ")
            && lines[0].contains(" FAILED InvalidIdentityToken: "),
        "{}",
        lines[0]
    );
    let json = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "audit",
            "tail",
            "--data-dir",
            dir.to_str().unwrap(),
            "--json",
            "--lines",
            "1",
        ])
        .output()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(record["eventName"], "AssumeRoleWithWebIdentity");
    assert_eq!(record["errorCode"], "InvalidIdentityToken");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 3);
    assert!(
        logged
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Off means off.
    let quiet = tmp.path().join("quiet");
    let (mut child, addr) = serve(&quiet, &["--audit", "off"]);
    assert!(exchange(&addr).is_some());
    child.kill().unwrap();
    child.wait().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(["audit", "tail", "--data-dir", quiet.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
}
