//! Which stack hashes the engine already has an image for: each stack's own tag inspected at
//! once, and the engine's whole image list only when a tag does not answer for its hash.

use std::collections::HashMap;

use crate::engine::{Engine, EngineError, HASH_LABEL};
use crate::plan::{Action, Found, Plan, Reason};

/// Image IDs by the `io.ferrostack.hash` label, over every image in the engine.
pub async fn hashes_in_engine(engine: &Engine) -> Result<HashMap<String, String>, EngineError> {
    let filters = HashMap::from([("label".to_string(), vec![HASH_LABEL.to_string()])]);
    let summaries = engine
        .docker()
        .list_images(Some(bollard::query_parameters::ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
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

/// Image IDs by hash for the planned stacks. Each stack's tag `<repository>:<stack>` is
/// inspected (all at once): a tag whose image carries the stack's hash label answers for it.
/// When any planned hash is left unanswered (a first build, a moved tag, an image only a test
/// repository tags), the engine's whole image list is read instead, as [`hashes_in_engine`]
/// does. A warm no-op plan thus costs one small call per stack, in parallel, instead of a list
/// of every image the engine holds.
pub async fn hashes_of_plan(
    engine: &Engine,
    repository: &str,
    plan: &Plan,
) -> Result<HashMap<String, String>, EngineError> {
    let lookups = plan
        .stacks
        .iter()
        .filter(|s| s.action != Action::Eol)
        .map(|s| {
            let reference = format!("{repository}:{}", s.name);
            async move {
                let found = engine.inspect_image(&reference).await;
                (s.hash.clone(), found)
            }
        });
    let mut out = HashMap::new();
    for (hash, found) in futures_util::future::join_all(lookups).await {
        match found {
            Ok(info) if info.labels.get(HASH_LABEL) == Some(&hash) => {
                out.insert(hash, info.id);
            }
            Ok(_) | Err(EngineError::ImageNotFound { .. }) => {
                return hashes_in_engine(engine).await
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Marks every `up-to-date` stack whose image is neither in the engine nor (by its immutable
/// tag) in the registry as `build`, with the reason "image not in engine", and what is below it.
/// Records where each up-to-date image was found. Returns the image ID of each planned stack
/// the engine has.
pub fn check_plan(
    index: &HashMap<String, String>,
    in_registry: &HashMap<String, String>,
    plan: &mut Plan,
) -> HashMap<String, String> {
    let mut images = HashMap::new();
    for s in plan.stacks.clone() {
        match index.get(&s.hash) {
            Some(id) => {
                images.insert(s.name.clone(), id.clone());
                plan.set_found(&s.name, Found::Engine);
            }
            None if s.action == Action::UpToDate && in_registry.contains_key(&s.name) => {
                plan.set_found(&s.name, Found::Registry)
            }
            None if s.action == Action::UpToDate => plan.force(&s.name, Reason::ImageNotInEngine),
            None => {}
        }
    }
    images
}
