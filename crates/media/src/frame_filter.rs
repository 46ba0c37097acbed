//! A video filter graph from one buffer source to one sink: decoded frames in, filtered frames out.
use std::path::Path;

use ffmpeg::{filter, format, Rational};
use ffmpeg_next as ffmpeg;

use crate::av::{self, SinkFormat};
use crate::MediaError;

/// What the frames entering a filter look like.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameSource {
    pub width: u32,
    pub height: u32,
    pub format: format::Pixel,
    pub time_base: Rational,
    pub sar: Rational,
}

/// A configured `buffer → chain → buffersink` graph.
pub(crate) struct FrameFilter {
    graph: filter::Graph,
}

impl FrameFilter {
    /// Builds the graph; `path` names the file in errors.
    pub(crate) fn new(source: &FrameSource, chain: &str, path: &Path) -> Result<Self, MediaError> {
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            source.width,
            source.height,
            ffmpeg::ffi::AVPixelFormat::from(source.format) as i32,
            source.time_base.numerator(),
            source.time_base.denominator(),
            source.sar.numerator(),
            source.sar.denominator()
        );
        let graph = av::chain_graph(false, &args, chain)
            .map_err(|e| MediaError::ffmpeg("build the filter graph for", path, e))?;
        Ok(FrameFilter { graph })
    }

    /// The size, aspect and time base of what comes out.
    pub(crate) fn sink_format(&mut self) -> SinkFormat {
        av::sink_format(&mut self.graph.get("out").expect("sink was added"))
    }

    pub(crate) fn push(&mut self, frame: &ffmpeg::Frame, path: &Path) -> Result<(), MediaError> {
        av::push_frame(&mut self.graph, frame, path)
    }

    /// Signals the end of the input (a partly filled sprite tile comes out after this).
    pub(crate) fn flush(&mut self, path: &Path) -> Result<(), MediaError> {
        av::flush_graph(&mut self.graph, path)
    }

    /// The next filtered frame into `out`; false when none is ready (or the graph is drained).
    pub(crate) fn pull(
        &mut self,
        out: &mut ffmpeg::Frame,
        path: &Path,
    ) -> Result<bool, MediaError> {
        match self
            .graph
            .get("out")
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
