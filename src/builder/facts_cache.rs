//! `FactsCache`: the facts of each parent image, read once per build run and shared by all of
//! its children (the base of the bundled catalogue has eight).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::image_facts::{ImageFacts, Questions};
use crate::engine::{CancellationToken, Engine, EngineError};

/// One parent's facts, read at most once at a time.
type Cell = Arc<OnceCell<Arc<ImageFacts>>>;

/// Parent facts by engine and image reference. A run's parents are final before any child
/// starts, so a reference names one image for the whole run.
#[derive(Debug, Default)]
pub(crate) struct FactsCache {
    cells: Mutex<BTreeMap<(String, String), Cell>>,
}

impl FactsCache {
    /// The facts of `image` on `engine`: read on the first call (concurrent callers wait for
    /// that one read), then shared. A failed read is not kept: the next call tries again.
    pub(crate) async fn parent(
        &self,
        engine: &Engine,
        image: &str,
        cancel: &CancellationToken,
    ) -> Result<Arc<ImageFacts>, EngineError> {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                cells
                    .entry((engine.address().to_string(), image.to_string()))
                    .or_default(),
            )
        };
        cell.get_or_try_init(|| async {
            ImageFacts::read(engine, image, &Questions::default(), cancel)
                .await
                .map(Arc::new)
        })
        .await
        .cloned()
    }
}
