//! The plan: for each stack, its hash, whether it needs building, and why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::hash::Prepared;
use crate::lock::Lockfile;
use crate::stack::Stack;

/// What happens to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Build,
    UpToDate,
    /// `status = "eol"`: not built any more.
    Eol,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Build => "build",
            Action::UpToDate => "up-to-date",
            Action::Eol => "eol",
        })
    }
}

/// Why a stack is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// There is no `images.lock` yet.
    NotInLock,
    /// The lock has no entry for this stack.
    NewStack,
    /// The stack's definition (its parsed TOML, not comments or layout) changed.
    DefinitionChanged,
    /// The origin (external image reference or bootstrap settings) changed.
    OriginChanged,
    /// A template the stack renders with changed.
    TemplateChanged {
        template: String,
    },
    /// A context file changed, appeared or disappeared.
    FileChanged {
        path: String,
    },
    FileAdded {
        path: String,
    },
    FileRemoved {
        path: String,
    },
    /// A pinned Debian package version changed.
    PinChanged {
        package: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// A pinned dependency of a named package moved (or was pinned, or unpinned).
    DependencyPinChanged {
        package: String,
        of: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// Many dependencies pinned for the first time (the first `update` that pins the closure).
    DependenciesPinned {
        count: usize,
    },
    /// A source file of the bundled `ferrostack-media` helper changed.
    HelperChanged {
        path: String,
    },
    /// The parent stack is being rebuilt.
    ParentRebuilt {
        parent: String,
    },
    /// The rendered Dockerfile changed for another reason (settings, ferrostack itself).
    DockerfileChanged,
    /// The hash changed with every recorded input equal (a new hash schema).
    HashChanged,
    /// The lock has the hash, but the engine has no image with it.
    ImageNotInEngine,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NotInLock => write!(f, "not in lock"),
            Reason::NewStack => write!(f, "new stack"),
            Reason::DefinitionChanged => write!(f, "definition changed"),
            Reason::OriginChanged => write!(f, "origin changed"),
            Reason::TemplateChanged { template } => write!(f, "template `{template}` changed"),
            Reason::FileChanged { path } => write!(f, "file `{path}` changed"),
            Reason::FileAdded { path } => write!(f, "file `{path}` added"),
            Reason::FileRemoved { path } => write!(f, "file `{path}` removed"),
            Reason::PinChanged {
                package,
                from: Some(from),
                to: Some(to),
            } if from == to => write!(f, "{package} {to} (now pinned)"),
            Reason::PinChanged { package, from, to } => write!(
                f,
                "{package} {} → {}",
                from.as_deref().unwrap_or("(unpinned)"),
                to.as_deref().unwrap_or("(unpinned)")
            ),
            Reason::DependencyPinChanged {
                package,
                of,
                from,
                to,
            } => write!(
                f,
                "{package} {} → {} (dependency of {of})",
                from.as_deref().unwrap_or("(unpinned)"),
                to.as_deref().unwrap_or("(unpinned)")
            ),
            Reason::DependenciesPinned { count } => write!(f, "{count} dependencies pinned"),
            Reason::HelperChanged { path } if path.ends_with(" files") => {
                write!(f, "media helper sources changed ({path})")
            }
            Reason::HelperChanged { path } => write!(f, "media helper source `{path}` changed"),
            Reason::ParentRebuilt { parent } => write!(f, "parent `{parent}` rebuilt"),
            Reason::DockerfileChanged => write!(f, "Dockerfile changed"),
            Reason::HashChanged => write!(f, "hash changed"),
            Reason::ImageNotInEngine => write!(f, "image not in engine"),
        }
    }
}

/// Where an `up-to-date` stack's image was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    /// In the engine (an image labelled with the stack's hash).
    Engine,
    /// In the registry, under the stack's immutable tag (not pulled).
    Registry,
}

/// One stack in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStack {
    pub name: String,
    pub parent: Option<String>,
    pub hash: String,
    pub action: Action,
    pub reasons: Vec<Reason>,
    pub tags: Vec<String>,
    pub source: String,
    /// `status = "deprecated"`: still built, with a warning.
    pub deprecated: bool,
    /// Where an `up-to-date` image was found (`None` until the engine or registry is asked).
    pub found: Option<Found>,
}

/// Every selected stack, parents first.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stacks: Vec<PlannedStack>,
}

impl Plan {
    /// Compares each prepared stack with the lock. `stacks` is in build order.
    pub fn new(
        stacks: &[&Stack],
        prepared: &BTreeMap<String, Prepared>,
        lock: Option<&Lockfile>,
    ) -> Plan {
        let mut rebuilt: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        for stack in stacks {
            let p = &prepared[&stack.name];
            let entry = lock.and_then(|l| l.stacks.get(&stack.name));
            let mut reasons = Vec::new();
            match (lock, entry) {
                (None, _) => reasons.push(Reason::NotInLock),
                (Some(_), None) => reasons.push(Reason::NewStack),
                (Some(_), Some(e)) if e.hash != p.hash => reasons.extend(
                    diff_inputs(&e.inputs, &p.inputs)
                        .into_iter()
                        .map(|r| match r {
                            // Built before it was pinned: the version the build recorded is the "from".
                            Reason::PinChanged {
                                package,
                                from: None,
                                to,
                            } => {
                                let from = e.packages.get(&package).cloned();
                                Reason::PinChanged { package, from, to }
                            }
                            r => r,
                        }),
                ),
                _ => {}
            }
            if let Some(parent) = stack.parent() {
                // A changed parent hash reads as "parent rebuilt", named, and listed last.
                let had = reasons
                    .iter()
                    .any(|r| matches!(r, Reason::ParentRebuilt { .. }));
                reasons
                    .retain(|r| !matches!(r, Reason::ParentRebuilt { .. } | Reason::HashChanged));
                if had || (rebuilt.contains(parent) && entry.is_some()) {
                    reasons.push(Reason::ParentRebuilt {
                        parent: parent.to_string(),
                    });
                }
                if reasons.is_empty() && entry.is_some_and(|e| e.hash != p.hash) {
                    reasons.push(Reason::HashChanged);
                }
            }
            let action = if stack.status == crate::stack::Status::Eol {
                reasons.clear();
                Action::Eol
            } else if reasons.is_empty() {
                Action::UpToDate
            } else {
                Action::Build
            };
            if action == Action::Build {
                rebuilt.insert(&stack.name);
            }
            out.push(PlannedStack {
                name: stack.name.clone(),
                parent: stack.parent().map(str::to_string),
                hash: p.hash.clone(),
                action,
                reasons,
                tags: stack.tags.clone(),
                source: stack.source.clone(),
                deprecated: stack.status == crate::stack::Status::Deprecated,
                found: None,
            });
        }
        Plan { stacks: out }
    }

    /// Stacks that will be built.
    pub fn to_build(&self) -> impl Iterator<Item = &PlannedStack> {
        self.stacks.iter().filter(|s| s.action == Action::Build)
    }

    /// Records where an up-to-date stack's image was found.
    pub fn set_found(&mut self, name: &str, found: Found) {
        if let Some(s) = self.stacks.iter_mut().find(|s| s.name == name) {
            s.found = Some(found);
        }
    }

    /// Marks a stack (and everything below it in the plan) for building with `reason`.
    pub fn force(&mut self, name: &str, reason: Reason) {
        let mut below: BTreeSet<String> = BTreeSet::from([name.to_string()]);
        for s in &mut self.stacks {
            if s.action == Action::Eol {
                continue;
            }
            if s.name == name {
                s.action = Action::Build;
                if !s.reasons.contains(&reason) {
                    s.reasons.push(reason.clone());
                }
            } else if s.parent.as_ref().is_some_and(|p| below.contains(p)) {
                below.insert(s.name.clone());
                let parent_reason = Reason::ParentRebuilt {
                    parent: s.parent.clone().expect("checked"),
                };
                s.action = Action::Build;
                if !s.reasons.contains(&parent_reason) {
                    s.reasons.push(parent_reason);
                }
            }
        }
    }

    /// The plan as text: one line per stack, reasons indented below.
    pub fn to_text(&self) -> String {
        let width = self.stacks.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for s in &self.stacks {
            let short = s.hash.strip_prefix("sha256:").unwrap_or(&s.hash);
            let found = if s.action == Action::UpToDate && s.found == Some(Found::Registry) {
                "  (registry)"
            } else {
                ""
            };
            let note = if s.deprecated {
                format!("{found}  (deprecated)")
            } else {
                found.to_string()
            };
            out.push_str(&format!(
                "{:<10} {:<width$}  {}{note}\n",
                s.action.to_string(),
                s.name,
                &short[..12.min(short.len())]
            ));
            for r in &s.reasons {
                out.push_str(&format!("           {:<width$}  - {r}\n", ""));
            }
        }
        let n = self.to_build().count();
        let eol = self
            .stacks
            .iter()
            .filter(|s| s.action == Action::Eol)
            .count();
        let up = self.stacks.len() - n - eol;
        if eol > 0 {
            out.push_str(&format!("{n} to build, {up} up-to-date, {eol} eol\n"));
        } else {
            out.push_str(&format!("{n} to build, {up} up-to-date\n"));
        }
        out
    }
}

/// The dependency pins (`dep:<package>:<dependency>` inputs) that differ, by dependency: a
/// dependency now pulled in by another package but at the same version is no move. Many
/// first pins read as one reason.
fn dependency_moves(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<Reason> {
    let deps = |inputs: &BTreeMap<String, String>| -> BTreeMap<String, (String, String)> {
        inputs
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("dep:")?
                    .split_once(':')
                    .map(|(of, dep)| (dep.to_string(), (of.to_string(), v.clone())))
            })
            .collect()
    };
    let (old, new) = (deps(old), deps(new));
    let mut moves = Vec::new();
    let mut first_pins = Vec::new();
    for package in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
        let (o, n) = (old.get(package), new.get(package));
        if o.map(|(_, v)| v) == n.map(|(_, v)| v) {
            continue;
        }
        let of = n.or(o).map(|(of, _)| of.clone()).expect("one side has it");
        let reason = Reason::DependencyPinChanged {
            package: package.clone(),
            of,
            from: o.map(|(_, v)| v.clone()),
            to: n.map(|(_, v)| v.clone()),
        };
        if o.is_none() {
            first_pins.push(reason)
        } else {
            moves.push(reason)
        }
    }
    if first_pins.len() > 3 {
        moves.push(Reason::DependenciesPinned {
            count: first_pins.len(),
        });
    } else {
        moves.extend(first_pins);
    }
    moves
}

/// Explains a hash change by comparing recorded input digests.
fn diff_inputs(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let changed = |k: &str| old.get(k) != new.get(k);
    if changed("origin") {
        reasons.push(Reason::OriginChanged);
    }
    if changed("definition") {
        reasons.push(Reason::DefinitionChanged);
    }
    reasons.extend(dependency_moves(old, new));
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for k in &keys {
        let (o, n) = (old.get(*k), new.get(*k));
        if o == n {
            continue;
        }
        if let Some(t) = k.strip_prefix("template:") {
            reasons.push(Reason::TemplateChanged {
                template: t.to_string(),
            });
        } else if let Some(f) = k.strip_prefix("file:") {
            let path = f.to_string();
            reasons.push(match (o, n) {
                (None, _) => Reason::FileAdded { path },
                (_, None) => Reason::FileRemoved { path },
                _ => Reason::FileChanged { path },
            });
        } else if let Some(h) = k.strip_prefix("helper:") {
            reasons.push(Reason::HelperChanged {
                path: h.to_string(),
            });
        } else if k.as_str() == "parent" {
            reasons.push(Reason::ParentRebuilt {
                parent: String::new(),
            });
        } else if let Some(p) = k.strip_prefix("pin:") {
            reasons.push(Reason::PinChanged {
                package: p.to_string(),
                from: o.cloned(),
                to: n.cloned(),
            });
        }
    }
    // Many helper files at once (a new helper, a dependency bump) read as one reason.
    let helper_changes = reasons
        .iter()
        .filter(|r| matches!(r, Reason::HelperChanged { .. }))
        .count();
    if helper_changes > 3 {
        reasons.retain(|r| !matches!(r, Reason::HelperChanged { .. }));
        reasons.push(Reason::HelperChanged {
            path: format!("{helper_changes} files"),
        });
    }
    let explained = !reasons.is_empty();
    if !explained && changed("dockerfile") {
        reasons.push(Reason::DockerfileChanged);
    }
    if reasons.is_empty() {
        reasons.push(Reason::HashChanged);
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_moved_dependency_is_named_with_the_package_that_pulls_it_in() {
        let old = inputs(&[
            ("dep:python3:libssl3", "3.0.17-1~deb12u2"),
            ("dep:python3:libffi8", "3.4.4-1"),
            ("dep:curl:libcurl4", "7.88.1-10"),
        ]);
        let new = inputs(&[
            ("dep:python3:libssl3", "3.0.17-1~deb12u3"),
            ("dep:curl:libffi8", "3.4.4-1"),
        ]);
        let reasons: Vec<String> = diff_inputs(&old, &new)
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            reasons,
            [
                "libcurl4 7.88.1-10 → (unpinned) (dependency of curl)",
                "libssl3 3.0.17-1~deb12u2 → 3.0.17-1~deb12u3 (dependency of python3)"
            ]
        );
        let first: Vec<(String, String)> = (0..5)
            .map(|i| (format!("dep:jq:lib{i}"), "1.0".to_string()))
            .collect();
        let reasons: Vec<String> = diff_inputs(&BTreeMap::new(), &first.into_iter().collect())
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(reasons, ["5 dependencies pinned"]);
    }
}
