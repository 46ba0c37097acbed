//! Reads `stacks/*.toml` into raw stack files, turning TOML errors into located diagnostics.

use std::path::Path;
use std::sync::Arc;

use crate::definition_error::{did_you_mean, DefinitionError, DefinitionErrorKind, Site};
use crate::error::{Error, Result};
use crate::stack_file::StackFile;

/// The text of one definition file and how to name it in messages.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    /// Path relative to the project root, `/`-separated.
    pub rel: String,
    pub text: Arc<String>,
}

impl SourceFile {
    /// A site in this file for a byte range.
    pub(crate) fn site(&self, span: std::ops::Range<usize>, label: impl Into<String>) -> Site {
        Site::new(&self.rel, &self.text, span, label)
    }

    /// The file's stem: the default name of its context directory.
    pub(crate) fn stem(&self) -> &str {
        Path::new(&self.rel)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
    }
}

/// One parsed definition file.
#[derive(Debug, Clone)]
pub(crate) struct LoadedFile {
    pub source: Arc<SourceFile>,
    pub file: StackFile,
}

/// Largest definition file read: the bundled ones are about 1 KiB, and a huge file only makes
/// every later step slow (parsing, suggestions, snippets).
const MAX_DEFINITION_BYTES: usize = 64 * 1024;

/// Loads every `*.toml` directly under `stacks_dir`, in name order. All syntax errors are
/// collected, so one run reports every broken file.
pub(crate) fn load_stacks(root: &Path, stacks_dir: &Path) -> Result<Vec<LoadedFile>> {
    if !stacks_dir.is_dir() {
        return Err(Error::Settings {
            message: format!("`{}` has no `stacks/` directory", root.display()),
            help: Some("run ferrostack in a project root, or pass `-C DIR`".into()),
        });
    }
    let entries = std::fs::read_dir(stacks_dir)
        .map_err(|e| Error::io("read stack directory", stacks_dir, e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read stack directory", stacks_dir, e))?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::io("read stack file", &path, e))?;
        let rel = relative_display(root, &path);
        let source = Arc::new(SourceFile {
            rel,
            text: Arc::new(text),
        });
        if source.text.len() > MAX_DEFINITION_BYTES {
            let message = format!(
                "the file is {} bytes; a stack definition is at most {MAX_DEFINITION_BYTES} bytes",
                source.text.len()
            );
            errors.push(DefinitionError::new(
                DefinitionErrorKind::Syntax { message },
                Some(source.site(0..0, "this file")),
            ));
            continue;
        }
        match parse(&source) {
            Ok(file) => loaded.push(LoadedFile { source, file }),
            Err(e) => errors.push(e),
        }
    }
    match Error::from_definitions(errors) {
        Some(e) => Err(e),
        None => Ok(loaded),
    }
}

/// `path` relative to `root` with `/` separators, or as given when outside it.
pub(crate) fn relative_display(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Parses one file's text.
pub(crate) fn parse(source: &SourceFile) -> Result<StackFile, DefinitionError> {
    toml::from_str::<StackFile>(&source.text).map_err(|e| toml_error(source, &e))
}

fn toml_error(source: &SourceFile, e: &toml::de::Error) -> DefinitionError {
    let message = e.message().trim().to_string();
    let span = e.span().unwrap_or(0..0);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default().to_string();
        let expected: Vec<&str> = rest
            .split_once("expected")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        let table = table_at(&source.text, span.start);
        let mut help = match did_you_mean(&key, expected.iter().copied()) {
            Some(m) => format!("did you mean `{m}`? "),
            None => String::new(),
        };
        help.push_str(&format!(
            "keys allowed here: {}",
            expected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return DefinitionError::new(
            DefinitionErrorKind::UnknownKey { key, table },
            Some(source.site(span, "unknown key")),
        )
        .with_help(help);
    }
    let help = if message.contains("invalid type") || message.contains("invalid value") {
        Some("see the stack format in README.md for each key's type".to_string())
    } else {
        None
    };
    DefinitionError::new(
        DefinitionErrorKind::Syntax {
            message: first_line(&message),
        },
        Some(source.site(span, "here")),
    )
    .maybe_help(help)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// The TOML table header governing byte `offset`, for messages ("the top level", "`[[step]]`").
fn table_at(text: &str, offset: usize) -> String {
    // Only lines before the one in error: an unknown `[[header]]` is not its own table.
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[..line_start];
    before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| format!("`{}`", l.split('#').next().unwrap_or(l).trim()))
        .unwrap_or_else(|| "the top level".to_string())
}
