//! `Installed`: every package an image's dpkg database lists as installed, keyed
//! `name:architecture`, and how a child's set differs from its parent's.

use std::collections::BTreeMap;

use super::PackageRecord;

/// The shell command that lists an image's installed packages, one per line, tab-separated:
/// status, name, architecture, version, source, source version. An image without dpkg lists
/// nothing.
pub const QUERY: &str = "command -v dpkg-query >/dev/null 2>&1 || exit 0; dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Architecture}\\t${Version}\\t${source:Package}\\t${source:Version}\\n'";

/// The installed packages of one image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    pub packages: BTreeMap<String, PackageRecord>,
}

impl Installed {
    /// Reads [`QUERY`]'s output; lines of packages not fully installed (`ii`) are left out, and
    /// so is anything that is not six fields with a Debian version.
    pub fn parse(output: &str) -> Installed {
        let mut packages = BTreeMap::new();
        for line in output.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [status, name, arch, version, source, source_version] = fields[..] else {
                continue;
            };
            if !status.starts_with("ii")
                || !crate::debian::is_package_name(name)
                || !crate::debian::is_version(version)
                || arch.is_empty()
            {
                continue;
            }
            packages.insert(
                format!("{name}:{arch}"),
                PackageRecord::new(name, version, source, source_version),
            );
        }
        Installed { packages }
    }

    /// The packages this image has that `parent` has not, or has at another version or source.
    pub fn added_or_changed_since(&self, parent: &Installed) -> BTreeMap<String, PackageRecord> {
        self.packages
            .iter()
            .filter(|(key, record)| parent.packages.get(*key) != Some(record))
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    /// The packages `parent` has that this image no longer has.
    pub fn removed_since(&self, parent: &Installed) -> Vec<String> {
        parent
            .packages
            .keys()
            .filter(|key| !self.packages.contains_key(*key))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_records_what_it_added_or_moved_and_what_went() {
        let parent = Installed::parse("ii \tlibc6\tamd64\t2.36-9+deb12u9\tglibc\t2.36-9+deb12u9\nii \tlibssl3\tamd64\t3.0.17-1~deb12u2\topenssl\t3.0.17-1~deb12u2\nii \tvim-tiny\tamd64\t2:9.0.1378-2\tvim\t2:9.0.1378-2\n");
        let child = Installed::parse(
            "ii \tlibc6\tamd64\t2.36-9+deb12u9\tglibc\t2.36-9+deb12u9\nii \tlibssl3\tamd64\t3.0.17-1~deb12u3\topenssl\t3.0.17-1~deb12u3\nii \tpython3\tamd64\t3.11.2-1+b1\tpython3-defaults\t3.11.2-1\nrc \told\tamd64\t1.0\told\t1.0\nii \tbroken line\n",
        );
        let added: Vec<String> = child
            .added_or_changed_since(&parent)
            .iter()
            .map(|(k, r)| format!("{k} = {r}"))
            .collect();
        assert_eq!(
            added,
            [
                "libssl3:amd64 = 3.0.17-1~deb12u3 src=openssl",
                "python3:amd64 = 3.11.2-1+b1 src=python3-defaults@3.11.2-1"
            ]
        );
        assert_eq!(child.removed_since(&parent), ["vim-tiny:amd64"]);
        assert_eq!(Installed::parse("").packages.len(), 0);
    }
}
