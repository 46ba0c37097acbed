//! Which stack hashes the engine already has an image for: one API call for the whole plan.

use std::collections::HashMap;

use crate::engine::{Engine, EngineError, HASH_LABEL};
use crate::plan::{Action, Found, Plan, Reason};

/// Image IDs by the `io.ferrostack.hash` label, over every image in the engine.
pub async fn hashes_in_engine(engine: &Engine) -> Result<HashMap<String, String>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![HASH_LABEL.to_string()])]);
    let summaries = engine
        .docker()
        .list_images(Some(bollard::query_parameters::ListImagesOptions { filters: Some(filters), ..Default::default() }))
        .await
        .map_err(|e| EngineError::api("list images", e))?;
    let mut out = HashMap::new();
    // Oldest first. Images built on top of a stack inherit its labels (a child's intermediate
    // or dangling images carry the parent's hash until their own LABEL step), and they are
    // always created after it: the oldest image with a hash is the stack's own.
    let mut summaries = summaries;
    summaries.sort_by_key(|s| (s.created, s.id.clone()));
    for s in summaries {
        if let Some(hash) = s.labels.get(HASH_LABEL) {
            out.entry(hash.clone()).or_insert(s.id.clone());
        }
    }
    Ok(out)
}

/// Marks every `up-to-date` stack whose image is neither in the engine nor (by its immutable
/// tag) in the registry as `build`, with the reason "image not in engine", and what is below it.
/// Records where each up-to-date image was found. Returns the image ID of each planned stack
/// the engine has.
pub fn check_plan(index: &HashMap<String, String>, in_registry: &HashMap<String, String>, plan: &mut Plan) -> HashMap<String, String> {
    let mut images = HashMap::new();
    for s in plan.stacks.clone() {
        match index.get(&s.hash) {
            Some(id) => {
                images.insert(s.name.clone(), id.clone());
                plan.set_found(&s.name, Found::Engine);
            }
            None if s.action == Action::UpToDate && in_registry.contains_key(&s.name) => plan.set_found(&s.name, Found::Registry),
            None if s.action == Action::UpToDate => plan.force(&s.name, Reason::ImageNotInEngine),
            None => {}
        }
    }
    images
}
