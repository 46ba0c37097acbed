//! The real `ferrostack-media` binary: JSON on stdout, progress lines on stderr, exit codes 0/1/2.
mod common;

use std::process::{Command, Output};

use common::Media;
use serde_json::Value;

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrostack-media"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn probe_json_and_transcode_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let out = bin(&["probe", input.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["streams"][0]["kind"], "video");
    assert_eq!(v["streams"][1]["channel_layout"], "stereo");

    let target = dir.path().join("out.webm");
    let out = bin(&[
        "transcode",
        input.to_str().unwrap(),
        target.to_str().unwrap(),
        "--json",
        "--progress",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["task"], "transcode");
    assert_eq!(v["streams"][0]["codec"], "libvpx-vp9");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["percent"], 100.0);
    assert!(last.get("fps").is_some() && last.get("eta").is_some());

    let small = dir.path().join("small.mp4");
    let out = bin(&[
        "resize",
        input.to_str().unwrap(),
        small.to_str().unwrap(),
        "--width",
        "160",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["streams"][1]["action"], "copy");
}

#[test]
fn task_failure_exits_1_with_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mp4");
    let target = dir.path().join("out.mp4");
    let out = bin(&[
        "transcode",
        missing.to_str().unwrap(),
        target.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["error"]["kind"], "input_not_found");
    assert_eq!(v["error"]["retryable"], false);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!target.exists());
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    // clap-level: a non-numeric CRF.
    let out = bin(&[
        "transcode",
        input.to_str().unwrap(),
        "x.mp4",
        "--crf",
        "high",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // Library-level usage errors: unknown extension, malformed time.
    let out = bin(&[
        "transcode",
        input.to_str().unwrap(),
        dir.path().join("x.xyz").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = bin(&[
        "transcode",
        input.to_str().unwrap(),
        dir.path().join("x.mp4").to_str().unwrap(),
        "--start",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--start"));
    assert_eq!(common::files_in(dir.path()), ["in.mp4"]);
}

#[test]
fn sigterm_cancels_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av()
        .video("testsrc2=size=640x360:rate=25:duration=20")
        .audio(&common::tone(2, "stereo", 48000, 20.0, 0.2))
        .h264_aac()
        .write(&dir.path().join("in.mp4"));
    let target = dir.path().join("out.webm");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrostack-media"));
    command.args([
        "transcode",
        input.to_str().unwrap(),
        target.to_str().unwrap(),
        "--json",
        "--progress",
        "json",
    ]);
    // Wait for the first progress line, so the task is running, then ask it to stop.
    let (line, out) = common::signal_after_first_line(command, "-TERM");
    assert!(line.contains("\"percent\""), "{line}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error"]["kind"], "cancelled");
    assert_eq!(common::files_in(dir.path()), ["in.mp4"]);
}
