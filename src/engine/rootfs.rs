//! `Rootfs`: a Debian root file system made by `debootstrap` straight from a Debian mirror (no
//! registry), cleaned of run-specific files and archived as a deterministic tar for import.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::deterministic_tar::source_date_epoch;
use super::error::{EngineError, Result};
use super::tar_stream::TarStream;

/// Lines of debootstrap output kept for an error report.
const LOG_TAIL: usize = 30;

/// Debian's archive keyring (package `debian-archive-keyring`): debootstrap checks the mirror's
/// signed Release file against it.
pub const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// What to bootstrap: `debootstrap --variant=V --components=a,b SUITE DIR MIRROR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsSpec {
    /// e.g. `bookworm`.
    pub suite: String,
    /// e.g. `minbase`; `None` for debootstrap's default variant.
    pub variant: Option<String>,
    /// e.g. `http://deb.debian.org/debian`.
    pub mirror: String,
    /// e.g. `["main"]`; empty for debootstrap's default.
    pub components: Vec<String>,
}

impl RootfsSpec {
    /// A minbase system of `suite` from Debian's main mirror.
    pub fn minbase(suite: &str) -> Self {
        RootfsSpec {
            suite: suite.to_string(),
            variant: Some("minbase".to_string()),
            mirror: "http://deb.debian.org/debian".to_string(),
            components: vec!["main".to_string()],
        }
    }

    /// The debootstrap arguments for a target directory. The Release signature is always
    /// checked against [`DEBIAN_KEYRING`]: without it, a mirror (or anyone between) could hand
    /// over any packages.
    pub fn debootstrap_args(&self, target: &Path) -> Vec<String> {
        let mut args = vec![
            format!("--keyring={DEBIAN_KEYRING}"),
            "--force-check-gpg".to_string(),
        ];
        if let Some(variant) = &self.variant {
            args.push(format!("--variant={variant}"));
        }
        if !self.components.is_empty() {
            args.push(format!("--components={}", self.components.join(",")));
        }
        args.push(self.suite.clone());
        args.push(target.display().to_string());
        args.push(self.mirror.clone());
        args
    }
}

/// Progress of a bootstrap, for the caller to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapEvent {
    /// One line of debootstrap output (`I: Retrieving ...`).
    Log(String),
    /// debootstrap finished; run-specific files are being removed.
    Cleaning,
}

/// A bootstrapped root file system in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct Rootfs {
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
}

/// Runs debootstrap for `spec` in a fresh temporary directory under `work_dir` (the system temp
/// dir when `None`), then removes apt lists and caches, logs and host-specific files.
pub async fn bootstrap_rootfs(
    spec: &RootfsSpec,
    work_dir: Option<&Path>,
    cancel: &CancellationToken,
    mut on_event: impl FnMut(BootstrapEvent),
) -> Result<Rootfs> {
    if cancel.is_cancelled() {
        return Err(EngineError::Cancelled {
            operation: "debootstrap",
        });
    }
    require_keyring(Path::new(DEBIAN_KEYRING))?;
    let base = work_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .prefix("ferrostack-rootfs-")
        .tempdir_in(&base)
        .map_err(|error| EngineError::io("create a temporary directory in", &base, error))?;
    let root = dir.path().join("root");
    let mut rootfs = Rootfs {
        dir: Some(dir),
        root,
    };

    let program = "debootstrap";
    let epoch = source_date_epoch()?;
    let mut child = tokio::process::Command::new(program)
        .args(spec.debootstrap_args(&rootfs.root))
        // Tools run by debootstrap honour it (e.g. the password-change day in /etc/shadow), so
        // two bootstraps of the same packages give the same files on any day.
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so cancelling also stops the wget/dpkg/chroot it started.
        .process_group(0)
        .spawn()
        .map_err(|error| EngineError::DebootstrapStart {
            program: program.to_string(),
            error,
        })?;

    let (lines_tx, mut lines) = mpsc::channel::<String>(64);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(forward_lines(stdout, lines_tx.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward_lines(stderr, lines_tx.clone()));
    }
    drop(lines_tx);

    let mut tail = VecDeque::with_capacity(LOG_TAIL);
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    if tail.len() == LOG_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                    on_event(BootstrapEvent::Log(line));
                }
                None => break,
            },
            () = cancel.cancelled() => {
                kill_group(&mut child).await;
                rootfs.release_mounts();
                return Err(EngineError::Cancelled { operation: "debootstrap" });
            }
        }
    }
    let status = tokio::select! {
        status = child.wait() => status.map_err(|error| EngineError::DebootstrapStart {
            program: program.to_string(),
            error,
        })?,
        () = cancel.cancelled() => {
            kill_group(&mut child).await;
            rootfs.release_mounts();
            return Err(EngineError::Cancelled { operation: "debootstrap" });
        }
    };
    if !status.success() {
        rootfs.release_mounts();
        return Err(EngineError::Bootstrap {
            suite: spec.suite.clone(),
            mirror: spec.mirror.clone(),
            status: status.to_string(),
            log_tail: Vec::from(tail).join("\n"),
        });
    }

    on_event(BootstrapEvent::Cleaning);
    rootfs.release_mounts();
    let root = rootfs.root.clone();
    tokio::task::spawn_blocking(move || clean(&root))
        .await
        .map_err(|error| EngineError::Task {
            task: "rootfs cleanup",
            reason: error.to_string(),
        })??;
    Ok(rootfs)
}

impl Rootfs {
    /// The root directory of the file system.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Streams the file system as a deterministic tar, every mtime clamped to `clamp`
    /// (see [`super::source_date_epoch`]).
    pub fn tar_stream(&self, clamp: u64) -> TarStream {
        let root = self.root.clone();
        TarStream::spawn(clamp, move |tar| tar.append_tree(&root))
    }

    /// Writes the deterministic tar to `path` (e.g. to cache it).
    pub fn write_tar(&self, path: &Path, clamp: u64) -> Result<()> {
        let file =
            fs::File::create(path).map_err(|error| EngineError::io("create", path, error))?;
        let mut tar = super::DeterministicTar::new(std::io::BufWriter::new(file), clamp);
        tar.append_tree(&self.root)?;
        let mut out = tar.finish()?;
        std::io::Write::flush(&mut out).map_err(|error| EngineError::io("write", path, error))
    }

    /// Unmounts whatever debootstrap left mounted below the root (it mounts `/proc` and `/sys`,
    /// and in containers may bind `/dev` nodes). If anything stays mounted, the directory is kept
    /// rather than deleted, so removal can never reach into a mounted host file system.
    fn release_mounts(&mut self) {
        if !unmount_below(&self.root) {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}

/// Removes what a killed run left in `work_dir` (bootstrap trees, root filesystem tars): a
/// killed process never ran the destructors that remove them. Call it only while holding the
/// project's build lock, so no other run is using them. A tree with something still mounted in
/// it is kept, as in [`Rootfs`]. Returns how many entries were removed.
pub fn remove_stale(work_dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for path in entries(work_dir)? {
        if !unmount_below(&path) {
            continue;
        }
        remove_entry(&path)?;
        removed += 1;
    }
    Ok(removed)
}

/// Unmounts what is mounted at or below `root` (debootstrap mounts `/proc` and `/sys`, and in
/// containers may bind `/dev` nodes), deepest first; true when nothing stays mounted.
fn unmount_below(root: &Path) -> bool {
    let mut mounted = mounts_below(root);
    mounted.sort_by(|a, b| b.cmp(a));
    for mount_point in &mounted {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(mount_point)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    mounted.is_empty() || mounts_below(root).is_empty()
}

/// A missing keyring would mean an unverified base image: refuse, and say what to install.
fn require_keyring(path: &Path) -> Result<()> {
    if path.is_file() {
        Ok(())
    } else {
        Err(EngineError::KeyringMissing {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        self.release_mounts();
    }
}

/// Kills debootstrap and everything it started, and reaps it.
async fn kill_group(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: killpg only sends a signal; the group is the one `process_group(0)` made.
        unsafe {
            libc::killpg(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let _ = child.kill().await;
}

/// Mount points at or below `root`, from `/proc/self/mountinfo`.
fn mounts_below(root: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|escaped| PathBuf::from(escaped.replace("\\040", " ")))
        .filter(|mount_point| mount_point.starts_with(root))
        .collect()
}

async fn forward_lines(reader: impl AsyncRead + Unpin, lines_tx: mpsc::Sender<String>) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if lines_tx.send(line).await.is_err() {
            break;
        }
    }
}

/// Removes what differs between two bootstraps of the same packages, or describes the build
/// host: downloaded packages and lists, logs, backup files, the host's name and resolver.
///
/// Paths are the tree's, not the host's: a symlink in the tree (`etc/hosts` → `/etc/hosts`,
/// `tmp` → `/tmp`) is never followed; a directory reached through one is left alone, and a
/// file that is one keeps its link.
fn clean(root: &Path) -> Result<()> {
    remove_children(root, "var/cache/apt/archives", |path| {
        path.extension().is_some_and(|ext| ext == "deb")
    })?;
    remove_children(root, "var/cache/apt/archives/partial", |_| true)?;
    remove_children(root, "var/cache/apt", |path| {
        path.extension().is_some_and(|ext| ext == "bin")
    })?;
    remove_children(root, "var/lib/apt/lists", |path| {
        fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file())
    })?;
    remove_children(root, "var/lib/apt/lists/partial", |_| true)?;
    remove_children(root, "var/cache/debconf", is_backup)?;
    remove_children(root, "var/lib/dpkg", is_backup)?;
    remove_children(root, "tmp", |_| true)?;
    remove_children(root, "var/tmp", |_| true)?;
    for file in ["var/cache/ldconfig/aux-cache", "root/.bash_history"] {
        remove_if_exists(root, file)?;
    }
    // The engine mounts its own; an empty file keeps the path (and its mode) in the image.
    for file in [
        "etc/hostname",
        "etc/resolv.conf",
        "etc/hosts",
        "etc/machine-id",
    ] {
        truncate_if_exists(root, file)?;
    }
    if let Some(logs) = real_dir(root, "var/log") {
        for entry in walkdir::WalkDir::new(logs).follow_links(false) {
            let Ok(entry) = entry else { continue };
            if entry.file_type().is_file() {
                truncate_no_follow(entry.path())?;
            }
        }
    }
    Ok(())
}

/// `root/rel` when it and every directory between it and `root` are real directories (not
/// symlinks) of the tree.
fn real_dir(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for part in rel.split('/') {
        path.push(part);
        let meta = fs::symlink_metadata(&path).ok()?;
        if !meta.is_dir() {
            return None;
        }
    }
    Some(path)
}

/// `root/rel` when its parent is a [`real_dir`]; the file itself may be anything.
fn in_tree(root: &Path, rel: &str) -> Option<PathBuf> {
    match rel.rsplit_once('/') {
        Some((parent, name)) => real_dir(root, parent).map(|dir| dir.join(name)),
        None => Some(root.join(rel)),
    }
}

fn is_backup(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with("-old"))
}

fn remove_children(root: &Path, rel: &str, select: impl Fn(&Path) -> bool) -> Result<()> {
    let Some(dir) = real_dir(root, rel) else {
        return Ok(());
    };
    for path in entries(&dir)?.into_iter().filter(|path| select(path)) {
        remove_entry(&path)?;
    }
    Ok(())
}

/// The entries of `dir`; none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(EngineError::io("list", dir, error)),
    };
    listing
        .map(|entry| {
            entry
                .map(|e| e.path())
                .map_err(|error| EngineError::io("list", dir, error))
        })
        .collect()
}

/// Removes a file, a symlink (never what it points at) or a whole directory.
fn remove_entry(path: &Path) -> Result<()> {
    let is_dir = fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir());
    let removed = if is_dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    removed.map_err(|error| EngineError::io("remove", path, error))
}

fn remove_if_exists(root: &Path, rel: &str) -> Result<()> {
    let Some(path) = in_tree(root, rel) else {
        return Ok(());
    };
    let path = path.as_path();
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(EngineError::io("remove", path, error))
        }
        _ => Ok(()),
    }
}

fn truncate_if_exists(root: &Path, rel: &str) -> Result<()> {
    match in_tree(root, rel) {
        Some(path) => truncate_no_follow(&path),
        None => Ok(()),
    }
}

/// Empties the file at `path`; a symlink there (`ELOOP` with `O_NOFOLLOW`) and a missing file
/// are left as they are.
fn truncate_no_follow(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    match opened {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => Ok(()),
        Err(error) => Err(EngineError::io("truncate", path, error)),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debootstrap_arguments() {
        let args = RootfsSpec::minbase("bookworm").debootstrap_args(Path::new("/t/root"));
        assert_eq!(
            args,
            [
                "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
                "--force-check-gpg",
                "--variant=minbase",
                "--components=main",
                "bookworm",
                "/t/root",
                "http://deb.debian.org/debian"
            ]
        );
    }

    #[test]
    fn cleaning_removes_caches_and_empties_logs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for path in [
            "var/cache/apt/archives/partial",
            "var/lib/apt/lists/partial",
            "var/log/apt",
            "etc",
            "tmp",
        ] {
            fs::create_dir_all(root.join(path)).unwrap();
        }
        fs::write(root.join("var/cache/apt/archives/a_1_amd64.deb"), "deb").unwrap();
        fs::write(root.join("var/cache/apt/pkgcache.bin"), "bin").unwrap();
        fs::write(root.join("var/lib/apt/lists/deb.debian.org_InRelease"), "x").unwrap();
        fs::write(root.join("var/log/dpkg.log"), "log").unwrap();
        fs::write(root.join("var/log/apt/history.log"), "log").unwrap();
        fs::write(root.join("etc/resolv.conf"), "nameserver 10.0.0.1").unwrap();
        fs::write(root.join("tmp/junk"), "junk").unwrap();
        clean(root).unwrap();
        assert!(!root.join("var/cache/apt/archives/a_1_amd64.deb").exists());
        assert!(root.join("var/cache/apt/archives/partial").is_dir());
        assert!(!root.join("var/cache/apt/pkgcache.bin").exists());
        assert!(!root
            .join("var/lib/apt/lists/deb.debian.org_InRelease")
            .exists());
        assert!(root.join("var/lib/apt/lists/partial").is_dir());
        assert_eq!(fs::read(root.join("var/log/dpkg.log")).unwrap(), b"");
        assert_eq!(fs::read(root.join("var/log/apt/history.log")).unwrap(), b"");
        assert_eq!(fs::read(root.join("etc/resolv.conf")).unwrap(), b"");
        assert!(!root.join("tmp/junk").exists());
    }

    /// Issue 9: a bootstrapped tree whose files link to the host's (`etc/hosts` → a host file,
    /// `tmp` and `var/log` → host directories) is cleaned without touching the host.
    #[test]
    fn cleaning_never_follows_a_symlink_out_of_the_tree() {
        let host = tempfile::tempdir().unwrap();
        let hosts = host.path().join("hosts");
        fs::write(&hosts, "127.0.0.1 host-only").unwrap();
        fs::create_dir_all(host.path().join("tmp")).unwrap();
        fs::write(host.path().join("tmp/keep"), "host tmp").unwrap();
        fs::create_dir_all(host.path().join("log")).unwrap();
        fs::write(host.path().join("log/syslog"), "host log").unwrap();
        fs::create_dir_all(host.path().join("lists")).unwrap();
        fs::write(host.path().join("lists/list"), "host list").unwrap();

        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("var/lib/apt")).unwrap();
        std::os::unix::fs::symlink(&hosts, root.join("etc/hosts")).unwrap();
        std::os::unix::fs::symlink(host.path().join("tmp"), root.join("tmp")).unwrap();
        std::os::unix::fs::symlink(host.path().join("log"), root.join("var/log")).unwrap();
        std::os::unix::fs::symlink(host.path().join("lists"), root.join("var/lib/apt/lists"))
            .unwrap();
        fs::write(root.join("etc/hostname"), "builder").unwrap();
        clean(root).unwrap();

        assert_eq!(fs::read_to_string(&hosts).unwrap(), "127.0.0.1 host-only");
        assert_eq!(
            fs::read_to_string(host.path().join("tmp/keep")).unwrap(),
            "host tmp"
        );
        assert_eq!(
            fs::read_to_string(host.path().join("log/syslog")).unwrap(),
            "host log"
        );
        assert_eq!(
            fs::read_to_string(host.path().join("lists/list")).unwrap(),
            "host list"
        );
        assert!(
            fs::symlink_metadata(root.join("etc/hosts"))
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link itself stays"
        );
        assert_eq!(
            fs::read(root.join("etc/hostname")).unwrap(),
            b"",
            "the tree's own files are still cleaned"
        );
    }

    #[test]
    fn a_missing_keyring_is_an_error_not_an_unverified_base() {
        let missing = Path::new("/nonexistent/debian-archive-keyring.gpg");
        assert!(
            matches!(require_keyring(missing), Err(EngineError::KeyringMissing { path }) if path == missing)
        );
        assert!(
            require_keyring(Path::new(DEBIAN_KEYRING)).is_ok(),
            "scripts/setup installs debian-archive-keyring"
        );
    }

    /// Issue 9: trees and tars of a killed run are removed at the next start, and removing them
    /// does not follow their symlinks either.
    #[test]
    fn stale_trees_are_removed_without_following_links() {
        let host = tempfile::tempdir().unwrap();
        let hosts = host.path().join("hosts");
        fs::write(&hosts, "host").unwrap();
        let work = tempfile::tempdir().unwrap();
        let tree = work.path().join("ferrostack-rootfs-abc123/root");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::create_dir_all(tree.join("usr/bin")).unwrap();
        std::os::unix::fs::symlink(&hosts, tree.join("etc/hosts")).unwrap();
        std::os::unix::fs::symlink(host.path(), tree.join("hostdir")).unwrap();
        fs::create_dir_all(work.path().join("rootfs-tar-xyz")).unwrap();
        fs::write(work.path().join("rootfs-tar-xyz/rootfs.tar"), "tar").unwrap();

        assert_eq!(remove_stale(work.path()).unwrap(), 2);
        assert_eq!(fs::read_dir(work.path()).unwrap().count(), 0);
        assert_eq!(fs::read_to_string(&hosts).unwrap(), "host");
        assert_eq!(remove_stale(&work.path().join("absent")).unwrap(), 0);
    }
}
