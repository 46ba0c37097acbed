//! What goes to the registry besides a freshly built image: the up-to-date stacks it lacks
//! (parents first, then each level of the family at once, as many at a time as the engine has
//! slots), and every shipped stack's SBOM.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::{Progress, Reporter};
use crate::engine::{Engine, EngineError};
use crate::graph::StackGraph;
use crate::error::Error;
use crate::lock::Lockfile;
use crate::registry::{SbomArtifact, Shipping};
use crate::sbom::SbomFormat;
use crate::session::Session;

/// A stack the engine holds and the registry does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    pub stack: String,
    pub image: String,
    pub hash: String,
}

/// The pending stacks grouped by depth in the family (roots first). A level is pushed only
/// once the one above it is in the registry, so siblings never upload a shared parent layer
/// twice at the same time; within a level the engine compresses and uploads several at once
/// (a `docker push` loop does one at a time, on one core).
pub(super) fn levels(graph: &StackGraph, pending: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut by_depth: BTreeMap<usize, Vec<Pending>> = BTreeMap::new();
    for p in pending {
        by_depth.entry(graph.ancestors(&p.stack).len()).or_default().push(p);
    }
    by_depth.into_values().collect()
}

/// Pushes `pending` level by level, `slots` at a time, and returns each stack's manifest
/// digest. The first failure stops the rest and is returned.
pub(super) async fn by_level(
    shipping: &Arc<Shipping>,
    engine: &Arc<Engine>,
    graph: &StackGraph,
    pending: Vec<Pending>,
    slots: usize,
    report: &Reporter,
) -> Result<Vec<(String, String)>, EngineError> {
    let mut digests = Vec::new();
    for level in levels(graph, pending) {
        let mut queue = level.into_iter();
        let mut running: JoinSet<(Pending, Result<String, EngineError>)> = JoinSet::new();
        loop {
            while running.len() < slots.max(1) {
                let Some(p) = queue.next() else { break };
                let (shipping, engine) = (Arc::clone(shipping), Arc::clone(engine));
                running.spawn(async move {
                    let r = shipping.push(&engine, &p.image, &p.stack, &p.hash).await;
                    (p, r)
                });
            }
            let Some(joined) = running.join_next().await else { break };
            let (p, result) = joined.expect("push tasks do not panic");
            let digest = result?;
            report(Progress::Note { message: format!("{}: pushed {} ({digest})", p.stack, shipping.image(&p.stack, &p.hash)) });
            digests.push((p.stack, digest));
        }
    }
    Ok(digests)
}

/// Stores each of `stacks`' SPDX SBOM (from `lock`, which names their image digests) next to
/// its image, all at once; returns each stack's artifact digest or why it failed.
pub(super) async fn sboms(shipping: &Shipping, session: &Session, lock: &Lockfile, stacks: &[String]) -> Vec<(String, Result<String, Error>)> {
    let jobs = stacks.iter().map(|stack| async move {
        let attach = async {
            let image_digest = lock.stacks.get(stack).and_then(|e| e.digest.clone()).expect("only stacks with a digest are given");
            let document = crate::sbom::document(session, lock, stack, SbomFormat::Spdx)?;
            let artifact = SbomArtifact { image_digest, document: document.into_bytes() };
            shipping.attach_sbom(&artifact, &format!("{stack}.{}", SbomFormat::Spdx.extension())).await
        };
        (stack.clone(), attach.await)
    });
    futures_util::future::join_all(jobs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(name: &str) -> Pending {
        Pending { stack: name.into(), image: format!("sha256:{name}"), hash: format!("h-{name}") }
    }

    #[test]
    fn parents_come_a_level_before_their_children_and_siblings_share_one() {
        let graph = StackGraph::new([
            ("base".to_string(), None),
            ("python".to_string(), Some("base".to_string())),
            ("node".to_string(), Some("base".to_string())),
            ("ffmpeg".to_string(), Some("python".to_string())),
            ("other-base".to_string(), None),
        ]);
        let got = levels(&graph, vec![pending("ffmpeg"), pending("node"), pending("base"), pending("python"), pending("other-base")]);
        let names: Vec<Vec<&str>> = got.iter().map(|l| l.iter().map(|p| p.stack.as_str()).collect()).collect();
        assert_eq!(names, vec![vec!["base", "other-base"], vec!["node", "python"], vec!["ffmpeg"]]);
    }

    #[test]
    fn a_child_whose_parent_is_already_pushed_keeps_its_depth() {
        let graph = StackGraph::new([("base".to_string(), None), ("go".to_string(), Some("base".to_string()))]);
        let got = levels(&graph, vec![pending("go")]);
        assert_eq!(got, vec![vec![pending("go")]]);
    }
}
