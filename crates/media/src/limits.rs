//! What an untrusted input may ask of us: picture size, stream count, outputs per task, and the
//! demuxers that read other files (playlists), which are refused unless named.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::MediaError;

/// Bounds applied to every input and to the stills a task writes. The defaults suit untrusted
/// uploads; raise them (CLI `--max-*`, `--allow-format`) for trusted files that need more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Widest picture a video stream may declare or decode to.
    pub max_width: u32,
    /// Tallest picture.
    pub max_height: u32,
    /// Most pixels per picture (width × height); also caps a sprite's canvas.
    pub max_pixels: u64,
    /// Most streams an input may have.
    pub max_streams: u32,
    /// Most images `thumbnails` writes.
    pub max_images: u32,
    /// Most tiles in a `sprite`.
    pub max_tiles: u32,
    /// Demuxers that read other files or URLs (`hls`, `concat`, `image2`, ...) allowed anyway.
    pub allow_formats: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 16384,
            max_height: 16384,
            max_pixels: 1 << 28,
            max_streams: 32,
            max_images: 1000,
            max_tiles: 10_000,
            allow_formats: Vec::new(),
        }
    }
}

/// Demuxers that open other files or URLs named inside the input (playlists, scripts, image
/// sequences, side files). An input detected as one of these is refused unless allowed by name.
pub(crate) const INDIRECT_FORMATS: [&str; 8] = [
    "hls",
    "concat",
    "dash",
    "imf",
    "image2",
    "vobsub",
    "avisynth",
    "vapoursynth",
];

impl Limits {
    /// Whether a demuxer may be used: every demuxer but the indirect ones, plus those allowed.
    pub(crate) fn allows_format(&self, name: &str) -> bool {
        let is = |listed: &str| name.split(',').any(|n| n == listed);
        !INDIRECT_FORMATS.iter().any(|f| is(f)) || self.allow_formats.iter().any(|f| is(f))
    }

    pub(crate) fn check_streams(&self, path: &Path, streams: u32) -> Result<(), MediaError> {
        if streams > self.max_streams {
            return Err(MediaError::LimitExceeded {
                path: path.to_owned(),
                what: format!("has {streams} streams"),
                limit: self.max_streams.to_string(),
                option: "max-streams",
            });
        }
        Ok(())
    }

    pub(crate) fn check_picture(
        &self,
        path: &Path,
        width: u32,
        height: u32,
    ) -> Result<(), MediaError> {
        if width > self.max_width || height > self.max_height {
            return Err(MediaError::LimitExceeded {
                path: path.to_owned(),
                what: format!("has a {width}x{height} picture"),
                limit: format!("{}x{}", self.max_width, self.max_height),
                option: if width > self.max_width {
                    "max-width"
                } else {
                    "max-height"
                },
            });
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(MediaError::LimitExceeded {
                path: path.to_owned(),
                what: format!("has a {width}x{height} picture ({pixels} pixels)"),
                limit: format!("{} pixels", self.max_pixels),
                option: "max-pixels",
            });
        }
        Ok(())
    }

    /// The pixel limit as FFmpeg's decoder option (`max_pixels` is an int64 there).
    pub(crate) fn decoder_max_pixels(&self) -> i64 {
        i64::try_from(self.max_pixels).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indirect_formats_need_to_be_named() {
        let l = Limits::default();
        assert!(l.allows_format("mov,mp4,m4a,3gp,3g2,mj2"));
        assert!(l.allows_format("png_pipe"));
        assert!(!l.allows_format("hls"));
        assert!(!l.allows_format("image2"));
        let l = Limits {
            allow_formats: vec!["hls".into()],
            ..Limits::default()
        };
        assert!(l.allows_format("hls"));
        assert!(!l.allows_format("concat"));
    }
}
