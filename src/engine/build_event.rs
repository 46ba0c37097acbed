//! `BuildEvent`: what a build reports while it runs, parsed from the classic builder's output
//! stream (`Step 2/5 : RUN ...` lines, command output, status lines).

use std::collections::VecDeque;

/// Lines of build output kept for error reports.
const LOG_TAIL: usize = 40;

/// Progress of one build, for the caller to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// The builder started Dockerfile instruction `index` of `total` (1-based).
    Step {
        index: usize,
        total: usize,
        instruction: String,
    },
    /// A line of output: the builder's own (` ---> Using cache`) or a `RUN`'s.
    Log(String),
    /// A status line, e.g. while the engine pulls a base image.
    Status(String),
}

impl BuildEvent {
    /// Parses `Step 2/5 : RUN make` into a [`BuildEvent::Step`].
    pub fn parse_step(line: &str) -> Option<BuildEvent> {
        let rest = line.strip_prefix("Step ")?;
        let (counts, instruction) = rest.split_once(" : ")?;
        let (index, total) = counts.split_once('/')?;
        Some(BuildEvent::Step {
            index: index.trim().parse().ok()?,
            total: total.trim().parse().ok()?,
            instruction: instruction.trim_end().to_string(),
        })
    }
}

/// Turns chunks of the output stream into events, keeping the last lines for error reports.
#[derive(Debug, Default)]
pub(crate) struct BuildLog {
    partial: String,
    tail: VecDeque<String>,
    pub(crate) steps: usize,
}

impl BuildLog {
    /// Feeds one `stream` chunk (which may hold several lines, or part of one).
    pub(crate) fn feed(&mut self, chunk: &str, on_event: &mut impl FnMut(BuildEvent)) {
        self.partial.push_str(chunk);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.line(line.trim_end_matches(['\n', '\r']), on_event);
        }
    }

    /// Emits what is left after the stream ends.
    pub(crate) fn flush(&mut self, on_event: &mut impl FnMut(BuildEvent)) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, on_event);
        }
    }

    /// The last lines, joined.
    pub(crate) fn tail(&self) -> String {
        Vec::from(self.tail.clone()).join("\n")
    }

    fn line(&mut self, line: &str, on_event: &mut impl FnMut(BuildEvent)) {
        if self.tail.len() == LOG_TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
        match BuildEvent::parse_step(line) {
            Some(step) => {
                self.steps += 1;
                on_event(step);
            }
            None => on_event(BuildEvent::Log(line.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_lines_are_told_apart_across_chunks() {
        let mut log = BuildLog::default();
        let mut events = Vec::new();
        let mut push = |event| events.push(event);
        log.feed(
            "Step 1/2 : FROM base\n ---> 1a2b\nStep 2/2 : RUN ec",
            &mut push,
        );
        log.feed("ho hi\nhi\n", &mut push);
        log.feed("no newline", &mut push);
        log.flush(&mut push);
        assert_eq!(
            events,
            [
                BuildEvent::Step {
                    index: 1,
                    total: 2,
                    instruction: "FROM base".into()
                },
                BuildEvent::Log(" ---> 1a2b".into()),
                BuildEvent::Step {
                    index: 2,
                    total: 2,
                    instruction: "RUN echo hi".into()
                },
                BuildEvent::Log("hi".into()),
                BuildEvent::Log("no newline".into()),
            ]
        );
        assert_eq!(log.steps, 2);
        assert!(log.tail().ends_with("hi\nno newline"));
    }

    #[test]
    fn not_every_line_starting_with_step_is_a_step() {
        assert_eq!(BuildEvent::parse_step("Step right up"), None);
        assert_eq!(BuildEvent::parse_step("Step x/2 : RUN a"), None);
    }
}
