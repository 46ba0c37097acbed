//! `Engine::push` and `Engine::registry_digest`: the engine's own registry endpoints, so its
//! rules for TLS, certificates and plain-HTTP registries apply to ferrostack unchanged.

use bollard::auth::DockerCredentials;
use futures_util::StreamExt;

use super::client::Engine;
use super::error::{bollard_error_is_transient, EngineError, Result};

impl Engine {
    /// Pushes `reference` (`registry/repo:tag`, tagged in this engine) and returns the pushed
    /// manifest's digest. Layers the registry already has are not uploaded again.
    pub async fn push(
        &self,
        reference: &str,
        credentials: Option<DockerCredentials>,
    ) -> Result<String> {
        let (repo, tag) = super::import::split_reference(reference);
        let options = bollard::query_parameters::PushImageOptions {
            tag: Some(tag.to_string()),
            ..Default::default()
        };
        // The engine insists on an auth header; `{}` is anonymous.
        let mut progress =
            self.docker
                .push_image(repo, Some(options), Some(credentials.unwrap_or_default()));
        let mut digest = None;
        while let Some(item) = progress.next().await {
            let info = item.map_err(|error| EngineError::PushFailed {
                reference: reference.to_string(),
                transient: bollard_error_is_transient(&error),
                message: match error {
                    bollard::errors::Error::DockerStreamError { error } => error,
                    bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                    other => other.to_string(),
                },
            })?;
            if let Some(error) = info.error_detail.and_then(|d| d.message).or(info.error) {
                return Err(EngineError::PushFailed {
                    reference: reference.to_string(),
                    transient: super::error::message_is_transient(&error),
                    message: error,
                });
            }
            // "<tag>: digest: sha256:… size: 527"
            if let Some(found) = info.status.as_deref().and_then(digest_in_status) {
                digest = Some(found);
            }
        }
        digest.ok_or_else(|| EngineError::PushFailed {
            reference: reference.to_string(),
            transient: false,
            message: "the engine reported no digest for the pushed manifest".into(),
        })
    }

    /// The digest of the manifest `reference` names in its registry, or `None` when the
    /// registry does not have it. Asked through the engine (`GET /distribution/{name}/json`).
    pub async fn registry_digest(
        &self,
        reference: &str,
        credentials: Option<DockerCredentials>,
    ) -> Result<Option<String>> {
        match self
            .docker
            .inspect_registry_image(reference, credentials)
            .await
        {
            Ok(found) => Ok(found.descriptor.digest.filter(|d| !d.is_empty())),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(error) => Err(EngineError::RegistryLookup {
                reference: reference.to_string(),
                transient: bollard_error_is_transient(&error),
                message: match error {
                    bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                    other => other.to_string(),
                },
            }),
        }
    }
}

fn digest_in_status(status: &str) -> Option<String> {
    let rest = status.split("digest: ").nth(1)?;
    let digest = rest.split_whitespace().next()?;
    digest.starts_with("sha256:").then(|| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::digest_in_status;

    #[test]
    fn the_digest_is_read_from_the_push_status() {
        assert_eq!(
            digest_in_status("seed: digest: sha256:b7ce size: 527").as_deref(),
            Some("sha256:b7ce")
        );
        assert_eq!(digest_in_status("Pushed"), None);
    }
}
