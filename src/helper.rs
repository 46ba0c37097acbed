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

/// What goes into the helper binary, relative name → sha256: the crate's `Cargo.toml`,
/// `build.rs` and every file under `src/`; the workspace manifest's shared tables
/// (`[workspace.package]`, `[workspace.dependencies]`, `[profile]`), which the crate inherits;
/// and the `Cargo.lock` entries of the crate's dependency closure. Tests, benches, examples and
/// docs are left out, and so are the builder's own dependencies: a change to them does not
/// rebuild the FFmpeg stack.
pub fn sources(crate_dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for name in ["Cargo.toml", "build.rs"] {
        let path = crate_dir.join(name);
        if path.is_file() {
            out.insert(name.to_string(), crate::context::file_digest(&path)?);
        }
    }
    let src = crate_dir.join("src");
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(&src).to_path_buf();
            Error::io("read the media crate", path, e.into())
        })?;
        if entry.file_type().is_file() {
            let rel = crate::load::relative_display(crate_dir, entry.path());
            out.insert(rel, crate::context::file_digest(entry.path())?);
        }
    }
    let manifest = crate_dir.join("Cargo.toml");
    let package = read_toml(&manifest)?
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string);
    if let Some(root) = crate_dir
        .ancestors()
        .skip(1)
        .find(|d| d.join("Cargo.lock").is_file())
    {
        let workspace = read_toml(&root.join("Cargo.toml"))?;
        let shared = serde_json::json!({
            "package": workspace.get("workspace").and_then(|w| w.get("package")),
            "dependencies": workspace.get("workspace").and_then(|w| w.get("dependencies")),
            "profile": workspace.get("profile"),
        });
        out.insert("workspace:Cargo.toml".into(), digest_json(&shared));
        let lock_path = root.join("Cargo.lock");
        let closure = match package.as_deref() {
            Some(name) => lock_closure(&read_toml(&lock_path)?, name),
            None => Vec::new(),
        };
        out.insert(
            "Cargo.lock".into(),
            digest_json(&serde_json::to_value(&closure).expect("strings serialise")),
        );
    }
    Ok(out)
}

/// The crates bundled into the helper binary: `ferrostack-media`'s own version, and every
/// `Cargo.lock` package of its dependency closure (name, version), sorted.
pub fn bundled_crates(crate_dir: &Path) -> Result<(String, Vec<(String, String)>)> {
    let manifest = read_toml(&crate_dir.join("Cargo.toml"))?;
    let package = manifest.get("package");
    let name = package
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or(HELPER_FILE)
        .to_string();
    let mut version = package
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let mut crates = Vec::new();
    if let Some(root) = crate_dir
        .ancestors()
        .skip(1)
        .find(|d| d.join("Cargo.lock").is_file())
    {
        for entry in lock_closure(&read_toml(&root.join("Cargo.lock"))?, &name) {
            let mut words = entry.split(' ');
            let (Some(crate_name), Some(crate_version)) = (words.next(), words.next()) else {
                continue;
            };
            if crate_name == name {
                version = Some(crate_version.to_string());
            } else {
                crates.push((crate_name.to_string(), crate_version.to_string()));
            }
        }
    }
    crates.sort();
    Ok((version.unwrap_or_else(|| "0.0.0".into()), crates))
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    text.parse::<toml::Table>().map_err(|e| {
        Error::io(
            "parse",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        )
    })
}

fn digest_json(value: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(
        serde_json::to_vec(value).expect("JSON serialises"),
    ))
}

/// The `Cargo.lock` packages `root` depends on, itself included, each as
/// `name version source checksum`, sorted.
fn lock_closure(lock: &toml::Table, root: &str) -> Vec<String> {
    let packages: Vec<&toml::Table> = lock
        .get("package")
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|p| p.as_table()).collect())
        .unwrap_or_default();
    let field =
        |p: &toml::Table, k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    // A dependency entry is `name`, `name version` or `name version (source)`.
    let find = |entry: &str| -> Option<usize> {
        let mut words = entry.split(' ');
        let name = words.next()?;
        let version = words.next();
        packages.iter().position(|p| {
            field(p, "name") == name && version.is_none_or(|v| field(p, "version") == v)
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<usize> = find(root).into_iter().collect();
    while let Some(i) = todo.pop() {
        if !seen.insert(i) {
            continue;
        }
        let deps = packages[i]
            .get("dependencies")
            .and_then(|d| d.as_array())
            .cloned()
            .unwrap_or_default();
        todo.extend(deps.iter().filter_map(|d| d.as_str()).filter_map(find));
    }
    let mut closure: Vec<String> = seen
        .into_iter()
        .map(|i| {
            format!(
                "{} {} {} {}",
                field(packages[i], "name"),
                field(packages[i], "version"),
                field(packages[i], "source"),
                field(packages[i], "checksum")
            )
        })
        .collect();
    closure.sort();
    closure
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
    let out = std::process::Command::new("pkg-config")
        .args(["--modversion", "libavcodec"])
        .output();
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
pub async fn build(
    media_crate: &Path,
    log: &mut impl FnMut(&str),
) -> std::result::Result<PathBuf, String> {
    let output = tokio::process::Command::new("cargo")
        .args([
            "build",
            "--release",
            "-p",
            "ferrostack-media",
            "--bin",
            HELPER_FILE,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(media_crate)
        .stdin(std::process::Stdio::null())
        // A run that ends first (a failure, Ctrl-C) stops the build instead of leaving it.
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run cargo to build `ferrostack-media`: {e}"))?;
    for line in String::from_utf8_lossy(&output.stderr).lines() {
        log(line);
    }
    if !output.status.success() {
        return Err(format!(
            "building `ferrostack-media` failed ({}); see the log",
            output.status
        ));
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

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const LOCK: &str = r#"version = 4
[[package]]
name = "builder"
version = "0.1.0"
dependencies = ["bollard"]
[[package]]
name = "bollard"
version = "0.19.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aa"
[[package]]
name = "media"
version = "0.1.0"
dependencies = ["ffmpeg-next", "thiserror 2.0.0"]
[[package]]
name = "ffmpeg-next"
version = "9.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "bb"
[[package]]
name = "thiserror"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "cc"
[[package]]
name = "thiserror"
version = "2.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "dd"
"#;

    /// Regression (issue 9): a test-only change to the media crate rebuilt the FFmpeg stack.
    #[test]
    fn only_what_reaches_the_binary_is_hashed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "Cargo.toml", "[workspace]\nmembers = [\"crates/media\"]\n[workspace.dependencies]\nthiserror = \"2\"\n[dependencies]\nbollard = \"0.19\"\n");
        write(root, "Cargo.lock", LOCK);
        let media = root.join("crates/media");
        write(&media, "Cargo.toml", "[package]\nname = \"media\"\n");
        write(&media, "build.rs", "fn main() {}\n");
        write(&media, "src/lib.rs", "pub fn f() {}\n");
        write(&media, "tests/t.rs", "#[test] fn t() {}\n");
        write(&media, "benches/b.rs", "");
        write(&media, "README.md", "docs");
        let before = sources(&media).unwrap();
        assert_eq!(
            before.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "Cargo.lock",
                "Cargo.toml",
                "build.rs",
                "src/lib.rs",
                "workspace:Cargo.toml"
            ]
        );
        let same = |label: &str| {
            assert_eq!(
                sources(&media).unwrap(),
                before,
                "{label} changed the helper's sources"
            )
        };
        write(&media, "tests/t.rs", "#[test] fn t2() {}\n");
        write(&media, "benches/b.rs", "changed");
        write(&media, "README.md", "more docs");
        same("tests, benches and docs");
        // The builder's own dependencies: its manifest section and its lock entries.
        write(root, "Cargo.toml", "[workspace]\nmembers = [\"crates/media\"]\n[workspace.dependencies]\nthiserror = \"2\"\n[dependencies]\nbollard = \"0.20\"\n");
        write(
            root,
            "Cargo.lock",
            &LOCK
                .replace("checksum = \"aa\"", "checksum = \"a2\"")
                .replace(
                    "name = \"thiserror\"\nversion = \"1.0.0\"",
                    "name = \"thiserror\"\nversion = \"1.0.1\"",
                ),
        );
        same("the builder's dependencies");
        for (rel, text) in [
            ("src/lib.rs", "pub fn g() {}\n"),
            ("build.rs", "fn main() { }\n"),
        ] {
            write(&media, rel, text);
            assert_ne!(sources(&media).unwrap()[rel], before[rel], "{rel}");
        }
        write(
            root,
            "Cargo.lock",
            &LOCK.replace("checksum = \"dd\"", "checksum = \"d2\""),
        );
        assert_ne!(
            sources(&media).unwrap()["Cargo.lock"],
            before["Cargo.lock"],
            "a dependency of the crate moved"
        );
        write(root, "Cargo.toml", "[workspace]\nmembers = [\"crates/media\"]\n[workspace.dependencies]\nthiserror = \"2.1\"\n");
        assert_ne!(
            sources(&media).unwrap()["workspace:Cargo.toml"],
            before["workspace:Cargo.toml"],
            "an inherited dependency moved"
        );
    }
}
