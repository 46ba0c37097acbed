//! A stack's build context: the files of its context directory (honouring `.dockerignore`)
//! plus the files ferrostack generates (the Dockerfile, the CA bundle).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dockerignore::DockerIgnore;
use crate::error::{Error, Result};
use crate::stack::Stack;

/// Where a context entry's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// A file on disk.
    File(PathBuf),
    /// A symlink (inside the context): the link on disk and its target, sent as a symlink.
    Symlink { path: PathBuf, target: String },
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
            ContextSource::Symlink { target, .. } => {
                Ok(hex::encode(Sha256::digest(target.as_bytes())))
            }
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

/// Lists the files of `stack`'s context directory (below the project `root`), sorted, honouring
/// its `.dockerignore`. A missing directory is an empty context. A symlink that resolves outside
/// the directory, a FIFO, a socket or a device is a definition error pointing at the stack's
/// `context` (or the `copy` that names it).
pub fn collect(root: &Path, stack: &Stack) -> Result<Vec<ContextFile>> {
    let dir = root.join(&stack.context);
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let problem = |rel: &str, what: String, help: String| {
        Error::from(stack.context_sites.error(&stack.context, rel, what, help))
    };
    let ignore = dockerignore(&dir).map_err(|message| {
        problem(".dockerignore", format!("has a mistake: {message}"), "patterns are Docker's: see https://docs.docker.com/build/concepts/context/#dockerignore-files".into())
    })?;
    let canon = dir
        .canonicalize()
        .map_err(|e| Error::io("resolve context directory", &dir, e))?;
    let mut out = Vec::new();
    let mut walker = walkdir::WalkDir::new(&dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(&dir).to_path_buf();
            Error::io("read context directory", path, e.into())
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = crate::load::relative_display(&dir, entry.path());
        let file_type = entry.file_type();
        if file_type.is_dir() {
            if ignore.excludes(&rel) && !ignore.may_reinclude_below(&rel) {
                walker.skip_current_dir();
            }
            continue;
        }
        if ignore.excludes(&rel) {
            continue;
        }
        if file_type.is_symlink() {
            let target = std::fs::read_link(entry.path())
                .map_err(|e| Error::io("read symlink", entry.path(), e))?;
            let outside = match entry.path().canonicalize() {
                Ok(resolved) if resolved.starts_with(&canon) => None,
                Ok(_) => Some("is a symlink that points outside its context directory"),
                Err(_) => Some("is a symlink that points nowhere"),
            };
            if let Some(what) = outside {
                return Err(problem(&rel, what.into(), "copy the file into the context directory instead of linking to it, or exclude the link in `.dockerignore`".into()));
            }
            let source = ContextSource::Symlink {
                path: entry.path().to_path_buf(),
                target: target.to_string_lossy().into_owned(),
            };
            out.push(ContextFile {
                rel,
                source,
                mode: 0o777,
            });
            continue;
        }
        if let Some(kind) = special_kind(file_type) {
            // Reading a FIFO would wait for a writer for ever; the others mean nothing in a context.
            return Err(problem(&rel, format!("is {kind}, not a file"), "a build context holds files, directories and symlinks: remove it, or exclude it in `.dockerignore`".into()));
        }
        let meta = entry
            .metadata()
            .map_err(|e| Error::io("stat context file", entry.path(), e.into()))?;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        out.push(ContextFile {
            rel,
            source: ContextSource::File(entry.path().to_path_buf()),
            mode,
        });
    }
    Ok(out)
}

/// What a file that is neither regular, directory nor symlink is, for an error message.
fn special_kind(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_socket() {
        Some("a socket")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else {
        None
    }
}

/// The directory's `.dockerignore`, or no patterns when it has none.
fn dockerignore(dir: &Path) -> std::result::Result<DockerIgnore, String> {
    let path = dir.join(".dockerignore");
    match std::fs::read_to_string(&path) {
        Ok(text) => DockerIgnore::parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DockerIgnore::default()),
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}
