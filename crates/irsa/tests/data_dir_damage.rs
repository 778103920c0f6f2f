//! Issue 11, findings 9, 10 and 16: a damaged data dir is refused with the
//! file named and nothing changed; two servers never share a data dir.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::irsa;

/// Every file of the data dir that must survive a refused start unchanged.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    [
        "master.key",
        "aws/config",
        "aws/credentials",
        "irsa.db",
        "audit.db",
    ]
    .iter()
    .map(|f| (dir.join(f), std::fs::read(dir.join(f)).ok()))
    .collect()
}

/// A data dir initialised and then stopped cleanly (SIGTERM), so that its
/// databases are checkpointed into their main files.
fn stopped_data_dir(root: &Path) -> PathBuf {
    let dir = root.join("data");
    let mut child = common::serving(&dir);
    std::thread::sleep(std::time::Duration::from_millis(300));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    // Fold each write-ahead log into its database, as a last close does.
    for db in ["irsa.db", "audit.db"] {
        let folded = Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()",
                dir.join(db).to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(folded.success());
        assert!(!dir.join(format!("{db}-wal")).exists(), "{db}-wal is left");
    }
    dir
}

/// `irsa serve` on `dir`: refused, saying `says`, the files as they were.
fn refused(dir: &Path, says: &str) {
    let before = snapshot(dir);
    let out = irsa(&[
        "serve",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {err}");
    assert!(err.contains(says), "wanted `{says}` in: {err}");
    assert!(
        err.contains("changed nothing") || err.contains("left as they are"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "printed exports: {:?}", out.stdout);
    assert_eq!(
        snapshot(dir),
        before,
        "a refused start changed the data dir"
    );
}

#[test]
fn r11_9_an_empty_store_beside_a_master_key_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = stopped_data_dir(tmp.path());
    std::fs::File::create(dir.join("irsa.db")).unwrap();
    refused(&dir, "irsa.db is missing or empty");
    std::fs::remove_file(dir.join("irsa.db")).unwrap();
    refused(&dir, "irsa.db is missing or empty");
}

#[test]
fn r11_9_a_missing_master_key_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = stopped_data_dir(tmp.path());
    std::fs::remove_file(dir.join("master.key")).unwrap();
    refused(
        &dir,
        "master.key, which sealed the store's secrets, is missing",
    );
    assert!(!dir.join("master.key").exists());
    // `irsa account create` refuses the same way.
    let out = irsa(&[
        "account",
        "create",
        "--data-dir",
        dir.to_str().unwrap(),
        "--id",
        "111111111111",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("master.key"));
}

#[test]
fn r11_9_a_store_without_accounts_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = stopped_data_dir(tmp.path());
    // A valid SQLite database with none of irsa's data in place of the store.
    std::fs::remove_file(dir.join("irsa.db")).unwrap();
    let made = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE t(x)'); c.commit(); c.close()",
            dir.join("irsa.db").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let out = irsa(&[
        "serve",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("holds no account"), "{err}");
    let creds = std::fs::read_to_string(dir.join("aws/credentials")).unwrap();
    assert_eq!(creds.matches("aws_access_key_id").count(), 1, "{creds}");
}

#[test]
fn r11_10_a_corrupt_database_is_refused_with_its_name() {
    for file in ["audit.db", "irsa.db"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = stopped_data_dir(tmp.path());
        // Pages after the first overwritten: the header still says SQLite.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join(file))
            .unwrap();
        let len = f.metadata().unwrap().len();
        assert!(len > 4096, "{file} has {len} bytes");
        f.seek(SeekFrom::Start(4096)).unwrap();
        f.write_all(&vec![0xA5; (len - 4096) as usize]).unwrap();
        drop(f);
        refused(&dir, &format!("{file}` is damaged"));
        // Not a database at all.
        std::fs::write(dir.join(file), vec![0x42; 8192]).unwrap();
        refused(&dir, file);
    }
}

#[test]
fn r11_16_two_servers_never_share_a_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut first = common::serving(&dir);
    let out = irsa(&[
        "serve",
        "--data-dir",
        dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "another `irsa serve` (pid {}) is using the data dir",
            first.id()
        )),
        "{err}"
    );
    // Other commands still work beside the server.
    let out = irsa(&[
        "account",
        "create",
        "--data-dir",
        dir.to_str().unwrap(),
        "--id",
        "222222222222",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock dies with its process: a kill -9 leaves no stale lock.
    let mut again = common::serving(&dir);
    again.kill().unwrap();
    again.wait().unwrap();
}
