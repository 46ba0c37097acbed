//! Unpacks a verified release tarball into the tree an image gets under `/usr/local`:
//! `lib/node_modules/<name>/…` (regular files and directories only, modes normalised) with the
//! release's built-in config, and `bin/<command>` symlinks.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use super::{Release, UpstreamError};

/// Limits against a tarball that would fill the disk: entries and bytes unpacked.
const MAX_ENTRIES: usize = 100_000;
const MAX_UNPACKED: u64 = 1 << 30;

/// Unpacks `tarball` (a verified release of `release`) into a fresh `dir/<name>-<version>` and
/// returns that directory; whatever was there before is replaced, nothing half-written stays.
pub fn unpack(release: &Release, tarball: &Path, dir: &Path) -> Result<PathBuf, UpstreamError> {
    let root = dir.join(format!("{}-{}", release.name, release.version));
    std::fs::create_dir_all(dir).map_err(|e| UpstreamError::io("create", dir, e))?;
    let work = tempfile::Builder::new()
        .prefix(".unpacking-")
        .tempdir_in(dir)
        .map_err(|e| UpstreamError::io("create a directory in", dir, e))?;
    let package = work.path().join("lib/node_modules").join(release.name);
    let bad = |message: String| UpstreamError::Unpack {
        path: tarball.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(tarball).map_err(|e| UpstreamError::io("open", tarball, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let (mut entries, mut unpacked) = (0usize, 0u64);
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} entries")));
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let rel = inside_package(&path).ok_or_else(|| {
            bad(format!(
                "the entry `{}` is not a plain path under `package/`",
                path.display()
            ))
        })?;
        let kind = entry.header().entry_type();
        let target = package.join(&rel);
        if kind.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(|e| UpstreamError::io("create", &target, e))?;
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "the entry `{}` is a {kind:?}, not a file or directory",
                path.display()
            )));
        }
        unpacked += entry.size();
        if unpacked > MAX_UNPACKED {
            return Err(bad(format!("it unpacks to more than {MAX_UNPACKED} bytes")));
        }
        let executable = entry.header().mode().map_err(|e| bad(e.to_string()))? & 0o111 != 0;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| UpstreamError::io("create", parent, e))?;
        }
        write(&target, &bytes, if executable { 0o755 } else { 0o644 })?;
    }
    if !package.is_dir() {
        return Err(bad("it holds no `package/` directory".into()));
    }
    write(
        &package.join("npmrc"),
        release.builtin_config.as_bytes(),
        0o644,
    )?;
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| UpstreamError::io("create", &bin, e))?;
    for (command, inside) in release.bins {
        if !package.join(inside).is_file() {
            return Err(bad(format!(
                "the command `{command}` names `{inside}`, which the release does not hold"
            )));
        }
        let link = bin.join(command);
        std::os::unix::fs::symlink(
            Path::new("../lib/node_modules")
                .join(release.name)
                .join(inside),
            &link,
        )
        .map_err(|e| UpstreamError::io("create", &link, e))?;
    }
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| UpstreamError::io("remove", &root, e))?;
    }
    let work = work.keep();
    std::fs::rename(&work, &root).map_err(|e| {
        let _ = std::fs::remove_dir_all(&work);
        UpstreamError::io("move into place", &root, e)
    })?;
    Ok(root)
}

/// `package/lib/cli.js` → `lib/cli.js`; `None` for anything outside `package/` or with `..`.
fn inside_package(path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix("package").ok()?;
    let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && rest.components().next().is_some()).then(|| rest.to_path_buf())
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), UpstreamError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, bytes).map_err(|e| UpstreamError::io("write", path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| UpstreamError::io("set the mode of", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::release::NPM_9_2_0;

    /// A gzipped tar of `(path, mode, bytes)` entries, with raw paths (no checks).
    fn tarball(dir: &Path, entries: &[(&str, u32, &[u8], tar::EntryType)]) -> PathBuf {
        let path = dir.join("t.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(gz);
        for (name, mode, bytes, kind) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(*mode);
            h.set_size(bytes.len() as u64);
            let raw = name.as_bytes();
            h.as_gnu_mut().unwrap().name[..raw.len()].copy_from_slice(raw);
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            h.set_cksum();
            b.append(&h, *bytes).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        path
    }

    const FILE: tar::EntryType = tar::EntryType::Regular;

    #[test]
    fn a_release_unpacks_with_its_config_and_command_links() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let t = tarball(
            tmp.path(),
            &[
                (
                    "package/bin/npm-cli.js",
                    0o777,
                    b"#!/usr/bin/env node\n",
                    FILE,
                ),
                ("package/bin/npx-cli.js", 0o700, b"x", FILE),
                ("package/lib/a.js", 0o666, b"a", FILE),
            ],
        );
        let out = tmp.path().join("out");
        std::fs::create_dir_all(out.join("npm-9.2.0/stale")).unwrap();
        let root = unpack(&NPM_9_2_0, &t, &out).unwrap();
        assert_eq!(root, out.join("npm-9.2.0"));
        assert!(!root.join("stale").exists(), "the old tree is replaced");
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(
            (
                mode("lib/node_modules/npm/bin/npm-cli.js"),
                mode("lib/node_modules/npm/bin/npx-cli.js"),
                mode("lib/node_modules/npm/lib/a.js")
            ),
            (0o755, 0o755, 0o644)
        );
        assert!(
            std::fs::read_to_string(root.join("lib/node_modules/npm/npmrc"))
                .unwrap()
                .contains("prefix=/usr/local")
        );
        assert_eq!(
            std::fs::read_link(root.join("bin/npm")).unwrap(),
            Path::new("../lib/node_modules/npm/bin/npm-cli.js")
        );
        assert_eq!(
            std::fs::read_to_string(root.join("bin/npx")).unwrap(),
            "x",
            "the link resolves inside the tree"
        );
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["npm-9.2.0"], "no work directory is left");
    }

    #[test]
    fn entries_outside_the_package_links_and_missing_commands_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        for (entries, says) in [
            (
                vec![("package/../../etc/x", 0o644, &b"x"[..], FILE)],
                "not a plain path",
            ),
            (vec![("/etc/x", 0o644, &b"x"[..], FILE)], "not a plain path"),
            (
                vec![("other/bin/npm-cli.js", 0o644, &b"x"[..], FILE)],
                "not a plain path",
            ),
            (
                vec![(
                    "package/bin/npm-cli.js",
                    0o777,
                    &b""[..],
                    tar::EntryType::Symlink,
                )],
                "not a file or directory",
            ),
            (
                vec![("package/bin/npm-cli.js", 0o755, &b"x"[..], FILE)],
                "`npx`",
            ),
        ] {
            let t = tarball(tmp.path(), &entries);
            let err = unpack(&NPM_9_2_0, &t, &out).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
            assert!(
                !out.join("npm-9.2.0").exists(),
                "nothing is left for {entries:?}"
            );
            assert_eq!(
                std::fs::read_dir(&out).unwrap().count(),
                0,
                "no work directory is left"
            );
        }
        std::fs::write(tmp.path().join("not.tgz"), b"plain text").unwrap();
        assert!(matches!(
            unpack(&NPM_9_2_0, &tmp.path().join("not.tgz"), &out),
            Err(UpstreamError::Unpack { .. })
        ));
    }
}
