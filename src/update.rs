//! `ferrostack update`: upstream drift detection. Asks Debian's mirror, from a throwaway
//! container of each stack's parent image, which version of each package the stack installs
//! `apt-get install` would pick today, and moves the lock's pins there. It pins the whole
//! closure: `apt-get install --simulate` of each install the Dockerfile runs names every
//! dependency apt would add or upgrade over the parent's image, and each is pinned under the
//! named package that pulls it in (`dependency_pins`). Pins are hashed, so a moved pin makes
//! the next `plan` say `build`, naming the package and both versions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::builder::CHECK_MEMORY;
use crate::closure::Simulation;
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
    /// For a dependency pin: the named package that pulls it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency_of: Option<String>,
}

impl PinChange {
    /// A real move: the version changes (not a first pin at the version already built).
    pub fn moved(&self) -> bool {
        self.from.as_ref().is_some_and(|from| *from != self.to)
    }
}

/// One package moving from one version to another, and every stack it moves in: for
/// `update --json`, a night's moves at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    pub package: String,
    pub from: String,
    pub to: String,
    /// The named packages that pull it in (empty when a stack names it itself).
    pub dependency_of: Vec<String>,
    /// The stacks whose pins move.
    pub stacks: Vec<String>,
    /// Those stacks and their descendants: every stack the move rebuilds.
    pub rebuilds: Vec<String>,
}

impl fmt::Display for PinChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) if *from == self.to => write!(
                f,
                "{}: {} {} (now pinned)",
                self.stack, self.package, self.to
            ),
            Some(from) => write!(f, "{}: {} {from} → {}", self.stack, self.package, self.to),
            None => write!(
                f,
                "{}: {} (unpinned) → {}",
                self.stack, self.package, self.to
            ),
        }?;
        match &self.dependency_of {
            Some(of) => write!(f, " (dependency of {of})"),
            None => Ok(()),
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
    /// Pins that move (or appear), dependencies included.
    pub changes: Vec<PinChange>,
    /// The changes that move a version, by package, with the stacks they affect.
    pub moves: Vec<Move>,
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

/// A stack's pins as `update` leaves them: named packages, and their dependencies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackPins {
    pub named: BTreeMap<String, String>,
    pub dependencies: BTreeMap<String, BTreeMap<String, String>>,
}

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

/// The dependency pins of a stack whose installs (`installs`, in Dockerfile order) the
/// image answered: install `i` adds what the simulation of installs `0..=i` has and that of
/// `0..i` has not; each dependency goes under the first package of its install whose own
/// simulation pulls it in (the install's first package when none does alone). Packages the
/// stack names are pinned by name, not here. `Err` carries apt's first error.
fn closure_pins(
    installs: &[Vec<&str>],
    stack: &str,
    solo: &str,
    answer: &Answer,
) -> std::result::Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let simulation = |id: &str| -> std::result::Result<&Simulation, String> {
        let sim = answer
            .simulations
            .get(id)
            .ok_or_else(|| "no answer".to_string())?;
        match sim.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(sim),
        }
    };
    let base = |p: &str| p.split('=').next().unwrap_or(p).to_string();
    let named: BTreeSet<String> = installs.iter().flatten().map(|p| base(p)).collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (i, install) in installs.iter().enumerate() {
        let all = simulation(&format!("g:{stack}:{i}"))?;
        let mut solos = Vec::new();
        for p in install {
            solos.push((base(p), simulation(&format!("{solo}:{p}"))?));
        }
        for (dep, version) in &all.installs {
            if named.contains(dep) || !seen.insert(dep.clone()) {
                continue;
            }
            let of = solos
                .iter()
                .find(|(_, sim)| sim.installs.contains_key(dep))
                .map_or_else(|| base(install[0]), |(p, _)| p.clone());
            out.entry(of)
                .or_default()
                .insert(dep.clone(), version.clone());
        }
    }
    Ok(out)
}

/// What one image is asked: candidates of packages, and simulated installs by id (`n:PKG`
/// for a package alone, `g:STACK:I` for a stack's first `I + 1` installs together), each with
/// whether it reads the status without the image's own installs (`r:PKG` solos; for the root
/// the image is built from).
#[derive(Debug, Default)]
struct Ask {
    packages: BTreeSet<String>,
    simulations: BTreeMap<String, (Vec<String>, bool)>,
    /// The image is a root stack's own: make the status without what its apt runs installed.
    root: bool,
}

/// Writes [`ROOT_STATUS`]: the image's dpkg status without every package apt's history says
/// was installed or upgraded in it (what a root's own installs added over its bootstrap or
/// image), so a simulation there sees the root as it was before them.
const ROOT_STATUS_SCRIPT: &str = "{ echo -; grep -E '^(Install|Upgrade): ' /var/log/apt/history.log 2>/dev/null | grep -oE '[a-z0-9][a-z0-9+.-]*:[a-z0-9-]+ [(]' | cut -d: -f1; } | sort -u > /tmp/ferrostack-installed && awk 'FNR==NR{skip[$1]=1;next} /^Package: /{keep=!($2 in skip)} keep' /tmp/ferrostack-installed /var/lib/dpkg/status > /tmp/ferrostack-status";

/// The dpkg status a root's simulations read.
const ROOT_STATUS: &str = "/tmp/ferrostack-status";

/// What one image answered.
#[derive(Debug, Default)]
struct Answer {
    candidates: BTreeMap<String, String>,
    simulations: BTreeMap<String, Simulation>,
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

/// Runs `apt-get update`, `apt-cache policy` and the simulated installs in one throwaway
/// container of `image` and returns each package's candidate version (packages without one
/// are absent) and each simulation's `Inst` lines.
async fn candidates(
    engine: &Engine,
    image: &str,
    ask: &Ask,
    cancel: &CancellationToken,
) -> Result<Answer> {
    let quoted: Vec<String> = ask.packages.iter().map(|p| shell_quote(p)).collect();
    // The same flags as the Dockerfile's installs; `Inst` and `E:` lines only, under `=ID`.
    let mut script = format!(
        "sim() {{ printf '=%s\\n' \"$1\"; st=$2; shift 2; apt-get install -s --no-install-recommends -o Dir::State::status=\"$st\" \"$@\" 2>&1 | grep -E '^(Inst |E: )'; true; }}; apt-get update -qq >/dev/null && for p in {}; do printf '%s\\t%s\\n' \"$p\" \"$(apt-cache policy \"$p\" | sed -n 's/^ *Candidate: *//p')\"; done",
        quoted.join(" ")
    );
    if ask.root {
        script.push_str(&format!(" && {ROOT_STATUS_SCRIPT}"));
    }
    for (id, (packages, root)) in &ask.simulations {
        let quoted: Vec<String> = packages.iter().map(|p| shell_quote(p)).collect();
        let status = if *root {
            ROOT_STATUS
        } else {
            "/var/lib/dpkg/status"
        };
        script.push_str(&format!(
            " && sim {} {status} {}",
            shell_quote(id),
            quoted.join(" ")
        ));
    }
    let mut req = RunRequest::shell(image, &script);
    req.user = Some("0".into());
    req.timeout = Some(QUERY_TIMEOUT);
    req.memory_limit = Some(CHECK_MEMORY);
    let out = engine.run(&req, cancel).await?;
    if !out.success() {
        let why = if out.timed_out {
            format!("timed out after {} s", QUERY_TIMEOUT.as_secs())
        } else {
            format!("exited with {}", out.exit_code)
        };
        return Err(Error::Settings {
            message: format!("asking Debian's mirror from `{image}` failed: `apt-get update` {why}\n{}", out.stderr.trim_end()),
            help: Some("check the network and the mirror in the stack's apt sources, then run `ferrostack update` again".into()),
        });
    }
    Ok(parse_answer(&out.stdout))
}

/// Splits the script's output: `pkg\tversion` lines before the first `=ID`, then each
/// simulation's lines under its `=ID`.
fn parse_answer(stdout: &str) -> Answer {
    let mut answer = Answer::default();
    let end = stdout.find("\n=").map_or(stdout.len(), |i| i + 1);
    let end = if stdout.starts_with('=') { 0 } else { end };
    answer.candidates = parse_candidates(&stdout[..end]);
    let mut current: Option<&mut Simulation> = None;
    for line in stdout[end..].lines() {
        if let Some(id) = line.strip_prefix('=') {
            current = Some(answer.simulations.entry(id.to_string()).or_default());
        } else if let Some(sim) = current.as_mut() {
            sim.read_line(line);
        }
    }
    answer
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
#[error("the mirror no longer offers pinned `{package}` version `{version}`{}; run `ferrostack update` to move the pin", of_text(.dependency_of))]
pub struct PinNotOffered {
    pub package: String,
    pub version: String,
    /// When the pin is a dependency pin: the named package that pulls it in.
    pub dependency_of: Option<String>,
}

fn of_text(of: &Option<String>) -> String {
    of.as_ref()
        .map(|of| format!(" (a dependency of `{of}`)"))
        .unwrap_or_default()
}

impl PinNotOffered {
    /// Names the package that pulls the pin in, when the stack's inputs (`dep:<of>:<pkg>`)
    /// say it is a dependency pin.
    pub fn with_inputs(mut self, inputs: &BTreeMap<String, String>) -> PinNotOffered {
        self.dependency_of = inputs.keys().find_map(|k| {
            let (of, dep) = k.strip_prefix("dep:")?.split_once(':')?;
            (dep == self.package).then(|| of.to_string())
        });
        self
    }

    /// Finds apt's `E: Version 'X' for 'pkg' was not found` in a build log (the classic
    /// builder colours a step's stderr, so colour codes are dropped first).
    pub fn find(log: &str) -> Option<PinNotOffered> {
        strip_colours(log).lines().find_map(|line| {
            let rest = line.trim().strip_prefix("E: Version '")?;
            let (version, rest) = rest.split_once("' for '")?;
            let (package, _) = rest.split_once("' was not found")?;
            Some(PinNotOffered {
                package: package.to_string(),
                version: version.to_string(),
                dependency_of: None,
            })
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
        assert_eq!(
            parsed,
            BTreeMap::from([("jq".to_string(), "1.6-2.1+deb12u1".to_string())])
        );
    }

    #[test]
    fn apt_missing_version_is_recognised() {
        let log = "Reading package lists...\nE: Version '1.5+dfsg-2' for 'jq' was not found\n";
        let found = PinNotOffered::find(log).unwrap();
        assert_eq!(
            found,
            PinNotOffered {
                package: "jq".into(),
                version: "1.5+dfsg-2".into(),
                dependency_of: None
            }
        );
        assert_eq!(
            found.to_string(),
            "the mirror no longer offers pinned `jq` version `1.5+dfsg-2`; run `ferrostack update` to move the pin"
        );
        let inputs = BTreeMap::from([
            ("dep:jq:libonig5".to_string(), "6.9.8-1".to_string()),
            ("pin:jq".to_string(), "1.6-2.1".to_string()),
        ]);
        let dependency = PinNotOffered::find("E: Version '6.9.8-1' for 'libonig5' was not found")
            .unwrap()
            .with_inputs(&inputs);
        assert_eq!(
            dependency.to_string(),
            "the mirror no longer offers pinned `libonig5` version `6.9.8-1` (a dependency of `jq`); run `ferrostack update` to move the pin"
        );
        assert_eq!(found.clone().with_inputs(&inputs).dependency_of, None);
        assert_eq!(PinNotOffered::find("E: Unable to locate package jq"), None);
        // As the classic builder streams it: stderr in red.
        let coloured = "   \u{1b}[91mE\u{1b}[0m\u{1b}[91m: \u{1b}[0m\u{1b}[91mVersion '1.5+dfsg-2' for 'jq' was not found\u{1b}[0m\u{1b}[91m\n";
        assert_eq!(PinNotOffered::find(coloured), Some(found));
    }

    #[test]
    fn the_closure_is_pinned_per_install_under_the_package_that_pulls_it_in() {
        // Installs: `python3` (pulls libssl3, libpython3.11), then an apt step `curl jq`
        // (curl pulls libssl3 too, already there; jq pulls libjq1).
        let stdout = "python3\t3.11.2-1+b1\ncurl\t7.88.1-10+deb12u12\njq\t1.6-2.1\n\
            =g:app:0\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst libpython3.11 (3.11.2-6 Debian:12/stable [amd64])\nInst python3 (3.11.2-1+b1 Debian:12/stable [amd64])\n\
            =g:app:1\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst libpython3.11 (3.11.2-6 Debian:12/stable [amd64])\nInst python3 (3.11.2-1+b1 Debian:12/stable [amd64])\nInst curl (7.88.1-10+deb12u12 Debian:12/stable [amd64])\nInst libjq1 (1.6-2.1 Debian:12/stable [amd64])\nInst jq (1.6-2.1 Debian:12/stable [amd64])\n\
            =n:python3\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst libpython3.11 (3.11.2-6 Debian:12/stable [amd64])\nInst python3 (3.11.2-1+b1 Debian:12/stable [amd64])\n\
            =n:curl\nInst libssl3 [3.0.17-1~deb12u2] (3.0.17-1~deb12u3 Debian-Security:12/stable-security [amd64])\nInst curl (7.88.1-10+deb12u12 Debian:12/stable [amd64])\n\
            =n:jq\nInst libjq1 (1.6-2.1 Debian:12/stable [amd64])\nInst jq (1.6-2.1 Debian:12/stable [amd64])\n";
        let answer = parse_answer(stdout);
        assert_eq!(answer.candidates.len(), 3);
        let installs = vec![vec!["python3"], vec!["curl", "jq"]];
        let pins = closure_pins(&installs, "app", "n", &answer).unwrap();
        let text: Vec<String> = pins
            .iter()
            .flat_map(|(of, deps)| deps.iter().map(move |(d, v)| format!("{of}: {d}={v}")))
            .collect();
        assert_eq!(
            text,
            [
                "jq: libjq1=1.6-2.1",
                "python3: libpython3.11=3.11.2-6",
                "python3: libssl3=3.0.17-1~deb12u3"
            ]
        );

        let failed = parse_answer("=g:app:0\nE: Unable to locate package nope\n=n:nope\nE: Unable to locate package nope\n");
        assert_eq!(
            closure_pins(&[vec!["nope"]], "app", "n", &failed),
            Err("Unable to locate package nope".to_string())
        );
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
    }
}
