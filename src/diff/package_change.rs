//! `PackageChange`: one Debian package added to, removed from, or moved in a stack's image.

use serde::Serialize;

use crate::closure::PackageRecord;

/// What happened to the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    Added { version: String },
    Removed { version: String },
    Moved { from: String, to: String },
}

/// One package's change in one stack's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageChange {
    /// `name:architecture`, or the bare name when a lock recorded no closure.
    pub package: String,
    /// The source package (the new one, for a move).
    pub source: String,
    #[serde(flatten)]
    pub change: Change,
    /// The same change happened in the parent's image (the stack inherited it).
    pub inherited: bool,
}

impl PackageChange {
    /// The change between `old` and `new` records of `package`, if any.
    pub fn between(
        package: &str,
        old: Option<&PackageRecord>,
        new: Option<&PackageRecord>,
    ) -> Option<PackageChange> {
        let name = package.split(':').next().unwrap_or(package);
        let (change, source) = match (old, new) {
            (None, Some(n)) => (
                Change::Added {
                    version: n.version.clone(),
                },
                n.source_name(name).to_string(),
            ),
            (Some(o), None) => (
                Change::Removed {
                    version: o.version.clone(),
                },
                o.source_name(name).to_string(),
            ),
            (Some(o), Some(n)) if o.version != n.version => (
                Change::Moved {
                    from: o.version.clone(),
                    to: n.version.clone(),
                },
                n.source_name(name).to_string(),
            ),
            _ => return None,
        };
        Some(PackageChange {
            package: package.to_string(),
            source,
            change,
            inherited: false,
        })
    }

    /// `libssl3 3.0.17-1~deb12u2 → 3.0.17-1~deb12u3 (openssl)`, as the report prints it.
    pub fn describe(&self) -> String {
        let name = self
            .package
            .strip_suffix(":amd64")
            .or_else(|| self.package.strip_suffix(":all"))
            .unwrap_or(&self.package);
        let source = if self.source == name {
            String::new()
        } else {
            format!(" ({})", self.source)
        };
        match &self.change {
            Change::Added { version } => format!("+{name} {version}{source}"),
            Change::Removed { version } => format!("-{name} {version}{source}"),
            Change::Moved { from, to } => format!("{name} {from} → {to}{source}"),
        }
    }
}
