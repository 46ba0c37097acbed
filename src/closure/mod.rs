//! The Debian packages an image holds (its dpkg database), and what a stack adds to or changes
//! in its parent's: the stack's closure, recorded in `images.lock` after every build; and what
//! `apt-get install --simulate` would add, which `update` pins.

mod installed;
mod package_record;
mod simulation;

pub use installed::{Installed, QUERY};
pub use package_record::PackageRecord;
pub use simulation::Simulation;
