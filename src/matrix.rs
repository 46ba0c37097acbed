//! Expands a `[matrix]` into one stack file per combination of its variables.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::definition_error::{DefinitionError, DefinitionErrorKind};
use crate::load::{LoadedFile, SourceFile};
use crate::stack_file::{StackFile, Str};

/// One stack file after substituting one combination of matrix variables.
#[derive(Debug, Clone)]
pub(crate) struct Expanded {
    pub source: Arc<SourceFile>,
    pub file: StackFile,
    pub vars: BTreeMap<String, String>,
}

/// How many stacks one file's `[matrix]` may expand to: far more than a catalogue needs, few
/// enough that a mistyped matrix cannot stall `plan`.
pub(crate) const MAX_COMBINATIONS: usize = 256;

/// Expands one loaded file. A file without `[matrix]` gives one stack; `{{ }}` expressions in
/// its strings (except `tags`, rendered later) see the matrix variables.
pub(crate) fn expand(loaded: &LoadedFile) -> Result<Vec<Expanded>, Vec<DefinitionError>> {
    let source = &loaded.source;
    let mut errors = Vec::new();
    let mut variables: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(matrix) = &loaded.file.matrix {
        if matrix.get_ref().is_empty() {
            errors.push(
                DefinitionError::new(DefinitionErrorKind::MatrixEmpty { variable: None }, Some(source.site(matrix.span(), "empty matrix")))
                    .with_help("add a variable with a list of values, e.g. `suite = [\"bookworm\", \"trixie\"]`"),
            );
        }
        for (name, values) in matrix.get_ref() {
            if values.get_ref().is_empty() {
                errors.push(
                    DefinitionError::new(
                        DefinitionErrorKind::MatrixEmpty {
                            variable: Some(name.clone()),
                        },
                        Some(source.site(values.span(), "no values")),
                    )
                    .with_help("give at least one value, or remove the variable"),
                );
            }
            let mut listed = BTreeSet::new();
            for value in values.get_ref() {
                if !listed.insert(value.get_ref().as_str()) {
                    errors.push(
                        DefinitionError::new(
                            DefinitionErrorKind::MatrixDuplicate {
                                variable: name.clone(),
                                value: value.get_ref().clone(),
                            },
                            Some(source.site(value.span(), "listed again here")),
                        )
                        .with_help("list each value once"),
                    );
                    break;
                }
            }
            variables.push((
                name.clone(),
                values
                    .get_ref()
                    .iter()
                    .map(|v| v.get_ref().clone())
                    .collect(),
            ));
        }
        // Checked before expanding: three variables of a thousand values would be a billion stacks.
        let count = variables
            .iter()
            .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()));
        if count.is_none_or(|n| n > MAX_COMBINATIONS) {
            let combinations =
                count.map_or_else(|| format!("more than {}", usize::MAX), |n| n.to_string());
            errors.push(
                DefinitionError::new(
                    DefinitionErrorKind::MatrixTooLarge {
                        combinations,
                        limit: MAX_COMBINATIONS,
                    },
                    Some(source.site(matrix.span(), "these variables multiply")),
                )
                .with_help("split the matrix over several files, or drop values nobody builds"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out: Vec<Expanded> = Vec::new();
    let mut seen: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for vars in combinations(&variables) {
        let mut file = loaded.file.clone();
        file.matrix = None;
        let mut context = tera::Context::new();
        for (k, v) in &vars {
            context.insert(k, v);
        }
        let mut name_failed = false;
        let name_span = file.name.as_ref().map(|n| n.span());
        for s in file.strings_mut() {
            if let Err(e) = substitute(s, &context) {
                name_failed |= Some(s.span()) == name_span;
                errors.push(
                    DefinitionError::new(
                        DefinitionErrorKind::Expression { message: e },
                        Some(source.site(s.span(), "in this value")),
                    )
                    .with_help(variables_hint(&vars)),
                );
            }
        }
        if let Some(name) = file.name.as_ref().filter(|_| !name_failed) {
            let name_text = name.get_ref().clone();
            if let Some(first) = seen.get(&name_text) {
                errors.push(
                    DefinitionError::new(
                        DefinitionErrorKind::MatrixCollision {
                            name: name_text.clone(),
                            first: show(first),
                            second: show(&vars),
                        },
                        Some(source.site(name.span(), "same name for several combinations")),
                    )
                    .with_help(
                        "use every matrix variable in `name`, e.g. `name = \"python-{{ suite }}\"`",
                    ),
                );
                continue;
            }
            seen.insert(name_text, vars.clone());
        }
        out.push(Expanded {
            source: Arc::clone(source),
            file,
            vars,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.dedup_by(|a, b| a.to_string() == b.to_string());
        Err(errors)
    }
}

/// Renders `{{ }}` / `{% %}` in one string; plain strings are left alone.
pub(crate) fn substitute(s: &mut Str, context: &tera::Context) -> Result<(), String> {
    let text = s.get_ref();
    if !(text.contains("{{") || text.contains("{%")) {
        return Ok(());
    }
    let rendered = render_expression(text, context)?;
    *s.get_mut() = rendered;
    Ok(())
}

/// Renders a one-off Tera expression, with the error chain flattened into one line.
pub(crate) fn render_expression(text: &str, context: &tera::Context) -> Result<String, String> {
    tera::Tera::one_off(text, context, false).map_err(|e| {
        let mut parts: Vec<String> = Vec::new();
        let mut cur: Option<&dyn std::error::Error> = Some(&e);
        while let Some(err) = cur {
            let part = err.to_string().replace('\n', " ");
            // Tera names its one-off template `__tera_one_off`; that means nothing to users.
            let part = part
                .replace(" in '__tera_one_off'", "")
                .replace(" in template '__tera_one_off'", "")
                .replace("'__tera_one_off'", "the expression");
            if !part.starts_with("Failed to render the expression") && !parts.contains(&part) {
                parts.push(part);
            }
            cur = err.source();
        }
        let mut msg = parts.join(": ");
        // "Variable `suit` not found": suggest a defined variable.
        if let Some(name) = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.starts_with("Variable"))
        {
            let name = name.split('.').next().unwrap_or(name).to_string();
            let known: Vec<String> = context
                .clone()
                .into_json()
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            if let Some(m) =
                crate::definition_error::did_you_mean(&name, known.iter().map(String::as_str))
            {
                msg.push_str(&format!(" (did you mean `{m}`?)"));
            }
        }
        if msg.is_empty() {
            "the expression does not render".to_string()
        } else {
            msg
        }
    })
}

pub(crate) fn variables_hint(vars: &BTreeMap<String, String>) -> String {
    if vars.is_empty() {
        "no variables are defined here; `[matrix]` defines them".to_string()
    } else {
        format!(
            "variables here: {}",
            vars.keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn show(vars: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// The cartesian product of the variables, in key order then value order.
fn combinations(variables: &[(String, Vec<String>)]) -> Vec<BTreeMap<String, String>> {
    let mut out = vec![BTreeMap::new()];
    for (name, values) in variables {
        out = out
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.insert(name.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    out
}
