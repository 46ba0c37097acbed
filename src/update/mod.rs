//! `ferrostack update`: upstream drift detection. Asks Debian's mirror, from a throwaway
//! container of each stack's parent image, which version of each package the stack installs
//! `apt-get install` would pick today, and moves the lock's pins there. It pins the whole
//! closure: `apt-get install --simulate` of each install the Dockerfile runs names every
//! dependency apt would add or upgrade over the parent's image, and each is pinned under the
//! named package that pulls it in (`dependency_pins`). Pins are hashed, so a moved pin makes
//! the next `plan` say `build`, naming the package and both versions.

mod mirror_answer;
mod pin_change;
mod pin_not_offered;
mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::engine::{CancellationToken, Engine};
use crate::error::{Error, Result};
use crate::lock::{LockGuard, Lockfile};
use crate::session::Session;
use crate::stack::{Origin, Stack};

use mirror_answer::{candidates, closure_pins, Answer, Ask};
pub use pin_change::{Move, PinChange};
pub use pin_not_offered::PinNotOffered;
pub use report::{StackPins, UpdateNote, UpdateReport};

/// How long one stack's `apt-get update` + `apt-cache policy` may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);

/// Pins moved by `update`, keyed by stack.
type NewPins = BTreeMap<String, StackPins>;

/// Queries the mirror for the named stacks (all when empty; their parents are included) and
/// writes the new pins into `images.lock`, under the lock guard. Only pins change: the next
/// `plan` sees the pin inputs differ.
pub async fn update(
    session: &Session,
    names: &[String],
    cancel: &CancellationToken,
) -> Result<UpdateReport> {
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
            entry.pins = new.named;
            entry.dependency_pins = new.dependencies;
        }
    }
    lock.write_atomic(&path)?;
    report.written = true;
    Ok(report)
}

/// What [`update`] would change, without writing anything (`update --locked`).
pub async fn check(
    session: &Session,
    names: &[String],
    cancel: &CancellationToken,
) -> Result<(UpdateReport, NewPins)> {
    let stacks = session.catalogue.select(names)?;
    let mut report = UpdateReport::default();
    let mut new_pins = NewPins::new();
    let mut engine: Option<Engine> = None;
    // Pass 1: which image answers for which stack. Stacks that share a parent image are asked
    // together: one container and one `apt-get update` per image, not per stack.
    let mut asks: Vec<(&Stack, Vec<String>, String)> = Vec::new();
    let mut per_image: BTreeMap<String, Ask> = BTreeMap::new();
    for stack in stacks {
        let entry = session
            .lock
            .as_ref()
            .and_then(|l| l.stacks.get(&stack.name));
        let packages = pinnable_packages(stack);
        let Some(entry) = entry else {
            if !packages.is_empty() {
                report.notes.push(UpdateNote {
                    stack: stack.name.clone(),
                    message: "not in images.lock yet: build it first, then pin".into(),
                });
            }
            continue;
        };
        if stack.apt_packages().is_empty() {
            if !entry.pins.is_empty() || !entry.dependency_pins.is_empty() {
                for p in entry
                    .pins
                    .keys()
                    .chain(entry.dependency_pins.keys())
                    .collect::<BTreeSet<_>>()
                {
                    report.notes.push(UpdateNote {
                        stack: stack.name.clone(),
                        message: format!("pin `{p}` dropped: the stack no longer installs it"),
                    });
                }
                new_pins.insert(stack.name.clone(), StackPins::default());
            }
            continue;
        }
        let engine = match &mut engine {
            Some(e) => e,
            None => engine.insert(
                crate::fleet::Roster::first_engine(&session.project.settings.engines).await?,
            ),
        };
        let image = query_image(session, engine, stack).await?;
        let ask = per_image.entry(image.clone()).or_default();
        ask.packages.extend(packages.iter().cloned());
        // A root answered by its own image already holds what it installs: its simulations
        // read a dpkg status without what its apt runs installed (`r:` solos).
        let root = image == session.project.image_ref(&stack.name);
        ask.root |= root;
        let installs = stack.apt_installs();
        for p in installs.iter().flatten() {
            let id = if root {
                format!("r:{p}")
            } else {
                format!("n:{p}")
            };
            ask.simulations.insert(id, (vec![p.to_string()], root));
        }
        for i in 0..installs.len() {
            ask.simulations.insert(
                format!("g:{}:{i}", stack.name),
                (
                    installs[..=i]
                        .iter()
                        .flatten()
                        .map(|p| p.to_string())
                        .collect(),
                    root,
                ),
            );
        }
        asks.push((stack, packages, image));
    }
    // Pass 2: ask each image once, all images at the same time.
    let answers: BTreeMap<String, Answer> = match &engine {
        None => BTreeMap::new(),
        Some(engine) => {
            let queries = per_image.iter().map(|(image, ask)| async move {
                candidates(engine, image, ask, cancel)
                    .await
                    .map(|c| (image.clone(), c))
            });
            futures_util::future::try_join_all(queries)
                .await?
                .into_iter()
                .collect()
        }
    };
    // Pass 3: each stack's pins from its image's answer.
    for (stack, packages, image) in asks {
        let entry = session
            .lock
            .as_ref()
            .and_then(|l| l.stacks.get(&stack.name))
            .expect("asked stacks have entries");
        let answer = &answers[&image];
        let candidates = &answer.candidates;
        report.queried.push((stack.name.clone(), image.clone()));
        let mut pins = BTreeMap::new();
        for p in &packages {
            match candidates.get(p) {
                Some(v) => {
                    pins.insert(p.clone(), v.clone());
                    if entry.pins.get(p) != Some(v) {
                        let from = entry.pins.get(p).or_else(|| entry.packages.get(p)).cloned();
                        report.changes.push(PinChange { stack: stack.name.clone(), package: p.clone(), from, to: v.clone(), dependency_of: None });
                    }
                }
                None => report.notes.push(UpdateNote {
                    stack: stack.name.clone(),
                    message: format!("the mirror has no installable candidate for `{p}` (a virtual package?): left unpinned"),
                }),
            }
        }
        for p in entry.pins.keys().filter(|p| !packages.contains(p)) {
            report.notes.push(UpdateNote {
                stack: stack.name.clone(),
                message: format!("pin `{p}` dropped: the stack no longer installs it"),
            });
        }
        let root = image == session.project.image_ref(&stack.name);
        let dependencies = match closure_pins(
            &stack.apt_installs(),
            &stack.name,
            if root { "r" } else { "n" },
            answer,
        ) {
            Ok(deps) => deps,
            Err(why) => {
                report.notes.push(UpdateNote {
                    stack: stack.name.clone(),
                    message: format!("apt could not resolve the closure ({why}): its dependency pins are left as they were"),
                });
                entry.dependency_pins.clone()
            }
        };
        let old_dependencies: BTreeMap<&String, &String> =
            entry.dependency_pins.values().flatten().collect();
        for (of, deps) in &dependencies {
            for (dep, version) in deps {
                let old = old_dependencies.get(dep).copied();
                if old == Some(version) {
                    continue;
                }
                // Pinned for the first time: the version the last build recorded is the "from".
                let from = old.cloned().or_else(|| {
                    entry
                        .closure
                        .iter()
                        .find(|(k, _)| k.split(':').next() == Some(dep.as_str()))
                        .map(|(_, r)| r.version.clone())
                });
                report.changes.push(PinChange {
                    stack: stack.name.clone(),
                    package: dep.clone(),
                    from,
                    to: version.clone(),
                    dependency_of: Some(of.clone()),
                });
            }
        }
        new_pins.insert(
            stack.name.clone(),
            StackPins {
                named: pins,
                dependencies,
            },
        );
    }
    report.moves = moves(session, &report.changes);
    report.would_change =
        !report.changes.is_empty() || new_pins.iter().any(|(s, p)| pins_differ(session, s, p));
    Ok((report, new_pins))
}

fn pins_differ(session: &Session, stack: &str, pins: &StackPins) -> bool {
    session
        .lock
        .as_ref()
        .and_then(|l| l.stacks.get(stack))
        .is_some_and(|e| e.pins != pins.named || e.dependency_pins != pins.dependencies)
}

/// The changes that move a version, one per package and versions, with every stack they move
/// in and every stack they rebuild.
fn moves(session: &Session, changes: &[PinChange]) -> Vec<Move> {
    let mut by: BTreeMap<(&str, &str, &str), Move> = BTreeMap::new();
    for c in changes.iter().filter(|c| c.moved()) {
        let from = c.from.as_deref().expect("a move has a from");
        let m = by.entry((&c.package, from, &c.to)).or_insert_with(|| Move {
            package: c.package.clone(),
            from: from.to_string(),
            to: c.to.clone(),
            dependency_of: Vec::new(),
            stacks: Vec::new(),
            rebuilds: Vec::new(),
        });
        if let Some(of) = &c.dependency_of {
            if !m.dependency_of.contains(of) {
                m.dependency_of.push(of.clone());
            }
        }
        if !m.stacks.contains(&c.stack) {
            m.stacks.push(c.stack.clone());
        }
    }
    let graph = session.catalogue.graph();
    by.into_values()
        .map(|mut m| {
            let rebuilds: BTreeSet<String> = m
                .stacks
                .iter()
                .flat_map(|s| graph.with_descendants(s))
                .collect();
            m.rebuilds = rebuilds.into_iter().collect();
            m.dependency_of.sort();
            m.stacks.sort();
            m
        })
        .collect()
}

/// The packages a stack installs by name, as [`render`](crate::render::render) pins them:
/// system packages, runtimes, FFmpeg, Composer, apt steps. Packages the definition already
/// pins itself (`pkg=version`) are left to it.
pub(crate) fn pinnable_packages(stack: &Stack) -> Vec<String> {
    // A package the definition pins itself (`pkg=version`) is not the lock's to move.
    stack
        .apt_packages()
        .into_iter()
        .filter(|p| !p.contains('='))
        .map(str::to_string)
        .collect()
}

/// The image whose apt sources answer for `stack`: its parent's built image; for a root
/// stack its own built image, or else its `image =` reference.
async fn query_image(session: &Session, engine: &Engine, stack: &Stack) -> Result<String> {
    let (candidates, build): (Vec<String>, &str) = match &stack.origin {
        Origin::Parent { name } => (vec![session.project.image_ref(name)], name),
        Origin::Image { reference } => (
            vec![session.project.image_ref(&stack.name), reference.clone()],
            &stack.name,
        ),
        Origin::Bootstrap(_) => (vec![session.project.image_ref(&stack.name)], &stack.name),
    };
    for image in &candidates {
        if engine.image_exists(image).await? {
            return Ok(image.clone());
        }
    }
    Err(Error::Settings {
        message: format!(
            "cannot ask the mirror for `{}`: no image `{}` in the engine",
            stack.name,
            candidates.join("` or `")
        ),
        help: Some(format!("build `{build}` first: `ferrostack build {build}`")),
    })
}
