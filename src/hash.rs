//! Content hashes: sha256 over a serialised, ordered key of everything that goes into an image.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::context::{self, ContextFile, ContextSource};
use crate::error::Result;
use crate::lock::Lockfile;
use crate::project::Project;
use crate::render::{render_pinned, CA_BUNDLE_FILE};
use crate::stack::{Origin, Stack};
use crate::templates::{digest, TemplateSet};

/// Bumped whenever the key's meaning changes, so old locks rebuild instead of lying.
pub const SCHEMA: u32 = 1;

/// A stack rendered, with its build context and content hash: ready to plan and build.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub name: String,
    pub dockerfile: String,
    /// Context entries, sorted by path (generated ones included; the Dockerfile is not).
    pub context: Vec<ContextFile>,
    /// `sha256:<hex>`.
    pub hash: String,
    /// Digest of each input (`definition`, `dockerfile`, `origin`, `template:<name>`,
    /// `file:<path>`, `pin:<package>`, `dep:<package>:<dependency>`), recorded in the lock to explain rebuilds.
    pub inputs: BTreeMap<String, String>,
}

/// The hash key. Field order and `BTreeMap`s make the serialisation canonical.
#[derive(Serialize)]
struct BuildKey<'a> {
    schema: u32,
    origin: OriginKey<'a>,
    definition: &'a str,
    dockerfile: &'a str,
    templates: BTreeMap<&'a str, &'a str>,
    files: &'a BTreeMap<String, String>,
    pins: &'a BTreeMap<String, String>,
    /// Absent when nothing is pinned beyond the named packages, so older hashes stand.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    dependency_pins: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// The bundled media helper's sources, for `[ffmpeg] helper = true` stacks.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    helper: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum OriginKey<'a> {
    Parent {
        hash: &'a str,
    },
    Image {
        reference: &'a str,
    },
    Bootstrap {
        suite: &'a str,
        variant: &'a str,
        mirror: &'a str,
        components: &'a [String],
    },
}

/// Renders and hashes every stack in `stacks` (which must include each one's ancestors),
/// parents first. Pins come from `lock`.
pub fn prepare(
    project: &Project,
    templates: &TemplateSet,
    stacks: &[&Stack],
    lock: Option<&Lockfile>,
) -> Result<BTreeMap<String, Prepared>> {
    let no_pins = BTreeMap::new();
    let pins_of = |name: &str| {
        lock.and_then(|l| l.stacks.get(name))
            .map_or(&no_pins, |e| &e.pins)
    };
    let no_dependency_pins = BTreeMap::new();
    let dependency_pins_of = |name: &str| {
        lock.and_then(|l| l.stacks.get(name))
            .map_or(&no_dependency_pins, |e| &e.dependency_pins)
    };
    // Collect every context file first, then hash them all in parallel.
    let mut contexts: Vec<Vec<ContextFile>> = Vec::with_capacity(stacks.len());
    for stack in stacks {
        let mut files = context::collect(&project.root, stack)?;
        if !matches!(stack.origin, Origin::Parent { .. }) {
            if let Some(ca) = &project.settings.ca_bundle {
                files.retain(|f| f.rel != CA_BUNDLE_FILE);
                files.push(ContextFile {
                    rel: CA_BUNDLE_FILE.into(),
                    source: ContextSource::File(ca.clone()),
                    mode: 0o644,
                });
                files.sort_by(|a, b| a.rel.cmp(&b.rel));
            }
        }
        contexts.push(files);
    }
    let digests: Vec<Vec<String>> = contexts
        .par_iter()
        .map(|files| {
            files
                .par_iter()
                .map(|f| f.digest())
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let mut helper_sources: Option<BTreeMap<String, String>> = None;
    let no_helper = BTreeMap::new();
    let mut out: BTreeMap<String, Prepared> = BTreeMap::new();
    for ((stack, files), file_digests) in stacks.iter().zip(contexts).zip(digests) {
        let wants_helper = stack.ffmpeg.as_ref().is_some_and(|f| f.helper);
        if wants_helper {
            crate::helper::check_buildable(stack, project.settings.media_crate.as_deref())?;
            if helper_sources.is_none() {
                let dir = project
                    .settings
                    .media_crate
                    .as_deref()
                    .expect("checked above");
                helper_sources = Some(crate::helper::sources(dir)?);
            }
        }
        let helper = if wants_helper {
            helper_sources.as_ref().expect("computed above")
        } else {
            &no_helper
        };
        let pins = pins_of(&stack.name);
        let dependency_pins = dependency_pins_of(&stack.name);
        let dockerfile = render_pinned(templates, &project.settings, stack, pins, dependency_pins)?;
        let used: BTreeSet<String> = templates.used_by(stack, project.settings.ca_bundle.is_some());
        let template_digests: BTreeMap<&str, &str> = used
            .iter()
            .filter_map(|n| {
                templates
                    .files()
                    .get(n)
                    .map(|f| (n.as_str(), f.digest.as_str()))
            })
            .collect();
        let file_map: BTreeMap<String, String> = files
            .iter()
            .zip(&file_digests)
            .map(|(f, d)| (f.rel.clone(), format!("{:o}:{d}", f.mode)))
            .collect();
        let definition = digest(&serde_json::to_vec(stack).expect("a stack always serialises"));
        let parent_hash;
        let origin = match &stack.origin {
            Origin::Parent { name } => {
                parent_hash = parent_hash_of(&out, name);
                OriginKey::Parent { hash: &parent_hash }
            }
            Origin::Image { reference } => OriginKey::Image { reference },
            Origin::Bootstrap(b) => OriginKey::Bootstrap {
                suite: &b.suite,
                variant: &b.variant,
                mirror: &b.mirror,
                components: &b.components,
            },
        };
        let key = BuildKey {
            schema: SCHEMA,
            origin,
            definition: &definition,
            dockerfile: &dockerfile,
            templates: template_digests.clone(),
            files: &file_map,
            pins,
            dependency_pins,
            helper,
        };
        let key_bytes = serde_json::to_vec(&key).expect("a build key always serialises");
        let hash = format!("sha256:{}", hex::encode(Sha256::digest(&key_bytes)));
        let mut inputs = BTreeMap::new();
        // The parent's hash is its own input, so a rebuilt parent reads as such, not as a new origin.
        match &stack.origin {
            Origin::Parent { name } => {
                inputs.insert(
                    "origin".to_string(),
                    digest(format!("parent:{name}").as_bytes()),
                );
                inputs.insert("parent".to_string(), parent_hash_of(&out, name));
            }
            _ => {
                inputs.insert(
                    "origin".to_string(),
                    digest(&serde_json::to_vec(&key.origin).expect("serialises")),
                );
            }
        }
        inputs.insert("definition".to_string(), definition.clone());
        inputs.insert("dockerfile".to_string(), digest(dockerfile.as_bytes()));
        for (n, d) in &template_digests {
            inputs.insert(format!("template:{n}"), d.to_string());
        }
        for (f, d) in &file_map {
            inputs.insert(format!("file:{f}"), d.clone());
        }
        for (p, v) in pins {
            inputs.insert(format!("pin:{p}"), v.clone());
        }
        for (of, deps) in dependency_pins {
            for (p, v) in deps {
                inputs.insert(format!("dep:{of}:{p}"), v.clone());
            }
        }
        for (f, d) in helper {
            inputs.insert(format!("helper:{f}"), d.clone());
        }
        out.insert(
            stack.name.clone(),
            Prepared {
                name: stack.name.clone(),
                dockerfile,
                context: files,
                hash,
                inputs,
            },
        );
    }
    Ok(out)
}

fn parent_hash_of(done: &BTreeMap<String, Prepared>, parent: &str) -> String {
    done.get(parent)
        .map(|p| p.hash.clone())
        .expect("stacks are prepared parents first, with their ancestors")
}
