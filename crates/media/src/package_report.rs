//! What `package` reports: every output it wrote, with sizes, durations and measured bit rates.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The result of `package`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageReport {
    pub task: String,
    pub input: PathBuf,
    /// The output directory.
    pub output: PathBuf,
    /// Seconds of source decoded (from the first to the last video frame's end).
    pub duration: f64,
    /// Target segment length in seconds; key frames are forced at these boundaries.
    pub segment_duration: f64,
    /// Start times (seconds) of the segments, identical for every rung.
    pub segment_starts: Vec<f64>,
    /// HLS master playlist, when written.
    pub hls: Option<PathBuf>,
    /// DASH MPD, when written.
    pub dash: Option<PathBuf>,
    /// Video renditions, highest first.
    pub rungs: Vec<RungReport>,
    pub audio: Option<AudioReport>,
    /// Sprite, WebVTT and grid JSON, when asked for.
    pub storyboard: Option<StoryboardReport>,
    /// Peaks JSON (audiowaveform format), when asked for.
    pub waveform: Option<WaveformReport>,
    /// The poster frame, when asked for.
    pub poster: Option<crate::poster::PosterReport>,
    /// Bytes in the output directory.
    pub size: u64,
    /// Wall-clock seconds.
    pub elapsed: f64,
}

/// One video rendition of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungReport {
    /// `720p`, ...
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// FFmpeg encoder used.
    pub codec: String,
    pub crf: u32,
    /// VBV cap and buffer, bits per second and bits.
    pub maxrate: u64,
    pub bufsize: u64,
    /// HLS media playlist, when HLS was written.
    pub playlist: Option<PathBuf>,
    /// CMAF initialization segment.
    pub init: PathBuf,
    /// Media segments, in order.
    pub segments: Vec<PathBuf>,
    /// Bytes of the init and media segments.
    pub size: u64,
    /// Seconds, from the encoded packets.
    pub duration: f64,
    /// Average bits per second of the media segments.
    pub bit_rate: u64,
    /// Highest bits per second of any one segment (its file size over its duration).
    pub peak_segment_bit_rate: u64,
    /// Bits per second of each media segment, in order (its file size over its duration).
    pub segment_bit_rates: Vec<u64>,
}

/// The one audio rendition every rung shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioReport {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    /// Target bits per second of the encoder.
    pub bit_rate: u64,
    /// Integrated loudness target in LUFS when `normalize` was asked for.
    pub normalized_to: Option<f64>,
    pub playlist: Option<PathBuf>,
    pub init: PathBuf,
    pub segments: Vec<PathBuf>,
    pub size: u64,
    pub duration: f64,
}

/// The storyboard files and their grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryboardReport {
    pub image: PathBuf,
    pub vtt: PathBuf,
    pub json: PathBuf,
    pub tiles: usize,
    pub columns: u32,
    pub rows: u32,
    pub tile_width: u32,
    pub tile_height: u32,
    pub interval: f64,
    /// Bytes of the sprite image.
    pub size: u64,
}

/// The waveform peaks file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveformReport {
    pub path: PathBuf,
    pub channels: u32,
    pub sample_rate: u32,
    pub samples_per_pixel: u32,
    /// Pixels (min/max pairs per channel).
    pub length: usize,
    pub size: u64,
}
