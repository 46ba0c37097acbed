//! `TestMirror`: a tiny flat Debian repository (`deb [trusted=yes] http://IP:PORT/ ./`) made in
//! the test with `dpkg-deb --build` and `apt-ftparchive`, served by `python3 -m http.server` on
//! the engine's default bridge address, so build and `update` containers reach it. Stopped when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{docker, stdout};

pub struct TestMirror {
    _dir: tempfile::TempDir,
    /// Every package built so far (`name_version_all.deb`).
    pool: PathBuf,
    /// What is served.
    root: PathBuf,
    child: Child,
    ip: String,
    port: u16,
}

/// One tiny package: its name, version and `Depends:` line (empty for none).
pub struct Package<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub depends: &'a str,
}

impl TestMirror {
    /// Serves an empty repository on the default bridge's gateway address.
    pub fn start() -> TestMirror {
        for tool in ["dpkg-deb", "apt-ftparchive"] {
            let found = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .output()
                .unwrap()
                .status
                .success();
            assert!(found, "`{tool}` is needed for the test mirror (dpkg-deb comes with dpkg; scripts/setup installs apt-utils)");
        }
        // The IPAM `Gateway` appears only after the engine restarts; `docker0`'s address is
        // the same one (as src/engine/network.rs finds it).
        let out = docker(&[
            "network",
            "inspect",
            "bridge",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
        ]);
        let mut ip = stdout(&out).trim().to_string();
        if ip.is_empty() || ip == "<no value>" {
            let out = Command::new("sh")
                .arg("-c")
                .arg("ip -4 -o addr show docker0 | awk '{print $4}' | cut -d/ -f1")
                .output()
                .unwrap();
            ip = stdout(&out).trim().to_string();
        }
        assert!(
            !ip.is_empty(),
            "the engine's default bridge has no host address"
        );
        let dir = tempfile::tempdir().unwrap();
        let pool = dir.path().join("pool");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&pool).unwrap();
        std::fs::create_dir_all(&root).unwrap();
        let port = super::local_registry::free_port(&ip);
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                &ip,
                "--directory",
            ])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mirror = TestMirror {
            _dir: dir,
            pool,
            root,
            child,
            ip,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((mirror.ip.as_str(), mirror.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the test mirror did not start listening"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        mirror
    }

    /// The apt source line for it.
    pub fn source_line(&self) -> String {
        format!("deb [trusted=yes] http://{}:{}/ ./", self.ip, self.port)
    }

    /// Makes the mirror offer exactly `packages` (built on first use), with fresh indexes.
    pub fn publish(&self, packages: &[Package]) {
        for entry in std::fs::read_dir(&self.root).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for p in packages {
            let deb = self.build(p);
            std::fs::copy(&deb, self.root.join(deb.file_name().unwrap())).unwrap();
        }
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(&self.root)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh("apt-ftparchive packages . > Packages && apt-ftparchive release . > Release");
    }

    fn build(&self, p: &Package) -> PathBuf {
        let deb = self.pool.join(format!("{}_{}_all.deb", p.name, p.version));
        if deb.exists() {
            return deb;
        }
        let tree = tempfile::tempdir().unwrap();
        let depends = if p.depends.is_empty() {
            String::new()
        } else {
            format!("Depends: {}\n", p.depends)
        };
        write(tree.path(), "DEBIAN/control", &format!(
            "Package: {}\nVersion: {}\nArchitecture: all\nMaintainer: ferrostack tests <tests@example.invalid>\n{depends}Description: ferrostack test package\n",
            p.name, p.version
        ));
        write(
            tree.path(),
            &format!("usr/share/{}/version", p.name),
            &format!("{}\n", p.version),
        );
        let out = Command::new("dpkg-deb")
            .args(["--build", "--root-owner-group"])
            .arg(tree.path())
            .arg(&deb)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dpkg-deb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        deb
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

impl Drop for TestMirror {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
