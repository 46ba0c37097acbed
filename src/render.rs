//! Renders a stack into its Dockerfile through the project's templates.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::project::Settings;
use crate::stack::{Origin, Stack, Step, SLIM_CONFIG};
use crate::templates::{flatten, TemplateSet};

/// Name of the CA bundle inside a root stack's build context.
pub const CA_BUNDLE_FILE: &str = "ferrostack-ca.crt";
/// Name of the root filesystem tar inside a bootstrap stack's build context.
pub const ROOTFS_FILE: &str = "rootfs.tar";

/// What the templates see.
#[derive(Debug, Serialize)]
struct View<'a> {
    stack: &'a Stack,
    source: &'a str,
    parent_image: Option<String>,
    bootstrap: Option<BootstrapView>,
    ca_bundle: bool,
    /// `write`: this stack adds the dpkg exclusions of `slim`; `remove`: it lifts its
    /// parent's (`slim = false` under a slim parent); absent: nothing changes.
    slim: Option<&'static str>,
    slim_config: crate::stack::SlimConfig,
    /// With `layers = "merged"`: the one install of every component (the per-component views
    /// below then carry no packages).
    merged: Option<MergedView>,
    packages: Vec<String>,
    runtimes: Vec<RuntimeView<'a>>,
    ffmpeg: Option<FfmpegView<'a>>,
    composer: Option<ComposerView<'a>>,
    steps: Vec<StepView<'a>>,
    env: &'a BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    workdir: Option<&'a str>,
    user: Option<&'a str>,
    entrypoint: Option<&'a Vec<String>>,
    cmd: Option<&'a Vec<String>>,
}

#[derive(Debug, Serialize)]
struct MergedView {
    /// What the install holds: `python 3.11, node 18, FFmpeg 5.1, Composer`.
    what: String,
    packages: Vec<String>,
}

#[derive(Debug, Serialize)]
struct BootstrapView {
    suite: String,
    variant: String,
    mirror: String,
    security_mirror: String,
    components: Vec<String>,
    command: String,
}

#[derive(Debug, Serialize)]
struct RuntimeView<'a> {
    name: &'a str,
    version: &'a str,
    packages: Vec<String>,
    release: Option<ReleaseView>,
}

/// A release tarball the build context carries, unpacked, for `/usr/local`.
#[derive(Debug, Serialize)]
struct ReleaseView {
    name: &'static str,
    version: &'static str,
    integrity: &'static str,
    /// The context directory (`ferrostack-npm`).
    context: String,
}

#[derive(Debug, Serialize)]
struct FfmpegView<'a> {
    version: &'a str,
    helper: bool,
    packages: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ComposerView<'a> {
    install: Option<&'a str>,
    dest: &'a str,
    packages: Vec<String>,
}

#[derive(Debug, Serialize)]
struct StepView<'a> {
    kind: &'a str,
    command: Option<&'a str>,
    multiline: bool,
    packages: Vec<String>,
    src: Option<&'a str>,
    dest: Option<&'a str>,
}

/// Renders `stack`'s Dockerfile. `pins` maps Debian package → version to install
/// (`pkg=version`); packages without a pin install the mirror's current version.
pub fn render(
    templates: &TemplateSet,
    settings: &Settings,
    stack: &Stack,
    pins: &BTreeMap<String, String>,
) -> Result<String> {
    render_pinned(templates, settings, stack, pins, &BTreeMap::new())
}

/// [`render`], with the rest of the closure pinned: each install also installs the pinned
/// dependencies of its packages (`dependency_pins`: package → dependency → version), as
/// `dep=version` after its own packages, sorted, so apt picks exactly the recorded set.
pub fn render_pinned(
    templates: &TemplateSet,
    settings: &Settings,
    stack: &Stack,
    pins: &BTreeMap<String, String>,
    dependency_pins: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<String> {
    let pin = |pkgs: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = pkgs
            .iter()
            .map(|p| match pins.get(*p) {
                Some(v) if !p.contains('=') => shell_word(&format!("{p}={v}")),
                _ => shell_word(p),
            })
            .collect();
        let named: BTreeSet<&str> = pkgs
            .iter()
            .map(|p| p.split('=').next().unwrap_or(p))
            .collect();
        let deps: BTreeMap<&str, &str> = named
            .iter()
            .filter_map(|p| dependency_pins.get(*p))
            .flatten()
            .filter(|(d, _)| !named.contains(d.as_str()))
            .map(|(d, v)| (d.as_str(), v.as_str()))
            .collect();
        out.extend(deps.iter().map(|(d, v)| shell_word(&format!("{d}={v}"))));
        out
    };
    let parent_image = match &stack.origin {
        Origin::Parent { name } => Some(format!("{}:{}", settings.repository, name)),
        Origin::Image { reference } => Some(reference.clone()),
        Origin::Bootstrap(_) => None,
    };
    let bootstrap = match &stack.origin {
        Origin::Bootstrap(b) => Some(BootstrapView {
            suite: b.suite.clone(),
            variant: b.variant.clone(),
            mirror: b.mirror.clone(),
            security_mirror: security_mirror(&b.mirror),
            components: b.components.clone(),
            command: format!(
                "debootstrap --variant={} --components={} {} <rootfs> {}",
                b.variant,
                b.components.join(","),
                b.suite,
                b.mirror
            ),
        }),
        _ => None,
    };
    // Copies come after the other steps: they change most often.
    let mut steps: Vec<&Step> = stack
        .steps
        .iter()
        .filter(|s| !matches!(s, Step::Copy { .. }))
        .collect();
    steps.extend(
        stack
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Copy { .. })),
    );
    let steps = steps
        .into_iter()
        .map(|s| match s {
            Step::Run { command } => StepView {
                kind: "run",
                command: Some(command.trim_end()),
                multiline: command.trim_end().contains('\n'),
                packages: vec![],
                src: None,
                dest: None,
            },
            Step::Apt { packages } => StepView {
                kind: "apt",
                command: None,
                multiline: false,
                packages: pin(&strs(packages)),
                src: None,
                dest: None,
            },
            Step::Pip { packages } | Step::Npm { packages } | Step::Gem { packages } => StepView {
                kind: s.kind(),
                command: None,
                multiline: false,
                packages: packages.iter().map(|p| shell_word(p)).collect(),
                src: None,
                dest: None,
            },
            Step::Copy { src, dest } => StepView {
                kind: "copy",
                command: None,
                multiline: false,
                packages: vec![],
                src: Some(src),
                dest: Some(dest),
            },
        })
        .collect();
    let mut labels = BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.title".to_string(),
        stack.name.clone(),
    );
    labels.insert(
        "org.opencontainers.image.version".to_string(),
        stack.tags.first().unwrap_or(&stack.name).clone(),
    );
    labels.insert(
        "org.opencontainers.image.description".to_string(),
        stack.description.clone(),
    );
    labels.insert("io.ferrostack.stack".to_string(), stack.name.clone());
    for (k, v) in &stack.labels {
        labels.insert(k.clone(), v.clone());
    }
    let root = !matches!(stack.origin, Origin::Parent { .. });
    let merged = if stack.merges() {
        stack
            .component_installs()
            .into_iter()
            .next()
            .map(|(what, packages)| MergedView {
                what,
                packages: pin(&packages),
            })
    } else {
        None
    };
    // Merged: the components' own views keep their names, not their packages.
    let own = |packages: &[&str]| {
        if merged.is_some() {
            Vec::new()
        } else {
            pin(packages)
        }
    };
    let slim = match (stack.slim, stack.parent_slim) {
        (true, false) => Some("write"),
        (false, true) => Some("remove"),
        _ => None,
    };
    let view = View {
        stack,
        source: &stack.source,
        parent_image,
        bootstrap,
        ca_bundle: root && settings.ca_bundle.is_some(),
        slim,
        slim_config: SLIM_CONFIG,
        packages: own(&strs(&stack.packages)),
        runtimes: stack
            .runtimes
            .iter()
            .map(|r| RuntimeView {
                name: r.name.name(),
                version: &r.version,
                packages: own(&strs(&r.packages)),
                release: r.release.map(|x| ReleaseView {
                    name: x.name,
                    version: x.version,
                    integrity: x.integrity,
                    context: x.context_dir(),
                }),
            })
            .collect(),
        ffmpeg: stack.ffmpeg.as_ref().map(|f| FfmpegView {
            version: &f.version,
            helper: f.helper,
            packages: own(&["ffmpeg"]),
        }),
        composer: stack.composer.as_ref().map(|c| ComposerView {
            install: c.install.as_deref(),
            dest: &c.dest,
            packages: own(&["composer"]),
        }),
        merged,
        steps,
        env: &stack.env,
        labels,
        workdir: stack.workdir.as_deref(),
        user: stack.user.as_deref(),
        entrypoint: stack.entrypoint.as_ref(),
        cmd: stack.cmd.as_ref(),
    };
    let context = tera::Context::from_serialize(&view).map_err(|e| Error::Template {
        template: "Dockerfile.tera".into(),
        stack: stack.name.clone(),
        message: flatten(&e),
    })?;
    let text = templates
        .tera()
        .render("Dockerfile.tera", &context)
        .map_err(|e| Error::Template {
            template: "Dockerfile.tera".into(),
            stack: stack.name.clone(),
            message: flatten(&e),
        })?;
    let text = tidy(&text);
    missing_from(&text, stack, slim).map_or(Ok(text), |what| {
        Err(Error::Template {
            template: "Dockerfile.tera".into(),
            stack: stack.name.clone(),
            message: format!("the rendered Dockerfile does not {what}: does the project's own `templates/` predate `layers`/`slim`? compare it with the bundled templates"),
        })
    })
}

/// What the stack asks for that a rendered Dockerfile lacks: a Debian package it installs,
/// a release tarball it copies in, or the `slim` settings it writes (an override of the templates that predates them drops
/// them silently otherwise).
fn missing_from(dockerfile: &str, stack: &Stack, slim: Option<&str>) -> Option<String> {
    let words: BTreeSet<&str> = dockerfile.split_whitespace().collect();
    for p in stack.apt_packages() {
        let quoted = shell_word(p);
        let named =
            |w: &&str| *w == quoted || w.strip_prefix(p).is_some_and(|rest| rest.starts_with('='));
        if !words.iter().any(named) {
            return Some(format!("install `{p}`"));
        }
    }
    for release in stack.runtimes.iter().filter_map(|r| r.release) {
        if !words.contains(format!("{}/", release.context_dir()).as_str()) {
            return Some(format!(
                "copy {} {} in (`{}/`)",
                release.name,
                release.version,
                release.context_dir()
            ));
        }
    }
    match slim {
        Some("write") if !dockerfile.contains(SLIM_CONFIG.dpkg) => {
            Some(format!("write `{}` (`slim = true`)", SLIM_CONFIG.dpkg))
        }
        Some("remove") if !dockerfile.contains(SLIM_CONFIG.dpkg) => Some(format!(
            "remove `{}` (`slim = false` under a slim parent)",
            SLIM_CONFIG.dpkg
        )),
        _ => None,
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `http://deb.debian.org/debian` → `http://deb.debian.org/debian-security`.
fn security_mirror(mirror: &str) -> String {
    let m = mirror.trim_end_matches('/');
    match m.strip_suffix("/debian") {
        Some(base) => format!("{base}/debian-security"),
        None => format!("{m}-security"),
    }
}

/// A value as one shell word: as it is when no shell reads any of its characters specially
/// (`curl=7.88.1-10+deb12u8`, `1.2~rc1` with `~` not where tilde expansion starts), else
/// single-quoted (`'pkg>=1.0'`, `'/srv/my app'`). Also the templates' `sh` filter.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.=@/:+,%~".contains(c))
        && !s.starts_with('~')
        && !s.contains("=~")
        && !s.contains(":~");
    if !s.is_empty() && plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Trailing spaces removed, runs of blank lines collapsed, one final newline.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let trimmed = out.trim_matches('\n');
    format!("{trimmed}\n")
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_are_quoted_only_when_a_shell_would_read_them() {
        for plain in [
            "curl",
            "curl=7.88.1-10+deb12u8",
            "npm=9.2.0~ds1-1",
            "requests==2.31.0",
            "@scope/pkg@1.2",
            "/srv/app",
        ] {
            assert_eq!(shell_word(plain), plain);
        }
        for (raw, quoted) in [
            ("requests>=2", "'requests>=2'"),
            ("x$(id)", "'x$(id)'"),
            ("/srv/my app", "'/srv/my app'"),
            ("it's", "'it'\\''s'"),
            ("~user", "'~user'"),
            ("a=~b", "'a=~b'"),
            ("", "''"),
        ] {
            assert_eq!(shell_word(raw), quoted, "{raw:?}");
        }
    }
}
