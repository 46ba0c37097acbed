//! `SecondEngine`: a Docker engine beside the machine's own, for multi-engine tests: its own
//! socket, data and exec roots in a temporary directory, on a bridge the test makes (never
//! `--bridge none`, which deletes `docker0` and breaks the first engine), without iptables.
//! Stopped, unmounted, and its bridge deleted when dropped, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SecondEngine {
    dir: PathBuf,
    bridge: String,
    /// The bridge's address on this machine (`10.213.<n>.1`).
    bridge_ip: String,
    child: Option<Child>,
}

/// `ip …`, asserting success.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2) runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private /24 no interface of this machine is in: `10.213.<n>.0/24`.
fn free_subnet() -> u8 {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .expect("ip runs");
    let taken = String::from_utf8_lossy(&out.stdout).to_string();
    let start = (std::process::id() % 200) as u8;
    (0..200u8)
        .map(|i| 20 + (start + i) % 200)
        .find(|n| !taken.contains(&format!("10.213.{n}.")))
        .expect("a free 10.213.x.0/24")
}

impl SecondEngine {
    /// Makes the bridge, starts dockerd, and waits until it answers (about 2 s).
    pub fn start() -> SecondEngine {
        SecondEngine::start_with(|_| Vec::new())
    }

    /// The same, with more dockerd arguments, made from the bridge's address (e.g. an
    /// `--insecure-registry` listening on it).
    pub fn start_with(extra: impl FnOnce(&str) -> Vec<String>) -> SecondEngine {
        // Short paths: containerd's sockets live under the exec root (108-byte limit).
        let dir = tempfile::Builder::new()
            .prefix("fse")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        // Tests of one binary start engines at once: one picks a subnet and claims it at a time.
        static CLAIM: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let claim = CLAIM.lock().unwrap_or_else(|e| e.into_inner());
        let n = free_subnet();
        let bridge = format!("fsb{}x{n}", std::process::id() % 100_000);
        // Made first, so that a failure below still removes the directory and the bridge.
        let bridge_ip = format!("10.213.{n}.1");
        let mut engine = SecondEngine {
            dir: dir.clone(),
            bridge: bridge.clone(),
            bridge_ip: bridge_ip.clone(),
            child: None,
        };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("10.213.{n}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        drop(claim);
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(engine.address())
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .args(extra(&bridge_ip))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("dockerd.log")).unwrap())
            .spawn()
            .expect("dockerd runs");
        engine.child = Some(child);
        let started = Instant::now();
        while !engine.answers() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the second engine did not answer within 60 s: {}",
                engine.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        engine
    }

    /// `unix://<dir>/docker.sock`.
    pub fn address(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    /// The address of its bridge on this machine.
    pub fn bridge_ip(&self) -> &str {
        &self.bridge_ip
    }

    /// `docker …` against this engine.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", self.address())
            .args(args)
            .output()
            .expect("docker runs")
    }

    fn answers(&self) -> bool {
        self.docker(&["version", "--format", "{{.Server.Version}}"])
            .status
            .success()
    }

    /// Its daemon log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Kills dockerd at once (SIGKILL), as a crashed machine would stop answering.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every process whose command line names the engine's directory (containerd, shims).
    fn processes(dir: &Path) -> Vec<u32> {
        let needle = dir.display().to_string();
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
            })
            .collect()
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A clean stop first: dockerd stops its containers and containerd.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(20)
                && matches!(child.try_wait(), Ok(None))
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in SecondEngine::processes(&self.dir) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        std::thread::sleep(Duration::from_millis(300));
        // Mounts under the directory, deepest first, then the directory itself.
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let prefix = self.dir.display().to_string();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}
