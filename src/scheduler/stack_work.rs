//! One stack as the simulation sees it: its parent, how long it builds, how big it is.

use serde::Serialize;

use crate::build_time::BuildTime;
use crate::lock::Lockfile;

/// A stack to build in the simulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackWork {
    pub name: String,
    pub parent: Option<String>,
    pub seconds: BuildTime,
    /// No recorded build time: `seconds` is an estimate.
    pub estimated: bool,
    /// The image's size (what another engine pulls), when recorded.
    pub size: Option<u64>,
}

/// What a stack without a recorded time is assumed to take when no stack has one.
pub const FALLBACK_TIME: BuildTime = BuildTime::from_tenths(600);

/// Each named stack with the build time `lock` recorded for it; a stack without one gets the
/// median of every time the lock recorded (or [`FALLBACK_TIME`] when there are none), marked estimated.
pub fn from_lock(stacks: &[(String, Option<String>)], lock: Option<&Lockfile>) -> Vec<StackWork> {
    let entry = |name: &str| lock.and_then(|l| l.stacks.get(name));
    // Every recorded time counts, selected or not: an estimate does not depend on the selection.
    let mut recorded: Vec<BuildTime> = lock
        .iter()
        .flat_map(|l| l.stacks.values())
        .filter_map(|e| e.build_seconds)
        .collect();
    recorded.sort();
    let median = match recorded.len() {
        0 => FALLBACK_TIME,
        n if n % 2 == 1 => recorded[n / 2],
        n => BuildTime::from_tenths(
            (recorded[n / 2 - 1].tenths() + recorded[n / 2].tenths()).div_ceil(2),
        ),
    };
    stacks
        .iter()
        .map(|(name, parent)| {
            let recorded = entry(name).and_then(|e| e.build_seconds);
            StackWork {
                name: name.clone(),
                parent: parent.clone(),
                seconds: recorded.unwrap_or(median),
                estimated: recorded.is_none(),
                size: entry(name).and_then(|e| e.size),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockEntry;

    #[test]
    fn a_stack_without_a_recorded_time_gets_the_median_and_is_marked() {
        let timed = |t: u64| LockEntry {
            build_seconds: Some(BuildTime::from_tenths(t)),
            size: Some(t),
            ..LockEntry::default()
        };
        let lock = Lockfile {
            version: 1,
            stacks: [
                ("a", timed(100)),
                ("b", timed(300)),
                ("c", timed(2000)),
                ("d", LockEntry::default()),
            ]
            .into_iter()
            .map(|(n, e)| (n.to_string(), e))
            .collect(),
        };
        let names: Vec<(String, Option<String>)> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| (n.to_string(), None))
            .collect();
        let work = from_lock(&names, Some(&lock));
        let seen: Vec<(u64, bool)> = work
            .iter()
            .map(|w| (w.seconds.tenths(), w.estimated))
            .collect();
        assert_eq!(
            seen,
            [
                (100, false),
                (300, false),
                (2000, false),
                (300, true),
                (300, true)
            ]
        );
        assert!(from_lock(&names, None)
            .iter()
            .all(|w| w.estimated && w.seconds == FALLBACK_TIME));
    }
}
