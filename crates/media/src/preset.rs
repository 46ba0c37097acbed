//! Named output recipes (`mp4-h264-aac`, `webm-vp9-opus`, ...) and the output-extension defaults.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::container::Container;
use crate::MediaError;

/// A named output recipe: container plus codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// MP4, H.264 video (CRF 23) and AAC audio, `moov` at the front for streaming (faststart).
    Mp4H264Aac,
    /// WebM, VP9 video (CRF 32, constant quality) and Opus audio.
    WebmVp9Opus,
    /// MP3 audio only (LAME).
    Mp3,
    /// AAC audio only, in an `.m4a`/MP4 container (ADTS when the output ends in `.aac`).
    Aac,
    /// Opus audio only, in Ogg.
    Opus,
    /// 16-bit PCM WAV, audio only.
    Wav,
}

impl Preset {
    /// All presets, for help and error texts.
    pub const ALL: [Preset; 6] = [
        Preset::Mp4H264Aac,
        Preset::WebmVp9Opus,
        Preset::Mp3,
        Preset::Aac,
        Preset::Opus,
        Preset::Wav,
    ];

    /// The stable name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Mp4H264Aac => "mp4-h264-aac",
            Preset::WebmVp9Opus => "webm-vp9-opus",
            Preset::Mp3 => "mp3",
            Preset::Aac => "aac",
            Preset::Opus => "opus",
            Preset::Wav => "wav",
        }
    }

    pub(crate) fn container(self, output: &Path) -> Container {
        let ext = output
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match self {
            Preset::Mp4H264Aac => Container::by_extension("mp4"),
            Preset::WebmVp9Opus => Container::by_extension("webm"),
            Preset::Mp3 => Container::by_extension("mp3"),
            Preset::Aac if ext == "aac" => Container::by_extension("aac"),
            Preset::Aac => Container::by_extension("m4a"),
            Preset::Opus => Container::by_extension("opus"),
            Preset::Wav => Container::by_extension("wav"),
        }
        .expect("every preset names a known container")
    }
}

/// The container for `output`: from the preset when given, else from the file extension.
pub(crate) fn resolve(output: &Path, preset: Option<Preset>) -> Result<Container, MediaError> {
    if let Some(p) = preset {
        return Ok(p.container(output));
    }
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    Container::by_extension(&ext).ok_or_else(|| MediaError::UnsupportedFormat {
        path: output.to_path_buf(),
        known: Container::EXTENSIONS.join(", "),
    })
}
