//! The Tera templates a project renders with: the bundled set, overridden file by file by the
//! project's own `templates/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::stack::{Origin, Stack};

/// The templates shipped inside ferrostack (the repository's `templates/`).
const BUNDLED: &[(&str, &str)] = &[
    (
        "Dockerfile.tera",
        include_str!("../templates/Dockerfile.tera"),
    ),
    ("macros.tera", include_str!("../templates/macros.tera")),
    (
        "partials/bootstrap.tera",
        include_str!("../templates/partials/bootstrap.tera"),
    ),
    (
        "partials/from.tera",
        include_str!("../templates/partials/from.tera"),
    ),
    (
        "partials/ca_bundle.tera",
        include_str!("../templates/partials/ca_bundle.tera"),
    ),
    (
        "partials/slim.tera",
        include_str!("../templates/partials/slim.tera"),
    ),
    (
        "partials/merged.tera",
        include_str!("../templates/partials/merged.tera"),
    ),
    (
        "partials/packages.tera",
        include_str!("../templates/partials/packages.tera"),
    ),
    (
        "partials/runtime.tera",
        include_str!("../templates/partials/runtime.tera"),
    ),
    (
        "partials/ffmpeg.tera",
        include_str!("../templates/partials/ffmpeg.tera"),
    ),
    (
        "partials/composer.tera",
        include_str!("../templates/partials/composer.tera"),
    ),
    (
        "partials/step_run.tera",
        include_str!("../templates/partials/step_run.tera"),
    ),
    (
        "partials/step_apt.tera",
        include_str!("../templates/partials/step_apt.tera"),
    ),
    (
        "partials/step_pip.tera",
        include_str!("../templates/partials/step_pip.tera"),
    ),
    (
        "partials/step_npm.tera",
        include_str!("../templates/partials/step_npm.tera"),
    ),
    (
        "partials/step_gem.tera",
        include_str!("../templates/partials/step_gem.tera"),
    ),
    (
        "partials/step_copy.tera",
        include_str!("../templates/partials/step_copy.tera"),
    ),
    (
        "partials/metadata.tera",
        include_str!("../templates/partials/metadata.tera"),
    ),
];

/// One template's text and where it came from.
#[derive(Debug, Clone)]
pub struct TemplateFile {
    pub text: String,
    /// `None` for a bundled template, the file for a project override.
    pub path: Option<PathBuf>,
    /// sha256 of the bytes, hex.
    pub digest: String,
}

/// The effective templates of a project, parsed.
#[derive(Debug)]
pub struct TemplateSet {
    files: BTreeMap<String, TemplateFile>,
    tera: tera::Tera,
}

impl TemplateSet {
    /// Bundled templates, with every `*.tera` under `dir` (when it exists) overriding or adding.
    pub fn load(dir: &Path) -> Result<TemplateSet> {
        let mut files: BTreeMap<String, TemplateFile> = BUNDLED
            .iter()
            .map(|(name, text)| {
                (
                    name.to_string(),
                    TemplateFile {
                        text: text.to_string(),
                        path: None,
                        digest: digest(text.as_bytes()),
                    },
                )
            })
            .collect();
        if dir.is_dir() {
            for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
                let entry = entry.map_err(|e| {
                    let path = e.path().unwrap_or(dir).to_path_buf();
                    Error::io("read templates", path, e.into())
                })?;
                if !entry.file_type().is_file()
                    || entry.path().extension().is_none_or(|x| x != "tera")
                {
                    continue;
                }
                let name = crate::load::relative_display(dir, entry.path());
                let text = std::fs::read_to_string(entry.path())
                    .map_err(|e| Error::io("read template", entry.path(), e))?;
                let d = digest(text.as_bytes());
                files.insert(
                    name,
                    TemplateFile {
                        text,
                        path: Some(entry.path().to_path_buf()),
                        digest: d,
                    },
                );
            }
        }
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.register_filter("dq", dq_filter);
        tera.register_filter("sh", sh_filter);
        tera.add_raw_templates(files.iter().map(|(n, f)| (n.clone(), f.text.clone())))
            .map_err(|e| Error::Template {
                template: error_template(&e),
                stack: "(all)".into(),
                message: flatten(&e),
            })?;
        Ok(TemplateSet { files, tera })
    }

    /// The parsed templates.
    pub(crate) fn tera(&self) -> &tera::Tera {
        &self.tera
    }

    /// Every template, by name.
    pub fn files(&self) -> &BTreeMap<String, TemplateFile> {
        &self.files
    }

    /// The templates that rendering `stack` reads: the skeleton, the macros, one partial per
    /// component kind it has, and any project template ferrostack does not know (which may be
    /// included from anywhere).
    pub fn used_by(&self, stack: &Stack, ca_bundle: bool) -> BTreeSet<String> {
        let mut used: BTreeSet<String> =
            ["Dockerfile.tera", "macros.tera", "partials/metadata.tera"]
                .map(String::from)
                .into();
        let root = !matches!(stack.origin, Origin::Parent { .. });
        used.insert(
            if matches!(stack.origin, Origin::Bootstrap(_)) {
                "partials/bootstrap.tera"
            } else {
                "partials/from.tera"
            }
            .into(),
        );
        if root && ca_bundle {
            used.insert("partials/ca_bundle.tera".into());
        }
        if !stack.packages.is_empty() {
            used.insert("partials/packages.tera".into());
        }
        if !stack.runtimes.is_empty() {
            used.insert("partials/runtime.tera".into());
        }
        if stack.ffmpeg.is_some() {
            used.insert("partials/ffmpeg.tera".into());
        }
        if stack.composer.is_some() {
            used.insert("partials/composer.tera".into());
        }
        for step in &stack.steps {
            used.insert(format!("partials/step_{}.tera", step.kind()));
        }
        for name in self.files.keys() {
            if !BUNDLED.iter().any(|(b, _)| b == name) {
                used.insert(name.clone());
            }
        }
        used
    }
}

/// sha256 hex of bytes.
pub(crate) fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Quotes a value for a Dockerfile `"..."` (LABEL, ENV): escapes `\`, `"` and `$`.
fn dq_filter(
    value: &tera::Value,
    _: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let s = match value {
        tera::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$")
        .replace('\n', "\\n");
    Ok(tera::Value::String(format!("\"{escaped}\"")))
}

/// `sh`: a value as one shell word, quoted when it must be (see [`crate::render::shell_word`]).
fn sh_filter(
    value: &tera::Value,
    _: &std::collections::HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    let s = match value {
        tera::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(tera::Value::String(crate::render::shell_word(&s)))
}

fn error_template(e: &tera::Error) -> String {
    let text = e.to_string();
    text.split('\'').nth(1).unwrap_or("?").to_string()
}

/// A Tera error with its causes on one line.
pub(crate) fn flatten(e: &tera::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        parts.push(err.to_string().replace('\n', " "));
        cur = err.source();
    }
    parts.join(": ")
}
