//! The package cache as a proxy, against a local upstream server: immutable files are fetched
//! once (also when many clients ask at once, and across runs) but kept only once proven (a
//! by-hash name, a Packages index entry), the rest is passed through, failures are never kept;
//! it refuses what is not an allow-listed mirror, tunnels to this machine, wrong Host headers,
//! and bounds what a misbehaving client can take. The builds' side (apt in the engine's
//! containers going through it) is in `build_engine.rs`.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{copy_dir, stderr, stdout};
use ferrostack::package_cache::{CacheConfig, PackageCache, Subnet};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DEB: &str = "/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb";
const WRONG_DEB: &str = "/debian/pool/main/w/wrong/wrong_1_amd64.deb";
const UNKNOWN_DEB: &str = "/debian/pool/main/u/unknown/unknown_1_amd64.deb";
const SHORT_DEB: &str = "/debian/pool/main/s/short/short_1_amd64.deb";
const CUT_DEB: &str = "/debian/pool/main/c/cut/cut_1_amd64.deb";
const ENDLESS_DEB: &str = "/debian/pool/main/e/endless/endless_1_amd64.deb";
const RELEASE: &str = "/debian/dists/bookworm/InRelease";
const ENDLESS_RELEASE: &str = "/debian/dists/bookworm/Release";
const BY_HASH_DIR: &str = "/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/";

/// How the upstream answers one path.
#[derive(Clone)]
enum Reply {
    /// 200 with this body and its Content-Length (after a pause when `slow`).
    Body { bytes: Vec<u8>, slow: bool },
    /// 200 announcing `announce` bytes, sending `bytes`, hanging up.
    Short { announce: usize, bytes: Vec<u8> },
    /// 200 without Content-Length: `bytes`, then the connection closes (a cut looks like an end).
    Unsized(Vec<u8>),
    /// 200 without Content-Length, bytes until the client goes away.
    Endless,
    /// A counter in the body: a file that changes in place.
    Counter,
}

/// A tiny HTTP/1.1 upstream (one request per connection) that counts requests per path.
struct Upstream {
    address: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    async fn start(routes: HashMap<String, Reply>) -> Upstream {
        let listener = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counted = Arc::clone(&hits);
        let routes = Arc::new(routes);
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let counted = Arc::clone(&counted);
                let routes = Arc::clone(&routes);
                tokio::spawn(async move {
                    let head = read_head(&mut stream).await;
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let n = {
                        let mut hits = counted.lock().unwrap();
                        let n = hits.entry(path.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let sized = |length: usize| {
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
                    };
                    let (head, body) = match routes.get(&path).cloned() {
                        Some(Reply::Body { bytes, slow }) => {
                            if slow {
                                // Slow enough that concurrent clients overlap.
                                tokio::time::sleep(Duration::from_millis(300)).await;
                            }
                            (sized(bytes.len()), bytes)
                        }
                        Some(Reply::Short { announce, bytes }) => (sized(announce), bytes),
                        Some(Reply::Unsized(bytes)) => ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_string(), bytes),
                        Some(Reply::Counter) => {
                            let body = format!("release {n}").into_bytes();
                            (sized(body.len()), body)
                        }
                        Some(Reply::Endless) => {
                            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").await;
                            let chunk = vec![b'z'; 64 * 1024];
                            // Bounded all the same: 64 MiB at most.
                            for _ in 0..1024 {
                                if stream.write_all(&chunk).await.is_err() {
                                    return;
                                }
                            }
                            return;
                        }
                        None => ("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\n".to_string(), b"not found".to_vec()),
                    };
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

/// The bytes the upstream serves for a package.
fn deb_body() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A `Packages` stanza naming a pool file's size and sha256.
fn stanza(path: &str, bytes: &[u8]) -> String {
    let filename = path.strip_prefix("/debian/").unwrap();
    format!(
        "Package: x\nFilename: {filename}\nSize: {}\nSHA256: {}\n\n",
        bytes.len(),
        sha256_hex(bytes)
    )
}

/// An xz `Packages` index and its by-hash path.
fn packages_index(text: &str) -> (String, Vec<u8>) {
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut text.as_bytes(), &mut xz).unwrap();
    (format!("{BY_HASH_DIR}{}", sha256_hex(&xz)), xz)
}

/// The mirror every test but the refusal ones talks to: a package, an index naming it (and
/// naming other bytes than served for WRONG_DEB), files that break off or never end.
struct Mirror {
    upstream: Upstream,
    index_path: String,
}

async fn mirror() -> Mirror {
    let deb = deb_body();
    let cut: Vec<u8> = vec![b'c'; 50_000];
    let endless_claim = vec![b'z'; 10];
    let index = [
        stanza(DEB, &deb),
        stanza(WRONG_DEB, b"the bytes the index names"),
        stanza(SHORT_DEB, &[b'x'; 1000]),
        stanza(CUT_DEB, &cut),
        stanza(ENDLESS_DEB, &endless_claim),
    ]
    .concat();
    let (index_path, xz) = packages_index(&index);
    let wrong_hash = format!("{BY_HASH_DIR}{}", sha256_hex(b"what the name says"));
    let short_hash = format!("{BY_HASH_DIR}{}", sha256_hex(&[b'x'; 1000]));
    let cut_hash = format!("{BY_HASH_DIR}{}", sha256_hex(&cut));
    let routes: HashMap<String, Reply> = [
        (
            DEB.to_string(),
            Reply::Body {
                bytes: deb,
                slow: true,
            },
        ),
        (
            index_path.clone(),
            Reply::Body {
                bytes: xz,
                slow: false,
            },
        ),
        (
            wrong_hash,
            Reply::Body {
                bytes: b"something else".to_vec(),
                slow: false,
            },
        ),
        (
            WRONG_DEB.to_string(),
            Reply::Body {
                bytes: b"other bytes than the index names".to_vec(),
                slow: false,
            },
        ),
        (
            UNKNOWN_DEB.to_string(),
            Reply::Body {
                bytes: b"a package no index names".to_vec(),
                slow: false,
            },
        ),
        (
            SHORT_DEB.to_string(),
            Reply::Short {
                announce: 1000,
                bytes: vec![b'x'; 10],
            },
        ),
        (
            short_hash,
            Reply::Short {
                announce: 1000,
                bytes: vec![b'x'; 10],
            },
        ),
        (CUT_DEB.to_string(), Reply::Unsized(cut[..20_000].to_vec())),
        (cut_hash, Reply::Unsized(cut[..20_000].to_vec())),
        (ENDLESS_DEB.to_string(), Reply::Endless),
        (ENDLESS_RELEASE.to_string(), Reply::Endless),
        (RELEASE.to_string(), Reply::Counter),
    ]
    .into_iter()
    .collect();
    Mirror {
        upstream: Upstream::start(routes).await,
        index_path,
    }
}

/// A cache on the loopback for loopback clients, with the upstream allow-listed.
fn config(upstream: &Upstream) -> CacheConfig {
    let mut config = CacheConfig::new(LOCALHOST, vec!["127.0.0.0/8".parse::<Subnet>().unwrap()]);
    config.allow.allow(&upstream.address.to_string()).unwrap();
    config
}

/// The mirror, and a cache (configured by `tweak`) in a new directory.
async fn started(
    tweak: impl FnOnce(&mut CacheConfig),
) -> (Mirror, tempfile::TempDir, PackageCache) {
    let mirror = mirror().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&mirror.upstream);
    tweak(&mut config);
    let cache = PackageCache::start(dir.path(), config).await.unwrap();
    (mirror, dir, cache)
}

/// Reads up to the blank line ending an HTTP head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn address(cache: &PackageCache) -> String {
    cache.url().trim_start_matches("http://").to_string()
}

/// Sends a raw request through the proxy: the status code and the body.
async fn send(cache: &PackageCache, request: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address(cache)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
        .await
        .expect("an answer in time");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, body)
}

/// `GET <url>` through the proxy, as apt sends it.
async fn get(cache: &PackageCache, url: &str) -> (u16, Vec<u8>) {
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    send(
        cache,
        &format!("GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 || data.len() < line_end + 2 + size {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[(line_end + 2 + size + 2).min(data.len())..];
    }
}

/// Files kept in the cache directory (not their records, not partial files).
fn kept(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".meta"))
        .collect();
    names.sort();
    names
}

fn body_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_is_fetched_once_for_concurrent_clients_and_later_runs() {
    let (mirror, dir, cache) = started(|_| {}).await;
    let upstream = &mirror.upstream;
    // apt-get update: the index, by its hash.
    assert_eq!(get(&cache, &upstream.url(&mirror.index_path)).await.0, 200);
    let url = upstream.url(DEB);
    let clients: Vec<_> = (0..8).map(|_| get(&cache, &url)).collect();
    let answers = futures_util::future::join_all(clients).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200);
        assert!(*body == deb_body(), "every client gets the exact file");
    }
    assert_eq!(
        upstream.hits(DEB),
        1,
        "one upstream fetch for eight clients"
    );
    let stats = cache.stats();
    assert_eq!(
        (stats.fetched, stats.hits),
        (2, 7),
        "the index and the package fetched"
    );
    assert_eq!(kept(dir.path()).len(), 2);
    assert_eq!(cache.in_flight(), 0, "no fetch left in the in-flight map");
    drop(cache);

    // A later run over the same directory: the index and package come from disk.
    let cache = PackageCache::start(dir.path(), config(upstream))
        .await
        .unwrap();
    assert_eq!(get(&cache, &upstream.url(&mirror.index_path)).await.0, 200);
    let (status, body) = get(&cache, &url).await;
    assert_eq!(status, 200);
    assert!(body == deb_body());
    assert_eq!(
        (upstream.hits(DEB), upstream.hits(&mirror.index_path)),
        (1, 1)
    );
    assert_eq!(cache.stats().hits, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_no_index_of_this_run_names_is_passed_and_not_kept() {
    let (mirror, dir, cache) = started(|_| {}).await;
    let upstream = &mirror.upstream;
    // Without the index, even the good package is not kept.
    for _ in 0..2 {
        let (status, body) = get(&cache, &upstream.url(DEB)).await;
        assert_eq!(status, 200);
        assert!(body == deb_body());
    }
    assert_eq!(upstream.hits(DEB), 2);
    get(&cache, &upstream.url(&mirror.index_path)).await;
    for _ in 0..2 {
        assert_eq!(
            get(&cache, &upstream.url(UNKNOWN_DEB)).await,
            (200, b"a package no index names".to_vec())
        );
    }
    assert_eq!(upstream.hits(UNKNOWN_DEB), 2);
    assert_eq!(kept(dir.path()).len(), 1, "only the index");
    assert_eq!(cache.stats().not_kept, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bytes_are_never_kept() {
    let (mirror, dir, cache) = started(|_| {}).await;
    let upstream = &mirror.upstream;
    get(&cache, &upstream.url(&mirror.index_path)).await;

    // A by-hash body whose sha256 is not its name: an error, nothing kept, asked again.
    let wrong_hash = format!("{BY_HASH_DIR}{}", sha256_hex(b"what the name says"));
    for _ in 0..2 {
        let (status, body) = get(&cache, &upstream.url(&wrong_hash)).await;
        assert_eq!(status, 502, "{}", body_text(&body));
        assert!(
            body_text(&body).contains("not the one its name says"),
            "{}",
            body_text(&body)
        );
    }
    assert_eq!(upstream.hits(&wrong_hash), 2);

    // A package whose bytes differ from its index entry: passed on (apt names the mismatch),
    // not kept.
    for _ in 0..2 {
        assert_eq!(
            get(&cache, &upstream.url(WRONG_DEB)).await,
            (200, b"other bytes than the index names".to_vec())
        );
    }
    assert_eq!(upstream.hits(WRONG_DEB), 2);
    assert_eq!(
        kept(dir.path()).len(),
        1,
        "only the index: {:?}",
        kept(dir.path())
    );
    let stats = cache.stats();
    assert_eq!((stats.fetched, stats.not_kept), (1, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_cut_mid_transfer_are_never_kept() {
    let (mirror, dir, cache) = started(|_| {}).await;
    let upstream = &mirror.upstream;
    get(&cache, &upstream.url(&mirror.index_path)).await;
    let short_hash = format!("{BY_HASH_DIR}{}", sha256_hex(&[b'x'; 1000]));
    let cut_hash = format!("{BY_HASH_DIR}{}", sha256_hex(&[b'c'; 50_000]));
    // Shorter than the Content-Length: an error to the client.
    for path in [SHORT_DEB, short_hash.as_str()] {
        for _ in 0..2 {
            let (status, body) = get(&cache, &upstream.url(path)).await;
            assert_eq!(status, 502, "{path}: {}", body_text(&body));
            assert!(body_text(&body).contains("failed"), "{}", body_text(&body));
        }
        assert_eq!(upstream.hits(path), 2, "{path}");
    }
    // Cut off without a Content-Length: the proof fails.
    for _ in 0..2 {
        assert_eq!(get(&cache, &upstream.url(&cut_hash)).await.0, 502);
        let (status, body) = get(&cache, &upstream.url(CUT_DEB)).await;
        assert_eq!((status, body.len()), (200, 20_000), "passed on as it came");
    }
    assert_eq!((upstream.hits(&cut_hash), upstream.hits(CUT_DEB)), (2, 2));
    assert_eq!(
        kept(dir.path()).len(),
        1,
        "only the index: {:?}",
        kept(dir.path())
    );
    assert!(
        !std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".partial")),
        "no partial file left"
    );
    assert_eq!(cache.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_is_cut_at_the_size_limit() {
    let (mirror, dir, cache) = started(|c| c.max_file_size = 1 << 20).await;
    let upstream = &mirror.upstream;
    get(&cache, &upstream.url(&mirror.index_path)).await;
    let (status, body) = get(&cache, &upstream.url(ENDLESS_DEB)).await;
    assert_eq!(status, 502, "{}", body_text(&body));
    assert!(
        body_text(&body).contains("larger than the limit of 1.0 MB"),
        "{}",
        body_text(&body)
    );
    // Passed through: relayed up to the limit, then the connection ends.
    let (status, body) = get(&cache, &upstream.url(ENDLESS_RELEASE)).await;
    assert_eq!(status, 200);
    assert!(body.len() <= 1 << 20, "{} bytes relayed", body.len());
    assert_eq!(kept(dir.path()).len(), 1, "only the index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_files_and_failures_are_passed_through() {
    let (mirror, dir, cache) = started(|_| {}).await;
    let upstream = &mirror.upstream;
    // A release file changes in place: every request reaches upstream.
    assert_eq!(
        get(&cache, &upstream.url(RELEASE)).await,
        (200, b"release 1".to_vec())
    );
    assert_eq!(
        get(&cache, &upstream.url(RELEASE)).await,
        (200, b"release 2".to_vec())
    );
    // A 404 for an index is relayed, not kept.
    let missing = format!("{BY_HASH_DIR}{}", sha256_hex(b"missing"));
    for _ in 0..2 {
        assert_eq!(get(&cache, &upstream.url(&missing)).await.0, 404);
    }
    assert_eq!(upstream.hits(&missing), 2);
    assert!(kept(dir.path()).is_empty());
    assert_eq!(cache.stats().passed, 4, "two release files and two 404s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allow_listed_hosts_are_served() {
    let mirror = mirror().await;
    let dir = tempfile::tempdir().unwrap();
    // Nothing of the loopback allow-listed: the defaults only.
    let cache = PackageCache::start(
        dir.path(),
        CacheConfig::new(LOCALHOST, vec!["127.0.0.0/8".parse().unwrap()]),
    )
    .await
    .unwrap();
    for url in [
        mirror.upstream.url("/"),
        mirror.upstream.url(DEB),
        format!("http://localhost:{}/", mirror.upstream.address.port()),
    ] {
        let (status, body) = get(&cache, &url).await;
        assert_eq!(status, 403, "{url}: {}", body_text(&body));
        assert!(
            body_text(&body).contains("`[build] package_cache_allow`"),
            "{}",
            body_text(&body)
        );
    }
    assert_eq!(
        mirror.upstream.hits(DEB) + mirror.upstream.hits("/"),
        0,
        "upstream never asked"
    );
    insta::assert_snapshot!(body_text(&get(&cache, "http://169.254.169.254/latest/meta-data/").await.1), @"ferrostack package cache: `169.254.169.254` is not a mirror of the catalogue; add it to `[build] package_cache_allow` in ferrostack.toml (or FERROSTACK_PACKAGE_CACHE_ALLOW) to reach it through the package cache");
    assert_eq!(cache.stats().refused, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_never_reaches_this_machine() {
    let echo = TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let target = echo.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = CacheConfig::new(LOCALHOST, vec!["127.0.0.0/8".parse().unwrap()]);
    // Even allow-listed: the resolved address is what counts.
    for entry in ["localhost", "127.0.0.1", &target.to_string()] {
        config.allow.allow(entry).unwrap();
    }
    let cache = PackageCache::start(dir.path(), config).await.unwrap();
    let connect =
        |authority: String| format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
    for authority in [
        target.to_string(),
        "127.0.0.1:443".to_string(),
        "localhost:443".to_string(),
        format!("localhost:{}", target.port()),
    ] {
        let (status, body) = send(&cache, &connect(authority.clone())).await;
        assert_eq!(status, 403, "{authority}: {}", body_text(&body));
    }
    let (_, body) = send(&cache, &connect("localhost:443".into())).await;
    insta::assert_snapshot!(body_text(&body), @"ferrostack package cache: CONNECT to `localhost:443` is refused: it resolves to a loopback, link-local or unspecified address, or to this machine");
    let (_, body) = send(&cache, &connect(target.to_string())).await;
    assert!(
        body_text(&body).contains("tunnels go only to allow-listed hosts on port 443"),
        "{}",
        body_text(&body)
    );
    let stats = cache.stats();
    assert_eq!((stats.tunnels, stats.refused), (0, 6));
    // The echo server was never reached.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), echo.accept())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_header_naming_another_host_is_a_bad_request() {
    let (mirror, _dir, cache) = started(|_| {}).await;
    let upstream = &mirror.upstream;
    let url = upstream.url(RELEASE);
    let (status, body) = send(
        &cache,
        &format!("GET {url} HTTP/1.1\r\nHost: deb.debian.org\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 400, "{}", body_text(&body));
    assert!(
        body_text(&body)
            .contains("the Host header `deb.debian.org` does not name the request's host"),
        "{}",
        body_text(&body)
    );
    let (status, _) = send(
        &cache,
        &format!("GET {url} HTTP/1.1\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 400, "no Host header");
    assert_eq!(upstream.hits(RELEASE), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_and_a_non_proxy_request_get_clear_errors() {
    // A port nothing listens on.
    let closed = TcpListener::bind((LOCALHOST, 0))
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = CacheConfig::new(LOCALHOST, vec!["127.0.0.0/8".parse().unwrap()]);
    config.allow.allow(&closed.to_string()).unwrap();
    let cache = PackageCache::start(dir.path(), config).await.unwrap();
    let (status, body) = get(&cache, &format!("http://{closed}{DEB}")).await;
    assert_eq!(status, 502);
    assert!(
        body_text(&body).contains("ferrostack package cache"),
        "{}",
        body_text(&body)
    );

    let (status, body) = send(
        &cache,
        "GET /debian/pool/x.deb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body_text(&body).contains("is not a proxy request"),
        "{}",
        body_text(&body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_outside_the_bridge_are_not_answered() {
    let dir = tempfile::tempdir().unwrap();
    // TEST-NET-1 (RFC 5737): no client here is in it.
    let cache = PackageCache::start(
        dir.path(),
        CacheConfig::new(LOCALHOST, vec!["192.0.2.0/24".parse().unwrap()]),
    )
    .await
    .unwrap();
    let mut stream = TcpStream::connect(address(&cache)).await.unwrap();
    let _ = stream.write_all(b"GET http://deb.debian.org/debian/dists/bookworm/InRelease HTTP/1.1\r\nHost: deb.debian.org\r\n\r\n").await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("closed at once");
    assert!(
        read.is_err() || answer.is_empty(),
        "no answer: {}",
        body_text(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = CacheConfig::new(LOCALHOST, vec!["127.0.0.0/8".parse().unwrap()]);
    config.header_timeout = Duration::from_millis(500);
    let cache = PackageCache::start(dir.path(), config).await.unwrap();
    let mut stream = TcpStream::connect(address(&cache)).await.unwrap();
    stream
        .write_all(
            b"GET http://deb.debian.org/debian/dists/bookworm/InRelease HTTP/1.1\r\nHost: deb",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let started = std::time::Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the cache closes the connection");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        !body_text(&answer).contains("200 OK"),
        "{}",
        body_text(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_idle_connections_do_not_shut_out_a_build() {
    let (mirror, _dir, cache) = started(|c| c.max_connections = 64).await;
    let upstream = &mirror.upstream;
    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(address(&cache)).await.unwrap());
    }
    // The build's requests still go through, at once.
    let started = std::time::Instant::now();
    assert_eq!(get(&cache, &upstream.url(&mirror.index_path)).await.0, 200);
    let (status, body) = get(&cache, &upstream.url(DEB)).await;
    assert_eq!(status, 200);
    assert!(body == deb_body());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cache.stats().fetched, 2);
    // The idle connections were closed to make room (all but the newest few).
    let mut closed = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 1];
        if let Ok(Ok(0)) | Ok(Err(_)) =
            tokio::time::timeout(Duration::from_millis(5), stream.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 2000 - 64, "{closed} closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_files_left_by_a_killed_run_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".partial-abc123"), b"half a package").unwrap();
    std::fs::write(dir.path().join("kept"), b"a whole one").unwrap();
    let _cache = PackageCache::start(dir.path(), CacheConfig::new(LOCALHOST, vec![]))
        .await
        .unwrap();
    assert_eq!(kept(dir.path()), ["kept"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_it_cannot_listen_on_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // TEST-NET-1 (RFC 5737) is never a local address.
    let err = PackageCache::start(
        dir.path(),
        CacheConfig::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), vec![]),
    )
    .await
    .err()
    .expect("cannot bind");
    insta::assert_snapshot!(err.to_string(), @"cannot start the package cache on `192.0.2.1`");
}

/// `ferrostack cache …` in `root`.
fn ferrostack(root: &Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("ferrostack")
        .unwrap()
        .env_remove("FERROSTACK_PACKAGE_CACHE_ALLOW")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_verify_drops_changed_files_and_prune_bounds_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tree"),
        &root,
    );
    let dir = root.join("target/ferrostack/package-cache");
    let mirror = mirror().await;
    let upstream = &mirror.upstream;
    let cache = PackageCache::start(&dir, config(upstream)).await.unwrap();
    get(&cache, &upstream.url(&mirror.index_path)).await;
    get(&cache, &upstream.url(DEB)).await;
    drop(cache);
    let files = kept(&dir);
    assert_eq!(files.len(), 2);
    // A disk error, or a hand edit: one kept file no longer has its recorded bytes.
    let package = files
        .iter()
        .map(|f| dir.join(f))
        .find(|p| std::fs::metadata(p).unwrap().len() == deb_body().len() as u64)
        .unwrap();
    std::fs::write(&package, b"garbage").unwrap();

    let out = ferrostack(&root, &["cache", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let port = upstream.address.port().to_string();
    insta::assert_snapshot!(stdout(&out).replace(&port, "<port>"), @r"
    dropped 127.0.0.1:<port>/debian/pool/main/j/jq/jq_1.6-2.1_amd64.deb
    1 files good, 1 dropped
    ");
    assert_eq!(kept(&dir).len(), 1);

    let out = ferrostack(&root, &["cache", "prune", "--max-size", "0", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (
            report["removed"].as_u64(),
            report["kept"].as_u64(),
            report["kept_bytes"].as_u64()
        ),
        (Some(1), Some(0), Some(0)),
        "{report}"
    );
    assert!(kept(&dir).is_empty());
}
