//! `LockDiff`: the stacks of two locks side by side, each with what changed, as JSON or as the
//! Markdown a nightly summary shows.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{PackageChange, StackDiff, StackPresence};
use crate::closure::PackageRecord;
use crate::lock::{LockEntry, Lockfile};
use crate::units::show_size;

/// What changed from one lock to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockDiff {
    pub old: String,
    pub new: String,
    /// Stacks with a change, by name.
    pub stacks: Vec<StackDiff>,
}

/// Package changes between two sets (by name only when either is named-only).
fn package_changes(
    old: &(BTreeMap<String, PackageRecord>, bool),
    new: &(BTreeMap<String, PackageRecord>, bool),
) -> (Vec<PackageChange>, bool) {
    let by_name = old.1 || new.1;
    let key = |k: &str| {
        if by_name {
            k.split(':').next().unwrap_or(k).to_string()
        } else {
            k.to_string()
        }
    };
    let (o, n): (
        BTreeMap<String, &PackageRecord>,
        BTreeMap<String, &PackageRecord>,
    ) = (
        old.0.iter().map(|(k, v)| (key(k), v)).collect(),
        new.0.iter().map(|(k, v)| (key(k), v)).collect(),
    );
    let names: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
    // Named-only: compare only what both name (the other side lists every package).
    let changes = names
        .into_iter()
        .filter(|k| !by_name || (o.contains_key(*k) && n.contains_key(*k)))
        .filter_map(|k| PackageChange::between(k, o.get(k).copied(), n.get(k).copied()))
        .collect();
    (changes, by_name)
}

impl LockDiff {
    /// Every stack of either lock that changed (only those in `only`, when given).
    pub fn between(
        old: &Lockfile,
        new: &Lockfile,
        old_label: &str,
        new_label: &str,
        only: Option<&BTreeSet<String>>,
    ) -> LockDiff {
        // Every stack is compared (a child's inherited changes need its parent's), then only
        // the selected ones are kept.
        let names: BTreeSet<&String> = old.stacks.keys().chain(new.stacks.keys()).collect();
        let mut stacks: Vec<StackDiff> = Vec::new();
        for name in names {
            let (o, n) = (old.stacks.get(name), new.stacks.get(name));
            let presence = match (o, n) {
                (Some(_), Some(_)) => StackPresence::Both,
                (None, _) => StackPresence::Added,
                (_, None) => StackPresence::Removed,
            };
            let changed = |f: &dyn Fn(&LockEntry) -> Option<String>| {
                let (a, b) = (o.and_then(f), n.and_then(f));
                (a != b).then_some((a, b))
            };
            let hash = changed(&|e| Some(e.hash.clone()))
                .map(|(a, b)| (a.unwrap_or_default(), b.unwrap_or_default()));
            let digest = changed(&|e| e.digest.clone());
            let size = (o.and_then(|e| e.size) != n.and_then(|e| e.size))
                .then(|| (o.and_then(|e| e.size), n.and_then(|e| e.size)));
            let empty = BTreeMap::new();
            let (or, nr) = (
                o.map_or(&empty, |e| &e.runtimes),
                n.map_or(&empty, |e| &e.runtimes),
            );
            let runtimes = or
                .keys()
                .chain(nr.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|k| or.get(*k) != nr.get(*k))
                .map(|k| (k.clone(), or.get(k).cloned(), nr.get(k).cloned()))
                .collect();
            let none = (BTreeMap::new(), false);
            let (old_set, new_set) = (
                old.image_packages(name).unwrap_or_else(|| none.clone()),
                new.image_packages(name).unwrap_or(none),
            );
            let (packages, named_packages_only) = package_changes(&old_set, &new_set);
            let diff = StackDiff {
                name: name.clone(),
                presence,
                hash,
                digest,
                size,
                runtimes,
                packages,
                named_packages_only,
            };
            if !diff.is_empty() {
                stacks.push(diff);
            }
        }
        // A change a stack shares with its parent (same package, same change) is inherited.
        let by_name: BTreeMap<String, Vec<PackageChange>> = stacks
            .iter()
            .map(|s| (s.name.clone(), s.packages.clone()))
            .collect();
        for s in &mut stacks {
            let parent = new
                .stacks
                .get(&s.name)
                .or(old.stacks.get(&s.name))
                .and_then(|e| e.parent.clone());
            if let Some(from_parent) = parent.and_then(|p| by_name.get(&p)) {
                for c in &mut s.packages {
                    c.inherited = from_parent
                        .iter()
                        .any(|p| p.package == c.package && p.change == c.change);
                }
            }
        }
        stacks.retain(|s| only.is_none_or(|o| o.contains(&s.name)));
        LockDiff {
            old: old_label.to_string(),
            new: new_label.to_string(),
            stacks,
        }
    }

    /// No stack changed.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Markdown: one section per changed stack, its own package changes listed and the ones
    /// inherited from its parent counted.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# What changed: {} → {}\n\n", self.old, self.new);
        if self.stacks.is_empty() {
            out.push_str("Nothing changed.\n");
            return out;
        }
        for s in &self.stacks {
            let what = match s.presence {
                StackPresence::Added => " (new stack)",
                StackPresence::Removed => " (removed)",
                StackPresence::Both => "",
            };
            out.push_str(&format!("## {}{what}\n\n", s.name));
            if let Some((a, b)) = &s.size {
                let delta = b.unwrap_or(0) as i64 - a.unwrap_or(0) as i64;
                let sign = if delta >= 0 { "+" } else { "-" };
                out.push_str(&format!(
                    "- size: {} → {} ({sign}{})\n",
                    a.map_or("-".into(), show_size),
                    b.map_or("-".into(), show_size),
                    show_size(delta.unsigned_abs())
                ));
            }
            if let Some((a, b)) = &s.hash {
                out.push_str(&format!("- hash: {} → {}\n", short(a), short(b)));
            }
            if let Some((a, b)) = &s.digest {
                out.push_str(&format!(
                    "- digest: {} → {}\n",
                    a.as_deref().map_or("-".into(), short),
                    b.as_deref().map_or("-".into(), short)
                ));
            }
            for (name, a, b) in &s.runtimes {
                out.push_str(&format!(
                    "- runtime {name}: {} → {}\n",
                    a.as_deref().unwrap_or("-"),
                    b.as_deref().unwrap_or("-")
                ));
            }
            let own: Vec<&PackageChange> = s.packages.iter().filter(|c| !c.inherited).collect();
            let inherited = s.packages.len() - own.len();
            for c in own {
                out.push_str(&format!("- {}\n", c.describe()));
            }
            if inherited > 0 {
                out.push_str(&format!(
                    "- and {inherited} package change{} inherited from its parent\n",
                    if inherited == 1 { "" } else { "s" }
                ));
            }
            if s.named_packages_only {
                out.push_str("- (a lock without a recorded closure: only the packages the stack names were compared)\n");
            }
            out.push('\n');
        }
        out
    }
}

/// `sha256:0123456789ab…` → `0123456789ab`.
fn short(hash: &str) -> String {
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(parent: Option<&str>, hash: &str, closure: &[(&str, &str)], size: u64) -> LockEntry {
        LockEntry {
            hash: hash.into(),
            parent: parent.map(String::from),
            closure: closure
                .iter()
                .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                .collect(),
            size: Some(size),
            ..Default::default()
        }
    }

    #[test]
    fn a_one_package_night_names_the_move_where_it_happened() {
        let old = Lockfile {
            version: 1,
            stacks: BTreeMap::from([
                (
                    "base".into(),
                    entry(
                        None,
                        "sha256:aaa",
                        &[
                            ("libc6:amd64", "2.36-9+deb12u9 src=glibc"),
                            ("libssl3:amd64", "3.0.17-1~deb12u2 src=openssl"),
                        ],
                        100_000_000,
                    ),
                ),
                (
                    "python".into(),
                    entry(
                        Some("base"),
                        "sha256:bbb",
                        &[("python3:amd64", "3.11.2-1+b1 src=python3-defaults@3.11.2-1")],
                        150_000_000,
                    ),
                ),
                (
                    "go".into(),
                    entry(
                        Some("base"),
                        "sha256:ccc",
                        &[("golang-go:amd64", "2:1.19~1")],
                        400_000_000,
                    ),
                ),
            ]),
        };
        let mut new = old.clone();
        new.stacks.get_mut("base").unwrap().closure.insert(
            "libssl3:amd64".into(),
            "3.0.17-1~deb12u3 src=openssl".parse().unwrap(),
        );
        new.stacks.get_mut("base").unwrap().hash = "sha256:aab".into();
        new.stacks.get_mut("base").unwrap().size = Some(100_400_000);
        new.stacks.get_mut("python").unwrap().hash = "sha256:bbc".into();
        let diff = LockDiff::between(&old, &new, "HEAD", "working tree", None);
        let names: Vec<&str> = diff.stacks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["base", "go", "python"]);
        assert_eq!(
            diff.stacks[0].packages[0].describe(),
            "libssl3 3.0.17-1~deb12u2 → 3.0.17-1~deb12u3 (openssl)"
        );
        assert!(!diff.stacks[0].packages[0].inherited);
        assert!(
            diff.stacks[2].packages[0].inherited,
            "python inherits base's move"
        );
        insta::assert_snapshot!(diff.to_markdown(), @r"
        # What changed: HEAD → working tree

        ## base

        - size: 100.0 MB → 100.4 MB (+400.0 KB)
        - hash: aaa → aab
        - libssl3 3.0.17-1~deb12u2 → 3.0.17-1~deb12u3 (openssl)

        ## go

        - and 1 package change inherited from its parent

        ## python

        - hash: bbb → bbc
        - and 1 package change inherited from its parent
        ");
        assert!(LockDiff::between(&new, &new, "a", "b", None).is_empty());
    }

    #[test]
    fn added_removed_and_named_only_stacks() {
        let mut old = Lockfile {
            version: 1,
            stacks: BTreeMap::new(),
        };
        let mut e = LockEntry {
            hash: "sha256:1".into(),
            ..Default::default()
        };
        e.packages
            .insert("nodejs".into(), "18.19.0+dfsg-6~deb12u2".into());
        old.stacks.insert("node".into(), e.clone());
        old.stacks.insert(
            "gone".into(),
            LockEntry {
                hash: "sha256:2".into(),
                ..Default::default()
            },
        );
        let mut new = Lockfile {
            version: 1,
            stacks: BTreeMap::new(),
        };
        e.packages
            .insert("nodejs".into(), "18.19.0+dfsg-6~deb12u3".into());
        new.stacks.insert("node".into(), e);
        new.stacks.insert(
            "fresh".into(),
            LockEntry {
                hash: "sha256:3".into(),
                ..Default::default()
            },
        );
        let diff = LockDiff::between(&old, &new, "a", "b", None);
        let summary: Vec<(String, StackPresence, usize)> = diff
            .stacks
            .iter()
            .map(|s| (s.name.clone(), s.presence, s.packages.len()))
            .collect();
        assert_eq!(
            summary,
            [
                ("fresh".into(), StackPresence::Added, 0),
                ("gone".into(), StackPresence::Removed, 0),
                ("node".into(), StackPresence::Both, 1)
            ]
        );
        assert!(diff.stacks[2].named_packages_only);
        assert_eq!(
            diff.stacks[2].packages[0].describe(),
            "nodejs 18.19.0+dfsg-6~deb12u2 → 18.19.0+dfsg-6~deb12u3"
        );
    }
}
