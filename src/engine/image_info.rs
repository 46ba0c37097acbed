//! `ImageInfo`: what the engine knows about an image, and the image operations the builder needs
//! (find by content hash, tag, remove, exists, pull).

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt;

use super::client::Engine;
use super::error::{bollard_error_is_transient, EngineError, Result};
use super::import::split_reference;

/// The label that carries a stack's content hash.
pub const HASH_LABEL: &str = "io.ferrostack.hash";

/// An image on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:...`.
    pub id: String,
    /// `repo:tag` references pointing at it, sorted.
    pub tags: Vec<String>,
    /// Size in bytes, all layers included.
    pub size: u64,
    /// Number of file system layers (`RootFS.Layers`).
    pub layers: usize,
    /// The layers' content digests (`sha256:...` of each uncompressed layer tar), bottom first:
    /// the same root file system tar gives the same digest, whenever it is imported.
    pub layer_digests: Vec<String>,
    /// The image's labels.
    pub labels: BTreeMap<String, String>,
}

impl Engine {
    /// Images labelled `key=value`, sorted by ID.
    pub async fn find_images_by_label(&self, key: &str, value: &str) -> Result<Vec<ImageInfo>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{key}={value}")])]);
        let summaries = self
            .docker
            .list_images(Some(bollard::query_parameters::ListImagesOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|error| EngineError::api("list images", error))?;
        let mut images = Vec::with_capacity(summaries.len());
        for summary in summaries {
            match self.inspect_image(&summary.id).await {
                Ok(image) => images.push(image),
                // Removed between list and inspect: it is not there any more.
                Err(EngineError::ImageNotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        images.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(images)
    }

    /// Images whose [`HASH_LABEL`] is `hash`.
    pub async fn find_images_by_hash(&self, hash: &str) -> Result<Vec<ImageInfo>> {
        self.find_images_by_label(HASH_LABEL, hash).await
    }

    /// Looks up an image by ID or reference.
    pub async fn inspect_image(&self, reference: &str) -> Result<ImageInfo> {
        let image = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|error| not_found_or(reference, "inspect image", error))?;
        let mut tags = image.repo_tags.unwrap_or_default();
        tags.sort();
        let layer_digests = image
            .root_fs
            .and_then(|root_fs| root_fs.layers)
            .unwrap_or_default();
        Ok(ImageInfo {
            id: image.id.unwrap_or_default(),
            tags,
            size: image.size.unwrap_or(0).max(0) as u64,
            layers: layer_digests.len(),
            layer_digests,
            labels: image
                .config
                .and_then(|config| config.labels)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        })
    }

    /// Whether `reference` names an image on the engine.
    pub async fn image_exists(&self, reference: &str) -> Result<bool> {
        match self.inspect_image(reference).await {
            Ok(_) => Ok(true),
            Err(EngineError::ImageNotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Points `reference` (`repo:tag`) at `image` (an ID or another reference).
    pub async fn tag(&self, image: &str, reference: &str) -> Result<()> {
        let (repo, tag) = split_reference(reference);
        self.docker
            .tag_image(
                image,
                Some(bollard::query_parameters::TagImageOptions {
                    repo: Some(repo.to_string()),
                    tag: Some(tag.to_string()),
                }),
            )
            .await
            .map_err(|error| not_found_or(image, "tag image", error))
    }

    /// Removes `reference`: untags it, and deletes the image when no tag is left. `force` also
    /// removes an image that stopped containers still use or that has several tags.
    pub async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        self.docker
            .remove_image(
                reference,
                Some(bollard::query_parameters::RemoveImageOptions {
                    force,
                    noprune: false,
                }),
                None,
            )
            .await
            .map(|_| ())
            .map_err(|error| not_found_or(reference, "remove image", error))
    }

    /// Pulls `reference` from its registry; fails with [`EngineError::PullFailed`] when no
    /// registry answers or it does not have the image.
    pub async fn pull(&self, reference: &str) -> Result<()> {
        self.pull_with(reference, None).await
    }

    /// [`Engine::pull`] with registry credentials. A `repo@sha256:…` reference pulls exactly
    /// that manifest.
    pub async fn pull_with(
        &self,
        reference: &str,
        credentials: Option<bollard::auth::DockerCredentials>,
    ) -> Result<()> {
        let (repo, tag) = match reference.split_once('@') {
            Some((repo, digest)) => (repo, digest),
            None => split_reference(reference),
        };
        let mut progress = self.docker.create_image(
            Some(bollard::query_parameters::CreateImageOptions {
                from_image: Some(repo.to_string()),
                tag: Some(tag.to_string()),
                ..Default::default()
            }),
            None,
            credentials,
        );
        while let Some(item) = progress.next().await {
            if let Err(error) = item {
                let transient = bollard_error_is_transient(&error);
                let message = match error {
                    bollard::errors::Error::DockerStreamError { error } => error,
                    bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(EngineError::PullFailed {
                    reference: reference.to_string(),
                    message,
                    transient,
                });
            }
        }
        Ok(())
    }
}

/// Maps a 404 to [`EngineError::ImageNotFound`], anything else to an API error.
fn not_found_or(
    reference: &str,
    operation: &'static str,
    error: bollard::errors::Error,
) -> EngineError {
    match error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => EngineError::ImageNotFound {
            reference: reference.to_string(),
        },
        other => EngineError::api(operation, other),
    }
}
