//! `FaultyEngine`: a unix socket in front of the real Docker engine that answers the first
//! `POST …/build` with a 503, and passes everything else through, to prove that a transient
//! engine error during a build is retried.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The real engine's socket.
const ENGINE_SOCKET: &str = "/var/run/docker.sock";

pub struct FaultyEngine {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    faults: Arc<AtomicUsize>,
}

impl FaultyEngine {
    /// Listens on a socket in a temporary directory, on its own thread, for the test's life.
    pub fn start() -> FaultyEngine {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let faults = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&faults);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let counted = Arc::clone(&counted);
                std::thread::spawn(move || serve(client, &counted));
            }
        });
        FaultyEngine { _dir: dir, socket, faults }
    }

    /// The `DOCKER_HOST` value for this socket.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// How many build requests were failed so far.
    pub fn faults(&self) -> usize {
        self.faults.load(Ordering::SeqCst)
    }
}

/// One client connection: one request (the daemon is told to close after answering it, so
/// every request comes on a new connection and its head can be read here).
fn serve(mut client: UnixStream, faults: &AtomicUsize) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let is_build = text.starts_with("POST ") && text.split_whitespace().nth(1).is_some_and(|p| p.contains("/build?") || p.ends_with("/build"));
    if is_build && faults.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        let body = r#"{"message":"injected fault: the engine is busy"}"#;
        let answer = format!("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = client.write_all(answer.as_bytes());
        let _ = client.shutdown(std::net::Shutdown::Both);
        return;
    }
    let Ok(mut engine) = UnixStream::connect(ENGINE_SOCKET) else { return };
    let first_line_end = text.find("\r\n").unwrap_or(0);
    let rewritten = format!("{}\r\nConnection: close{}", &text[..first_line_end], &text[first_line_end..]);
    if engine.write_all(rewritten.as_bytes()).is_err() {
        return;
    }
    let (mut client_reader, mut engine_writer) = (client.try_clone().unwrap(), engine.try_clone().unwrap());
    let upload = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_reader, &mut engine_writer);
        let _ = engine_writer.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut engine, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = upload.join();
}
