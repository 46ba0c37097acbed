//! `StackDiff`: everything that changed for one stack between two locks.

use serde::Serialize;

use super::PackageChange;

/// Whether the stack is in both locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackPresence {
    Both,
    Added,
    Removed,
}

/// One stack's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackDiff {
    pub name: String,
    pub presence: StackPresence,
    /// Old and new hash, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<(String, String)>,
    /// Old and new manifest digest, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<(Option<String>, Option<String>)>,
    /// Old and new image size in bytes, when it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<(Option<u64>, Option<u64>)>,
    /// Runtime versions that changed: name, old, new.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runtimes: Vec<(String, Option<String>, Option<String>)>,
    /// Debian packages of the image, sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageChange>,
    /// Packages were compared by name only (a lock without a recorded closure).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub named_packages_only: bool,
}

impl StackDiff {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.presence == StackPresence::Both
            && self.hash.is_none()
            && self.digest.is_none()
            && self.size.is_none()
            && self.runtimes.is_empty()
            && self.packages.is_empty()
    }
}
