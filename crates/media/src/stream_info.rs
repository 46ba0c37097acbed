//! One stream of a probed file, in the stable JSON shape documented in docs/media.md.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Facts about one stream. Fields that do not apply to the stream's kind are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub index: usize,
    /// `video`, `audio`, `subtitle`, `data`, `attachment` or `unknown`.
    pub kind: String,
    /// FFmpeg codec name (`h264`, `aac`, `vp9`, `opus`).
    pub codec: String,
    pub profile: Option<String>,
    pub bit_rate: Option<u64>,
    /// Seconds.
    pub duration: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Sample (pixel) aspect ratio as `num:den`.
    pub sample_aspect_ratio: Option<String>,
    /// Display aspect ratio as `num:den`, reduced.
    pub display_aspect_ratio: Option<String>,
    /// Clockwise degrees a player rotates the picture for display (0, 90, 180, 270).
    pub rotation: Option<f64>,
    /// Average frames per second.
    pub frame_rate: Option<f64>,
    pub pixel_format: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    /// FFmpeg's name for the channel layout (`mono`, `stereo`, `5.1(side)`).
    pub channel_layout: Option<String>,
    pub sample_format: Option<String>,
    /// ISO 639 language from the `language` tag.
    pub language: Option<String>,
    /// All stream tags, sorted by key.
    pub tags: BTreeMap<String, String>,
}
