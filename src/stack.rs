//! A validated stack: everything needed to render, hash and build one image.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::suite::RuntimeKind;

/// Where a stack's image starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// Another stack of the catalogue.
    Parent { name: String },
    /// An external image reference, used locally or pulled.
    Image { reference: String },
    /// A root filesystem made from Debian's mirror.
    Bootstrap(Bootstrap),
}

/// debootstrap settings of a root stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bootstrap {
    pub suite: String,
    pub variant: String,
    pub mirror: String,
    pub components: Vec<String>,
}

/// A runtime resolved against the stack's suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runtime {
    pub name: RuntimeKind,
    pub version: String,
    pub packages: Vec<String>,
    /// A release tarball installed beside the packages (npm for Node): its integrity is part
    /// of the definition, so of the hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<crate::upstream::Release>,
}

/// `[ffmpeg]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ffmpeg {
    pub version: String,
    pub helper: bool,
}

/// `[composer]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Composer {
    /// Directory (relative to the context) holding `composer.json`.
    pub install: Option<String>,
    /// Where that directory goes in the image.
    pub dest: String,
}

/// One `[[step]]` layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    Run { command: String },
    Apt { packages: Vec<String> },
    Pip { packages: Vec<String> },
    Npm { packages: Vec<String> },
    Gem { packages: Vec<String> },
    Copy { src: String, dest: String },
}

impl Step {
    /// The step's kind, as written in stack files.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Run { .. } => "run",
            Step::Apt { .. } => "apt",
            Step::Pip { .. } => "pip",
            Step::Npm { .. } => "npm",
            Step::Gem { .. } => "gem",
            Step::Copy { .. } => "copy",
        }
    }
}

/// `[[check]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub run: String,
    /// Seconds before the check is killed.
    pub timeout: u64,
}

/// Where a stack is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Supported,
    /// Still built, with a warning.
    Deprecated,
    /// Not built any more; no stack may depend on it.
    Eol,
}

impl Status {
    fn is_supported(&self) -> bool {
        *self == Status::Supported
    }

    /// The value as written in stack files.
    pub fn name(self) -> &'static str {
        match self {
            Status::Supported => "supported",
            Status::Deprecated => "deprecated",
            Status::Eol => "eol",
        }
    }
}

/// Where a slim image keeps its settings: dpkg's exclusions, and apt's (no translated
/// package descriptions).
pub const SLIM_CONFIG: SlimConfig = SlimConfig {
    dpkg: "/etc/dpkg/dpkg.cfg.d/ferrostack-slim",
    apt: "/etc/apt/apt.conf.d/90ferrostack-slim",
};

/// The files [`SLIM_CONFIG`] names.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SlimConfig {
    pub dpkg: &'static str,
    pub apt: &'static str,
}

/// How a stack's Debian installs are layered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layers {
    /// One `apt-get install` layer per component: system packages, each runtime, FFmpeg,
    /// Composer. A sibling with the same parent reuses a layer it shares.
    #[default]
    PerComponent,
    /// One `apt-get install` for the system packages, runtimes, FFmpeg and Composer together:
    /// one index download, one resolver run, one round of triggers.
    Merged,
}

impl Layers {
    fn is_per_component(&self) -> bool {
        *self == Layers::PerComponent
    }

    /// The value as written in stack files.
    pub fn name(self) -> &'static str {
        match self {
            Layers::PerComponent => "per-component",
            Layers::Merged => "merged",
        }
    }

    /// Every value, as written.
    pub const NAMES: [&'static str; 2] = ["per-component", "merged"];
}

/// One stack after matrix expansion and validation.
#[derive(Debug, Clone, Serialize)]
pub struct Stack {
    pub name: String,
    pub description: String,
    pub origin: Origin,
    /// Debian codename the image is based on.
    pub suite: String,
    pub tags: Vec<String>,
    pub packages: Vec<String>,
    pub runtimes: Vec<Runtime>,
    pub ffmpeg: Option<Ffmpeg>,
    pub composer: Option<Composer>,
    pub steps: Vec<Step>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Status::is_supported")]
    pub status: Status,
    /// Largest allowed image size in bytes; a bigger image fails its checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
    /// How the Debian installs are layered (`layers =`).
    #[serde(skip_serializing_if = "Layers::is_per_component")]
    pub layers: Layers,
    /// Whether dpkg leaves documentation, man pages and translations out (`slim =`, or the
    /// parent's): the image carries the exclusions in [`SLIM_CONFIG`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub slim: bool,
    /// Whether the parent image already carries the exclusions.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub parent_slim: bool,
    /// The matrix variables this stack was expanded with.
    pub vars: BTreeMap<String, String>,
    /// The definition file, relative to the project root, `/`-separated.
    #[serde(skip)]
    pub source: String,
    /// The stack's context directory, relative to the project root, `/`-separated.
    #[serde(skip)]
    pub context: String,
    /// Where the stack file names its context directory and paths in it, for errors found
    /// while walking the directory.
    #[serde(skip)]
    pub context_sites: crate::context_sites::ContextSites,
}

impl Stack {
    /// The Debian packages the stack asks for itself, as written (`pkg` or `pkg=version`):
    /// system packages, runtimes, FFmpeg, Composer and `apt` steps, sorted, without repeats.
    pub fn apt_packages(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.packages.iter().map(String::as_str).collect();
        for r in &self.runtimes {
            out.extend(r.packages.iter().map(String::as_str));
        }
        if self.ffmpeg.is_some() {
            out.push("ffmpeg");
        }
        if self.composer.is_some() {
            out.push("composer");
        }
        for s in &self.steps {
            if let Step::Apt { packages } = s {
                out.extend(packages.iter().map(String::as_str));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The Debian packages of each `apt-get install` the Dockerfile runs, in the order it runs
    /// them (system packages, each runtime, FFmpeg, Composer, `apt` steps), as written; with
    /// `layers = "merged"` the components are one install.
    pub fn apt_installs(&self) -> Vec<Vec<&str>> {
        let mut out: Vec<Vec<&str>> = self
            .component_installs()
            .into_iter()
            .map(|(_, packages)| packages)
            .collect();
        for s in &self.steps {
            if let Step::Apt { packages } = s {
                out.push(packages.iter().map(String::as_str).collect());
            }
        }
        out.retain(|g| !g.is_empty());
        out
    }

    /// The components' installs in Dockerfile order, each with what it installs (`System
    /// packages`, `python 3.11`, `FFmpeg 5.1`, `Composer`): one per component, or one for all
    /// when [`merges`](Self::merges). Components without packages are left out.
    pub fn component_installs(&self) -> Vec<(String, Vec<&str>)> {
        let out = self.components();
        if !self.merges() {
            return out;
        }
        let what: Vec<String> = out.iter().map(|(w, _)| w.clone()).collect();
        let packages: Vec<&str> = out.into_iter().flat_map(|(_, p)| p).collect();
        vec![(what.join(", "), packages)]
    }

    /// Whether `layers = "merged"` joins installs: it does when there are two components or more.
    pub fn merges(&self) -> bool {
        self.layers == Layers::Merged && self.components().len() > 1
    }

    fn components(&self) -> Vec<(String, Vec<&str>)> {
        let mut out: Vec<(String, Vec<&str>)> = Vec::new();
        if !self.packages.is_empty() {
            out.push((
                "System packages".into(),
                self.packages.iter().map(String::as_str).collect(),
            ));
        }
        for r in &self.runtimes {
            out.push((
                format!("{} {}", r.name.name(), r.version),
                r.packages.iter().map(String::as_str).collect(),
            ));
        }
        if let Some(f) = &self.ffmpeg {
            out.push((format!("FFmpeg {}", f.version), vec!["ffmpeg"]));
        }
        if self.composer.is_some() {
            out.push(("Composer".into(), vec!["composer"]));
        }
        out.retain(|(_, p)| !p.is_empty());
        out
    }

    /// The parent stack's name, if the origin is a stack.
    pub fn parent(&self) -> Option<&str> {
        match &self.origin {
            Origin::Parent { name } => Some(name),
            _ => None,
        }
    }
}
