//! Where a ready stack starts: the one rule `ferrostack build` on several engines and
//! `plan --simulate` share.

use std::cmp::Reverse;

/// One engine as placement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub free_slots: usize,
    /// What the engine must wait or pull before it can build the stack (0: it holds the
    /// parent). The real scheduler counts bytes, the simulation tenths of a second.
    pub pull: u64,
    /// The engine built the stack's parent.
    pub home: bool,
}

/// The engine, among those with a free slot, with the least to pull for the stack's parent,
/// then the one that built the parent, then the one with the most free slots, then the first.
pub fn place(candidates: &[Candidate]) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.free_slots > 0)
        .min_by_key(|(i, c)| (c.pull, !c.home, Reverse(c.free_slots), *i))
        .map(|(i, _)| i)
}

/// Bytes an engine pulls to hold a stack's parent: the parent's size less the size of the
/// nearest ancestor it already holds (their shared layers are not pulled again); nothing when
/// it holds the parent or there is none. `ancestors` is parent first, with recorded sizes.
pub fn pull_bytes(ancestors: &[(&str, Option<u64>)], holds: impl Fn(&str) -> bool) -> u64 {
    let Some((parent, parent_size)) = ancestors.first() else {
        return 0;
    };
    if holds(parent) {
        return 0;
    }
    let have = ancestors
        .iter()
        .find(|(name, _)| holds(name))
        .and_then(|(_, size)| *size)
        .unwrap_or(0);
    parent_size.unwrap_or(0).saturating_sub(have)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_goes_where_its_parent_is_unless_that_engine_is_full() {
        let c = |free_slots, pull, home| Candidate {
            free_slots,
            pull,
            home,
        };
        // Engine 2 holds the parent (pulled it), engine 1 built it: both hold it, home wins.
        assert_eq!(place(&[c(1, 0, true), c(2, 0, false)]), Some(0));
        // The home engine is full: the other one, though it must pull.
        assert_eq!(place(&[c(0, 0, true), c(1, 500, false)]), Some(1));
        // Nobody holds it: the least to pull, then the most free slots, then the first.
        assert_eq!(place(&[c(1, 300, false), c(1, 200, false)]), Some(1));
        assert_eq!(place(&[c(1, 200, false), c(2, 200, false)]), Some(1));
        assert_eq!(place(&[c(2, 200, false), c(2, 200, false)]), Some(0));
        assert_eq!(place(&[c(0, 0, true), c(0, 0, false)]), None);
    }

    #[test]
    fn an_engine_pulls_what_its_nearest_ancestor_lacks() {
        let chain = [("python", Some(900)), ("base", Some(100))];
        assert_eq!(pull_bytes(&chain, |n| n == "python"), 0);
        assert_eq!(pull_bytes(&chain, |n| n == "base"), 800);
        assert_eq!(pull_bytes(&chain, |_| false), 900);
        assert_eq!(pull_bytes(&[], |_| false), 0);
    }
}
