//! `RunOutput`: a running command's output as it arrives: passed on to the caller a whole line
//! at a time, and a rolling tail of each stream kept for the outcome (the failure message).

/// Output kept per stream for the outcome: the last bytes; earlier ones are dropped (and
/// `output_truncated` set) so a runaway command cannot exhaust the caller's memory.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// A line longer than this is passed on in pieces rather than held back.
const MAX_LINE: usize = 64 * 1024;

/// Which of the command's streams a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Where a caller receives output while the command runs: whole lines (with their `\n`), and
/// at the end an unterminated last line.
pub type OutputSink<'a> = &'a mut (dyn FnMut(OutputStream, &[u8]) + Send);

#[derive(Default)]
struct Stream {
    /// Bytes after the last newline, not passed on yet.
    partial: Vec<u8>,
    tail: Vec<u8>,
    dropped: bool,
}

/// The output of one run so far.
pub(crate) struct RunOutput<'a> {
    sink: OutputSink<'a>,
    stdout: Stream,
    stderr: Stream,
}

impl<'a> RunOutput<'a> {
    pub(crate) fn new(sink: OutputSink<'a>) -> Self {
        RunOutput {
            sink,
            stdout: Stream::default(),
            stderr: Stream::default(),
        }
    }

    /// Takes a chunk as the engine delivers it (any size, lines split anywhere).
    pub(crate) fn push(&mut self, which: OutputStream, bytes: &[u8]) {
        let stream = match which {
            OutputStream::Stdout => &mut self.stdout,
            OutputStream::Stderr => &mut self.stderr,
        };
        stream.tail.extend_from_slice(bytes);
        if stream.tail.len() > 2 * MAX_OUTPUT {
            let cut = stream.tail.len() - MAX_OUTPUT;
            stream.tail.drain(..cut);
            stream.dropped = true;
        }
        stream.partial.extend_from_slice(bytes);
        if let Some(newline) = stream.partial.iter().rposition(|&b| b == b'\n') {
            let rest = stream.partial.split_off(newline + 1);
            (self.sink)(which, &stream.partial);
            stream.partial = rest;
        }
        if stream.partial.len() >= MAX_LINE {
            (self.sink)(which, &stream.partial);
            stream.partial.clear();
        }
    }

    /// Passes on unterminated last lines; returns the tails of stdout and stderr (invalid
    /// UTF-8 replaced) and whether anything was dropped from their start.
    pub(crate) fn finish(mut self) -> (String, String, bool) {
        for (which, stream) in [
            (OutputStream::Stdout, &mut self.stdout),
            (OutputStream::Stderr, &mut self.stderr),
        ] {
            if !stream.partial.is_empty() {
                (self.sink)(which, &stream.partial);
                stream.partial.clear();
            }
            if stream.tail.len() > MAX_OUTPUT {
                let cut = stream.tail.len() - MAX_OUTPUT;
                stream.tail.drain(..cut);
                stream.dropped = true;
            }
        }
        (
            String::from_utf8_lossy(&self.stdout.tail).into_owned(),
            String::from_utf8_lossy(&self.stderr.tail).into_owned(),
            self.stdout.dropped || self.stderr.dropped,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_on_whole_lines_and_keeps_the_tail() {
        let mut seen: Vec<(OutputStream, String)> = Vec::new();
        let mut sink = |which: OutputStream, bytes: &[u8]| {
            seen.push((which, String::from_utf8_lossy(bytes).into_owned()))
        };
        let mut output = RunOutput::new(&mut sink);
        output.push(OutputStream::Stdout, b"one\ntw");
        output.push(OutputStream::Stderr, b"err");
        output.push(OutputStream::Stdout, b"o\nthree");
        let (stdout, stderr, truncated) = output.finish();
        assert_eq!(
            (stdout.as_str(), stderr.as_str(), truncated),
            ("one\ntwo\nthree", "err", false)
        );
        assert_eq!(
            seen,
            [
                (OutputStream::Stdout, "one\n".to_string()),
                (OutputStream::Stdout, "two\n".to_string()),
                (OutputStream::Stdout, "three".to_string()),
                (OutputStream::Stderr, "err".to_string()),
            ]
        );
    }

    #[test]
    fn keeps_only_the_last_bytes_of_a_runaway_stream() {
        let mut sink = |_: OutputStream, _: &[u8]| {};
        let mut output = RunOutput::new(&mut sink);
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..40 {
            output.push(OutputStream::Stdout, &chunk);
        }
        output.push(OutputStream::Stdout, b"the end");
        let (stdout, _, truncated) = output.finish();
        assert!(truncated);
        assert_eq!(stdout.len(), MAX_OUTPUT);
        assert!(stdout.ends_with("xthe end"));
    }
}
