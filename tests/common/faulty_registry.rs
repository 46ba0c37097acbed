//! `FaultyRegistry`: a loopback TCP proxy in front of a [`super::local_registry::LocalRegistry`]
//! that, when armed, answers the Nth manifest PUT under a human tag (not an immutable
//! `<stack>-<16 hex>` tag, not a digest) with a 500, and passes everything else through. Each
//! request is sent upstream with `Connection: close`, so every request arrives on a connection
//! of its own and its head can be read here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
        FaultyRegistry { port, fail_at, tag_puts }
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
    let immutable = reference.rsplit_once('-').is_some_and(|(_, h)| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()));
    !immutable && !reference.starts_with("sha256:")
}

fn serve(mut client: TcpStream, upstream: &str, fail_at: &AtomicUsize, tag_puts: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        // The engine tries TLS first on a loopback registry and falls back to HTTP when the
        // handshake fails: close at its hello instead of waiting out its timeout.
        if head == [0x16] {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method == "PUT" && path.contains("/manifests/") && is_human_tag(path.rsplit('/').next().unwrap_or("")) {
        let n = tag_puts.fetch_add(1, Ordering::SeqCst) + 1;
        if fail_at.load(Ordering::SeqCst) == n {
            let body = r#"{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}"#;
            let _ = client.write_all(format!("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
            return;
        }
    }
    let Ok(mut registry) = TcpStream::connect(upstream) else { return };
    let end = text.find("\r\n").unwrap_or(0);
    let kept: String = text[end..].split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect::<Vec<_>>().join("\r\n");
    let rewritten = format!("{}\r\nConnection: close{}", &text[..end], kept);
    if registry.write_all(rewritten.as_bytes()).is_err() {
        return;
    }
    let (mut from_client, mut to_registry) = (client.try_clone().unwrap(), registry.try_clone().unwrap());
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_registry);
        let _ = to_registry.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut registry, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = upload.join();
}
