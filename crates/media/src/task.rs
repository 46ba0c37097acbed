//! Worker payloads for `run`: `{"task": "transcode", "input": "...", "output": "...", "options": {...}}`.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::monitor::Monitor;
use crate::task_outcome::TaskOutcome;
use crate::{
    normalize, package, probe_with, resize, sprite, thumbnail, thumbnails, transcode, MediaError,
    NormalizeOptions, PackageOptions, ResizeOptions, SpriteOptions, ThumbnailOptions,
    ThumbnailsOptions, TranscodeOptions,
};

/// One task as a worker sends it. `options` takes the same fields as the library's option types
/// (snake_case); times accept seconds or `"HH:MM:SS"`, bit rates `128000` or `"128k"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase", deny_unknown_fields)]
pub enum Task {
    Probe {
        input: PathBuf,
    },
    Transcode {
        input: PathBuf,
        output: PathBuf,
        #[serde(default)]
        options: TranscodeOptions,
    },
    Resize {
        input: PathBuf,
        output: PathBuf,
        #[serde(default)]
        options: ResizeOptions,
    },
    Normalize {
        input: PathBuf,
        output: PathBuf,
        #[serde(default)]
        options: NormalizeOptions,
    },
    Thumbnail {
        input: PathBuf,
        output: PathBuf,
        #[serde(default)]
        options: ThumbnailOptions,
    },
    /// `output` is the directory for `thumb-0001.jpg`, ...
    Thumbnails {
        input: PathBuf,
        output: PathBuf,
        #[serde(default)]
        options: ThumbnailsOptions,
    },
    Sprite {
        input: PathBuf,
        output: PathBuf,
        #[serde(default)]
        options: SpriteOptions,
    },
    /// `output` is the package directory (HLS + DASH).
    Package {
        input: PathBuf,
        output: PathBuf,
        #[serde(default)]
        options: PackageOptions,
    },
}

/// A task file holds one task or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TaskFile {
    One(Task),
    Many(Vec<Task>),
}

impl Task {
    /// The task's name as in the payload.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Probe { .. } => "probe",
            Task::Transcode { .. } => "transcode",
            Task::Resize { .. } => "resize",
            Task::Normalize { .. } => "normalize",
            Task::Thumbnail { .. } => "thumbnail",
            Task::Thumbnails { .. } => "thumbnails",
            Task::Sprite { .. } => "sprite",
            Task::Package { .. } => "package",
        }
    }

    /// Runs the task; the result is the task's report as JSON.
    pub fn run(&self, monitor: &mut Monitor) -> Result<serde_json::Value, MediaError> {
        fn json<T: Serialize>(v: T) -> Result<serde_json::Value, MediaError> {
            Ok(serde_json::to_value(v).expect("reports serialize"))
        }
        match self {
            Task::Probe { input } => json(probe_with(input, monitor.limits())?),
            Task::Transcode {
                input,
                output,
                options,
            } => json(transcode(input, output, options, monitor)?),
            Task::Resize {
                input,
                output,
                options,
            } => json(resize(input, output, options, monitor)?),
            Task::Normalize {
                input,
                output,
                options,
            } => json(normalize(input, output, options, monitor)?),
            Task::Thumbnail {
                input,
                output,
                options,
            } => json(thumbnail(input, output, options, monitor)?),
            Task::Thumbnails {
                input,
                output,
                options,
            } => json(thumbnails(input, output, options, monitor)?),
            Task::Sprite {
                input,
                output,
                options,
            } => json(sprite(input, output, options, monitor)?),
            Task::Package {
                input,
                output,
                options,
            } => json(package(input, output, options, monitor)?),
        }
    }
}

impl TaskFile {
    /// Reads and validates a task file (`-` reads standard input).
    pub fn load(path: &Path) -> Result<TaskFile, MediaError> {
        let text = if path == Path::new("-") {
            std::io::read_to_string(std::io::stdin()).map_err(|e| MediaError::io(path, e))?
        } else {
            std::fs::read_to_string(path).map_err(|e| MediaError::io(path, e))?
        };
        let invalid = |reason: String| MediaError::InvalidTask {
            path: path.to_owned(),
            reason,
        };
        // Parse in two steps so errors name the task and field instead of "no variant matched".
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        match value {
            serde_json::Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    serde_json::from_value(v).map_err(|e| invalid(format!("task {}: {e}", i + 1)))
                })
                .collect::<Result<Vec<Task>, _>>()
                .map(TaskFile::Many),
            v => serde_json::from_value(v)
                .map(TaskFile::One)
                .map_err(|e| invalid(e.to_string())),
        }
    }

    /// Runs every task in order; a failed task does not stop the ones after it.
    pub fn run(&self, monitor: &mut Monitor) -> Vec<TaskOutcome> {
        let tasks: Vec<&Task> = match self {
            TaskFile::One(t) => vec![t],
            TaskFile::Many(ts) => ts.iter().collect(),
        };
        tasks
            .into_iter()
            .map(|t| TaskOutcome::from_result(t.name(), t.run(monitor)))
            .collect()
    }
}
