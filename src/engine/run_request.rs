//! `RunRequest`: one command in a throwaway container, with the limits the engine enforces
//! (memory, wall-clock timeout, an optional [`Sandbox`]) and host directories mounted in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::sandbox::Sandbox;

/// A host directory mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Absolute path on the host.
    pub host: PathBuf,
    /// Absolute path in the container.
    pub container: String,
    /// Mount read-only.
    pub read_only: bool,
}

/// A command to run in a fresh container of `image`, which is removed afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// Image ID or reference.
    pub image: String,
    /// The command, run without a shell (`["sh", "-c", "..."]` for one).
    pub cmd: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Memory limit in bytes, swap included (the engine kills the command beyond it).
    pub memory_limit: Option<u64>,
    /// Wall-clock limit; the container is killed when it is reached.
    pub timeout: Option<Duration>,
    /// Host directories to mount.
    pub mounts: Vec<BindMount>,
    /// `uid[:gid]` or a user name; the image's default when `None`.
    pub user: Option<String>,
    /// Working directory; the image's default when `None`.
    pub workdir: Option<String>,
    /// Labels on the container, besides [`RUN_LABEL`](super::RUN_LABEL).
    pub labels: BTreeMap<String, String>,
    /// Confinement for untrusted commands; the engine's defaults when `None`.
    pub sandbox: Option<Sandbox>,
}

impl RunRequest {
    /// Runs `cmd` in `image` with no limits, mounts, labels, sandbox or environment.
    pub fn new(image: impl Into<String>, cmd: impl IntoIterator<Item = impl Into<String>>) -> Self {
        RunRequest {
            image: image.into(),
            cmd: cmd.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            memory_limit: None,
            timeout: None,
            mounts: Vec::new(),
            user: None,
            workdir: None,
            labels: BTreeMap::new(),
            sandbox: None,
        }
    }

    /// Runs `script` with `/bin/sh -c`.
    pub fn shell(image: impl Into<String>, script: &str) -> Self {
        RunRequest::new(image, ["/bin/sh", "-c", script])
    }
}
