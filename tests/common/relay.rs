//! What the fault-injecting proxies share: reading one HTTP request head off a connection, and
//! relaying that request upstream with `Connection: close` (so every request arrives on a
//! connection of its own) and the bytes both ways until either side is done.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

/// A stream both proxies relay: TCP or a unix socket.
pub trait Duplex: Read + Write + Send + Sized + 'static {
    fn try_clone(&self) -> std::io::Result<Self>;
    fn shutdown(&self, how: Shutdown) -> std::io::Result<()>;
}

impl Duplex for TcpStream {
    fn try_clone(&self) -> std::io::Result<Self> {
        TcpStream::try_clone(self)
    }
    fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        TcpStream::shutdown(self, how)
    }
}

impl Duplex for UnixStream {
    fn try_clone(&self) -> std::io::Result<Self> {
        UnixStream::try_clone(self)
    }
    fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        UnixStream::shutdown(self, how)
    }
}

/// The request head (up to the blank line), or `None` when the client hangs up first or opens
/// with a TLS hello (the engine tries TLS first on a loopback registry and falls back to HTTP
/// when the handshake fails: closing at once spares it its timeout).
pub fn read_head(client: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head == [0x16] {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Sends `head` upstream with any `Connection` header replaced by `Connection: close`, then
/// copies the rest of the request up and the answer down until the upstream closes.
pub fn relay<C: Duplex, U: Duplex>(mut client: C, mut upstream: U, head: &str) {
    let end = head.find("\r\n").unwrap_or(0);
    let kept: Vec<&str> = head[end..]
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let rewritten = format!("{}\r\nConnection: close{}", &head[..end], kept.join("\r\n"));
    if upstream.write_all(rewritten.as_bytes()).is_err() {
        return;
    }
    let (Ok(mut from_client), Ok(mut to_upstream)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = upload.join();
}

/// Answers with `status` and a JSON body, then closes.
pub fn answer(client: &mut impl Write, status: &str, body: &str) {
    let _ = client.write_all(format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
}
