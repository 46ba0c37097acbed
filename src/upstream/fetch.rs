//! Downloads a release tarball into a directory once: kept only when its bytes hash to the
//! pinned integrity, written through a temporary file so a cut transfer leaves nothing.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha512};

use super::{Release, UpstreamError};
use crate::https::HttpsSetupError;

/// No release ferrostack pins is near this size (npm 9.2.0 is 2.4 MB).
const MAX_BYTES: u64 = 256 << 20;

/// The verified tarball of `release` in `dir`, downloaded from `registry` when it is not there
/// already (or no longer verifies). `ca_bundle` is trusted beside the system's certificates.
pub async fn fetch(
    release: &Release,
    registry: &str,
    ca_bundle: Option<&Path>,
    dir: &Path,
) -> Result<PathBuf, UpstreamError> {
    let path = dir.join(release.file_name());
    let url = release.url(registry);
    let expected = release.sha512().ok_or_else(|| UpstreamError::Integrity {
        url: url.clone(),
        algorithm: "sha512",
        expected: release.integrity.to_string(),
        actual: "(the pin is not a sha512 integrity)".into(),
    })?;
    if let Ok(bytes) = std::fs::read(&path) {
        if Sha512::digest(&bytes).as_slice() == expected.as_slice() {
            return Ok(path);
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| UpstreamError::io("create", dir, e))?;
    let fail = |message: String| UpstreamError::Fetch {
        url: url.clone(),
        message,
    };
    let client = crate::https::client(ca_bundle, Duration::from_secs(15), Duration::from_secs(300))
        .map_err(|e| match e {
            HttpsSetupError::ReadBundle { path, source } => {
                UpstreamError::io("read the CA bundle", &path, source)
            }
            other => fail(other.to_string()),
        })?;
    let mut response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| fail(flatten(&e)))?;
    if !response.status().is_success() {
        return Err(fail(format!("the registry answered {}", response.status())));
    }
    if response.content_length().is_some_and(|n| n > MAX_BYTES) {
        return Err(UpstreamError::TooLarge {
            url,
            limit: MAX_BYTES,
        });
    }
    let mut partial = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(|e| UpstreamError::io("create a file in", dir, e))?;
    let mut hasher = Sha512::new();
    let mut written: u64 = 0;
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(flatten(&e)))? {
        written += chunk.len() as u64;
        if written > MAX_BYTES {
            return Err(UpstreamError::TooLarge {
                url,
                limit: MAX_BYTES,
            });
        }
        hasher.update(&chunk);
        partial
            .write_all(&chunk)
            .map_err(|e| UpstreamError::io("write", partial.path(), e))?;
    }
    let actual = hasher.finalize();
    if actual.as_slice() != expected.as_slice() {
        return Err(UpstreamError::Integrity {
            url,
            algorithm: "sha512",
            expected: release.integrity.to_string(),
            actual: format!(
                "sha512-{}",
                base64::engine::general_purpose::STANDARD.encode(actual)
            ),
        });
    }
    partial
        .as_file()
        .sync_all()
        .map_err(|e| UpstreamError::io("write", partial.path(), e))?;
    partial
        .persist(&path)
        .map_err(|e| UpstreamError::io("keep", &path, e.error))?;
    Ok(path)
}

/// An error with its causes, as one line.
fn flatten(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::net::TcpListener;

    /// A loopback server answering every request with `status`, a `Content-Length` of
    /// `declared` and the bytes `body` (then closing); returns its base URL.
    fn serve(status: &'static str, declared: usize, body: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for mut client in listener.incoming().map_while(Result::ok) {
                let mut head = [0u8; 4096];
                let _ = client.read(&mut head);
                let _ = write!(
                    client,
                    "HTTP/1.1 {status}\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
                );
                let _ = client.write_all(&body);
            }
        });
        url
    }

    fn release_of(bytes: &[u8]) -> Release {
        let integrity = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
        );
        Release {
            integrity: Box::leak(integrity.into_boxed_str()),
            ..super::super::NPM_9_2_0
        }
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test]
    async fn the_pinned_bytes_are_kept_and_reused_without_the_registry() {
        let tmp = tempfile::tempdir().unwrap();
        let body = b"the release".to_vec();
        let release = release_of(&body);
        let url = serve("200 OK", body.len(), body.clone());
        let path = fetch(&release, &url, None, tmp.path()).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), body);
        assert_eq!(files(tmp.path()), ["npm-9.2.0.tgz"]);
        // Kept: no registry is asked (this address answers nothing).
        assert_eq!(
            fetch(&release, "http://127.0.0.1:1", None, tmp.path())
                .await
                .unwrap(),
            path
        );
        // A kept file that no longer verifies is fetched again.
        std::fs::write(&path, b"changed on disk").unwrap();
        assert_eq!(
            std::fs::read(fetch(&release, &url, None, tmp.path()).await.unwrap()).unwrap(),
            body
        );
    }

    #[tokio::test]
    async fn other_bytes_errors_and_cut_transfers_keep_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let release = release_of(b"the release");
        let wrong = serve("200 OK", 5, b"other".to_vec());
        match fetch(&release, &wrong, None, tmp.path()).await {
            Err(UpstreamError::Integrity { url, actual, .. }) => assert!(
                url.starts_with(&wrong) && actual.starts_with("sha512-"),
                "{url} {actual}"
            ),
            other => panic!("{other:?}"),
        }
        let missing = serve("404 Not Found", 0, Vec::new());
        let err = fetch(&release, &missing, None, tmp.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("404") && err.contains("/npm/-/npm-9.2.0.tgz"),
            "{err}"
        );
        let cut = serve("200 OK", 1000, b"the rel".to_vec());
        assert!(matches!(
            fetch(&release, &cut, None, tmp.path()).await,
            Err(UpstreamError::Fetch { .. })
        ));
        let huge = serve("200 OK", (MAX_BYTES + 1) as usize, Vec::new());
        assert!(matches!(
            fetch(&release, &huge, None, tmp.path()).await,
            Err(UpstreamError::TooLarge { .. })
        ));
        let nothing = fetch(&release, "http://127.0.0.1:1", None, tmp.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            nothing.contains("cannot fetch `http://127.0.0.1:1/npm/-/npm-9.2.0.tgz`"),
            "{nothing}"
        );
        assert_eq!(files(tmp.path()), Vec::<String>::new(), "nothing is kept");
    }
}
