//! `images.lock`: what was built, deterministic, written atomically under a file lock.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Version of the lock's format.
pub const LOCK_VERSION: u32 = 1;

/// The whole lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    #[serde(default)]
    pub stacks: BTreeMap<String, LockEntry>,
}

/// One stack's record. Nothing machine-specific (no local image IDs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// Content hash, `sha256:<hex>`.
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Digest of each input, so `plan` can say why a stack rebuilds.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Debian package versions to install (`ferrostack update` writes them; hashed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pins: BTreeMap<String, String>,
    /// Debian package versions found in the built image (recorded by `build`; not hashed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packages: BTreeMap<String, String>,
    /// Runtime versions reported by the built image.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtimes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u32>,
}

impl Lockfile {
    /// Reads the lock; a missing file is `None`.
    pub fn read(path: &Path) -> Result<Option<Lockfile>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let lock: Lockfile = toml::from_str(&text).map_err(|e| Error::LockParse { path: path.to_path_buf(), message: e.message().trim().to_string() })?;
        if lock.version != LOCK_VERSION {
            return Err(Error::LockParse { path: path.to_path_buf(), message: format!("version {} is not the supported version {LOCK_VERSION}", lock.version) });
        }
        Ok(Some(lock))
    }

    /// The lock as text: sorted and stable.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("a lock always serialises");
        format!("# images.lock: written by ferrostack; do not edit by hand.\n{body}")
    }

    /// Writes the lock to a temporary file beside `path`, syncs it and renames it over `path`,
    /// so a reader (or a crash) never sees half a file.
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".images.lock.")
            .tempfile_in(dir)
            .map_err(|e| Error::io("create a temporary file in", dir, e))?;
        tmp.write_all(self.to_text().as_bytes()).map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
        tmp.as_file().sync_all().map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
        tmp.persist(path).map_err(|e| Error::io("replace", path, e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Exclusive access to a project's lock for one process; released on drop.
#[derive(Debug)]
pub struct LockGuard {
    file: std::fs::File,
    pub path: PathBuf,
}

impl LockGuard {
    /// Takes the guard at `path`. With `wait`, blocks until the holder finishes; otherwise a
    /// held guard is `LockBusy`.
    pub fn acquire(path: &Path, wait: bool) -> Result<LockGuard> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        if wait {
            file.lock().map_err(|e| Error::io("lock", path, e))?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::LockBusy { path: path.to_path_buf() }),
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
            }
        }
        Ok(LockGuard { file, path: path.to_path_buf() })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
