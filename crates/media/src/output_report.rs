//! What a task that writes one media file reports: where, how big, how long, and per stream copy or encode.
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::pipeline::StreamOutcome;
use crate::probe::MediaInfo;
use crate::MediaError;

/// The result of `transcode` and `resize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputReport {
    pub task: String,
    pub input: PathBuf,
    pub output: PathBuf,
    /// FFmpeg muxer used.
    pub format: String,
    /// Bytes written.
    pub size: u64,
    /// Seconds, read back from the written file.
    pub duration: Option<f64>,
    pub streams: Vec<StreamOutcome>,
    /// Wall-clock seconds the task took.
    pub elapsed: f64,
}

impl OutputReport {
    /// The report of a written file, from what was read back from it (`written`).
    pub(crate) fn read_back(
        task: &str,
        input: &Path,
        output: PathBuf,
        format: &str,
        streams: Vec<StreamOutcome>,
        started: Instant,
        info: &MediaInfo,
    ) -> Result<Self, MediaError> {
        Ok(OutputReport {
            task: task.to_owned(),
            input: input.to_owned(),
            size: info.size,
            duration: info.duration,
            output,
            format: format.to_owned(),
            streams,
            elapsed: started.elapsed().as_secs_f64(),
        })
    }
}
