//! `sprite`: one image with a grid of stills every N seconds (for scrubbing previews).
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::geometry::{Geometry, Request};
use crate::monitor::Monitor;
use crate::staged_output::StagedOutput;
use crate::still_encoder::{ImageKind, StillEncoder};
use crate::thumbnail::frame_at;
use crate::video_frames::VideoFrames;
use crate::MediaError;

/// Options for `sprite`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpriteOptions {
    /// Seconds between tiles (required, > 0).
    #[serde(deserialize_with = "crate::serde_units::time")]
    pub every: Option<f64>,
    /// Tiles per row (required, > 0).
    pub columns: Option<u32>,
    /// Width of one tile; default 160.
    pub width: Option<u32>,
}

/// The result of `sprite`: where each tile is, to build a WebVTT thumbnail track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpriteReport {
    pub task: String,
    pub input: PathBuf,
    pub output: PathBuf,
    pub columns: u32,
    pub rows: u32,
    pub tiles: u32,
    pub tile_width: u32,
    pub tile_height: u32,
    pub every: f64,
}

/// Writes a `columns`-wide grid of stills taken every `every` seconds to `output` (.jpg/.png).
pub fn sprite(
    input: &Path,
    output: &Path,
    options: &SpriteOptions,
    monitor: &mut Monitor,
) -> Result<SpriteReport, MediaError> {
    let kind = ImageKind::from_path(output)?;
    let every = options.every.filter(|e| *e > 0.0).ok_or_else(|| {
        MediaError::option(
            "every",
            format!("{:?}", options.every),
            "must be greater than zero",
        )
    })?;
    let columns = options.columns.filter(|c| *c > 0).ok_or_else(|| {
        MediaError::option(
            "columns",
            format!("{:?}", options.columns),
            "must be greater than zero",
        )
    })?;
    let mut frames = VideoFrames::open(input)?;
    let duration = frames.duration.ok_or_else(|| MediaError::InvalidInput {
        path: input.to_owned(),
        reason: "unknown duration".into(),
    })?;
    let tiles = ((duration / every).ceil() as u32).max(1);
    let rows = tiles.div_ceil(columns);
    let geometry = Geometry::plan(
        frames.source,
        Request {
            width: Some(options.width.unwrap_or(160)),
            even: false,
            ..Default::default()
        },
    )?;
    let chain = format!("{},tile={columns}x{rows}", geometry.filter);
    let mut still = StillEncoder::new(&frames, &chain, kind, output)?;
    let mut tracker = monitor.tracker("sprite", Some(duration));
    let mut images = Vec::new();
    let mut started = false;
    let mut used = 0;
    for k in 0..tiles {
        monitor.check()?;
        let t = f64::from(k) * every;
        let Some((time, mut picked)) = frame_at(&mut frames, t, &mut started)? else {
            break;
        };
        images.extend(still.push(&mut picked, output)?);
        used += 1;
        if let Some(p) = tracker.frame(time) {
            monitor.emit(&p);
        }
    }
    images.extend(still.finish(output)?);
    let bytes = images.first().ok_or_else(|| MediaError::InvalidInput {
        path: input.to_owned(),
        reason: "no video frame could be decoded".into(),
    })?;
    let staged = StagedOutput::new(output)?;
    std::fs::write(staged.path(), bytes).map_err(|e| MediaError::io(output, e))?;
    let path = staged.commit()?;
    monitor.emit(&tracker.finish(duration));
    Ok(SpriteReport {
        task: "sprite".into(),
        input: input.to_owned(),
        output: path,
        columns,
        rows,
        tiles: used,
        tile_width: geometry.width,
        tile_height: geometry.height,
        every,
    })
}
