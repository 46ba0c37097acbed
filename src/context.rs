//! A stack's build context: the files of its context directory (honouring `.dockerignore`)
//! plus the files ferrostack generates (the Dockerfile, the CA bundle).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where a context entry's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// A file on disk.
    File(PathBuf),
    /// A symlink (inside the context), with its target.
    Symlink(String),
}

/// One entry of a build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Path inside the context, `/`-separated.
    pub rel: String,
    pub source: ContextSource,
    /// 0o755 for executables, 0o644 otherwise: git keeps only the executable bit, so this is
    /// what is the same on every checkout.
    pub mode: u32,
}

impl ContextFile {
    /// sha256 of the content (or of the symlink target), hex.
    pub fn digest(&self) -> Result<String> {
        match &self.source {
            ContextSource::Symlink(target) => Ok(hex::encode(Sha256::digest(target.as_bytes()))),
            ContextSource::File(path) => file_digest(path),
        }
    }
}

/// sha256 of a file, streamed through the hasher (no per-file buffer to allocate and zero).
pub fn file_digest(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("read context file", path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher).map_err(|e| Error::io("read context file", path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Lists the files of a context directory, sorted, honouring its `.dockerignore`. A missing
/// directory is an empty context. Symlinks that resolve outside the directory are errors.
pub fn collect(dir: &Path) -> Result<Vec<ContextFile>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let ignore = dockerignore(dir)?;
    let canon = dir.canonicalize().map_err(|e| Error::io("resolve context directory", dir, e))?;
    let mut out = Vec::new();
    let mut walker = walkdir::WalkDir::new(dir).follow_links(false).sort_by_file_name().into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            Error::io("read context directory", path, e.into())
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = crate::load::relative_display(dir, entry.path());
        let is_dir = entry.file_type().is_dir();
        if ignore.matched_path_or_any_parents(&rel, is_dir).is_ignore() {
            if is_dir {
                walker.skip_current_dir();
            }
            continue;
        }
        if is_dir {
            continue;
        }
        let meta = entry.path().symlink_metadata().map_err(|e| Error::io("stat context file", entry.path(), e))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(|e| Error::io("read symlink", entry.path(), e))?;
            let resolved = entry.path().canonicalize().ok();
            if !resolved.as_ref().is_some_and(|r| r.starts_with(&canon)) {
                return Err(Error::Settings {
                    message: format!("context file `{}` is a symlink that points outside its context directory", entry.path().display()),
                    help: Some("copy the file into the context directory instead of linking to it".into()),
                });
            }
            out.push(ContextFile { rel, source: ContextSource::Symlink(target.to_string_lossy().into_owned()), mode: 0o777 });
            continue;
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
        out.push(ContextFile { rel, source: ContextSource::File(entry.path().to_path_buf()), mode });
    }
    Ok(out)
}

/// `.dockerignore` patterns, anchored at the context root as Docker does.
fn dockerignore(dir: &Path) -> Result<ignore::gitignore::Gitignore> {
    let path = dir.join(".dockerignore");
    let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (neg, pat) = match line.strip_prefix('!') {
                Some(p) => ("!", p.trim()),
                None => ("", line),
            };
            let pat = pat.trim_start_matches("./").trim_start_matches('/');
            builder.add_line(Some(path.clone()), &format!("{neg}/{pat}")).map_err(|e| Error::Settings {
                message: format!("{}: bad pattern `{line}`: {e}", path.display()),
                help: None,
            })?;
        }
    }
    builder.build().map_err(|e| Error::Settings { message: format!("{}: {e}", path.display()), help: None })
}
