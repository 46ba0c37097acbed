//! What a build reports while it runs; the binary draws it (bars, plain lines or JSON).

use serde::Serialize;

/// One thing that happened to one stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Progress {
    /// Waiting for its parent or a free job slot.
    Queued { stack: String },
    /// Another ferrostack process holds the project's lock; waiting for it.
    WaitingForLock { path: String },
    /// Given to an engine (a build over several engines only).
    Placed { stack: String, engine: String },
    /// debootstrap is making the root filesystem.
    Bootstrapping { stack: String, line: String },
    /// Building Dockerfile step `index` of `total`.
    Step {
        stack: String,
        index: usize,
        total: usize,
        instruction: String,
    },
    /// Running check `index` of `total`.
    Checking {
        stack: String,
        index: usize,
        total: usize,
        command: String,
    },
    /// Built, checked and tagged.
    Done {
        stack: String,
        seconds: f64,
        image: String,
    },
    /// Not built: up to date, found in the engine, or its parent failed.
    Skipped { stack: String, reason: String },
    /// Build or checks failed.
    Failed { stack: String, reason: String },
    /// Something about the whole run (e.g. the package cache's address, or why it is off).
    Note { message: String },
}

impl Progress {
    /// The stack the event is about, if any.
    pub fn stack(&self) -> Option<&str> {
        match self {
            Progress::WaitingForLock { .. } | Progress::Note { .. } => None,
            Progress::Queued { stack }
            | Progress::Placed { stack, .. }
            | Progress::Bootstrapping { stack, .. }
            | Progress::Step { stack, .. }
            | Progress::Checking { stack, .. }
            | Progress::Done { stack, .. }
            | Progress::Skipped { stack, .. }
            | Progress::Failed { stack, .. } => Some(stack),
        }
    }
}
