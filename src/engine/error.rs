//! `EngineError`: everything that can go wrong talking to a Docker engine, bootstrapping a root
//! filesystem or writing a tar, and whether trying again can help.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

/// The one error type of [`crate::engine`]. Every variant answers [`EngineError::retryable`].
#[derive(Debug, Error, Diagnostic)]
#[non_exhaustive]
pub enum EngineError {
    /// Nothing answered at the engine address.
    #[error("no Docker engine answers at `{address}`: {reason}")]
    #[diagnostic(
        code(ferrostack::engine::unreachable),
        help(
            "start one with `bash scripts/setup` (or run `dockerd`), or point `DOCKER_HOST` at a running engine"
        )
    )]
    Unreachable { address: String, reason: String },

    /// `DOCKER_HOST` names a scheme we cannot speak.
    #[error("cannot connect to `{address}`: only `unix://` and `tcp://`/`http://` addresses are supported")]
    #[diagnostic(
        code(ferrostack::engine::unsupported_address),
        help("set `DOCKER_HOST` to e.g. `unix:///var/run/docker.sock`")
    )]
    UnsupportedAddress { address: String },

    /// An Engine API call failed.
    #[error("Docker engine API call `{operation}` failed: {error}")]
    #[diagnostic(code(ferrostack::engine::api))]
    Api {
        operation: &'static str,
        error: bollard::errors::Error,
    },

    /// A build step failed (e.g. a `RUN` exited non-zero); the daemon's message says why.
    #[error("build failed: {message}")]
    #[diagnostic(
        code(ferrostack::engine::build_failed),
        help("last build output:\n{log_tail}")
    )]
    BuildFailed { message: String, log_tail: String },

    /// The build stream broke off for a reason that is not the Dockerfile's fault (a daemon race,
    /// a reset connection). Trying again can help.
    #[error("build interrupted: {message}")]
    #[diagnostic(code(ferrostack::engine::build_interrupted))]
    BuildInterrupted { message: String },

    /// The build stream ended without naming the image it built.
    #[error("the build finished without reporting an image ID")]
    #[diagnostic(
        code(ferrostack::engine::no_image_id),
        help("last build output:\n{log_tail}")
    )]
    NoImageId { log_tail: String },

    /// A path given for the build context is not a plain relative path, or is given twice.
    #[error("build context path `{path}` {reason}")]
    #[diagnostic(code(ferrostack::engine::context_path))]
    ContextPath { path: PathBuf, reason: &'static str },

    /// Reading or writing a file failed.
    #[error("could not {action} `{path}`: {error}")]
    #[diagnostic(code(ferrostack::engine::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },

    /// `SOURCE_DATE_EPOCH` is set but is not a number of seconds.
    #[error("`SOURCE_DATE_EPOCH` is `{value}`, not a whole number of seconds since 1970")]
    #[diagnostic(
        code(ferrostack::engine::source_date_epoch),
        help("unset it or set e.g. `SOURCE_DATE_EPOCH=0`")
    )]
    SourceDateEpoch { value: String },

    /// `debootstrap` could not be started.
    #[error("could not start `{program}`: {error}")]
    #[diagnostic(
        code(ferrostack::engine::debootstrap_missing),
        help("install it with `apt-get install debootstrap` (or run `bash scripts/setup`)")
    )]
    DebootstrapStart {
        program: String,
        error: std::io::Error,
    },

    /// Debian's archive keyring is missing, so debootstrap could not verify what it downloads.
    #[error("Debian's archive keyring `{}` is missing: a base image is never bootstrapped unverified", path.display())]
    #[diagnostic(
        code(ferrostack::engine::keyring_missing),
        help("install it with `apt-get install debian-archive-keyring` (or run `bash scripts/setup`)")
    )]
    KeyringMissing { path: std::path::PathBuf },

    /// `debootstrap` ran and failed.
    #[error("`debootstrap` of `{suite}` from `{mirror}` failed ({status})")]
    #[diagnostic(
        code(ferrostack::engine::debootstrap),
        help("last output:\n{log_tail}")
    )]
    Bootstrap {
        suite: String,
        mirror: String,
        status: String,
        log_tail: String,
    },

    /// The engine refused a root filesystem import.
    #[error("importing image `{reference}` failed: {message}")]
    #[diagnostic(code(ferrostack::engine::import))]
    ImportFailed { reference: String, message: String },

    /// An image that was asked for does not exist on the engine.
    #[error("image `{reference}` does not exist on the engine")]
    #[diagnostic(code(ferrostack::engine::image_not_found))]
    ImageNotFound { reference: String },

    /// A pull failed: no registry reachable, unknown image, or no permission.
    #[error("pulling `{reference}` failed: {message}")]
    #[diagnostic(
        code(ferrostack::engine::pull),
        help(
            "base images can be made without a registry from a `[bootstrap]` stack (debootstrap)"
        )
    )]
    PullFailed {
        reference: String,
        message: String,
        transient: bool,
    },

    /// A push to a registry failed.
    #[error("pushing `{reference}` failed: {message}")]
    #[diagnostic(
        code(ferrostack::engine::push),
        help("check the registry is up and the credentials in the Docker client configuration (`docker login <registry>`)")
    )]
    PushFailed {
        reference: String,
        message: String,
        transient: bool,
    },

    /// Asking a registry for a manifest failed (not a plain "not there").
    #[error("looking up `{reference}` in its registry failed: {message}")]
    #[diagnostic(
        code(ferrostack::engine::registry_lookup),
        help("check the registry is up and the credentials in the Docker client configuration (`docker login <registry>`)")
    )]
    RegistryLookup {
        reference: String,
        message: String,
        transient: bool,
    },

    /// The caller cancelled the operation.
    #[error("{operation} cancelled")]
    #[diagnostic(code(ferrostack::engine::cancelled))]
    Cancelled { operation: &'static str },

    /// A background task (tar writer, process reader) panicked or was aborted.
    #[error("background task `{task}` failed: {reason}")]
    #[diagnostic(code(ferrostack::engine::task))]
    Task { task: &'static str, reason: String },
}

/// Shorthand for results of this module.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// Whether the same call may succeed if made again (a transient daemon or network fault).
    /// Errors caused by the input (a failing `RUN`, a missing file, a bad address) are not.
    pub fn retryable(&self) -> bool {
        match self {
            EngineError::Api { error, .. } => bollard_error_is_transient(error),
            EngineError::BuildInterrupted { .. } => true,
            EngineError::PullFailed { transient, .. }
            | EngineError::PushFailed { transient, .. }
            | EngineError::RegistryLookup { transient, .. } => *transient,
            EngineError::Unreachable { .. }
            | EngineError::UnsupportedAddress { .. }
            | EngineError::BuildFailed { .. }
            | EngineError::NoImageId { .. }
            | EngineError::ContextPath { .. }
            | EngineError::Io { .. }
            | EngineError::SourceDateEpoch { .. }
            | EngineError::DebootstrapStart { .. }
            | EngineError::KeyringMissing { .. }
            | EngineError::Bootstrap { .. }
            | EngineError::ImportFailed { .. }
            | EngineError::ImageNotFound { .. }
            | EngineError::Cancelled { .. }
            | EngineError::Task { .. } => false,
        }
    }

    /// Wraps a bollard error from the call named `operation`.
    pub(crate) fn api(operation: &'static str, error: bollard::errors::Error) -> Self {
        EngineError::Api { operation, error }
    }

    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        error: std::io::Error,
    ) -> Self {
        EngineError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// The HTTP status of an Engine API error, when there is one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            EngineError::Api {
                error: bollard::errors::Error::DockerResponseServerError { status_code, .. },
                ..
            } => Some(*status_code),
            _ => None,
        }
    }
}

/// Connection faults, timeouts and 5xx answers are transient; 4xx answers and malformed requests
/// are not.
pub(crate) fn bollard_error_is_transient(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    match error {
        B::DockerResponseServerError { status_code, .. } => *status_code >= 500,
        B::HyperResponseError { .. }
        | B::HttpClientError { .. }
        | B::RequestTimeoutError
        | B::IOError { .. } => true,
        B::DockerStreamError { error } => message_is_transient(error),
        _ => false,
    }
}

/// The few daemon messages that are known to mean "try again": a container removed under the
/// builder's feet, or a connection that dropped. Everything else is taken as final.
pub(crate) fn message_is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 5] = [
        "No such container",
        "connection reset by peer",
        "unexpected EOF",
        "i/o timeout",
        "TLS handshake timeout",
    ];
    TRANSIENT.iter().any(|needle| message.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(status_code: u16) -> EngineError {
        EngineError::api(
            "test",
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message: "boom".into(),
            },
        )
    }

    fn render(error: &EngineError) -> String {
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .render_report(&mut out, error)
            .expect("rendering into a String cannot fail");
        out
    }

    /// What users read when things go wrong; one snapshot per kind people will meet.
    #[test]
    fn messages_say_what_failed_and_what_to_do() {
        let cases = [
            (
                "unreachable",
                EngineError::Unreachable {
                    address: "unix:///var/run/docker.sock".into(),
                    reason: "the socket `/var/run/docker.sock` does not exist".into(),
                },
            ),
            (
                "build_failed",
                EngineError::BuildFailed {
                    message: "The command '/bin/sh -c make' returned a non-zero code: 2".into(),
                    log_tail: "Step 3/3 : RUN make\n ---> Running in 0123abcd\nmake: *** No targets.  Stop."
                        .into(),
                },
            ),
            (
                "context_path",
                EngineError::ContextPath {
                    path: "../secrets".into(),
                    reason: "must be relative and must not contain `..` or `.`",
                },
            ),
            (
                "io",
                EngineError::io(
                    "open",
                    "/work/stacks/files/helper.sh",
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                ),
            ),
            (
                "pull_failed",
                EngineError::PullFailed {
                    reference: "debian:bookworm".into(),
                    message: "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host".into(),
                    transient: true,
                },
            ),
            (
                "debootstrap_missing",
                EngineError::DebootstrapStart {
                    program: "debootstrap".into(),
                    error: std::io::Error::from(std::io::ErrorKind::NotFound),
                },
            ),
            (
                "keyring_missing",
                EngineError::KeyringMissing {
                    path: super::super::rootfs::DEBIAN_KEYRING.into(),
                },
            ),
        ];
        for (name, error) in cases {
            insta::assert_snapshot!(name, render(&error));
        }
    }

    #[test]
    fn server_errors_retry_client_errors_do_not() {
        assert!(server_error(500).retryable());
        assert!(server_error(503).retryable());
        assert!(!server_error(404).retryable());
        assert!(!server_error(400).retryable());
    }

    #[test]
    fn a_failing_run_is_final_a_vanished_container_is_not() {
        let failed = EngineError::BuildFailed {
            message: "The command '/bin/sh -c false' returned a non-zero code: 1".into(),
            log_tail: String::new(),
        };
        assert!(!failed.retryable());
        assert!(message_is_transient("No such container: 0123abcd"));
        assert!(!message_is_transient("returned a non-zero code: 1"));
    }
}
