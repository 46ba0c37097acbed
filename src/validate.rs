//! Turns expanded stack files into validated stacks, checking each file and then the whole
//! catalogue (names, parents, cycles, suites, runtime versions, tags, copy sources).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use crate::catalogue::Catalogue;
use crate::context_sites::ContextSites;
use crate::definition_error::{did_you_mean, DefinitionError, DefinitionErrorKind as K, Site};
use crate::error::{Error, Result};
use crate::graph::StackGraph;
use crate::matrix::{render_expression, variables_hint, Expanded};
use crate::stack::{
    Bootstrap, Check, Composer, Ffmpeg, Layers, Origin, Runtime, Stack, Status, Step,
};
use crate::stack_file::Str;
use crate::suite::{RuntimeKind, Suite};

const VARIANTS: [&str; 4] = ["minbase", "buildd", "fakechroot", "-"];
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
const DEFAULT_CHECK_TIMEOUT: u64 = 120;

/// A stack after its own file was checked, before the catalogue-wide checks.
struct Draft {
    stack: Stack,
    expanded: Expanded,
    /// Runtime versions as written (resolved against the suite later).
    /// Each runtime: its kind, the version asked for, where, and whether npm is Debian's.
    runtime_versions: Vec<(RuntimeKind, Option<Str>, std::ops::Range<usize>, bool)>,
}

/// Validates every expanded stack and the catalogue as a whole. Every error found is returned.
pub(crate) fn validate(root: &Path, expanded: Vec<Expanded>) -> Result<Catalogue> {
    let mut errors = Vec::new();
    let mut drafts = Vec::new();
    for e in expanded {
        match draft(root, e) {
            Ok(d) => drafts.push(d),
            Err(mut es) => errors.append(&mut es),
        }
    }
    // Names must be unique across files.
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut unique = Vec::new();
    for d in drafts {
        if let Some(&first) = by_name.get(&d.stack.name) {
            let first: &Draft = &unique[first];
            errors.push(
                DefinitionError::new(
                    K::DuplicateName {
                        name: d.stack.name.clone(),
                        other: first.stack.source.clone(),
                    },
                    Some(name_site(&d, "defined again here")),
                )
                .with_also(Some(name_site(first, "first defined here")))
                .with_help(
                    "stack names are unique across all files in `stacks/`; rename one of them",
                ),
            );
            continue;
        }
        by_name.insert(d.stack.name.clone(), unique.len());
        unique.push(d);
    }
    let drafts = unique;
    let all_known: Vec<&str> = drafts.iter().map(|d| d.stack.name.as_str()).collect();
    // Parents must exist.
    let mut parent_ok = true;
    for d in &drafts {
        if let Some(parent) = d.stack.parent() {
            if !by_name.contains_key(parent) {
                parent_ok = false;
                let from = d
                    .expanded
                    .file
                    .from
                    .as_ref()
                    .expect("parent origin comes from `from`");
                let known: Vec<&str> = all_known
                    .iter()
                    .copied()
                    .filter(|n| *n != d.stack.name)
                    .collect();
                let mut help = match did_you_mean(parent, known.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`? "),
                    None => String::new(),
                };
                help.push_str(&format!("defined stacks: {}", list(&known)));
                errors.push(
                    DefinitionError::new(
                        K::MissingParent {
                            stack: d.stack.name.clone(),
                            parent: parent.to_string(),
                        },
                        Some(
                            d.expanded
                                .source
                                .site(from.span(), "no stack has this name"),
                        ),
                    )
                    .with_help(help),
                );
            }
        }
    }
    if !parent_ok || !errors.is_empty() {
        return Err(Error::from_definitions(errors).expect("errors is not empty"));
    }
    let graph = StackGraph::new(
        drafts
            .iter()
            .map(|d| (d.stack.name.clone(), d.stack.parent().map(str::to_string))),
    );
    if let Some(cycle) = graph.find_cycle() {
        let d = &drafts[by_name[&cycle[0]]];
        let from = d
            .expanded
            .file
            .from
            .as_ref()
            .expect("a stack in a cycle has a parent");
        errors.push(
            DefinitionError::new(
                K::Cycle { cycle },
                Some(
                    d.expanded
                        .source
                        .site(from.span(), "this parent closes the cycle"),
                ),
            )
            .with_help(
                "a stack cannot be its own ancestor; one stack in the cycle needs another origin",
            ),
        );
        return Err(Error::from_definitions(errors).expect("errors is not empty"));
    }
    // Resolve suites and runtimes parents first.
    let order = graph.topo_order();
    let mut slots: Vec<Option<Draft>> = drafts.into_iter().map(Some).collect();
    let mut stacks: BTreeMap<String, Stack> = BTreeMap::new();
    let mut tag_owner: BTreeMap<String, (String, Option<Site>)> = BTreeMap::new();
    for name in &order {
        let Draft {
            mut stack,
            expanded,
            runtime_versions,
        } = slots[by_name[name]].take().expect("each stack once");
        let parent = stack.parent().and_then(|p| stacks.get(p));
        // `slim` lives in the image: a child inherits its parent's unless it says otherwise.
        stack.parent_slim = parent.is_some_and(|p| p.slim);
        stack.slim = expanded
            .file
            .slim
            .as_ref()
            .map_or(stack.parent_slim, |s| *s.get_ref());
        if let Some(p) = parent {
            stack.suite = p.suite.clone();
            if p.status == Status::Eol && stack.status != Status::Eol {
                let from = expanded.file.from.as_ref().map_or(0..0, |f| f.span());
                errors.push(
                    DefinitionError::new(
                        K::InvalidValue { key: "from".into(), message: format!("parent `{}` is end-of-life (`status = \"eol\"`) and is not built any more", p.name) },
                        Some(expanded.source.site(from, "eol parent")),
                    )
                    .with_help("move this stack to a supported parent, or mark it `status = \"eol\"` too"),
                );
            }
        }
        let suite = Suite::get(&stack.suite);
        // Runtimes, against the suite.
        for (kind, version, span, debian_npm) in runtime_versions {
            let Some(suite) = suite else {
                errors.push(suite_unknown(&stack, &expanded, span));
                continue;
            };
            match suite.offer(kind, version.as_ref().map(|v| v.get_ref().as_str())) {
                Some(offer) => stack.runtimes.push(Runtime {
                    name: kind,
                    version: offer.version.to_string(),
                    packages: offer
                        .packages
                        .iter()
                        .map(|p| p.to_string())
                        .chain(debian_npm.then(|| "npm".to_string()))
                        .collect(),
                    release: offer.release.filter(|_| !debian_npm),
                }),
                None => {
                    let version = version.expect("the default version always exists");
                    let supported: Vec<&str> = suite.offers(kind).map(|o| o.version).collect();
                    errors.push(
                        DefinitionError::new(
                            K::UnsupportedVersion {
                                runtime: kind.name().into(),
                                version: version.get_ref().clone(),
                                suite: suite.codename.into(),
                            },
                            Some(expanded.source.site(version.span(), "not in this suite")),
                        )
                        .with_help(format!(
                            "Debian `{}` offers {} {}; leave out `version` for the default",
                            suite.codename,
                            kind.name(),
                            list(&supported)
                        )),
                    );
                }
            }
        }
        if let Some(ff) = &mut stack.ffmpeg {
            match suite {
                Some(s) => ff.version = s.ffmpeg_version.to_string(),
                None => errors.push(suite_unknown(
                    &stack,
                    &expanded,
                    expanded.file.ffmpeg.as_ref().map_or(0..0, |f| f.span()),
                )),
            }
        }
        // Steps that need a runtime somewhere in the lineage.
        let mut lineage_runtimes: BTreeSet<RuntimeKind> =
            stack.runtimes.iter().map(|r| r.name).collect();
        for a in graph.ancestors(name) {
            lineage_runtimes.extend(stacks[a].runtimes.iter().map(|r| r.name));
        }
        for (i, step) in stack.steps.iter().enumerate() {
            let needs = match step {
                Step::Pip { .. } => Some(RuntimeKind::Python),
                Step::Npm { .. } => Some(RuntimeKind::Node),
                Step::Gem { .. } => Some(RuntimeKind::Ruby),
                _ => None,
            };
            if let Some(kind) = needs.filter(|k| !lineage_runtimes.contains(k)) {
                let span = expanded.file.step.get(i).map_or(0..0, |s| s.span());
                errors.push(
                    DefinitionError::new(
                        K::InvalidValue { key: step.kind().into(), message: format!("needs the `{}` runtime, which neither this stack nor a parent installs", kind.name()) },
                        Some(expanded.source.site(span, "this step")),
                    )
                    .with_help(format!("add `[[runtime]]` with `name = \"{}\"` to this stack or a parent", kind.name())),
                );
            }
        }
        if stack.composer.is_some() && !lineage_runtimes.contains(&RuntimeKind::Php) {
            let span = expanded.file.composer.as_ref().map_or(0..0, |c| c.span());
            errors.push(
                DefinitionError::new(
                    K::InvalidValue { key: "composer".into(), message: "Composer needs the `php` runtime, which neither this stack nor a parent installs".into() },
                    Some(expanded.source.site(span, "here")),
                )
                .with_help("add `[[runtime]]` with `name = \"php\"` to this stack or a parent"),
            );
        }
        // Tags: rendered with the stack's variables, valid, and claimed once.
        let context = tag_context(&stack, suite);
        let mut tags = Vec::new();
        for tag in &expanded.file.tags {
            let text = tag.get_ref();
            let rendered = if text.contains("{{") || text.contains("{%") {
                match render_expression(text, &context) {
                    Ok(t) => t,
                    Err(message) => {
                        let mut vars: BTreeMap<String, String> = stack.vars.clone();
                        for k in [
                            "name",
                            "suite",
                            "debian_version",
                            "ffmpeg_version",
                            "runtimes",
                        ] {
                            vars.insert(k.into(), String::new());
                        }
                        errors.push(
                            DefinitionError::new(
                                K::Expression { message },
                                Some(expanded.source.site(tag.span(), "in this tag")),
                            )
                            .with_help(variables_hint(&vars)),
                        );
                        continue;
                    }
                }
            } else {
                text.clone()
            };
            let site = expanded.source.site(tag.span(), "this tag");
            if !valid_tag(&rendered) {
                errors.push(
                    DefinitionError::new(K::InvalidTag { tag: rendered }, Some(site))
                        .with_help("tags use letters, digits, `_`, `.` and `-`, start with a letter, digit or `_`, and are at most 128 characters"),
                );
                continue;
            }
            tags.push((rendered, site));
        }
        // The stack's own name is always one of its tags.
        let mut all_tags = vec![(
            stack.name.clone(),
            Some(name_site_of(&stack, &expanded, "stack name")),
        )];
        all_tags.extend(tags.iter().cloned().map(|(t, s)| (t, Some(s))));
        let mut mine = BTreeSet::new();
        for (tag, site) in all_tags {
            if !mine.insert(tag.clone()) {
                continue;
            }
            if let Some((owner, owner_site)) = tag_owner.get(&tag) {
                errors.push(
                    DefinitionError::new(K::TagConflict { tag: tag.clone(), first: owner.clone(), second: stack.name.clone() }, site)
                        .with_also(owner_site.clone())
                        .with_help("every tag, and every stack name, names one image; give one of the stacks another tag"),
                );
                continue;
            }
            tag_owner.insert(tag, (stack.name.clone(), site));
        }
        stack.tags = tags
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| *t != stack.name)
            .collect();
        stacks.insert(name.clone(), stack);
    }
    match Error::from_definitions(errors) {
        Some(e) => Err(e),
        None => Ok(Catalogue::new(stacks, graph)),
    }
}

fn suite_unknown(
    stack: &Stack,
    expanded: &Expanded,
    span: std::ops::Range<usize>,
) -> DefinitionError {
    let image = match &stack.origin {
        Origin::Image { reference } => reference.clone(),
        _ => stack.suite.clone(),
    };
    DefinitionError::new(
        K::SuiteUnknown { image },
        Some(expanded.source.site(span, "needs a Debian suite")),
    )
    .with_help(format!(
        "add `suite = \"bookworm\"` next to `image`; known suites: {}",
        Suite::known()
    ))
}

/// Variables a tag expression sees.
fn tag_context(stack: &Stack, suite: Option<&Suite>) -> tera::Context {
    let mut c = tera::Context::new();
    for (k, v) in &stack.vars {
        c.insert(k, v);
    }
    c.insert("name", &stack.name);
    c.insert("suite", &stack.suite);
    if let Some(s) = suite {
        c.insert("debian_version", s.debian_version);
        c.insert("ffmpeg_version", s.ffmpeg_version);
    }
    let runtimes: BTreeMap<&str, &str> = stack
        .runtimes
        .iter()
        .map(|r| (r.name.name(), r.version.as_str()))
        .collect();
    c.insert("runtimes", &runtimes);
    c
}

fn name_site(d: &Draft, label: &str) -> Site {
    name_site_of(&d.stack, &d.expanded, label)
}

fn name_site_of(_stack: &Stack, e: &Expanded, label: &str) -> Site {
    let span = e.file.name.as_ref().map_or(0..0, |n| n.span());
    e.source.site(span, label)
}

fn list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|i| format!("`{}`", i.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && name.len() <= 128
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && tag.len() <= 128
}

/// Checks one expanded file on its own and builds its draft stack.
fn draft(root: &Path, e: Expanded) -> std::result::Result<Draft, Vec<DefinitionError>> {
    let src = &e.source;
    let f = &e.file;
    let mut errors = Vec::new();
    let name = match &f.name {
        Some(n) if valid_name(n.get_ref()) => n.get_ref().clone(),
        Some(n) => {
            errors.push(
                DefinitionError::new(K::InvalidName { name: n.get_ref().clone() }, Some(src.site(n.span(), "invalid name")))
                    .with_help("stack names use lowercase letters, digits, `.`, `_` and `-`, and start with a letter or digit"),
            );
            String::new()
        }
        None => {
            errors.push(
                DefinitionError::new(
                    K::MissingKey { key: "name".into() },
                    Some(src.site(0..0, "in this file")),
                )
                .with_help(format!(
                    "add `name = \"{}\"` at the top of the file",
                    src.stem()
                )),
            );
            String::new()
        }
    };
    // Origin: exactly one.
    let mut found = Vec::new();
    if f.from.is_some() {
        found.push("from".to_string());
    }
    if f.image.is_some() {
        found.push("image".to_string());
    }
    if f.bootstrap.is_some() {
        found.push("[bootstrap]".to_string());
    }
    let origin_span = f
        .from
        .as_ref()
        .map(|s| s.span())
        .or_else(|| f.image.as_ref().map(|s| s.span()))
        .or_else(|| f.bootstrap.as_ref().map(|s| s.span()))
        .unwrap_or(0..0);
    let mut suite = String::new();
    let origin = if found.len() != 1 {
        let second = if found.len() > 1 {
            [
                f.image.as_ref().map(|s| s.span()),
                f.bootstrap.as_ref().map(|s| s.span()),
            ]
            .into_iter()
            .flatten()
            .last()
            .unwrap_or(origin_span.clone())
        } else {
            0..0
        };
        errors.push(
            DefinitionError::new(K::Origin { found: found.clone() }, Some(src.site(second, "origin")))
                .with_help("`from = \"<stack>\"` builds on another stack, `image = \"<ref>\"` on an external image, `[bootstrap]` makes a root image from Debian's mirror"),
        );
        None
    } else if let Some(from) = &f.from {
        Some(Origin::Parent {
            name: from.get_ref().clone(),
        })
    } else if let Some(image) = &f.image {
        let reference = image.get_ref().clone();
        match &f.suite {
            Some(s) => match Suite::get(s.get_ref()) {
                Some(known) => suite = known.codename.to_string(),
                None => errors.push(unknown_suite(&e, s)),
            },
            None => {
                if let Some(known) = Suite::infer_from_image(&reference) {
                    suite = known.codename.to_string();
                }
            }
        }
        Some(Origin::Image { reference })
    } else {
        let b = f.bootstrap.as_ref().expect("one origin").get_ref();
        match &b.suite {
            Some(s) => match Suite::get(s.get_ref()) {
                Some(known) => suite = known.codename.to_string(),
                None => errors.push(unknown_suite(&e, s)),
            },
            None => errors.push(
                DefinitionError::new(
                    K::MissingKey {
                        key: "bootstrap.suite".into(),
                    },
                    Some(src.site(
                        f.bootstrap.as_ref().map_or(0..0, |b| b.span()),
                        "in this table",
                    )),
                )
                .with_help(format!(
                    "add `suite = \"bookworm\"`; known suites: {}",
                    Suite::known()
                )),
            ),
        }
        let variant = b
            .variant
            .as_ref()
            .map_or("minbase".to_string(), |v| v.get_ref().clone());
        if let Some(v) = b
            .variant
            .as_ref()
            .filter(|v| !VARIANTS.contains(&v.get_ref().as_str()))
        {
            errors.push(
                DefinitionError::new(
                    K::InvalidValue {
                        key: "bootstrap.variant".into(),
                        message: format!("`{}` is not a debootstrap variant", v.get_ref()),
                    },
                    Some(src.site(v.span(), "here")),
                )
                .maybe_help(Some(format!("variants: {}", list(&VARIANTS)))),
            );
        }
        let mirror = b
            .mirror
            .as_ref()
            .map_or(DEFAULT_MIRROR.to_string(), |m| m.get_ref().clone());
        // The mirror and components go into a single-quoted `sources.list` line of a `RUN`.
        if let Some(m) = b.mirror.as_ref().filter(|m| {
            !((m.get_ref().starts_with("http://") || m.get_ref().starts_with("https://"))
                && url_text(m.get_ref()))
        }) {
            errors.push(
                DefinitionError::new(
                    K::InvalidValue {
                        key: "bootstrap.mirror".into(),
                        message: "a mirror is an http:// or https:// URL, without spaces or quotes"
                            .into(),
                    },
                    Some(src.site(m.span(), "here")),
                )
                .with_help(format!("for example `mirror = \"{DEFAULT_MIRROR}\"`")),
            );
        }
        for c in b
            .components
            .iter()
            .flatten()
            .filter(|c| !valid_component(c.get_ref()))
        {
            errors.push(
                DefinitionError::new(K::InvalidValue { key: "bootstrap.components".into(), message: format!("`{}` is not a Debian archive component", c.get_ref()) }, Some(src.site(c.span(), "here")))
                    .with_help("components are lowercase letters, digits, `-` and `/`: `main`, `contrib`, `non-free-firmware`"),
            );
        }
        let components = match &b.components {
            Some(c) if c.is_empty() => {
                errors.push(
                    DefinitionError::new(
                        K::InvalidValue {
                            key: "bootstrap.components".into(),
                            message: "needs at least one component".into(),
                        },
                        Some(src.site(f.bootstrap.as_ref().map_or(0..0, |b| b.span()), "here")),
                    )
                    .with_help("for example `components = [\"main\"]`"),
                );
                vec![]
            }
            Some(c) => c.iter().map(|s| s.get_ref().clone()).collect(),
            None => vec!["main".to_string()],
        };
        Some(Origin::Bootstrap(Bootstrap {
            suite: suite.clone(),
            variant,
            mirror,
            components,
        }))
    };
    if let (Some(s), None) = (&f.suite, &f.image) {
        errors.push(
            DefinitionError::new(K::InvalidValue { key: "suite".into(), message: "only an `image =` stack sets `suite`".into() }, Some(src.site(s.span(), "here")))
                .with_help("a `[bootstrap]` stack sets `bootstrap.suite`; a `from =` stack inherits its parent's suite"),
        );
    }
    // Context directory.
    let toml_dir = Path::new(&src.rel).parent().unwrap_or(Path::new(""));
    let context_rel = match &f.context {
        Some(c) => normalize(&toml_dir.join(c.get_ref())),
        None => normalize(&toml_dir.join(src.stem())),
    };
    let context_abs = root.join(&context_rel);
    let mut context_sites = ContextSites::new(match &f.context {
        Some(c) => src.site(c.span(), "context directory"),
        None => src.site(
            0..0,
            format!("this file's context directory is `{context_rel}/`"),
        ),
    });
    // Runtimes.
    let mut runtime_versions = Vec::new();
    let mut seen_runtimes = BTreeSet::new();
    for r in &f.runtime {
        let rt = r.get_ref();
        let Some(n) = &rt.name else {
            errors.push(
                DefinitionError::new(
                    K::MissingKey {
                        key: "runtime.name".into(),
                    },
                    Some(src.site(r.span(), "this runtime")),
                )
                .with_help(format!(
                    "runtimes: {}",
                    list(&RuntimeKind::ALL.map(|k| k.name()))
                )),
            );
            continue;
        };
        match RuntimeKind::from_name(n.get_ref()) {
            Some(kind) => {
                if !seen_runtimes.insert(kind) {
                    errors.push(
                        DefinitionError::new(
                            K::DuplicateRuntime {
                                name: kind.name().into(),
                            },
                            Some(src.site(n.span(), "again")),
                        )
                        .with_help("list each runtime once"),
                    );
                }
                let debian_npm = match &rt.npm {
                    None => false,
                    Some(v) if kind != RuntimeKind::Node => {
                        errors.push(
                            DefinitionError::new(
                                K::InvalidValue {
                                    key: "runtime.npm".into(),
                                    message: format!("the {} runtime has no npm", kind.name()),
                                },
                                Some(src.site(v.span(), "here")),
                            )
                            .with_help("`npm` chooses where the node runtime's npm comes from"),
                        );
                        false
                    }
                    Some(v) => match v.get_ref().as_str() {
                        "release" => false,
                        "debian" => true,
                        other => {
                            errors.push(
                                DefinitionError::new(K::InvalidValue { key: "runtime.npm".into(), message: format!("`{other}` is not where npm comes from") }, Some(src.site(v.span(), "here")))
                                    .with_help("`npm = \"release\"` (npm's own release tarball, verified; the default) or `npm = \"debian\"` (Debian's `npm` package)"),
                            );
                            false
                        }
                    },
                };
                runtime_versions.push((kind, rt.version.clone(), r.span(), debian_npm));
            }
            None => {
                let names = RuntimeKind::ALL.map(|k| k.name());
                let mut help = match did_you_mean(n.get_ref(), names) {
                    Some(m) => format!("did you mean `{m}`? "),
                    None => String::new(),
                };
                help.push_str(&format!("runtimes: {}", list(&names)));
                errors.push(
                    DefinitionError::new(
                        K::UnknownRuntime {
                            name: n.get_ref().clone(),
                        },
                        Some(src.site(n.span(), "unknown runtime")),
                    )
                    .with_help(help),
                );
            }
        }
    }
    // Composer.
    let composer = f.composer.as_ref().map(|c| {
        let c = c.get_ref();
        if let Some(dir) = &c.install {
            if let Err(err) = check_context_path(&e, &context_abs, &context_rel, dir) {
                errors.push(err);
            }
            context_sites.add_path(dir.get_ref(), src.site(dir.span(), "sent from here"));
        }
        // `dest` is where a `RUN cd` goes; it is checked rather than quoted, so the rendered
        // Dockerfiles (and the hashes of every stack with `[composer]`) stay as they are.
        if let Some(d) = c.dest.as_ref().filter(|d| {
            !d.get_ref().starts_with('/') || crate::render::shell_word(d.get_ref()) != *d.get_ref()
        }) {
            errors.push(
                DefinitionError::new(
                    K::InvalidValue {
                        key: "composer.dest".into(),
                        message: format!(
                            "`{}` is not an absolute path of letters, digits and `-_.@/+`",
                            d.get_ref()
                        ),
                    },
                    Some(src.site(d.span(), "here")),
                )
                .with_help("for example `dest = \"/srv/app\"`"),
            );
        }
        Composer {
            install: c
                .install
                .as_ref()
                .map(|d| d.get_ref().trim_end_matches('/').to_string()),
            dest: c
                .dest
                .as_ref()
                .map_or("/srv/app".to_string(), |d| d.get_ref().clone()),
        }
    });
    // Steps.
    let mut steps = Vec::new();
    for s in &f.step {
        let t = s.get_ref();
        let mut found: Vec<String> = Vec::new();
        for (k, present) in [
            ("run", t.run.is_some()),
            ("apt", t.apt.is_some()),
            ("pip", t.pip.is_some()),
            ("npm", t.npm.is_some()),
            ("gem", t.gem.is_some()),
            ("copy", t.copy.is_some()),
        ] {
            if present {
                found.push(k.to_string());
            }
        }
        if found.len() != 1 {
            errors.push(
                DefinitionError::new(K::StepAction { found }, Some(src.site(s.span(), "this step")))
                    .with_help("a step is one of `run = \"<shell>\"`, `apt = [..]`, `pip = [..]`, `npm = [..]`, `gem = [..]`, `copy = \"<src>\"` with `dest`"),
            );
            continue;
        }
        if t.dest.is_some() && t.copy.is_none() {
            errors.push(
                DefinitionError::new(
                    K::InvalidValue {
                        key: "dest".into(),
                        message: "only a `copy` step takes `dest`".into(),
                    },
                    Some(src.site(t.dest.as_ref().map_or(0..0, |d| d.span()), "here")),
                )
                .with_help("remove `dest`, or make the step a `copy`"),
            );
        }
        let packages = |l: &Vec<Str>| l.iter().map(|p| p.get_ref().clone()).collect::<Vec<_>>();
        let step = if let Some(run) = &t.run {
            Step::Run {
                command: run.get_ref().clone(),
            }
        } else if let Some(l) = &t.apt {
            Step::Apt {
                packages: packages(l),
            }
        } else if let Some(l) = &t.pip {
            Step::Pip {
                packages: packages(l),
            }
        } else if let Some(l) = &t.npm {
            Step::Npm {
                packages: packages(l),
            }
        } else if let Some(l) = &t.gem {
            Step::Gem {
                packages: packages(l),
            }
        } else {
            let copy = t.copy.as_ref().expect("one action");
            if let Err(err) = check_context_path(&e, &context_abs, &context_rel, copy) {
                errors.push(err);
            }
            context_sites.add_path(copy.get_ref(), src.site(copy.span(), "sent from here"));
            let Some(dest) = &t.dest else {
                errors.push(
                    DefinitionError::new(
                        K::MissingKey { key: "dest".into() },
                        Some(src.site(s.span(), "this copy step")),
                    )
                    .with_help("add `dest = \"/path/in/image\"`"),
                );
                continue;
            };
            Step::Copy {
                src: copy.get_ref().clone(),
                dest: dest.get_ref().clone(),
            }
        };
        let empty = matches!(&step, Step::Apt { packages } | Step::Pip { packages } | Step::Npm { packages } | Step::Gem { packages } if packages.is_empty())
            || matches!(&step, Step::Run { command } if command.trim().is_empty());
        if empty {
            errors.push(
                DefinitionError::new(
                    K::InvalidValue {
                        key: step.kind().into(),
                        message: "is empty".into(),
                    },
                    Some(src.site(s.span(), "this step")),
                )
                .with_help("give at least one package or a command, or remove the step"),
            );
        }
        steps.push(step);
    }
    // Checks.
    let mut checks = Vec::new();
    for c in &f.check {
        match &c.get_ref().run {
            Some(run) => checks.push(Check {
                run: run.get_ref().clone(),
                timeout: c
                    .get_ref()
                    .timeout
                    .as_ref()
                    .map_or(DEFAULT_CHECK_TIMEOUT, |t| *t.get_ref()),
            }),
            None => errors.push(
                DefinitionError::new(
                    K::MissingKey {
                        key: "check.run".into(),
                    },
                    Some(src.site(c.span(), "this check")),
                )
                .with_help("add `run = \"<command that must succeed in the image>\"`"),
            ),
        }
    }
    let status = match &f.status {
        None => Status::Supported,
        Some(v) => match v.get_ref().as_str() {
            "supported" => Status::Supported,
            "deprecated" => Status::Deprecated,
            "eol" => Status::Eol,
            other => {
                let known = ["supported", "deprecated", "eol"];
                let mut help = match did_you_mean(other, known) {
                    Some(m) => format!("did you mean `{m}`? "),
                    None => String::new(),
                };
                help.push_str("status is one of `supported`, `deprecated`, `eol`");
                errors.push(
                    DefinitionError::new(
                        K::InvalidValue {
                            key: "status".into(),
                            message: format!("`{other}` is not a status"),
                        },
                        Some(src.site(v.span(), "here")),
                    )
                    .with_help(help),
                );
                Status::Supported
            }
        },
    };
    let max_size = match &f.max_size {
        None => None,
        Some(v) => match crate::units::parse_size(v.get_ref()) {
            Ok(n) => Some(n),
            Err(message) => {
                errors.push(
                    DefinitionError::new(
                        K::InvalidValue {
                            key: "max_size".into(),
                            message,
                        },
                        Some(src.site(v.span(), "here")),
                    )
                    .with_help("for example `max_size = \"600MB\"`"),
                );
                None
            }
        },
    };
    let layers = match &f.layers {
        None => Layers::PerComponent,
        Some(v) => match v.get_ref().as_str() {
            "per-component" => Layers::PerComponent,
            "merged" => Layers::Merged,
            other => {
                let mut help = match did_you_mean(other, Layers::NAMES) {
                    Some(m) => format!("did you mean `{m}`? "),
                    None => String::new(),
                };
                help.push_str("layers is `per-component` (one apt layer per runtime, FFmpeg, Composer) or `merged` (one for all)");
                errors.push(
                    DefinitionError::new(
                        K::InvalidValue {
                            key: "layers".into(),
                            message: format!("`{other}` is not a layering"),
                        },
                        Some(src.site(v.span(), "here")),
                    )
                    .with_help(help),
                );
                Layers::PerComponent
            }
        },
    };
    let strings = |l: &Vec<Str>| {
        l.iter()
            .map(|p| p.get_ref().clone())
            .collect::<Vec<String>>()
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let stack = Stack {
        name,
        description: f
            .description
            .as_ref()
            .map_or(String::new(), |d| d.get_ref().clone()),
        origin: origin.expect("no errors means an origin"),
        suite,
        tags: Vec::new(),
        packages: f.packages.iter().map(|p| p.get_ref().clone()).collect(),
        runtimes: Vec::new(),
        ffmpeg: f.ffmpeg.as_ref().map(|ff| Ffmpeg {
            version: String::new(),
            helper: ff.get_ref().helper,
        }),
        composer,
        steps,
        env: f
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect(),
        labels: f
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect(),
        workdir: f.workdir.as_ref().map(|w| w.get_ref().clone()),
        user: f.user.as_ref().map(|u| u.get_ref().clone()),
        entrypoint: f.entrypoint.as_ref().map(|l| strings(l.get_ref())),
        cmd: f.cmd.as_ref().map(|l| strings(l.get_ref())),
        checks,
        status,
        max_size,
        layers,
        // Resolved against the parent once parents are known.
        slim: false,
        parent_slim: false,
        vars: e.vars.clone(),
        source: src.rel.clone(),
        context: context_rel,
        context_sites,
    };
    Ok(Draft {
        stack,
        expanded: e,
        runtime_versions,
    })
}

fn unknown_suite(e: &Expanded, s: &Str) -> DefinitionError {
    let known: Vec<&str> = crate::suite::SUITES.iter().map(|s| s.codename).collect();
    let mut help = match did_you_mean(s.get_ref(), known.iter().copied()) {
        Some(m) => format!("did you mean `{m}`? "),
        None => String::new(),
    };
    help.push_str(&format!("known suites: {}", Suite::known()));
    DefinitionError::new(
        K::UnknownSuite {
            suite: s.get_ref().clone(),
        },
        Some(e.source.site(s.span(), "unknown suite")),
    )
    .with_help(help)
}

/// Text that can stand in a URL without quoting: no spaces, controls, quotes or backslashes.
fn url_text(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '\\' | '`'))
}

/// A Debian archive component: `main`, `non-free-firmware`, `updates/main`.
fn valid_component(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '/'))
}

/// Lexically normalises a relative path (`a/./b/../c` → `a/c`), `/`-separated.
fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop();
            }
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

/// A path named in a stack (copy source, composer dir) must stay inside the context directory:
/// relative, no `..`, present, and not a symlink that resolves outside.
fn check_context_path(
    e: &Expanded,
    context_abs: &Path,
    context_rel: &str,
    p: &Str,
) -> std::result::Result<(), DefinitionError> {
    let text = p.get_ref();
    let site = e.source.site(p.span(), "this path");
    let escapes = |reason: &str| {
        DefinitionError::new(K::CopyEscapes { src: text.clone(), reason: reason.to_string() }, Some(site.clone()))
            .with_help(format!("paths are relative to the stack's context directory `{context_rel}/`; put the files there"))
    };
    let path = Path::new(text);
    if path.is_absolute() {
        return Err(escapes("it is an absolute path"));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(escapes("it contains `..`"));
    }
    let full = context_abs.join(path);
    if std::fs::symlink_metadata(&full).is_err() {
        return Err(
            DefinitionError::new(K::CopyMissing { src: text.clone() }, Some(site))
                .with_help(format!("create `{context_rel}/{text}`, or fix the path")),
        );
    }
    let canon_ctx = context_abs
        .canonicalize()
        .map_err(|_| escapes("the context directory cannot be resolved"))?;
    match full.canonicalize() {
        Ok(c) if c.starts_with(&canon_ctx) => Ok(()),
        Ok(_) => Err(escapes("it is a symlink that points outside")),
        Err(_) => Err(escapes("it is a symlink that points nowhere")),
    }
}
