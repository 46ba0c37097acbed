//! SBOMs of the stacks: SPDX 2.3 JSON (and CycloneDX 1.5 JSON), derived from `images.lock`
//! alone (each stack's Debian package closure, its runtimes, and for a stack bundling the
//! media helper every crate of its `Cargo.lock` closure), so they are regenerated without the
//! image; their namespace and time come from the stack's hash and `SOURCE_DATE_EPOCH`, so the
//! same lock gives byte-identical documents.

mod cyclonedx;
mod inventory;
mod purl;
mod sbom_format;
mod spdx;
mod timestamp;

pub use inventory::{Inventory, Item, ItemKind};
pub use sbom_format::SbomFormat;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::lock::Lockfile;
use crate::session::Session;

/// The document of `stack` in `format`, from `lock`, as its file's bytes.
pub fn document(
    session: &Session,
    lock: &Lockfile,
    stack: &str,
    format: SbomFormat,
) -> Result<String> {
    let inventory = Inventory::of(session, lock, stack)?;
    let value = match format {
        SbomFormat::Spdx => spdx::document(&inventory, session, lock)?,
        SbomFormat::CycloneDx => cyclonedx::document(&inventory),
    };
    Ok(format!(
        "{}\n",
        serde_json::to_string_pretty(&value).expect("an SBOM serialises")
    ))
}

/// Writes `<out>/<stack>.<format extension>` for each stack (atomically: a temporary file
/// renamed), returning the paths.
pub fn write(
    session: &Session,
    lock: &Lockfile,
    stacks: &[String],
    format: SbomFormat,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io("create", out, e))?;
    let mut written = Vec::new();
    for stack in stacks {
        let text = document(session, lock, stack, format)?;
        let path = out.join(format!("{stack}.{}", format.extension()));
        let mut tmp = tempfile::Builder::new()
            .prefix(".sbom.")
            .tempfile_in(out)
            .map_err(|e| Error::io("create a temporary file in", out, e))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())
            .map_err(|e| Error::io("write", tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| Error::io("write", &path, e.error))?;
        written.push(path);
    }
    Ok(written)
}
