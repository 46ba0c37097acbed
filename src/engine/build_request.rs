//! `BuildRequest`: everything one classic-builder build needs (Dockerfile text, context files,
//! build args, labels, tags), validated before anything is sent, and its build context written
//! as a deterministic tar.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::deterministic_tar::DeterministicTar;
use super::error::{EngineError, Result};

/// The name the Dockerfile gets inside the build context.
pub const DOCKERFILE_NAME: &str = "Dockerfile";

/// `st_mode` of a symlink: a [`ContextFile`] with this mode is sent as a symlink.
pub const SYMLINK_MODE: u32 = 0o120777;

/// A file copied into the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Relative path inside the context (what `COPY` names), e.g. `bin/helper`.
    pub path: PathBuf,
    /// Where the file is on disk.
    pub source: PathBuf,
    /// Permission bits in the context; `None` keeps the file's own. [`SYMLINK_MODE`] sends
    /// `source`, a symlink, as a symlink with its target (any other file is followed).
    pub mode: Option<u32>,
}

impl ContextFile {
    /// The symlink at `source` (its target, not what it points at) as `path` in the context.
    pub fn symlink(path: impl Into<PathBuf>, source: impl Into<PathBuf>) -> ContextFile {
        ContextFile {
            path: path.into(),
            source: source.into(),
            mode: Some(SYMLINK_MODE),
        }
    }
}

/// One image build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildRequest {
    /// The Dockerfile text.
    pub dockerfile: String,
    /// Files of the build context besides the Dockerfile.
    pub context: Vec<ContextFile>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// Labels set on the image (e.g. [`super::HASH_LABEL`]).
    pub labels: BTreeMap<String, String>,
    /// `repo:tag` references for the result; may be empty.
    pub tags: Vec<String>,
    /// Ignore the layer cache.
    pub no_cache: bool,
    /// The network `RUN` steps use (`host`, `bridge`); `None`: the engine's default.
    pub network: Option<String>,
}

impl BuildRequest {
    /// Checks context paths: relative, no `..`, not the Dockerfile's name, no duplicates.
    pub fn validate(&self) -> Result<()> {
        let mut seen = BTreeSet::new();
        for file in &self.context {
            let path = &file.path;
            let bad = |reason| EngineError::ContextPath {
                path: path.clone(),
                reason,
            };
            if path.as_os_str().is_empty() {
                return Err(bad("is empty"));
            }
            if !path
                .components()
                .all(|part| matches!(part, Component::Normal(_)))
            {
                return Err(bad("must be relative and must not contain `..` or `.`"));
            }
            if path == Path::new(DOCKERFILE_NAME) {
                return Err(bad("is where the Dockerfile goes; pick another name"));
            }
            if !seen.insert(path) {
                return Err(bad("is given twice"));
            }
        }
        Ok(())
    }

    /// Writes the context: the Dockerfile, then the files sorted by path. Owners are root and
    /// mtimes clamped, so the same inputs give the same archive (and the same cache hits).
    pub(crate) fn write_context<W: std::io::Write>(
        &self,
        tar: &mut DeterministicTar<W>,
    ) -> Result<()> {
        tar.append_bytes(
            Path::new(DOCKERFILE_NAME),
            self.dockerfile.as_bytes(),
            0o644,
        )?;
        let mut files: Vec<&ContextFile> = self.context.iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        for file in files {
            if file.mode == Some(SYMLINK_MODE) {
                let target = std::fs::read_link(&file.source)
                    .map_err(|error| EngineError::io("read link", &file.source, error))?;
                tar.append_symlink(&file.path, &target)?;
            } else {
                tar.append_file(&file.path, &file.source, file.mode)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_path(path: &str) -> BuildRequest {
        BuildRequest {
            context: vec![ContextFile {
                path: PathBuf::from(path),
                source: PathBuf::from("/dev/null"),
                mode: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn context_paths_must_stay_inside() {
        assert!(with_path("bin/helper").validate().is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../b", "./a", "Dockerfile"] {
            assert!(
                matches!(
                    with_path(bad).validate(),
                    Err(EngineError::ContextPath { .. })
                ),
                "{bad:?} should be refused"
            );
        }
        let mut twice = with_path("a");
        twice.context.push(twice.context[0].clone());
        assert!(twice.validate().is_err());
    }

    /// Issue 9: a symlink of the context reaches the engine as a symlink, not dropped and not
    /// followed, with the same bytes on every run.
    #[test]
    fn symlinks_are_sent_as_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.txt"), "real").unwrap();
        std::os::unix::fs::symlink("real.txt", dir.path().join("link.txt")).unwrap();
        let request = BuildRequest {
            dockerfile: "FROM scratch\n".into(),
            context: vec![
                ContextFile::symlink("app/link.txt", dir.path().join("link.txt")),
                ContextFile {
                    path: "app/real.txt".into(),
                    source: dir.path().join("real.txt"),
                    mode: Some(0o644),
                },
            ],
            ..Default::default()
        };
        let archive = |request: &BuildRequest| {
            let mut tar = DeterministicTar::new(Vec::new(), 0);
            request.write_context(&mut tar).unwrap();
            tar.finish().unwrap()
        };
        let bytes = archive(&request);
        let mut entries = Vec::new();
        for entry in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            entries.push((
                entry.path().unwrap().display().to_string(),
                header.entry_type(),
                link,
                header.mode().unwrap(),
                header.uid().unwrap(),
                header.mtime().unwrap(),
            ));
        }
        assert_eq!(
            entries[1],
            (
                "app/link.txt".to_string(),
                tar::EntryType::Symlink,
                Some("real.txt".to_string()),
                0o777,
                0,
                0
            )
        );
        assert_eq!(entries[2].1, tar::EntryType::Regular);
        assert_eq!(
            bytes,
            archive(&request),
            "the same context gives the same bytes"
        );
    }
}
