//! The order waiting stacks start in: heaviest work first, measured by the lock when it can be.

use std::collections::{BTreeSet, HashMap};

use crate::catalogue::Catalogue;
use crate::lock::Lockfile;

use super::inspect;

/// Sorts `waiting` so that the stacks with the most work in and below them start first: the
/// critical path (the FFmpeg stack and its layers) before quick siblings, and the long ones
/// before the short ones, so the slots finish close together.
///
/// A stack's own work is what its last build added to its parent's image (the sizes recorded in
/// `images.lock`), when the lock has that for every waiting stack; otherwise (a first build) an
/// estimate from what it installs: one unit per package it names and per step.
pub(crate) fn heaviest_first(
    catalogue: &Catalogue,
    lock: Option<&Lockfile>,
    waiting: &mut [String],
) {
    let size = |name: &str| lock?.stacks.get(name)?.size;
    let measured = |name: &str| -> Option<u64> {
        let stack = catalogue.get(name)?;
        let parent = match stack.parent() {
            Some(p) => size(p)?,
            None => 0,
        };
        Some(size(name)?.saturating_sub(parent) / 1_000_000 + 1)
    };
    let estimated = |name: &str| -> u64 {
        catalogue.get(name).map_or(1, |s| {
            1 + inspect::direct_packages(s).len() as u64 + s.steps.len() as u64
        })
    };
    let use_measured = waiting.iter().all(|n| measured(n).is_some());
    let own = |name: &str| {
        if use_measured {
            measured(name).unwrap_or(1)
        } else {
            estimated(name)
        }
    };
    sort_by_subtree(waiting, |n| catalogue.graph().with_descendants(n), own);
}

/// Sorts by the summed `own` work of each stack and its waiting descendants, heaviest first
/// (ties keep their order).
fn sort_by_subtree(
    waiting: &mut [String],
    descendants: impl Fn(&str) -> BTreeSet<String>,
    own: impl Fn(&str) -> u64,
) {
    let weights: HashMap<String, u64> = waiting
        .iter()
        .map(|n| {
            let total = descendants(n)
                .iter()
                .filter(|d| waiting.contains(d))
                .map(|d| own(d))
                .sum();
            (n.clone(), total)
        })
        .collect();
    waiting.sort_by_key(|n| std::cmp::Reverse(weights[n]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subtree_weighs_its_own_work_and_everything_below_it() {
        // base → (ffmpeg 700, go 450, node 220, ruby 35); node → tools 500.
        let own: HashMap<&str, u64> = HashMap::from([
            ("ffmpeg", 700),
            ("go", 450),
            ("node", 220),
            ("ruby", 35),
            ("tools", 500),
        ]);
        let children: HashMap<&str, Vec<&str>> = HashMap::from([("node", vec!["tools"])]);
        let descendants = |n: &str| {
            let mut out = BTreeSet::from([n.to_string()]);
            out.extend(children.get(n).into_iter().flatten().map(|c| c.to_string()));
            out
        };
        let mut waiting: Vec<String> = ["ruby", "node", "go", "ffmpeg", "tools"]
            .map(String::from)
            .to_vec();
        sort_by_subtree(&mut waiting, descendants, |n| own[n]);
        // node carries tools below it (220 + 500), so it goes before go, right after ffmpeg.
        assert_eq!(waiting, ["node", "ffmpeg", "tools", "go", "ruby"]);
    }
}
