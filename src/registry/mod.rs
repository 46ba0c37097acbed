//! The OCI registry as the state shared between machines: where a stack's image is pushed
//! (an immutable tag derived from its hash), and the credentials to reach it.
//!
//! The registry is reached through the engine's own endpoints (push, pull and
//! `GET /distribution/{name}/json`, a manifest lookup), so the engine's rules for TLS,
//! certificates and plain-HTTP registries (loopback, `insecure-registries`) apply unchanged.

mod client;
mod credentials;
mod promotion;
mod registry_address;
mod sbom_artifact;
mod shipping;

pub use client::{Manifest, RegistryClient};
pub use credentials::{credentials_for, docker_config_path};
pub use promotion::{promote, PromotionReport, TagMove};
pub use registry_address::RegistryAddress;
pub use sbom_artifact::SbomArtifact;
pub use shipping::Shipping;

/// How many hex digits of a stack's hash its immutable tag carries.
pub const TAG_HASH_DIGITS: usize = 16;
