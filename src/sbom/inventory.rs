//! `Inventory`: everything one stack's image holds, as the lock records it: the Debian packages
//! of its closure on top of its ancestors' (with their licences), the language packages, its runtimes, and the bundled media helper with its
//! crates.

use super::purl;
use crate::error::{Error, Result};
use crate::lock::Lockfile;
use crate::session::Session;

/// What kind of thing an [`Item`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Debian,
    Runtime,
    /// The bundled `ferrostack-media` binary.
    Helper,
    /// A crate compiled into the helper.
    Crate,
    /// A package a language's manager installed (pip, npm, gem, Composer).
    Language,
}

/// One thing in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: ItemKind,
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    /// Debian: the architecture and the source package (and its version when it differs).
    pub arch: Option<String>,
    pub source: Option<(String, String)>,
    /// Debian: the SPDX expression of its source package's licences, when its copyright file
    /// was machine-readable; a release tarball: the licence its package declares.
    pub license: Option<String>,
    /// A release tarball ferrostack fetched (npm): where from, and its sha512 (hex).
    pub download: Option<(String, String)>,
}

/// One stack's image and its contents.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub stack: String,
    /// `<repository>:<stack>`.
    pub image: String,
    pub hash: String,
    pub digest: Option<String>,
    /// The parent stack, when the lock has it (its document is referred to).
    pub parent: Option<String>,
    pub items: Vec<Item>,
}

impl Inventory {
    /// Reads `stack`'s inventory from `lock`; a stack the lock has no closure for
    /// (never built by a ferrostack that records one) is an error saying to build it.
    pub fn of(session: &Session, lock: &Lockfile, stack: &str) -> Result<Inventory> {
        let not_recorded = |why: &str| {
            Error::Settings { message: format!("no SBOM for `{stack}`: {why}"), help: Some("build it (`ferrostack build`): the SBOM is made from what the build records in images.lock".into()) }
        };
        let entry = lock
            .stacks
            .get(stack)
            .ok_or_else(|| not_recorded("images.lock does not record it"))?;
        let (packages, named_only) = lock
            .image_packages(stack)
            .ok_or_else(|| not_recorded("images.lock does not record it"))?;
        if named_only {
            return Err(not_recorded(
                "images.lock records no package closure for it",
            ));
        }
        let definition = session.catalogue.get(stack);
        let licenses = lock.image_licenses(stack);
        let debian_version = definition
            .and_then(|d| crate::suite::Suite::get(&d.suite))
            .map_or("12", |s| s.debian_version);
        let mut items: Vec<Item> = packages
            .iter()
            .map(|(key, record)| {
                let (name, arch) = key.split_once(':').unwrap_or((key, "amd64"));
                Item {
                    kind: ItemKind::Debian,
                    name: name.to_string(),
                    version: record.version.clone(),
                    purl: Some(purl::deb(name, &record.version, arch, debian_version)),
                    arch: Some(arch.to_string()),
                    source: Some((
                        record.source_name(name).to_string(),
                        record
                            .source_version
                            .clone()
                            .unwrap_or_else(|| record.version.clone()),
                    )),
                    license: licenses.get(record.source_name(name)).cloned(),
                    download: None,
                }
            })
            .collect();
        items.extend(lock.image_language_packages(stack).into_iter().filter_map(
            |(key, version)| {
                let (ecosystem, name) = key.split_once(':')?;
                let ecosystem = crate::language_packages::Ecosystem::from_key(ecosystem)?;
                // A release tarball the build fetched and verified (npm) is that language package.
                let release = definition
                    .into_iter()
                    .flat_map(|d| d.runtimes.iter().filter_map(|r| r.release))
                    .find(|r| {
                        ecosystem == crate::language_packages::Ecosystem::Npm
                            && r.name == name
                            && r.version == version
                    });
                Some(Item {
                    kind: ItemKind::Language,
                    purl: Some(ecosystem.purl(name, &version)),
                    name: name.to_string(),
                    version,
                    arch: None,
                    source: None,
                    license: release.map(|r| r.license.to_string()),
                    download: release.and_then(|r| {
                        Some((
                            r.url(&session.project.settings.npm_registry),
                            hex::encode(r.sha512()?),
                        ))
                    }),
                })
            },
        ));
        items.extend(entry.runtimes.iter().map(|(name, version)| Item {
            kind: ItemKind::Runtime,
            name: name.clone(),
            version: version.clone(),
            purl: None,
            arch: None,
            source: None,
            license: None,
            download: None,
        }));
        let bundles_helper =
            definition.is_some_and(|d| d.ffmpeg.as_ref().is_some_and(|f| f.helper));
        if let (true, Some(dir)) = (
            bundles_helper,
            session.project.settings.media_crate.as_deref(),
        ) {
            let (version, crates) = crate::helper::bundled_crates(dir)?;
            items.push(Item {
                kind: ItemKind::Helper,
                name: crate::helper::HELPER_FILE.into(),
                version: version.clone(),
                purl: Some(purl::cargo(crate::helper::HELPER_FILE, &version)),
                arch: None,
                source: None,
                license: None,
                download: None,
            });
            items.extend(crates.into_iter().map(|(name, version)| Item {
                kind: ItemKind::Crate,
                purl: Some(purl::cargo(&name, &version)),
                name,
                version,
                arch: None,
                source: None,
                license: None,
                download: None,
            }));
        }
        Ok(Inventory {
            stack: stack.to_string(),
            image: session.project.image_ref(stack),
            hash: entry.hash.clone(),
            digest: entry.digest.clone(),
            parent: entry.parent.clone().filter(|p| lock.stacks.contains_key(p)),
            items,
        })
    }

    /// The hash's hex digits.
    pub fn hash_hex(&self) -> &str {
        self.hash.strip_prefix("sha256:").unwrap_or(&self.hash)
    }
}
