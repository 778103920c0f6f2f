//! Running the built `irsa` binary in tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `irsa ARGS…` to completion.
pub fn irsa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args(args)
        .output()
        .unwrap()
}

/// Starts `irsa serve` on `dir` (a free port) and returns it once it printed
/// its two `export` lines.
pub fn serving(dir: &Path) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_irsa"))
        .args([
            "serve",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("export AWS_CONFIG_FILE=")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("export AWS_SHARED_CREDENTIALS_FILE=")
    );
    child
}

/// Initialises a data dir the way users do: `irsa serve` until it printed its
/// two `export` lines, then stopped.
pub fn initialised(dir: &Path) {
    let mut child = serving(dir);
    child.kill().unwrap();
    child.wait().unwrap();
}
