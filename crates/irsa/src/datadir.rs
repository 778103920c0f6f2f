//! The data dir: master key, SQLite store, and the standard AWS config and
//! credentials files that point the aws CLI and SDKs at irsa.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use store::{MasterKey, SqliteStore, Store};

/// The account a fresh data dir starts with.
pub(crate) const DEFAULT_ACCOUNT: &str = "123456789012";

/// Paths inside a data dir.
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    pub(crate) root: PathBuf,
}

impl DataDir {
    pub(crate) fn new(root: &Path) -> DataDir {
        DataDir {
            root: root.to_path_buf(),
        }
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.root.join("aws").join("config")
    }

    pub(crate) fn credentials(&self) -> PathBuf {
        self.root.join("aws").join("credentials")
    }

    /// Creates the directory (mode 0700) and opens the store, creating the
    /// master key (0600) on first use.
    pub(crate) fn open_store(&self) -> Result<Arc<dyn Store + Send + Sync>, String> {
        create_private_dir(&self.root)?;
        self.check_not_damaged()?;
        let key =
            MasterKey::load_or_create(&self.root.join("master.key")).map_err(|e| e.to_string())?;
        let store = SqliteStore::open(&self.root, key).map_err(|e| e.to_string())?;
        Ok(Arc::new(store))
    }

    /// Another connection to the store, as S3's object index.
    pub(crate) fn open_object_index(
        &self,
    ) -> Result<Arc<dyn store::ObjectIndex + Send + Sync>, String> {
        let key =
            MasterKey::load_or_create(&self.root.join("master.key")).map_err(|e| e.to_string())?;
        let store = SqliteStore::open(&self.root, key).map_err(|e| e.to_string())?;
        Ok(Arc::new(store))
    }

    /// S3 of this data dir: object bytes under `s3/`, the index on a
    /// connection of its own. `bases` are the host names of virtual-hosted
    /// style requests.
    pub(crate) fn open_s3(&self, bases: Vec<String>) -> Result<s3::Service, String> {
        let at = self.root.join("s3");
        s3::Service::open(&at, self.open_object_index()?, bases)
            .map_err(|e| format!("cannot open the S3 store in {}: {e}", at.display()))
    }

    /// A data dir is fresh (no master key, no store) or whole (both). A master
    /// key beside a missing or empty store, or a store without its master key,
    /// is damage: starting anew would overwrite the AWS profiles with a new
    /// admin key and issuer, or seal new secrets with a key the old ones were
    /// not sealed with. Refuse, name what is missing, and touch nothing.
    fn check_not_damaged(&self) -> Result<(), String> {
        let size = |name: &str| {
            std::fs::metadata(self.root.join(name))
                .map(|m| m.len())
                .ok()
        };
        let has_key = size("master.key").is_some();
        // In WAL mode a young store may live wholly in its -wal file.
        let store_bytes = size("irsa.db").unwrap_or(0) + size("irsa.db-wal").unwrap_or(0);
        let root = self.root.display();
        match (has_key, store_bytes > 0) {
            (true, false) => Err(format!(
                "`{root}` is damaged: it has a master key but its store irsa.db is missing or empty. \
                 Restore irsa.db from a backup, or move the whole directory away to start anew; \
                 irsa changed nothing"
            )),
            (false, true) => Err(format!(
                "`{root}` is damaged: its store irsa.db exists but master.key, which sealed the \
                 store's secrets, is missing. Restore master.key from a backup; a new key would \
                 leave every stored secret unreadable. irsa changed nothing"
            )),
            _ => Ok(()),
        }
    }

    /// Takes the data dir for this `irsa serve` alone: two servers on one
    /// data dir would each trust caches and quotas the other changes. The
    /// lock (`serve.lock`, holding the owner's pid) lasts as long as the
    /// returned file is open, and the OS releases it when the process dies.
    pub(crate) fn lock_for_serve(&self) -> Result<std::fs::File, String> {
        create_private_dir(&self.root)?;
        let path = self.root.join("serve.lock");
        let io = |e: std::io::Error| format!("cannot lock `{}`: {e}", path.display());
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                let owner = owner.trim();
                return Err(format!(
                    "another `irsa serve`{} is using the data dir `{}`; stop it, or give this one its own --data-dir",
                    if owner.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {owner})")
                    },
                    self.root.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        use std::io::{Seek, Write};
        file.set_len(0).map_err(io)?;
        file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(file)
    }

    /// Opens the store of an existing data dir (for commands other than serve).
    pub(crate) fn open_existing(&self) -> Result<Arc<dyn Store + Send + Sync>, String> {
        if !self.root.join("irsa.db").exists() {
            return Err(format!(
                "`{}` is not an irsa data dir (no irsa.db); start `irsa serve --data-dir {}` once to create it",
                self.root.display(),
                self.root.display()
            ));
        }
        self.open_store()
    }

    /// The `export` lines that point AWS clients at this data dir's files.
    pub(crate) fn exports(&self) -> String {
        let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p).display().to_string();
        format!(
            "export AWS_CONFIG_FILE={}\nexport AWS_SHARED_CREDENTIALS_FILE={}",
            abs(self.config()),
            abs(self.credentials())
        )
    }
}

fn create_private_dir(path: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))
}

/// An INI file of AWS's shared config format, kept as sections of lines so that
/// what users added by hand survives rewrites.
#[derive(Debug, Default)]
struct Ini {
    sections: Vec<(String, Vec<String>)>,
}

impl Ini {
    fn read(path: &Path) -> Ini {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut ini = Ini::default();
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') && t.ends_with(']') {
                let name = t
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .trim()
                    .to_string();
                ini.sections.push((name, Vec::new()));
            } else if let Some((_, lines)) = ini.sections.last_mut().filter(|_| !t.is_empty()) {
                lines.push(line.to_string());
            }
        }
        ini
    }

    fn has(&self, section: &str) -> bool {
        self.sections.iter().any(|(n, _)| n == section)
    }

    /// Sets `key = value` in `section`, adding either as needed.
    fn set(&mut self, section: &str, key: &str, value: &str) {
        let line = format!("{key} = {value}");
        let lines = match self.sections.iter_mut().find(|(n, _)| n == section) {
            Some((_, lines)) => lines,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                match self.sections.last_mut() {
                    Some((_, lines)) => lines,
                    None => return,
                }
            }
        };
        match lines
            .iter_mut()
            .find(|l| l.split('=').next().map(str::trim) == Some(key))
        {
            Some(existing) => *existing = line,
            None => lines.push(line),
        }
    }

    fn get(&self, section: &str, key: &str) -> Option<String> {
        let (_, lines) = self.sections.iter().find(|(n, _)| n == section)?;
        lines.iter().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    }

    fn write(&self, path: &Path, private: bool) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        let mut text = String::new();
        for (name, lines) in &self.sections {
            text.push_str(&format!("[{name}]\n"));
            for l in lines {
                text.push_str(l);
                text.push('\n');
            }
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(if private { 0o600 } else { 0o644 });
        }
        let io = |e: std::io::Error| format!("cannot write `{}`: {e}", path.display());
        let mut file = options.open(&tmp).map_err(io)?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

fn config_section(profile: &str) -> String {
    if profile == "default" {
        "default".to_string()
    } else {
        format!("profile {profile}")
    }
}

/// Adds (or replaces) a profile with its key, region and endpoint.
pub(crate) fn write_profile(
    dir: &DataDir,
    profile: &str,
    key_id: &str,
    secret: &str,
    endpoint: &str,
) -> Result<(), String> {
    let mut config = Ini::read(&dir.config());
    let section = config_section(profile);
    config.set(&section, "region", "us-east-1");
    config.set(&section, "endpoint_url", endpoint);
    config.write(&dir.config(), false)?;
    let mut creds = Ini::read(&dir.credentials());
    creds.set(profile, "aws_access_key_id", key_id);
    creds.set(profile, "aws_secret_access_key", secret);
    creds.write(&dir.credentials(), true)
}

/// Points every profile of the config at `endpoint` (after `--listen` changed).
pub(crate) fn set_endpoint(dir: &DataDir, endpoint: &str) -> Result<bool, String> {
    let mut config = Ini::read(&dir.config());
    let names: Vec<String> = config.sections.iter().map(|(n, _)| n.clone()).collect();
    let mut changed = false;
    for name in names {
        if config.get(&name, "endpoint_url").as_deref() != Some(endpoint) {
            config.set(&name, "endpoint_url", endpoint);
            changed = true;
        }
    }
    if changed {
        config.write(&dir.config(), false)?;
    }
    Ok(changed)
}

/// The endpoint the default profile points at, if the config exists.
pub(crate) fn endpoint(dir: &DataDir) -> Option<String> {
    Ini::read(&dir.config()).get("default", "endpoint_url")
}

/// Whether `profile` already exists in the credentials file.
pub(crate) fn has_profile(dir: &DataDir, profile: &str) -> bool {
    Ini::read(&dir.credentials()).has(profile)
}
