//! What goes to the registry besides a freshly built image: the up-to-date stacks it lacks
//! (a parent before its children, the heaviest chain first, as many at a time as the engine
//! has slots), and every shipped stack's SBOM.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::{Progress, Reporter};
use crate::engine::{Engine, EngineError};
use crate::error::Error;
use crate::graph::StackGraph;
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
    /// Its image size as the lock last recorded it (0 when unknown): bigger families go first.
    pub size: u64,
}

/// The next stack to push: one whose parent is neither waiting nor being pushed (so siblings
/// never upload a shared parent layer at the same time), the one heading the most bytes (its
/// own and its waiting descendants'), so the longest chain starts first.
pub(super) fn next_ready(
    graph: &StackGraph,
    waiting: &[Pending],
    pushing: &[String],
) -> Option<usize> {
    let busy =
        |name: &str| waiting.iter().any(|p| p.stack == name) || pushing.iter().any(|p| p == name);
    let heads = |p: &Pending| -> u64 {
        waiting
            .iter()
            .filter(|q| q.stack == p.stack || graph.ancestors(&q.stack).contains(&p.stack.as_str()))
            .map(|q| q.size)
            .sum()
    };
    waiting
        .iter()
        .enumerate()
        .filter(|(_, p)| !graph.ancestors(&p.stack).iter().any(|a| busy(a)))
        .max_by(|(i, a), (j, b)| heads(a).cmp(&heads(b)).then_with(|| j.cmp(i)))
        .map(|(i, _)| i)
}

/// Pushes `pending`, parents before children, `slots` at a time, and returns each stack's
/// manifest digest. The first failure stops the rest and is returned.
pub(super) async fn in_order(
    shipping: &Arc<Shipping>,
    engine: &Arc<Engine>,
    graph: &StackGraph,
    mut waiting: Vec<Pending>,
    slots: usize,
    report: &Reporter,
) -> Result<Vec<(String, String)>, EngineError> {
    let mut digests = Vec::new();
    let mut pushing: Vec<String> = Vec::new();
    let mut running: JoinSet<(Pending, Result<String, EngineError>)> = JoinSet::new();
    loop {
        while running.len() < slots.max(1) {
            let Some(i) = next_ready(graph, &waiting, &pushing) else {
                break;
            };
            let p = waiting.remove(i);
            pushing.push(p.stack.clone());
            let (shipping, engine) = (Arc::clone(shipping), Arc::clone(engine));
            running.spawn(async move {
                let r = shipping.push(&engine, &p.image, &p.stack, &p.hash).await;
                (p, r)
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (p, result) = joined.expect("push tasks do not panic");
        pushing.retain(|s| *s != p.stack);
        let digest = result?;
        report(Progress::Note {
            message: format!(
                "{}: pushed {} ({digest})",
                p.stack,
                shipping.image(&p.stack, &p.hash)
            ),
        });
        digests.push((p.stack, digest));
    }
    Ok(digests)
}

/// Stores each of `stacks`' SPDX SBOM (from `lock`, which names their image digests) next to
/// its image, all at once; returns each stack's artifact digest or why it failed.
pub(super) async fn sboms(
    shipping: &Shipping,
    session: &Session,
    lock: &Lockfile,
    stacks: &[String],
) -> Vec<(String, Result<String, Error>)> {
    let jobs = stacks.iter().map(|stack| async move {
        let attach = async {
            let image_digest = lock
                .stacks
                .get(stack)
                .and_then(|e| e.digest.clone())
                .expect("only stacks with a digest are given");
            let document = crate::sbom::document(session, lock, stack, SbomFormat::Spdx)?;
            let artifact = SbomArtifact {
                image_digest,
                document: document.into_bytes(),
            };
            shipping
                .attach_sbom(
                    &artifact,
                    &format!("{stack}.{}", SbomFormat::Spdx.extension()),
                )
                .await
        };
        (stack.clone(), attach.await)
    });
    futures_util::future::join_all(jobs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(name: &str, size: u64) -> Pending {
        Pending {
            stack: name.into(),
            image: format!("sha256:{name}"),
            hash: format!("h-{name}"),
            size,
        }
    }

    fn graph() -> StackGraph {
        StackGraph::new([
            ("base".to_string(), None),
            ("python".to_string(), Some("base".to_string())),
            ("node".to_string(), Some("base".to_string())),
            ("ffmpeg".to_string(), Some("python".to_string())),
            ("other-base".to_string(), None),
        ])
    }

    /// The order `in_order` pushes in with one slot, and what may run beside what with two.
    fn order(waiting: Vec<Pending>, slots: usize) -> Vec<Vec<String>> {
        let (graph, mut waiting, mut rounds) = (graph(), waiting, Vec::new());
        while !waiting.is_empty() {
            let mut round: Vec<String> = Vec::new();
            while round.len() < slots {
                let Some(i) = next_ready(&graph, &waiting, &round) else {
                    break;
                };
                round.push(waiting.remove(i).stack);
            }
            assert!(!round.is_empty(), "nothing ready: {waiting:?}");
            rounds.push(round);
        }
        rounds
    }

    #[test]
    fn parents_go_before_children_and_the_heaviest_chain_first() {
        let all = || {
            vec![
                pending("base", 100),
                pending("python", 50),
                pending("node", 80),
                pending("ffmpeg", 400),
                pending("other-base", 120),
            ]
        };
        assert_eq!(
            order(all(), 1),
            [["base"], ["python"], ["ffmpeg"], ["other-base"], ["node"]]
        );
        // Two at a time: never a child beside its parent.
        assert_eq!(
            order(all(), 2),
            [
                vec!["base", "other-base"],
                vec!["python", "node"],
                vec!["ffmpeg"]
            ]
        );
    }

    #[test]
    fn a_child_whose_parent_is_not_waiting_is_ready() {
        assert_eq!(
            order(vec![pending("ffmpeg", 1), pending("node", 2)], 2),
            [vec!["node", "ffmpeg"]]
        );
    }
}
