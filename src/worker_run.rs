//! `ferrostack run`: a command in a stack's image the way a worker platform runs it: memory
//! limit in the engine, a hard timeout, a sandbox for untrusted work, the payload mounted
//! read-only, output streamed, the container removed — and the containers of an earlier `run`
//! of the project that was killed found and removed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::{
    BindMount, CancellationToken, OutputSink, RunOutcome, RunRequest, Sandbox, DEFAULT_ADDRESS,
};
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
/// The label naming the project (its root directory) on each container `run` makes.
pub const PROJECT_LABEL: &str = "io.ferrostack.run.project";
/// The label naming the ferrostack process that made a container (host, boot, pid, start time).
pub const OWNER_LABEL: &str = "io.ferrostack.run.owner";
/// The smallest memory limit the engine accepts (it refuses less; 0 would mean no limit).
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;
/// The longest `--timeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

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
    /// `uid[:gid]` or a user name; the image's when `None`.
    pub user: Option<String>,
    /// How the container is confined.
    pub sandbox: Sandbox,
}

/// Runs `run` in the stack's built image (`<repository>:<stack>`), passing its output to `sink`
/// as it comes. First removes the containers that earlier runs of this project left when their
/// process was killed.
pub async fn run_worker(
    session: &Session,
    run: &WorkerRun,
    cancel: &CancellationToken,
    sink: OutputSink<'_>,
) -> Result<RunOutcome> {
    check_limits(run)?;
    if session.catalogue.get(&run.stack).is_none() {
        session.catalogue.select(std::slice::from_ref(&run.stack))?;
    }
    let root = session
        .project
        .root
        .canonicalize()
        .map_err(|e| Error::io("open the project", &session.project.root, e))?;
    let mut mounts = Vec::new();
    let mut env = run.env.clone();
    if let Some(payload) = &run.payload {
        let host = payload
            .canonicalize()
            .map_err(|e| Error::io("read payload", payload, e))?;
        if !host.is_file() {
            return Err(usage(
                format!("the payload `{}` is not a regular file", payload.display()),
                "give a file; a directory goes in with `--mount`",
            ));
        }
        let name = match host.extension() {
            Some(ext) => format!("{PAYLOAD_PATH}.{}", ext.to_string_lossy()),
            None => PAYLOAD_PATH.to_string(),
        };
        mounts.push(BindMount {
            host,
            container: name.clone(),
            read_only: true,
        });
        env.insert(PAYLOAD_ENV.to_string(), name);
    }
    if let Some(dir) = &run.mount {
        let host = dir.canonicalize().map_err(|e| Error::io("mount", dir, e))?;
        check_mount(dir, &host, &root, &docker_socket())?;
        mounts.push(BindMount {
            host,
            container: MOUNT_PATH.to_string(),
            read_only: false,
        });
    }

    let engine = crate::fleet::Roster::first_engine(&session.project.settings.engines).await?;
    let project = root.display().to_string();
    engine
        .remove_stray_run_containers(
            PROJECT_LABEL,
            &project,
            |labels: &HashMap<String, String>| {
                labels
                    .get(OWNER_LABEL)
                    .is_none_or(|owner| owner_is_gone(owner))
            },
        )
        .await?;
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
    request.env = env;
    request.user = run.user.clone();
    request.workdir = run.mount.as_ref().map(|_| MOUNT_PATH.to_string());
    request.mounts = mounts;
    request.sandbox = Some(run.sandbox.clone());
    request.labels = BTreeMap::from([
        (PROJECT_LABEL.to_string(), project),
        (OWNER_LABEL.to_string(), this_owner()),
    ]);
    Ok(engine.run_streaming(&request, cancel, sink).await?)
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

/// Checks a `--memory` value: the engine reads 0 as "no limit" and refuses less than 6 MiB.
pub fn check_memory(bytes: u64) -> std::result::Result<u64, String> {
    match bytes {
        0 => Err("a memory limit of 0 would be no limit at all to the engine; give a size of at least 6MiB (e.g. `512m`)".to_string()),
        b if b < MIN_MEMORY => Err(format!("{b} bytes is under the engine's minimum memory limit of 6MiB")),
        b => Ok(b),
    }
}

/// Checks a `--timeout` value: more than nothing, at most [`MAX_TIMEOUT`].
pub fn check_timeout(timeout: Duration) -> std::result::Result<Duration, String> {
    if timeout.is_zero() {
        Err(
            "a timeout of 0 would kill the command before it starts; give e.g. `30s` or `5m`"
                .to_string(),
        )
    } else if timeout > MAX_TIMEOUT {
        Err(format!(
            "{} s is longer than the longest timeout, 30 days",
            timeout.as_secs()
        ))
    } else {
        Ok(timeout)
    }
}

fn check_limits(run: &WorkerRun) -> Result<()> {
    if let Some(memory) = run.memory {
        check_memory(memory)
            .map_err(|message| usage(message, "`--memory` takes e.g. `512m` or `1GiB`"))?;
    }
    if let Some(timeout) = run.timeout {
        check_timeout(timeout)
            .map_err(|message| usage(message, "`--timeout` takes e.g. `30s`, `5m` or `2h`"))?;
    }
    if run.sandbox.pids_limit < 1 {
        return Err(usage(
            format!(
                "a pids limit of {} would be no limit at all to the engine",
                run.sandbox.pids_limit
            ),
            "`--pids` takes a count of at least 1",
        ));
    }
    Ok(())
}

/// Refuses to mount what would hand the host to the command: `/`, `/proc`, `/sys`, `/dev`, the
/// Docker socket's directory (or a directory above it) and the project's own `target/`.
fn check_mount(given: &Path, host: &Path, project: &Path, socket: &Path) -> Result<()> {
    let socket_dir = socket
        .canonicalize()
        .unwrap_or_else(|_| socket.to_path_buf());
    let socket_dir = socket_dir.parent().unwrap_or(Path::new("/"));
    let target = project.join("target");
    let reason = if host == Path::new("/") {
        Some("it is the host's whole filesystem".to_string())
    } else if let Some(system) = ["/proc", "/sys", "/dev"]
        .into_iter()
        .find(|system| host.starts_with(system))
    {
        Some(format!(
            "it is in `{system}`, the host's kernel and devices"
        ))
    } else if socket_dir.starts_with(host) {
        Some(format!(
            "it holds the Docker socket `{}`, which controls the whole engine",
            socket.display()
        ))
    } else if host.starts_with(&target) {
        Some(format!(
            "it is in the project's own `{}`, where ferrostack keeps its state",
            target.display()
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(usage(
            format!("`--mount {}` is refused: {reason}", given.display()),
            "mount a directory made for the work, e.g. `--mount work`",
        )),
        None => Ok(()),
    }
}

/// The engine's socket: `DOCKER_HOST` when it is a unix socket, else the default.
fn docker_socket() -> PathBuf {
    let address = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
    let path = address.strip_prefix("unix://").unwrap_or(&address);
    if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        PathBuf::from(DEFAULT_ADDRESS.trim_start_matches("unix://"))
    }
}

fn usage(message: String, help: &str) -> Error {
    Error::Usage {
        message,
        help: Some(help.to_string()),
    }
}

/// This process as [`OWNER_LABEL`] records it: `host/boot id/pid/start time`.
fn this_owner() -> String {
    let pid = std::process::id();
    format!(
        "{}/{}/{pid}/{}",
        read_trimmed("/proc/sys/kernel/hostname"),
        read_trimmed("/proc/sys/kernel/random/boot_id"),
        start_time(pid).unwrap_or_default()
    )
}

/// Whether the process an [`OWNER_LABEL`] names has ended: same host, and either the machine
/// rebooted since or no process with that pid and start time runs. A container made on
/// another host (a shared engine) is never called gone, nor any where `/proc` cannot be read.
fn owner_is_gone(owner: &str) -> bool {
    let parts: Vec<&str> = owner.split('/').collect();
    let [host, boot, pid, started] = parts[..] else {
        return false;
    };
    // Without `/proc` (not Linux) nothing can be told apart: better a stray than a live run removed.
    let this_boot = read_trimmed("/proc/sys/kernel/random/boot_id");
    if this_boot.is_empty() || host != read_trimmed("/proc/sys/kernel/hostname") {
        return false;
    }
    if boot != this_boot {
        return true;
    }
    match pid.parse::<u32>() {
        Ok(pid) => start_time(pid).is_none_or(|now| now != started),
        Err(_) => false,
    }
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19).map(str::to_string)
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_a_dead_one_is() {
        let me = this_owner();
        assert!(!owner_is_gone(&me), "{me}");
        let parts: Vec<&str> = me.split('/').collect();
        assert!(
            owner_is_gone(&format!("{}/{}/{}/1", parts[0], parts[1], parts[2])),
            "same pid, other start time"
        );
        assert!(
            owner_is_gone(&format!(
                "{}/another-boot/{}/{}",
                parts[0], parts[2], parts[3]
            )),
            "rebooted since"
        );
        assert!(
            !owner_is_gone(&format!("another-host/{}/1/1", parts[1])),
            "another host's container is left alone"
        );
        assert!(!owner_is_gone("garbage"));
    }

    #[test]
    fn refuses_mounts_that_hand_over_the_host() {
        let project = Path::new("/work/project");
        let socket = Path::new("/nonexistent/run/docker.sock");
        let refused =
            |dir: &str| check_mount(Path::new(dir), Path::new(dir), project, socket).is_err();
        for dir in [
            "/",
            "/proc",
            "/proc/1",
            "/sys",
            "/dev/shm",
            "/nonexistent/run",
            "/nonexistent",
            "/work/project/target",
            "/work/project/target/ferrostack",
        ] {
            assert!(refused(dir), "{dir} is refused");
        }
        for dir in [
            "/work/project/work",
            "/work/project",
            "/tmp/x",
            "/nonexistent/run/sub",
        ] {
            assert!(!refused(dir), "{dir} is allowed");
        }
    }

    #[test]
    fn limits_are_checked() {
        assert!(check_memory(0).unwrap_err().contains("no limit"));
        assert!(check_memory(MIN_MEMORY - 1).unwrap_err().contains("6MiB"));
        assert_eq!(check_memory(MIN_MEMORY), Ok(MIN_MEMORY));
        assert!(check_timeout(Duration::ZERO).is_err());
        assert!(check_timeout(MAX_TIMEOUT + Duration::from_secs(1)).is_err());
        assert!(check_timeout(Duration::from_secs(5)).is_ok());
    }
}
