//! `Engine`: one negotiated connection to a Docker engine. The other files of this module add
//! its operations (build, images, containers) in their own `impl Engine` blocks.
//!
//! The file is not called `engine.rs` because `engine::engine` reads badly (and clippy's
//! `module_inception` says so).

use std::time::Duration;

use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};

use super::error::{EngineError, Result};

/// Where bollard looks when `DOCKER_HOST` is unset.
pub const DEFAULT_ADDRESS: &str = "unix:///var/run/docker.sock";

/// Per-request timeout for the time until the engine's response *starts*: a build or import only
/// answers after the daemon has read the whole upload, so this is generous.
const REQUEST_TIMEOUT_SECS: u64 = 900;

/// How long `connect` waits for the engine to answer `/version` and `/_ping`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// A connected Docker engine, with the API version agreed with it.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    address: String,
    api_version: String,
    server_version: String,
}

impl Engine {
    /// Connects to `DOCKER_HOST`, or to [`DEFAULT_ADDRESS`] when it is unset.
    pub async fn connect() -> Result<Engine> {
        let address = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        Engine::connect_to(&address).await
    }

    /// Connects to `address` (`unix:///path`, `/path`, `tcp://host:port` or `http://host:port`)
    /// with one `/version` call (an engine answers it at any API version; it is the
    /// handshake's only round trip, and a slow one: the daemon asks its runtime for versions),
    /// then speaks the lower of bollard's API version and the engine's.
    pub async fn connect_to(address: &str) -> Result<Engine> {
        let unreachable = |reason: String| EngineError::Unreachable {
            address: address.to_string(),
            reason,
        };
        let version = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            open(address, API_DEFAULT_VERSION)?.version(),
        )
        .await
        .map_err(|_| unreachable(format!("no answer within {}s", HANDSHAKE_TIMEOUT.as_secs())))?
        .map_err(|error| unreachable(describe_connect_error(&error)))?;
        let engine_api = version
            .api_version
            .as_deref()
            .and_then(parse_api_version)
            .ok_or_else(|| {
                unreachable(format!(
                    "it named no API version it speaks ({:?})",
                    version.api_version
                ))
            })?;
        let newest = API_DEFAULT_VERSION;
        let speak = if (engine_api.major_version, engine_api.minor_version)
            < (newest.major_version, newest.minor_version)
        {
            &engine_api
        } else {
            newest
        };
        let docker = open(address, speak)?;
        let api_version = docker.client_version().to_string();
        Ok(Engine {
            docker,
            address: address.to_string(),
            api_version,
            server_version: version.version.unwrap_or_else(|| "unknown".to_string()),
        })
    }

    /// The bollard client, for calls this module does not wrap.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The address this engine was reached at.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The negotiated API version, e.g. `1.41`: the lower of bollard's and the engine's.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The engine's own version, e.g. `20.10.24+dfsg1`.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// Whether the engine answers `/_ping` within `timeout`.
    pub async fn answers(&self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.docker.ping()).await,
            Ok(Ok(_))
        )
    }

    /// The CPUs the engine reports (`/info`'s `NCPU`).
    pub async fn cpu_count(&self) -> Result<usize> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| EngineError::api("read engine info", e))?;
        info.ncpu
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| EngineError::Unreachable {
                address: self.address.clone(),
                reason: "its /info named no CPU count".into(),
            })
    }
}

/// `1.41` → the client version bollard speaks.
fn parse_api_version(text: &str) -> Option<ClientVersion> {
    let (major, minor) = text.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// Builds the bollard client for `address`, speaking API `version`, without contacting it.
fn open(address: &str, version: &ClientVersion) -> Result<Docker> {
    let unsupported = || EngineError::UnsupportedAddress {
        address: address.to_string(),
    };
    let result = if let Some(path) = address.strip_prefix("unix://") {
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, version)
    } else if address.starts_with('/') {
        Docker::connect_with_unix(address, REQUEST_TIMEOUT_SECS, version)
    } else if address.starts_with("tcp://") || address.starts_with("http://") {
        Docker::connect_with_http(address, REQUEST_TIMEOUT_SECS, version)
    } else {
        return Err(unsupported());
    };
    result.map_err(|error| match error {
        bollard::errors::Error::UnsupportedURISchemeError { .. } => unsupported(),
        other => EngineError::Unreachable {
            address: address.to_string(),
            reason: describe_connect_error(&other),
        },
    })
}

/// A short reason for a failed handshake; bollard's own texts are long and name internals.
fn describe_connect_error(error: &bollard::errors::Error) -> String {
    use bollard::errors::Error as B;
    match error {
        B::SocketNotFoundError(path) => format!("the socket `{path}` does not exist"),
        B::RequestTimeoutError => "the request timed out".to_string(),
        B::DockerResponseServerError {
            status_code,
            message,
        } => format!("it answered HTTP {status_code}: {message}"),
        other => {
            // Hyper wraps the useful part ("Connection refused") a few sources deep.
            let mut reason = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(inner) = source {
                reason = inner.to_string();
                source = inner.source();
            }
            reason
        }
    }
}
