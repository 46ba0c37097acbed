//! `BuiltImage` and `Engine::build`: one build with the classic builder (API builder version 1,
//! no BuildKit), its context streamed to the engine, its output turned into [`BuildEvent`]s.
//!
//! Why the classic builder: it needs no BuildKit session (gRPC over the hijacked connection),
//! works on every engine the platform runs (20.10 and later), and reports plain `Step i/n`
//! lines. `rm` and `forcerm` make the engine remove intermediate containers, also of failed
//! steps, and also when the client goes away mid-build (cancellation drops the connection).

use std::collections::HashMap;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::build_event::{BuildEvent, BuildLog};
use super::build_request::{BuildRequest, DOCKERFILE_NAME};
use super::client::Engine;
use super::deterministic_tar::source_date_epoch;
use super::error::{message_is_transient, EngineError, Result};
use super::tar_stream::{settle, TarStream};

/// The result of a successful build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// `sha256:...`.
    pub id: String,
    /// The references it was tagged with.
    pub tags: Vec<String>,
    /// How many Dockerfile steps ran (cached or not).
    pub steps: usize,
}

impl Engine {
    /// Builds `request`, reporting progress through `on_event`. A failing instruction gives
    /// [`EngineError::BuildFailed`] with the daemon's message; `cancel` stops the build.
    pub async fn build(
        &self,
        request: &BuildRequest,
        cancel: &CancellationToken,
        mut on_event: impl FnMut(BuildEvent),
    ) -> Result<BuiltImage> {
        request.validate()?;
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled { operation: "build" });
        }
        let clamp = source_date_epoch()?;
        let context = {
            let request = request.clone();
            TarStream::spawn(clamp, move |tar| request.write_context(tar))
        };
        let (body, producer) = context.into_parts();

        let options = bollard::query_parameters::BuildImageOptions {
            dockerfile: DOCKERFILE_NAME.to_string(),
            t: request.tags.first().cloned(),
            nocache: request.no_cache,
            rm: true,
            forcerm: true,
            buildargs: Some(to_hash_map(&request.build_args)),
            labels: Some(to_hash_map(&request.labels)),
            version: bollard::query_parameters::BuilderVersion::BuilderV1,
            networkmode: request.network.clone(),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_try_stream(body)));

        let mut log = BuildLog::default();
        let mut image_id = None;
        let outcome: Result<()> = loop {
            let item = tokio::select! {
                item = stream.next() => item,
                () = cancel.cancelled() => break Err(EngineError::Cancelled { operation: "build" }),
            };
            let Some(item) = item else { break Ok(()) };
            match item {
                Ok(info) => {
                    if let Some(chunk) = &info.stream {
                        log.feed(chunk, &mut on_event);
                    }
                    if let Some(status) = info.status {
                        on_event(BuildEvent::Status(status));
                    }
                    if let Some(id) = info.aux.and_then(|aux| aux.id) {
                        image_id = Some(id);
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    log.flush(&mut on_event);
                    break Err(if message_is_transient(&error) {
                        EngineError::BuildInterrupted { message: error }
                    } else {
                        EngineError::BuildFailed {
                            message: error,
                            log_tail: log.tail(),
                        }
                    });
                }
                // The engine refuses a Dockerfile it cannot parse with a 400 before building.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 400,
                    message,
                }) => {
                    break Err(EngineError::BuildFailed {
                        message,
                        log_tail: log.tail(),
                    })
                }
                Err(error) => break Err(EngineError::api("build image", error)),
            }
        };
        // Dropping the stream closes the connection; the engine then stops the build and, with
        // `forcerm`, removes the step's container.
        drop(stream);
        log.flush(&mut on_event);
        settle(outcome, producer).await?;

        let id = image_id.ok_or_else(|| EngineError::NoImageId {
            log_tail: log.tail(),
        })?;
        for reference in request.tags.iter().skip(1) {
            self.tag(&id, reference).await?;
        }
        Ok(BuiltImage {
            id,
            tags: request.tags.clone(),
            steps: log.steps,
        })
    }
}

fn to_hash_map(map: &std::collections::BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}
