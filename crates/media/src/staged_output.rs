//! Atomic output: write to a hidden temporary file beside the target, rename it only on success,
//! and never onto the input itself.
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::MediaError;

/// A temporary file next to the final output; dropped (and deleted) unless `commit` is called.
pub(crate) struct StagedOutput {
    target: PathBuf,
    temp: TempPath,
}

impl StagedOutput {
    /// Creates `.NAME.XXXXXX.EXT` in the target's directory, keeping the extension so FFmpeg's
    /// muxer guess still works.
    pub(crate) fn new(target: &Path) -> Result<Self, MediaError> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .ok_or_else(|| MediaError::InvalidOption {
                option: "output".into(),
                value: target.display().to_string(),
                reason: "the output path has no file name".into(),
            })?;
        let suffix = target
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let meta = std::fs::metadata(&dir).map_err(|e| MediaError::io(&dir, e))?;
        if !meta.is_dir() {
            return Err(MediaError::io(&dir, std::io::Error::from_raw_os_error(20)));
        }
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(&suffix)
            .tempfile_in(&dir)
            // tempfile's message names the random file; the directory is what the user must fix.
            .map_err(|e| {
                MediaError::io(
                    &dir,
                    std::io::Error::new(
                        e.kind(),
                        "cannot create a temporary file in this directory",
                    ),
                )
            })?
            .into_temp_path();
        Ok(StagedOutput {
            target: target.to_path_buf(),
            temp,
        })
    }

    /// Where to write now.
    pub(crate) fn path(&self) -> &Path {
        &self.temp
    }

    /// Moves the finished file onto the target path.
    pub(crate) fn commit(self) -> Result<PathBuf, MediaError> {
        let target = self.target;
        self.temp
            .persist(&target)
            .map_err(|e| MediaError::io(&target, e.error))?;
        Ok(target)
    }
}

/// Refuses an output that is the input file: the same path after resolving `.`, `..` and
/// symlinks, or the same (device, inode) when the output exists (a hard link). Renaming onto it
/// would replace the original.
pub(crate) fn ensure_not_input(input: &Path, output: &Path) -> Result<(), MediaError> {
    let same_inode = match (std::fs::metadata(input), std::fs::metadata(output)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    let same_path = canonical(input).is_some_and(|i| canonical(output) == Some(i));
    if same_inode || same_path {
        return Err(MediaError::option(
            "output",
            output.display(),
            "it is the input file; write to another path (an existing output is replaced atomically)",
        ));
    }
    Ok(())
}

/// The resolved path of `p`, or of its directory joined with its name when `p` does not exist.
fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok().or_else(|| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?))
    })
}
