//! The `ferrostack-media` helper bundled into `[ffmpeg] helper = true` stacks: its sources
//! (part of the stack's hash), the check that this machine can build it against the stack's
//! FFmpeg, and the release build itself.
//!
//! The helper is compiled on the build machine with cargo and copied into the image. It links
//! FFmpeg's shared libraries, so it only runs in a stack whose FFmpeg has the same major version
//! as the build machine's development headers; that is checked at plan time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::stack::Stack;

/// The binary's name in the build context and in the image (`/usr/local/bin/...`).
pub const HELPER_FILE: &str = "ferrostack-media";

/// The helper's sources: every file of the crate (but `target/`) and the workspace's
/// `Cargo.lock`, relative path → sha256. A change to any of them rebuilds the helper stacks.
pub fn sources(crate_dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let walker = walkdir::WalkDir::new(crate_dir).sort_by_file_name().into_iter().filter_entry(|e| e.file_name() != "target");
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(crate_dir).to_path_buf();
            Error::io("read the media crate", path, e.into())
        })?;
        if entry.file_type().is_file() {
            let rel = crate::load::relative_display(crate_dir, entry.path());
            out.insert(rel, crate::context::file_digest(entry.path())?);
        }
    }
    if let Some(lock) = workspace_lock(crate_dir) {
        out.insert("Cargo.lock".into(), crate::context::file_digest(&lock)?);
    }
    Ok(out)
}

fn workspace_lock(crate_dir: &Path) -> Option<PathBuf> {
    crate_dir.ancestors().map(|d| d.join("Cargo.lock")).find(|p| p.is_file())
}

/// FFmpeg's major version from libavcodec's major (59 → 5, 60 → 6, 61 → 7, 62 → 8).
fn ffmpeg_major_of_libavcodec(libavcodec: &str) -> Option<u32> {
    let major: u32 = libavcodec.split('.').next()?.trim().parse().ok()?;
    major.checked_sub(54)
}

/// Checks that this machine can build the helper for `stack`: the media crate is there and
/// the FFmpeg development headers have the stack's FFmpeg major version.
pub fn check_buildable(stack: &Stack, media_crate: Option<&Path>) -> Result<()> {
    let Some(ff) = stack.ffmpeg.as_ref().filter(|f| f.helper) else {
        return Ok(());
    };
    let Some(dir) = media_crate.filter(|d| d.join("Cargo.toml").is_file()) else {
        return Err(Error::Helper {
            stack: stack.name.clone(),
            message: "the `ferrostack-media` sources are not found".into(),
            help: "set `[build] media_crate` in ferrostack.toml or FERROSTACK_MEDIA_CRATE to the crate's directory, or set `helper = false`".into(),
        });
    };
    let _ = dir;
    let out = std::process::Command::new("pkg-config").args(["--modversion", "libavcodec"]).output();
    let host = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => {
            return Err(Error::Helper {
                stack: stack.name.clone(),
                message: "this machine has no FFmpeg development headers to build `ferrostack-media` with".into(),
                help: "install pkg-config and libavcodec-dev, libavformat-dev, libavfilter-dev, libswscale-dev, libswresample-dev, libavdevice-dev, clang, libclang-dev (`bash scripts/setup` does), or set `helper = false`".into(),
            })
        }
    };
    let stack_major: Option<u32> = ff.version.split('.').next().and_then(|m| m.parse().ok());
    match (ffmpeg_major_of_libavcodec(&host), stack_major) {
        (Some(h), Some(s)) if h == s => Ok(()),
        (h, _) => Err(Error::Helper {
            stack: stack.name.clone(),
            message: format!(
                "`ferrostack-media` would be built against this machine's FFmpeg {} (libavcodec {host}), but the stack's Debian `{}` ships FFmpeg {}: it would not run there",
                h.map_or("?".to_string(), |h| h.to_string()),
                stack.suite,
                ff.version
            ),
            help: format!("build this stack on a machine whose FFmpeg is {} (Debian `{}`), or set `helper = false`", ff.version, stack.suite),
        }),
    }
}

/// Builds the helper in release mode (`cargo build --release -p ferrostack-media`) in the
/// crate's own workspace, so its target directory (and build cache) is reused, and returns the
/// binary's path as cargo reports it. Output goes to `log`.
pub async fn build(media_crate: &Path, log: &mut impl FnMut(&str)) -> std::result::Result<PathBuf, String> {
    let output = tokio::process::Command::new("cargo")
        .args(["build", "--release", "-p", "ferrostack-media", "--bin", HELPER_FILE, "--message-format=json-render-diagnostics"])
        .current_dir(media_crate)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run cargo to build `ferrostack-media`: {e}"))?;
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        log(line);
    }
    if !output.status.success() {
        return Err(format!("building `ferrostack-media` failed ({}); see the log", output.status));
    }
    // The last compiler-artifact message for the binary names the executable.
    let exe = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == HELPER_FILE)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back();
    match exe {
        Some(bin) if bin.is_file() => Ok(bin),
        _ => Err("cargo reported success but named no `ferrostack-media` executable".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libavcodec_majors_map_to_ffmpeg_majors() {
        assert_eq!(ffmpeg_major_of_libavcodec("59.37.100"), Some(5));
        assert_eq!(ffmpeg_major_of_libavcodec("60.31.102"), Some(6));
        assert_eq!(ffmpeg_major_of_libavcodec("61.19.101"), Some(7));
        assert_eq!(ffmpeg_major_of_libavcodec("x"), None);
    }
}
