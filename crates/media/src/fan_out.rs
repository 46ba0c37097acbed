//! One filter graph that feeds many outputs: a single buffer source, `split`/`asplit` into one
//! branch per output, each ending in its own sink (`out0`, `out1`, ...). This is how `package`
//! decodes the source once for every rung.
use std::path::Path;

use ffmpeg::filter;
use ffmpeg_next as ffmpeg;

use crate::av::{self, SinkFormat};
use crate::MediaError;

/// A configured `source → split → branch_i → sink_i` graph.
pub(crate) struct FanOut {
    graph: filter::Graph,
    sinks: Vec<String>,
}

impl FanOut {
    /// `source` is `buffer` or `abuffer` with its arguments; `common` is a chain applied once
    /// before the split (empty for none); `branches` are filter chains, one per sink. `path`
    /// names the file in errors.
    pub(crate) fn new(
        source: &str,
        source_args: &str,
        common: &str,
        branches: &[String],
        path: &Path,
    ) -> Result<Self, MediaError> {
        let map = |e| MediaError::ffmpeg("build the filter graph for", path, e);
        let (split, sink) = if source == "abuffer" {
            ("asplit", "abuffersink")
        } else {
            ("split", "buffersink")
        };
        let mut graph = filter::Graph::new();
        av::add_filter(&mut graph, source, "in", source_args).map_err(map)?;
        let sinks: Vec<String> = (0..branches.len()).map(|i| format!("out{i}")).collect();
        for name in &sinks {
            av::add_filter(&mut graph, sink, name, "").map_err(map)?;
        }
        let n = branches.len();
        let common = if common.is_empty() {
            String::new()
        } else {
            format!("{common},")
        };
        let spec = if n == 1 {
            format!("[in]{common}{}[out0]", branches[0])
        } else {
            let labels: String = (0..n).map(|i| format!("[s{i}]")).collect();
            let chains: Vec<String> = branches
                .iter()
                .enumerate()
                .map(|(i, b)| format!("[s{i}]{b}[out{i}]"))
                .collect();
            format!("[in]{common}{split}={n}{labels};{}", chains.join(";"))
        };
        let mut parser = graph.output("in", 0).map_err(map)?;
        for name in &sinks {
            parser = parser.input(name, 0).map_err(map)?;
        }
        parser.parse(&spec).map_err(map)?;
        graph.validate().map_err(map)?;
        Ok(FanOut { graph, sinks })
    }

    /// Size, aspect and time base of what sink `i` outputs.
    pub(crate) fn sink_format(&mut self, i: usize) -> SinkFormat {
        av::sink_format(&mut self.graph.get(&self.sinks[i]).expect("sink was added"))
    }

    /// Makes audio sink `i` hand out frames of exactly `samples` (what AAC needs).
    pub(crate) fn set_frame_size(&mut self, i: usize, samples: u32) {
        self.graph
            .get(&self.sinks[i])
            .expect("sink was added")
            .sink()
            .set_frame_size(samples);
    }

    pub(crate) fn push(&mut self, frame: &ffmpeg::Frame, path: &Path) -> Result<(), MediaError> {
        av::push_frame(&mut self.graph, frame, path)
    }

    /// Signals the end of the input.
    pub(crate) fn flush(&mut self, path: &Path) -> Result<(), MediaError> {
        av::flush_graph(&mut self.graph, path)
    }

    /// The next frame of sink `i` into `out`; false when none is ready (or it is drained).
    pub(crate) fn pull(
        &mut self,
        i: usize,
        out: &mut ffmpeg::Frame,
        path: &Path,
    ) -> Result<bool, MediaError> {
        match self
            .graph
            .get(&self.sinks[i])
            .expect("sink was added")
            .sink()
            .frame(out)
        {
            Ok(()) => Ok(true),
            Err(ffmpeg::Error::Eof) | Err(ffmpeg::Error::Other { errno: 11 }) => Ok(false),
            Err(e) => Err(MediaError::ffmpeg("filter", path, e)),
        }
    }
}
