//! Helpers shared by the integration tests: copying fixtures, reading process output.
#![allow(dead_code)]

pub mod engine_project;
pub mod faulty_engine;
pub mod faulty_registry;
pub mod local_registry;
pub mod relay;
pub mod second_engine;
pub mod test_mirror;

use std::path::Path;
use std::process::{Command, Output};

/// Copies a directory tree (files and directories; `target/` is skipped).
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| e.file_name() != "target")
    {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// A process's stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the docker CLI (installed by `scripts/setup`).
pub fn docker(args: &[&str]) -> Output {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs (scripts/setup installs docker.io)")
}

/// The images an engine test makes under its own repository (`ferrostack-test-…-<pid>`):
/// removed when it drops, also when the test fails; and leftovers of earlier runs whose
/// process is gone are swept when a new one is made.
pub struct TestImages {
    pub repo: String,
    /// Stack names whose untagged rebuilds this test leaves (removed when dangling).
    stacks: Vec<String>,
}

impl TestImages {
    /// `ferrostack-test-<kind>-<pid>` (or `ferrostack-test-<pid>` for an empty kind).
    pub fn new(kind: &str, stacks: &[&str]) -> TestImages {
        sweep_test_images();
        let pid = std::process::id();
        let repo = if kind.is_empty() {
            format!("{TEST_PREFIX}{pid}")
        } else {
            format!("{TEST_PREFIX}{kind}-{pid}")
        };
        TestImages {
            repo,
            stacks: stacks.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Drop for TestImages {
    fn drop(&mut self) {
        remove_repository(&self.repo);
        // Untagged leftovers of rebuilds carry the test's stack labels.
        for stack in &self.stacks {
            let out = docker(&[
                "images",
                "-q",
                "--filter",
                "dangling=true",
                "--filter",
                &format!("label=io.ferrostack.stack={stack}"),
            ]);
            for id in stdout(&out).lines() {
                let _ = docker(&["rmi", id]);
            }
        }
    }
}

/// Imports, into the engine at `docker_host` (the default one when `None`), a root filesystem
/// holding only a static busybox (and `sh` pointing at it) as `reference`: a seed image with no
/// bootstrap and no apt, for tests whose stacks only need a shell.
pub fn import_busybox_seed(docker_host: Option<&str>, reference: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("file -L /bin/busybox 2>/dev/null || ldd /bin/busybox")
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("static") || text.contains("not a dynamic"),
        "/bin/busybox must be static (scripts/setup installs busybox-static): {text}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", dir.path().join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", dir.path().join("bin/sh")).unwrap();
    let mut import = Command::new("sh");
    if let Some(host) = docker_host {
        import.env("DOCKER_HOST", host);
    }
    let status = import
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import - '{reference}' >/dev/null",
            dir.path().display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "docker import of the seed {reference}");
}

/// Held by the tests of one binary that share stack names (`root`, `leaf`, …) for their whole
/// run: a test's `TestImages` removes dangling images labelled with its stack names when it
/// ends, and another test's freshly built image is dangling until it is tagged or pushed.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The prefix of every engine test's repository.
pub const TEST_PREFIX: &str = "ferrostack-test-";

/// Removes every reference of `repo`, in passes until none is left. By reference, never by
/// ID: an image that another repository also tags (the project's own `ferrostack:*` images,
/// when the test built the same hash) only loses the test's tag; `rmi -f <id>` would take every
/// tag with it.
pub fn remove_repository(repo: &str) {
    for _ in 0..5 {
        let out = docker(&[
            "images",
            "--filter",
            &format!("reference={repo}"),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]);
        let references: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        if references.is_empty() {
            return;
        }
        for reference in &references {
            let _ = docker(&["rmi", "-f", reference]);
        }
    }
}

/// Removes the repositories of engine tests whose process no longer runs (a test killed by a
/// timeout or a signal cannot clean up after itself).
pub fn sweep_test_images() {
    let out = docker(&["images", "--format", "{{.Repository}}"]);
    let mut repos: Vec<String> = stdout(&out)
        .lines()
        .filter(|r| r.contains(TEST_PREFIX))
        .map(str::to_string)
        .collect();
    repos.sort();
    repos.dedup();
    for repo in repos {
        // `ferrostack-test-[kind-]<pid>`, `ferrostack-test-<pid>/<name>` (tests/engine_flow.rs)
        // or `<registry>/ferrostack-test-reg-<pid>` (tests/registry_engine.rs).
        let Some(owner) = repo.split('/').find(|part| part.starts_with(TEST_PREFIX)) else {
            continue;
        };
        let pid = owner.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            remove_repository(&repo);
        }
    }
}
