//! Secrets at rest: AES-256-GCM under a master key kept in a 0600 file.
//!
//! A sealed value is `v1` ‖ 12-byte random nonce ‖ ciphertext+tag. The version
//! byte lets keys rotate later without guessing.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::StoreError;

const VERSION: &[u8; 2] = b"v1";

/// The key that seals secrets at rest.
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Fills a buffer from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Backend(format!("random source: {e}")))?;
    Ok(buf)
}

impl MasterKey {
    /// Reads the key at `path`, creating it (32 random bytes, mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, StoreError> {
        let io = |e: std::io::Error| {
            StoreError::Backend(format!("master key `{}`: {e}", path.display()))
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = random_bytes()?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path).map_err(io)?;
                file.write_all(&key).map_err(io)?;
                file.sync_all().map_err(io)?;
                key.to_vec()
            }
            Err(e) => return Err(io(e)),
        };
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| {
            StoreError::Backend(format!(
                "master key `{}` must hold exactly 32 bytes, found {}",
                path.display(),
                bytes.len()
            ))
        })?;
        Ok(MasterKey { cipher })
    }

    /// Seals `plain`.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce: [u8; 12] = random_bytes()?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|_| StoreError::Backend("sealing failed".into()))?;
        let mut out = Vec::with_capacity(2 + 12 + sealed.len());
        out.extend_from_slice(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed value; fails if it was tampered with or sealed by another key.
    pub fn unseal(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let bad =
            || StoreError::Backend("a sealed secret does not open with this master key".into());
        let rest = sealed.strip_prefix(VERSION.as_slice()).ok_or_else(bad)?;
        if rest.len() < 12 {
            return Err(bad());
        }
        let (nonce, ciphertext) = rest.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let key = MasterKey::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let sealed = key.seal(b"secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.unseal(&sealed).unwrap(), b"secret");
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(again.unseal(&sealed).unwrap(), b"secret");
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(key.unseal(&tampered).is_err());
        let other = MasterKey::load_or_create(&dir.path().join("other.key")).unwrap();
        assert!(other.unseal(&sealed).is_err());
        std::fs::write(dir.path().join("short.key"), b"abc").unwrap();
        assert!(MasterKey::load_or_create(&dir.path().join("short.key")).is_err());
    }
}
