//! The bad-input corpus: every case is a typed error, never a panic, and nothing is left at OUT.
mod common;

use std::path::Path;

use common::Media;
use ferrostack_media::{probe, transcode, MediaError, Monitor, TranscodeOptions};

fn transcode_err(input: &Path, out: &Path) -> MediaError {
    let err = transcode(input, out, &TranscodeOptions::default(), &mut Monitor::new()).unwrap_err();
    assert!(!out.exists(), "no file at {}", out.display());
    err
}

/// The error text with the temp directory replaced, for snapshots.
fn redacted(err: &MediaError, dir: &Path) -> String {
    err.to_string().replace(&dir.display().to_string(), "[DIR]")
}

#[test]
fn zero_byte_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("empty.mp4");
    std::fs::write(&input, b"").unwrap();
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InvalidInput { .. }), "{err:?}");
    assert!(!err.retryable());
    insta::assert_snapshot!(redacted(&err, dir.path()), @"input `[DIR]/empty.mp4` is not readable media: the file is empty");
    assert!(matches!(probe(&input), Err(MediaError::InvalidInput { .. })));
    assert_eq!(common::files_in(dir.path()), ["empty.mp4"]);
}

#[test]
fn truncated_input() {
    let dir = tempfile::tempdir().unwrap();
    let full = Media::av().h264_aac().write(&dir.path().join("full.mp4"));
    let data = std::fs::read(&full).unwrap();
    let input = dir.path().join("cut.mp4");
    std::fs::write(&input, &data[..data.len() / 2]).unwrap();
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InvalidInput { .. }), "{err:?}");
    assert!(!err.retryable());
    assert_eq!(common::files_in(dir.path()), ["cut.mp4", "full.mp4"]);
}

#[test]
fn text_file_named_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.mp4");
    std::fs::write(&input, "this is not a video\n".repeat(50)).unwrap();
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InvalidInput { .. }), "{err:?}");
    insta::assert_snapshot!(redacted(&err, dir.path()), @"input `[DIR]/notes.mp4` is not readable media: Invalid data found when processing input");
}

#[test]
fn missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("nope.mp4");
    let err = transcode_err(&input, &dir.path().join("out.mp4"));
    assert!(matches!(err, MediaError::InputNotFound { .. }), "{err:?}");
    assert!(!err.retryable());
    insta::assert_snapshot!(redacted(&err, dir.path()), @"input `[DIR]/nope.mp4` does not exist");
}

#[test]
fn unwritable_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    // A directory that does not exist, and one under a regular file: both unwritable, even as root.
    let missing = dir.path().join("no/such/dir/out.webm");
    let err = transcode_err(&input, &missing);
    match &err {
        MediaError::Io { path, .. } => assert_eq!(path, &dir.path().join("no/such/dir")),
        other => panic!("unexpected {other:?}"),
    }
    insta::assert_snapshot!(redacted(&err, dir.path()), @"I/O error on `[DIR]/no/such/dir`: No such file or directory (os error 2)");

    let under_file = dir.path().join("in.mp4/out.webm");
    let err = transcode_err(&input, &under_file);
    assert!(matches!(err, MediaError::Io { .. }), "{err:?}");
    assert_eq!(common::files_in(dir.path()), ["in.mp4"]);
}

#[test]
fn unknown_output_extension_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().h264_aac().write(&dir.path().join("in.mp4"));
    let err = transcode_err(&input, &dir.path().join("out.xyz"));
    assert!(err.is_usage());
    insta::assert_snapshot!(redacted(&err, dir.path()), @"cannot tell the output format of `[DIR]/out.xyz` from its extension");
}

#[test]
fn video_only_input_to_audio_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = Media::av().no_audio().h264_aac().write(&dir.path().join("v.mp4"));
    let err = transcode_err(&input, &dir.path().join("out.mp3"));
    assert!(matches!(err, MediaError::MissingStream { kind: "audio", .. }), "{err:?}");
}
