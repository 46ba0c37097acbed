//! Mistakes in stack definitions, each pointing at a file, line and column with a hint.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

/// A place in a stack file: path (as the user sees it), line and column, and the source text.
#[derive(Debug, Clone)]
pub struct Site {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub(crate) span: SourceSpan,
    pub(crate) source: NamedSource<Arc<String>>,
    pub(crate) label: String,
}

impl Site {
    /// Locates a byte range of `text`, which was read from `file`.
    pub(crate) fn new(
        file: &str,
        text: &Arc<String>,
        span: std::ops::Range<usize>,
        label: impl Into<String>,
    ) -> Self {
        let start = span.start.min(text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let len = span.end.saturating_sub(span.start).min(text.len() - start);
        let (shown, start, len) = excerpt(text, start, len);
        Site {
            file: file.to_string(),
            line,
            column,
            span: SourceSpan::new(start.into(), len),
            source: NamedSource::new(file, shown).with_language("toml"),
            label: label.into(),
        }
    }
}

/// Longest line a snippet shows whole. miette cannot underline past column 65535 (it panics),
/// and nobody reads such a line: longer ones are cut, around the span on its own line.
const SNIPPET_LINE: usize = 240;

/// `text` with every line longer than `SNIPPET_LINE` cut (same line count, so line numbers
/// hold), and the span moved to match. Text without long lines is shared as is.
fn excerpt(text: &Arc<String>, start: usize, len: usize) -> (Arc<String>, usize, usize) {
    if text.split('\n').all(|l| l.len() <= SNIPPET_LINE) {
        return (Arc::clone(text), start, len);
    }
    let floor = |l: &str, i: usize| {
        (0..=i.min(l.len()))
            .rev()
            .find(|c| l.is_char_boundary(*c))
            .unwrap_or(0)
    };
    let mut out = String::new();
    let (mut new_start, mut new_len) = (0, 0);
    let mut at = 0;
    for line in text.split('\n') {
        let end = at + line.len();
        if at > 0 {
            out.push('\n');
        }
        if (at..=end).contains(&start) && line.len() > SNIPPET_LINE {
            let rel = start - at;
            let from = floor(line, rel.saturating_sub(SNIPPET_LINE / 3));
            let to = floor(line, (rel + SNIPPET_LINE).min(line.len()));
            if from > 0 {
                out.push('…');
            }
            new_start = out.len() + (rel - from);
            new_len = len.min(to.saturating_sub(rel));
            out.push_str(&line[from..to]);
            if to < line.len() {
                out.push('…');
            }
        } else if (at..=end).contains(&start) {
            new_start = out.len() + (start - at);
            new_len = len;
            out.push_str(line);
        } else if line.len() > SNIPPET_LINE {
            out.push_str(&line[..floor(line, SNIPPET_LINE)]);
            out.push('…');
        } else {
            out.push_str(line);
        }
        at = end + 1;
    }
    let new_len = new_len.min(out.len().saturating_sub(new_start));
    (Arc::new(out), new_start, new_len)
}

/// Two sites are the same place when they name the same span of the same file.
impl PartialEq for Site {
    fn eq(&self, other: &Self) -> bool {
        self.file == other.file && self.span == other.span && self.label == other.label
    }
}

impl Eq for Site {}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What is wrong; the message names things in backticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionErrorKind {
    /// The file is not valid TOML, or a value has the wrong type.
    Syntax { message: String },
    /// A key that ferrostack does not know.
    UnknownKey { key: String, table: String },
    /// A required key is missing.
    MissingKey { key: String },
    /// None or several of `from`, `image`, `[bootstrap]`.
    Origin { found: Vec<String> },
    /// A `[[step]]` with none or several actions.
    StepAction { found: Vec<String> },
    /// A runtime name outside the supported set.
    UnknownRuntime { name: String },
    /// A runtime version that the stack's Debian suite does not offer.
    UnsupportedVersion {
        runtime: String,
        version: String,
        suite: String,
    },
    /// The same runtime twice in one stack.
    DuplicateRuntime { name: String },
    /// A Debian suite ferrostack has no catalogue for.
    UnknownSuite { suite: String },
    /// An `image =` stack whose suite cannot be inferred but is needed.
    SuiteUnknown { image: String },
    /// Two stacks with the same name.
    DuplicateName { name: String, other: String },
    /// A `from` that names no stack.
    MissingParent { stack: String, parent: String },
    /// Parents that form a loop.
    Cycle { cycle: Vec<String> },
    /// Two matrix combinations that give the same stack name.
    MatrixCollision {
        name: String,
        first: String,
        second: String,
    },
    /// A matrix without variables, or a variable without values.
    MatrixEmpty { variable: Option<String> },
    /// A matrix variable that lists one value twice.
    MatrixDuplicate { variable: String, value: String },
    /// A matrix whose variables multiply to more stacks than one file may define.
    MatrixTooLarge { combinations: String, limit: usize },
    /// A `{{ ... }}` expression that does not render.
    Expression { message: String },
    /// A tag claimed by two stacks.
    TagConflict {
        tag: String,
        first: String,
        second: String,
    },
    /// A tag that is not a valid Docker tag.
    InvalidTag { tag: String },
    /// A name that is not usable as a stack name.
    InvalidName { name: String },
    /// A `copy` source that leaves the stack's context directory.
    CopyEscapes { src: String, reason: String },
    /// A `copy` source that does not exist.
    CopyMissing { src: String },
    /// A value outside what the key accepts.
    InvalidValue { key: String, message: String },
    /// A file of the context directory that cannot go into a build context.
    ContextEntry { path: String, what: String },
}

impl DefinitionErrorKind {
    fn code(&self) -> &'static str {
        use DefinitionErrorKind::*;
        match self {
            Syntax { .. } => "ferrostack::definition::syntax",
            UnknownKey { .. } => "ferrostack::definition::unknown_key",
            MissingKey { .. } => "ferrostack::definition::missing_key",
            Origin { .. } => "ferrostack::definition::origin",
            StepAction { .. } => "ferrostack::definition::step",
            UnknownRuntime { .. } => "ferrostack::definition::unknown_runtime",
            UnsupportedVersion { .. } => "ferrostack::definition::runtime_version",
            DuplicateRuntime { .. } => "ferrostack::definition::duplicate_runtime",
            UnknownSuite { .. } => "ferrostack::definition::unknown_suite",
            SuiteUnknown { .. } => "ferrostack::definition::suite_unknown",
            DuplicateName { .. } => "ferrostack::definition::duplicate_name",
            MissingParent { .. } => "ferrostack::definition::missing_parent",
            Cycle { .. } => "ferrostack::definition::cycle",
            MatrixCollision { .. } => "ferrostack::definition::matrix_collision",
            MatrixEmpty { .. } => "ferrostack::definition::matrix_empty",
            MatrixDuplicate { .. } => "ferrostack::definition::matrix_duplicate",
            MatrixTooLarge { .. } => "ferrostack::definition::matrix_too_large",
            Expression { .. } => "ferrostack::definition::expression",
            TagConflict { .. } => "ferrostack::definition::tag_conflict",
            InvalidTag { .. } => "ferrostack::definition::invalid_tag",
            InvalidName { .. } => "ferrostack::definition::invalid_name",
            CopyEscapes { .. } => "ferrostack::definition::copy_escapes",
            CopyMissing { .. } => "ferrostack::definition::copy_missing",
            InvalidValue { .. } => "ferrostack::definition::invalid_value",
            ContextEntry { .. } => "ferrostack::definition::context_entry",
        }
    }
}

impl fmt::Display for DefinitionErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DefinitionErrorKind::*;
        match self {
            Syntax { message } => write!(f, "{message}"),
            UnknownKey { key, table } => write!(f, "unknown key `{key}` in {table}"),
            MissingKey { key } => write!(f, "missing required key `{key}`"),
            Origin { found } if found.is_empty() => {
                write!(
                    f,
                    "stack has no origin: give exactly one of `from`, `image` or `[bootstrap]`"
                )
            }
            Origin { found } => write!(
                f,
                "stack has {} origins ({}): give exactly one",
                found.len(),
                ticks(found)
            ),
            StepAction { found } if found.is_empty() => write!(f, "step has no action"),
            StepAction { found } => write!(
                f,
                "step has {} actions ({}): give exactly one per step",
                found.len(),
                ticks(found)
            ),
            UnknownRuntime { name } => write!(f, "unknown runtime `{name}`"),
            UnsupportedVersion {
                runtime,
                version,
                suite,
            } => {
                write!(
                    f,
                    "runtime `{runtime}` version `{version}` is not offered by Debian `{suite}`"
                )
            }
            DuplicateRuntime { name } => write!(f, "runtime `{name}` is listed twice"),
            UnknownSuite { suite } => write!(f, "unknown Debian suite `{suite}`"),
            SuiteUnknown { image } => {
                write!(f, "cannot tell which Debian suite image `{image}` is")
            }
            DuplicateName { name, other } => {
                write!(f, "stack `{name}` is defined twice (also in {other})")
            }
            MissingParent { stack, parent } => write!(
                f,
                "stack `{stack}` names parent `{parent}`, which is not defined"
            ),
            Cycle { cycle } => write!(f, "stack parents form a cycle: {}", cycle.join(" → ")),
            MatrixCollision {
                name,
                first,
                second,
            } => {
                write!(
                    f,
                    "matrix combinations {first} and {second} both expand to stack `{name}`"
                )
            }
            MatrixEmpty { variable: Some(v) } => write!(f, "matrix variable `{v}` has no values"),
            MatrixEmpty { variable: None } => write!(f, "`[matrix]` has no variables"),
            MatrixDuplicate { variable, value } => {
                write!(f, "matrix variable `{variable}` lists `{value}` twice")
            }
            MatrixTooLarge {
                combinations,
                limit,
            } => {
                write!(f, "`[matrix]` expands to {combinations} stacks; one file may define at most {limit}")
            }
            Expression { message } => write!(f, "expression does not render: {message}"),
            TagConflict { tag, first, second } => {
                write!(f, "tag `{tag}` is claimed by both `{first}` and `{second}`")
            }
            InvalidTag { tag } => write!(f, "`{tag}` is not a valid image tag"),
            InvalidName { name } => write!(f, "`{name}` is not a valid stack name"),
            CopyEscapes { src, reason } => write!(
                f,
                "copy source `{src}` escapes the stack's context directory: {reason}"
            ),
            CopyMissing { src } => write!(
                f,
                "copy source `{src}` does not exist in the stack's context directory"
            ),
            InvalidValue { key, message } => write!(f, "invalid `{key}`: {message}"),
            ContextEntry { path, what } => write!(f, "context file `{path}` {what}"),
        }
    }
}

fn ticks(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One mistake in a definition: what, where, and what to do about it.
#[derive(Debug, Clone)]
pub struct DefinitionError {
    pub kind: DefinitionErrorKind,
    pub site: Option<Site>,
    pub help: Option<String>,
    /// A second place involved (the other duplicate, the first claimant of a tag).
    pub also: Option<AlsoHere>,
}

impl DefinitionError {
    pub(crate) fn new(kind: DefinitionErrorKind, site: Option<Site>) -> Self {
        DefinitionError {
            kind,
            site,
            help: None,
            also: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(crate) fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub(crate) fn with_also(mut self, site: Option<Site>) -> Self {
        self.also = site.map(|site| AlsoHere { site });
        self
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.site {
            Some(site) => write!(f, "{site}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for DefinitionError {}

impl Diagnostic for DefinitionError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.site.as_ref().map(|s| &s.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let site = self.site.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(site.label.clone()),
            site.span,
        ))))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        self.also.as_ref().map(|a| {
            Box::new(std::iter::once(a as &dyn Diagnostic))
                as Box<dyn Iterator<Item = &'a dyn Diagnostic>>
        })
    }
}

/// The other place a definition error involves, shown with its own snippet.
#[derive(Debug, Clone)]
pub struct AlsoHere {
    pub site: Site,
}

impl fmt::Display for AlsoHere {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.site, self.site.label)
    }
}

impl std::error::Error for AlsoHere {}

impl Diagnostic for AlsoHere {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.site.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.site.label.clone()),
            self.site.span,
        ))))
    }
}

/// "did you mean" for a misspelt name among known ones.
pub(crate) fn did_you_mean<'a>(
    wrong: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Jaro-Winkler is quadratic in the length: a mistyped name is short, a huge one is no typo.
    if wrong.len() > 64 {
        return None;
    }
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(wrong, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}
