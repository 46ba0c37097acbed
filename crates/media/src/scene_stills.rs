//! `thumbnails --scenes`: one still per scene change, decided by FFmpeg's own scene score
//! (`select='gt(scene,THRESHOLD)'`), the first frame always included.
use std::path::Path;

use ffmpeg_next as ffmpeg;

use crate::frame_filter::FrameFilter;
use crate::monitor::Monitor;
use crate::staged_output::ensure_not_input;
use crate::still_encoder::{ImageKind, StillEncoder};
use crate::thumbnail::{plan, write_file, Still, StillsReport, ThumbnailsOptions};
use crate::video_frames::VideoFrames;
use crate::MediaError;

/// Writes `thumb-0001.jpg`, ... into `dir`: the first frame and every frame whose scene score
/// is above `threshold`.
pub(crate) fn scene_thumbnails(
    input: &Path,
    dir: &Path,
    threshold: f64,
    options: &ThumbnailsOptions,
    monitor: &mut Monitor,
) -> Result<StillsReport, MediaError> {
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(MediaError::option(
            "scenes",
            threshold,
            "the scene threshold must be between 0 and 1 (exclusive)",
        ));
    }
    let ext = options.format.clone().unwrap_or_else(|| "jpg".into());
    let kind = ImageKind::from_path(Path::new(&format!("x.{ext}")))?;
    let limits = monitor.limits().clone();
    let mut frames = VideoFrames::open(input, &limits)?;
    std::fs::create_dir_all(dir).map_err(|e| MediaError::io(dir, e))?;
    let geometry = plan(&frames, options.width)?;
    let sample = dir.join(format!("thumb.{ext}"));
    // The scene score is computed on the decoded frames; the still encoder then applies the
    // geometry (rotation, display aspect, width) to the chosen ones.
    let mut select = FrameFilter::new(
        &frames.frame_source(),
        &format!("select='eq(n,0)+gt(scene,{threshold})'"),
        &sample,
    )?;
    let time_base = frames.frame_source().time_base;
    let mut still = StillEncoder::new(&frames, &geometry.filter, kind, &sample)?;
    let mut tracker = monitor.tracker("thumbnails", frames.duration);
    let mut stills: Vec<Still> = Vec::new();
    let mut decoded = crate::av::new_frame();
    let mut chosen = ffmpeg::frame::Video::empty();
    let mut done = false;
    while !done {
        monitor.check()?;
        match frames.next(&mut decoded)? {
            Some(t) => {
                select.push(&decoded, &sample)?;
                if let Some(p) = tracker.frame(t) {
                    monitor.emit(&p);
                }
            }
            None => {
                select.flush(&sample)?;
                done = true;
            }
        }
        while select.pull(&mut chosen, &sample)? {
            if stills.len() >= limits.max_images as usize {
                return Err(MediaError::LimitExceeded {
                    path: input.to_owned(),
                    what: format!(
                        "gives more than {} stills at a scene threshold of {threshold}",
                        limits.max_images
                    ),
                    limit: format!("{} images", limits.max_images),
                    option: "max-images",
                });
            }
            let time = chosen.pts().unwrap_or(0) as f64 * f64::from(time_base);
            let path = dir.join(format!("thumb-{:04}.{ext}", stills.len() + 1));
            ensure_not_input(input, &path)?;
            for bytes in still.push(&mut chosen, &path)? {
                stills.push(Still {
                    path: write_file(&path, &bytes)?,
                    time,
                    width: still.width,
                    height: still.height,
                });
            }
        }
    }
    monitor.emit(&tracker.finish(frames.position));
    if stills.is_empty() {
        return Err(MediaError::InvalidInput {
            path: input.to_owned(),
            reason: "no video frame could be decoded".into(),
        });
    }
    Ok(StillsReport {
        task: "thumbnails".into(),
        input: input.to_owned(),
        stills,
    })
}
