//! `ferrostack update`: upstream drift detection. Asks Debian's mirror, from a throwaway
//! container of each stack's parent image, which version of each package the stack installs
//! `apt-get install` would pick today, and moves the lock's pins there. Pins are hashed, so a
//! moved pin makes the next `plan` say `build`, naming the package and both versions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::builder::CHECK_MEMORY;
use crate::engine::{CancellationToken, Engine, RunRequest};
use crate::error::{Error, Result};
use crate::lock::{LockGuard, Lockfile};
use crate::session::Session;
use crate::stack::{Origin, Stack};

/// How long one stack's `apt-get update` + `apt-cache policy` may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);

/// One pin that moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinChange {
    pub stack: String,
    pub package: String,
    /// The previous pin; when the package was not pinned, the version the last build
    /// recorded (`packages`), if any.
    pub from: Option<String>,
    /// The mirror's candidate today.
    pub to: String,
}

impl fmt::Display for PinChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) if *from == self.to => write!(f, "{}: {} {} (now pinned)", self.stack, self.package, self.to),
            Some(from) => write!(f, "{}: {} {from} → {}", self.stack, self.package, self.to),
            None => write!(f, "{}: {} (unpinned) → {}", self.stack, self.package, self.to),
        }
    }
}

/// Something `update` could not do for a stack, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateNote {
    pub stack: String,
    pub message: String,
}

/// What `update` found, parents first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateReport {
    /// Pins that move (or appear).
    pub changes: Vec<PinChange>,
    /// Stacks asked about, with the image the mirror was queried from.
    pub queried: Vec<(String, String)>,
    /// Stacks or packages left alone (no lock entry yet, no candidate on the mirror, a pin
    /// dropped because the stack no longer installs the package).
    pub notes: Vec<UpdateNote>,
    /// The lock's pins differ from what the mirror offers (moved, new or dropped pins).
    pub would_change: bool,
    /// The lock was rewritten.
    pub written: bool,
}

/// Pins moved by `update`, keyed by stack.
type NewPins = BTreeMap<String, BTreeMap<String, String>>;

/// Queries the mirror for the named stacks (all when empty; their parents are included) and
/// writes the new pins into `images.lock`, under the lock guard. Only pins change: the next
/// `plan` sees the pin inputs differ.
pub async fn update(session: &Session, names: &[String], cancel: &CancellationToken) -> Result<UpdateReport> {
    let (mut report, pins) = check(session, names, cancel).await?;
    if !report.would_change {
        return Ok(report);
    }
    let _guard = LockGuard::acquire(&session.project.state_dir().join("lock"), true)?;
    // Re-read under the guard: a build may have written it meanwhile.
    let path = session.project.lock_path();
    let Some(mut lock) = Lockfile::read(&path)? else {
        return Ok(report);
    };
    for (stack, new) in pins {
        if let Some(entry) = lock.stacks.get_mut(&stack) {
            entry.pins = new;
        }
    }
    lock.write_atomic(&path)?;
    report.written = true;
    Ok(report)
}

/// What [`update`] would change, without writing anything (`update --locked`).
pub async fn check(session: &Session, names: &[String], cancel: &CancellationToken) -> Result<(UpdateReport, NewPins)> {
    let stacks = session.catalogue.select(names)?;
    let mut report = UpdateReport::default();
    let mut new_pins = NewPins::new();
    let mut engine: Option<Engine> = None;
    // Pass 1: which image answers for which stack. Stacks that share a parent image are asked
    // together: one container and one `apt-get update` per image, not per stack.
    let mut asks: Vec<(&Stack, Vec<String>, String)> = Vec::new();
    let mut per_image: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for stack in stacks {
        let entry = session.lock.as_ref().and_then(|l| l.stacks.get(&stack.name));
        let packages = pinnable_packages(stack);
        let Some(entry) = entry else {
            if !packages.is_empty() {
                report.notes.push(UpdateNote { stack: stack.name.clone(), message: "not in images.lock yet: build it first, then pin".into() });
            }
            continue;
        };
        if packages.is_empty() {
            if !entry.pins.is_empty() {
                for p in entry.pins.keys() {
                    report.notes.push(UpdateNote { stack: stack.name.clone(), message: format!("pin `{p}` dropped: the stack no longer installs it") });
                }
                new_pins.insert(stack.name.clone(), BTreeMap::new());
            }
            continue;
        }
        let engine = match &mut engine {
            Some(e) => e,
            None => engine.insert(crate::fleet::Roster::first_engine(&session.project.settings.engines).await?),
        };
        let image = query_image(session, engine, stack).await?;
        per_image.entry(image.clone()).or_default().extend(packages.iter().cloned());
        asks.push((stack, packages, image));
    }
    // Pass 2: ask each image once, all images at the same time.
    let answers: BTreeMap<String, BTreeMap<String, String>> = match &engine {
        None => BTreeMap::new(),
        Some(engine) => {
            let queries = per_image.iter().map(|(image, packages)| {
                let packages: Vec<String> = packages.iter().cloned().collect();
                async move { candidates(engine, image, &packages, cancel).await.map(|c| (image.clone(), c)) }
            });
            futures_util::future::try_join_all(queries).await?.into_iter().collect()
        }
    };
    // Pass 3: each stack's pins from its image's answer.
    for (stack, packages, image) in asks {
        let entry = session.lock.as_ref().and_then(|l| l.stacks.get(&stack.name)).expect("asked stacks have entries");
        let candidates = &answers[&image];
        report.queried.push((stack.name.clone(), image));
        let mut pins = BTreeMap::new();
        for p in &packages {
            match candidates.get(p) {
                Some(v) => {
                    pins.insert(p.clone(), v.clone());
                    if entry.pins.get(p) != Some(v) {
                        let from = entry.pins.get(p).or_else(|| entry.packages.get(p)).cloned();
                        report.changes.push(PinChange { stack: stack.name.clone(), package: p.clone(), from, to: v.clone() });
                    }
                }
                None => report.notes.push(UpdateNote {
                    stack: stack.name.clone(),
                    message: format!("the mirror has no installable candidate for `{p}` (a virtual package?): left unpinned"),
                }),
            }
        }
        for p in entry.pins.keys().filter(|p| !packages.contains(p)) {
            report.notes.push(UpdateNote { stack: stack.name.clone(), message: format!("pin `{p}` dropped: the stack no longer installs it") });
        }
        new_pins.insert(stack.name.clone(), pins);
    }
    report.would_change = !report.changes.is_empty() || new_pins.iter().any(|(s, p)| pins_differ(session, s, p));
    Ok((report, new_pins))
}

fn pins_differ(session: &Session, stack: &str, pins: &BTreeMap<String, String>) -> bool {
    session.lock.as_ref().and_then(|l| l.stacks.get(stack)).is_some_and(|e| e.pins != *pins)
}

/// The packages a stack installs by name, as [`render`](crate::render::render) pins them:
/// system packages, runtimes, FFmpeg, Composer, apt steps. Packages the definition already
/// pins itself (`pkg=version`) are left to it.
pub(crate) fn pinnable_packages(stack: &Stack) -> Vec<String> {
    // A package the definition pins itself (`pkg=version`) is not the lock's to move.
    stack.apt_packages().into_iter().filter(|p| !p.contains('=')).map(str::to_string).collect()
}

/// The image whose apt sources answer for `stack`: its parent's built image; for a root
/// stack its own built image, or else its `image =` reference.
async fn query_image(session: &Session, engine: &Engine, stack: &Stack) -> Result<String> {
    let (candidates, build): (Vec<String>, &str) = match &stack.origin {
        Origin::Parent { name } => (vec![session.project.image_ref(name)], name),
        Origin::Image { reference } => (vec![session.project.image_ref(&stack.name), reference.clone()], &stack.name),
        Origin::Bootstrap(_) => (vec![session.project.image_ref(&stack.name)], &stack.name),
    };
    for image in &candidates {
        if engine.image_exists(image).await? {
            return Ok(image.clone());
        }
    }
    Err(Error::Settings {
        message: format!("cannot ask the mirror for `{}`: no image `{}` in the engine", stack.name, candidates.join("` or `")),
        help: Some(format!("build `{build}` first: `ferrostack build {build}`")),
    })
}

/// Runs `apt-get update` and `apt-cache policy` in one throwaway container of `image` and
/// returns each package's candidate version (packages without one are absent).
async fn candidates(engine: &Engine, image: &str, packages: &[String], cancel: &CancellationToken) -> Result<BTreeMap<String, String>> {
    let quoted: Vec<String> = packages.iter().map(|p| shell_quote(p)).collect();
    let script = format!(
        "apt-get update -qq >/dev/null && for p in {}; do printf '%s\\t%s\\n' \"$p\" \"$(apt-cache policy \"$p\" | sed -n 's/^ *Candidate: *//p')\"; done",
        quoted.join(" ")
    );
    let mut req = RunRequest::shell(image, &script);
    req.user = Some("0".into());
    req.timeout = Some(QUERY_TIMEOUT);
    req.memory_limit = Some(CHECK_MEMORY);
    let out = engine.run(&req, cancel).await?;
    if !out.success() {
        let why = if out.timed_out { format!("timed out after {} s", QUERY_TIMEOUT.as_secs()) } else { format!("exited with {}", out.exit_code) };
        return Err(Error::Settings {
            message: format!("asking Debian's mirror from `{image}` failed: `apt-get update` {why}\n{}", out.stderr.trim_end()),
            help: Some("check the network and the mirror in the stack's apt sources, then run `ferrostack update` again".into()),
        });
    }
    Ok(parse_candidates(&out.stdout))
}

/// Parses `pkg\tversion` lines; an empty or `(none)` version means no candidate.
fn parse_candidates(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, v)| (p.trim(), v.trim()))
        .filter(|(_, v)| !v.is_empty() && *v != "(none)")
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A build failed because the mirror no longer offers a version the lock pins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the mirror no longer offers pinned `{package}` version `{version}`; run `ferrostack update` to move the pin")]
pub struct PinNotOffered {
    pub package: String,
    pub version: String,
}

impl PinNotOffered {
    /// Finds apt's `E: Version 'X' for 'pkg' was not found` in a build log (the classic
    /// builder colours a step's stderr, so colour codes are dropped first).
    pub fn find(log: &str) -> Option<PinNotOffered> {
        strip_colours(log).lines().find_map(|line| {
            let rest = line.trim().strip_prefix("E: Version '")?;
            let (version, rest) = rest.split_once("' for '")?;
            let (package, _) = rest.split_once("' was not found")?;
            Some(PinNotOffered { package: package.to_string(), version: version.to_string() })
        })
    }
}

/// `text` without ANSI SGR sequences (`ESC [ ... m`).
fn strip_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_skip_packages_without_one() {
        let parsed = parse_candidates("jq\t1.6-2.1+deb12u1\nnope\t\nvirt\t(none)\n");
        assert_eq!(parsed, BTreeMap::from([("jq".to_string(), "1.6-2.1+deb12u1".to_string())]));
    }

    #[test]
    fn apt_missing_version_is_recognised() {
        let log = "Reading package lists...\nE: Version '1.5+dfsg-2' for 'jq' was not found\n";
        let found = PinNotOffered::find(log).unwrap();
        assert_eq!(found, PinNotOffered { package: "jq".into(), version: "1.5+dfsg-2".into() });
        assert_eq!(
            found.to_string(),
            "the mirror no longer offers pinned `jq` version `1.5+dfsg-2`; run `ferrostack update` to move the pin"
        );
        assert_eq!(PinNotOffered::find("E: Unable to locate package jq"), None);
        // As the classic builder streams it: stderr in red.
        let coloured = "   \u{1b}[91mE\u{1b}[0m\u{1b}[91m: \u{1b}[0m\u{1b}[91mVersion '1.5+dfsg-2' for 'jq' was not found\u{1b}[0m\u{1b}[91m\n";
        assert_eq!(PinNotOffered::find(coloured), Some(found));
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }
}
