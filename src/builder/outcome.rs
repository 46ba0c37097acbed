//! The result of `ferrostack build`: per stack what happened, and the failures' log tails.

use serde::Serialize;

/// How one stack ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum StackOutcome {
    /// Built (or found in the engine), checked, tagged, recorded.
    Built { image: String, seconds: f64, cached: bool },
    /// Nothing to do.
    UpToDate,
    /// Not attempted: its parent failed, or the run was interrupted.
    Skipped { reason: String },
    /// The build or a check failed.
    Failed { reason: String, log_tail: Vec<String> },
}

/// Every selected stack's outcome, in plan order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    pub stacks: Vec<(String, StackOutcome)>,
    pub interrupted: bool,
}

impl BuildReport {
    /// Stacks that failed.
    pub fn failed(&self) -> usize {
        self.stacks.iter().filter(|(_, o)| matches!(o, StackOutcome::Failed { .. })).count()
    }
}
