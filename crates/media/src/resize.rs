//! `resize`: scale, crop and re-aspect the video (rotation and SAR honoured); audio is copied.
use std::path::Path;
use std::time::Instant;

use ffmpeg::media;
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::av;
use crate::geometry::{Aspect, Crop, Fit, Geometry, Request, Source};
use crate::monitor::Monitor;
use crate::output_report::OutputReport;
use crate::pipeline::{self, Job, StreamPlan};
use crate::preset::{self, Preset};
use crate::staged_output::ensure_not_input;
use crate::transcode::{audio_spec, video_spec, TranscodeOptions};
use crate::MediaError;

/// Options for `resize`. Give `width`, `height` or both; with both, `fit` decides the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResizeOptions {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    /// Crop rectangle in upright displayed pixels, applied before scaling.
    #[serde(with = "crop_text")]
    pub crop: Option<Crop>,
    /// Center-crop to this display aspect ratio before scaling.
    #[serde(with = "aspect_text")]
    pub aspect: Option<Aspect>,
    pub preset: Option<Preset>,
    pub video_codec: Option<String>,
    pub crf: Option<u32>,
}

/// Resizes the video of `input` into `output`; the audio stream is copied when the output
/// container can hold it, else encoded with the container's default audio codec.
pub fn resize(
    input: &Path,
    output: &Path,
    options: &ResizeOptions,
    monitor: &mut Monitor,
) -> Result<OutputReport, MediaError> {
    let started = Instant::now();
    let container = preset::resolve(output, options.preset)?;
    ensure_not_input(input, output)?;
    if !container.has_video() {
        return Err(MediaError::option(
            "output",
            output.display(),
            "resize needs a video container (mp4, webm, mkv, mov)",
        ));
    }
    let limits = monitor.limits().clone();
    let (mut ictx, vindex) = pipeline::open_with_video(input, &limits)?;
    let vstream = ictx.stream(vindex).expect("index from the same context");
    let par = vstream.parameters();
    // SAFETY-free read of plain fields through ffmpeg-next's raw pointer.
    let (w, h) = unsafe {
        (
            (*par.as_ptr()).width.max(0) as u32,
            (*par.as_ptr()).height.max(0) as u32,
        )
    };
    let sar = av::stream_sar(&vstream);
    let src = Source {
        width: w,
        height: h,
        sar: f64::from(sar),
        rotation: av::stream_rotation(&vstream).unwrap_or(0.0),
    };
    let request = Request {
        width: options.width,
        height: options.height,
        fit: options.fit,
        crop: options.crop,
        aspect: options.aspect,
        even: true,
    };
    let geometry = Geometry::plan(src, request)?;

    let vname = options
        .video_codec
        .clone()
        .unwrap_or_else(|| container.video.unwrap_or("libx264").to_owned());
    let mut spec = video_spec(
        &vname,
        &TranscodeOptions {
            crf: options.crf,
            ..Default::default()
        },
    )?;
    spec.filter = geometry.filter.clone();
    let mut streams = vec![(vindex, StreamPlan::Encode(spec))];
    if let Some(aindex) = pipeline::best_stream(&ictx, media::Type::Audio) {
        let id = ictx.stream(aindex).expect("same context").parameters().id();
        let plan = if av::muxer_accepts(container.muxer, id) {
            StreamPlan::Copy
        } else {
            StreamPlan::Encode(audio_spec(container.audio.unwrap_or("aac"), None)?)
        };
        streams.push((aindex, plan));
    }
    let job = Job {
        task: "resize",
        input_path: input,
        container: &container,
        streams,
        start: None,
        duration: None,
        // The filter chain already turned the pixels upright.
        keep_rotation: false,
        meter: None,
        limits: &limits,
    };
    let (path, result, written) = pipeline::produce(job, output, &mut ictx, monitor)?;
    OutputReport::read_back(
        "resize",
        input,
        path,
        container.muxer,
        result.streams,
        started,
        &written,
    )
}

mod crop_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::geometry::Crop;

    pub fn serialize<S: Serializer>(v: &Option<Crop>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|c| format!("{}x{}+{}+{}", c.width, c.height, c.x, c.y))
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Crop>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod aspect_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::geometry::Aspect;

    pub fn serialize<S: Serializer>(v: &Option<Aspect>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|a| format!("{}:{}", a.num, a.den)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Aspect>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}
