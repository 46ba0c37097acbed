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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_in_json_and_on_the_command_line() {
        for p in Preset::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
            assert_eq!(
                <Preset as clap::ValueEnum>::from_str(p.name(), false).unwrap(),
                p
            );
        }
    }

    #[test]
    fn extension_and_preset_pick_the_container() {
        let c = |out: &str, p: Option<Preset>| {
            resolve(Path::new(out), p).map(|c| (c.muxer, c.video, c.audio, c.faststart))
        };
        assert_eq!(
            c("a.mp4", None).unwrap(),
            ("mp4", Some("libx264"), Some("aac"), true)
        );
        assert_eq!(
            c("a.WEBM", None).unwrap(),
            ("webm", Some("libvpx-vp9"), Some("libopus"), false)
        );
        assert_eq!(
            c("a.wav", None).unwrap(),
            ("wav", None, Some("pcm_s16le"), false)
        );
        assert_eq!(c("a.aac", Some(Preset::Aac)).unwrap().0, "adts");
        assert_eq!(c("a.bin", Some(Preset::Aac)).unwrap().0, "ipod");
        assert_eq!(c("a.mp4", Some(Preset::Mp3)).unwrap().0, "mp3");
        assert!(matches!(
            c("a.xyz", None),
            Err(MediaError::UnsupportedFormat { .. })
        ));
        assert!(matches!(
            c("noext", None),
            Err(MediaError::UnsupportedFormat { .. })
        ));
    }
}
