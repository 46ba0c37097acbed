//! `PinChange`: one pin `update` moves, and `Move`: one package version change across stacks.

use std::fmt;

use serde::Serialize;

/// One pin that moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinChange {
    pub stack: String,
    pub package: String,
    /// The previous pin; when the package was not pinned, the version the last build
    /// recorded (`packages`), if any.
    pub from: Option<String>,
    /// The mirror's candidate today.
    pub to: String,
    /// For a dependency pin: the named package that pulls it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency_of: Option<String>,
}

impl PinChange {
    /// A real move: the version changes (not a first pin at the version already built).
    pub fn moved(&self) -> bool {
        self.from.as_ref().is_some_and(|from| *from != self.to)
    }
}

/// One package moving from one version to another, and every stack it moves in: for
/// `update --json`, a night's moves at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    pub package: String,
    pub from: String,
    pub to: String,
    /// The named packages that pull it in (empty when a stack names it itself).
    pub dependency_of: Vec<String>,
    /// The stacks whose pins move.
    pub stacks: Vec<String>,
    /// Those stacks and their descendants: every stack the move rebuilds.
    pub rebuilds: Vec<String>,
}

impl fmt::Display for PinChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.from {
            Some(from) if *from == self.to => write!(
                f,
                "{}: {} {} (now pinned)",
                self.stack, self.package, self.to
            ),
            Some(from) => write!(f, "{}: {} {from} → {}", self.stack, self.package, self.to),
            None => write!(
                f,
                "{}: {} (unpinned) → {}",
                self.stack, self.package, self.to
            ),
        }?;
        match &self.dependency_of {
            Some(of) => write!(f, " (dependency of {of})"),
            None => Ok(()),
        }
    }
}
