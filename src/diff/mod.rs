//! What changed between two locks (`ferrostack diff`, and a build report's "what changed"):
//! per stack, Debian packages added, removed and moved with their source packages, runtime
//! versions, size, hash and digest. It reads only the two locks, never an image.

mod lock_diff;
mod lock_source;
mod package_change;
mod stack_diff;

pub use lock_diff::LockDiff;
pub use lock_source::LockSource;
pub use package_change::{Change, PackageChange};
pub use stack_diff::{StackDiff, StackPresence};
