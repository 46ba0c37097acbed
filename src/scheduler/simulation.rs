//! The replay itself: a full build on N engines × S slots, with the scheduler's own rules, in
//! whole tenths of a second so the answer is exact and repeatable.

use std::collections::HashMap;

use super::placement::{place, pull_bytes, Candidate};
use super::pull_rate::PullRate;
use super::stack_work::StackWork;
use super::timeline::{Run, Timeline};
use crate::build_time::BuildTime;

/// Replays a build of `work` (in the order the scheduler starts ready stacks: heaviest subtree
/// first) on `engines` engines with `slots` slots each.
///
/// A stack is ready when its parent finished. Each time a slot frees, the ready stacks are
/// started in order while a slot is free anywhere, each on the engine that has its parent
/// (the one that built it first, then one that pulled it); when none of those has a free slot,
/// on the free engine with the least to pull (most free slots, then lowest number, breaking
/// ties), which pulls the parent's layers it lacks at `pull_rate` before building. A parent
/// outside `work` (not selected, end of life) is taken to be everywhere already.
pub fn simulate(work: &[StackWork], engines: usize, slots: usize, pull_rate: PullRate) -> Timeline {
    let mut fleet = Fleet::new(work, engines.max(1), slots.max(1), pull_rate);
    let mut waiting: Vec<usize> = (0..work.len()).collect();
    let mut running: Vec<(u64, usize)> = Vec::new(); // (end, index into runs)
    let mut runs: Vec<Run> = Vec::new();
    let mut now = 0u64;
    loop {
        let mut i = 0;
        while i < waiting.len() && fleet.has_free_slot() {
            let stack = &work[waiting[i]];
            if stack
                .parent
                .as_deref()
                .is_some_and(|p| fleet.index.contains_key(p) && !fleet.built_on.contains_key(p))
            {
                i += 1;
                continue;
            }
            waiting.remove(i);
            let run = fleet.start(stack, now);
            running.push((run.end.tenths(), runs.len()));
            runs.push(run);
        }
        let Some(next) = running.iter().map(|(end, _)| *end).min() else {
            break;
        };
        now = next;
        for (_, r) in running.iter().filter(|(end, _)| *end == now) {
            fleet.finish(&runs[*r], now);
        }
        running.retain(|(end, _)| *end != now);
    }
    let critical_path = critical_path(work);
    let total = work
        .iter()
        .fold(BuildTime::default(), |sum, w| sum + w.seconds);
    Timeline::new(
        engines.max(1),
        slots.max(1),
        pull_rate,
        runs,
        critical_path,
        total,
    )
}

/// Which engine has which image since when, and which slots are busy.
struct Fleet<'a> {
    work: &'a [StackWork],
    index: HashMap<&'a str, usize>,
    pull_rate: PullRate,
    /// `busy[engine][slot]`.
    busy: Vec<Vec<bool>>,
    /// `present[engine][stack]`: the time the image is there (built or pulled).
    present: Vec<HashMap<String, u64>>,
    /// The engine each finished stack was built on.
    built_on: HashMap<String, usize>,
}

impl<'a> Fleet<'a> {
    fn new(work: &'a [StackWork], engines: usize, slots: usize, pull_rate: PullRate) -> Fleet<'a> {
        Fleet {
            work,
            index: work
                .iter()
                .enumerate()
                .map(|(i, w)| (w.name.as_str(), i))
                .collect(),
            pull_rate,
            busy: vec![vec![false; slots]; engines],
            present: vec![HashMap::new(); engines],
            built_on: HashMap::new(),
        }
    }

    fn has_free_slot(&self) -> bool {
        self.busy.iter().flatten().any(|b| !b)
    }

    fn free_slots(&self, engine: usize) -> usize {
        self.busy[engine].iter().filter(|b| !**b).count()
    }

    /// The stack's ancestors within the simulation, parent first.
    fn ancestors(&self, stack: &StackWork) -> Vec<&'a StackWork> {
        let mut out = Vec::new();
        let mut next = stack.parent.as_deref();
        while let Some(&i) = next.and_then(|p| self.index.get(p)) {
            out.push(&self.work[i]);
            next = self.work[i].parent.as_deref();
        }
        out
    }

    /// Tenths `engine` waits before it can build `stack`: none when its parent is there, the
    /// rest of a pull under way, or a pull of the parent's layers the engine lacks.
    fn wait_for_parent(&self, engine: usize, stack: &StackWork, now: u64) -> u64 {
        let ancestors = self.ancestors(stack);
        let Some(parent) = ancestors.first() else {
            return 0;
        };
        if let Some(at) = self.present[engine].get(&parent.name) {
            return at.saturating_sub(now);
        }
        let chain: Vec<(&str, Option<u64>)> = ancestors
            .iter()
            .map(|a| (a.name.as_str(), a.size))
            .collect();
        self.pull_rate.tenths_for(pull_bytes(&chain, |name| {
            self.present[engine].contains_key(name)
        }))
    }

    fn start(&mut self, stack: &StackWork, now: u64) -> Run {
        let home = stack
            .parent
            .as_deref()
            .and_then(|p| self.built_on.get(p).copied());
        let candidates: Vec<Candidate> = (0..self.busy.len())
            .map(|e| Candidate {
                free_slots: self.free_slots(e),
                pull: self.wait_for_parent(e, stack, now),
                home: Some(e) == home,
            })
            .collect();
        let engine = place(&candidates).expect("called with a free slot");
        let slot = self.busy[engine]
            .iter()
            .position(|b| !b)
            .expect("the engine has a free slot");
        let wait = self.wait_for_parent(engine, stack, now);
        let pulled = match self.ancestors(stack).first() {
            Some(parent) if !self.present[engine].contains_key(&parent.name) => {
                Some(parent.name.clone())
            }
            _ => None,
        };
        if pulled.is_some() {
            for a in self.ancestors(stack) {
                self.present[engine]
                    .entry(a.name.clone())
                    .or_insert(now + wait);
            }
        }
        self.busy[engine][slot] = true;
        Run {
            stack: stack.name.clone(),
            engine: engine + 1,
            slot: slot + 1,
            start: BuildTime::from_tenths(now),
            pull: BuildTime::from_tenths(wait),
            pulled,
            end: BuildTime::from_tenths(now + wait + stack.seconds.tenths()),
            estimated: stack.estimated,
        }
    }

    fn finish(&mut self, run: &Run, now: u64) {
        self.busy[run.engine - 1][run.slot - 1] = false;
        self.present[run.engine - 1].insert(run.stack.clone(), now);
        self.built_on.insert(run.stack.clone(), run.engine - 1);
    }
}

/// The longest chain of build times from a root down to a stack: no number of engines builds
/// the whole set faster. Ties go to the stack listed first.
fn critical_path(work: &[StackWork]) -> Vec<(String, BuildTime)> {
    let index: HashMap<&str, &StackWork> = work.iter().map(|w| (w.name.as_str(), w)).collect();
    let chain = |w: &StackWork| -> Vec<(String, BuildTime)> {
        let mut out = vec![(w.name.clone(), w.seconds)];
        let mut next = w.parent.as_deref();
        while let Some(p) = next.and_then(|p| index.get(p)) {
            out.push((p.name.clone(), p.seconds));
            next = p.parent.as_deref();
        }
        out.reverse();
        out
    };
    let length = |c: &[(String, BuildTime)]| c.iter().map(|(_, t)| t.tenths()).sum::<u64>();
    let mut best: Vec<(String, BuildTime)> = Vec::new();
    for w in work {
        let c = chain(w);
        if length(&c) > length(&best) {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::pull_rate::DEFAULT_PULL_RATE;

    /// `(name, parent, seconds, size in MB)`, in start order.
    fn work(rows: &[(&str, Option<&str>, u64, u64)]) -> Vec<StackWork> {
        rows.iter()
            .map(|(n, p, s, mb)| StackWork {
                name: n.to_string(),
                parent: p.map(str::to_string),
                seconds: BuildTime::from_tenths(s * 10),
                estimated: false,
                size: Some(mb * 1_000_000),
            })
            .collect()
    }

    fn makespan(work: &[StackWork], engines: usize, slots: usize) -> f64 {
        simulate(work, engines, slots, DEFAULT_PULL_RATE)
            .makespan
            .as_secs_f64()
    }

    fn run<'t>(t: &'t Timeline, stack: &str) -> &'t Run {
        t.runs.iter().find(|r| r.stack == stack).unwrap()
    }

    #[test]
    fn a_chain_is_not_sped_up_by_engines() {
        let chain = work(&[
            ("a", None, 10, 0),
            ("b", Some("a"), 20, 0),
            ("c", Some("b"), 30, 0),
        ]);
        assert_eq!(makespan(&chain, 1, 1), 60.0);
        assert_eq!(makespan(&chain, 8, 4), 60.0);
        let t = simulate(&chain, 8, 4, DEFAULT_PULL_RATE);
        assert!(
            t.runs.iter().all(|r| r.engine == 1 && r.pull.tenths() == 0),
            "a chain stays where its parent is: {:?}",
            t.runs
        );
    }

    #[test]
    fn independent_stacks_are_spread_over_engines_and_slots() {
        let four = work(&[
            ("a", None, 10, 0),
            ("b", None, 10, 0),
            ("c", None, 10, 0),
            ("d", None, 10, 0),
        ]);
        assert_eq!(makespan(&four, 1, 1), 40.0);
        assert_eq!(makespan(&four, 1, 2), 20.0);
        assert_eq!(makespan(&four, 2, 1), 20.0);
        assert_eq!(makespan(&four, 2, 2), 10.0);
        let t = simulate(&four, 2, 2, DEFAULT_PULL_RATE);
        let engines: Vec<usize> = t.runs.iter().map(|r| r.engine).collect();
        assert_eq!(
            engines,
            [1, 2, 1, 2],
            "roots go to the engine with the most free slots"
        );
    }

    #[test]
    fn the_critical_path_bounds_the_makespan() {
        // base 60 → (ffmpeg 200, go 70, node 60, ruby 15); no pulls (sizes 0).
        let tree = work(&[
            ("base", None, 60, 0),
            ("ffmpeg", Some("base"), 200, 0),
            ("go", Some("base"), 70, 0),
            ("node", Some("base"), 60, 0),
            ("ruby", Some("base"), 15, 0),
        ]);
        for (engines, slots) in [(1, 1), (1, 2), (2, 2), (4, 2), (8, 8)] {
            let t = simulate(&tree, engines, slots, DEFAULT_PULL_RATE);
            assert!(t.makespan >= t.critical, "{engines}x{slots}");
        }
        assert_eq!(makespan(&tree, 1, 1), 405.0, "one slot: the sum");
        assert_eq!(
            makespan(&tree, 1, 2),
            260.0,
            "two slots already reach the critical path"
        );
        assert_eq!(makespan(&tree, 8, 2), 260.0);
        let t = simulate(&tree, 1, 2, DEFAULT_PULL_RATE);
        let path: Vec<&str> = t.critical_path.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(path, ["base", "ffmpeg"]);
    }

    #[test]
    fn a_stack_goes_to_the_engine_that_built_its_parent_while_it_has_a_slot() {
        // Two engines, one slot each: `a` goes home to the parent's engine, `b` to the other,
        // which pulls the 500 MB parent at 100 MB/s (5 s) first.
        let tree = work(&[
            ("base", None, 10, 500),
            ("a", Some("base"), 10, 600),
            ("b", Some("base"), 10, 700),
            ("c", Some("base"), 10, 700),
        ]);
        let t = simulate(&tree, 2, 1, DEFAULT_PULL_RATE);
        let base = run(&t, "base");
        assert_eq!(
            (run(&t, "a").engine, run(&t, "a").pull.tenths()),
            (base.engine, 0)
        );
        let b = run(&t, "b");
        assert_ne!(b.engine, base.engine);
        assert_eq!(
            (b.pull.tenths(), b.pulled.as_deref(), b.end.tenths()),
            (50, Some("base"), 250)
        );
        // `c` starts when `a` frees the home engine's slot (20 s), before `b` ends: no pull.
        let c = run(&t, "c");
        assert_eq!(
            (c.engine, c.start.tenths(), c.pull.tenths()),
            (base.engine, 200, 0)
        );
        assert_eq!(t.makespan.tenths(), 300);
    }

    #[test]
    fn a_pull_fetches_only_the_layers_the_engine_lacks_and_only_once() {
        // base (100 MB) → mid (400 MB) → leaf1..3; base → side. Two engines, one slot: engine 2
        // pulls base for `side`, so pulling `mid` there later moves 300 MB (3 s).
        let rows = [
            ("base", None, 10, 100),
            ("mid", Some("base"), 10, 400),
            ("side", Some("base"), 30, 150),
            ("leaf1", Some("mid"), 30, 500),
            ("leaf2", Some("mid"), 30, 500),
            ("leaf3", Some("mid"), 30, 500),
        ];
        let t = simulate(&work(&rows), 2, 1, DEFAULT_PULL_RATE);
        let side = run(&t, "side");
        assert_eq!(
            (side.engine, side.pulled.as_deref(), side.pull.tenths()),
            (2, Some("base"), 10)
        );
        let leaf2 = run(&t, "leaf2");
        assert_eq!(
            (
                leaf2.engine,
                leaf2.start.tenths(),
                leaf2.pulled.as_deref(),
                leaf2.pull.tenths()
            ),
            (2, 410, Some("mid"), 30)
        );
        assert_eq!(t.makespan.tenths(), 800);

        // Two slots each: leaf2 pulls `mid` whole onto engine 2 (4 s); leaf3, started beside it,
        // waits for that same pull instead of pulling again.
        let rows = [
            ("base", None, 10, 100),
            ("mid", Some("base"), 10, 400),
            ("side", Some("base"), 30, 150),
            ("leaf1", Some("mid"), 10, 500),
            ("leaf2", Some("mid"), 10, 500),
            ("leaf3", Some("mid"), 10, 500),
        ];
        let t = simulate(&work(&rows), 2, 2, DEFAULT_PULL_RATE);
        let (leaf2, leaf3) = (run(&t, "leaf2"), run(&t, "leaf3"));
        assert_eq!(
            (leaf2.engine, leaf2.pulled.as_deref(), leaf2.pull.tenths()),
            (2, Some("mid"), 40)
        );
        assert_eq!(
            (
                leaf3.engine,
                leaf3.pulled.as_deref(),
                leaf3.pull.tenths(),
                leaf3.end.tenths()
            ),
            (2, None, 40, 340)
        );
    }
}
