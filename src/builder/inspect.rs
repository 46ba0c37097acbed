//! Reads what a built image holds: Debian package versions and licences, language packages,
//! runtime versions, size, layers.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::facts_cache::FactsCache;
use super::image_facts::{ImageFacts, Questions};
use crate::closure::PackageRecord;
use crate::engine::{CancellationToken, Engine, EngineError};
use crate::licenses::LicenseExpression;
use crate::lock::LockEntry;
use crate::stack::Stack;

/// The Debian packages a stack asks for itself, without version suffixes.
pub(crate) fn direct_packages(stack: &Stack) -> Vec<String> {
    let mut out: Vec<String> = stack
        .apt_packages()
        .into_iter()
        .map(|p| p.split('=').next().unwrap_or(p).to_string())
        .collect();
    out.dedup();
    out
}

/// The licences of the source packages of `closure`, from `by_package` (each binary package's
/// expression, read from the image's copyright files): the first binary package of each source
/// with a machine-readable one.
fn licenses(
    closure: &BTreeMap<String, PackageRecord>,
    by_package: &BTreeMap<String, LicenseExpression>,
) -> BTreeMap<String, String> {
    let mut by_source = BTreeMap::new();
    for (key, record) in closure {
        let name = key.split_once(':').map_or(key.as_str(), |(n, _)| n);
        // Only what the lock will read back (an expression past its length limit is left out).
        if let Some(expression) = by_package
            .get(name)
            .filter(|e| LicenseExpression::is_well_formed(&e.text))
        {
            by_source
                .entry(record.source_name(name).to_string())
                .or_insert_with(|| expression.text.clone());
        }
    }
    by_source
}

/// What a stack's closure is measured against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Below<'a> {
    /// A root: its closure is everything it holds.
    Nothing,
    /// The parent's image, in the same engine.
    Image(&'a str),
    /// The engine holds no parent image to compare with (an image found already built, on an
    /// engine that only pulled it): the closure is left unrecorded.
    Unknown,
}

/// Fills the build results of `entry` from `image`; its closure is what it holds beyond
/// `below`. One container reads the image, and one per run each parent (`parents`).
pub(crate) async fn record(
    engine: &Engine,
    image: &str,
    below: Below<'_>,
    stack: &Stack,
    parents: &FactsCache,
    entry: &mut LockEntry,
    cancel: &CancellationToken,
) -> Result<(), EngineError> {
    let parent: Option<Arc<ImageFacts>> = match below {
        Below::Nothing => Some(Arc::new(ImageFacts::default())),
        // A parent image the engine no longer holds (removed since, or a base that was never
        // pulled here) leaves the closure unrecorded rather than failing a checked stack.
        Below::Image(p) => match engine.image_exists(p).await? {
            true => Some(parents.parent(engine, p, cancel).await?),
            false => None,
        },
        Below::Unknown => None,
    };
    let questions = Questions {
        packages: direct_packages(stack),
        runtimes: runtime_script(stack),
    };
    let held = ImageFacts::read(engine, image, &questions, cancel).await?;
    if let Some(parent) = &parent {
        entry.closure = held.installed.added_or_changed_since(&parent.installed);
        entry.closure_removed = held.installed.removed_since(&parent.installed);
        entry.licenses = licenses(&entry.closure, &held.licenses);
        // Language packages: what this image's tools list beyond what its parent's list.
        entry.language_packages =
            crate::language_packages::added_since(&held.languages, &parent.languages);
    }
    let info = engine.inspect_image(image).await?;
    entry.size = Some(info.size);
    entry.layers = Some(info.layers as u32);
    entry.packages = held.packages;
    entry.runtimes = held.runtimes;
    Ok(())
}

/// Prints `name<TAB>version line` for each runtime of the stack, and FFmpeg's.
fn runtime_script(stack: &Stack) -> String {
    let mut script = String::new();
    for r in &stack.runtimes {
        script.push_str(&format!(
            "printf '{}\\t%s\\n' \"$({} 2>&1 | head -n 1)\"\n",
            r.name.name(),
            r.name.version_command()
        ));
    }
    if stack.ffmpeg.is_some() {
        script.push_str("printf 'ffmpeg\\t%s\\n' \"$(ffmpeg -version 2>&1 | head -n 1)\"\n");
    }
    script
}
