//! Atomic output directories: write everything into a hidden temporary sibling, then rename it
//! onto the target, so the directory appears complete or not at all.
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::MediaError;

/// A temporary directory beside the final one; removed with its contents unless committed.
pub(crate) struct StagedDir {
    target: PathBuf,
    temp: TempDir,
}

impl StagedDir {
    /// Creates `.NAME.XXXXXX` in the target's parent directory. Refuses a target that is a file
    /// or that holds `input` (replacing it would delete the source).
    pub(crate) fn new(target: &Path, input: &Path) -> Result<Self, MediaError> {
        let name = target
            .file_name()
            .ok_or_else(|| {
                MediaError::option(
                    "output",
                    target.display(),
                    "the output directory path has no name",
                )
            })?
            .to_string_lossy()
            .into_owned();
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let meta = std::fs::metadata(&parent).map_err(|e| MediaError::io(&parent, e))?;
        if !meta.is_dir() {
            return Err(MediaError::io(
                &parent,
                std::io::Error::from_raw_os_error(20),
            ));
        }
        if let Ok(m) = std::fs::symlink_metadata(target) {
            if !m.is_dir() {
                return Err(MediaError::option(
                    "output",
                    target.display(),
                    "it exists and is not a directory",
                ));
            }
            if let (Ok(t), Ok(i)) = (std::fs::canonicalize(target), std::fs::canonicalize(input)) {
                if i.starts_with(&t) {
                    return Err(MediaError::option(
                        "output",
                        target.display(),
                        "the input is inside it, and the directory is replaced as a whole; write to another directory",
                    ));
                }
            }
        }
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempdir_in(&parent)
            .map_err(|e| {
                MediaError::io(
                    &parent,
                    std::io::Error::new(
                        e.kind(),
                        "cannot create a temporary directory in this directory",
                    ),
                )
            })?;
        Ok(StagedDir {
            target: target.to_path_buf(),
            temp,
        })
    }

    /// Where to write now.
    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Renames the finished directory onto the target. An existing target is first moved to
    /// another hidden sibling (renaming onto an empty directory) and removed afterwards.
    pub(crate) fn commit(self) -> Result<PathBuf, MediaError> {
        let target = self.target;
        let parent = self.temp.path().parent().map(Path::to_path_buf);
        let old = if target.is_dir() {
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let old = tempfile::Builder::new()
                .prefix(&format!(".{name}.old."))
                .tempdir_in(parent.as_deref().unwrap_or(Path::new(".")))
                .map_err(|e| MediaError::io(&target, e))?;
            std::fs::rename(&target, old.path()).map_err(|e| MediaError::io(&target, e))?;
            Some(old)
        } else {
            None
        };
        let staged = self.temp.keep();
        if let Err(e) = std::fs::rename(&staged, &target) {
            let _ = std::fs::remove_dir_all(&staged);
            if let Some(old) = &old {
                let _ = std::fs::rename(old.path(), &target);
            }
            return Err(MediaError::io(&target, e));
        }
        // Dropping `old` removes the previous contents.
        drop(old);
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_replaces_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mp4");
        std::fs::write(&input, b"x").unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("stale"), b"old").unwrap();

        let staged = StagedDir::new(&target, &input).unwrap();
        std::fs::write(staged.path().join("new"), b"new").unwrap();
        drop(staged);
        assert!(
            target.join("stale").exists(),
            "a dropped stage leaves the target alone"
        );

        let staged = StagedDir::new(&target, &input).unwrap();
        std::fs::write(staged.path().join("new"), b"new").unwrap();
        staged.commit().unwrap();
        assert!(target.join("new").exists() && !target.join("stale").exists());
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["in.mp4", "out"]);

        let inside = target.join("in.mp4");
        std::fs::write(&inside, b"x").unwrap();
        let e = StagedDir::new(&target, &inside).err().unwrap();
        assert_eq!(e.kind(), "invalid_option");
    }
}
