//! The parent → child tree of stacks: build order, descendants, and cycle detection.

use std::collections::{BTreeMap, BTreeSet};

/// Stacks and their parents, by name.
#[derive(Debug, Clone, Default)]
pub struct StackGraph {
    parents: BTreeMap<String, Option<String>>,
}

impl StackGraph {
    /// A graph from (name, parent) pairs. Parents must be among the names.
    pub fn new(edges: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        StackGraph {
            parents: edges.into_iter().collect(),
        }
    }

    /// The parent of `name`.
    pub fn parent(&self, name: &str) -> Option<&str> {
        self.parents.get(name).and_then(|p| p.as_deref())
    }

    /// The first cycle found, as a path that returns to its start (`a → b → a`).
    pub fn find_cycle(&self) -> Option<Vec<String>> {
        let mut done = BTreeSet::new();
        for start in self.parents.keys() {
            let mut path: Vec<&str> = Vec::new();
            let mut at = Some(start.as_str());
            while let Some(node) = at {
                if done.contains(node) {
                    break;
                }
                if let Some(pos) = path.iter().position(|n| *n == node) {
                    let mut cycle: Vec<String> =
                        path[pos..].iter().map(|s| s.to_string()).collect();
                    cycle.push(node.to_string());
                    return Some(cycle);
                }
                path.push(node);
                at = self.parent(node);
            }
            done.extend(path);
        }
        None
    }

    /// Every stack, parents before children; siblings by name. Assumes no cycle.
    pub fn topo_order(&self) -> Vec<String> {
        let mut order = Vec::new();
        let mut placed = BTreeSet::new();
        for name in self.parents.keys() {
            let mut chain = vec![name.as_str()];
            let mut at = self.parent(name);
            while let Some(p) = at {
                if placed.contains(p) || chain.contains(&p) {
                    break;
                }
                chain.push(p);
                at = self.parent(p);
            }
            for n in chain.into_iter().rev() {
                if placed.insert(n.to_string()) {
                    order.push(n.to_string());
                }
            }
        }
        // Depth-first placement keeps parents first; sort stably by depth for a readable plan.
        let depth = |n: &str| self.ancestors(n).len();
        order.sort_by(|a, b| depth(a).cmp(&depth(b)).then_with(|| a.cmp(b)));
        order
    }

    /// Parent, grandparent, ... of `name`.
    pub fn ancestors(&self, name: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut at = self.parent(name);
        while let Some(p) = at {
            if out.contains(&p) || p == name {
                break;
            }
            out.push(p);
            at = self.parent(p);
        }
        out
    }

    /// Children of `name`, by name.
    pub fn children(&self, name: &str) -> Vec<&str> {
        self.parents
            .iter()
            .filter(|(_, p)| p.as_deref() == Some(name))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// `name` and everything below it.
    pub fn with_descendants(&self, name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::from([name.to_string()]);
        let mut frontier = vec![name.to_string()];
        while let Some(n) = frontier.pop() {
            for c in self.children(&n) {
                if out.insert(c.to_string()) {
                    frontier.push(c.to_string());
                }
            }
        }
        out
    }

    /// Stacks without a parent in the graph.
    pub fn roots(&self) -> Vec<&str> {
        self.parents
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Every stack name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parents.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, Option<&str>)]) -> StackGraph {
        StackGraph::new(
            edges
                .iter()
                .map(|(n, p)| (n.to_string(), p.map(str::to_string))),
        )
    }

    #[test]
    fn order_puts_parents_first() {
        let g = graph(&[
            ("c", Some("b")),
            ("b", Some("a")),
            ("a", None),
            ("d", Some("a")),
        ]);
        assert_eq!(g.topo_order(), ["a", "b", "d", "c"]);
        assert_eq!(g.find_cycle(), None);
        assert_eq!(
            g.with_descendants("b").into_iter().collect::<Vec<_>>(),
            ["b", "c"]
        );
    }

    #[test]
    fn cycle_is_reported_as_a_closed_path() {
        let g = graph(&[
            ("a", Some("c")),
            ("b", Some("a")),
            ("c", Some("b")),
            ("r", None),
        ]);
        assert_eq!(g.find_cycle().unwrap(), ["a", "c", "b", "a"]);
    }
}
