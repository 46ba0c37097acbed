//! `LockSource`: where `ferrostack diff` reads a lock from: a file, or the project's
//! `images.lock` at a git revision.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::lock::Lockfile;

/// A lock file, or a git revision of the project's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockSource {
    File(PathBuf),
    /// `images.lock` (the project's) at this revision.
    Revision(String),
}

impl LockSource {
    /// An existing file is a file; anything else is a git revision (`HEAD`, `HEAD~1`, a tag).
    pub fn parse(arg: &str, project_root: &Path) -> LockSource {
        let path = Path::new(arg);
        let candidate = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| project_root.join(path))
        };
        if candidate.is_file() {
            LockSource::File(candidate)
        } else {
            LockSource::Revision(arg.to_string())
        }
    }

    /// How reports name it.
    pub fn label(&self) -> String {
        match self {
            LockSource::File(p) => p.display().to_string(),
            LockSource::Revision(r) => r.clone(),
        }
    }

    /// Reads it; a missing file or a revision without a lock is an empty lock (everything is
    /// new), a revision git does not know is an error.
    pub fn read(&self, lock_path: &Path) -> Result<Lockfile> {
        let empty = || Lockfile {
            version: crate::lock::LOCK_VERSION,
            stacks: Default::default(),
        };
        match self {
            LockSource::File(p) => Ok(Lockfile::read(p)?.unwrap_or_else(empty)),
            LockSource::Revision(rev) => {
                let dir = lock_path.parent().unwrap_or(Path::new("."));
                let name = lock_path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("images.lock");
                let bad = |message: String| {
                    Error::Settings { message, help: Some("name a lock file, or a git revision of the project (`HEAD`, `HEAD~1`, a tag, a commit)".into()) }
                };
                if rev.starts_with('-') {
                    return Err(bad(format!("`{rev}` is neither a file nor a git revision")));
                }
                let verify = Command::new("git")
                    .arg("-C")
                    .arg(dir)
                    .args([
                        "rev-parse",
                        "--verify",
                        "--quiet",
                        &format!("{rev}^{{commit}}"),
                    ])
                    .output()
                    .map_err(|e| Error::io("run git", dir, e))?;
                if !verify.status.success() {
                    return Err(bad(format!(
                        "`{rev}` is neither a file nor a revision of the git repository at `{}`",
                        dir.display()
                    )));
                }
                // `./name` is relative to `-C dir`, wherever the repository's top is.
                let show = Command::new("git")
                    .arg("-C")
                    .arg(dir)
                    .args(["show", &format!("{rev}:./{name}")])
                    .output()
                    .map_err(|e| Error::io("run git", dir, e))?;
                if !show.status.success() {
                    return Ok(empty());
                }
                let text = String::from_utf8(show.stdout)
                    .map_err(|_| bad(format!("`{rev}:{name}` is not UTF-8")))?;
                Lockfile::parse(&text, &PathBuf::from(format!("{rev}:{name}")))
            }
        }
    }
}
