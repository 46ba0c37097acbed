//! The package cache: an HTTP proxy on the engine's bridge that builds reach through Docker's
//! predefined `http_proxy` build argument, so apt's downloads pass through ferrostack.
//!
//! Debian's immutable files (pool `.deb`s and `by-hash` indexes, whose names change whenever
//! their content does) are kept under `target/ferrostack/package-cache/` and fetched once for
//! every stack of the run, and for later runs; everything else (release files, HTTPS through
//! `CONNECT`) is passed through. Why: the stacks share most of their packages (the FFmpeg and
//! Node.js stacks both pull Python, for one) and each download is a round trip to the mirror,
//! so without it parallel builds queue on the network fetching the same files. apt verifies
//! every file against the signed index, so a bad cache entry fails a build, it never changes an
//! image; and a predefined build argument is neither part of the layer cache key nor of the
//! image's history, so images are the same with and without the cache.

mod cache_stats;
mod proxy;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use cache_stats::CacheStats;
use proxy::{Proxy, PARTIAL_PREFIX};

use crate::error::{Error, Result};

/// The build argument Docker predefines for a proxy (and keeps out of the image's history).
pub const PROXY_BUILD_ARG: &str = "http_proxy";

/// A running package cache; it stops when dropped.
pub struct PackageCache {
    address: SocketAddr,
    dir: PathBuf,
    proxy: Arc<Proxy>,
    stop: CancellationToken,
}

impl PackageCache {
    /// Starts the proxy on `ip` (a free port), keeping files in `dir`. Partial files a killed
    /// run left behind are removed first.
    pub async fn start(dir: &Path, ip: IpAddr) -> Result<PackageCache> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create the package cache", dir, e))?;
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the package cache", dir, e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(PARTIAL_PREFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let listener = TcpListener::bind((ip, 0)).await.map_err(|source| Error::PackageCache { address: ip.to_string(), source })?;
        let address = listener.local_addr().map_err(|source| Error::PackageCache { address: ip.to_string(), source })?;
        let proxy = Arc::new(Proxy::new(dir.to_path_buf()));
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, Arc::clone(&proxy), stop.clone()));
        Ok(PackageCache { address, dir: dir.to_path_buf(), proxy, stop })
    }

    /// The proxy URL builds get, e.g. `http://172.17.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Where the files are kept.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What it did so far.
    pub fn stats(&self) -> CacheStats {
        self.proxy.stats()
    }
}

impl Drop for PackageCache {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Accepts connections until `stop`; each connection is served on its own task.
async fn serve(listener: TcpListener, proxy: Arc<Proxy>, stop: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let proxy = Arc::clone(&proxy);
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let proxy = Arc::clone(&proxy);
                async move { Ok::<_, Infallible>(proxy.handle(request).await) }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades();
            tokio::select! {
                _ = connection => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}
