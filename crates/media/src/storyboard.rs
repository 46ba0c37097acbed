//! The storyboard of `package`: a sprite of stills every N seconds, a WebVTT track whose cues
//! point into it (`storyboard.jpg#xywh=x,y,w,h`) and the Mux-style JSON with the grid, the
//! files a player's scrub bar reads.
use std::fmt::Write as _;
use std::path::Path;

use ffmpeg::frame;
use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::av::SinkFormat;
use crate::sprite::encode_grid;
use crate::still_encoder::ImageKind;
use crate::MediaError;

/// Names inside the package directory.
pub(crate) const IMAGE: &str = "storyboard.jpg";
pub(crate) const VTT: &str = "storyboard.vtt";
pub(crate) const JSON: &str = "storyboard.json";

/// The grid description written to `storyboard.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Storyboard {
    /// The sprite, relative to the JSON file.
    pub url: String,
    pub tile_width: u32,
    pub tile_height: u32,
    pub columns: u32,
    pub rows: u32,
    /// Seconds between tiles.
    pub interval: f64,
    /// Seconds covered.
    pub duration: f64,
    pub tiles: Vec<StoryboardTile>,
}

/// One tile: the time span it stands for and its top-left corner in the sprite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryboardTile {
    pub start: f64,
    pub end: f64,
    pub x: u32,
    pub y: u32,
}

/// The filter chain of the storyboard branch: one frame every `interval` seconds from the first
/// frame (a source that starts at a late timestamp still gets even tiles), scaled.
pub(crate) fn branch(interval: f64, width: u32, height: u32) -> Result<String, MediaError> {
    let pix = ImageKind::Jpeg.pixel()?;
    let pix_name = pix.descriptor().map(|d| d.name()).unwrap_or("yuvj420p");
    Ok(format!(
        "setpts=PTS-STARTPTS,select='gte(t,selected_n*{interval})',scale={width}:{height},setsar=1,format=pix_fmts={pix_name}"
    ))
}

/// Encodes the collected tiles (times from the first video frame) and writes the three files
/// into `dir`; `end` is when the video ends, on the same clock.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write(
    dir: &Path,
    tiles: Vec<(f64, frame::Video)>,
    sink: &SinkFormat,
    interval: f64,
    columns: u32,
    end: f64,
    input: &Path,
    limits: &crate::Limits,
) -> Result<Storyboard, MediaError> {
    if tiles.is_empty() {
        return Err(MediaError::InvalidInput {
            path: input.to_owned(),
            reason: "no video frame could be decoded for the storyboard".into(),
        });
    }
    let t0 = tiles[0].0;
    let starts: Vec<f64> = tiles.iter().map(|(t, _)| t - t0).collect();
    let duration = (end - t0).max(0.0);
    let columns = columns
        .min(u32::try_from(tiles.len()).unwrap_or(u32::MAX))
        .max(1);
    let image = dir.join(IMAGE);
    let frames: Vec<frame::Video> = tiles.into_iter().map(|(_, f)| f).collect();
    let (bytes, rows) = encode_grid(
        frames,
        sink,
        columns,
        ImageKind::Jpeg,
        input,
        &image,
        limits,
    )?;
    std::fs::write(&image, bytes).map_err(|e| MediaError::io(&image, e))?;
    let (w, h) = (sink.width, sink.height);
    let board = Storyboard {
        url: IMAGE.into(),
        tile_width: w,
        tile_height: h,
        columns,
        rows,
        interval,
        duration: round_ms(duration),
        tiles: starts
            .iter()
            .enumerate()
            .map(|(k, s)| StoryboardTile {
                start: round_ms(*s),
                end: round_ms(starts.get(k + 1).copied().unwrap_or(duration).max(*s)),
                x: (k as u32 % columns) * w,
                y: (k as u32 / columns) * h,
            })
            .collect(),
    };
    let json = dir.join(JSON);
    std::fs::write(
        &json,
        serde_json::to_string_pretty(&board).expect("storyboard serializes"),
    )
    .map_err(|e| MediaError::io(&json, e))?;
    let vtt = dir.join(VTT);
    std::fs::write(&vtt, webvtt(&board)).map_err(|e| MediaError::io(&vtt, e))?;
    Ok(board)
}

fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

/// The WebVTT thumbnail track: one cue per tile.
pub(crate) fn webvtt(board: &Storyboard) -> String {
    let mut out = String::from("WEBVTT\n");
    for t in &board.tiles {
        let _ = write!(
            out,
            "\n{} --> {}\n{}#xywh={},{},{},{}\n",
            timestamp(t.start),
            timestamp(t.end),
            board.url,
            t.x,
            t.y,
            board.tile_width,
            board.tile_height
        );
    }
    out
}

/// `HH:MM:SS.mmm`.
fn timestamp(t: f64) -> String {
    let ms = (t * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_point_into_the_grid() {
        let board = Storyboard {
            url: IMAGE.into(),
            tile_width: 160,
            tile_height: 90,
            columns: 2,
            rows: 2,
            interval: 2.0,
            duration: 5.5,
            tiles: vec![
                StoryboardTile {
                    start: 0.0,
                    end: 2.0,
                    x: 0,
                    y: 0,
                },
                StoryboardTile {
                    start: 2.0,
                    end: 4.0,
                    x: 160,
                    y: 0,
                },
                StoryboardTile {
                    start: 4.0,
                    end: 3725.5,
                    x: 0,
                    y: 90,
                },
            ],
        };
        insta::assert_snapshot!(webvtt(&board), @r"
        WEBVTT

        00:00:00.000 --> 00:00:02.000
        storyboard.jpg#xywh=0,0,160,90

        00:00:02.000 --> 00:00:04.000
        storyboard.jpg#xywh=160,0,160,90

        00:00:04.000 --> 01:02:05.500
        storyboard.jpg#xywh=0,90,160,90
        ");
    }
}
