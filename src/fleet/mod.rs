//! The engines one `ferrostack build` spreads over: their settings, connections, liveness and
//! which images each holds. Where a ready stack goes is [`crate::scheduler::place`].

mod engine_spec;
mod member;
mod roster;
mod watchdog;

pub use engine_spec::{EngineSpec, BUILD_NETWORKS};
pub use member::Member;
pub use roster::{Roster, PING_TIMEOUT};
pub use watchdog::Watchdog;
