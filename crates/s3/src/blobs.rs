//! Object bytes on disk: each object or part is a blob, a file named by a
//! random id under `DIR/blobs/XX/`, written under `DIR/tmp/` and renamed
//! into place only once its bytes are on disk (`fsync` of the file and of
//! both directories). A key never becomes a path; a crash mid-write leaves
//! only a file in `tmp/`, removed at the next start.
//!
//! The blob store is the seam for a shared backend (replicas): it is named
//! by ids the metadata holds, written once, never modified, so any store
//! of immutable named files (a shared directory, an S3-compatible service)
//! can take its place.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncWriteExt, BufWriter};

/// The blob store of a data dir.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

/// A blob being written; removed unless committed.
#[derive(Debug)]
pub struct BlobWriter {
    file: Option<BufWriter<tokio::fs::File>>,
    tmp: PathBuf,
    id: String,
}

fn random_id() -> io::Result<String> {
    let bytes: [u8; 16] = store::random_bytes().map_err(|e| io::Error::other(e.to_string()))?;
    Ok(crate::checksum::hex(&bytes))
}

fn is_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Blobs {
    /// Opens (creating) the blob store under `root`, removing what a crash
    /// left half-written.
    pub fn open(root: &Path) -> io::Result<Blobs> {
        for dir in [root.to_path_buf(), root.join("blobs"), root.join("tmp")] {
            std::fs::create_dir_all(&dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(Blobs {
            root: root.to_path_buf(),
        })
    }

    /// Removes what interrupted writes left in `tmp/`. Only for the one
    /// server writing here, at its start: another process's upload in
    /// progress would lose its file.
    pub fn clear_tmp(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(self.root.join("tmp"))? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(())
    }

    fn path(&self, id: &str) -> io::Result<PathBuf> {
        if !is_id(id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a blob id"));
        }
        Ok(self
            .root
            .join("blobs")
            .join(id.get(..2).unwrap_or_default())
            .join(id))
    }

    /// Starts a new blob.
    pub async fn create(&self) -> io::Result<BlobWriter> {
        let id = random_id()?;
        let tmp = self.root.join("tmp").join(&id);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(256 * 1024, file)),
            tmp,
            id,
        })
    }

    /// Makes a written blob durable and visible; returns its id.
    pub async fn commit(&self, mut w: BlobWriter) -> io::Result<String> {
        let mut file = w
            .file
            .take()
            .ok_or_else(|| io::Error::other("blob already committed"))?;
        file.flush().await?;
        let file = file.into_inner();
        file.sync_all().await?;
        drop(file);
        let dest = self.path(&w.id)?;
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let tmp = w.tmp.clone();
        // The new name is made durable; the old one in tmp/ need not be (if
        // it comes back after a crash, the start removes it).
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let created = !dir.exists();
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(&tmp, &dest)?;
            sync_dir(&dir)?;
            if created && let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        })
        .await
        .map_err(io::Error::other)??;
        Ok(std::mem::take(&mut w.id))
    }

    /// Opens a blob for reading.
    pub async fn open_read(&self, id: &str) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(id)?).await
    }

    /// `len` bytes of a blob from `start`, read on the calling thread: for
    /// small reads, like the index's own reads, a hand-off to the blocking
    /// pool costs more than the read.
    pub fn read(&self, id: &str, start: u64, len: u64) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let mut file = std::fs::File::open(self.path(id)?)?;
        file.seek(io::SeekFrom::Start(start))?;
        let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
        file.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Removes a blob nobody refers to (gone already is fine).
    pub async fn remove(&self, id: &str) {
        if let Ok(path) = self.path(id) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(blob = id, error = %e, "an unused blob could not be removed")
                }
            }
        }
    }

    /// Every blob id on disk.
    pub fn ids(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(self.root.join("blobs"))? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path())? {
                if let Some(name) = f?.file_name().to_str().filter(|n| is_id(n)) {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }
}

impl BlobWriter {
    /// Appends bytes.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.write_all(data).await,
            None => Err(io::Error::other("blob already committed")),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_committed_blob_is_readable_and_an_abandoned_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let mut w = blobs.create().await.unwrap();
        w.write(b"hello ").await.unwrap();
        w.write(b"world").await.unwrap();
        let id = blobs.commit(w).await.unwrap();
        let mut text = String::new();
        use tokio::io::AsyncReadExt;
        blobs
            .open_read(&id)
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "hello world");
        assert_eq!(blobs.read(&id, 6, 5).unwrap(), b"world");
        assert_eq!(blobs.read(&id, 0, 0).unwrap(), b"");
        // Past the end is an error, never short data.
        assert!(blobs.read(&id, 6, 6).is_err());
        assert!(blobs.read("../../etc/passwd", 0, 1).is_err());
        assert_eq!(blobs.ids().unwrap(), vec![id.clone()]);

        let mut w = blobs.create().await.unwrap();
        w.write(b"half").await.unwrap();
        drop(w);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );

        blobs.remove(&id).await;
        blobs.remove(&id).await;
        assert!(blobs.ids().unwrap().is_empty());
        // Ids that are not ours never become paths.
        assert!(blobs.open_read("../../etc/passwd").await.is_err());
    }

    #[test]
    fn clearing_tmp_removes_what_a_crash_left_half_written_and_opening_does_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("tmp").join("partial"), b"x").unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            1
        );
        blobs.clear_tmp().unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
