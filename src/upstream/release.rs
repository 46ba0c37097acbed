//! `Release`: one pinned release tarball of the npm registry, and where it goes in an image.

use base64::Engine as _;
use serde::Serialize;

/// A package release pinned by its registry integrity (`sha512-<base64>`, as the registry's
/// `dist.integrity` records it), installed under `/usr/local` the way Node's own images do:
/// `lib/node_modules/<name>` with its commands linked into `bin/`. Everything that shapes the
/// installed files is serialised, so it is part of a stack's definition and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Release {
    pub name: &'static str,
    pub version: &'static str,
    pub integrity: &'static str,
    /// Commands linked into `/usr/local/bin`: (command, path inside the package).
    pub bins: &'static [(&'static str, &'static str)],
    /// npm's built-in configuration, written as `npmrc` in the package (the settings Debian's
    /// npm has: global installs under `/usr/local`, the global config in `/etc/npmrc`).
    pub builtin_config: &'static str,
    /// The SPDX licence the package declares (for the SBOM; the integrity pins the bytes).
    #[serde(skip)]
    pub license: &'static str,
}

/// npm 9.2.0, the version Debian bookworm and trixie ship.
pub const NPM_9_2_0: Release = Release {
    name: "npm",
    version: "9.2.0",
    integrity: "sha512-oypVdaWGHDuV79RXLvp+B9gh6gDyAmoHKrQ0/JBYTWWx5D8/+AAxFdZC84fSIiyDdyW4qfrSyYGKhekxDOaMXQ==",
    bins: &[("npm", "bin/npm-cli.js"), ("npx", "bin/npx-cli.js")],
    builtin_config: "globalconfig=/etc/npmrc\nglobalignorefile=/etc/npmignore\nprefix=/usr/local\n",
    license: "Artistic-2.0",
};

impl Release {
    /// `npm-9.2.0.tgz`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.name, self.version)
    }

    /// The tarball's address on `registry` (`https://registry.npmjs.org/npm/-/npm-9.2.0.tgz`).
    pub fn url(&self, registry: &str) -> String {
        format!(
            "{}/{}/-/{}",
            registry.trim_end_matches('/'),
            self.name,
            self.file_name()
        )
    }

    /// The build-context directory holding what goes under `/usr/local` (`ferrostack-npm`).
    pub fn context_dir(&self) -> String {
        format!("ferrostack-{}", self.name)
    }

    /// The sha512 the integrity names, or `None` when it is not a `sha512-<base64>` value.
    pub fn sha512(&self) -> Option<Vec<u8>> {
        let b64 = self.integrity.strip_prefix("sha512-")?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .filter(|d| d.len() == 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_release_names_a_sha512_and_its_registry_address() {
        assert_eq!(NPM_9_2_0.sha512().map(|d| d.len()), Some(64));
        assert_eq!(
            NPM_9_2_0.url("https://registry.npmjs.org/"),
            "https://registry.npmjs.org/npm/-/npm-9.2.0.tgz"
        );
        assert_eq!(NPM_9_2_0.context_dir(), "ferrostack-npm");
        let sha1 = Release {
            integrity: "sha1-AAAA",
            ..NPM_9_2_0
        };
        assert_eq!(sha1.sha512(), None);
    }

    #[test]
    fn what_shapes_the_installed_files_is_in_the_definition() {
        let key = serde_json::to_string(&NPM_9_2_0).unwrap();
        for part in [
            "9.2.0",
            "sha512-oypV",
            "bin/npm-cli.js",
            "prefix=/usr/local",
        ] {
            assert!(key.contains(part), "{part} in {key}");
        }
        let other = Release {
            builtin_config: "prefix=/opt\n",
            ..NPM_9_2_0
        };
        assert_ne!(serde_json::to_string(&other).unwrap(), key);
    }
}
