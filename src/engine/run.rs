//! `RunOutcome` and `Engine::run`: create, start, follow the output, wait (bounded by a timeout
//! and a cancellation token), inspect and always remove a container — also when the caller's
//! future is dropped; and find the containers a killed process left.

use std::collections::HashMap;

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountTypeEnum};
use bollard::Docker;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::client::Engine;
use super::error::{EngineError, Result};
use super::run_output::{OutputSink, OutputStream, RunOutput};
use super::run_request::RunRequest;

/// The label on every container `run` creates, to find strays after a crash.
pub const RUN_LABEL: &str = "io.ferrostack.run";

/// How long output may still arrive after the container stopped before it is given up.
const LOGS_AFTER_EXIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a command in a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The exit code (137 after a kill).
    pub exit_code: i64,
    /// What the command wrote to stdout (its last [`MAX_OUTPUT`](super::MAX_OUTPUT) bytes, invalid UTF-8 replaced).
    pub stdout: String,
    /// What the command wrote to stderr, or the engine's reason when it could not start it.
    pub stderr: String,
    /// The timeout was reached and the container killed.
    pub timed_out: bool,
    /// The kernel's OOM killer ended it (the memory limit was reached).
    pub oom_killed: bool,
    /// stdout or stderr was longer than [`MAX_OUTPUT`](super::MAX_OUTPUT): only its last bytes are kept.
    pub output_truncated: bool,
}

impl RunOutcome {
    /// Exited 0 within its limits.
    pub fn success(&self) -> bool {
        self.exit_code == 0 && !self.timed_out && !self.oom_killed
    }
}

impl Engine {
    /// Runs `request` to completion, kills it at its timeout or on `cancel`, and removes the
    /// container whatever happens.
    pub async fn run(
        &self,
        request: &RunRequest,
        cancel: &CancellationToken,
    ) -> Result<RunOutcome> {
        self.run_streaming(request, cancel, &mut |_, _| {}).await
    }

    /// As [`Engine::run`], and passes the output to `sink` a line at a time while the command
    /// runs.
    pub async fn run_streaming(
        &self,
        request: &RunRequest,
        cancel: &CancellationToken,
        sink: OutputSink<'_>,
    ) -> Result<RunOutcome> {
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled { operation: "run" });
        }
        let created = self
            .docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                container_config(request),
            )
            .await
            .map_err(|error| match error {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => EngineError::ImageNotFound {
                    reference: request.image.clone(),
                },
                other => EngineError::api("create container", other),
            })?;
        let guard = ContainerGuard {
            docker: self.docker.clone(),
            id: Some(created.id.clone()),
        };
        let outcome = self.run_created(&created.id, request, cancel, sink).await;
        let removed = guard.remove().await;
        let outcome = outcome?;
        removed?;
        Ok(outcome)
    }

    async fn run_created(
        &self,
        id: &str,
        request: &RunRequest,
        cancel: &CancellationToken,
        sink: OutputSink<'_>,
    ) -> Result<RunOutcome> {
        let started = self
            .docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await;
        if let Err(error) = started {
            // A command that cannot be executed (not found, not executable) is refused with a
            // 400, and the engine records the shell's exit code for it (127 or 126): that is
            // an outcome of the command, like the docker CLI reports it, not an engine fault.
            if let bollard::errors::Error::DockerResponseServerError {
                status_code: 400,
                message,
            } = &error
            {
                let state = self.container_state(id).await?;
                if let Some(code) = state.exit_code.filter(|code| *code != 0) {
                    // Said where the command's own errors would have gone.
                    sink(
                        OutputStream::Stderr,
                        format!("{}\n", message.trim_end()).as_bytes(),
                    );
                    return Ok(RunOutcome {
                        exit_code: code,
                        stdout: String::new(),
                        stderr: message.clone(),
                        timed_out: false,
                        oom_killed: false,
                        output_truncated: false,
                    });
                }
            }
            return Err(EngineError::api("start container", error));
        }

        let mut output = RunOutput::new(sink);
        let ended = async {
            let deadline = async {
                match request.timeout {
                    Some(timeout) => tokio::time::sleep(timeout).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                waited = self.wait_stopped(id) => waited.map(|()| false),
                () = deadline => self.kill_and_wait(id).await.map(|()| true),
            }
        };
        let timed_out = {
            let follow = self.follow_logs(id, &mut output);
            tokio::pin!(ended, follow);
            let (mut timed_out, mut followed) = (None, false);
            // The log stream ends when the container stops; both are awaited, and output still
            // pending long after the stop is given up rather than waited for.
            while timed_out.is_none() || !followed {
                tokio::select! {
                    result = &mut ended, if timed_out.is_none() => timed_out = Some(result?),
                    result = &mut follow, if !followed => {
                        result?;
                        followed = true;
                    }
                    () = tokio::time::sleep(LOGS_AFTER_EXIT), if timed_out.is_some() => break,
                    () = cancel.cancelled() => {
                        // The guard in `run` removes the container (forcefully) on the way out.
                        return Err(EngineError::Cancelled { operation: "run" });
                    }
                }
            }
            timed_out.unwrap_or(false)
        };
        let (stdout, stderr, output_truncated) = output.finish();

        let state = self.container_state(id).await?;
        Ok(RunOutcome {
            exit_code: state.exit_code.unwrap_or(-1),
            stdout,
            stderr,
            output_truncated,
            timed_out,
            oom_killed: state.oom_killed.unwrap_or(false),
        })
    }

    async fn container_state(&self, id: &str) -> Result<bollard::models::ContainerState> {
        Ok(self
            .docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(|error| EngineError::api("inspect container", error))?
            .state
            .unwrap_or_default())
    }

    /// Waits until the container is not running; its exit code is read by inspecting it.
    async fn wait_stopped(&self, id: &str) -> Result<()> {
        let mut wait = self.docker.wait_container(
            id,
            Some(bollard::query_parameters::WaitContainerOptions {
                condition: "not-running".to_string(),
            }),
        );
        while let Some(item) = wait.next().await {
            match item {
                // bollard reports a non-zero exit as an error; it is an outcome here.
                Ok(_) | Err(bollard::errors::Error::DockerContainerWaitError { .. }) => {}
                Err(error) => return Err(EngineError::api("wait for container", error)),
            }
        }
        Ok(())
    }

    async fn kill_and_wait(&self, id: &str) -> Result<()> {
        let killed = self
            .docker
            .kill_container(
                id,
                Some(bollard::query_parameters::KillContainerOptions {
                    signal: "SIGKILL".to_string(),
                }),
            )
            .await;
        match killed {
            // 409: it stopped by itself in the meantime.
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {}
            Err(error) => return Err(EngineError::api("kill container", error)),
        }
        self.wait_stopped(id).await
    }

    /// Follows the container's output from its start until it stops.
    async fn follow_logs(&self, id: &str, output: &mut RunOutput<'_>) -> Result<()> {
        let mut logs = self.docker.logs(
            id,
            Some(bollard::query_parameters::LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                tail: "all".to_string(),
                ..Default::default()
            }),
        );
        while let Some(item) = logs.next().await {
            match item.map_err(|error| EngineError::api("read container logs", error))? {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    output.push(OutputStream::Stdout, &message)
                }
                LogOutput::StdErr { message } => output.push(OutputStream::Stderr, &message),
                LogOutput::StdIn { .. } => {}
            }
        }
        Ok(())
    }

    /// Removes the containers `run` left behind (e.g. when the whole process was killed)
    /// among those labelled `label=value`, and only those `is_stray` says so of, from their
    /// labels: a container of a `run` still going on must be left alone. Returns how many were
    /// removed.
    pub async fn remove_stray_run_containers(
        &self,
        label: &str,
        value: &str,
        is_stray: impl Fn(&HashMap<String, String>) -> bool,
    ) -> Result<usize> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![RUN_LABEL.to_string(), format!("{label}={value}")],
        )]);
        let containers = self
            .docker
            .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|error| EngineError::api("list containers", error))?;
        let mut removed = 0;
        for container in containers {
            let Some(id) = container.id else { continue };
            if is_stray(&container.labels.unwrap_or_default()) {
                remove_container(&self.docker, &id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// IDs of containers on the engine, running or not, sorted; only those made from `ancestor`
    /// (an image or any image built on it) when given.
    pub async fn container_ids(&self, ancestor: Option<&str>) -> Result<Vec<String>> {
        let filters = ancestor
            .map(|image| HashMap::from([("ancestor".to_string(), vec![image.to_string()])]));
        let containers = self
            .docker
            .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .map_err(|error| EngineError::api("list containers", error))?;
        let mut ids: Vec<String> = containers
            .into_iter()
            .filter_map(|container| container.id)
            .collect();
        ids.sort();
        Ok(ids)
    }
}

fn container_config(request: &RunRequest) -> ContainerCreateBody {
    let memory = request
        .memory_limit
        .map(|bytes| i64::try_from(bytes).unwrap_or(i64::MAX));
    let mounts: Vec<Mount> = request
        .mounts
        .iter()
        .map(|mount| Mount {
            source: Some(mount.host.display().to_string()),
            target: Some(mount.container.clone()),
            typ: Some(MountTypeEnum::BIND),
            read_only: Some(mount.read_only),
            ..Default::default()
        })
        .collect();
    let mut host = HostConfig {
        memory,
        // Equal to `memory`: no swap on top, so the limit is a real limit.
        memory_swap: memory,
        mounts: Some(mounts),
        ..Default::default()
    };
    if let Some(sandbox) = &request.sandbox {
        sandbox.apply(&mut host);
    }
    ContainerCreateBody {
        image: Some(request.image.clone()),
        // An empty command means the image's own `CMD`.
        cmd: (!request.cmd.is_empty()).then(|| request.cmd.clone()),
        env: Some(
            request
                .env
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect(),
        ),
        user: request.user.clone(),
        working_dir: request.workdir.clone(),
        labels: Some(
            request
                .labels
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .chain([(RUN_LABEL.to_string(), "1".to_string())])
                .collect(),
        ),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        host_config: Some(host),
        ..Default::default()
    }
}

/// Force-removes a container; "already gone" counts as removed.
async fn remove_container(docker: &Docker, id: &str) -> Result<()> {
    let options = bollard::query_parameters::RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    let mut attempt = 0;
    loop {
        match docker.remove_container(id, Some(options.clone())).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Ok(());
            }
            // 409: removal already in progress; wait for it to finish.
            Err(error) if attempt < 5 => {
                let _ = error;
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
            }
            Err(error) => return Err(EngineError::api("remove container", error)),
        }
    }
}

/// Removes its container on `remove`, or — if the future running it is dropped first — from a
/// task spawned by `Drop`, so no container outlives its run.
struct ContainerGuard {
    docker: Docker,
    id: Option<String>,
}

impl ContainerGuard {
    async fn remove(mut self) -> Result<()> {
        match self.id.take() {
            Some(id) => remove_container(&self.docker, &id).await,
            None => Ok(()),
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let docker = self.docker.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = remove_container(&docker, &id).await;
            });
        }
    }
}
