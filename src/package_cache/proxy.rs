//! `Proxy`: answers one request made through the package cache. An immutable Debian file is
//! served from disk (fetched once and kept when absent, one fetch however many builds ask at
//! once); anything else is passed through; `CONNECT` is tunnelled.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::cache_stats::CacheStats;

/// A response body as the proxy sends it.
pub(super) type Body = BoxBody<Bytes, io::Error>;

/// A request body as the proxy forwards it.
type UpstreamBody = BoxBody<Bytes, hyper::Error>;

/// Prefix of files being written; a file only gets its final name once complete.
pub(super) const PARTIAL_PREFIX: &str = ".partial-";

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
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    fetched: AtomicU64,
    passed: AtomicU64,
    tunnels: AtomicU64,
    bytes_hit: AtomicU64,
    bytes_fetched: AtomicU64,
}

/// The request handler shared by every connection of one package cache.
pub(super) struct Proxy {
    dir: PathBuf,
    client: Client<HttpConnector, UpstreamBody>,
    /// One gate per cached file, so concurrent requests for it wait for one fetch.
    in_flight: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    counters: Counters,
}

impl Proxy {
    pub(super) fn new(dir: PathBuf) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Proxy { dir, client, in_flight: Mutex::new(HashMap::new()), counters: Counters::default() }
    }

    pub(super) fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&c.hits),
            fetched: get(&c.fetched),
            passed: get(&c.passed),
            tunnels: get(&c.tunnels),
            bytes_hit: get(&c.bytes_hit),
            bytes_fetched: get(&c.bytes_fetched),
        }
    }

    /// Answers one request; failures become an HTTP error response naming the cause.
    pub(super) async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        if request.method() == Method::CONNECT {
            return self.tunnel(request).await;
        }
        let uri = request.uri();
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return text(
                StatusCode::BAD_REQUEST,
                format!("ferrostack package cache: `{uri}` is not a proxy request (an absolute http:// URL, or CONNECT)"),
            );
        }
        if is_immutable(&request) {
            self.cached(request).await
        } else {
            self.pass(request).await
        }
    }

    /// Serves an immutable file from disk, fetching and keeping it first when absent.
    async fn cached(&self, request: Request<Incoming>) -> Response<Body> {
        let uri = request.uri().to_string();
        let path = self.dir.join(cache_name(&uri));
        let gate = Arc::clone(self.in_flight.lock().expect("in-flight map").entry(path.clone()).or_default());
        let _held = gate.lock().await;
        if let Some((response, len)) = serve_file(&path).await {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            self.counters.bytes_hit.fetch_add(len, Ordering::Relaxed);
            return response;
        }
        let upstream = match self.client.request(forward(request)).await {
            Ok(r) => r,
            Err(e) => return bad_gateway(&uri, &e),
        };
        if upstream.status() != StatusCode::OK {
            self.counters.passed.fetch_add(1, Ordering::Relaxed);
            return relay(upstream);
        }
        match keep(upstream, &self.dir, &path).await {
            Ok(len) => {
                self.counters.fetched.fetch_add(1, Ordering::Relaxed);
                self.counters.bytes_fetched.fetch_add(len, Ordering::Relaxed);
            }
            Err(e) => return text(StatusCode::BAD_GATEWAY, format!("ferrostack package cache: fetching `{uri}` failed: {e}")),
        }
        match serve_file(&path).await {
            Some((response, _)) => response,
            None => text(StatusCode::INTERNAL_SERVER_ERROR, format!("ferrostack package cache: `{}` vanished", path.display())),
        }
    }

    /// Forwards a request that is not cached and relays the answer as it streams.
    async fn pass(&self, request: Request<Incoming>) -> Response<Body> {
        self.counters.passed.fetch_add(1, Ordering::Relaxed);
        let uri = request.uri().to_string();
        match self.client.request(forward(request)).await {
            Ok(r) => relay(r),
            Err(e) => bad_gateway(&uri, &e),
        }
    }

    /// `CONNECT host:port`: opens the connection, answers 200, then copies bytes both ways.
    async fn tunnel(&self, request: Request<Incoming>) -> Response<Body> {
        let Some(authority) = request.uri().authority().map(|a| a.to_string()) else {
            return text(StatusCode::BAD_REQUEST, "ferrostack package cache: CONNECT needs host:port".to_string());
        };
        let mut upstream = match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&authority)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return text(StatusCode::BAD_GATEWAY, format!("ferrostack package cache: cannot connect to `{authority}`: {e}")),
            Err(_) => return text(StatusCode::GATEWAY_TIMEOUT, format!("ferrostack package cache: `{authority}` did not answer")),
        };
        self.counters.tunnels.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(request).await {
                let mut client = TokioIo::new(upgraded);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            }
        });
        Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed())
    }
}

/// Debian files whose name changes whenever their content does: pool packages and `by-hash`
/// indexes. Release files and plain index names change in place and are passed through.
fn is_immutable(request: &Request<Incoming>) -> bool {
    let path = request.uri().path();
    request.method() == Method::GET
        && !request.headers().contains_key(header::RANGE)
        && (path.ends_with(".deb") || path.ends_with(".udeb") || path.contains("/by-hash/"))
}

/// A cached file's name: the sha256 of its URL (any URL maps to a safe, flat file name).
fn cache_name(uri: &str) -> String {
    hex::encode(Sha256::digest(uri.as_bytes()))
}

/// Writes an upstream body to a partial file and renames it into place once complete (hyper
/// fails the body when it ends before its `Content-Length`). Returns its length.
async fn keep(response: Response<Incoming>, dir: &Path, path: &Path) -> io::Result<u64> {
    let partial = tempfile::Builder::new().prefix(PARTIAL_PREFIX).tempfile_in(dir)?;
    let (file, partial_path) = partial.into_parts();
    let mut out = tokio::fs::File::from_std(file);
    let mut body = response.into_body();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data).await?;
            len += data.len() as u64;
        }
    }
    out.flush().await?;
    drop(out);
    partial_path.persist(path).map_err(|e| e.error)?;
    Ok(len)
}

/// A 200 response streaming the file at `path`, and its length; `None` when it is absent.
async fn serve_file(path: &Path) -> Option<(Response<Body>, u64)> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let len = file.metadata().await.ok()?.len();
    let stream = tokio_util::io::ReaderStream::new(file).map_ok(Frame::data);
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Some((response, len))
}

/// The request as sent upstream: same method, URL and headers, minus the hop-by-hop ones.
fn forward(request: Request<Incoming>) -> Request<UpstreamBody> {
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Request::from_parts(parts, body.boxed())
}

/// The upstream response as sent back, streaming.
fn relay(response: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body.map_err(io::Error::other).boxed())
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers the Connection header names are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP.iter().copied().chain(named.iter().map(String::as_str)) {
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
    text(StatusCode::BAD_GATEWAY, format!("ferrostack package cache: `{uri}` failed: {reason}"))
}

fn text(status: StatusCode, message: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(message + "\n")).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
