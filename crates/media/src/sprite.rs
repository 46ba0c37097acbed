//! `sprite`: one image with a grid of stills every N seconds (for scrubbing previews).
use std::path::{Path, PathBuf};

use ffmpeg::{frame, Rational};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::frame_filter::{FrameFilter, FrameSource};
use crate::geometry::{Geometry, Request};
use crate::monitor::Monitor;
use crate::staged_output::{ensure_not_input, StagedOutput};
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
///
/// The grid is sized from the frames actually decoded, not from the duration the header
/// declares: tiles are taken until the last frame, scaled as they come, then laid out.
pub fn sprite(
    input: &Path,
    output: &Path,
    options: &SpriteOptions,
    monitor: &mut Monitor,
) -> Result<SpriteReport, MediaError> {
    let kind = ImageKind::from_path(output)?;
    ensure_not_input(input, output)?;
    let every = options
        .every
        .filter(|e| *e > 0.0 && e.is_finite())
        .ok_or_else(|| {
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
    let limits = monitor.limits().clone();
    let mut frames = VideoFrames::open(input, &limits)?;
    let geometry = Geometry::plan(
        frames.source,
        Request {
            width: Some(options.width.unwrap_or(160)),
            even: false,
            ..Default::default()
        },
    )?;
    let pix = kind.pixel()?;
    let pix_name = pix.descriptor().map(|d| d.name()).unwrap_or("rgb24");
    let mut scaler = FrameFilter::new(
        &frames.frame_source(),
        &format!("{},format=pix_fmts={pix_name}", geometry.filter),
        output,
    )?;
    let mut tracker = monitor.tracker("sprite", frames.duration);
    let mut tiles: Vec<frame::Video> = Vec::new();
    let mut started = false;
    for k in 0u64.. {
        monitor.check()?;
        let t = k as f64 * every;
        let Some((time, picked)) = frame_at(&mut frames, t, &mut started)? else {
            break;
        };
        if k > 0 && time + 1e-3 < t {
            break; // past the last frame, whatever the header says
        }
        if k >= u64::from(limits.max_tiles) {
            return Err(MediaError::LimitExceeded {
                path: input.to_owned(),
                what: format!(
                    "gives more than {} sprite tiles at one every {every} s",
                    limits.max_tiles
                ),
                limit: format!("{} tiles", limits.max_tiles),
                option: "max-tiles",
            });
        }
        scaler.push(&picked, output)?;
        drain(&mut scaler, &mut tiles, output)?;
        if let Some(p) = tracker.frame(time) {
            monitor.emit(&p);
        }
    }
    scaler.flush(output)?;
    drain(&mut scaler, &mut tiles, output)?;
    let used = u32::try_from(tiles.len()).unwrap_or(u32::MAX);
    if used == 0 {
        return Err(MediaError::InvalidInput {
            path: input.to_owned(),
            reason: "no video frame could be decoded".into(),
        });
    }
    let sink = scaler.sink_format();
    let (bytes, rows) = encode_grid(tiles, &sink, columns, kind, input, output, &limits)?;
    let staged = StagedOutput::new(output)?;
    std::fs::write(staged.path(), &bytes).map_err(|e| MediaError::io(output, e))?;
    let path = staged.commit()?;
    monitor.emit(&tracker.finish(frames.position));
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

/// Moves every frame the scaler has ready into `tiles`.
fn drain(
    scaler: &mut FrameFilter,
    tiles: &mut Vec<frame::Video>,
    output: &Path,
) -> Result<(), MediaError> {
    loop {
        let mut tile = frame::Video::empty();
        if !scaler.pull(&mut tile, output)? {
            return Ok(());
        }
        tiles.push(tile);
    }
}

/// Lays `tiles` (all the size `sink` describes) out `columns` wide and encodes the grid as one
/// image; returns its bytes and the row count. The canvas is bounded by `limits.max_pixels`.
pub(crate) fn encode_grid(
    tiles: Vec<frame::Video>,
    sink: &crate::av::SinkFormat,
    columns: u32,
    kind: ImageKind,
    input: &Path,
    output: &Path,
    limits: &crate::Limits,
) -> Result<(Vec<u8>, u32), MediaError> {
    let used = u32::try_from(tiles.len()).unwrap_or(u32::MAX);
    let rows = used.div_ceil(columns).max(1);
    let canvas =
        u64::from(sink.width) * u64::from(columns) * u64::from(sink.height) * u64::from(rows);
    if canvas > limits.max_pixels {
        return Err(MediaError::LimitExceeded {
            path: input.to_owned(),
            what: format!(
                "gives a {}x{} sprite ({canvas} pixels)",
                u64::from(sink.width) * u64::from(columns),
                u64::from(sink.height) * u64::from(rows)
            ),
            limit: format!("{} pixels", limits.max_pixels),
            option: "max-pixels",
        });
    }
    let source = FrameSource {
        width: sink.width,
        height: sink.height,
        format: kind.pixel()?,
        time_base: sink.time_base,
        sar: if sink.sample_aspect_ratio.numerator() > 0 {
            sink.sample_aspect_ratio
        } else {
            Rational(1, 1)
        },
    };
    let mut still =
        StillEncoder::from_source(&source, &format!("tile={columns}x{rows}"), kind, output)?;
    let mut images = Vec::new();
    for mut tile in tiles {
        images.extend(still.push(&mut tile, output)?);
    }
    images.extend(still.finish(output)?);
    let bytes = images
        .into_iter()
        .next()
        .ok_or_else(|| MediaError::InvalidInput {
            path: input.to_owned(),
            reason: "no video frame could be decoded".into(),
        })?;
    Ok((bytes, rows))
}
