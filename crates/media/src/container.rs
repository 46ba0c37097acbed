//! What each output extension means: which muxer and which default encoders.

/// An output container and its default encoders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    /// FFmpeg muxer name.
    pub muxer: &'static str,
    /// Default video encoder, None for audio-only containers.
    pub video: Option<&'static str>,
    /// Default audio encoder.
    pub audio: Option<&'static str>,
    /// Move the MP4 index to the front when finishing.
    pub faststart: bool,
}

impl Container {
    /// Extensions we know how to write.
    pub const EXTENSIONS: [&'static str; 12] = [
        "mp4", "m4v", "mov", "mkv", "webm", "mp3", "m4a", "aac", "opus", "ogg", "wav", "flac",
    ];

    pub fn by_extension(ext: &str) -> Option<Container> {
        let c = |muxer, video, audio, faststart| Container {
            muxer,
            video,
            audio,
            faststart,
        };
        Some(match ext {
            "mp4" | "m4v" => c("mp4", Some("libx264"), Some("aac"), true),
            "mov" => c("mov", Some("libx264"), Some("aac"), true),
            "mkv" => c("matroska", Some("libx264"), Some("aac"), false),
            "webm" => c("webm", Some("libvpx-vp9"), Some("libopus"), false),
            "mp3" => c("mp3", None, Some("libmp3lame"), false),
            "m4a" => c("ipod", None, Some("aac"), true),
            "aac" => c("adts", None, Some("aac"), false),
            "opus" => c("opus", None, Some("libopus"), false),
            "ogg" => c("ogg", None, Some("libopus"), false),
            "wav" => c("wav", None, Some("pcm_s16le"), false),
            "flac" => c("flac", None, Some("flac"), false),
            _ => return None,
        })
    }

    /// Whether the muxer can hold a video stream.
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }
}
