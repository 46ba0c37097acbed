//! The Debian packages an image holds (its dpkg database), and what a stack adds to or changes
//! in its parent's: the stack's closure, recorded in `images.lock` after every build.

mod installed;
mod package_record;

pub use installed::{Installed, QUERY};
pub use package_record::PackageRecord;
