//! Media tasks for ferrostack workers on ffmpeg-next (system FFmpeg 5.1+): probe, transcode,
//! resize/crop/aspect, loudness normalize, thumbnails and HLS/DASH packaging, each a function with typed options,
//! a progress callback, cancellation, atomic output and one typed error enum.
//!
//! Nothing here starts an `ffmpeg` or `ffprobe` process: all work goes through libav*.
mod audio_encoder;
mod audio_lane;
mod av;
mod chunked_encoder;
mod container;
mod decoding;
mod error;
mod fan_out;
mod frame_clock;
mod frame_filter;
mod geometry;
mod ladder;
mod limits;
mod loudness;
mod monitor;
mod mux;
mod normalize;
mod output_report;
mod package;
mod package_report;
mod pipeline;
mod poster;
mod preset;
mod probe;
mod resize;
mod rung_worker;
mod scene_stills;
mod serde_units;
mod sprite;
mod staged_dir;
mod staged_output;
mod stall_guard;
mod still_encoder;
mod storyboard;
mod stream_info;
mod task;
mod task_outcome;
mod thumbnail;
mod timecode;
mod transcode;
mod video_frames;
mod video_lane;
mod vod_playlist;
mod waveform;

pub use error::MediaError;
pub use geometry::{Aspect, Crop, Fit};
pub use ladder::Rung;
pub use limits::Limits;
pub use loudness::Loudness;
pub use monitor::{CancelFlag, Monitor, Progress};
pub use normalize::{normalize, NormalizeMode, NormalizeOptions, NormalizeReport};
pub use output_report::OutputReport;
pub use package::{package, PackageOptions};
pub use package_report::{
    AudioReport, PackageReport, RungReport, StoryboardReport, WaveformReport,
};
pub use pipeline::StreamOutcome;
pub use poster::PosterReport;
pub use preset::Preset;
pub use probe::{probe, probe_with, MediaInfo};
pub use resize::{resize, ResizeOptions};
pub use sprite::{sprite, SpriteOptions, SpriteReport};
pub use storyboard::{Storyboard, StoryboardTile};
pub use stream_info::StreamInfo;
pub use task::{Task, TaskFile};
pub use task_outcome::{ErrorInfo, TaskOutcome};
pub use thumbnail::{
    thumbnail, thumbnails, Still, StillsReport, ThumbnailOptions, ThumbnailsOptions,
};
pub use timecode::{parse_bitrate, parse_time};
pub use transcode::{transcode, TranscodeOptions};
pub use waveform::Waveform;
