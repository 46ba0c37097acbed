//! Everything `ferrostack` prints on stdout goes through [`emit`], so a reader that stops early
//! (`ferrostack list --json | head -c1`) ends the output quietly instead of a panic.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use ferrostack::{Error, Result};

/// Set once stdout's reader has gone away; later output is dropped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout and flushes it. A closed pipe is not an error: the command goes on
/// (a build still writes its lock and report file) and exits with its own code.
pub(crate) fn emit(text: &str) -> Result<()> {
    emit_bytes(text.as_bytes())
}

/// As [`emit`], for output that need not be UTF-8 (a worker's).
pub(crate) fn emit_bytes(bytes: &[u8]) -> Result<()> {
    if CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Error::io("write", "<stdout>", e)),
        Ok(()) => Ok(()),
    }
}
