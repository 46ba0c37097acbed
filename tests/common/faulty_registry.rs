//! `FaultyRegistry`: a loopback TCP proxy in front of a [`super::local_registry::LocalRegistry`]
//! that, when armed, answers the Nth manifest PUT under a human tag (not an immutable
//! `<stack>-<16 hex>` tag, not a digest) with a 500, and passes everything else through. Each
//! request is sent upstream with `Connection: close`, so every request arrives on a connection
//! of its own and its head can be read here.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::relay::{answer, read_head, relay};

pub struct FaultyRegistry {
    port: u16,
    /// 0: never fail; N: fail the Nth human-tag manifest PUT from now on.
    fail_at: Arc<AtomicUsize>,
    tag_puts: Arc<AtomicUsize>,
}

impl FaultyRegistry {
    pub fn start(upstream: String) -> FaultyRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fail_at = Arc::new(AtomicUsize::new(0));
        let tag_puts = Arc::new(AtomicUsize::new(0));
        let (f, t) = (Arc::clone(&fail_at), Arc::clone(&tag_puts));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let (f, t, upstream) = (Arc::clone(&f), Arc::clone(&t), upstream.clone());
                std::thread::spawn(move || serve(client, &upstream, &f, &t));
            }
        });
        FaultyRegistry {
            port,
            fail_at,
            tag_puts,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Fails the `n`th human-tag manifest PUT from now on (0: none).
    pub fn fail_nth_tag_put(&self, n: usize) {
        self.tag_puts.store(0, Ordering::SeqCst);
        self.fail_at.store(n, Ordering::SeqCst);
    }
}

fn is_human_tag(reference: &str) -> bool {
    let immutable = reference
        .rsplit_once('-')
        .is_some_and(|(_, h)| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()));
    let sbom = reference.starts_with("sha256-") && reference.ends_with(".sbom");
    !immutable && !sbom && !reference.starts_with("sha256:")
}

fn serve(mut client: TcpStream, upstream: &str, fail_at: &AtomicUsize, tag_puts: &AtomicUsize) {
    let Some(head) = read_head(&mut client) else {
        return;
    };
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method == "PUT"
        && path.contains("/manifests/")
        && is_human_tag(path.rsplit('/').next().unwrap_or(""))
    {
        let n = tag_puts.fetch_add(1, Ordering::SeqCst) + 1;
        if fail_at.load(Ordering::SeqCst) == n {
            answer(
                &mut client,
                "500 Internal Server Error",
                r#"{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}"#,
            );
            return;
        }
    }
    if let Ok(registry) = TcpStream::connect(upstream) {
        relay(client, registry, &head);
    }
}
