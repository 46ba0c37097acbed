//! `UpdateReport`: what `update` found (pin changes, moves, notes) and the pins it leaves.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Move, PinChange};

/// Something `update` could not do for a stack, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateNote {
    pub stack: String,
    pub message: String,
}

/// What `update` found, parents first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpdateReport {
    /// Pins that move (or appear), dependencies included.
    pub changes: Vec<PinChange>,
    /// The changes that move a version, by package, with the stacks they affect.
    pub moves: Vec<Move>,
    /// Stacks asked about, with the image the mirror was queried from.
    pub queried: Vec<(String, String)>,
    /// Stacks or packages left alone (no lock entry yet, no candidate on the mirror, a pin
    /// dropped because the stack no longer installs the package).
    pub notes: Vec<UpdateNote>,
    /// The lock's pins differ from what the mirror offers (moved, new or dropped pins).
    pub would_change: bool,
    /// The lock was rewritten.
    pub written: bool,
}

/// A stack's pins as `update` leaves them: named packages, and their dependencies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackPins {
    pub named: BTreeMap<String, String>,
    pub dependencies: BTreeMap<String, BTreeMap<String, String>>,
}
