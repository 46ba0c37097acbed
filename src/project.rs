//! A ferrostack project on disk: its root, settings, and where everything lives.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalogue::Catalogue;
use crate::error::{Error, Result};

/// The settings file at the project root (optional).
pub const SETTINGS_FILE: &str = "ferrostack.toml";

/// The lock at the project root.
pub const LOCK_FILE: &str = "images.lock";

/// Project-wide build settings: `ferrostack.toml`, then environment, then command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Image repository every stack is tagged into: `<repository>:<stack or tag>`.
    pub repository: String,
    /// A CA bundle the images trust (for TLS-intercepting proxies); its bytes are hashed.
    pub ca_bundle: Option<PathBuf>,
    /// The `ferrostack-media` crate bundled into `[ffmpeg] helper = true` stacks (default
    /// `crates/media` under the project root, when present).
    pub media_crate: Option<PathBuf>,
    /// Run the package cache during builds (see [`crate::package_cache`]); on by default.
    pub package_cache: bool,
    /// Hosts the package cache serves besides the catalogue's mirrors (`host`, `host:port` or
    /// a URL; see [`crate::package_cache::AllowList::allow`]).
    pub package_cache_allow: Vec<String>,
    /// The package cache directory's budget in bytes, applied at the end of every build.
    pub package_cache_max_size: u64,
    /// The registry images are pushed to and looked up in (`host:port/path`); none: the
    /// engine is the only place images live.
    pub registry: Option<String>,
    /// Speak plain HTTP to a registry that is not on loopback (`registry_insecure = true`).
    pub registry_insecure: bool,
    /// The engines a build spreads over (`[[engine]]`, FERROSTACK_ENGINES, `--engine`); empty:
    /// the one engine of `DOCKER_HOST`, as before.
    pub engines: Vec<crate::fleet::EngineSpec>,
    /// The npm registry release tarballs (npm itself, for Node) are fetched from; their bytes
    /// are pinned, so a mirror serves as well (see [`crate::upstream`]).
    pub npm_registry: String,
}

impl Settings {
    /// The registry, when one is set (settings are checked when the project opens).
    pub fn registry_address(&self) -> Option<crate::registry::RegistryAddress> {
        self.registry
            .as_deref()
            .and_then(|r| crate::registry::RegistryAddress::parse(r).ok())
            .map(|a| a.insecure(self.registry_insecure))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            repository: "ferrostack".to_string(),
            ca_bundle: None,
            media_crate: None,
            package_cache: true,
            package_cache_allow: Vec::new(),
            package_cache_max_size: crate::package_cache::DEFAULT_MAX_SIZE,
            registry: None,
            registry_insecure: false,
            engines: Vec::new(),
            npm_registry: crate::upstream::DEFAULT_NPM_REGISTRY.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    repository: Option<String>,
    registry: Option<String>,
    registry_insecure: Option<bool>,
    #[serde(default)]
    engine: Vec<crate::fleet::EngineSpec>,
    #[serde(default)]
    build: BuildSection,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BuildSection {
    ca_bundle: Option<PathBuf>,
    media_crate: Option<PathBuf>,
    package_cache: Option<bool>,
    package_cache_allow: Option<Vec<String>>,
    package_cache_max_size: Option<SizeValue>,
    npm_registry: Option<String>,
}

/// A switch from the environment: `1/true/yes/on` or `0/false/no/off`.
fn on_or_off(variable: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Settings {
            message: format!("{variable}=`{value}` is neither on nor off"),
            help: Some("use 1/true/yes/on or 0/false/no/off".into()),
        }),
    }
}

/// A size written as a number of bytes or with a unit (`"10GB"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// A project: a directory holding `stacks/`, optionally `templates/` and `ferrostack.toml`.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub settings: Settings,
}

impl Project {
    /// Opens the project at `root`, reading `ferrostack.toml` and then the environment
    /// (`FERROSTACK_REPOSITORY`, `FERROSTACK_REGISTRY`, `FERROSTACK_ENGINES` comma-separated, `FERROSTACK_CA_BUNDLE`, `FERROSTACK_MEDIA_CRATE`,
    /// `FERROSTACK_PACKAGE_CACHE`, `FERROSTACK_PACKAGE_CACHE_ALLOW` comma-separated).
    pub fn open(root: impl AsRef<Path>) -> Result<Project> {
        let root = root.as_ref();
        let root = root
            .canonicalize()
            .map_err(|e| Error::io("open project root", root, e))?;
        let mut settings = Settings::default();
        let path = root.join(SETTINGS_FILE);
        if path.exists() {
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::io("read settings", &path, e))?;
            let file: SettingsFile = toml::from_str(&text).map_err(|e| Error::Settings {
                message: format!("{}: {}", SETTINGS_FILE, e.message().trim()),
                help: Some(
                    "keys: `repository`, `registry`, `registry_insecure`, `[[engine]] address/slots/network`, `[build] ca_bundle`, `[build] media_crate`, `[build] package_cache`, `[build] package_cache_allow`, `[build] package_cache_max_size`, `[build] npm_registry`"
                        .into(),
                ),
            })?;
            if let Some(r) = file.repository {
                settings.repository = r;
            }
            settings.registry = file.registry;
            settings.engines = file.engine;
            settings.registry_insecure = file.registry_insecure.unwrap_or(false);
            settings.ca_bundle = file.build.ca_bundle.map(|p| root.join(p));
            settings.media_crate = file.build.media_crate.map(|p| root.join(p));
            settings.package_cache = file.build.package_cache.unwrap_or(true);
            settings.package_cache_allow = file.build.package_cache_allow.unwrap_or_default();
            if let Some(r) = file.build.npm_registry {
                settings.npm_registry = r;
            }
            settings.package_cache_max_size = match file.build.package_cache_max_size {
                None => settings.package_cache_max_size,
                Some(SizeValue::Bytes(n)) => n,
                Some(SizeValue::Text(t)) => {
                    crate::units::parse_size(&t).map_err(|e| Error::Settings {
                        message: format!("{SETTINGS_FILE}: `[build] package_cache_max_size`: {e}"),
                        help: Some("e.g. `package_cache_max_size = \"10GB\"`".into()),
                    })?
                }
            };
        }
        if let Ok(r) = std::env::var("FERROSTACK_REPOSITORY") {
            if !r.is_empty() {
                settings.repository = r;
            }
        }
        if let Ok(r) = std::env::var("FERROSTACK_REGISTRY") {
            settings.registry = Some(r).filter(|r| !r.is_empty());
        }
        if let Ok(v) = std::env::var("FERROSTACK_REGISTRY_INSECURE") {
            settings.registry_insecure = on_or_off("FERROSTACK_REGISTRY_INSECURE", &v)?;
        }
        if let Ok(e) = std::env::var("FERROSTACK_ENGINES") {
            if !e.trim().is_empty() {
                settings.engines = crate::fleet::EngineSpec::list(&e);
            }
        }
        if settings.media_crate.is_none() && root.join("crates/media/Cargo.toml").is_file() {
            settings.media_crate = Some(root.join("crates/media"));
        }
        if let Ok(m) = std::env::var("FERROSTACK_MEDIA_CRATE") {
            settings.media_crate = if m.is_empty() {
                None
            } else {
                Some(PathBuf::from(m))
            };
        }
        if let Ok(v) = std::env::var("FERROSTACK_PACKAGE_CACHE") {
            settings.package_cache = on_or_off("FERROSTACK_PACKAGE_CACHE", &v)?;
        }
        if let Ok(a) = std::env::var("FERROSTACK_PACKAGE_CACHE_ALLOW") {
            settings.package_cache_allow = a
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(String::from)
                .collect();
        }
        if let Ok(r) = std::env::var("FERROSTACK_NPM_REGISTRY") {
            if !r.is_empty() {
                settings.npm_registry = r;
            }
        }
        if let Ok(c) = std::env::var("FERROSTACK_CA_BUNDLE") {
            settings.ca_bundle = if c.is_empty() {
                None
            } else {
                Some(PathBuf::from(c))
            };
        }
        let project = Project { root, settings };
        project.check_settings()?;
        Ok(project)
    }

    /// Validates settings that came from any source.
    pub fn check_settings(&self) -> Result<()> {
        let r = &self.settings.repository;
        let ok = !r.is_empty()
            && r.chars().all(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, '.' | '_' | '-' | '/' | ':')
            })
            && !r.ends_with(':');
        if !ok {
            return Err(Error::Settings {
                message: format!("`{r}` is not a valid image repository"),
                help: Some("use lowercase letters, digits, `.`, `_`, `-` and `/`, e.g. `ferrostack` or `registry.local/stacks`".into()),
            });
        }
        if let Some(r) = &self.settings.registry {
            crate::registry::RegistryAddress::parse(r).map_err(|message| Error::Settings {
                message: format!("`registry`: {message}"),
                help: Some("set `registry = \"host:port/path\"` in ferrostack.toml, FERROSTACK_REGISTRY or `--registry`".into()),
            })?;
        }
        crate::fleet::EngineSpec::check_all(&self.settings.engines).map_err(|message| Error::Settings {
            message,
            help: Some("list engines as `[[engine]] address = \"unix:///var/run/docker.sock\"` in ferrostack.toml, FERROSTACK_ENGINES=unix:///a.sock,tcp://host:2375 or `--engine ADDR` (repeatable)".into()),
        })?;
        let mut allow = crate::package_cache::AllowList::empty();
        for entry in &self.settings.package_cache_allow {
            allow.allow(entry).map_err(|e| Error::Settings {
                message: format!("`[build] package_cache_allow`: {e}"),
                help: Some("list hosts as `deb.example.org`, `apt-cacher.local:3142` or `http://mirror.example/debian`".into()),
            })?;
        }
        let npm = &self.settings.npm_registry;
        if !(npm.starts_with("https://") || npm.starts_with("http://"))
            || npm.contains(char::is_whitespace)
        {
            return Err(Error::Settings {
                message: format!("`[build] npm_registry`: `{npm}` is not an http(s) URL"),
                help: Some(format!(
                    "e.g. `npm_registry = \"{}\"` (or FERROSTACK_NPM_REGISTRY)",
                    crate::upstream::DEFAULT_NPM_REGISTRY
                )),
            });
        }
        if let Some(ca) = &self.settings.ca_bundle {
            if !ca.is_file() {
                return Err(Error::Settings {
                    message: format!("CA bundle `{}` does not exist", ca.display()),
                    help: Some("point `ca_bundle` (or FERROSTACK_CA_BUNDLE, or --ca-bundle) at a PEM file, e.g. /etc/ssl/certs/ca-certificates.crt".into()),
                });
            }
        }
        Ok(())
    }

    /// `stacks/`.
    pub fn stacks_dir(&self) -> PathBuf {
        self.root.join("stacks")
    }

    /// The project's own `templates/` (overrides the bundled ones file by file).
    pub fn templates_dir(&self) -> PathBuf {
        self.root.join("templates")
    }

    /// `images.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    /// `target/ferrostack/`: logs, the lock guard, the package cache, scratch space. Never
    /// committed.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("target").join("ferrostack")
    }

    /// Loads, expands and validates every stack definition.
    pub fn load(&self) -> Result<Catalogue> {
        let loaded = crate::load::load_stacks(&self.root, &self.stacks_dir())?;
        let mut expanded = Vec::new();
        let mut errors = Vec::new();
        for file in &loaded {
            match crate::matrix::expand(file) {
                Ok(mut e) => expanded.append(&mut e),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if let Some(e) = Error::from_definitions(errors) {
            return Err(e);
        }
        crate::validate::validate(&self.root, expanded)
    }

    /// The image reference of a stack or tag in this project's repository.
    pub fn image_ref(&self, tag: &str) -> String {
        format!("{}:{}", self.settings.repository, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_with(settings: &str) -> Result<Project> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SETTINGS_FILE), settings).unwrap();
        Project::open(dir.path())
    }

    #[test]
    fn package_cache_allow_list_and_budget() {
        let project = open_with("[build]\npackage_cache_allow = [\"localhost:3142\", \"http://mirror.example/debian\"]\npackage_cache_max_size = \"5GB\"\n").unwrap();
        assert_eq!(
            project.settings.package_cache_allow,
            ["localhost:3142", "http://mirror.example/debian"]
        );
        assert_eq!(project.settings.package_cache_max_size, 5_000_000_000);
        assert_eq!(
            open_with("[build]\npackage_cache_max_size = 1000\n")
                .unwrap()
                .settings
                .package_cache_max_size,
            1000
        );
        assert_eq!(
            open_with("").unwrap().settings.package_cache_max_size,
            10_000_000_000
        );
        let err = open_with("[build]\npackage_cache_allow = [\"bad host\"]\n").unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"`[build] package_cache_allow`: `bad host` is not a host, `host:port` or URL");
        let err = open_with("[build]\npackage_cache_max_size = \"lots\"\n").unwrap_err();
        insta::assert_snapshot!(err.to_string(), @"ferrostack.toml: `[build] package_cache_max_size`: `lots` is not a size (e.g. `600MB`, `512m`, `2GiB`)");
    }
}
