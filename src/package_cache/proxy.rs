//! `Proxy`: answers one request made through the package cache. Only allow-listed hosts are
//! served. An immutable Debian file is served from disk, fetched once and kept when absent
//! (one fetch however many builds ask at once), but only once its bytes are proven: a
//! `by-hash` file by its name, a pool `.deb` by the `Packages` index that named it. Anything
//! else is passed through; `CONNECT` is in `tunnel.rs`.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::allow_list::split_authority;
use super::cache_config::CacheConfig;
use super::cache_stats::CacheStats;
use super::connections::Admitted;
use super::package_index::PackageIndex;
use super::store::{KeptFile, Store};
use super::target_guard::TargetGuard;

/// A response body as the proxy sends it.
pub(super) type Body = BoxBody<Bytes, io::Error>;

/// A request body as the proxy forwards it.
type UpstreamBody = BoxBody<Bytes, hyper::Error>;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How long a connection to an upstream server may take to open.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(super) struct Counters {
    hits: AtomicU64,
    fetched: AtomicU64,
    passed: AtomicU64,
    pub(super) tunnels: AtomicU64,
    refused: AtomicU64,
    not_kept: AtomicU64,
    bytes_hit: AtomicU64,
    bytes_fetched: AtomicU64,
}

/// The request handler shared by every connection of one package cache.
pub(super) struct Proxy {
    pub(super) config: CacheConfig,
    pub(super) guard: TargetGuard,
    pub(super) counters: Counters,
    /// Ends the tunnels when the cache stops.
    pub(super) stop: CancellationToken,
    store: Store,
    index: Arc<PackageIndex>,
    client: Client<HttpConnector, UpstreamBody>,
    /// One gate per cache key being fetched, so concurrent requests for it wait for one fetch.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How a file's bytes are proven before it is kept.
enum Proof {
    /// `by-hash/SHA256/<hex>`: the sha256 is the name. `index_root` is the mirror root when
    /// the file is a `Packages` index whose entries are learned.
    ByHash {
        sha256: [u8; 32],
        index_root: Option<String>,
    },
    /// A pool file with the size and sha256 its index gave.
    Pool { sha256: [u8; 32], size: u64 },
}

/// A completed download in a partial file.
struct Download {
    partial: tempfile::NamedTempFile,
    size: u64,
    sha256: [u8; 32],
}

impl Proxy {
    pub(super) fn new(store: Store, config: CacheConfig, stop: CancellationToken) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Proxy {
            config,
            guard: TargetGuard::of_this_machine(),
            counters: Counters::default(),
            stop,
            store,
            index: Arc::default(),
            client,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&c.hits),
            fetched: get(&c.fetched),
            passed: get(&c.passed),
            tunnels: get(&c.tunnels),
            refused: get(&c.refused),
            not_kept: get(&c.not_kept),
            bytes_hit: get(&c.bytes_hit),
            bytes_fetched: get(&c.bytes_fetched),
        }
    }

    /// Cache keys being fetched now.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.lock().expect("in-flight map").len()
    }

    /// Answers one request; failures become an HTTP error response naming the cause.
    pub(super) async fn handle(
        &self,
        request: Request<Incoming>,
        connection: Arc<Admitted>,
    ) -> Response<Body> {
        if let (Some(host), Some(authority)) = (
            request.headers().get(header::HOST),
            request.uri().authority(),
        ) {
            if !same_authority(
                host.to_str().unwrap_or(""),
                authority.as_str(),
                request.method() == Method::CONNECT,
            ) {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("ferrostack package cache: the Host header `{}` does not name the request's host `{}`", host.to_str().unwrap_or("?"), request.uri()),
                );
            }
        }
        if request.method() == Method::CONNECT {
            let mut response = self.tunnel(request, connection).await;
            if response.status() != StatusCode::OK {
                // No tunnel: the client has nothing more to say on this connection.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return response;
        }
        let uri = request.uri().clone();
        let Some(authority) = uri.authority().filter(|_| uri.scheme_str() == Some("http")) else {
            return text(
                StatusCode::BAD_REQUEST,
                format!("ferrostack package cache: `{uri}` is not a proxy request (an absolute http:// URL, or CONNECT)"),
            );
        };
        if !request.headers().contains_key(header::HOST) {
            return text(
                StatusCode::BAD_REQUEST,
                format!("ferrostack package cache: a request for `{uri}` without a Host header"),
            );
        }
        if !self.config.allow.allows_http(authority.as_str()) {
            return self.refuse(format!(
                "`{authority}` is not a mirror of the catalogue; add it to `[build] package_cache_allow` in ferrostack.toml (or FERROSTACK_PACKAGE_CACHE_ALLOW) to reach it through the package cache"
            ));
        }
        let immutable =
            request.method() == Method::GET && !request.headers().contains_key(header::RANGE);
        match cache_key(&uri).filter(|_| immutable) {
            Some(key) => match self.proof(&key) {
                Some(proof) => self.cached(request, key, proof).await,
                None if is_pool_file(&key) => {
                    // A package no index of this run names: passed through, never kept.
                    self.counters.not_kept.fetch_add(1, Ordering::Relaxed);
                    self.relay_upstream(request).await
                }
                None => self.pass(request).await,
            },
            None => self.pass(request).await,
        }
    }

    /// A 403 naming why.
    pub(super) fn refuse(&self, why: String) -> Response<Body> {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        text(
            StatusCode::FORBIDDEN,
            format!("ferrostack package cache: {why}"),
        )
    }

    /// How the file of `key` would be proven, when it is one the cache keeps.
    fn proof(&self, key: &str) -> Option<Proof> {
        if let Some((dir, hash)) = key.split_once("/by-hash/SHA256/") {
            let mut sha256 = [0u8; 32];
            hex::decode_to_slice(hash, &mut sha256).ok()?;
            let is_packages = dir
                .rsplit('/')
                .next()
                .is_some_and(|d| d.starts_with("binary-"));
            let index_root = dir
                .split_once("/dists/")
                .filter(|_| is_packages)
                .map(|(root, _)| root.to_string());
            return Some(Proof::ByHash { sha256, index_root });
        }
        if is_pool_file(key) {
            let entry = self.index.get(key)?;
            return Some(Proof::Pool {
                sha256: entry.sha256,
                size: entry.size,
            });
        }
        None
    }

    /// Serves a proven file from disk, fetching and keeping it first when absent.
    async fn cached(
        &self,
        request: Request<Incoming>,
        key: String,
        proof: Proof,
    ) -> Response<Body> {
        let uri = request.uri().to_string();
        let _gate = InFlight::enter(&self.in_flight, &key).await;
        // A kept pool file is served when this run's index still names its bytes.
        let kept = self.store.lookup(&key).filter(|(_, record)| match &proof {
            Proof::ByHash { .. } => true,
            Proof::Pool { sha256, size } => {
                record.sha256 == hex::encode(sha256) && record.size == *size
            }
        });
        if let Some((path, _)) = kept {
            self.learn(&proof, &path).await;
            if let Some((response, len)) = serve_file(&path).await {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                self.counters.bytes_hit.fetch_add(len, Ordering::Relaxed);
                return response;
            }
        }
        let upstream = match self.client.request(forward(request)).await {
            Ok(r) => r,
            Err(e) => return bad_gateway(&uri, &e),
        };
        if upstream.status() != StatusCode::OK {
            self.counters.passed.fetch_add(1, Ordering::Relaxed);
            return self.relay(upstream);
        }
        let download = match self.download(upstream).await {
            Ok(d) => d,
            Err(e) => {
                self.counters.not_kept.fetch_add(1, Ordering::Relaxed);
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("ferrostack package cache: fetching `{uri}` failed: {e}; nothing kept"),
                );
            }
        };
        let (expected, expected_size) = match &proof {
            Proof::ByHash { sha256, .. } => (*sha256, None),
            Proof::Pool { sha256, size } => (*sha256, Some(*size)),
        };
        if download.sha256 != expected || expected_size.is_some_and(|s| s != download.size) {
            self.counters.not_kept.fetch_add(1, Ordering::Relaxed);
            return match proof {
                Proof::ByHash { .. } => text(
                    StatusCode::BAD_GATEWAY,
                    format!("ferrostack package cache: `{uri}` has sha256 {}, not the one its name says; nothing kept", hex::encode(download.sha256)),
                ),
                // apt checks it against the index and says which file is wrong.
                Proof::Pool { .. } => serve_partial(download).await,
            };
        }
        let record = KeptFile {
            key,
            size: download.size,
            sha256: hex::encode(download.sha256),
        };
        let path = match tokio::task::spawn_blocking({
            let store = self.store.clone();
            move || store.keep(download.partial, &record)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r)
        {
            Ok(path) => path,
            Err(e) => {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "ferrostack package cache: cannot keep `{uri}` in `{}`: {e}",
                        self.store.dir().display()
                    ),
                )
            }
        };
        self.counters.fetched.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_fetched
            .fetch_add(download.size, Ordering::Relaxed);
        self.learn(&proof, &path).await;
        match serve_file(&path).await {
            Some((response, _)) => response,
            None => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("ferrostack package cache: `{}` vanished", path.display()),
            ),
        }
    }

    /// Reads the pool entries of a kept `Packages` index, once per run.
    async fn learn(&self, proof: &Proof, path: &Path) {
        let Proof::ByHash {
            sha256,
            index_root: Some(root),
        } = proof
        else {
            return;
        };
        if !self.index.first_time(&hex::encode(sha256)) {
            return;
        }
        let (path, root, index) = (path.to_path_buf(), root.clone(), Arc::clone(&self.index));
        // Decompressing takes a moment: off the async threads.
        let _ = tokio::task::spawn_blocking(move || {
            std::fs::read(path).map(|bytes| index.learn(&root, &bytes))
        })
        .await;
    }

    /// Writes an upstream body to a partial file, hashing it; fails when it breaks off (hyper
    /// fails a body that ends before its `Content-Length`) or passes the size limit.
    async fn download(&self, response: Response<Incoming>) -> io::Result<Download> {
        let partial = self.store.partial()?;
        let mut out = tokio::fs::File::from_std(partial.as_file().try_clone()?);
        let mut body = response.into_body();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(io::Error::other)?;
            if let Ok(data) = frame.into_data() {
                size += data.len() as u64;
                if size > self.config.max_file_size {
                    return Err(io::Error::other(format!(
                        "it is larger than the limit of {}",
                        crate::units::show_size(self.config.max_file_size)
                    )));
                }
                hasher.update(&data);
                out.write_all(&data).await?;
            }
        }
        out.flush().await?;
        Ok(Download {
            partial,
            size,
            sha256: hasher.finalize().into(),
        })
    }

    /// Forwards a request that is not cached and relays the answer as it streams.
    async fn pass(&self, request: Request<Incoming>) -> Response<Body> {
        self.counters.passed.fetch_add(1, Ordering::Relaxed);
        self.relay_upstream(request).await
    }

    async fn relay_upstream(&self, request: Request<Incoming>) -> Response<Body> {
        let uri = request.uri().to_string();
        match self.client.request(forward(request)).await {
            Ok(r) => self.relay(r),
            Err(e) => bad_gateway(&uri, &e),
        }
    }

    /// The upstream response as sent back, streaming, cut off at the size limit.
    fn relay(&self, response: Response<Incoming>) -> Response<Body> {
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let limit = usize::try_from(self.config.max_file_size).unwrap_or(usize::MAX);
        Response::from_parts(
            parts,
            Limited::new(body, limit).map_err(io::Error::other).boxed(),
        )
    }
}

/// The gate of one cache key; the key leaves the map when its last user is done.
struct InFlight<'a> {
    map: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    key: String,
    gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<'a> InFlight<'a> {
    async fn enter(
        map: &'a Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
        key: &str,
    ) -> InFlight<'a> {
        let gate = Arc::clone(
            map.lock()
                .expect("in-flight map")
                .entry(key.to_string())
                .or_default(),
        );
        let mut entered = InFlight {
            map,
            key: key.to_string(),
            gate: None,
        };
        entered.gate = Some(gate.lock_owned().await);
        entered
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gate = None;
        let mut map = self.map.lock().expect("in-flight map");
        // Nobody else holds or waits for the gate: only the map's handle is left.
        if map
            .get(&self.key)
            .is_some_and(|g| Arc::strong_count(g) == 1)
        {
            map.remove(&self.key);
        }
    }
}

/// Pool packages: their name is unique to their content within a mirror.
fn is_pool_file(key: &str) -> bool {
    key.contains("/pool/") && (key.ends_with(".deb") || key.ends_with(".udeb"))
}

/// The cache key of a URL: host (lowercase, without the default port) and path, with
/// percent-escapes decoded and dot segments resolved. `None` for URLs the cache does not keep
/// (a query, an escaped slash, bytes that are not UTF-8).
pub(super) fn cache_key(uri: &Uri) -> Option<String> {
    if uri.query().is_some() {
        return None;
    }
    let (host, port) = split_authority(uri.authority()?.as_str())?;
    let authority = match port {
        Some(p) if p != 80 => format!("{host}:{p}"),
        _ => host,
    };
    let path = uri.path();
    if path.to_ascii_lowercase().contains("%2f") {
        return None;
    }
    let decoded = percent_decode(path)?;
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    Some(format!("{authority}/{}", segments.join("/")))
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a Host header names the same host and port as the request's authority.
fn same_authority(host: &str, authority: &str, connect: bool) -> bool {
    let default = if connect { 443 } else { 80 };
    match (split_authority(host), split_authority(authority)) {
        (Some((h1, p1)), Some((h2, p2))) => {
            h1 == h2 && p1.unwrap_or(default) == p2.unwrap_or(default)
        }
        _ => false,
    }
}

/// A 200 response streaming the file at `path`, and its length; `None` when it is absent.
async fn serve_file(path: &Path) -> Option<(Response<Body>, u64)> {
    let file = tokio::fs::File::open(path).await.ok()?;
    Some(stream_file(file).await)
}

/// Serves a download that is not kept (its partial file is removed; the open file stays
/// readable until the response is sent).
async fn serve_partial(download: Download) -> Response<Body> {
    let file = match download.partial.reopen() {
        Ok(f) => tokio::fs::File::from_std(f),
        Err(e) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("ferrostack package cache: cannot reread a download: {e}"),
            )
        }
    };
    drop(download.partial);
    stream_file(file).await.0
}

async fn stream_file(file: tokio::fs::File) -> (Response<Body>, u64) {
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let stream = tokio_util::io::ReaderStream::new(file).map_ok(Frame::data);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    (response, len)
}

/// The request as sent upstream: same method, URL and headers, minus the hop-by-hop ones.
fn forward(request: Request<Incoming>) -> Request<UpstreamBody> {
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Request::from_parts(parts, body.boxed())
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

fn bad_gateway(uri: &str, error: &hyper_util::client::legacy::Error) -> Response<Body> {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        reason = format!("{reason}: {inner}");
        source = inner.source();
    }
    text(
        StatusCode::BAD_GATEWAY,
        format!("ferrostack package cache: `{uri}` failed: {reason}"),
    )
}

pub(super) fn text(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(message + "\n"))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> Option<String> {
        cache_key(&url.parse().unwrap())
    }

    #[test]
    fn cache_keys_are_normalised() {
        assert_eq!(
            key("http://Deb.Debian.org:80/debian/pool/main/j/jq/jq.deb").as_deref(),
            Some("deb.debian.org/debian/pool/main/j/jq/jq.deb")
        );
        assert_eq!(
            key("http://deb.debian.org//debian/./x/../pool/a%2b%2b.deb").as_deref(),
            Some("deb.debian.org/debian/pool/a++.deb")
        );
        assert_eq!(
            key("http://mirror:8080/debian/pool/a.deb").as_deref(),
            Some("mirror:8080/debian/pool/a.deb")
        );
        assert_eq!(key("http://h/pool/a.deb?x=1"), None);
        assert_eq!(key("http://h/pool%2Fa.deb"), None);
        assert_eq!(key("http://h/pool/%ff.deb"), None);
    }

    #[test]
    fn host_headers_match_their_authority() {
        assert!(same_authority("deb.debian.org", "deb.debian.org:80", false));
        assert!(same_authority("Deb.Debian.Org:80", "deb.debian.org", false));
        assert!(!same_authority("deb.debian.org", "127.0.0.1:80", false));
        assert!(!same_authority(
            "deb.debian.org:8080",
            "deb.debian.org",
            false
        ));
        assert!(same_authority("rubygems.org", "rubygems.org:443", true));
    }
}
