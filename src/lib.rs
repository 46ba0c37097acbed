//! ferrostack: TOML stack definitions → layered Dockerfiles → content hashes → plans → builds.
//!
//! The pipeline reads top to bottom: [`load`] → [`validate`] → [`graph`] → [`render`] →
//! [`hash`] → [`plan`] → build (in [`engine`]) → [`lock`].

pub mod engine;
