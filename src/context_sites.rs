//! `ContextSites`: where a stack file names its context directory and the paths inside it, so a
//! problem found later, walking the directory (a FIFO, a symlink out), points at that line.

use crate::definition_error::{DefinitionError, DefinitionErrorKind, Site};

/// The `context` key (or the file, when the default directory is used) and every `copy` source
/// and `composer.install` directory, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextSites {
    pub(crate) context: Option<Site>,
    /// (path as written, without `./` or a trailing `/`; where it is written).
    pub(crate) paths: Vec<(String, Site)>,
}

impl ContextSites {
    pub(crate) fn new(context: Site) -> Self {
        ContextSites {
            context: Some(context),
            paths: Vec::new(),
        }
    }

    pub(crate) fn add_path(&mut self, written: &str, site: Site) {
        let path = written
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        self.paths.push((path, site));
    }

    /// The site of the `copy` that sends `rel` (a path inside the context), else of `context`.
    fn site_for(&self, rel: &str) -> Option<Site> {
        self.paths
            .iter()
            .find(|(path, _)| {
                path.is_empty()
                    || path == "."
                    || rel == path
                    || rel
                        .strip_prefix(path.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            })
            .map(|(_, site)| site.clone())
            .or_else(|| self.context.clone())
    }

    /// A definition error about the context entry `rel` of the context directory `context_rel`.
    pub(crate) fn error(
        &self,
        context_rel: &str,
        rel: &str,
        what: String,
        help: String,
    ) -> DefinitionError {
        let path = if context_rel.is_empty() {
            rel.to_string()
        } else {
            format!("{context_rel}/{rel}")
        };
        DefinitionError::new(
            DefinitionErrorKind::ContextEntry { path, what },
            self.site_for(rel),
        )
        .with_help(help)
    }
}
