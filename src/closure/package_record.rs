//! `PackageRecord`: one installed Debian package's version and source, in the lock's compact
//! form `VERSION[ src=SOURCE[@SOURCE_VERSION]]` (the source named only when it differs from the
//! package, its version only when it differs from the package's).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A package's version, and the source package it was built from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageRecord {
    pub version: String,
    /// The source package, when it is not named like the binary package.
    pub source: Option<String>,
    /// The source version, when it is not the binary version (binNMUs, `python3-defaults`).
    pub source_version: Option<String>,
}

impl PackageRecord {
    /// From dpkg's fields; the source and its version are kept only when they differ.
    pub fn new(package: &str, version: &str, source: &str, source_version: &str) -> PackageRecord {
        PackageRecord {
            version: version.to_string(),
            source: Some(source.to_string()).filter(|s| !s.is_empty() && s != package),
            source_version: Some(source_version.to_string())
                .filter(|v| !v.is_empty() && v != version),
        }
    }

    /// The source package's name (the package's own when it is built from a namesake source).
    pub fn source_name<'a>(&'a self, package: &'a str) -> &'a str {
        self.source.as_deref().unwrap_or(package)
    }
}

impl fmt::Display for PackageRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.version)?;
        match (&self.source, &self.source_version) {
            (Some(s), Some(v)) => write!(f, " src={s}@{v}"),
            (Some(s), None) => write!(f, " src={s}"),
            (None, Some(v)) => write!(f, " src=@{v}"),
            (None, None) => Ok(()),
        }
    }
}

impl FromStr for PackageRecord {
    type Err = String;

    /// Reads the compact form; versions must be Debian versions and sources package names (a
    /// lock is edited in pull requests).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (version, source) = match text.split_once(" src=") {
            Some((v, s)) => (v, Some(s)),
            None => (text, None),
        };
        let bad = || format!("`{text}` is not `VERSION[ src=SOURCE[@VERSION]]`");
        if !crate::debian::is_version(version) {
            return Err(bad());
        }
        let (source, source_version) = match source.map(|s| s.split_once('@').unwrap_or((s, ""))) {
            None => (None, None),
            Some((name, v)) => {
                let name_ok = name.is_empty() || crate::debian::is_package_name(name);
                let version_ok = v.is_empty() || crate::debian::is_version(v);
                if !name_ok || !version_ok || (name.is_empty() && v.is_empty()) {
                    return Err(bad());
                }
                (
                    Some(name.to_string()).filter(|n| !n.is_empty()),
                    Some(v.to_string()).filter(|v| !v.is_empty()),
                )
            }
        };
        Ok(PackageRecord {
            version: version.to_string(),
            source,
            source_version,
        })
    }
}

impl Serialize for PackageRecord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PackageRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_form_names_the_source_only_when_it_differs() {
        let cases = [
            (
                PackageRecord::new("curl", "7.88.1-10+deb12u12", "curl", "7.88.1-10+deb12u12"),
                "7.88.1-10+deb12u12",
            ),
            (
                PackageRecord::new("libssl3", "3.0.17-1~deb12u2", "openssl", "3.0.17-1~deb12u2"),
                "3.0.17-1~deb12u2 src=openssl",
            ),
            (
                PackageRecord::new("python3", "3.11.2-1+b1", "python3-defaults", "3.11.2-1"),
                "3.11.2-1+b1 src=python3-defaults@3.11.2-1",
            ),
            (
                PackageRecord::new("libc6", "2.36-9+deb12u10+b1", "libc6", "2.36-9+deb12u10"),
                "2.36-9+deb12u10+b1 src=@2.36-9+deb12u10",
            ),
        ];
        for (record, text) in cases {
            assert_eq!(record.to_string(), text);
            assert_eq!(text.parse::<PackageRecord>(), Ok(record));
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "1.0 src=",
            "1.0 src=@",
            "1.0; rm -rf /",
            "1.0 src=Bad_Name",
            "1.0 src=ok@not a version",
            "$(id)",
        ] {
            assert!(text.parse::<PackageRecord>().is_err(), "{text:?}");
        }
    }
}
