//! What `run` prints per task: the report, or the typed error as data a worker can act on.
use serde::{Deserialize, Serialize};

use crate::MediaError;

/// The result of one task from a task file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub task: String,
    pub ok: bool,
    /// The task's report when `ok`.
    pub result: Option<serde_json::Value>,
    /// The error when not `ok`.
    pub error: Option<ErrorInfo>,
}

/// A `MediaError` as JSON: stable `kind`, the message, and whether a retry may help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub kind: String,
    pub message: String,
    pub retryable: bool,
}

impl From<&MediaError> for ErrorInfo {
    fn from(e: &MediaError) -> Self {
        ErrorInfo {
            kind: e.kind().to_owned(),
            message: e.to_string(),
            retryable: e.retryable(),
        }
    }
}

impl TaskOutcome {
    pub(crate) fn from_result(task: &str, r: Result<serde_json::Value, MediaError>) -> Self {
        match r {
            Ok(v) => TaskOutcome {
                task: task.to_owned(),
                ok: true,
                result: Some(v),
                error: None,
            },
            Err(e) => TaskOutcome {
                task: task.to_owned(),
                ok: false,
                result: None,
                error: Some(ErrorInfo::from(&e)),
            },
        }
    }
}
