//! The stack settings `layers` and `slim`: what the Dockerfile installs and in how many apt
//! transactions, how `slim` passes from parent to child, and what each does to the hash.

mod common;

use common::copy_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferrostack::{Project, Session};

/// The test tree (root, app with python, tools with an apt step, leaf under app), plus a
/// `media` stack under root with several components.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tree"),
        &root,
    );
    write(
        &root,
        "media.toml",
        "name = \"media\"\nfrom = \"root\"\npackages = [\"jq\"]\n\n[[runtime]]\nname = \"python\"\n[[runtime]]\nname = \"php\"\n\n[ffmpeg]\n\n[composer]\n\n[[step]]\napt = [\"file\"]\n",
    );
    (tmp, root)
}

fn write(root: &Path, file: &str, text: &str) {
    std::fs::write(root.join("stacks").join(file), text).unwrap();
}

fn edit(root: &Path, file: &str, f: impl FnOnce(String) -> String) {
    let path = root.join("stacks").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, f(text)).unwrap();
}

fn dockerfiles(root: &Path) -> BTreeMap<String, (String, String)> {
    let session = Session::open(Project::open(root).unwrap()).unwrap();
    session
        .prepare(&[])
        .unwrap()
        .into_iter()
        .map(|(n, p)| (n, (p.dockerfile, p.hash)))
        .collect()
}

/// The package lists of every `apt-get install` in a Dockerfile, in order.
fn installs(dockerfile: &str) -> Vec<Vec<String>> {
    dockerfile
        .split("\nRUN ")
        .skip(1)
        .filter(|run| run.contains("apt-get install"))
        .map(|run| {
            let body = run.split("--no-install-recommends").nth(1).unwrap();
            let body = body.split("&& apt-get clean").next().unwrap();
            body.split_whitespace()
                .filter(|w| *w != "\\")
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn merged_installs_every_component_in_one_transaction_and_keeps_steps_apart() {
    let (_tmp, root) = fixture();
    let before = dockerfiles(&root);
    let per_component = installs(&before["media"].0);
    assert_eq!(
        per_component.len(),
        6,
        "system packages, python, php, ffmpeg, composer, the apt step: {per_component:?}"
    );
    edit(&root, "media.toml", |t| {
        t.replace(
            "packages = [\"jq\"]",
            "packages = [\"jq\"]\nlayers = \"merged\"",
        )
    });
    let after = dockerfiles(&root);
    let merged = installs(&after["media"].0);
    assert_eq!(
        merged.len(),
        2,
        "one for the components, one for the apt step: {merged:?}"
    );
    // The same packages, in the same order, and the apt step after them.
    let joined: Vec<String> = per_component[..5].concat();
    assert_eq!(merged[0], joined);
    assert_eq!(merged[1], ["file"]);
    assert!(after["media"].0.contains("# One apt transaction (stack setting `layers = \"merged\"`): System packages, python 3.11, php 8.2, FFmpeg 5.1, Composer"), "{}", after["media"].0);
    // The layering is an input: the stack's hash moves, nothing else's does.
    for (name, (_, hash)) in &before {
        assert_eq!(hash != &after[name].1, name == "media", "{name}");
    }
}

#[test]
fn merged_with_one_component_renders_as_per_component() {
    let (_tmp, root) = fixture();
    let before = dockerfiles(&root);
    edit(&root, "app.toml", |t| {
        t.replace("from = \"root\"", "from = \"root\"\nlayers = \"merged\"")
    });
    let after = dockerfiles(&root);
    assert_eq!(
        before["app"].0, after["app"].0,
        "app has one runtime: nothing to merge"
    );
}

#[test]
fn slim_is_written_once_inherited_and_lifted_by_a_child_that_says_no() {
    let (_tmp, root) = fixture();
    let before = dockerfiles(&root);
    for (name, (d, _)) in &before {
        assert!(
            !d.contains("ferrostack-slim"),
            "{name}: not slim by default"
        );
    }
    edit(&root, "root.toml", |t| {
        t.replace("tags = ", "slim = true\ntags = ")
    });
    let after = dockerfiles(&root);
    let root_file = &after["root"].0;
    // The exclusions come before any install, and copyright files stay.
    let slim_at = root_file
        .find("> /etc/dpkg/dpkg.cfg.d/ferrostack-slim")
        .expect("root writes the exclusions");
    assert!(
        root_file.contains("'path-exclude=/usr/share/doc/*'")
            && root_file.contains("'path-include=/usr/share/doc/*/copyright'")
    );
    assert!(
        root_file.contains("'force-unsafe-io'"),
        "dpkg skips the fsync of every unpacked file"
    );
    if let Some(install) = root_file.find("apt-get install") {
        assert!(slim_at < install, "exclusions before the first install");
    }
    // Children inherit it from the image: nothing to write again.
    for name in ["app", "tools", "leaf", "media"] {
        assert!(
            !after[name].0.contains("ferrostack-slim"),
            "{name}: {}",
            after[name].0
        );
    }
    // Every stack's hash moves with its root's.
    for (name, (_, hash)) in &before {
        assert_ne!(hash, &after[name].1, "{name}");
    }
    // A child that says no lifts the exclusions; its own child inherits that.
    edit(&root, "app.toml", |t| {
        t.replace("from = \"root\"", "from = \"root\"\nslim = false")
    });
    let lifted = dockerfiles(&root);
    let app = &lifted["app"].0;
    let rm = app
        .find("RUN rm -f /etc/dpkg/dpkg.cfg.d/ferrostack-slim")
        .expect("app lifts the exclusions");
    assert!(rm < app.find("apt-get install").unwrap());
    assert!(!lifted["leaf"].0.contains("ferrostack-slim"));
    assert!(!lifted["tools"].0.contains("ferrostack-slim"));
}

#[test]
fn slim_on_a_child_of_a_plain_parent_writes_the_exclusions_there() {
    let (_tmp, root) = fixture();
    edit(&root, "tools.toml", |t| {
        t.replace("from = \"root\"", "from = \"root\"\nslim = true")
    });
    let after = dockerfiles(&root);
    assert!(after["tools"]
        .0
        .contains("> /etc/dpkg/dpkg.cfg.d/ferrostack-slim"));
    assert!(!after["root"].0.contains("ferrostack-slim"));
}

#[test]
fn a_template_override_that_predates_the_settings_is_an_error_not_a_silent_drop() {
    let (_tmp, root) = fixture();
    edit(&root, "media.toml", |t| {
        t.replace(
            "packages = [\"jq\"]",
            "packages = [\"jq\"]\nlayers = \"merged\"",
        )
    });
    // The skeleton as it was before `layers`/`slim`: no `merged` or `slim` partial.
    let old: String = include_str!("../templates/Dockerfile.tera")
        .lines()
        .filter(|l| !l.contains("slim") && !l.contains("merged"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(root.join("templates/Dockerfile.tera"), old).unwrap();
    let session = Session::open(Project::open(&root).unwrap()).unwrap();
    let err = session.prepare(&[]).unwrap_err().to_string();
    assert!(
        err.contains("media") && err.contains("does not install `composer`"),
        "{err}"
    );
    // Slim with the same override: the exclusions would be lost.
    edit(&root, "media.toml", |t| {
        t.replace("layers = \"merged\"", "slim = true")
    });
    let session = Session::open(Project::open(&root).unwrap()).unwrap();
    let err = session.prepare(&[]).unwrap_err().to_string();
    assert!(
        err.contains("does not write `/etc/dpkg/dpkg.cfg.d/ferrostack-slim`"),
        "{err}"
    );
}
