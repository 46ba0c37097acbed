//! The crate's one error type: every failure a task can report, each saying whether a retry may help.
use std::io;
use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

/// Everything that can go wrong in a media task.
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum MediaError {
    /// The input file does not exist.
    #[error("input `{path}` does not exist")]
    #[diagnostic(
        code(media::input_not_found),
        help("check the path; it is resolved from the working directory")
    )]
    InputNotFound { path: PathBuf },

    /// The input exists but is not a media file FFmpeg can read.
    #[error("input `{path}` is not readable media: {reason}")]
    #[diagnostic(
        code(media::invalid_input),
        help("the file may be empty, truncated or not audio/video at all")
    )]
    InvalidInput { path: PathBuf, reason: String },

    /// The input has no stream of the kind the task needs.
    #[error("input `{path}` has no {kind} stream")]
    #[diagnostic(code(media::missing_stream))]
    MissingStream { path: PathBuf, kind: &'static str },

    /// The requested codec has no encoder in this FFmpeg build.
    #[error("no encoder `{codec}` in this FFmpeg build")]
    #[diagnostic(
        code(media::unsupported_codec),
        help("available {kind} encoders: {available}")
    )]
    UnsupportedCodec {
        codec: String,
        kind: &'static str,
        available: String,
    },

    /// The output file name does not say which container to write.
    #[error("cannot tell the output format of `{path}` from its extension")]
    #[diagnostic(
        code(media::unsupported_format),
        help("use one of: {known}, or pass `--preset`")
    )]
    UnsupportedFormat { path: PathBuf, known: String },

    /// An option value is out of range or malformed.
    #[error("invalid value `{value}` for `{option}`: {reason}")]
    #[diagnostic(code(media::invalid_option))]
    InvalidOption {
        option: String,
        value: String,
        reason: String,
    },

    /// A file system operation failed.
    #[error("I/O error on `{path}`: {source}")]
    #[diagnostic(code(media::io))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// FFmpeg reported an error while processing.
    #[error("FFmpeg failed to {action} `{path}`: {source}")]
    #[diagnostic(code(media::ffmpeg))]
    Ffmpeg {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: ffmpeg_next::Error,
    },

    /// The audio is silent, so there is no loudness to normalize.
    #[error("input `{path}` is silent; there is no loudness to normalize")]
    #[diagnostic(code(media::silent))]
    Silent { path: PathBuf },

    /// The task file for `run` is not valid.
    #[error("task file `{path}` is not valid: {reason}")]
    #[diagnostic(code(media::invalid_task), help("expected {{\"task\": \"transcode\", \"input\": \"...\", \"output\": \"...\", \"options\": {{...}}}} or a list of them"))]
    InvalidTask { path: PathBuf, reason: String },

    /// The input asks for more than the configured `Limits` allow (picture size, streams,
    /// outputs). Not retryable as is; a trusted file may be run again with a higher limit.
    #[error("input `{path}` {what}, over the limit of {limit}")]
    #[diagnostic(
        code(media::limit_exceeded),
        help("if the file is trusted, raise the limit with `--{option}`")
    )]
    LimitExceeded {
        path: PathBuf,
        what: String,
        limit: String,
        /// The CLI option (and `Limits` field, with `_` for `-`) that raises the limit.
        option: &'static str,
    },

    /// The caller cancelled the task.
    #[error("task cancelled")]
    #[diagnostic(code(media::cancelled))]
    Cancelled,
}

impl MediaError {
    /// Whether running the same task again may succeed (transient condition), as opposed to a
    /// failure that will repeat until the input, options or environment change.
    pub fn retryable(&self) -> bool {
        match self {
            MediaError::Io { source, .. } => !matches!(
                source.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::AlreadyExists
            ),
            MediaError::Ffmpeg { source, .. } => matches!(
                source,
                ffmpeg_next::Error::Other { errno } if *errno == libc_errno::EAGAIN
                    || *errno == libc_errno::ENOMEM
                    || *errno == libc_errno::EIO
            ),
            MediaError::Cancelled => true,
            MediaError::InputNotFound { .. }
            | MediaError::InvalidInput { .. }
            | MediaError::MissingStream { .. }
            | MediaError::UnsupportedCodec { .. }
            | MediaError::UnsupportedFormat { .. }
            | MediaError::InvalidOption { .. }
            | MediaError::Silent { .. }
            | MediaError::InvalidTask { .. }
            | MediaError::LimitExceeded { .. } => false,
        }
    }

    /// True for errors in how the task was asked for (the CLI exits 2 for these).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            MediaError::InvalidOption { .. }
                | MediaError::UnsupportedFormat { .. }
                | MediaError::InvalidTask { .. }
        )
    }

    /// A short stable name for the variant, used in JSON error output.
    pub fn kind(&self) -> &'static str {
        match self {
            MediaError::InputNotFound { .. } => "input_not_found",
            MediaError::InvalidInput { .. } => "invalid_input",
            MediaError::MissingStream { .. } => "missing_stream",
            MediaError::UnsupportedCodec { .. } => "unsupported_codec",
            MediaError::UnsupportedFormat { .. } => "unsupported_format",
            MediaError::InvalidOption { .. } => "invalid_option",
            MediaError::Io { .. } => "io",
            MediaError::Ffmpeg { .. } => "ffmpeg",
            MediaError::Silent { .. } => "silent",
            MediaError::InvalidTask { .. } => "invalid_task",
            MediaError::LimitExceeded { .. } => "limit_exceeded",
            MediaError::Cancelled => "cancelled",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        MediaError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn ffmpeg(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: ffmpeg_next::Error,
    ) -> Self {
        MediaError::Ffmpeg {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn option(option: &str, value: impl ToString, reason: impl Into<String>) -> Self {
        MediaError::InvalidOption {
            option: option.to_owned(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// POSIX errno values FFmpeg wraps as `AVERROR(e)`; Linux numbering.
mod libc_errno {
    pub const EIO: i32 = 5;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
}
