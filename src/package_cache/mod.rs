//! The package cache: an HTTP proxy on the engine's bridge that builds reach through Docker's
//! predefined `http_proxy` build argument, so apt's downloads pass through ferrostack.
//!
//! Debian's immutable files (pool `.deb`s and `by-hash` indexes, whose names change whenever
//! their content does) are kept under `target/ferrostack/package-cache/` and fetched once for
//! every stack of the run, and for later runs; everything else (release files, HTTPS through
//! `CONNECT`) is passed through. Why: the stacks share most of their packages (the FFmpeg and
//! Node.js stacks both pull Python, for one) and each download is a round trip to the mirror,
//! so without it parallel builds queue on the network fetching the same files. A predefined
//! build argument is neither part of the layer cache key nor of the image's history, so images
//! are the same with and without the cache.
//!
//! It is not an open proxy: it answers only the bridge's clients, serves only the catalogue's
//! mirrors and allow-listed hosts, and tunnels only to allow-listed `host:443` that is not this
//! machine. It keeps a file only once its bytes are proven (a `by-hash` name, or the size and
//! sha256 of a `Packages` index that went through it), so no build can poison it for the next.

mod allow_list;
mod cache_config;
mod cache_stats;
mod connections;
mod package_index;
mod proxy;
mod store;
mod target_guard;
mod tunnel;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub use crate::subnet::Subnet;
pub use allow_list::{AllowList, DEBIAN_HOSTS, REGISTRY_HOSTS};
pub use cache_config::{CacheConfig, DEFAULT_MAX_FILE_SIZE};
pub use cache_stats::CacheStats;
pub use store::{PruneReport, Store, VerifyReport, DEFAULT_MAX_SIZE};

use connections::Connections;
use proxy::Proxy;

use crate::error::{Error, Result};

/// The build argument Docker predefines for a proxy (and keeps out of the image's history).
pub const PROXY_BUILD_ARG: &str = "http_proxy";

/// A running package cache; it stops when dropped, and its tunnels end with it.
pub struct PackageCache {
    address: SocketAddr,
    store: Store,
    proxy: Arc<Proxy>,
    stop: CancellationToken,
}

impl PackageCache {
    /// Starts the proxy on `config.listen` (a free port), keeping files in `dir`. Partial files
    /// a killed run left behind are removed first.
    pub async fn start(dir: &Path, config: CacheConfig) -> Result<PackageCache> {
        let store = Store::open(dir)?;
        store.remove_partials()?;
        let ip = config.listen;
        let listener = TcpListener::bind((ip, 0))
            .await
            .map_err(|source| Error::PackageCache {
                address: ip.to_string(),
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| Error::PackageCache {
                address: ip.to_string(),
                source,
            })?;
        let stop = CancellationToken::new();
        let proxy = Arc::new(Proxy::new(store.clone(), config, stop.clone()));
        tokio::spawn(serve(listener, Arc::clone(&proxy), stop.clone()));
        Ok(PackageCache {
            address,
            store,
            proxy,
            stop,
        })
    }

    /// The proxy URL builds get, e.g. `http://172.17.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Where the files are kept.
    pub fn dir(&self) -> &Path {
        self.store.dir()
    }

    /// What it did so far.
    pub fn stats(&self) -> CacheStats {
        self.proxy.stats()
    }

    /// Cache keys being fetched right now (0 once every fetch has ended).
    pub fn in_flight(&self) -> usize {
        self.proxy.in_flight()
    }
}

impl Drop for PackageCache {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Accepts connections until `stop`: only from the configured client networks, at most
/// `max_connections` at once; each connection is served on its own task.
async fn serve(listener: TcpListener, proxy: Arc<Proxy>, stop: CancellationToken) {
    let connections = Connections::new(proxy.config.max_connections);
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if !proxy
            .config
            .clients
            .iter()
            .any(|net| net.contains(peer.ip()))
        {
            continue;
        }
        let Some(admitted) = connections.admit() else {
            tokio::spawn(too_busy(stream));
            continue;
        };
        let admitted = Arc::new(admitted);
        let header_timeout = proxy.config.header_timeout;
        let proxy = Arc::clone(&proxy);
        let stop = stop.clone();
        tokio::spawn(async move {
            let closed = admitted.closed().clone();
            let connection = Arc::clone(&admitted);
            let service = service_fn(move |request| {
                let proxy = Arc::clone(&proxy);
                let connection = Arc::clone(&connection);
                async move {
                    // Busy until the response body is sent or dropped.
                    let busy = connection.busy();
                    let response = proxy.handle(request, connection).await;
                    Ok::<_, Infallible>(response.map(|body| {
                        body.map_err(move |e| {
                            let _ = &busy;
                            e
                        })
                        .boxed()
                    }))
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                _ = connection => {}
                _ = closed.cancelled() => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// Answers a connection over the cap and closes it.
async fn too_busy(mut stream: TcpStream) {
    let body = "ferrostack package cache: too many connections; try again\n";
    let head = format!("HTTP/1.1 {} Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n", StatusCode::SERVICE_UNAVAILABLE.as_u16(), body.len());
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
