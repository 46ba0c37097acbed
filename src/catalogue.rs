//! The validated set of stacks of a project, with their parent graph.

use std::collections::{BTreeMap, BTreeSet};

use crate::definition_error::did_you_mean;
use crate::error::{Error, Result};
use crate::graph::StackGraph;
use crate::stack::Stack;

/// Every stack of a project after matrix expansion and validation.
#[derive(Debug, Clone)]
pub struct Catalogue {
    stacks: BTreeMap<String, Stack>,
    graph: StackGraph,
}

impl Catalogue {
    pub(crate) fn new(stacks: BTreeMap<String, Stack>, graph: StackGraph) -> Self {
        Catalogue { stacks, graph }
    }

    /// A stack by name.
    pub fn get(&self, name: &str) -> Option<&Stack> {
        self.stacks.get(name)
    }

    /// The parent graph.
    pub fn graph(&self) -> &StackGraph {
        &self.graph
    }

    /// Every stack, parents before children.
    pub fn in_order(&self) -> Vec<&Stack> {
        self.graph
            .topo_order()
            .iter()
            .map(|n| &self.stacks[n])
            .collect()
    }

    /// Number of stacks.
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    /// Whether there are no stacks.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Checks that every name exists (with a hint otherwise) and returns them with their
    /// ancestors, parents first. No names selects everything.
    pub fn select(&self, names: &[String]) -> Result<Vec<&Stack>> {
        if names.is_empty() {
            return Ok(self.in_order());
        }
        let mut wanted = BTreeSet::new();
        for n in names {
            if !self.stacks.contains_key(n) {
                let known: Vec<&str> = self.stacks.keys().map(String::as_str).collect();
                let hint = match did_you_mean(n, known.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`? `ferrostack list` shows every stack"),
                    None => "`ferrostack list` shows every stack".to_string(),
                };
                return Err(Error::UnknownStack {
                    name: n.clone(),
                    hint,
                });
            }
            wanted.insert(n.as_str());
            wanted.extend(self.graph.ancestors(n));
        }
        Ok(self
            .in_order()
            .into_iter()
            .filter(|s| wanted.contains(s.name.as_str()))
            .collect())
    }
}
