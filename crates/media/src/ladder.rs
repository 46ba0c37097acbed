//! The adaptive bit-rate ladder of `package`: which rungs, at what quality and bit-rate cap, and
//! which of them a given source gets (never upscaled).
use serde::{Deserialize, Serialize};

use crate::MediaError;

/// One rung of the ladder as asked for: a height and, optionally, its rate control.
///
/// Rate control is capped CRF: constant quality `crf`, held under `maxrate` over a `bufsize`
/// VBV buffer so a segment's bit rate stays predictable for players.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    /// Picture height in pixels; the width follows the source's display aspect (even).
    pub height: u32,
    /// Peak bit rate (bits/s) the encoder's VBV holds; default from `Rung::default_maxrate`.
    #[serde(default, deserialize_with = "crate::serde_units::bitrate")]
    pub maxrate: Option<u64>,
    /// VBV buffer in bits; default twice `maxrate`.
    #[serde(default, deserialize_with = "crate::serde_units::bitrate")]
    pub bufsize: Option<u64>,
    /// Constant quality (x264: 0-51, VP9: 0-63); default 23 for x264, 32 for VP9.
    #[serde(default)]
    pub crf: Option<u32>,
}

/// A rung in a JSON ladder: a bare height (`720`) or a full `Rung` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum RungSpec {
    Height(u32),
    Full(Rung),
}

impl From<RungSpec> for Rung {
    fn from(s: RungSpec) -> Rung {
        match s {
            RungSpec::Height(height) => Rung::new(height),
            RungSpec::Full(r) => r,
        }
    }
}

/// Accepts a ladder as a list whose items are heights or rung objects.
pub(crate) fn deserialize_ladder<'de, D>(d: D) -> Result<Option<Vec<Rung>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let specs: Option<Vec<RungSpec>> = Option::deserialize(d)?;
    Ok(specs.map(|v| v.into_iter().map(Rung::from).collect()))
}

impl Rung {
    /// The default ladder: 1080p, 720p, 480p, 360p.
    pub const DEFAULT_HEIGHTS: [u32; 4] = [1080, 720, 480, 360];

    pub fn new(height: u32) -> Rung {
        Rung {
            height,
            maxrate: None,
            bufsize: None,
            crf: None,
        }
    }

    /// The documented caps: 1080p 5 Mb/s, 720p 3 Mb/s, 480p 1.5 Mb/s, 360p 800 kb/s; other
    /// heights scale with the pixel count from 720p (at least 200 kb/s).
    pub fn default_maxrate(height: u32) -> u64 {
        match height {
            1080 => 5_000_000,
            720 => 3_000_000,
            480 => 1_500_000,
            360 => 800_000,
            h => {
                let scaled = 3_000_000f64 * (f64::from(h) / 720.0).powi(2);
                (scaled.round() as u64).max(200_000)
            }
        }
    }

    /// Parses `--ladder`: `720,480` (heights) or a JSON list (`[720, {"height": 480, ...}]`).
    pub fn parse_list(text: &str) -> Result<Vec<Rung>, MediaError> {
        let t = text.trim();
        let rungs: Vec<Rung> = if t.starts_with('[') {
            let specs: Vec<RungSpec> = serde_json::from_str(t)
                .map_err(|e| MediaError::option("ladder", text, e.to_string()))?;
            specs.into_iter().map(Rung::from).collect()
        } else {
            t.split(',')
                .map(|h| {
                    let h = h.trim().trim_end_matches('p');
                    h.parse::<u32>().map(Rung::new).map_err(|_| {
                        MediaError::option(
                            "ladder",
                            text,
                            "expected heights such as `720,480` or a JSON list of rungs",
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        };
        Ok(rungs)
    }
}

/// A rung this source gets, with every setting decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedRung {
    pub width: u32,
    pub height: u32,
    pub maxrate: u64,
    pub bufsize: u64,
    pub crf: u32,
}

/// Checks the asked rungs and keeps those not above the source (`display_width` x `height`,
/// square pixels); when none fits, one rung at the source's own (even) size. Sorted from the
/// highest down, duplicates dropped.
pub(crate) fn plan(
    rungs: &[Rung],
    display_width: u32,
    height: u32,
    default_crf: u32,
    max_crf: u32,
) -> Result<Vec<PlannedRung>, MediaError> {
    if rungs.is_empty() {
        return Err(MediaError::option(
            "ladder",
            "[]",
            "needs at least one rung",
        ));
    }
    for r in rungs {
        if r.height < 16 || r.height > 8640 {
            return Err(MediaError::option(
                "ladder",
                r.height,
                "a rung's height must be between 16 and 8640",
            ));
        }
        if let Some(crf) = r.crf.filter(|c| *c > max_crf) {
            return Err(MediaError::option(
                "ladder",
                crf,
                format!("crf must be between 0 and {max_crf}"),
            ));
        }
        if r.maxrate == Some(0) || r.bufsize == Some(0) {
            return Err(MediaError::option(
                "ladder",
                r.height,
                "maxrate and bufsize must be greater than zero",
            ));
        }
    }
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(2);
    let src_h = (height / 2 * 2).max(2);
    let mut sorted: Vec<&Rung> = rungs.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.height));
    sorted.dedup_by_key(|r| r.height);
    let mut out: Vec<PlannedRung> = sorted
        .iter()
        .filter(|r| r.height <= height)
        .map(|r| settle(r, r.height, default_crf))
        .collect();
    if out.is_empty() {
        // A small source: one rung at its own size, with the lowest rung's settings.
        let lowest = sorted.last().expect("checked non-empty");
        out.push(settle(lowest, src_h, default_crf));
    }
    for r in &mut out {
        r.height = even(f64::from(r.height));
        r.width = even(f64::from(display_width) * f64::from(r.height) / f64::from(height));
    }
    Ok(out)
}

/// How many threads each rung's encoder gets on a machine with `cores` cores. Every rung already
/// encodes on its own thread, so a rung gets its share of the cores by pixel count, rounded up,
/// at least one: on 2 cores the default ladder gets 2, 1, 1, 1 (1080p carries 57 % of the
/// pixels), on 8 cores 5, 3, 1, 1. An encoder with more than one thread splits each picture
/// into slices (`video_lane.rs`), so its threads hold no more pictures than one thread would.
pub(crate) fn encoder_threads(planned: &[PlannedRung], cores: usize) -> Vec<usize> {
    let pixels = |r: &PlannedRung| u64::from(r.width) * u64::from(r.height);
    let total: u64 = planned.iter().map(pixels).sum::<u64>().max(1);
    let cores = cores.max(1) as u64;
    planned
        .iter()
        .map(|r| (cores * pixels(r)).div_ceil(total).clamp(1, cores) as usize)
        .collect()
}

/// A rung this many times the height of another, or more, may be the other's scaling source.
const CASCADE_RATIO: f64 = 1.5;

/// Where each rung's picture is scaled from: `None`, the decoded source; `Some(j)`, rung `j`'s
/// scaled picture. Scaling costs in proportion to the pixels read, so a rung takes its picture
/// from the smallest rung that is at least [`CASCADE_RATIO`] times its height and was itself
/// scaled down from the source (one step at most, so no rung is resampled more than twice, and
/// never from a rung at the source's own height: that rung's thread is the busiest). On a 1080p
/// source the default ladder scales 720p from the source and 480p and 360p from 720p: 1.9
/// source pictures' worth of reading a frame instead of 3.
pub(crate) fn scale_sources(planned: &[PlannedRung], source_height: u32) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(planned[i].height));
    let mut sources: Vec<Option<usize>> = vec![None; planned.len()];
    for (n, &i) in order.iter().enumerate() {
        let wanted = f64::from(planned[i].height) * CASCADE_RATIO;
        sources[i] = order[..n].iter().rev().copied().find(|&j| {
            sources[j].is_none()
                && planned[j].height < source_height
                && f64::from(planned[j].height) >= wanted
        });
    }
    sources
}

fn settle(r: &Rung, height: u32, default_crf: u32) -> PlannedRung {
    let maxrate = r.maxrate.unwrap_or_else(|| Rung::default_maxrate(height));
    PlannedRung {
        width: 0,
        height,
        maxrate,
        bufsize: r.bufsize.unwrap_or(maxrate * 2),
        crf: r.crf.unwrap_or(default_crf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heights(v: &[PlannedRung]) -> Vec<(u32, u32)> {
        v.iter().map(|r| (r.width, r.height)).collect()
    }

    #[test]
    fn encoder_threads_follow_each_rungs_share_of_the_pixels() {
        let all: Vec<Rung> = Rung::DEFAULT_HEIGHTS.map(Rung::new).to_vec();
        let p = plan(&all, 1920, 1080, 23, 51).unwrap();
        assert_eq!(encoder_threads(&p, 2), [2, 1, 1, 1]);
        assert_eq!(encoder_threads(&p, 1), [1, 1, 1, 1]);
        assert_eq!(encoder_threads(&p, 8), [5, 3, 1, 1]);
        assert_eq!(encoder_threads(&p, 16), [10, 5, 2, 2]);
        let one = plan(&all, 320, 240, 23, 51).unwrap();
        assert_eq!(
            encoder_threads(&one, 4),
            [4],
            "a single rung gets every core"
        );
    }

    #[test]
    fn rungs_scale_from_the_smallest_downscaled_rung_half_again_their_height() {
        let all: Vec<Rung> = Rung::DEFAULT_HEIGHTS.map(Rung::new).to_vec();
        let p = plan(&all, 1920, 1080, 23, 51).unwrap();
        // 1080p is the source's own size: 720p reads the source, 480p and 360p read 720p.
        assert_eq!(scale_sources(&p, 1080), [None, None, Some(1), Some(1)]);
        // From 4K every rung below 1080p reads 1080p (one step: 360p not from 720p).
        let p = plan(&all, 3840, 2160, 23, 51).unwrap();
        assert_eq!(scale_sources(&p, 2160), [None, Some(0), Some(0), Some(0)]);
        // Under 1.5x apart: each from the source. The order the rungs are given in does not matter.
        let p = plan(
            &[Rung::new(480), Rung::new(400), Rung::new(720)],
            1920,
            1080,
            23,
            51,
        )
        .unwrap();
        let by_height: Vec<(u32, Option<u32>)> = scale_sources(&p, 1080)
            .iter()
            .zip(&p)
            .map(|(s, r)| (r.height, s.map(|j| p[j].height)))
            .collect();
        assert!(by_height.contains(&(720, None)));
        assert!(by_height.contains(&(480, Some(720))));
        assert!(by_height.contains(&(400, Some(720))));
        let p = plan(&[Rung::new(720), Rung::new(540)], 1920, 1080, 23, 51).unwrap();
        assert_eq!(scale_sources(&p, 1080), [None, None]);
        assert_eq!(scale_sources(&[], 1080), []);
    }

    #[test]
    fn never_upscales_and_keeps_the_aspect() {
        let all: Vec<Rung> = Rung::DEFAULT_HEIGHTS.map(Rung::new).to_vec();
        let p = plan(&all, 1920, 1080, 23, 51).unwrap();
        assert_eq!(
            heights(&p),
            [(1920, 1080), (1280, 720), (854, 480), (640, 360)]
        );
        assert_eq!(p[0].maxrate, 5_000_000);
        assert_eq!(p[0].bufsize, 10_000_000);
        let p = plan(&all, 1280, 720, 23, 51).unwrap();
        assert_eq!(heights(&p), [(1280, 720), (854, 480), (640, 360)]);
        // Smaller than every rung: one rung at the source size.
        let p = plan(&all, 320, 240, 23, 51).unwrap();
        assert_eq!(heights(&p), [(320, 240)]);
        assert_eq!(
            p[0].maxrate, 333_333,
            "the cap follows the height actually used"
        );
        // Odd sizes round to even.
        let p = plan(&[Rung::new(720)], 321, 241, 23, 51).unwrap();
        assert_eq!(heights(&p), [(320, 240)]);
    }

    #[test]
    fn parses_heights_and_json() {
        let r = Rung::parse_list("720, 480p").unwrap();
        assert_eq!(r, [Rung::new(720), Rung::new(480)]);
        let r =
            Rung::parse_list(r#"[360, {"height": 240, "maxrate": "400k", "crf": 28}]"#).unwrap();
        assert_eq!(r[0], Rung::new(360));
        assert_eq!(r[1].maxrate, Some(400_000));
        assert_eq!(r[1].crf, Some(28));
        let e = Rung::parse_list("big").unwrap_err();
        assert_eq!(e.kind(), "invalid_option");
        let e = plan(&[Rung::new(8)], 320, 240, 23, 51).unwrap_err();
        assert_eq!(e.kind(), "invalid_option");
    }
}
