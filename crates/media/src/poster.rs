//! The poster frame of `package`: among frames sampled a few times a second, the one with the
//! highest scene score (how much the picture changed since the previous sample: the first frame
//! of a shot), never a near-black, near-white or flat frame (fades, flashes, slates).
use std::path::Path;

use ffmpeg::{frame, Rational};
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::frame_filter::FrameSource;
use crate::still_encoder::{ImageKind, StillEncoder};
use crate::MediaError;

/// Name inside the package directory.
pub(crate) const IMAGE: &str = "poster.jpg";
/// Samples per second the poster branch keeps.
pub(crate) const RATE: u32 = 4;

/// Mean luma (0-255) below which a frame counts as black, and above which as white.
const BLACK: f64 = 0.10 * 255.0;
const WHITE: f64 = 0.90 * 255.0;
/// Luma standard deviation below which a frame is flat (a solid colour or a near-empty slate).
const FLAT: f64 = 8.0;
/// Luma samples per frame (a grid), for the statistics.
const GRID: (usize, usize) = (32, 18);

/// The chosen poster frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PosterReport {
    pub path: std::path::PathBuf,
    /// Seconds from the start of the video.
    pub time: f64,
    pub width: u32,
    pub height: u32,
    /// Mean absolute luma change from the previous sample, 0 to 1.
    pub scene_score: f64,
    /// Mean luma of the frame, 0 to 255.
    pub mean_luma: f64,
    /// Bytes of the JPEG.
    pub size: u64,
}

/// Luma statistics of one sampled frame.
#[derive(Debug, Clone, Copy)]
struct Stats {
    mean: f64,
    spread: f64,
    score: f64,
}

/// Looks at every sampled frame and keeps the best one.
pub(crate) struct PosterPicker {
    previous: Option<Vec<u8>>,
    /// (stats, time, frame) of the best acceptable frame so far.
    best: Option<(Stats, f64, frame::Video)>,
    /// The most detailed frame, used when no frame is acceptable (an all-dark video).
    fallback: Option<(Stats, f64, frame::Video)>,
}

impl PosterPicker {
    pub(crate) fn new() -> Self {
        PosterPicker {
            previous: None,
            best: None,
            fallback: None,
        }
    }

    /// Considers one sampled frame (8-bit luma in plane 0) at `time` seconds.
    pub(crate) fn consider(&mut self, frame: frame::Video, time: f64) {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        if w == 0 || h == 0 {
            return;
        }
        let stride = frame.stride(0);
        let data = frame.data(0);
        let mut grid = Vec::with_capacity(GRID.0 * GRID.1);
        for gy in 0..GRID.1 {
            let y = (gy * 2 + 1) * h / (GRID.1 * 2);
            for gx in 0..GRID.0 {
                let x = (gx * 2 + 1) * w / (GRID.0 * 2);
                grid.push(data.get(y * stride + x).copied().unwrap_or(0));
            }
        }
        let n = grid.len() as f64;
        let mean = grid.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        let spread = (grid
            .iter()
            .map(|v| (f64::from(*v) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        let score = self.previous.as_ref().map_or(0.0, |prev| {
            prev.iter()
                .zip(&grid)
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / n
                / 255.0
        });
        self.previous = Some(grid);
        let stats = Stats {
            mean,
            spread,
            score,
        };
        if self
            .fallback
            .as_ref()
            .is_none_or(|(s, _, _)| spread > s.spread)
        {
            self.fallback = Some((stats, time, frame.clone()));
        }
        let acceptable = mean > BLACK && mean < WHITE && spread > FLAT;
        if acceptable && self.best.as_ref().is_none_or(|(s, _, _)| score > s.score) {
            self.best = Some((stats, time, frame));
        }
    }

    /// Encodes the chosen frame as `dir/poster.jpg`; `t0` is the time of the first video frame.
    pub(crate) fn write(
        self,
        dir: &Path,
        t0: f64,
        time_base: Rational,
        output: &Path,
        input: &Path,
    ) -> Result<PosterReport, MediaError> {
        let (stats, time, mut frame) =
            self.best
                .or(self.fallback)
                .ok_or_else(|| MediaError::InvalidInput {
                    path: input.to_owned(),
                    reason: "no video frame could be decoded for the poster".into(),
                })?;
        let source = FrameSource {
            width: frame.width(),
            height: frame.height(),
            format: frame.format(),
            time_base,
            sar: Rational(1, 1),
        };
        let path = dir.join(IMAGE);
        let mut still = StillEncoder::from_source(&source, "null", ImageKind::Jpeg, &path)?;
        let mut images = still.push(&mut frame, &path)?;
        images.extend(still.finish(&path)?);
        let bytes = images
            .into_iter()
            .next()
            .ok_or_else(|| MediaError::InvalidInput {
                path: input.to_owned(),
                reason: "the poster frame could not be encoded".into(),
            })?;
        std::fs::write(&path, &bytes).map_err(|e| MediaError::io(output.join(IMAGE), e))?;
        Ok(PosterReport {
            path: output.join(IMAGE),
            time: ((time - t0) * 1000.0).round() / 1000.0,
            width: still.width,
            height: still.height,
            scene_score: (stats.score * 1e4).round() / 1e4,
            mean_luma: (stats.mean * 10.0).round() / 10.0,
            size: bytes.len() as u64,
        })
    }
}
