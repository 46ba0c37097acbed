//! `Connections`: the cap on the package cache's open connections. A connection between
//! requests is idle and may be closed to make room; one serving a request or a tunnel is busy.
//! So idle connections a container opens by the thousand cannot shut the builds out, and the
//! process's file descriptors stay bounded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// The open connections, oldest first.
#[derive(Debug)]
pub(super) struct Connections {
    cap: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    open: BTreeMap<u64, Slot>,
}

#[derive(Debug)]
struct Slot {
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
}

impl Connections {
    pub(super) fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            cap: cap.max(1),
            state: Mutex::default(),
        })
    }

    /// Makes room for a new connection, closing the oldest idle one when at the cap; `None`
    /// when every open connection is busy.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut state = self.state.lock().expect("connections");
        if state.open.len() >= self.cap {
            let idle = state
                .open
                .iter()
                .find(|(_, s)| s.busy.load(Ordering::SeqCst) == 0)
                .map(|(id, _)| *id)?;
            if let Some(slot) = state.open.remove(&idle) {
                slot.close.cancel();
            }
        }
        let id = state.next;
        state.next += 1;
        let busy = Arc::new(AtomicUsize::new(0));
        let close = CancellationToken::new();
        state.open.insert(
            id,
            Slot {
                busy: Arc::clone(&busy),
                close: close.clone(),
            },
        );
        Some(Admitted {
            id,
            busy,
            close,
            connections: Arc::clone(self),
        })
    }

    /// Connections open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.state.lock().expect("connections").open.len()
    }
}

/// One admitted connection; it leaves the count when dropped.
#[derive(Debug)]
pub(super) struct Admitted {
    id: u64,
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
    connections: Arc<Connections>,
}

impl Admitted {
    /// Marks the connection busy until the returned guard is dropped.
    pub(super) fn busy(&self) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(&self.busy))
    }

    /// Cancelled when the connection is closed to make room.
    pub(super) fn closed(&self) -> &CancellationToken {
        &self.close
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections
            .state
            .lock()
            .expect("connections")
            .open
            .remove(&self.id);
    }
}

/// Holds a connection busy.
#[derive(Debug)]
pub(super) struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let connections = Connections::new(2);
        let first = connections.admit().unwrap();
        let second = connections.admit().unwrap();
        let _busy = first.busy();
        let third = connections.admit().expect("the idle second one makes room");
        assert!(second.closed().is_cancelled() && !first.closed().is_cancelled());
        assert_eq!(connections.open(), 2);
        let _also_busy = third.busy();
        assert!(connections.admit().is_none(), "every connection is busy");
        drop(_busy);
        assert!(connections.admit().is_some());
        assert!(first.closed().is_cancelled());
        drop((first, second, third));
        assert_eq!(
            connections.open(),
            0,
            "a dropped connection leaves the count"
        );
    }
}
