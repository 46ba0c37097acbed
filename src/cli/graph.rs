//! `ferrostack graph`: the stack tree as text, Graphviz dot or Mermaid.

use ferrostack::Session;

use super::GraphFormat;

/// Draws the parent tree of every stack.
pub(crate) fn draw(session: &Session, format: GraphFormat) -> String {
    let graph = session.catalogue.graph();
    let stacks = session.catalogue.in_order();
    match format {
        GraphFormat::Text => {
            let mut out = String::new();
            fn walk(
                g: &ferrostack::graph::StackGraph,
                name: &str,
                prefix: &str,
                last: bool,
                top: bool,
                out: &mut String,
            ) {
                if top {
                    out.push_str(&format!("{name}\n"));
                } else {
                    out.push_str(&format!(
                        "{prefix}{}{name}\n",
                        if last { "└── " } else { "├── " }
                    ));
                }
                let children = g.children(name);
                let child_prefix = if top {
                    String::new()
                } else {
                    format!("{prefix}{}", if last { "    " } else { "│   " })
                };
                for (i, c) in children.iter().enumerate() {
                    walk(g, c, &child_prefix, i + 1 == children.len(), false, out);
                }
            }
            for root in graph.roots() {
                walk(graph, root, "", true, true, &mut out);
            }
            out
        }
        GraphFormat::Dot => {
            let mut out = String::from("digraph stacks {\n  rankdir=LR;\n");
            for s in &stacks {
                out.push_str(&format!("  \"{}\";\n", s.name));
            }
            for s in &stacks {
                if let Some(p) = s.parent() {
                    out.push_str(&format!("  \"{p}\" -> \"{}\";\n", s.name));
                }
            }
            out.push_str("}\n");
            out
        }
        GraphFormat::Mermaid => {
            let id = |n: &str| n.replace(['.', '-'], "_");
            let mut out = String::from("graph TD\n");
            for s in &stacks {
                match s.parent() {
                    Some(p) => out.push_str(&format!(
                        "  {}[{}] --> {}[{}]\n",
                        id(p),
                        p,
                        id(&s.name),
                        s.name
                    )),
                    None => out.push_str(&format!("  {}[{}]\n", id(&s.name), s.name)),
                }
            }
            out
        }
    }
}
