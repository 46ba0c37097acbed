//! Reads what a built image holds: Debian package versions and licences, language packages,
//! runtime versions, size, layers.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::closure::{Installed, PackageRecord, QUERY};
use crate::engine::{CancellationToken, Engine, EngineError, RunRequest};
use crate::lock::LockEntry;
use crate::stack::Stack;

/// The Debian packages a stack asks for itself, without version suffixes.
pub(crate) fn direct_packages(stack: &Stack) -> Vec<String> {
    let mut out: Vec<String> = stack.apt_packages().into_iter().map(|p| p.split('=').next().unwrap_or(p).to_string()).collect();
    out.dedup();
    out
}

/// The packages `image`'s dpkg database lists as installed (none when it has no dpkg).
pub(crate) async fn installed(engine: &Engine, image: &str, cancel: &CancellationToken) -> Result<Installed, EngineError> {
    let mut req = RunRequest::shell(image, QUERY);
    req.timeout = Some(Duration::from_secs(60));
    req.memory_limit = Some(super::CHECK_MEMORY);
    let out = engine.run(&req, cancel).await?;
    if !out.success() {
        return Err(EngineError::Unreachable { address: engine.address().to_string(), reason: format!("listing the packages of `{image}` exited with {}: {}", out.exit_code, out.stderr.trim()) });
    }
    Ok(Installed::parse(&out.stdout))
}

/// The licences of the source packages of `closure`, read from `image`'s copyright files (the
/// first binary package of each source with a machine-readable one).
async fn licenses(engine: &Engine, image: &str, closure: &BTreeMap<String, PackageRecord>, cancel: &CancellationToken) -> Result<BTreeMap<String, String>, EngineError> {
    let mut names: Vec<&str> = closure.keys().map(|k| k.split_once(':').map_or(k.as_str(), |(n, _)| n)).collect();
    names.dedup();
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut req = RunRequest::shell(image, &crate::licenses::query(&names));
    req.timeout = Some(Duration::from_secs(60));
    req.memory_limit = Some(super::CHECK_MEMORY);
    let out = engine.run(&req, cancel).await?;
    let by_package = crate::licenses::parse(&out.stdout);
    let mut by_source = BTreeMap::new();
    for (key, record) in closure {
        let name = key.split_once(':').map_or(key.as_str(), |(n, _)| n);
        // Only what the lock will read back (an expression past its length limit is left out).
        if let Some(expression) = by_package.get(name).filter(|e| crate::licenses::LicenseExpression::is_well_formed(&e.text)) {
            by_source.entry(record.source_name(name).to_string()).or_insert_with(|| expression.text.clone());
        }
    }
    Ok(by_source)
}

/// The language packages `image`'s own tools list (none when it has none of them).
async fn language_packages(engine: &Engine, image: &str, cancel: &CancellationToken) -> Result<BTreeMap<String, String>, EngineError> {
    let mut req = RunRequest::shell(image, crate::language_packages::QUERY);
    req.timeout = Some(Duration::from_secs(120));
    req.memory_limit = Some(super::CHECK_MEMORY);
    let out = engine.run(&req, cancel).await?;
    Ok(crate::language_packages::parse(&out.stdout))
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
/// `below`.
pub(crate) async fn record(engine: &Engine, image: &str, below: Below<'_>, stack: &Stack, entry: &mut LockEntry, cancel: &CancellationToken) -> Result<(), EngineError> {
    let parent = match below {
        Below::Nothing => Some(Installed::default()),
        // A parent image the engine no longer holds (removed since, or a base that was never
        // pulled here) leaves the closure unrecorded rather than failing a checked stack.
        Below::Image(p) => match engine.image_exists(p).await? {
            true => Some(installed(engine, p, cancel).await?),
            false => None,
        },
        Below::Unknown => None,
    };
    let parent_known = parent.is_some();
    if let Some(parent) = parent {
        let held = installed(engine, image, cancel).await?;
        entry.closure = held.added_or_changed_since(&parent);
        entry.closure_removed = held.removed_since(&parent);
        entry.licenses = licenses(engine, image, &entry.closure, cancel).await?;
    }
    // Language packages: what this image's tools list beyond what its parent's list.
    let parent_languages = match below {
        Below::Nothing => Some(BTreeMap::new()),
        Below::Image(p) if parent_known => Some(language_packages(engine, p, cancel).await?),
        _ => None,
    };
    if let Some(parent_languages) = parent_languages {
        entry.language_packages = crate::language_packages::added_since(&language_packages(engine, image, cancel).await?, &parent_languages);
    }
    let info = engine.inspect_image(image).await?;
    entry.size = Some(info.size);
    entry.layers = Some(info.layers as u32);
    let packages = direct_packages(stack);
    entry.packages = BTreeMap::new();
    if !packages.is_empty() {
        let mut cmd = vec!["dpkg-query".to_string(), "-W".to_string(), "-f=${Package}\\t${Version}\\n".to_string()];
        cmd.extend(packages);
        let mut req = RunRequest::new(image, cmd);
        req.timeout = Some(Duration::from_secs(60));
        req.memory_limit = Some(super::CHECK_MEMORY);
        let out = engine.run(&req, cancel).await?;
        for line in out.stdout.lines() {
            if let Some((p, v)) = line.split_once('\t') {
                if !v.is_empty() {
                    entry.packages.insert(p.to_string(), v.to_string());
                }
            }
        }
    }
    let mut script = String::new();
    for r in &stack.runtimes {
        script.push_str(&format!("printf '{}\\t%s\\n' \"$({} 2>&1 | head -n 1)\"\n", r.name.name(), r.name.version_command()));
    }
    if stack.ffmpeg.is_some() {
        script.push_str("printf 'ffmpeg\\t%s\\n' \"$(ffmpeg -version 2>&1 | head -n 1)\"\n");
    }
    entry.runtimes = BTreeMap::new();
    if !script.is_empty() {
        let mut req = RunRequest::shell(image, &script);
        req.timeout = Some(Duration::from_secs(60));
        req.memory_limit = Some(super::CHECK_MEMORY);
        let out = engine.run(&req, cancel).await?;
        for line in out.stdout.lines() {
            if let Some((k, v)) = line.split_once('\t') {
                entry.runtimes.insert(k.to_string(), v.trim().to_string());
            }
        }
    }
    Ok(())
}
