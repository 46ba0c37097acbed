//! What a simulation found: when each stack ran where, the makespan, and the chain that
//! bounds it; as text for people and as JSON.

use serde::Serialize;

use super::pull_rate::PullRate;
use crate::build_time::BuildTime;

/// One stack's run in the simulation. Engines and slots count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub stack: String,
    pub engine: usize,
    pub slot: usize,
    pub start: BuildTime,
    /// Time spent waiting for the parent to arrive from the registry before building.
    pub pull: BuildTime,
    /// The parent this run pulled, when it started the pull.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pulled: Option<String>,
    pub end: BuildTime,
    /// The stack's build time is an estimate (none recorded).
    pub estimated: bool,
}

/// A simulated full build.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub engines: usize,
    pub slots: usize,
    /// The slots per engine were not given: this machine's CPU count.
    pub slots_are_cpus: bool,
    pub pull_bytes_per_second: u64,
    #[serde(skip)]
    pub pull_rate: PullRate,
    /// When the last stack finishes.
    pub makespan: BuildTime,
    /// The longest chain of build times, root first, and its length: the least makespan any
    /// number of engines reaches.
    pub critical_path: Vec<(String, BuildTime)>,
    pub critical: BuildTime,
    /// Every stack's build time added up: the makespan on one slot, pulls aside.
    pub work: BuildTime,
    /// In start order.
    pub runs: Vec<Run>,
}

impl Timeline {
    pub(crate) fn new(
        engines: usize,
        slots: usize,
        pull_rate: PullRate,
        runs: Vec<Run>,
        critical_path: Vec<(String, BuildTime)>,
        work: BuildTime,
    ) -> Timeline {
        let makespan = runs.iter().map(|r| r.end).max().unwrap_or_default();
        let critical = critical_path
            .iter()
            .fold(BuildTime::default(), |sum, (_, t)| sum + *t);
        Timeline {
            engines,
            slots,
            slots_are_cpus: false,
            pull_bytes_per_second: pull_rate.bytes_per_second(),
            pull_rate,
            makespan,
            critical_path,
            critical,
            work,
            runs,
        }
    }

    /// Each engine's runs slot by slot, then the makespan and what bounds it.
    pub fn to_text(&self) -> String {
        let cpus = if self.slots_are_cpus {
            " (slots: this machine's CPU count)"
        } else {
            ""
        };
        let plural = |n: usize, one: &str, many: &str| {
            if n == 1 {
                format!("{n} {one}")
            } else {
                format!("{n} {many}")
            }
        };
        let mut out = format!(
            "simulated full build of {} on {} × {}{cpus}; parents pulled at {}\n",
            plural(self.runs.len(), "stack", "stacks"),
            plural(self.engines, "engine", "engines"),
            plural(self.slots, "slot", "slots"),
            self.pull_rate,
        );
        let width = self
            .runs
            .iter()
            .map(|r| r.stack.len() + usize::from(r.estimated))
            .max()
            .unwrap_or(0);
        for engine in 1..=self.engines {
            let mut runs: Vec<&Run> = self.runs.iter().filter(|r| r.engine == engine).collect();
            if runs.is_empty() {
                out.push_str(&format!("engine {engine}: idle\n"));
                continue;
            }
            runs.sort_by_key(|r| (r.slot, r.start));
            out.push_str(&format!("engine {engine}\n"));
            for r in runs {
                let name = if r.estimated {
                    format!("{}*", r.stack)
                } else {
                    r.stack.clone()
                };
                let pull = match (&r.pulled, r.pull.tenths()) {
                    (Some(parent), 0) => format!("  (pulls `{parent}` first)"),
                    (Some(parent), _) => format!("  (pulls `{parent}` first: {} s)", r.pull),
                    (None, 0) => String::new(),
                    (None, _) => format!("  (waits {} s for its parent's pull)", r.pull),
                };
                let own =
                    BuildTime::from_tenths(r.end.tenths() - r.start.tenths() - r.pull.tenths());
                let line = format!(
                    "  slot {}  {:>6} – {:>6}  {:<width$}  {:>6} s{pull}",
                    r.slot, r.start, r.end, name, own
                );
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        let path: Vec<String> = self
            .critical_path
            .iter()
            .map(|(n, t)| format!("{n} {t} s"))
            .collect();
        out.push_str(&format!("makespan: {} s\n", self.makespan));
        out.push_str(&format!(
            "critical path: {} s ({})\n",
            self.critical,
            path.join(" → ")
        ));
        out.push_str(&format!(
            "work: {} s of builds on {}\n",
            self.work,
            plural(self.engines * self.slots, "slot", "slots")
        ));
        if self.makespan <= self.critical {
            out.push_str("the makespan is the critical path: more engines or slots do not shorten it; a shorter chain does\n");
        }
        if self.runs.iter().any(|r| r.estimated) {
            out.push_str(&format!("* no build time recorded in images.lock: estimated (the median of the recorded ones; {} s when none is)\n", super::FALLBACK_TIME));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::pull_rate::DEFAULT_PULL_RATE;
    use crate::scheduler::simulate;
    use crate::scheduler::stack_work::StackWork;

    #[test]
    fn text_shows_each_engine_then_the_makespan_and_its_bound() {
        let row = |n: &str, p: Option<&str>, tenths: u64, estimated: bool| StackWork {
            name: n.into(),
            parent: p.map(Into::into),
            seconds: BuildTime::from_tenths(tenths),
            estimated,
            size: Some(136_489_497),
        };
        let work = [
            row("base-bookworm", None, 638, false),
            row("ffmpeg", Some("base-bookworm"), 2057, false),
            row("go", Some("base-bookworm"), 660, false),
            row("node", Some("base-bookworm"), 616, true),
            row("base-trixie", None, 500, false),
        ];
        let mut t = simulate(&work, 3, 1, DEFAULT_PULL_RATE);
        t.slots_are_cpus = true;
        insta::assert_snapshot!(t.to_text(), @r"
        simulated full build of 5 stacks on 3 engines × 1 slot (slots: this machine's CPU count); parents pulled at 100.0 MB/s
        engine 1
          slot 1     0.0 –   63.8  base-bookworm    63.8 s
          slot 1    63.8 –  269.5  ffmpeg          205.7 s
        engine 2
          slot 1     0.0 –   50.0  base-trixie      50.0 s
          slot 1    63.8 –  131.2  go               66.0 s  (pulls `base-bookworm` first: 1.4 s)
        engine 3
          slot 1    63.8 –  126.8  node*            61.6 s  (pulls `base-bookworm` first: 1.4 s)
        makespan: 269.5 s
        critical path: 269.5 s (base-bookworm 63.8 s → ffmpeg 205.7 s)
        work: 447.1 s of builds on 3 slots
        the makespan is the critical path: more engines or slots do not shorten it; a shorter chain does
        * no build time recorded in images.lock: estimated (the median of the recorded ones; 60.0 s when none is)
        ");
    }
}
