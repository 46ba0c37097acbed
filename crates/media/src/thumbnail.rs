//! `thumbnail` (one still at a time) and `thumbnails` (a still every N seconds, or one per scene
//! change via `scene_stills`), as JPEG or PNG.
use std::path::{Path, PathBuf};

use ffmpeg::frame;
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::geometry::{Geometry, Request};
use crate::monitor::Monitor;
use crate::staged_output::{ensure_not_input, StagedOutput};
use crate::still_encoder::{ImageKind, StillEncoder};
use crate::video_frames::VideoFrames;
use crate::MediaError;

/// Options for `thumbnail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThumbnailOptions {
    /// Seconds into the video.
    #[serde(deserialize_with = "crate::serde_units::time")]
    pub at: Option<f64>,
    /// Output width; the height follows the display aspect ratio. Default: the display size.
    pub width: Option<u32>,
}

/// Options for `thumbnails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThumbnailsOptions {
    /// Seconds between stills (> 0); required unless `scenes` is given.
    #[serde(deserialize_with = "crate::serde_units::time")]
    pub every: Option<f64>,
    /// One still per scene change instead: FFmpeg's scene score (0 to 1) above this threshold
    /// starts a new scene (0.3 is a usual value); the first frame is always taken.
    pub scenes: Option<f64>,
    pub width: Option<u32>,
    /// `jpg` (default) or `png`.
    pub format: Option<String>,
}

/// One written still.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Still {
    pub path: PathBuf,
    /// Time of the frame used, in seconds.
    pub time: f64,
    pub width: u32,
    pub height: u32,
}

/// The result of `thumbnail` and `thumbnails`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StillsReport {
    pub task: String,
    pub input: PathBuf,
    pub stills: Vec<Still>,
}

/// Seeking beats decoding forward when the next still is further away than this.
const SEEK_GAP: f64 = 5.0;

/// Decodes forward to the first frame at or after `t` (the last frame when `t` is past the end).
pub(crate) fn frame_at(
    frames: &mut VideoFrames,
    t: f64,
    started: &mut bool,
) -> Result<Option<(f64, frame::Video)>, MediaError> {
    if !*started || t - frames.position > SEEK_GAP || t < frames.position {
        if t > 0.0 {
            frames.seek(t)?;
        }
        *started = true;
    }
    // Only the first frame at or after `t` is kept: what nothing refers to before it is skipped.
    frames.wanted_from = Some(t);
    let mut last = None;
    loop {
        let mut cur = frame::Video::empty();
        match frames.next(&mut cur)? {
            Some(time) => {
                let done = time + 1e-3 >= t;
                last = Some((time, cur));
                if done {
                    return Ok(last);
                }
            }
            None => return Ok(last),
        }
    }
}

pub(crate) fn plan(frames: &VideoFrames, width: Option<u32>) -> Result<Geometry, MediaError> {
    Geometry::plan(
        frames.source,
        Request {
            width,
            even: false,
            ..Default::default()
        },
    )
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<PathBuf, MediaError> {
    let staged = StagedOutput::new(path)?;
    std::fs::write(staged.path(), bytes).map_err(|e| MediaError::io(path, e))?;
    staged.commit()
}

/// Writes the frame at `options.at` (default 0) of `input` to `output` (.jpg, .jpeg or .png).
pub fn thumbnail(
    input: &Path,
    output: &Path,
    options: &ThumbnailOptions,
    monitor: &mut Monitor,
) -> Result<StillsReport, MediaError> {
    let kind = ImageKind::from_path(output)?;
    ensure_not_input(input, output)?;
    let at = options.at.unwrap_or(0.0);
    let mut frames = VideoFrames::open(input, monitor.limits())?;
    if let Some(d) = frames.duration {
        if at > d {
            return Err(MediaError::option(
                "at",
                at,
                format!("the video is only {d:.3} s long"),
            ));
        }
    }
    let geometry = plan(&frames, options.width)?;
    let mut still = StillEncoder::new(&frames, &geometry.filter, kind, output)?;
    monitor.check()?;
    let mut started = false;
    let (time, mut picked) =
        frame_at(&mut frames, at, &mut started)?.ok_or_else(|| MediaError::InvalidInput {
            path: input.to_owned(),
            reason: "no video frame could be decoded".into(),
        })?;
    let mut images = still.push(&mut picked, output)?;
    images.extend(still.finish(output)?);
    let bytes = images.first().ok_or_else(|| MediaError::InvalidInput {
        path: input.to_owned(),
        reason: "the encoder produced no image".into(),
    })?;
    let path = write_file(output, bytes)?;
    Ok(StillsReport {
        task: "thumbnail".into(),
        input: input.to_owned(),
        stills: vec![Still {
            path,
            time,
            width: still.width,
            height: still.height,
        }],
    })
}

/// Writes `thumb-0001.jpg`, `thumb-0002.jpg`, ... into `dir`, one every `options.every` seconds.
pub fn thumbnails(
    input: &Path,
    dir: &Path,
    options: &ThumbnailsOptions,
    monitor: &mut Monitor,
) -> Result<StillsReport, MediaError> {
    if let Some(threshold) = options.scenes {
        if options.every.is_some() {
            return Err(MediaError::option(
                "scenes",
                threshold,
                "give either `every` or `scenes`, not both",
            ));
        }
        return crate::scene_stills::scene_thumbnails(input, dir, threshold, options, monitor);
    }
    let every = options.every.ok_or_else(|| {
        MediaError::option(
            "every",
            "(none)",
            "give the interval in seconds (or `scenes`)",
        )
    })?;
    if every <= 0.0 || !every.is_finite() {
        return Err(MediaError::option(
            "every",
            every,
            "must be greater than zero",
        ));
    }
    let ext = options.format.clone().unwrap_or_else(|| "jpg".into());
    let kind = ImageKind::from_path(Path::new(&format!("x.{ext}")))?;
    let limits = monitor.limits().clone();
    let too_many = |what: String| MediaError::LimitExceeded {
        path: input.to_owned(),
        what,
        limit: format!("{} images", limits.max_images),
        option: "max-images",
    };
    let mut frames = VideoFrames::open(input, &limits)?;
    // Refuse up front what the declared duration already says is too many; the loop below
    // also stops at the cap, for headers that understate the length.
    if let Some(d) = frames.duration {
        let planned = (d / every).ceil();
        if planned > f64::from(limits.max_images) {
            return Err(too_many(format!(
                "would give {planned:.0} stills at one every {every} s"
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| MediaError::io(dir, e))?;
    let geometry = plan(&frames, options.width)?;
    let sample = dir.join(format!("thumb.{ext}"));
    let mut still = StillEncoder::new(&frames, &geometry.filter, kind, &sample)?;
    let total = frames.duration;
    let mut tracker = monitor.tracker("thumbnails", total);
    let mut stills = Vec::new();
    let mut started = false;
    for k in 0.. {
        let t = k as f64 * every;
        if total.is_some_and(|d| t >= d) {
            break;
        }
        monitor.check()?;
        let Some((time, mut picked)) = frame_at(&mut frames, t, &mut started)? else {
            break;
        };
        if k > 0 && time + 1e-3 < t {
            break; // past the last frame
        }
        if stills.len() >= limits.max_images as usize {
            return Err(too_many(format!(
                "gives more than {} stills at one every {every} s",
                limits.max_images
            )));
        }
        let path = dir.join(format!("thumb-{:04}.{ext}", k + 1));
        ensure_not_input(input, &path)?;
        for bytes in still.push(&mut picked, &path)? {
            let written = write_file(&path, &bytes)?;
            stills.push(Still {
                path: written,
                time,
                width: still.width,
                height: still.height,
            });
        }
        if let Some(p) = tracker.frame(time) {
            monitor.emit(&p);
        }
    }
    let done = tracker.finish(frames.position);
    monitor.emit(&done);
    Ok(StillsReport {
        task: "thumbnails".into(),
        input: input.to_owned(),
        stills,
    })
}
