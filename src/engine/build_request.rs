//! `BuildRequest`: everything one classic-builder build needs (Dockerfile text, context files,
//! build args, labels, tags), validated before anything is sent, and its build context written
//! as a deterministic tar.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use super::deterministic_tar::DeterministicTar;
use super::error::{EngineError, Result};
use super::tar_stream::ChannelWriter;

/// The name the Dockerfile gets inside the build context.
pub const DOCKERFILE_NAME: &str = "Dockerfile";

/// A file copied into the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Relative path inside the context (what `COPY` names), e.g. `bin/helper`.
    pub path: PathBuf,
    /// Where the file is on disk.
    pub source: PathBuf,
    /// Permission bits in the context; `None` keeps the file's own.
    pub mode: Option<u32>,
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
    pub(crate) fn write_context(&self, tar: &mut DeterministicTar<ChannelWriter>) -> Result<()> {
        tar.append_bytes(
            Path::new(DOCKERFILE_NAME),
            self.dockerfile.as_bytes(),
            0o644,
        )?;
        let mut files: Vec<&ContextFile> = self.context.iter().collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        for file in files {
            tar.append_file(&file.path, &file.source, file.mode)?;
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
}
