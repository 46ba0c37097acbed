//! `Project`: a catalogue in a temporary directory whose stacks are built under a test-only
//! repository (its images removed when the test ends), the ferrostack binary run on it, and
//! the bootstrapped bookworm base the engine tests share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::TestImages;

/// The base every engine test bootstraps: the same text, so the same hash, so a base one test
/// left in the engine is reused by the next.
pub const BOOKWORM_BASE: &str = "name = \"base\"\n[bootstrap]\nsuite = \"bookworm\"\n[[check]]\nrun = \"test -f /etc/debian_version\"\n";

pub struct Project {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub repo: String,
    pub _images: TestImages,
}

impl Project {
    /// An empty catalogue (`<tmp>/catalogue`) whose stacks `stacks` are tagged into a
    /// `ferrostack-test-<kind>-<pid>` repository.
    pub fn new(kind: &str, stacks: &[&str]) -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("catalogue");
        let images = TestImages::new(kind, stacks);
        Project {
            _tmp: tmp,
            root,
            repo: images.repo.clone(),
            _images: images,
        }
    }
}

/// Runs ferrostack on `p` (its repository, no CA bundle from the environment).
pub fn ferrostack(p: &Project, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrostack"))
        .env("FERROSTACK_REPOSITORY", &p.repo)
        .env_remove("FERROSTACK_CA_BUNDLE")
        .arg("-C")
        .arg(&p.root)
        .args(args)
        .output()
        .unwrap()
}

/// Writes `text` to `root/rel`, creating directories.
pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
