//! `transcode`: re-encode or remux into the output's format, copying streams that already match.
use std::path::Path;
use std::time::Instant;

use ffmpeg::{encoder, media};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::av;
use crate::monitor::Monitor;
use crate::output_report::OutputReport;
use crate::pipeline::{self, EncodeSpec, Job, StreamPlan};
use crate::preset::{self, Preset};
use crate::staged_output::ensure_not_input;
use crate::MediaError;

/// Options for `transcode`. Every field is optional; the output extension or preset decides the rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscodeOptions {
    pub preset: Option<Preset>,
    /// FFmpeg encoder name for video (`libx264`, `libvpx-vp9`, ...).
    pub video_codec: Option<String>,
    /// FFmpeg encoder name for audio (`aac`, `libopus`, `libmp3lame`, ...).
    pub audio_codec: Option<String>,
    /// Constant quality for x264/x265/VP9 (lower is better).
    pub crf: Option<u32>,
    /// Video bits per second; replaces CRF.
    #[serde(deserialize_with = "crate::serde_units::bitrate")]
    pub bitrate: Option<u64>,
    /// Audio bits per second.
    #[serde(deserialize_with = "crate::serde_units::bitrate")]
    pub audio_bitrate: Option<u64>,
    /// Seconds to skip at the start.
    #[serde(deserialize_with = "crate::serde_units::time")]
    pub start: Option<f64>,
    /// Seconds to keep.
    #[serde(deserialize_with = "crate::serde_units::time")]
    pub duration: Option<f64>,
    pub no_audio: bool,
    pub no_video: bool,
}

/// Transcodes `input` into `output`, whose format comes from `options.preset` or its extension.
pub fn transcode(
    input: &Path,
    output: &Path,
    options: &TranscodeOptions,
    monitor: &mut Monitor,
) -> Result<OutputReport, MediaError> {
    let started = Instant::now();
    let container = preset::resolve(output, options.preset)?;
    ensure_not_input(input, output)?;
    if let Some(crf) = options.crf {
        if crf > 63 {
            return Err(MediaError::option("crf", crf, "must be between 0 and 63"));
        }
    }
    if options.duration == Some(0.0) {
        return Err(MediaError::option(
            "duration",
            0,
            "must be greater than zero",
        ));
    }
    let limits = monitor.limits().clone();
    let mut ictx = av::open_input(input, &limits)?;
    let trimming = options.start.is_some_and(|s| s > 0.0) || options.duration.is_some();

    let mut streams = Vec::new();
    let want_video = !options.no_video && (container.has_video() || options.video_codec.is_some());
    if want_video {
        if let Some(index) = pipeline::best_stream(&ictx, media::Type::Video) {
            let name = options
                .video_codec
                .clone()
                .or(container.video.map(str::to_owned))
                .unwrap_or_else(|| "libx264".into());
            let spec = video_spec(&name, options)?;
            let same = same_codec(&ictx, index, &name);
            let plan = if same && !trimming && options.crf.is_none() && options.bitrate.is_none() {
                StreamPlan::Copy
            } else {
                StreamPlan::Encode(spec)
            };
            streams.push((index, plan));
        }
    }
    if !options.no_audio {
        if let Some(index) = pipeline::best_stream(&ictx, media::Type::Audio) {
            let name = options
                .audio_codec
                .clone()
                .or(container.audio.map(str::to_owned))
                .unwrap_or_else(|| "aac".into());
            let spec = audio_spec(&name, options.audio_bitrate)?;
            let same = same_codec(&ictx, index, &name);
            let plan = if same && !trimming && options.audio_bitrate.is_none() {
                StreamPlan::Copy
            } else {
                StreamPlan::Encode(spec)
            };
            streams.push((index, plan));
        }
    }
    if streams.is_empty() {
        let kind = if container.has_video() && !options.no_video {
            "video or audio"
        } else {
            "audio"
        };
        return Err(MediaError::MissingStream {
            path: input.to_owned(),
            kind,
        });
    }
    let job = Job {
        task: "transcode",
        input_path: input,
        container: &container,
        streams,
        start: options.start,
        duration: options.duration,
        keep_rotation: true,
        meter: None,
        limits: &limits,
    };
    let (path, result, written) = pipeline::produce(job, output, &mut ictx, monitor)?;
    OutputReport::read_back(
        "transcode",
        input,
        path,
        container.muxer,
        result.streams,
        started,
        &written,
    )
}

fn same_codec(ictx: &ffmpeg::format::context::Input, index: usize, encoder_name: &str) -> bool {
    let Some(stream) = ictx.stream(index) else {
        return false;
    };
    encoder::find_by_name(encoder_name).is_some_and(|c| c.id() == stream.parameters().id())
}

/// Encoder settings for a video encoder, with the quality defaults we document.
pub(crate) fn video_spec(name: &str, options: &TranscodeOptions) -> Result<EncodeSpec, MediaError> {
    if encoder::find_by_name(name).is_none_or(|c| c.medium() != media::Type::Video) {
        return Err(pipeline::unsupported(name, media::Type::Video));
    }
    let mut spec = EncodeSpec {
        encoder: name.to_owned(),
        bit_rate: options.bitrate,
        ..Default::default()
    };
    let o = &mut spec.options;
    match name {
        "libx264" | "libx265" => {
            o.push(("preset".into(), "medium".into()));
            if options.bitrate.is_none() {
                o.push(("crf".into(), options.crf.unwrap_or(23).to_string()));
            }
        }
        "libvpx-vp9" | "libvpx" => {
            o.push(("deadline".into(), "good".into()));
            o.push(("cpu-used".into(), "4".into()));
            o.push(("row-mt".into(), "1".into()));
            if options.bitrate.is_none() {
                o.push(("crf".into(), options.crf.unwrap_or(32).to_string()));
                // Constant quality mode needs a zero target bit rate.
                spec.bit_rate = Some(0);
            }
        }
        _ => {
            if let Some(crf) = options.crf {
                o.push(("crf".into(), crf.to_string()));
            }
        }
    }
    Ok(spec)
}

/// Encoder settings for an audio encoder.
pub(crate) fn audio_spec(name: &str, bit_rate: Option<u64>) -> Result<EncodeSpec, MediaError> {
    if encoder::find_by_name(name).is_none_or(|c| c.medium() != media::Type::Audio) {
        return Err(pipeline::unsupported(name, media::Type::Audio));
    }
    let max_channels = matches!(name, "libmp3lame").then_some(2);
    Ok(EncodeSpec {
        encoder: name.to_owned(),
        bit_rate,
        max_channels,
        ..Default::default()
    })
}
