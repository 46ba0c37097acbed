//! `Shipping`: one run's registry: which stacks it already has (one manifest lookup per stack,
//! all at once), and pushing a checked image under its immutable tag.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;

use super::sbom_artifact::{digest_of, EMPTY_CONFIG};
use super::{
    credentials_for, promote, PromotionReport, RegistryAddress, RegistryClient, SbomArtifact,
};
use crate::engine::{Engine, EngineError};
use crate::error::Result;

/// A registry, the repository the stacks go to in it, and the credentials to reach it.
#[derive(Debug)]
pub struct Shipping {
    pub address: RegistryAddress,
    pub repository: String,
    credentials: Option<DockerCredentials>,
    client: RegistryClient,
}

impl Shipping {
    /// Reads the credentials for `address` from the Docker client configuration; `ca_bundle`
    /// is trusted besides the system's certificates.
    pub fn new(
        address: RegistryAddress,
        repository: &str,
        ca_bundle: Option<&std::path::Path>,
    ) -> Result<Shipping> {
        let credentials = credentials_for(address.host())?;
        let client = RegistryClient::new(&address, credentials.clone(), ca_bundle)?;
        Ok(Shipping {
            address,
            repository: repository.to_string(),
            credentials,
            client,
        })
    }

    /// Points each `(stack, tags, digest)`'s human tags at its pushed manifest, as one
    /// transaction (see [`promote`]).
    pub async fn promote(
        &self,
        family: &[(String, Vec<String>, String)],
    ) -> Result<PromotionReport> {
        promote(&self.client, &self.address.name(&self.repository), family).await
    }

    /// The immutable reference of a stack's image.
    pub fn image(&self, stack: &str, hash: &str) -> String {
        self.address.image(&self.repository, stack, hash)
    }

    /// The reference of exactly the manifest `digest`.
    pub fn by_digest(&self, digest: &str) -> String {
        self.address.by_digest(&self.repository, digest)
    }

    /// Which of `stacks` (name, hash) the registry has under their immutable tags: name →
    /// manifest digest. The lookups run at once.
    pub async fn find(
        &self,
        engine: &Engine,
        stacks: &[(String, String)],
    ) -> Result<HashMap<String, String>, EngineError> {
        let lookups = stacks.iter().map(|(name, hash)| {
            let reference = self.image(name, hash);
            async move {
                (
                    name.clone(),
                    crate::engine::retry(3, std::time::Duration::from_millis(500), || {
                        engine.registry_digest(&reference, self.credentials.clone())
                    })
                    .await,
                )
            }
        });
        let mut found = HashMap::new();
        for (name, result) in futures_util::future::join_all(lookups).await {
            if let Some(digest) = result? {
                found.insert(name, digest);
            }
        }
        Ok(found)
    }

    /// Stores `artifact` next to its image (tag `sha256-<hex>.sbom`) unless the registry
    /// already has exactly it; returns the artifact's manifest digest.
    pub async fn attach_sbom(&self, artifact: &SbomArtifact, file_name: &str) -> Result<String> {
        let name = self.address.name(&self.repository);
        let manifest = artifact.manifest(file_name);
        let digest = digest_of(&manifest.bytes);
        if self
            .client
            .manifest_digest(&name, &artifact.tag())
            .await?
            .as_deref()
            == Some(digest.as_str())
        {
            return Ok(digest);
        }
        self.client.put_blob(&name, EMPTY_CONFIG).await?;
        self.client.put_blob(&name, &artifact.document).await?;
        let answered = self
            .client
            .put_manifest(&name, &artifact.tag(), &manifest)
            .await?;
        Ok(if answered.is_empty() {
            digest
        } else {
            answered
        })
    }

    /// Tags `image` with the stack's immutable reference and pushes it; returns the digest.
    pub async fn push(
        &self,
        engine: &Engine,
        image: &str,
        stack: &str,
        hash: &str,
    ) -> Result<String, EngineError> {
        let reference = self.image(stack, hash);
        engine.tag(image, &reference).await?;
        crate::engine::retry(3, std::time::Duration::from_secs(1), || {
            engine.push(&reference, self.credentials.clone())
        })
        .await
    }

    /// Pulls exactly the manifest `digest` and returns the reference it is known by.
    pub async fn pull(&self, engine: &Engine, digest: &str) -> Result<String, EngineError> {
        let reference = self.by_digest(digest);
        crate::engine::retry(3, std::time::Duration::from_secs(1), || {
            engine.pull_with(&reference, self.credentials.clone())
        })
        .await?;
        Ok(reference)
    }
}
