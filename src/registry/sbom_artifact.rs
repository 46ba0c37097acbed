//! `SbomArtifact`: a stack's SBOM as an OCI artifact stored next to its image, under the tag
//! cosign uses for an image's SBOM (`sha256-<image digest hex>.sbom`): an OCI image manifest
//! with the empty config and the document as its one layer.

use serde_json::json;
use sha2::Digest as _;

use super::Manifest;

/// The OCI 1.1 empty config (`{}`), which an artifact without a config of its own names.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// The media type cosign gives an SPDX JSON SBOM layer.
pub const SPDX_LAYER_TYPE: &str = "text/spdx+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// The SBOM `document` of the image whose manifest is `image_digest`.
#[derive(Debug, Clone)]
pub struct SbomArtifact {
    pub image_digest: String,
    pub document: Vec<u8>,
}

impl SbomArtifact {
    /// `sha256-<hex>.sbom`: the tag that finds it from the image's digest alone.
    pub fn tag(&self) -> String {
        format!("{}.sbom", self.image_digest.replacen(':', "-", 1))
    }

    /// The artifact's manifest: deterministic bytes (so its digest is known before a push and
    /// the same SBOM is never stored twice).
    pub fn manifest(&self, file_name: &str) -> Manifest {
        let value = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest_of(EMPTY_CONFIG), "size": EMPTY_CONFIG.len()},
            "layers": [{
                "mediaType": SPDX_LAYER_TYPE,
                "digest": digest_of(&self.document),
                "size": self.document.len(),
                "annotations": {"org.opencontainers.image.title": file_name},
            }],
            "annotations": {"dev.ferrostack.image.digest": self.image_digest},
        });
        Manifest {
            media_type: OCI_MANIFEST.into(),
            bytes: serde_json::to_vec(&value).expect("a manifest serialises"),
        }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_follows_cosign_and_the_manifest_names_the_document() {
        let artifact = SbomArtifact {
            image_digest: format!("sha256:{}", "ab".repeat(32)),
            document: b"{\"spdxVersion\":\"SPDX-2.3\"}\n".to_vec(),
        };
        assert_eq!(artifact.tag(), format!("sha256-{}.sbom", "ab".repeat(32)));
        let manifest = artifact.manifest("root.spdx.json");
        let value: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(value["layers"][0]["digest"], digest_of(&artifact.document));
        assert_eq!(value["layers"][0]["size"], artifact.document.len());
        assert_eq!(
            value["config"]["digest"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert_eq!(
            manifest.bytes,
            artifact.manifest("root.spdx.json").bytes,
            "deterministic"
        );
    }
}
