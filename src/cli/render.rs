//! `ferrostack render`: writes (or, with `--check`, verifies) `DIR/<stack>/` for each stack.

use std::collections::BTreeMap;
use std::path::Path;

use ferrostack::context::ContextSource;
use ferrostack::{Error, Result, Session};

/// The files a render produces for one stack: relative path → bytes.
fn expected(prepared: &ferrostack::hash::Prepared) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut files = BTreeMap::new();
    files.insert(
        "Dockerfile".to_string(),
        prepared.dockerfile.clone().into_bytes(),
    );
    for f in &prepared.context {
        let bytes = match &f.source {
            ContextSource::File(p) => std::fs::read(p).map_err(|e| Error::io("read", p, e))?,
            ContextSource::Symlink { target, .. } => target.clone().into_bytes(),
        };
        files.insert(f.rel.clone(), bytes);
    }
    Ok(files)
}

pub(crate) fn run(session: &Session, names: &[String], out: &Path, check: bool) -> Result<i32> {
    let prepared = session.prepare(names)?;
    let selected: Vec<&String> = if names.is_empty() {
        prepared.keys().collect()
    } else {
        names.iter().collect()
    };
    let mut differences = Vec::new();
    for name in selected {
        let p = &prepared[name];
        let dir = out.join(name);
        let files = expected(p)?;
        if check {
            for (rel, bytes) in &files {
                let path = dir.join(rel);
                match std::fs::read(&path) {
                    Ok(existing) if &existing == bytes => {}
                    Ok(_) => differences.push(format!("  {} differs", path.display())),
                    Err(_) => differences.push(format!("  {} is missing", path.display())),
                }
            }
            if dir.is_dir() {
                for entry in walkdir::WalkDir::new(&dir)
                    .sort_by_file_name()
                    .into_iter()
                    .flatten()
                {
                    if entry.file_type().is_dir() {
                        continue;
                    }
                    let rel = entry
                        .path()
                        .strip_prefix(&dir)
                        .unwrap_or(entry.path())
                        .to_string_lossy()
                        .replace('\\', "/");
                    if !files.contains_key(&rel) {
                        differences.push(format!(
                            "  {} is not rendered any more",
                            entry.path().display()
                        ));
                    }
                }
            }
            continue;
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io("clear", &dir, e))?;
        }
        for (rel, bytes) in &files {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
            }
            std::fs::write(&path, bytes).map_err(|e| Error::io("write", &path, e))?;
        }
        eprintln!("rendered {}", dir.join("Dockerfile").display());
    }
    if check {
        if !differences.is_empty() {
            return Err(Error::RenderStale { differences });
        }
        eprintln!("rendered files are up to date");
    }
    Ok(0)
}
