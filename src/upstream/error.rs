//! `UpstreamError`: what can go wrong fetching, verifying and unpacking a release tarball.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

/// The one error type of [`crate::upstream`].
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The registry could not be reached, or answered with an error.
    #[error("cannot fetch `{url}`: {message}")]
    #[diagnostic(
        code(ferrostack::upstream::fetch),
        help("the npm registry is set by `[build] npm_registry` (or FERROSTACK_NPM_REGISTRY); behind a TLS-intercepting proxy, set `[build] ca_bundle`")
    )]
    Fetch { url: String, message: String },

    /// The bytes are not the pinned release.
    #[error(
        "`{url}` is not the pinned release: its {algorithm} is `{actual}`, the pin is `{expected}`"
    )]
    #[diagnostic(
        code(ferrostack::upstream::integrity),
        help("nothing was kept; a mirror that serves other bytes under this name is not trusted")
    )]
    Integrity {
        url: String,
        algorithm: &'static str,
        expected: String,
        actual: String,
    },

    /// The tarball is larger than any release should be.
    #[error("`{url}` is larger than {limit} bytes")]
    #[diagnostic(code(ferrostack::upstream::too_large))]
    TooLarge { url: String, limit: u64 },

    /// The tarball holds something ferrostack does not unpack.
    #[error("`{path}` is not a release tarball ferrostack unpacks: {message}")]
    #[diagnostic(
        code(ferrostack::upstream::unpack),
        help("entries must be regular files and directories under `package/`")
    )]
    Unpack { path: PathBuf, message: String },

    /// A file or directory could not be read or written.
    #[error("cannot {action} `{path}`: {source}")]
    #[diagnostic(code(ferrostack::upstream::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UpstreamError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> UpstreamError {
        UpstreamError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
