//! Talks to the Docker Engine through bollard: connect and negotiate ([`Engine`]), make base
//! images without a registry ([`bootstrap_rootfs`] + [`Engine::import_image`]), build with the
//! classic builder ([`Engine::build`]), find and tag images ([`ImageInfo`]), run commands in
//! throwaway containers ([`Engine::run`]), and retry what is transient ([`retry`]).
//!
//! The library never prints: long operations take an `on_event` callback and a
//! [`CancellationToken`].

mod build;
mod build_event;
mod build_request;
mod client;
mod deterministic_tar;
mod distribution;
mod error;
mod image_info;
mod import;
mod network;
mod retry;
mod rootfs;
mod run;
mod run_output;
mod run_request;
mod sandbox;
mod tar_stream;

pub use build::BuiltImage;
pub use build_event::BuildEvent;
pub use build_request::{BuildRequest, ContextFile, DOCKERFILE_NAME};
pub use client::{Engine, DEFAULT_ADDRESS};
pub use deterministic_tar::{source_date_epoch, DeterministicTar};
pub use error::{EngineError, Result};
pub use image_info::{ImageInfo, HASH_LABEL};
pub use import::ImportRequest;
pub use network::{find_bridge_host, BridgeHost, BridgeSource};
pub use retry::{retry, retry_with};
pub use rootfs::{
    bootstrap_rootfs, remove_stale as remove_stale_trees, BootstrapEvent, Rootfs, RootfsSpec,
    DEBIAN_KEYRING,
};
pub use run::{RunOutcome, RUN_LABEL};
pub use run_output::{OutputSink, OutputStream, MAX_OUTPUT};
pub use run_request::{BindMount, RunRequest};
pub use sandbox::{Sandbox, SandboxNetwork};
pub use tar_stream::{ChannelWriter, TarStream};
pub use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduler spawns builds and runs on tokio tasks: their futures must be `Send`.
    #[allow(dead_code)]
    fn futures_are_send(
        engine: &Engine,
        build: &BuildRequest,
        run: &RunRequest,
        cancel: &CancellationToken,
    ) {
        fn send<T: Send>(_: T) {}
        send(engine.build(build, cancel, |_| {}));
        send(engine.run(run, cancel));
        send(engine.run_streaming(run, cancel, &mut |_, _| {}));
        send(engine.import_image(TarStream::from_file("/dev/null"), &ImportRequest::default()));
        send(engine.find_images_by_hash("hash"));
        send(engine.pull("image"));
        send(bootstrap_rootfs(
            &RootfsSpec::minbase("bookworm"),
            None,
            cancel,
            |_| {},
        ));
        send(retry(3, std::time::Duration::from_secs(1), || {
            engine.image_exists("x")
        }));
    }
}
