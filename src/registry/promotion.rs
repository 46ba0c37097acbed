//! `Promotion`: moving a family's human tags (`python-3.11`, `ffmpeg`, …) at the registry to
//! the manifests already pushed under their immutable tags, as one transaction: every move is
//! planned first, and when one fails part-way the tags moved so far are put back.

use serde::Serialize;

use super::client::{Manifest, RegistryClient};
use crate::error::{Error, Result};

/// One tag to point at a stack's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagMove {
    pub stack: String,
    pub tag: String,
    /// What the tag named before (`None`: a new tag).
    pub from: Option<String>,
    pub to: String,
}

/// What a promotion did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromotionReport {
    /// Tags moved (all of them, on success).
    pub moved: Vec<TagMove>,
    /// Tags that already named the right manifest.
    pub unchanged: usize,
}

/// Points every `(stack, tags, digest)`'s tags in `name` at `digest`. On a failure, puts the
/// tags moved so far back to the manifests they named before (a tag that did not exist before
/// cannot be removed through the registry API: the error says which), and returns the error.
pub async fn promote(
    client: &RegistryClient,
    name: &str,
    family: &[(String, Vec<String>, String)],
) -> Result<PromotionReport> {
    // Plan: ask where each tag points now.
    let mut moves = Vec::new();
    let mut unchanged = 0;
    for (stack, tags, digest) in family {
        for tag in tags {
            let from = client.manifest_digest(name, tag).await?;
            if from.as_deref() == Some(digest.as_str()) {
                unchanged += 1;
            } else {
                moves.push(TagMove {
                    stack: stack.clone(),
                    tag: tag.clone(),
                    from,
                    to: digest.clone(),
                });
            }
        }
    }
    // The manifests to put, fetched once each, before anything moves.
    let mut manifests: std::collections::BTreeMap<String, Manifest> =
        std::collections::BTreeMap::new();
    for digest in moves
        .iter()
        .map(|m| m.to.clone())
        .chain(moves.iter().filter_map(|m| m.from.clone()))
    {
        if let std::collections::btree_map::Entry::Vacant(slot) = manifests.entry(digest) {
            let manifest = client.manifest(name, slot.key()).await?;
            slot.insert(manifest);
        }
    }
    for (done, m) in moves.iter().enumerate() {
        if let Err(error) = client.put_manifest(name, &m.tag, &manifests[&m.to]).await {
            let mut restored = Vec::new();
            let mut left = Vec::new();
            for back in moves[..done].iter().rev() {
                match &back.from {
                    Some(from)
                        if client
                            .put_manifest(name, &back.tag, &manifests[from])
                            .await
                            .is_ok() =>
                    {
                        restored.push(back.tag.clone())
                    }
                    Some(_) => left.push(format!("`{}` (could not be put back)", back.tag)),
                    None => left.push(format!(
                        "`{}` (new: the registry API cannot remove a tag)",
                        back.tag
                    )),
                }
            }
            return Err(Error::Registry {
                registry: name.to_string(),
                message: format!(
                    "moving tag `{}` failed after {done} of {} moves ({error}); put back: {}{}",
                    m.tag,
                    moves.len(),
                    if restored.is_empty() { "none".to_string() } else { restored.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ") },
                    if left.is_empty() { String::new() } else { format!("; left moved: {}", left.join(", ")) }
                ),
                help: "the images stay pushed under their immutable tags; run the build again to promote".into(),
            });
        }
    }
    Ok(PromotionReport {
        moved: moves,
        unchanged,
    })
}
