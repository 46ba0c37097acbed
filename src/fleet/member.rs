//! `Member`: one connected engine of a build: its number, slots, build network, and the
//! cancellation token that stops the stacks on it when it stops answering.

use std::sync::Arc;

use crate::engine::{CancellationToken, Engine};

/// An engine a build spreads over.
#[derive(Debug, Clone)]
pub struct Member {
    /// 1-based, in the order the settings list the engines.
    pub number: usize,
    pub engine: Arc<Engine>,
    /// Stacks built on it at once.
    pub slots: usize,
    /// The network its `RUN` steps use (`None`: the engine's default bridge).
    pub network: Option<String>,
    /// Cancelled when the engine is given up on (a child of the run's token).
    pub cancel: CancellationToken,
}

impl Member {
    /// How progress lines and the report name it: `engine 2 (unix:///run/b.sock)`.
    pub fn label(&self) -> String {
        format!("engine {} ({})", self.number, self.engine.address())
    }
}
