//! `ferrostack run`: a command in a stack's image the way a worker platform runs it: memory
//! limit in the engine, a hard timeout, the payload mounted read-only, the container removed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::engine::{BindMount, CancellationToken, Engine, RunOutcome, RunRequest};
use crate::error::{Error, Result};
use crate::session::Session;

/// Where the payload file appears inside the container.
pub const PAYLOAD_PATH: &str = "/run/ferrostack/payload";
/// The environment variable holding [`PAYLOAD_PATH`].
pub const PAYLOAD_ENV: &str = "PAYLOAD_FILE";
/// Where `--mount DIR` appears inside the container (read-write), also the working directory.
pub const MOUNT_PATH: &str = "/data";
/// Exit code for a command killed at its timeout (as GNU `timeout`).
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code for a command killed by the memory limit (as the kernel's OOM kill, 128 + 9).
pub const EXIT_OOM: i32 = 137;

/// One worker run.
#[derive(Debug, Clone)]
pub struct WorkerRun {
    pub stack: String,
    pub command: Vec<String>,
    pub memory: Option<u64>,
    pub timeout: Option<Duration>,
    pub payload: Option<PathBuf>,
    pub mount: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
}

/// Runs `run` in the stack's built image (`<repository>:<stack>`).
pub async fn run_worker(session: &Session, run: &WorkerRun, cancel: &CancellationToken) -> Result<RunOutcome> {
    if session.catalogue.get(&run.stack).is_none() {
        session.catalogue.select(std::slice::from_ref(&run.stack))?;
    }
    let engine = Engine::connect().await?;
    let image = session.project.image_ref(&run.stack);
    if !engine.image_exists(&image).await? {
        return Err(Error::Settings {
            message: format!("stack `{}` has no image `{image}` in the engine", run.stack),
            help: Some(format!("build it first: `ferrostack build {}`", run.stack)),
        });
    }
    let mut request = RunRequest::new(image, run.command.clone());
    request.memory_limit = run.memory;
    request.timeout = run.timeout;
    request.env = run.env.clone();
    if let Some(payload) = &run.payload {
        let host = payload.canonicalize().map_err(|e| Error::io("read payload", payload, e))?;
        let name = match host.extension() {
            Some(ext) => format!("{PAYLOAD_PATH}.{}", ext.to_string_lossy()),
            None => PAYLOAD_PATH.to_string(),
        };
        request.mounts.push(BindMount { host, container: name.clone(), read_only: true });
        request.env.insert(PAYLOAD_ENV.to_string(), name);
    }
    if let Some(dir) = &run.mount {
        let host = dir.canonicalize().map_err(|e| Error::io("mount", dir, e))?;
        request.mounts.push(BindMount { host, container: MOUNT_PATH.to_string(), read_only: false });
        request.workdir = Some(MOUNT_PATH.to_string());
    }
    Ok(engine.run(&request, cancel).await?)
}

/// The process exit code for an outcome: the command's, or [`EXIT_TIMEOUT`] / [`EXIT_OOM`].
pub fn exit_code(outcome: &RunOutcome) -> i32 {
    if outcome.timed_out {
        EXIT_TIMEOUT
    } else if outcome.oom_killed {
        EXIT_OOM
    } else {
        outcome.exit_code.clamp(0, 255) as i32
    }
}
