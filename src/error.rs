//! The library's typed errors; only the binary renders them.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

pub use crate::definition_error::{DefinitionError, DefinitionErrorKind, Site};

/// Everything that can go wrong from loading definitions to writing the lock.
#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    /// One mistake in a stack definition.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Definition(Box<DefinitionError>),

    /// Several mistakes, reported together so one run shows them all.
    #[error("{} problems in stack definitions", .errors.len())]
    #[diagnostic(
        code(ferrostack::definitions),
        help("fix them in order: later ones may follow from earlier ones")
    )]
    Definitions {
        #[related]
        errors: Vec<DefinitionError>,
    },

    /// A file or directory could not be read or written.
    #[error("cannot {action} `{}`", path.display())]
    #[diagnostic(code(ferrostack::io))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A Tera template failed to parse or render.
    #[error("template `{template}` failed for stack `{stack}`: {message}")]
    #[diagnostic(
        code(ferrostack::template),
        help(
            "templates are Tera; a project's `templates/` overrides the bundled ones file by file"
        )
    )]
    Template {
        template: String,
        stack: String,
        message: String,
    },

    /// `images.lock` exists but cannot be understood.
    #[error("`{}` is not a valid lock: {message}", path.display())]
    #[diagnostic(
        code(ferrostack::lock::parse),
        help("restore it from version control, or delete it: the next build writes a fresh one")
    )]
    LockParse { path: PathBuf, message: String },

    /// Another ferrostack process holds the lock.
    #[error("`{}` is locked by another ferrostack process", path.display())]
    #[diagnostic(
        code(ferrostack::lock::busy),
        help("wait for the other run to finish, or pass `--wait` to queue behind it")
    )]
    LockBusy { path: PathBuf },

    /// `--locked` was given and the lock would change.
    #[error("images.lock would change, and `--locked` forbids it:\n{}", reasons.join("\n"))]
    #[diagnostic(code(ferrostack::lock::locked), help("run without `--locked` (for example `ferrostack build`) and commit the new images.lock"))]
    LockWouldChange { reasons: Vec<String> },

    /// A stack named on the command line does not exist.
    #[error("no stack named `{name}`")]
    #[diagnostic(code(ferrostack::unknown_stack), help("{hint}"))]
    UnknownStack { name: String, hint: String },

    /// `render --check` found committed files that differ from a fresh render.
    #[error("rendered files are out of date:\n{}", differences.join("\n"))]
    #[diagnostic(
        code(ferrostack::render::stale),
        help("run `ferrostack render` and commit the result")
    )]
    RenderStale { differences: Vec<String> },

    /// The Docker engine refused or failed an operation.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Engine(#[from] crate::engine::EngineError),

    /// Some stacks failed to build or check; the report says which and why.
    #[error("{failed} of {total} stacks failed")]
    #[diagnostic(
        code(ferrostack::build::failed),
        help("the log of each stack is in `target/ferrostack/logs/<stack>.log`")
    )]
    BuildFailed { failed: usize, total: usize },

    /// The run was interrupted (Ctrl-C, SIGTERM).
    #[error("interrupted: stopped scheduling, cancelled running builds; the lock records what completed")]
    #[diagnostic(code(ferrostack::interrupted))]
    Interrupted,

    /// A `[ffmpeg] helper = true` stack whose helper cannot be built here.
    #[error("stack `{stack}`: {message}")]
    #[diagnostic(code(ferrostack::helper), help("{help}"))]
    Helper {
        stack: String,
        message: String,
        help: String,
    },

    /// The package cache could not listen.
    #[error("cannot start the package cache on `{address}`")]
    #[diagnostic(
        code(ferrostack::package_cache),
        help("turn it off with `--no-package-cache` or `[build] package_cache = false`")
    )]
    PackageCache {
        address: String,
        #[source]
        source: std::io::Error,
    },

    /// A registry refused, or its credentials could not be read.
    #[error("registry `{registry}`: {message}")]
    #[diagnostic(code(ferrostack::registry), help("{help}"))]
    Registry {
        registry: String,
        message: String,
        help: String,
    },

    /// A project setting is wrong.
    #[error("{message}")]
    #[diagnostic(code(ferrostack::settings))]
    Settings {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A command-line argument is refused (checked beyond what the parser knows).
    #[error("{message}")]
    #[diagnostic(code(ferrostack::usage))]
    Usage {
        message: String,
        #[help]
        help: Option<String>,
    },
}

impl Error {
    /// Shorthand for an I/O error that names its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Turns a list of definition errors into one error (none → `None`).
    pub fn from_definitions(mut errors: Vec<DefinitionError>) -> Option<Self> {
        match errors.len() {
            0 => None,
            1 => Some(Error::Definition(Box::new(errors.remove(0)))),
            _ => Some(Error::Definitions { errors }),
        }
    }

    /// Exit code: 2 for usage or definition errors, 1 for every other failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Definition(_)
            | Error::Definitions { .. }
            | Error::UnknownStack { .. }
            | Error::Settings { .. }
            | Error::Usage { .. }
            | Error::Helper { .. } => 2,
            _ => 1,
        }
    }
}

impl From<DefinitionError> for Error {
    fn from(e: DefinitionError) -> Self {
        Error::Definition(Box::new(e))
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
