//! Release tarballs ferrostack fetches beside Debian's packages (npm's own release for the
//! Node runtime): pinned by version and integrity, downloaded once into the state directory,
//! verified byte for byte, and unpacked into the files a build context carries.
//!
//! Debian's `npm` package is npm split into 335 `node-*` packages: installing it was the largest
//! single piece of work in the catalogue build (README, issue 14). npm's own release is one
//! tarball with its dependencies bundled, the same npm version.

mod error;
mod fetch;
mod release;
mod unpack;

pub use error::UpstreamError;
pub use fetch::fetch;
pub use release::{Release, NPM_9_2_0};
pub use unpack::unpack;

/// The npm registry releases are fetched from unless `[build] npm_registry` says otherwise.
pub const DEFAULT_NPM_REGISTRY: &str = "https://registry.npmjs.org";
