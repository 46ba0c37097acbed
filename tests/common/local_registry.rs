//! `LocalRegistry`: Debian's `docker-registry` (CNCF distribution 2.8) on a free loopback port
//! with its storage in a temporary directory, stopped when dropped; and a few raw HTTP calls to
//! ask it what it holds, independently of the engine.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalRegistry {
    _dir: tempfile::TempDir,
    child: Child,
    /// The address it listens on: loopback, or a bridge the test made.
    ip: String,
    port: u16,
    /// `Authorization` header value for the raw calls, when the registry wants one.
    authorization: Option<String>,
}

/// The user and password [`LocalRegistry::start_with_password`] accepts, and its bcrypt line.
pub const USER: &str = "ci";
pub const PASSWORD: &str = "s3cret-pass";
const HTPASSWD: &str = "ci:$2y$05$aou7.EuGdcfKWzHOos8la.0QcSSyRRnJ.0V4Yq8TXCKCVTOGkRBLa";

/// A TCP port nothing listens on at `ip` now.
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl LocalRegistry {
    /// Starts it and waits until `/v2/` answers (about 2 s).
    pub fn start() -> LocalRegistry {
        LocalRegistry::start_with(false, "127.0.0.1", 0)
    }

    /// The same, listening on `ip:port` (an address of a bridge the test made) instead of
    /// loopback.
    pub fn start_on(ip: &str, port: u16) -> LocalRegistry {
        LocalRegistry::start_with(false, ip, port)
    }

    /// The same, accepting only [`USER`] with [`PASSWORD`] (htpasswd, HTTP basic auth).
    pub fn start_with_password() -> LocalRegistry {
        LocalRegistry::start_with(true, "127.0.0.1", 0)
    }

    fn start_with(password: bool, ip: &str, port: u16) -> LocalRegistry {
        let dir = tempfile::tempdir().unwrap();
        let auth = if password {
            std::fs::write(dir.path().join("htpasswd"), format!("{HTPASSWD}\n")).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: ferrostack-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            )
        } else {
            String::new()
        };
        let port = if port == 0 { free_port(ip) } else { port };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {ip}:{port}\n{auth}", dir.path().join("data").display()),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry runs (scripts/setup installs the docker-registry package)");
        use base64::Engine as _;
        let authorization = password.then(|| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
            )
        });
        let registry = LocalRegistry {
            _dir: dir,
            child,
            ip: ip.to_string(),
            port,
            authorization,
        };
        let started = Instant::now();
        while registry.request("GET", "/v2/", &[]).0 != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the registry did not answer within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }

    /// `<ip>:<port>` (`127.0.0.1:<port>` unless started on another address).
    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// The digest of `repo:tag`'s manifest as the registry serves it, or `None`.
    pub fn manifest_digest(&self, repo: &str, tag: &str) -> Option<String> {
        let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
        let (status, head, _) = self.request(
            "HEAD",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Accept", accept)],
        );
        (status == 200).then(|| {
            head.lines()
                .find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("docker-content-digest"))
                        .map(|(_, v)| v.trim().to_string())
                })
                .expect("a digest header")
        })
    }

    /// The manifest `repo:reference` names (a tag or digest), byte for byte, or `None`.
    #[allow(dead_code)]
    pub fn manifest(&self, repo: &str, reference: &str) -> Option<Vec<u8>> {
        let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
        let (status, _, body) = self.request(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", accept)],
        );
        (status == 200).then_some(body)
    }

    /// The blob `digest` of `repo`, or `None`.
    #[allow(dead_code)]
    pub fn blob(&self, repo: &str, digest: &str) -> Option<Vec<u8>> {
        let (status, _, body) = self.request("GET", &format!("/v2/{repo}/blobs/{digest}"), &[]);
        (status == 200).then_some(body)
    }

    /// One HTTP/1.0 request: status, head, body.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, Vec<u8>) {
        let Ok(mut stream) = TcpStream::connect((self.ip.as_str(), self.port)) else {
            return (0, String::new(), Vec::new());
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}:{}\r\n",
            self.ip, self.port
        );
        if let Some(authorization) = &self.authorization {
            request.push_str(&format!("Authorization: {authorization}\r\n"));
        }
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new(), Vec::new());
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(answer.len());
        let head = String::from_utf8_lossy(&answer[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (
            status,
            head,
            answer.get(split + 4..).unwrap_or_default().to_vec(),
        )
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
