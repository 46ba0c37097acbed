//! Hash properties: stable across runs and checkout paths; a one-byte change to each kind of
//! input changes exactly the expected stacks.

mod common;

use common::copy_dir;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ferrostack::{Project, Session};

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tree"),
        &root,
    );
    (tmp, root)
}

fn hashes(root: &Path) -> BTreeMap<String, String> {
    let session = Session::open(Project::open(root).unwrap()).unwrap();
    session
        .prepare(&[])
        .unwrap()
        .into_iter()
        .map(|(n, p)| (n, p.hash))
        .collect()
}

fn changed(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    before
        .iter()
        .filter(|(n, h)| after.get(*n) != Some(h))
        .map(|(n, _)| n.clone())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

#[test]
fn stable_across_runs_and_checkout_paths() {
    let (_a, root_a) = fixture();
    let (_b, root_b) = fixture();
    let first = hashes(&root_a);
    assert_eq!(first, hashes(&root_a), "same run twice");
    assert_eq!(first, hashes(&root_b), "another checkout path");
    assert_eq!(first.len(), 4);
    assert!(first
        .values()
        .all(|h| h.starts_with("sha256:") && h.len() == 71));
    let distinct: BTreeSet<&String> = first.values().collect();
    assert_eq!(distinct.len(), 4, "every stack has its own hash");
}

#[test]
fn comment_and_layout_edits_change_nothing() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    edit(&root.join("stacks/app.toml"), |t| {
        format!(
            "# a new comment\n\n{}\n# trailing\n",
            t.replace("name = \"python\"", "name   =   \"python\"  # inline")
        )
    });
    assert_eq!(changed(&before, &hashes(&root)), set(&[]));
}

#[test]
fn definition_change_rebuilds_the_stack_and_its_descendants() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    edit(&root.join("stacks/app.toml"), |t| {
        t.replace("requests==2.31.0", "requests==2.31.1")
    });
    assert_eq!(changed(&before, &hashes(&root)), set(&["app", "leaf"]));
}

#[test]
fn grandchild_change_touches_only_it() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    edit(&root.join("stacks/leaf.toml"), |t| {
        t.replace("hello", "hellp")
    });
    assert_eq!(changed(&before, &hashes(&root)), set(&["leaf"]));
}

#[test]
fn root_change_changes_everything() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    edit(&root.join("stacks/root.toml"), |t| {
        t.replace("[bootstrap]", "[bootstrap]\nvariant = \"buildd\"")
    });
    assert_eq!(
        changed(&before, &hashes(&root)),
        set(&["root", "app", "tools", "leaf"])
    );
}

#[test]
fn context_file_byte_change_rebuilds_its_stack_and_descendants() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    edit(&root.join("stacks/app/files/hello.txt"), |t| {
        t.replace('h', "j")
    });
    assert_eq!(changed(&before, &hashes(&root)), set(&["app", "leaf"]));
}

#[test]
fn new_context_file_counts_but_dockerignored_files_do_not() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    edit(&root.join("stacks/app/notes.md"), |t| t + "more");
    assert_eq!(
        changed(&before, &hashes(&root)),
        set(&[]),
        "*.md is in .dockerignore"
    );
    std::fs::write(root.join("stacks/app/files/new.txt"), "x").unwrap();
    assert_eq!(changed(&before, &hashes(&root)), set(&["app", "leaf"]));
}

#[test]
fn executable_bit_is_an_input() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, root) = fixture();
    let before = hashes(&root);
    let f = root.join("stacks/app/files/hello.txt");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(changed(&before, &hashes(&root)), set(&["app", "leaf"]));
}

#[test]
fn template_override_changes_only_stacks_that_use_it() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/partials/step_apt.tera");
    std::fs::create_dir_all(root.join("templates/partials")).unwrap();
    // Same bytes as the bundled template: nothing changes.
    std::fs::copy(&bundled, root.join("templates/partials/step_apt.tera")).unwrap();
    assert_eq!(changed(&before, &hashes(&root)), set(&[]));
    // One more byte: only `tools` has an apt step.
    edit(&root.join("templates/partials/step_apt.tera"), |t| t + "\n");
    assert_eq!(changed(&before, &hashes(&root)), set(&["tools"]));
}

#[test]
fn pinned_package_version_changes_the_stack_and_descendants() {
    let (_t, root) = fixture();
    let session = Session::open(Project::open(&root).unwrap()).unwrap();
    let prepared = session.prepare(&[]).unwrap();
    let names: Vec<String> = prepared.keys().cloned().collect();
    let entries: Vec<_> = prepared.values().map(|p| session.entry_for(p)).collect();
    let mut lock = session.updated_lock(entries, names);
    lock.write_atomic(&root.join("images.lock")).unwrap();
    let before = hashes(&root);
    lock.stacks
        .get_mut("app")
        .unwrap()
        .pins
        .insert("python3".into(), "3.11.2-1+b1".into());
    lock.write_atomic(&root.join("images.lock")).unwrap();
    let after = hashes(&root);
    assert_eq!(changed(&before, &after), set(&["app", "leaf"]));
    let session = Session::open(Project::open(&root).unwrap()).unwrap();
    let dockerfile = &session.prepare(&["app".into()]).unwrap()["app"].dockerfile;
    assert!(
        dockerfile.contains("python3=3.11.2-1+b1"),
        "pins are installed: {dockerfile}"
    );
}

#[test]
fn ca_bundle_setting_changes_root_and_everything_below() {
    let (_t, root) = fixture();
    let before = hashes(&root);
    std::fs::write(
        root.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(
        root.join("ferrostack.toml"),
        "[build]\nca_bundle = \"ca.pem\"\n",
    )
    .unwrap();
    assert_eq!(
        changed(&before, &hashes(&root)),
        set(&["root", "app", "tools", "leaf"])
    );
    let session = Session::open(Project::open(&root).unwrap()).unwrap();
    let root_stack = &session.prepare(&["root".into()]).unwrap()["root"];
    assert!(root_stack
        .dockerfile
        .contains("COPY ferrostack-ca.crt /etc/ferrostack/ca-bundle.crt"));
    assert!(root_stack
        .context
        .iter()
        .any(|f| f.rel == "ferrostack-ca.crt"));
}

/// The bundled catalogue with a private copy of the media crate.
fn bundled_with_media_copy() -> (tempfile::TempDir, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    copy_dir(&repo.join("stacks"), &root.join("stacks"));
    for entry in walkdir::WalkDir::new(repo.join("crates/media"))
        .into_iter()
        .filter_entry(|e| e.file_name() != "target")
    {
        let entry = entry.unwrap();
        let dest = root.join("media").join(
            entry
                .path()
                .strip_prefix(repo.join("crates/media"))
                .unwrap(),
        );
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
    std::fs::write(
        root.join("ferrostack.toml"),
        "[build]\nmedia_crate = \"media\"\n",
    )
    .unwrap();
    (tmp, root)
}

#[test]
fn media_crate_change_rebuilds_only_the_ffmpeg_stack() {
    let (_t, root) = bundled_with_media_copy();
    let before = hashes(&root);
    assert!(before.contains_key("ffmpeg"));
    edit(&root.join("media/src/lib.rs"), |t| {
        t + "\n// one more line\n"
    });
    assert_eq!(changed(&before, &hashes(&root)), set(&["ffmpeg"]));
}

#[test]
fn helper_against_another_ffmpeg_is_a_plan_time_error() {
    let (_t, root) = bundled_with_media_copy();
    // trixie ships FFmpeg 7.1; this machine's headers (Debian 12) are FFmpeg 5.1.
    std::fs::write(
        root.join("stacks/ffmpeg-next.toml"),
        "name = \"ffmpeg-trixie\"\nfrom = \"base-trixie\"\n[ffmpeg]\nhelper = true\n",
    )
    .unwrap();
    let session = Session::open(Project::open(&root).unwrap()).unwrap();
    let err = session.prepare(&[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("stack `ffmpeg-trixie`"), "{text}");
    assert!(text.contains("FFmpeg 7.1"), "{text}");
    assert_eq!(err.exit_code(), 2);
}

/// Issue 9: `.dockerignore` re-includes work as in Docker (`!cache/keep` under an excluded
/// `cache`), and a symlink that stays inside the context is part of it, as a symlink.
#[test]
fn dockerignore_reincludes_and_inner_symlinks_are_in_the_context() {
    let (_t, root) = fixture();
    let app = root.join("stacks/app");
    std::fs::write(app.join(".dockerignore"), "*.md\ncache\n!cache/keep\n").unwrap();
    std::fs::create_dir_all(app.join("cache/keep")).unwrap();
    std::fs::write(app.join("cache/drop.bin"), "x").unwrap();
    std::fs::write(app.join("cache/keep/wanted.txt"), "x").unwrap();
    std::os::unix::fs::symlink("hello.txt", app.join("files/link.txt")).unwrap();
    let session = Session::open(Project::open(&root).unwrap()).unwrap();
    let prepared = session.prepare(&[]).unwrap();
    let files: Vec<(&str, &ferrostack::context::ContextSource)> = prepared["app"]
        .context
        .iter()
        .map(|f| (f.rel.as_str(), &f.source))
        .collect();
    let names: Vec<&str> = files.iter().map(|(rel, _)| *rel).collect();
    assert_eq!(
        names,
        [
            ".dockerignore",
            "cache/keep/wanted.txt",
            "files/hello.txt",
            "files/link.txt"
        ]
    );
    assert!(
        matches!(files[3].1, ferrostack::context::ContextSource::Symlink { target, .. } if target == "hello.txt")
    );
}
