//! `ImportRequest`: turning a root file system tar into an image through the Engine API
//! (`POST /images/create?fromSrc=-`), without the docker CLI and without a registry.
//!
//! Why an import and not a `FROM scratch` + `ADD rootfs.tar /` build: the import takes the tar
//! as one layer as it is, so the layer is exactly our deterministic archive; a build would
//! re-pack it through the builder's copy logic and add a build step (and a second copy of the
//! tar in the build context on disk) for no gain.

use std::collections::BTreeMap;

use futures_util::StreamExt;

use super::client::Engine;
use super::error::{EngineError, Result};
use super::tar_stream::{settle, TarStream};

/// What to call an imported root file system and which image settings to give it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRequest {
    /// `repo:tag` to give the image, e.g. `ferrostack/base:bookworm`.
    pub reference: String,
    /// Labels, written as a `LABEL` change.
    pub labels: BTreeMap<String, String>,
    /// Further Dockerfile instructions applied to the image config, e.g. `CMD ["bash"]`,
    /// `ENV LANG=C.UTF-8` (the engine accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
    /// USER, VOLUME, WORKDIR).
    pub changes: Vec<String>,
}

impl Engine {
    /// Imports `rootfs` as a single-layer image and returns its ID (`sha256:...`).
    pub async fn import_image(&self, rootfs: TarStream, request: &ImportRequest) -> Result<String> {
        let (repo, tag) = split_reference(&request.reference);
        let mut changes = request.changes.clone();
        if !request.labels.is_empty() {
            let labels: Vec<String> = request
                .labels
                .iter()
                .map(|(key, value)| format!("{}={}", quote(key), quote(value)))
                .collect();
            changes.push(format!("LABEL {}", labels.join(" ")));
        }
        let options = bollard::query_parameters::CreateImageOptions {
            from_src: Some("-".to_string()),
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
            changes,
            ..Default::default()
        };
        let (body, producer) = rootfs.into_parts();
        let mut progress =
            self.docker
                .create_image(Some(options), Some(bollard::body_try_stream(body)), None);
        let mut failure = None;
        while let Some(item) = progress.next().await {
            match item {
                Ok(_) => {}
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    failure = Some(EngineError::ImportFailed {
                        reference: request.reference.clone(),
                        message: error,
                    });
                    break;
                }
                Err(error) => {
                    failure = Some(EngineError::api("import image", error));
                    break;
                }
            }
        }
        drop(progress);
        settle(failure.map_or(Ok(()), Err), producer).await?;
        let image = self
            .docker
            .inspect_image(&request.reference)
            .await
            .map_err(|error| EngineError::api("inspect imported image", error))?;
        image.id.ok_or_else(|| EngineError::ImportFailed {
            reference: request.reference.clone(),
            message: "the engine reported no image ID".to_string(),
        })
    }
}

/// `repo:tag` → (`repo`, `tag`); a colon inside a registry host (`host:5000/repo`) is not a tag.
pub(crate) fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

/// Quotes a label key or value for a Dockerfile `LABEL` line.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repo_and_tag() {
        assert_eq!(split_reference("base:bookworm"), ("base", "bookworm"));
        assert_eq!(split_reference("base"), ("base", "latest"));
        assert_eq!(
            split_reference("host:5000/base"),
            ("host:5000/base", "latest")
        );
        assert_eq!(split_reference("host:5000/base:1"), ("host:5000/base", "1"));
    }
}
