//! What each Debian suite offers: runtime versions and the packages that provide them.
//!
//! ferrostack installs runtimes from Debian's own packages, so a stack's build reaches no
//! registry but Debian's mirror. One exception: npm comes as its own release tarball (the
//! version Debian ships), which ferrostack fetches on the build machine, verifies against the
//! pinned integrity and copies in (see [`crate::upstream`]). A version is valid when the suite
//! ships it.

use serde::Serialize;

use crate::upstream::{Release, NPM_9_2_0};

/// A supported language runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Python,
    Node,
    Ruby,
    Php,
    Go,
    Java,
}

impl RuntimeKind {
    /// Every runtime, in the order they are documented.
    pub const ALL: [RuntimeKind; 6] = [
        RuntimeKind::Python,
        RuntimeKind::Node,
        RuntimeKind::Ruby,
        RuntimeKind::Php,
        RuntimeKind::Go,
        RuntimeKind::Java,
    ];

    /// The name used in stack files.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Python => "python",
            RuntimeKind::Node => "node",
            RuntimeKind::Ruby => "ruby",
            RuntimeKind::Php => "php",
            RuntimeKind::Go => "go",
            RuntimeKind::Java => "java",
        }
    }

    /// Parses a name from a stack file.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The command that prints the installed version inside an image.
    pub fn version_command(self) -> &'static str {
        match self {
            RuntimeKind::Python => "python3 --version",
            RuntimeKind::Node => "node --version",
            RuntimeKind::Ruby => "ruby -v",
            RuntimeKind::Php => "php -r 'echo PHP_VERSION;'",
            RuntimeKind::Go => "go version",
            RuntimeKind::Java => "java -version 2>&1",
        }
    }
}

/// One runtime version a suite offers, and the Debian packages that install it.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeOffer {
    pub kind: RuntimeKind,
    pub version: &'static str,
    pub packages: &'static [&'static str],
    /// A release tarball installed beside the packages (npm for Node).
    pub release: Option<Release>,
}

/// A Debian suite ferrostack knows how to build on.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    pub codename: &'static str,
    pub debian_version: &'static str,
    /// The FFmpeg major.minor the suite ships.
    pub ffmpeg_version: &'static str,
    pub runtimes: &'static [RuntimeOffer],
}

const fn offer(
    kind: RuntimeKind,
    version: &'static str,
    packages: &'static [&'static str],
) -> RuntimeOffer {
    RuntimeOffer {
        kind,
        version,
        packages,
        release: None,
    }
}

/// Node from Debian's `nodejs`, with npm's own release instead of Debian's `npm` (335 packages).
const fn node(version: &'static str) -> RuntimeOffer {
    RuntimeOffer {
        kind: RuntimeKind::Node,
        version,
        packages: &["nodejs"],
        release: Some(NPM_9_2_0),
    }
}

/// The suites ferrostack has a catalogue for.
pub const SUITES: [Suite; 2] = [
    Suite {
        codename: "bookworm",
        debian_version: "12",
        ffmpeg_version: "5.1",
        runtimes: &[
            offer(
                RuntimeKind::Python,
                "3.11",
                &["python3", "python3-pip", "python3-venv"],
            ),
            node("18"),
            offer(RuntimeKind::Ruby, "3.1", &["ruby", "ruby-dev"]),
            offer(
                RuntimeKind::Php,
                "8.2",
                &[
                    "php8.2-cli",
                    "php8.2-curl",
                    "php8.2-mbstring",
                    "php8.2-xml",
                    "php8.2-zip",
                ],
            ),
            offer(RuntimeKind::Go, "1.19", &["golang-go"]),
            offer(RuntimeKind::Java, "17", &["openjdk-17-jdk-headless"]),
        ],
    },
    Suite {
        codename: "trixie",
        debian_version: "13",
        ffmpeg_version: "7.1",
        runtimes: &[
            offer(
                RuntimeKind::Python,
                "3.13",
                &["python3", "python3-pip", "python3-venv"],
            ),
            node("20"),
            offer(RuntimeKind::Ruby, "3.3", &["ruby", "ruby-dev"]),
            offer(
                RuntimeKind::Php,
                "8.4",
                &[
                    "php8.4-cli",
                    "php8.4-curl",
                    "php8.4-mbstring",
                    "php8.4-xml",
                    "php8.4-zip",
                ],
            ),
            offer(RuntimeKind::Go, "1.24", &["golang-go"]),
            offer(RuntimeKind::Java, "21", &["openjdk-21-jdk-headless"]),
        ],
    },
];

impl Suite {
    /// Finds a suite by codename.
    pub fn get(codename: &str) -> Option<&'static Suite> {
        SUITES.iter().find(|s| s.codename == codename)
    }

    /// Guesses the suite of an external image reference such as `debian:bookworm-slim`.
    pub fn infer_from_image(reference: &str) -> Option<&'static Suite> {
        let tag = reference.rsplit_once(':').map_or(reference, |(_, t)| t);
        SUITES.iter().find(|s| {
            tag.split(['-', '.', '_'])
                .any(|part| part == s.codename || part == s.debian_version)
        })
    }

    /// The versions of `kind` this suite offers.
    pub fn offers(&self, kind: RuntimeKind) -> impl Iterator<Item = &'static RuntimeOffer> {
        self.runtimes.iter().filter(move |o| o.kind == kind)
    }

    /// The offer for `kind` at `version` (`None` = the suite's default), matching `3` to `3.11`.
    pub fn offer(&self, kind: RuntimeKind, version: Option<&str>) -> Option<&'static RuntimeOffer> {
        let mut offers = self.offers(kind);
        match version {
            None => offers.next(),
            Some(v) => offers.find(|o| {
                o.version == v || o.version.split('.').next() == Some(v) && !v.contains('.')
            }),
        }
    }

    /// The codenames of every known suite, for hints.
    pub fn known() -> String {
        SUITES
            .iter()
            .map(|s| format!("`{}`", s.codename))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
