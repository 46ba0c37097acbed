//! `Watchdog`: pings a build's engines in the background and gives up on one that stops
//! answering, so the stacks on it are stopped and retried elsewhere instead of waiting for a
//! connection that never ends.

use std::time::Duration;

use super::{Member, PING_TIMEOUT};

/// The background pinger; stops when dropped.
#[derive(Debug)]
pub struct Watchdog {
    task: tokio::task::JoinHandle<()>,
}

impl Watchdog {
    /// Pings every member each `every`; after `strikes` failed pings in a row, cancels the
    /// member's token (its stacks end with an error the scheduler then retries elsewhere).
    pub fn start(members: &[Member], every: Duration, strikes: u32) -> Watchdog {
        let members: Vec<Member> = members.to_vec();
        let task = tokio::spawn(async move {
            let mut missed = vec![0u32; members.len()];
            loop {
                tokio::time::sleep(every).await;
                let pings = members.iter().map(|m| m.engine.answers(PING_TIMEOUT));
                for (i, answered) in futures_util::future::join_all(pings)
                    .await
                    .into_iter()
                    .enumerate()
                {
                    missed[i] = if answered { 0 } else { missed[i] + 1 };
                    if missed[i] >= strikes.max(1) {
                        members[i].cancel.cancel();
                    }
                }
            }
        });
        Watchdog { task }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.task.abort();
    }
}
