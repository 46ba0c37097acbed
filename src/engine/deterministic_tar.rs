//! `DeterministicTar`: writes tar archives whose bytes depend only on file contents and
//! metadata that matters (mode, owner, link targets, device numbers), never on the order a
//! directory happens to list or on when files were written.
//!
//! Rules: entries sorted by path bytes; every mtime clamped to `SOURCE_DATE_EPOCH` (tar's
//! `--clamp-mtime`); numeric owners only (no user/group names); hard links kept as links to the
//! first path in that order; sockets skipped (tar cannot hold them). File data is streamed, never
//! loaded whole.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::error::{EngineError, Result};

/// Reads `SOURCE_DATE_EPOCH`, defaulting to 0 (1970-01-01) when unset or empty.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| EngineError::SourceDateEpoch { value }),
        _ => Ok(0),
    }
}

/// A tar writer that produces the same bytes for the same tree.
pub struct DeterministicTar<W: Write> {
    builder: tar::Builder<W>,
    clamp: u64,
    /// First archived path of each multiply-linked inode, keyed by (device, inode).
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> DeterministicTar<W> {
    /// A writer into `out` that clamps every mtime to `clamp` seconds since the epoch.
    pub fn new(out: W, clamp: u64) -> Self {
        DeterministicTar {
            builder: tar::Builder::new(out),
            clamp,
            links: HashMap::new(),
        }
    }

    /// Archives everything below `root` (not `root` itself) under paths relative to it, without
    /// crossing into other file systems (e.g. a `/proc` left mounted by debootstrap).
    pub fn append_tree(&mut self, root: &Path) -> Result<()> {
        let root_dev = fs::symlink_metadata(root)
            .map_err(|source| EngineError::io("read", root, source))?
            .dev();
        let walker = walkdir::WalkDir::new(root)
            .min_depth(1)
            .follow_links(false)
            .same_file_system(true)
            .sort_by(|a, b| a.file_name().cmp(b.file_name()));
        for entry in walker {
            let entry = entry.map_err(|error| {
                let path = error.path().unwrap_or(root).to_path_buf();
                let source = error
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("file system loop"));
                EngineError::io("walk", path, source)
            })?;
            let path = entry.path();
            let meta = fs::symlink_metadata(path)
                .map_err(|source| EngineError::io("read metadata of", path, source))?;
            if meta.dev() != root_dev {
                // A mount point: walkdir does not descend, and we do not archive it either.
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .expect("walkdir yields paths below its root");
            self.append_path(relative, path, &meta)?;
        }
        Ok(())
    }

    /// Archives the file at `source` (whatever its kind) as `name`, with its own metadata.
    pub fn append_path(&mut self, name: &Path, source: &Path, meta: &fs::Metadata) -> Result<()> {
        let file_type = meta.file_type();
        let mut header = self.header(meta.mode(), meta.uid(), meta.gid(), meta.mtime());
        let failed = |source_error| EngineError::io("archive", source, source_error);

        if file_type.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                let first = first.clone();
                return self
                    .builder
                    .append_link(&mut header, name, first)
                    .map_err(failed);
            }
            self.links.insert(key, name.to_path_buf());
        }

        if file_type.is_file() {
            let file =
                File::open(source).map_err(|error| EngineError::io("open", source, error))?;
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            self.builder
                .append_data(&mut header, name, file)
                .map_err(failed)
        } else if file_type.is_dir() {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            self.builder
                .append_data(&mut header, name, io::empty())
                .map_err(failed)
        } else if file_type.is_symlink() {
            let target = fs::read_link(source)
                .map_err(|error| EngineError::io("read link", source, error))?;
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            self.builder
                .append_link(&mut header, name, target)
                .map_err(failed)
        } else if file_type.is_char_device() || file_type.is_block_device() || file_type.is_fifo() {
            let kind = if file_type.is_char_device() {
                EntryType::Char
            } else if file_type.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            header.set_entry_type(kind);
            header.set_size(0);
            if kind != EntryType::Fifo {
                let (major, minor) = split_device(meta.rdev());
                header.set_device_major(major).map_err(failed)?;
                header.set_device_minor(minor).map_err(failed)?;
            }
            self.builder
                .append_data(&mut header, name, io::empty())
                .map_err(failed)
        } else {
            // Sockets: tar has no entry type for them, and a socket file means nothing in an image.
            Ok(())
        }
    }

    /// Archives the regular file at `source` as `name` with the given permission bits (or the
    /// file's own when `None`), owned by root.
    pub fn append_file(&mut self, name: &Path, source: &Path, mode: Option<u32>) -> Result<()> {
        let file = File::open(source).map_err(|error| EngineError::io("open", source, error))?;
        let meta = file
            .metadata()
            .map_err(|error| EngineError::io("read metadata of", source, error))?;
        if !meta.is_file() {
            return Err(EngineError::io(
                "archive",
                source,
                io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        let mut header = self.header(mode.unwrap_or(meta.mode()), 0, 0, meta.mtime());
        header.set_entry_type(EntryType::Regular);
        header.set_size(meta.len());
        self.builder
            .append_data(&mut header, name, file)
            .map_err(|error| EngineError::io("archive", source, error))
    }

    /// Archives `data` as the regular file `name`, owned by root.
    pub fn append_bytes(&mut self, name: &Path, data: &[u8], mode: u32) -> Result<()> {
        let mut header = self.header(mode, 0, 0, i64::MAX);
        header.set_entry_type(EntryType::Regular);
        header.set_size(data.len() as u64);
        self.builder
            .append_data(&mut header, name, data)
            .map_err(|error| EngineError::io("archive", name, error))
    }

    /// Archives a symlink `name` → `target`, owned by root, mode 0777, mtime the clamp: nothing
    /// of the link on disk but its target.
    pub fn append_symlink(&mut self, name: &Path, target: &Path) -> Result<()> {
        let mut header = self.header(0o777, 0, 0, i64::MAX);
        header.set_entry_type(EntryType::Symlink);
        header.set_size(0);
        self.builder
            .append_link(&mut header, name, target)
            .map_err(|error| EngineError::io("archive", name, error))
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub fn finish(self) -> Result<W> {
        self.builder
            .into_inner()
            .map_err(|error| EngineError::io("finish", "<tar stream>", error))
    }

    fn header(&self, mode: u32, uid: u32, gid: u32, mtime: i64) -> Header {
        let mut header = Header::new_gnu();
        header.set_mode(mode & 0o7777);
        header.set_uid(uid.into());
        header.set_gid(gid.into());
        header.set_mtime(clamp_mtime(mtime, self.clamp));
        header
    }
}

/// `min(mtime, clamp)`, with times before 1970 taken as 0.
pub(crate) fn clamp_mtime(mtime: i64, clamp: u64) -> u64 {
    u64::try_from(mtime).unwrap_or(0).min(clamp)
}

/// Linux's `major()`/`minor()` of a `dev_t`.
fn split_device(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/inner")).unwrap();
        fs::write(root.join("b/inner/z.txt"), "zed").unwrap();
        fs::write(root.join("a.txt"), "alpha").unwrap();
        fs::write(root.join("c.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("c.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap();
        fs::hard_link(root.join("a.txt"), root.join("hard.txt")).unwrap();
        dir
    }

    fn archive(root: &Path, clamp: u64) -> Vec<u8> {
        let mut tar = DeterministicTar::new(Vec::new(), clamp);
        tar.append_tree(root).unwrap();
        tar.finish().unwrap()
    }

    fn entries(bytes: &[u8]) -> Vec<(String, EntryType, u64, u32)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let header = entry.header();
                (
                    entry.path().unwrap().display().to_string(),
                    header.entry_type(),
                    header.mtime().unwrap(),
                    header.mode().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_are_sorted_and_mtimes_clamped() {
        let dir = tree();
        let bytes = archive(dir.path(), 0);
        let listed = entries(&bytes);
        let names: Vec<&str> = listed.iter().map(|(name, ..)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a.txt",
                "b",
                "b/inner",
                "b/inner/z.txt",
                "c.sh",
                "hard.txt",
                "link"
            ]
        );
        assert!(listed.iter().all(|(_, _, mtime, _)| *mtime == 0));
        let kinds: Vec<EntryType> = listed.iter().map(|(_, kind, ..)| *kind).collect();
        assert_eq!(
            kinds[5],
            EntryType::Link,
            "second name of an inode is a hard link"
        );
        assert_eq!(kinds[6], EntryType::Symlink);
        assert_eq!(listed[4].3, 0o755);
    }

    #[test]
    fn clamping_keeps_older_times_and_the_same_tree_gives_the_same_bytes() {
        let dir = tree();
        let far_future = u64::MAX / 4;
        let kept = entries(&archive(dir.path(), far_future));
        assert!(kept
            .iter()
            .all(|(_, _, mtime, _)| *mtime > 0 && *mtime < far_future));
        assert_eq!(clamp_mtime(-5, 10), 0);
        assert_eq!(clamp_mtime(5, 10), 5);
        assert_eq!(clamp_mtime(50, 10), 10);

        // Touch the files: with clamping, the archive does not change.
        let first = archive(dir.path(), 1_000);
        fs::write(dir.path().join("a.txt"), "alpha").unwrap();
        assert_eq!(first, archive(dir.path(), 1_000));
    }

    #[test]
    fn long_names_and_link_targets_survive() {
        let dir = tempfile::tempdir().unwrap();
        let long = "d".repeat(120);
        fs::create_dir_all(dir.path().join(&long)).unwrap();
        fs::write(dir.path().join(&long).join("f"), "x").unwrap();
        std::os::unix::fs::symlink(format!("{long}/f"), dir.path().join("l")).unwrap();
        let bytes = archive(dir.path(), 0);
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            seen.push((entry.path().unwrap().display().to_string(), link));
        }
        assert!(seen.contains(&(format!("{long}/f"), None)));
        assert!(seen.contains(&("l".to_string(), Some(format!("{long}/f")))));
    }

    #[test]
    fn devices_keep_their_numbers() {
        assert_eq!(split_device(0x0103), (1, 3)); // /dev/null
        assert_eq!(split_device(0x0501), (5, 1)); // /dev/console
        let dir = tempfile::tempdir().unwrap();
        let mut tar = DeterministicTar::new(Vec::new(), 0);
        let meta = fs::symlink_metadata("/dev/null").unwrap();
        tar.append_path(Path::new("dev/null"), Path::new("/dev/null"), &meta)
            .unwrap();
        let bytes = tar.finish().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().entry_type(), EntryType::Char);
        assert_eq!(entry.header().device_major().unwrap(), Some(1));
        assert_eq!(entry.header().device_minor().unwrap(), Some(3));
        drop(dir);
    }
}
