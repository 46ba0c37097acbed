//! `ferrostack run` against the real engine (issue 11): signals remove the container before
//! ferrostack exits, a killed run's container is removed by the next run of the project (and a
//! live one is not), the sandbox's defaults hold inside the container, a fork bomb meets the
//! pids limit, `--network none` reaches nothing, and output streams while the command runs.
//!
//! The stacks take the bundled catalogue's images as their origin, tagged under the test's
//! own repository; those two images are built first (as `scripts/run` would) only when the
//! engine lacks them, as on a new machine that runs the tests alone.

mod common;

use common::{copy_dir, docker, stderr, stdout, TestImages};

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Project {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    images: TestImages,
}

/// A project with `app` (Debian's base) and `py` (Python) tagged from the bundled images, under
/// a repository of its own (tests run at once in one process: a shared one would be removed
/// under another test's feet).
fn project(test: &str) -> Project {
    bundled_images();
    let images = TestImages::new(&format!("run-{test}"), &[]);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp
        .path()
        .join("project")
        .canonicalize()
        .unwrap_or_else(|_| {
            std::fs::create_dir_all(tmp.path().join("project/stacks")).unwrap();
            tmp.path().join("project").canonicalize().unwrap()
        });
    std::fs::write(
        root.join("stacks/app.toml"),
        "name = \"app\"\nimage = \"ferrostack:base-bookworm\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("stacks/py.toml"),
        "name = \"py\"\nimage = \"ferrostack:python-bookworm\"\n",
    )
    .unwrap();
    for (from, stack) in [
        ("ferrostack:base-bookworm", "app"),
        ("ferrostack:python-bookworm", "py"),
    ] {
        let tagged = docker(&["tag", from, &format!("{}:{stack}", images.repo)]);
        assert!(tagged.status.success(), "{}", stderr(&tagged));
    }
    Project {
        _tmp: tmp,
        root,
        images,
    }
}

/// `ferrostack:base-bookworm` and `ferrostack:python-bookworm`: when the engine lacks either,
/// built once per test process from a copy of the project (its definitions, templates and lock),
/// exactly as `scripts/run` builds them; the repository's own lock is not touched.
fn bundled_images() {
    static READY: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    READY.get_or_init(|| {
        let wanted = ["ferrostack:base-bookworm", "ferrostack:python-bookworm"];
        if wanted
            .iter()
            .all(|image| docker(&["image", "inspect", image]).status.success())
        {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in ["stacks", "templates"] {
            copy_dir(&manifest.join(dir), &tmp.path().join(dir));
        }
        std::fs::copy(manifest.join("images.lock"), tmp.path().join("images.lock")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ferrostack"))
            .env_remove("FERROSTACK_REPOSITORY")
            .env_remove("FERROSTACK_REGISTRY")
            .env_remove("FERROSTACK_CA_BUNDLE")
            .arg("-C")
            .arg(tmp.path())
            .args([
                "build",
                "base-bookworm",
                "python-bookworm",
                "--progress",
                "plain",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "building the bundled base and Python images: {}",
            stderr(&out)
        );
    });
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrostack"));
        command
            .env("FERROSTACK_REPOSITORY", &self.images.repo)
            .env_remove("FERROSTACK_CA_BUNDLE")
            .arg("-C")
            .arg(&self.root)
            .arg("run")
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The project's run containers (running or not), each with its owner label.
    fn containers(&self) -> Vec<String> {
        let label = format!("label=io.ferrostack.run.project={}", self.root.display());
        let out = docker(&[
            "ps",
            "-a",
            "--filter",
            &label,
            "--format",
            "{{.ID}} {{.Label \"io.ferrostack.run.owner\"}}",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).lines().map(str::to_string).collect()
    }

    fn wait_for_containers(&self, count: usize) {
        let start = Instant::now();
        while self.containers().len() < count {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{count} containers started: {:?}",
                self.containers()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Project {
    /// A failed assertion must not leave `sleep 600` containers behind.
    fn drop(&mut self) {
        for line in self.containers() {
            let id = line.split(' ').next().unwrap_or_default().to_string();
            let _ = docker(&["rm", "-f", &id]);
        }
    }
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Waits at most `limit` for `child` to exit.
fn wait_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < limit, "exited within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigint_sigterm_and_sighup_remove_the_container_before_exiting() {
    let p = project("signals");
    for (name, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let mut child = p.spawn(&["app", "--", "sleep", "600"]);
        p.wait_for_containers(1);
        signal(&child, name);
        let status = wait_within(&mut child, Duration::from_secs(10));
        let err = stderr(&child.wait_with_output().unwrap());
        assert_eq!(status.code(), Some(code), "SIG{name}: {err}");
        assert!(
            err.contains(&format!(
                "SIG{name}: the container of `app` was stopped and removed"
            )),
            "{err}"
        );
        assert_eq!(
            p.containers(),
            Vec::<String>::new(),
            "SIG{name}: the container is gone when ferrostack exits"
        );
    }
}

#[test]
fn a_killed_runs_container_is_removed_by_the_next_run_and_a_live_ones_is_not() {
    let p = project("killed");
    let mut live = p.spawn(&["app", "--", "sleep", "600"]);
    p.wait_for_containers(1);
    let mut killed = p.spawn(&["app", "--", "sleep", "600"]);
    p.wait_for_containers(2);
    signal(&killed, "KILL");
    wait_within(&mut killed, Duration::from_secs(10));
    assert_eq!(
        p.containers().len(),
        2,
        "a SIGKILL leaves the container: {:?}",
        p.containers()
    );

    let next = p.run(&["app", "--", "true"]);
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    let left = p.containers();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].contains(&format!("/{}/", live.id())),
        "the live run's container stays: {left:?}"
    );

    signal(&live, "TERM");
    assert_eq!(
        wait_within(&mut live, Duration::from_secs(10)).code(),
        Some(143)
    );
    assert_eq!(p.containers(), Vec::<String>::new());
}

#[test]
fn the_sandbox_defaults_hold_inside_the_container() {
    let p = project("sandbox");
    let out = p.run(&["app", "--", "sh", "-c", "grep -E '^(NoNewPrivs|CapEff|CapPrm|CapBnd)' /proc/self/status; cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; id -u"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "NoNewPrivs:\t1",
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "\n512\n",
        "\n0\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }

    let out = p.run(&[
        "app",
        "--pids",
        "100",
        "--user",
        "1000:1000",
        "--",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null; id -u; id -g",
    ]);
    assert_eq!(stdout(&out), "100\n1000\n1000\n", "{}", stderr(&out));

    let out = p.run(&[
        "app",
        "--read-only",
        "--",
        "sh",
        "-c",
        "touch /tmp/scratch && echo tmp-writable; touch /etc/x 2>/dev/null || echo root-read-only",
    ]);
    assert_eq!(
        stdout(&out),
        "tmp-writable\nroot-read-only\n",
        "{}",
        stderr(&out)
    );
    let out = p.run(&[
        "app",
        "--",
        "sh",
        "-c",
        "touch /etc/x && echo root-writable",
    ]);
    assert_eq!(
        stdout(&out),
        "root-writable\n",
        "without --read-only the root is the container's own copy: {}",
        stderr(&out)
    );
    assert_eq!(p.containers(), Vec::<String>::new());
}

#[test]
fn a_fork_bomb_meets_the_pids_limit() {
    let p = project("forks");
    let start = Instant::now();
    let out = p.run(&[
        "app",
        "--pids",
        "64",
        "--timeout",
        "30s",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; wait",
    ]);
    let err = stderr(&out);
    assert!(
        err.contains("fork") || err.contains("Resource temporarily unavailable"),
        "forks failed: {err}"
    );
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(40),
        "the run ended: {:?}",
        start.elapsed()
    );
    let host = Instant::now();
    assert!(Command::new("true").status().unwrap().success());
    assert!(
        host.elapsed() < Duration::from_secs(2),
        "the host forks at once"
    );
    assert_eq!(p.containers(), Vec::<String>::new());
}

/// The engine's bridge address on this machine (`docker0`).
fn bridge_address() -> String {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "docker0"])
        .output()
        .unwrap();
    let text = stdout(&out);
    let cidr = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_else(|| panic!("docker0 has an IPv4 address: {text}"));
    cidr.split('/').next().unwrap().to_string()
}

#[test]
fn network_none_reaches_nothing_and_bridge_reaches_the_host() {
    let p = project("network");
    let address = bridge_address();
    let listener = TcpListener::bind((address.as_str(), 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let connect = format!("import socket; socket.create_connection(('{address}', {port}), timeout=5); print('connected')");

    let out = p.run(&[
        "py",
        "--network",
        "none",
        "--",
        "sh",
        "-c",
        "ls /sys/class/net",
    ]);
    assert_eq!(stdout(&out), "lo\n", "{}", stderr(&out));
    let out = p.run(&["py", "--network", "none", "--", "python3", "-c", &connect]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("OSError") || stderr(&out).contains("unreachable"),
        "{}",
        stderr(&out)
    );

    let out = p.run(&["py", "--", "python3", "-c", &connect]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the default bridge reaches a listener on {address}: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "connected\n");
}

#[test]
fn output_streams_while_the_command_runs() {
    let p = project("stream");
    let mut child = p.spawn(&[
        "app",
        "--",
        "sh",
        "-c",
        "echo first; echo oops >&2; sleep 5; echo second",
    ]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first line came while the command still ran"
    );
    assert_eq!(lines.next().unwrap().unwrap(), "second");
    assert!(lines.next().is_none());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "oops\n", "stderr goes to stderr, once");
}

#[test]
fn mounts_and_payloads_that_hand_over_the_host_are_usage_errors() {
    let p = project("mounts");
    std::fs::create_dir_all(p.root.join("target/ferrostack")).unwrap();
    let target = p.root.join("target");
    for dir in [
        Path::new("/"),
        Path::new("/proc"),
        Path::new("/var/run"),
        target.as_path(),
    ] {
        let out = p.run(&["app", "--mount", dir.to_str().unwrap(), "--", "true"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            dir.display(),
            stderr(&out)
        );
        assert!(stderr(&out).contains("is refused"), "{}", stderr(&out));
    }
    let out = p.run(&["app", "--payload", p.root.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a regular file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(p.containers(), Vec::<String>::new());
}
