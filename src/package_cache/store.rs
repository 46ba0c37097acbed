//! `Store`: the package cache's directory. Each kept file is named by the sha256 of its cache
//! key (authority and path) and has a `.meta` sidecar recording that key, its size and its
//! sha256, so `cache verify` can recheck it and `cache prune` can bound the directory.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Prefix of files being written; a file only gets its final name once complete.
pub(super) const PARTIAL_PREFIX: &str = ".partial-";

/// Suffix of a kept file's sidecar.
const META_SUFFIX: &str = ".meta";

/// The default budget of the directory: 10 GB.
pub const DEFAULT_MAX_SIZE: u64 = 10_000_000_000;

/// What the sidecar of a kept file records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct KeptFile {
    /// The cache key: `deb.debian.org/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb`.
    pub(super) key: String,
    pub(super) size: u64,
    /// Hex sha256 of the bytes.
    pub(super) sha256: String,
}

/// What `cache verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Kept files whose bytes match their record.
    pub good: usize,
    /// Files removed: bytes that do not match, no record, a record without its file.
    pub dropped: Vec<String>,
}

/// What `cache prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub removed: usize,
    pub freed: u64,
    /// Of those, files without a record (kept by an older ferrostack), which cannot be verified.
    pub unrecorded: usize,
    /// Files and bytes left.
    pub kept: usize,
    pub kept_bytes: u64,
}

/// The package cache's directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store at `dir` (created when absent).
    pub fn open(dir: &Path) -> Result<Store> {
        fs::create_dir_all(dir).map_err(|e| Error::io("create the package cache", dir, e))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the partial files a killed run left behind.
    pub(super) fn remove_partials(&self) -> Result<()> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| Error::io("read the package cache", &self.dir, e))?;
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(PARTIAL_PREFIX)
            {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Where the file of `key` lives.
    pub(super) fn path(&self, key: &str) -> PathBuf {
        self.dir.join(hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// A new partial file in the directory.
    pub(super) fn partial(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(PARTIAL_PREFIX)
            .tempfile_in(&self.dir)
    }

    /// The kept file of `key` and its record, when both exist; marks it used (for pruning).
    pub(super) fn lookup(&self, key: &str) -> Option<(PathBuf, KeptFile)> {
        let path = self.path(key);
        let meta = read_meta(&meta_path(&path)).ok()?;
        if meta.key != key {
            return None;
        }
        let file = File::options().append(true).open(&path).ok()?;
        let _ = file.set_modified(SystemTime::now());
        Some((path, meta))
    }

    /// Gives a complete, verified partial file its name: the file is synced, then its record
    /// is written (synced, renamed), then the file is renamed into place.
    pub(super) fn keep(
        &self,
        partial: tempfile::NamedTempFile,
        record: &KeptFile,
    ) -> io::Result<PathBuf> {
        partial.as_file().sync_all()?;
        let path = self.path(&record.key);
        let mut meta = self.partial()?;
        meta.write_all(
            serde_json::to_string(record)
                .expect("a record serialises")
                .as_bytes(),
        )?;
        meta.as_file().sync_all()?;
        meta.persist(meta_path(&path)).map_err(|e| e.error)?;
        partial.persist(&path).map_err(|e| e.error)?;
        Ok(path)
    }

    /// Rechecks every kept file against its record and drops the bad ones.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        for entry in self.entries()? {
            let good = match &entry.meta {
                Some(meta) => sha256_of(&entry.path)
                    .is_ok_and(|(size, hash)| size == meta.size && hash == meta.sha256),
                None => false,
            };
            if good {
                report.good += 1;
            } else {
                self.remove(&entry)?;
                report.dropped.push(
                    entry
                        .meta
                        .map_or_else(|| entry.path.display().to_string(), |m| m.key),
                );
            }
        }
        report.dropped.sort();
        Ok(report)
    }

    /// Removes files unused for longer than `older_than`, then the least recently used ones
    /// until the directory holds at most `max_size` bytes.
    pub fn prune(&self, max_size: u64, older_than: Option<Duration>) -> Result<PruneReport> {
        let mut entries = self.entries()?;
        entries.sort_by_key(|e| e.used);
        let now = SystemTime::now();
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        let mut report = PruneReport::default();
        for entry in entries {
            let stale = older_than
                .is_some_and(|age| now.duration_since(entry.used).unwrap_or_default() > age);
            if stale || total > max_size || entry.meta.is_none() {
                self.remove(&entry)?;
                total -= entry.bytes;
                report.unrecorded += usize::from(entry.meta.is_none());
                report.removed += 1;
                report.freed += entry.bytes;
            } else {
                report.kept += 1;
            }
        }
        report.kept_bytes = total;
        Ok(report)
    }

    /// Every kept file (with or without record), and records without a file.
    fn entries(&self) -> Result<Vec<Entry>> {
        let read = fs::read_dir(&self.dir)
            .map_err(|e| Error::io("read the package cache", &self.dir, e))?;
        let mut entries = Vec::new();
        for item in read {
            let item = item.map_err(|e| Error::io("read the package cache", &self.dir, e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = item.path();
            let (path, has_file) = match name.strip_suffix(META_SUFFIX) {
                Some(data) if self.dir.join(data).exists() => continue,
                Some(data) => (self.dir.join(data), false),
                None => (path, true),
            };
            let meta_file = meta_path(&path);
            let meta = if has_file {
                read_meta(&meta_file).ok()
            } else {
                None
            };
            let stat = |p: &Path| fs::metadata(p).ok();
            let bytes = [&path, &meta_file]
                .iter()
                .filter_map(|p| stat(p))
                .map(|m| m.len())
                .sum();
            let used = stat(&path)
                .or_else(|| stat(&meta_file))
                .and_then(|m| m.modified().ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push(Entry {
                path,
                meta,
                bytes,
                used,
            });
        }
        Ok(entries)
    }

    fn remove(&self, entry: &Entry) -> Result<()> {
        for path in [entry.path.clone(), meta_path(&entry.path)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove from the package cache", path, e)),
            }
        }
        Ok(())
    }
}

/// One kept file as found on disk.
struct Entry {
    path: PathBuf,
    meta: Option<KeptFile>,
    /// File and record.
    bytes: u64,
    /// Last served or written.
    used: SystemTime,
}

fn meta_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(META_SUFFIX);
    PathBuf::from(name)
}

fn read_meta(path: &Path) -> io::Result<KeptFile> {
    serde_json::from_slice(&fs::read(path)?).map_err(io::Error::other)
}

/// The size and hex sha256 of a file.
fn sha256_of(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((size, hex::encode(hasher.finalize())));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(store: &Store, key: &str, bytes: &[u8]) -> PathBuf {
        let mut partial = store.partial().unwrap();
        partial.write_all(bytes).unwrap();
        let record = KeptFile {
            key: key.into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        };
        store.keep(partial, &record).unwrap()
    }

    #[test]
    fn verify_drops_changed_and_unrecorded_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        put(&store, "h/pool/good.deb", b"good");
        let bad = put(&store, "h/pool/bad.deb", b"bad");
        fs::write(&bad, b"changed on disk").unwrap();
        fs::write(dir.path().join("0123"), b"left by an older ferrostack").unwrap();
        assert_eq!(
            store.lookup("h/pool/good.deb").map(|(p, m)| (p, m.size)),
            Some((store.path("h/pool/good.deb"), 4))
        );
        assert_eq!(store.lookup("h/pool/other.deb"), None);
        let report = store.verify().unwrap();
        assert_eq!(report.good, 1);
        assert_eq!(report.dropped.len(), 2, "{report:?}");
        assert!(report.dropped.contains(&"h/pool/bad.deb".to_string()));
        assert_eq!(store.lookup("h/pool/bad.deb"), None);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2, "the good file and its record: {left:?}");
    }

    #[test]
    fn prune_removes_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let old = put(&store, "h/old.deb", &[1; 1000]);
        put(&store, "h/new.deb", &[2; 1000]);
        let long_ago = SystemTime::now() - Duration::from_secs(40 * 86400);
        File::options()
            .append(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let report = store
            .prune(u64::MAX, Some(Duration::from_secs(30 * 86400)))
            .unwrap();
        assert_eq!((report.removed, report.kept), (1, 1));
        assert_eq!(store.lookup("h/old.deb"), None);
        put(&store, "h/newer.deb", &[3; 1000]);
        // Make `new` the least recently used, then bound to one file.
        File::options()
            .append(true)
            .open(store.path("h/new.deb"))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let report = store.prune(1500, None).unwrap();
        assert_eq!((report.removed, report.kept), (1, 1), "{report:?}");
        assert!(store.lookup("h/newer.deb").is_some());
        assert!(report.kept_bytes <= 1500);
        assert_eq!(report.unrecorded, 0);
        // A file an older ferrostack kept has no record: removed, and counted as such.
        std::fs::write(dir.path().join("0123abcd"), b"old format").unwrap();
        let report = store.prune(u64::MAX, None).unwrap();
        assert_eq!(
            (report.removed, report.unrecorded, report.kept),
            (1, 1, 1),
            "{report:?}"
        );
    }
}
