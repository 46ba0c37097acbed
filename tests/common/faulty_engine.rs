//! `FaultyEngine`: a unix socket in front of the real Docker engine that answers the first
//! `POST …/build` with a 503, and passes everything else through, to prove that a transient
//! engine error during a build is retried.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::relay::{answer, read_head, relay};

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
        FaultyEngine {
            _dir: dir,
            socket,
            faults,
        }
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

/// One client connection: one request (see [`super::relay`]).
fn serve(mut client: UnixStream, faults: &AtomicUsize) {
    let Some(head) = read_head(&mut client) else {
        return;
    };
    let is_build = head.starts_with("POST ")
        && head
            .split_whitespace()
            .nth(1)
            .is_some_and(|p| p.contains("/build?") || p.ends_with("/build"));
    if is_build
        && faults
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        answer(
            &mut client,
            "503 Service Unavailable",
            r#"{"message":"injected fault: the engine is busy"}"#,
        );
        return;
    }
    if let Ok(engine) = UnixStream::connect(ENGINE_SOCKET) {
        relay(client, engine, &head);
    }
}
