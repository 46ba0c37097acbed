//! The FFmpeg stack with its bundled `ferrostack-media`, for real: built under a test
//! repository, the helper probes and transcodes inside it, and each worker example (PHP, Node,
//! Python, Ruby) runs through `ferrostack run` and writes an output that `ffprobe` accepts.

mod common;

use common::{copy_dir, stderr, stdout, TestImages};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ferrostack"))
}

fn ffprobe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe rejects {}: {}",
        path.display(),
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ffmpeg_stack_bundles_the_helper_and_runs_every_worker_example() {
    let images = TestImages::new("workers", &[]);
    let repo = images.repo.clone();
    // The bundled stack itself (its checks probe and transcode with the helper inside it).
    // The lock is the repository's: `--promote all-or-nothing` would still write it, so build
    // in a copy of the project instead.
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    for dir in ["stacks", "templates"] {
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
            &project.join(dir),
        );
    }
    std::fs::write(
        project.join("ferrostack.toml"),
        format!(
            "[build]\nmedia_crate = \"{}\"\n",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("crates/media")
                .display()
        ),
    )
    .unwrap();
    let run_in = |args: &[&str]| -> Output {
        Command::new(bin())
            .env("FERROSTACK_REPOSITORY", &repo)
            .env_remove("FERROSTACK_CA_BUNDLE")
            .arg("-C")
            .arg(&project)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run_in(&["build", "ffmpeg", "--progress", "plain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ffmpeg: check 4/4"),
        "the helper checks ran: {}",
        stderr(&out)
    );

    // The helper inside the image: probe and transcode media made there.
    let out = run_in(&["run", "ffmpeg", "--", "sh", "-c", "ffmpeg -v error -f lavfi -i testsrc=duration=1:size=160x120:rate=10 -y /tmp/a.mp4 && ferrostack-media transcode /tmp/a.mp4 /tmp/b.webm --json >/dev/null && ferrostack-media probe /tmp/b.webm --json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let probe: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(probe.to_string().contains("vp9"), "{probe}");

    // Each worker example on a generated clip, checked with ffprobe on the host.
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=3:size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-shortest",
            "-c:v",
            "mpeg4",
            "-c:a",
            "pcm_s16le",
            "-y",
        ])
        .arg(work.join("clip.mov"))
        .output()
        .expect("ffmpeg makes the test clip");
    assert!(made.status.success(), "{}", stderr(&made));
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workers");
    for (lang, file, interpreter) in [
        ("php", "worker.php", "php"),
        ("node", "worker.js", "node"),
        ("python", "worker.py", "python3"),
        ("ruby", "worker.rb", "ruby"),
    ] {
        std::fs::copy(examples.join(lang).join(file), work.join(file)).unwrap();
        let output = format!("out-{lang}.mp4");
        let payload = tmp.path().join(format!("payload-{lang}.json"));
        std::fs::write(
            &payload,
            format!("{{\"input\": \"clip.mov\", \"output\": \"{output}\"}}"),
        )
        .unwrap();
        let out = run_in(&[
            "run",
            "ffmpeg",
            "--memory",
            "1g",
            "--timeout",
            "5m",
            "--payload",
            payload.to_str().unwrap(),
            "--mount",
            work.to_str().unwrap(),
            "--",
            interpreter,
            &format!("/data/{file}"),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{lang}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let result: serde_json::Value = serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("{lang}: {e}: {}", stdout(&out)));
        assert_eq!(result["worker"], lang);
        let probe = ffprobe(&work.join(&output));
        let codecs: Vec<&str> = probe["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["codec_name"].as_str().unwrap())
            .collect();
        assert!(
            codecs.contains(&"h264") && codecs.contains(&"aac"),
            "{lang}: {codecs:?}"
        );
        assert!(
            !work.join(format!("{output}.transcoded.mp4")).exists(),
            "{lang} cleaned its temporary file"
        );
    }

    // pip and npm installs on top of it, over HTTPS from PyPI and npm, still work while the
    // package cache is the builds' `http_proxy` (both go direct for HTTPS: they only read
    // `https_proxy` for it; gem and Composer fall back to `http_proxy` and are tunnelled to the
    // allow-listed registries only: tests/package_cache.rs covers the refusals and the tunnel's
    // unit tests the copying, as those registries are out of this machine's reach). What
    // is under test is the way out, not TLS trust: this machine's HTTPS is intercepted and the
    // ffmpeg image was built without `ca_bundle`, so verification is off.
    std::fs::write(
        project.join("stacks/deps.toml"),
        concat!(
            "name = \"deps\"\nfrom = \"ffmpeg\"\n",
            "[[step]]\nrun = \"PIP_TRUSTED_HOST='pypi.org files.pythonhosted.org' python3 -m pip install --no-cache-dir --break-system-packages six\"\n",
            "[[step]]\nrun = \"npm_config_strict_ssl=false npm install --global --no-fund --no-audit is-number\"\n",
            "[[check]]\nrun = \"python3 -c 'import six' && node -e 'require(\\\"/usr/local/lib/node_modules/is-number\\\")'\"\n",
            // npm is the pinned release, global installs go under /usr/local as with Debian's.
            "[[check]]\nrun = \"npm --version | grep -qx 9.2.0 && npm config get prefix | grep -qx /usr/local && npm ls --global | grep -q is-number\"\n",
        ),
    )
    .unwrap();
    let out = run_in(&["build", "deps", "--progress", "plain", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["package_cache"].is_object(),
        "the package cache ran: {}",
        report["package_cache"]
    );
    assert!(stderr(&out).contains("deps: done"), "{}", stderr(&out));
}
