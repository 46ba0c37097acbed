//! The package cache as a proxy, against a local upstream server: immutable files are fetched
//! once (also when many clients ask at once, and across runs), the rest is passed through,
//! failures are never kept, CONNECT is tunnelled. The builds' side (apt in the engine's
//! containers going through it) is in `build_engine.rs`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrostack::package_cache::PackageCache;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DEB: &str = "/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb";
const BY_HASH: &str = "/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/0123abcd";
const RELEASE: &str = "/debian/dists/bookworm/InRelease";
const MISSING: &str = "/debian/pool/main/m/missing/missing_1_amd64.deb";
const SHORT: &str = "/debian/pool/main/s/short/short_1_amd64.deb";

/// The bytes the upstream serves for the package.
fn deb_body() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// A tiny HTTP/1.1 upstream (one request per connection) that counts requests per path.
struct Upstream {
    address: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counted = Arc::clone(&hits);
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let head = read_head(&mut stream).await;
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let n = {
                        let mut hits = counted.lock().unwrap();
                        let n = hits.entry(path.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let (status, length, body): (&str, usize, Vec<u8>) = match path.as_str() {
                        DEB => {
                            // Slow enough that concurrent clients overlap.
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            let body = deb_body();
                            ("200 OK", body.len(), body)
                        }
                        BY_HASH => ("200 OK", 5, b"index".to_vec()),
                        RELEASE => {
                            let body = format!("release {n}").into_bytes();
                            ("200 OK", body.len(), body)
                        }
                        // Announces 1000 bytes, sends 10, hangs up.
                        SHORT => ("200 OK", 1000, vec![b'x'; 10]),
                        _ => ("404 Not Found", 9, b"not found".to_vec()),
                    };
                    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n");
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Upstream { address, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// Reads up to the blank line ending an HTTP head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// `GET <url>` through the proxy, as apt sends it: the status code and the body.
async fn get(proxy: &PackageCache, url: &str) -> (u16, Vec<u8>) {
    let address = proxy.url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    let request = format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

/// Files in the cache directory (complete or partial).
fn cached_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_is_fetched_once_for_concurrent_clients_and_later_runs() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = PackageCache::start(dir.path(), LOCALHOST).await.unwrap();
    let url = upstream.url(DEB);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            let cache = &cache;
            async move { get(cache, &url).await }
        })
        .collect();
    let answers = futures_util::future::join_all(clients).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        assert!(*body == deb_body(), "every client gets the exact file");
    }
    assert_eq!(upstream.hits(DEB), 1, "one upstream fetch for eight clients");
    let stats = cache.stats();
    assert_eq!((stats.fetched, stats.hits), (1, 7));
    assert_eq!(stats.bytes_fetched, deb_body().len() as u64);
    assert_eq!(cached_files(dir.path()).len(), 1);
    drop(cache);

    // A later run over the same directory: served from disk, upstream not asked.
    let cache = PackageCache::start(dir.path(), LOCALHOST).await.unwrap();
    let (status, body) = get(&cache, &url).await;
    assert_eq!(status, 200);
    assert!(body == deb_body());
    assert_eq!(upstream.hits(DEB), 1);
    assert_eq!(cache.stats().hits, 1);

    // by-hash indexes are immutable too.
    for _ in 0..2 {
        assert_eq!(get(&cache, &upstream.url(BY_HASH)).await, (200, b"index".to_vec()));
    }
    assert_eq!(upstream.hits(BY_HASH), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_files_and_failures_are_passed_through_and_never_kept() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = PackageCache::start(dir.path(), LOCALHOST).await.unwrap();

    // A release file changes in place: every request reaches upstream.
    assert_eq!(get(&cache, &upstream.url(RELEASE)).await, (200, b"release 1".to_vec()));
    assert_eq!(get(&cache, &upstream.url(RELEASE)).await, (200, b"release 2".to_vec()));

    // A 404 is relayed, not kept.
    for _ in 0..2 {
        assert_eq!(get(&cache, &upstream.url(MISSING)).await.0, 404);
    }
    assert_eq!(upstream.hits(MISSING), 2);

    // A truncated download is an error to the client, leaves no file, and is fetched again.
    for _ in 0..2 {
        let (status, body) = get(&cache, &upstream.url(SHORT)).await;
        assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("short_1_amd64.deb` failed"), "{}", String::from_utf8_lossy(&body));
    }
    assert_eq!(upstream.hits(SHORT), 2);
    assert!(cached_files(dir.path()).is_empty(), "nothing kept: {:?}", cached_files(dir.path()));
    let stats = cache.stats();
    assert_eq!((stats.fetched, stats.hits), (0, 0));
    assert_eq!(stats.passed, 4, "two release files and two 404s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_and_a_non_proxy_request_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PackageCache::start(dir.path(), LOCALHOST).await.unwrap();
    // A port nothing listens on.
    let closed = TcpListener::bind((LOCALHOST, 0)).await.unwrap().local_addr().unwrap();
    let (status, body) = get(&cache, &format!("http://{closed}{DEB}")).await;
    assert_eq!(status, 502);
    assert!(String::from_utf8_lossy(&body).contains("ferrostack package cache"), "{}", String::from_utf8_lossy(&body));

    let address = cache.url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(b"GET /debian/pool/x.deb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("is not a proxy request"), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_tunnelled_for_https_clients() {
    // An echo server stands in for an HTTPS registry: the tunnel only moves bytes.
    let echo = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let target = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = echo.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        s.write_all(&buf[..n]).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let cache = PackageCache::start(dir.path(), LOCALHOST).await.unwrap();
    let address = cache.url().trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream.write_all(b"hello through the tunnel").await.unwrap();
    let mut back = vec![0u8; 24];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut back)).await.unwrap().unwrap();
    assert_eq!(back, b"hello through the tunnel");
    assert_eq!(cache.stats().tunnels, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_files_left_by_a_killed_run_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".partial-abc123"), b"half a package").unwrap();
    std::fs::write(dir.path().join("kept"), b"a whole one").unwrap();
    let _cache = PackageCache::start(dir.path(), LOCALHOST).await.unwrap();
    assert_eq!(cached_files(dir.path()), ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_it_cannot_listen_on_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // TEST-NET-1 (RFC 5737) is never a local address.
    let err = PackageCache::start(dir.path(), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))).await.err().expect("cannot bind");
    insta::assert_snapshot!(err.to_string(), @"cannot start the package cache on `192.0.2.1`");
}
