//! ferrostack: TOML stack definitions → layered Dockerfiles → content hashes → plans → builds.
//!
//! The pipeline reads top to bottom: [`load`](project::Project::load) (files → matrix →
//! validate → graph) → [`render`] → [`hash`] → [`plan`] → build (through [`engine`]) → [`lock`].

// Definition errors carry their source text for diagnostics; they are built once per failure.
#![allow(clippy::result_large_err)]

pub mod build_time;
pub mod builder;
pub mod catalogue;
pub mod closure;
pub mod context;
mod context_sites;
mod debian;
mod definition_error;
pub mod diff;
mod dockerignore;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod graph;
pub mod hash;
pub mod helper;
pub mod https;
pub mod interfaces;
pub mod language_packages;
pub mod licenses;
mod load;
pub mod lock;
mod matrix;
pub mod package_cache;
pub mod plan;
pub mod project;
pub mod registry;
pub mod render;
pub mod sbom;
pub mod scheduler;
pub mod session;
pub mod stack;
mod stack_file;
pub mod subnet;
pub mod suite;
pub mod templates;
pub mod units;
pub mod update;
pub mod upstream;
mod validate;
pub mod worker_run;

pub use catalogue::Catalogue;
pub use error::{Error, Result};
pub use project::{Project, Settings};
pub use session::Session;
pub use stack::Stack;
